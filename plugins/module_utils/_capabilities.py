# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which attach mechanisms the running kernel really offers.

Every answer comes from trying: a two-instruction program is loaded and
attached for an instant through each mechanism, then closed.  Nothing is
guessed from version numbers, and nothing needs bcc or a compiler.
"""

from __future__ import annotations

import errno
import os
import struct
import sys

from ansible_collections.ebpf.bcc.plugins.module_utils import _bpfsys as bpfsys
from ansible_collections.ebpf.bcc.plugins.module_utils import _elf
from ansible_collections.ebpf.bcc.plugins.module_utils import _host

MOV_R0_0 = struct.pack('<BBhi', 0xb7, 0, 0, 0)
EXIT = struct.pack('<BBhi', 0x95, 0, 0, 0)
CALL_GET_ATTACH_COOKIE = struct.pack('<BBhi', 0x85, 0, 0, 174)  # BPF_FUNC_get_attach_cookie
TRIVIAL = MOV_R0_0 + EXIT
WITH_COOKIE = CALL_GET_ATTACH_COOKIE + MOV_R0_0 + EXIT

ENOTSUPP = 524  # kernel-internal "operation not supported", seen by user space as 524

MECHANISMS = ('kprobes', 'kprobe_multi', 'kprobe_cookies', 'uprobes', 'uprobe_multi', 'attach_cookies',
              'perf_link', 'raw_tracepoints', 'raw_tracepoint_cookies', 'tracepoints', 'fentry')

# kernel functions tried, in order, as a target that every kernel has
KERNEL_TARGETS = (b'vfs_read', b'ksys_read', b'do_sys_open', b'schedule')


def describe(exc):
    """One phrase for an OSError from the kernel."""
    code = getattr(exc, 'errno', None)
    if code == ENOTSUPP:
        return 'the kernel does not support it (ENOTSUPP)'
    if code is None:
        return str(exc)
    return '%s (%s)' % (os.strerror(code), errno.errorcode.get(code, code))


class Capabilities(object):
    """Lazily probed; each mechanism is tried once per instance."""

    def __init__(self):
        self._results = {}

    def available(self, name):
        return self.check(name)[0]

    def reason(self, name):
        return self.check(name)[1]

    def check(self, name):
        if name not in self._results:
            try:
                self._results[name] = getattr(self, '_probe_' + name)()
            except OSError as exc:
                self._results[name] = (False, describe(exc))
        return self._results[name]

    def as_dict(self):
        return {name: self.available(name) for name in MECHANISMS}

    def reasons(self):
        return {name: self.reason(name) for name in MECHANISMS if not self.available(name)}

    # -- probes --------------------------------------------------------------

    @staticmethod
    def _try(load, attach):
        prog = load()
        try:
            fd = attach(prog)
            bpfsys.close(fd)
        finally:
            bpfsys.close(prog)
        return True, 'works'

    def _try_perf(self, prog_type, open_event):
        """Load the trivial program and attach it to a perf event that ``open_event`` opens."""
        def attach(prog):
            pfd = open_event()
            try:
                bpfsys.perf_set_bpf(pfd, prog)
            except OSError:
                bpfsys.close(pfd)
                raise
            return pfd
        return self._try(lambda: bpfsys.prog_load(prog_type, TRIVIAL), attach)

    def _tracepoint_id(self):
        base = _host.tracefs()
        if base is None:
            raise OSError(errno.ENOENT, 'tracefs is not mounted')
        for rel in ('sched/sched_process_free', 'raw_syscalls/sys_enter', 'sched/sched_switch'):
            try:
                with open(os.path.join(base, 'events', rel, 'id')) as handle:
                    return int(handle.read())
            except (OSError, ValueError):
                continue
        raise OSError(errno.ENOENT, 'no known tracepoint in tracefs')

    def _probe_tracepoints(self):
        tp_id = self._tracepoint_id()

        return self._try_perf(bpfsys.PROG_TRACEPOINT, lambda: bpfsys.perf_tracepoint(tp_id))

    def _probe_raw_tracepoints(self):
        return self._try(lambda: bpfsys.prog_load(bpfsys.PROG_RAW_TRACEPOINT, TRIVIAL),
                         lambda prog: bpfsys.raw_tracepoint_open(b'sched_process_free', prog))

    def _probe_raw_tracepoint_cookies(self):
        if not self.available('attach_cookies'):
            return False, 'bpf_get_attach_cookie is not available'
        return self._try(lambda: bpfsys.prog_load(bpfsys.PROG_RAW_TRACEPOINT, WITH_COOKIE),
                         lambda prog: bpfsys.raw_tracepoint_open(b'sched_process_free', prog, cookie=1))

    def _probe_attach_cookies(self):
        fd = bpfsys.prog_load(bpfsys.PROG_KPROBE, WITH_COOKIE)
        bpfsys.close(fd)
        return True, 'works'

    def _probe_perf_link(self):
        tp_id = self._tracepoint_id()

        def attach(prog):
            pfd = bpfsys.perf_tracepoint(tp_id)
            try:
                bpfsys.close(bpfsys.link_perf_event(prog, pfd, 1))
            finally:
                bpfsys.close(pfd)
            return -1
        return self._try(lambda: bpfsys.prog_load(bpfsys.PROG_TRACEPOINT, TRIVIAL), attach)

    def _kernel_target(self):
        names = set(_host.kallsyms_text())
        for name in KERNEL_TARGETS:
            if name.decode() in names:
                return name
        return KERNEL_TARGETS[0]

    def _probe_kprobes(self):
        pmu = bpfsys.pmu_type('kprobe')
        if pmu is None:
            return False, 'the kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was built without CONFIG_KPROBES'
        target = self._kernel_target()

        return self._try_perf(bpfsys.PROG_KPROBE, lambda: bpfsys.perf_probe(pmu, target, 0))

    def _probe_kprobe_cookies(self):
        if not self.available('kprobes'):
            return False, 'kprobes are not available'
        if not self.available('perf_link'):
            return False, 'perf event links (kernel 5.15+) are not available: %s' % self.reason('perf_link')
        if not self.available('attach_cookies'):
            return False, 'bpf_get_attach_cookie is not available'
        return True, 'works'

    def _probe_kprobe_multi(self):
        target = self._kernel_target()
        return self._try(
            lambda: bpfsys.prog_load(bpfsys.PROG_KPROBE, TRIVIAL, expected_attach_type=bpfsys.ATTACH_KPROBE_MULTI),
            lambda prog: bpfsys.link_kprobe_multi(prog, [target], [0]))

    def _probe_uprobes(self):
        pmu = bpfsys.pmu_type('uprobe')
        if pmu is None:
            return False, 'the kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe); it was built without CONFIG_UPROBE_EVENTS'
        path, offset = self._uprobe_target()

        return self._try_perf(bpfsys.PROG_KPROBE, lambda: bpfsys.perf_probe(pmu, path, offset, pid=os.getpid()))

    @staticmethod
    def _uprobe_target():
        """The entry point of this interpreter: mapped here, never run again."""
        path = os.path.realpath(sys.executable)
        elf = _elf.ElfFile(path)
        entry = struct.unpack_from(elf.end + 'Q', elf.data, 24)[0]
        offset = elf.vaddr_to_offset(entry)
        if offset is None:
            raise OSError(errno.ENOEXEC, 'cannot place a test uprobe in %s' % path)
        return path.encode(), offset

    def _probe_uprobe_multi(self):
        path, offset = self._uprobe_target()
        return self._try(
            lambda: bpfsys.prog_load(bpfsys.PROG_KPROBE, TRIVIAL, expected_attach_type=bpfsys.ATTACH_UPROBE_MULTI),
            lambda prog: bpfsys.link_uprobe_multi(prog, path, [offset], [0], [0], pid=os.getpid()))

    def _probe_fentry(self):
        btf_id = btf_func_id('vfs_read') or btf_func_id('ksys_read')
        if not btf_id:
            return False, 'no BTF entry for vfs_read in /sys/kernel/btf/vmlinux'
        return self._try(
            lambda: bpfsys.prog_load(bpfsys.PROG_TRACING, TRIVIAL, expected_attach_type=bpfsys.ATTACH_TRACE_FENTRY,
                                     attach_btf_id=btf_id),
            bpfsys.raw_tracepoint_open_null)


def btf_present():
    return os.path.exists('/sys/kernel/btf/vmlinux')


def lockdown():
    """The kernel lockdown mode, e.g. 'none' or 'integrity', or None when securityfs is not mounted."""
    try:
        with open('/sys/kernel/security/lockdown') as handle:
            text = handle.read()
    except OSError:
        return None
    for word in text.split():
        if word.startswith('['):
            return word.strip('[]')
    return None


# BTF kinds and the size of what follows each type record
_BTF_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}
_BTF_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
BTF_KIND_FUNC = 12


def btf_func_id(name, path='/sys/kernel/btf/vmlinux'):
    """The BTF type id of the kernel function ``name``, or None."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError:
        return None
    return btf_find(data, name, BTF_KIND_FUNC)


def btf_find(data, name, kind_wanted):
    if len(data) < 24:
        return None
    magic, _ver, _flags, hdr_len = struct.unpack_from('<HBBI', data, 0)
    if magic != 0xeb9f:
        return None
    type_off, type_len, str_off, _str_len = struct.unpack_from('<IIII', data, 8)
    types = hdr_len + type_off
    strings = hdr_len + str_off
    want = name.encode() + b'\0'
    pos, end, type_id = types, types + type_len, 1
    while pos + 12 <= end:
        name_off, info = struct.unpack_from('<II', data, pos)
        kind = (info >> 24) & 0x1f
        vlen = info & 0xffff
        if kind == kind_wanted and data[strings + name_off:strings + name_off + len(want)] == want:
            return type_id
        pos += 12 + _BTF_EXTRA.get(kind, 0) + vlen * _BTF_VLEN.get(kind, 0)
        type_id += 1
    return None


def probe_all():
    """All facts about this kernel, as the install role publishes them."""
    caps = Capabilities()
    facts = caps.as_dict()
    facts['btf'] = btf_present()
    facts['lockdown'] = lockdown()
    facts['tracefs'] = _host.tracefs()
    facts['reasons'] = caps.reasons()
    return facts
