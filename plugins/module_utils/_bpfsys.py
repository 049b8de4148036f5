# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Thin ctypes layer over the bpf() and perf_event_open() system calls.

This file knows the kernel ABI (include/uapi/linux/bpf.h and
include/uapi/linux/perf_event.h) and nothing about bcc.  Every function
returns a file descriptor that the caller owns, or raises OSError with the
errno the kernel gave.  Closing the descriptor detaches: links, raw
tracepoints and perf events are all released by the kernel when their last
descriptor goes away, also when the process is killed.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import struct

# x86_64 system call numbers; aarch64 uses the generic table.
_SYSCALLS = {
    'x86_64': {'bpf': 321, 'perf_event_open': 298},
    'aarch64': {'bpf': 280, 'perf_event_open': 241},
}

# enum bpf_cmd
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_LINK_CREATE = 28

# enum bpf_prog_type
PROG_KPROBE = 2
PROG_TRACEPOINT = 5
PROG_RAW_TRACEPOINT = 17
PROG_TRACING = 26

# enum bpf_attach_type
ATTACH_NONE = 0
ATTACH_TRACE_FENTRY = 24
ATTACH_PERF_EVENT = 41
ATTACH_KPROBE_MULTI = 42
ATTACH_UPROBE_MULTI = 48

# perf_event_attr.type
PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5
PERF_UPROBE_REF_CTR_OFFSET_SHIFT = 32

PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long


def _nr(name):
    arch = platform.machine()
    try:
        return _SYSCALLS[arch][name]
    except KeyError:
        raise OSError(errno.ENOSYS, 'unsupported architecture %s' % arch)


def _syscall(name, *args):
    ctypes.set_errno(0)
    res = _LIBC.syscall(ctypes.c_long(_nr(name)), *args)
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def _bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    return _syscall('bpf', ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))


class _Keep(object):
    """Holds ctypes buffers alive while a system call reads their addresses."""

    def __init__(self):
        self._bufs = []

    def addr(self, data):
        buf = ctypes.create_string_buffer(data, len(data) or 1)
        self._bufs.append(buf)
        return ctypes.addressof(buf)

    def u64_array(self, values):
        return self.addr(struct.pack('<%dQ' % len(values), *values)) if values else 0

    def ptr_array(self, byte_strings):
        return self.u64_array([self.addr(s + b'\0') for s in byte_strings])


def prog_load(prog_type, insns, expected_attach_type=ATTACH_NONE, name=b'', license=b'GPL', want_log=False,
              attach_btf_id=0):
    """Load one program; returns its fd.  OSError carries the verifier log in .log."""
    keep = _Keep()
    log_size = 1 << 16 if want_log else 0
    log_buf = ctypes.create_string_buffer(log_size) if want_log else None
    attr = struct.pack(
        '<IIQQIIQII16sII',
        prog_type, len(insns) // 8, keep.addr(insns), keep.addr(license + b'\0'),
        1 if want_log else 0, log_size, ctypes.addressof(log_buf) if want_log else 0,
        0, 0, name[:15], 0, expected_attach_type,
    )
    if attach_btf_id:
        # prog_btf_fd .. line_info_cnt, then attach_btf_id at offset 108
        attr += b'\0' * (108 - len(attr)) + struct.pack('<II', attach_btf_id, 0)
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        if want_log and log_buf is not None:
            exc.log = log_buf.value.decode('utf-8', 'replace')
        raise


def raw_tracepoint_open(name, prog_fd, cookie=None):
    keep = _Keep()
    if cookie is None:
        attr = struct.pack('<QI4x', keep.addr(name + b'\0'), prog_fd)
    else:
        attr = struct.pack('<QIIQ', keep.addr(name + b'\0'), prog_fd, 0, cookie)
    return _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)


def raw_tracepoint_open_null(prog_fd):
    """Attach a tracing (fentry) program to the BTF target it was loaded for."""
    return _bpf(BPF_RAW_TRACEPOINT_OPEN, struct.pack('<QI4x', 0, prog_fd))


def link_perf_event(prog_fd, perf_fd, cookie):
    attr = struct.pack('<IIIIQ', prog_fd, perf_fd, ATTACH_PERF_EVENT, 0, cookie)
    return _bpf(BPF_LINK_CREATE, attr)


def link_kprobe_multi(prog_fd, symbols, cookies):
    keep = _Keep()
    attr = struct.pack(
        '<IIIIIIQQQ', prog_fd, 0, ATTACH_KPROBE_MULTI, 0,
        0, len(symbols), keep.ptr_array(symbols), 0, keep.u64_array(cookies),
    )
    return _bpf(BPF_LINK_CREATE, attr)


