# SPDX-License-Identifier: GPL-3.0-or-later
"""The host parsers on sample text, header tree merging in tmp_path, and this process's own maps."""

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _host as H

# --- the syscall table ---------------------------------------------------------

SYSCALLS_64_V6 = """\
__SYSCALL(0, sys_read)
__SYSCALL(1, sys_write)
__SYSCALL(4, sys_newstat)
__SYSCALL(15, sys_rt_sigreturn)
__SYSCALL(40, sys_sendfile64)
__SYSCALL(134, sys_ni_syscall)
__SYSCALL(166, sys_umount)
__SYSCALL(450, sys_set_mempolicy_home_node)
"""

# Linux 5.x: __SYSCALL_64 with the __x64_ prefix and an empty third argument
SYSCALLS_64_V5 = """\
__SYSCALL_64(0, __x64_sys_read, )
__SYSCALL_64(1, __x64_sys_write, )
__SYSCALL_64(  59 ,  __x64_sys_execve, )
"""

# Linux 4.x: __SYSCALL_COMMON with the entry point twice
SYSCALLS_64_V4 = """\
__SYSCALL_COMMON(0, sys_read, sys_read)
__SYSCALL_COMMON(4, sys_newstat, sys_newstat)
__SYSCALL_64(13, sys_rt_sigaction, sys_rt_sigaction)
"""

# Linux 6.11 and later mark exit and exit_group as not returning
SYSCALLS_64_V611 = """\
__SYSCALL(59, sys_execve)
__SYSCALL_NORETURN(60, sys_exit)
__SYSCALL(61, sys_wait4)
__SYSCALL_NORETURN(231, sys_exit_group)
"""


@pytest.mark.parametrize('text,table', [
    (SYSCALLS_64_V6, {'read': 0, 'write': 1, 'newstat': 4, 'rt_sigreturn': 15, 'sendfile64': 40,
                      'ni_syscall': 134, 'umount': 166, 'set_mempolicy_home_node': 450}),
    (SYSCALLS_64_V5, {'read': 0, 'write': 1, 'execve': 59}),
    (SYSCALLS_64_V4, {'read': 0, 'newstat': 4, 'rt_sigaction': 13}),
    ('', {}),
    ('#define __NR_read 0\n', {}),
])
def test_parse_syscall_table(text, table):
    assert H.parse_syscall_table(text) == table


def test_parse_syscall_table_noreturn():
    # syscalls_64.h marks exit and exit_group __SYSCALL_NORETURN since Linux 6.11
    assert H.parse_syscall_table(SYSCALLS_64_V611) == {'execve': 59, 'exit': 60, 'wait4': 61, 'exit_group': 231}


UNISTD_64 = """\
#ifndef _ASM_UNISTD_64_H
#define _ASM_UNISTD_64_H

#define __NR_read 0
#define __NR_write 1
#define __NR_stat 4
#define __NR_fstat 5
#define __NR_lstat 6
#define __NR_sendfile 40
#define __NR_uname 63
#define __NR_umount2 166
#define __NR_newfstatat 262
#define __NR_x32_thing (__X32_SYSCALL_BIT + 512)

#endif /* _ASM_UNISTD_64_H */
"""


def test_parse_unistd_adds_the_event_names_of_renamed_syscalls():
    assert H.parse_unistd(UNISTD_64) == {
        'read': 0, 'write': 1, 'stat': 4, 'fstat': 5, 'lstat': 6, 'sendfile': 40, 'uname': 63, 'umount2': 166,
        'newfstatat': 262,
        # trace events are named after the kernel function, not the __NR_ name
        'newstat': 4, 'newfstat': 5, 'newlstat': 6, 'sendfile64': 40, 'newuname': 63, 'umount': 166,
    }


def test_parse_unistd_alias_needs_its_target():
    assert H.parse_unistd('#define __NR_read 0\n') == {'read': 0}


GENERATED = '/lib/modules/%s/build/arch/x86/include/generated/asm/syscalls_64.h' % os.uname().release
UAPI = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h'


@pytest.mark.skipif(not (os.path.isfile(GENERATED) and os.path.isfile(UAPI)),
                    reason='needs kernel headers and the uapi headers (make setup installs both)')
