# SPDX-License-Identifier: GPL-3.0-or-later
"""BTF lookup on BTF built here (and on this kernel's, checked against bpftool), describe(),
and the bookkeeping of Capabilities with its probes replaced (nothing is loaded)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _capabilities as C

# --- BTF ----------------------------------------------------------------------------

INT, PTR, ARRAY, STRUCT, ENUM, FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG, ENUM64 = 1, 2, 3, 4, 6, 12, 13, 14, 15, 17, 19


class BtfBuilder(object):
    def __init__(self):
        self.strings = b'\0'
        self.types = b''
        self.count = 0

    def name(self, text):
        if not text:
            return 0
        offset = len(self.strings)
        self.strings += text.encode() + b'\0'
        return offset

    def add(self, kind, name='', vlen=0, size_or_type=0, extra=b''):
        self.types += struct.pack('<III', self.name(name), (kind << 24) | vlen, size_or_type) + extra
        self.count += 1
        return self.count

    def blob(self, hdr_len=24, magic=0xeb9f):
        header = struct.pack('<HBBIIIII', magic, 1, 0, hdr_len, 0, len(self.types), len(self.types), len(self.strings))
        return header + b'\0' * (hdr_len - 24) + self.types + self.strings


def sample_btf(**kwargs):
    b = BtfBuilder()
    t_int = b.add(INT, 'int', size_or_type=4, extra=struct.pack('<I', 32))                     # 1
    b.add(PTR, size_or_type=t_int)                                                              # 2
    t_file = b.add(STRUCT, 'file', vlen=2, size_or_type=16,                                     # 3
                   extra=struct.pack('<III', b.name('f_flags'), t_int, 0)
                   + struct.pack('<III', b.name('f_mode'), t_int, 32))
    proto = b.add(FUNC_PROTO, vlen=2, size_or_type=t_int,                                       # 4
                  extra=struct.pack('<II', 0, 2) + struct.pack('<II', 0, t_int))
    b.add(FUNC, 'vfs_read', vlen=1, size_or_type=proto)                                         # 5
    b.add(ENUM, 'mode', vlen=3, size_or_type=4, extra=struct.pack('<Ii', b.name('A'), 0) * 3)   # 6
    b.add(ARRAY, extra=struct.pack('<III', t_int, t_int, 8))                                    # 7
    b.add(VAR, 'jiffies', size_or_type=t_int, extra=struct.pack('<I', 1))                       # 8
    b.add(DATASEC, '.data', vlen=1, size_or_type=8, extra=struct.pack('<III', 8, 0, 4))         # 9
    b.add(FUNC, 'ksys_read', vlen=0, size_or_type=proto)                                        # 10
    b.add(STRUCT, 'vfs_write', vlen=0, size_or_type=0)                                          # 11
    b.add(FUNC, 'vfs_write', vlen=1, size_or_type=proto)                                        # 12
    b.add(ENUM64, 'big', vlen=2, size_or_type=8, extra=struct.pack('<IIi', 0, 1, 0) * 2)        # 13
    b.add(DECL_TAG, 'tag', size_or_type=5, extra=struct.pack('<i', -1))                         # 14
    b.add(FUNC, 'last_one', size_or_type=proto)                                                 # 15
    assert t_file == 3
    return b.blob(**kwargs)


@pytest.mark.parametrize('name,kind,type_id', [
    ('vfs_read', FUNC, 5),
    ('ksys_read', FUNC, 10),
    ('vfs_write', FUNC, 12),         # the struct of the same name comes first but is no function
    ('vfs_write', STRUCT, 11),
    ('file', STRUCT, 3),
    ('int', INT, 1),
    ('last_one', FUNC, 15),          # found only if every record before it was sized right
    ('vfs_read', STRUCT, None),
    ('vfs', FUNC, None),             # names match whole
    ('vfs_read_iter', FUNC, None),
    ('f_flags', FUNC, None),         # a member name is no type
    ('no_such', FUNC, None),
])
def test_btf_find(name, kind, type_id):
    assert C.btf_find(sample_btf(), name, kind) == type_id


def test_btf_find_honours_a_longer_header():
    assert C.btf_find(sample_btf(hdr_len=32), 'last_one', FUNC) == 15


@pytest.mark.parametrize('data', [b'', b'\x9f\xeb', sample_btf(magic=0x1234), sample_btf()[:20]])
def test_btf_find_not_btf(data):
    assert C.btf_find(data, 'vfs_read', FUNC) is None


def test_btf_func_id_from_a_file(tmp_path):
    path = tmp_path / 'vmlinux'
    path.write_bytes(sample_btf())
    assert C.btf_func_id('ksys_read', str(path)) == 10
    assert C.btf_func_id('file', str(path)) is None
    assert C.btf_func_id('vfs_read', str(tmp_path / 'missing')) is None


VMLINUX = '/sys/kernel/btf/vmlinux'


@pytest.mark.skipif(not (os.path.exists(VMLINUX) and shutil.which('bpftool')), reason='needs kernel BTF and bpftool')
def test_btf_func_id_of_this_kernel_matches_bpftool():
    dump = subprocess.run(['bpftool', 'btf', 'dump', 'file', VMLINUX], check=True, capture_output=True,
                          text=True).stdout
    for name in ('vfs_read', 'ksys_read', 'schedule'):
        match = re.search(r"^\[(\d+)\] FUNC '%s' " % name, dump, re.M)
        expected = int(match.group(1)) if match else None
        assert C.btf_func_id(name) == expected, name
    assert C.btf_func_id('no_such_function_xyz') is None


# --- describe ------------------------------------------------------------------------

@pytest.mark.parametrize('exc,text', [
    (OSError(errno.ENOENT, 'x'), 'No such file or directory (ENOENT)'),
    (OSError(errno.EPERM, 'x'), 'Operation not permitted (EPERM)'),
    (OSError(errno.EINVAL, 'x'), 'Invalid argument (EINVAL)'),
    (OSError(errno.EOPNOTSUPP, 'x'), 'Operation not supported (ENOTSUP)'),
    (OSError(errno.E2BIG, 'x'), 'Argument list too long (E2BIG)'),
    (OSError(524, 'x'), 'the kernel does not support it (ENOTSUPP)'),
    (OSError(9999, 'x'), 'Unknown error 9999 (9999)'),
    (OSError('no errno'), 'no errno'),
    (RuntimeError('plain'), 'plain'),
])
def test_describe(exc, text):
    assert C.describe(exc) == text


# --- Capabilities bookkeeping ------------------------------------------------------------

class Scripted(C.Capabilities):
    """Every probe answers from a script: True, or an errno to raise."""

    def __init__(self, script):
        super(Scripted, self).__init__()
        self.script = script
        self.calls = []
        for name in ('tracepoints', 'raw_tracepoints', 'attach_cookies', 'perf_link', 'kprobes', 'kprobe_multi',
                     'uprobes', 'uprobe_multi', 'fentry'):
            setattr(self, '_probe_' + name, self._make(name))

    def _make(self, name):
        def probe():
            self.calls.append(name)
            answer = self.script.get(name, True)
            if answer is True:
                return True, 'works'
            raise OSError(answer, os.strerror(answer))
        return probe


def test_each_mechanism_is_tried_once():
    caps = Scripted({'kprobes': errno.ENOENT})
    assert caps.available('kprobes') is False
    assert caps.reason('kprobes') == 'No such file or directory (ENOENT)'
    assert caps.available('kprobes') is False
    assert caps.calls == ['kprobes']


def test_kprobe_cookies_needs_kprobes_perf_link_and_cookies():
    assert Scripted({}).check('kprobe_cookies') == (True, 'works')
    assert Scripted({'kprobes': errno.ENOENT}).check('kprobe_cookies') == (False, 'kprobes are not available')
    assert Scripted({'perf_link': errno.EINVAL}).check('kprobe_cookies') == (
        False, 'perf event links (kernel 5.15+) are not available: Invalid argument (EINVAL)')
    assert Scripted({'attach_cookies': errno.EINVAL}).check('kprobe_cookies') == (
        False, 'bpf_get_attach_cookie is not available')


def test_raw_tracepoint_cookies_needs_cookies():
    caps = Scripted({'attach_cookies': errno.EINVAL})
    assert caps.check('raw_tracepoint_cookies') == (False, 'bpf_get_attach_cookie is not available')


def test_as_dict_and_reasons():
    caps = Scripted({'kprobes': 524, 'kprobe_multi': errno.EOPNOTSUPP, 'fentry': errno.EPERM})
    caps._probe_raw_tracepoint_cookies = lambda: (True, 'works')   # pylint: disable=protected-access
    assert caps.as_dict() == {
        'kprobes': False, 'kprobe_multi': False, 'kprobe_cookies': False, 'uprobes': True, 'uprobe_multi': True,
        'attach_cookies': True, 'perf_link': True, 'raw_tracepoints': True, 'raw_tracepoint_cookies': True,
        'tracepoints': True, 'fentry': False}
    assert caps.reasons() == {
        'kprobes': 'the kernel does not support it (ENOTSUPP)',
        'kprobe_multi': 'Operation not supported (ENOTSUP)',
        'kprobe_cookies': 'kprobes are not available',
        'fentry': 'Operation not permitted (EPERM)',
    }
    assert list(caps.as_dict()) == list(C.MECHANISMS)


def test_unknown_mechanism_is_a_programming_error():
    with pytest.raises(AttributeError):
        C.Capabilities().available('no_such_mechanism')


def test_trivial_programs():
    # r0 = 0; exit -- and the cookie variant calls helper 174 (bpf_get_attach_cookie) first
    assert C.TRIVIAL == bytes.fromhex('b700000000000000') + bytes.fromhex('9500000000000000')
    assert C.WITH_COOKIE == bytes.fromhex('85000000ae000000') + C.TRIVIAL