def link_uprobe_multi(prog_fd, path, offsets, ref_ctr_offsets, cookies, pid=0):
    keep = _Keep()
    refs = keep.u64_array(ref_ctr_offsets) if any(ref_ctr_offsets) else 0
    attr = struct.pack(
        '<IIIIQQQQIII4x', prog_fd, 0, ATTACH_UPROBE_MULTI, 0,
        keep.addr(path + b'\0'), keep.u64_array(offsets), refs, keep.u64_array(cookies),
        len(offsets), 0, pid or 0,
    )
    return _bpf(BPF_LINK_CREATE, attr)


def _perf_event_open(ptype, config, config1=0, config2=0, pid=-1, sample_raw=False):
    cpu = 0 if pid in (None, -1) else -1
    pid = -1 if pid in (None, -1) else pid
    attr = struct.pack(
        '<IIQQQQQIIQQ', ptype, PERF_ATTR_SIZE, config, 1,
        PERF_SAMPLE_RAW if sample_raw else 0, 0, 0, 1, 0, config1, config2,
    )
    attr += b'\0' * (PERF_ATTR_SIZE - len(attr))
    buf = ctypes.create_string_buffer(attr, len(attr))
    return _syscall('perf_event_open', buf, ctypes.c_int(pid), ctypes.c_int(cpu),
                    ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))


def perf_tracepoint(tp_id, pid=-1):
    return _perf_event_open(PERF_TYPE_TRACEPOINT, tp_id, pid=pid, sample_raw=True)


def perf_probe(pmu_type, target, offset, pid=-1, ref_ctr_offset=0):
    """A kprobe (target = symbol, offset 0) or uprobe (target = path, offset = file offset) event."""
    keep = _Keep()
    config = ref_ctr_offset << PERF_UPROBE_REF_CTR_OFFSET_SHIFT
    return _perf_event_open(pmu_type, config, keep.addr(target + b'\0'), offset, pid=pid)


def perf_set_bpf(perf_fd, prog_fd):
    fcntl.ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, prog_fd)


def perf_enable(perf_fd):
    fcntl.ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0)


def pmu_type(name):
    """The dynamic PMU type of 'kprobe' or 'uprobe', or None when the kernel has none."""
    try:
        with open('/sys/bus/event_source/devices/%s/type' % name) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def map_update(map_fd, key, value):
    keep = _Keep()
    attr = struct.pack('<I4xQQQ', map_fd, keep.addr(key), keep.addr(value), 0)
    _bpf(BPF_MAP_UPDATE_ELEM, attr)


def map_lookup(map_fd, key, value_size):
    keep = _Keep()
    out = ctypes.create_string_buffer(value_size)
    attr = struct.pack('<I4xQQQ', map_fd, keep.addr(key), ctypes.addressof(out), 0)
    _bpf(BPF_MAP_LOOKUP_ELEM, attr)
    return out.raw


def map_create(map_type, key_size, value_size, max_entries, flags=0, name=b''):
    attr = struct.pack('<IIIIIII16s4x', map_type, key_size, value_size, max_entries, flags, 0, 0, name[:15])
    return _bpf(BPF_MAP_CREATE, attr)


def map_info(map_fd):
    """(type, key_size, value_size, max_entries, flags) of a map."""
    info = ctypes.create_string_buffer(80)
    attr = struct.pack('<IIQ', map_fd, 80, ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    map_type, _id, key_size, value_size, max_entries, flags = struct.unpack_from('<IIIIII', info.raw, 0)
    return map_type, key_size, value_size, max_entries, flags


def map_keys(map_fd, key_size):
    """Every key of a hash map."""
    keys = []
    keep = _Keep()
    current = 0
    while True:
        out = ctypes.create_string_buffer(key_size)
        attr = struct.pack('<I4xQQ', map_fd, current, ctypes.addressof(out))
        try:
            _bpf(BPF_MAP_GET_NEXT_KEY, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return keys
            raise
        keys.append(out.raw)
        current = keep.addr(out.raw)


def possible_cpus(text=None):
    """Number of possible CPUs, as per-CPU maps size their values."""
    if text is None:
        with open('/sys/devices/system/cpu/possible') as handle:
            text = handle.read()
    highest = 0
    for part in text.strip().split(','):
        highest = max(highest, int(part.split('-')[-1]))
    return highest + 1


def close(fd):
    try:
        os.close(fd)
    except OSError:
        pass