def test_both_tables_agree_on_this_machine():
    generated = H.parse_syscall_table(open(GENERATED).read())
    uapi = H.parse_unistd(open(UAPI).read())
    assert generated['read'] == 0 and generated['exit_group'] == 231
    assert {name: (nr, uapi.get(name)) for name, nr in generated.items()
            if name != 'ni_syscall' and uapi.get(name) != nr} == {}


# --- merging header trees ---------------------------------------------------------

def _tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _listing(root):
    """rel path -> ('link', target) for symlinks, 'dir' for real directories."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            found[rel] = ('link', os.readlink(path)) if os.path.islink(path) else 'dir'
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return found


def test_merge_trees_overlays_generated_and_common_headers(tmp_path):
    build = tmp_path / 'linux-headers-6.1.0-27-amd64'
    common = tmp_path / 'linux-headers-6.1.0-27-common'
    _tree(build, {'Makefile': 'build', 'include/generated/autoconf.h': '#define X 1',
                  'include/config/auto.conf': 'CONFIG_X=y', 'arch/x86/include/generated/asm/syscalls_64.h': 'g'})
    _tree(common, {'Makefile': 'common', 'include/linux/sched.h': 'sched', 'include/uapi/linux/bpf.h': 'bpf',
                   'arch/x86/include/asm/ptrace.h': 'ptrace', 'scripts/Kbuild.include': 'k'})
    dest = tmp_path / 'merged'
    H.merge_trees(str(dest), [str(build), str(common)])
    assert _listing(dest) == {
        'Makefile': ('link', str(build / 'Makefile')),                       # first source wins
        'include': 'dir',                                                      # shared: merged
        'include/generated': ('link', str(build / 'include/generated')),
        'include/config': ('link', str(build / 'include/config')),
        'include/linux': ('link', str(common / 'include/linux')),
        'include/uapi': ('link', str(common / 'include/uapi')),
        'arch': 'dir',
        'arch/x86': 'dir',
        'arch/x86/include': 'dir',
        'arch/x86/include/generated': ('link', str(build / 'arch/x86/include/generated')),
        'arch/x86/include/asm': ('link', str(common / 'arch/x86/include/asm')),
        'scripts': ('link', str(common / 'scripts')),
    }
    assert (dest / 'Makefile').read_text() == 'build'
    assert (dest / 'include/linux/sched.h').read_text() == 'sched'
    assert (dest / 'include/generated/autoconf.h').read_text() == '#define X 1'
    assert (dest / 'arch/x86/include/asm/ptrace.h').read_text() == 'ptrace'


def test_merge_trees_file_in_the_first_source_wins_over_a_directory(tmp_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    _tree(first, {'x': 'file'})
    _tree(second, {'x/inner.h': 'dir'})
    dest = tmp_path / 'merged'
    H.merge_trees(str(dest), [str(first), str(second)])
    assert _listing(dest) == {'x': ('link', str(first / 'x'))}


def test_merge_trees_three_sources_sharing_a_directory(tmp_path):
    sources = []
    for name in 'abc':
        root = tmp_path / name
        _tree(root, {'include/%s.h' % name: name, 'include/common.h': name})
        sources.append(str(root))
    dest = tmp_path / 'merged'
    H.merge_trees(str(dest), sources)
    assert sorted(os.listdir(dest / 'include')) == ['a.h', 'b.h', 'c.h', 'common.h']
    assert (dest / 'include/common.h').read_text() == 'a'
    assert not os.path.islink(dest / 'include')


def test_merge_trees_into_an_existing_destination(tmp_path):
    source = tmp_path / 'src'
    _tree(source, {'include/a.h': 'a'})
    dest = tmp_path / 'merged'
    dest.mkdir()
    H.merge_trees(str(dest), [str(source)])
    assert _listing(dest) == {'include': ('link', str(source / 'include'))}


def test_remove_tree_leaves_the_sources_alone(tmp_path):
    source = tmp_path / 'src'
    _tree(source, {'include/a.h': 'a'})
    dest = tmp_path / 'merged'
    H.merge_trees(str(dest), [str(source), str(source)])
    H.remove_tree(str(dest))
    assert not dest.exists()
    assert (source / 'include/a.h').read_text() == 'a'


@pytest.mark.parametrize('text,key', [
    ('linux-headers-6.1.0-27-amd64', (6, 1, 0)),
    ('6.18.44-fc-v1272', (6, 18, 44)),
    ('5.10', (5, 10, 0)),
    ('4.18.0-553.el8_10.x86_64', (4, 18, 0)),
    ('kernels', None),
])
def test_version_key(text, key):
    assert H._version_key(text) == key   # pylint: disable=protected-access


# --- this process's maps ---------------------------------------------------------

def _mapped_libc():
    for path in H.process_libraries(os.getpid()):
        if os.path.basename(path).startswith('libc.so'):
            return path
    pytest.skip('libc is not mapped in this process')


def test_process_libraries_of_this_process():
    paths = H.process_libraries(os.getpid())
    assert len(paths) == len(set(paths))
    assert all(p.startswith('/') and not p.endswith(' (deleted)') for p in paths)
    assert os.path.realpath(sys.executable) in [os.path.realpath(p) for p in paths]


def test_process_libraries_of_no_process():
    assert H.process_libraries(2 ** 22 + 11) == []


def test_library_in_process_finds_libc_through_the_process_root():
    libc = _mapped_libc()
    assert H.library_in_process('c', os.getpid()) == '/proc/%d/root%s' % (os.getpid(), libc)


def test_library_in_process_matches_the_executable_by_name():
    exe = os.readlink('/proc/self/exe')
    assert H.library_in_process(os.path.basename(exe), os.getpid()) == exe


@pytest.mark.parametrize('name', ['nosuchlib_xyz', 'li', 'libc'])
def test_library_in_process_not_mapped(name):
    assert H.library_in_process(name, os.getpid()) is None


def test_library_in_process_of_no_process():
    assert H.library_in_process('c', 2 ** 22 + 11) is None


def test_is_mounted():
    assert H.is_mounted('/proc', 'proc') is True
    assert H.is_mounted('/proc', 'ext4') is False
    assert H.is_mounted('/no/such/mount', 'proc') is False


def test_pid_exists():
    assert H.pid_exists(os.getpid()) is True
    assert H.pid_exists(2 ** 22 + 11) is False


@pytest.mark.parametrize('text,cpus', [
    ('0\n', {0}),
    ('0-3\n', {0, 1, 2, 3}),
    ('0-1,4,6-7\n', {0, 1, 4, 6, 7}),
    ('2,5\n', {2, 5}),
])
def test_online_cpus(monkeypatch, text, cpus):
    read = []
    monkeypatch.setattr(H, '_read', lambda path: read.append(path) or text)
    assert H.online_cpus() == cpus
    assert read == ['/sys/devices/system/cpu/online']


# --- cgroup v2 paths ------------------------------------------------------------------

def test_cgroup_paths_by_inode(tmp_path):
    for rel in ('system.slice/ssh.service', 'user.slice/user-1000.slice', 'empty'):
        (tmp_path / rel).mkdir(parents=True)
    ino = {rel: os.stat(tmp_path / rel).st_ino
           for rel in ('.', 'system.slice', 'system.slice/ssh.service', 'user.slice/user-1000.slice')}
    found = H.cgroup_paths(list(ino.values()) + [1], root=str(tmp_path))
    assert found == {
        ino['.']: '/',
        ino['system.slice']: '/system.slice',
        ino['system.slice/ssh.service']: '/system.slice/ssh.service',
        ino['user.slice/user-1000.slice']: '/user.slice/user-1000.slice',
    }


def test_cgroup_paths_of_nothing(tmp_path):
    assert H.cgroup_paths([], root=str(tmp_path)) == {}
    assert H.cgroup_paths([12345], root=str(tmp_path / 'missing')) == {}


# --- kernel function lists (the two readers of fixed /proc and tracefs paths replaced) ----------

@pytest.mark.parametrize('kallsyms,ftrace,expected', [
    (['vfs_read', '__pfx_vfs_read', '__cfi_vfs_read', 'schedule', 'vfs_read.cold'], {'vfs_read'},
     (['vfs_read', 'schedule', 'vfs_read.cold'], 'kallsyms')),
    ([], {'vfs_write', 'vfs_read'}, (['vfs_read', 'vfs_write'], 'available_filter_functions')),
    (['__pfx_x'], {'x'}, (['x'], 'available_filter_functions')),
    ([], None, ([], 'available_filter_functions')),
])
def test_kernel_functions(monkeypatch, kallsyms, ftrace, expected):
    monkeypatch.setattr(H, 'kallsyms_text', lambda: list(kallsyms))
    monkeypatch.setattr(H, 'ftrace_functions', lambda: None if ftrace is None else set(ftrace))
    assert H.kernel_functions() == expected
