# SPDX-License-Identifier: GPL-3.0-or-later
"""From patterns to probes against a fake host view: keys, dedup, limits, skips, messages."""

from __future__ import annotations

import ctypes.util
import os

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _elf
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils import _resolve as R
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

LIBC = '/fake/lib/libc.so.6'
APP = '/fake/bin/app'

# one loadable segment: vaddr 0x1000..0x9000 at file offset 0x0
SEGMENTS = [(0x1000, 0x8000, 0x0)]


class FakeElf(object):
    def __init__(self, functions=None, notes=None, segments=None):
        self._functions = functions or {}
        self._notes = notes or []
        self.segments = SEGMENTS if segments is None else segments
        self.calls = 0

    def functions(self):
        self.calls += 1
        return dict(self._functions)

    def vaddr_to_offset(self, vaddr):
        for start, size, offset in self.segments:
            if start <= vaddr < start + size:
                return vaddr - start + offset
        return None

    def usdt_notes(self):
        return list(self._notes)


def sym(name, value, ifunc=False):
    return _elf.Symbol(name, value, 16, ifunc)


def note(provider, name, pc, semaphore=0):
    return _elf.Note(provider, name, pc, semaphore)


LIBC_ELF = FakeElf(
    functions={
        'malloc': sym('malloc', 0x2000),
        '__libc_malloc': sym('__libc_malloc', 0x2000),     # alias: same code as malloc
        'free': sym('free', 0x2100),
        'strlen': sym('strlen', 0x3000, ifunc=True),        # resolvable indirect function
        'strcpy': sym('strcpy', 0x3100, ifunc=True),        # unresolvable indirect function
        'far_away': sym('far_away', 0x100000),              # outside every PT_LOAD
    },
    notes=[
        note('libc', 'setjmp', 0x4000),
        note('rtld', 'setjmp', 0x4100),                     # same probe name, other provider
        note('libc', 'memory_sbrk_more', 0x4200),
        note('libc', 'memory_sbrk_more', 0x4300),           # same probe at two places
        note('libc', 'lost', 0x200000),                     # pc outside every PT_LOAD
    ])

APP_ELF = FakeElf(
    functions={'main': sym('main', 0x1500)},
    notes=[
        note('app', 'tick', 0x1600, semaphore=0x8000),
        note('app', 'tock', 0x1700),
    ])

TRACEPOINTS = {
    ('sched', 'sched_switch'): 101,
    ('sched', 'sched_wakeup'): 102,
    ('sched_ext', 'sched_switch'): 103,
    ('syscalls', 'sys_enter_read'): 201,
    ('syscalls', 'sys_exit_read'): 202,
    ('syscalls', 'sys_enter_write'): 203,
    ('syscalls', 'sys_exit_write'): 204,
    ('syscalls', 'sys_enter_brand_new'): 205,
    ('syscalls', 'sys_exit_brand_new'): 206,
}

KERNEL = ['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_read.cold', 'vfs_fsync.isra.0', 'do_sys_open', 'kprobe_bad',
          'kprobe_bad.cold', 'schedule']


class FakeHost(object):
    def __init__(self, pid=None, kernel=None, blacklist=('vfs_write', 'kprobe_bad', 'kprobe_bad.cold'),
                 tracepoints=None, syscalls=None, ifuncs=None, libraries=None, elves=None):
        self.pid = pid
        self._kernel = list(KERNEL if kernel is None else kernel)
        self._blacklist = set(blacklist)
        self._tracepoints = dict(TRACEPOINTS if tracepoints is None else tracepoints)
        self._syscalls = {'read': 0, 'write': 1} if syscalls is None else syscalls
        self._ifuncs = {(LIBC, 'strlen'): 0x7777} if ifuncs is None else ifuncs
        self._libraries = {'c': LIBC, 'app': APP, LIBC: LIBC, APP: APP} if libraries is None else libraries
        self._elves = {LIBC: LIBC_ELF, APP: APP_ELF} if elves is None else elves
        self.syscall_calls = 0

    def tracepoints(self):
        return dict(self._tracepoints)

    def kernel_functions(self):
        return list(self._kernel), 'available_filter_functions'

    def kprobe_blacklist(self):
        return set(self._blacklist)

    def syscall_numbers(self):
        self.syscall_calls += 1
        return dict(self._syscalls), '/fake/syscalls_64.h'

    def elf(self, path):
        return self._elves[path]

    def find_library(self, name):
        return self._libraries.get(name)

    def ifunc_target(self, path, name):
        return self._ifuncs.get((path, name))


def resolve(texts, host=None, max_probes=None, regexp=False):
    return R.resolve(P.parse_all(texts, regexp), host or FakeHost(), max_probes)


def keys(probes):
    return [p.key for p in probes]


# --- kernel functions -----------------------------------------------------------

def test_kernel_glob_skips_blacklisted_and_clones_with_reasons():
    probes, skipped = resolve(['vfs_*'])
    assert keys(probes) == ['vfs_read', 'vfs_readv']
    assert [(p.kind, p.symbol, p.index) for p in probes] == [(P.KERNEL, 'vfs_read', 0), (P.KERNEL, 'vfs_readv', 1)]
    assert skipped == [
        {'probe': 'vfs_fsync.isra.0',
         'reason': 'compiler-generated clone (isra.0); probe the function it was split from'},
        {'probe': 'vfs_read.cold', 'reason': 'compiler-generated clone (cold); probe the function it was split from'},
        {'probe': 'vfs_write', 'reason': 'the kernel forbids probing it (kprobe blacklist)'},
    ]


def test_blacklist_wins_over_clone():
    _probes, skipped = resolve(['kprobe_bad*'])
    assert skipped == [
        {'probe': 'kprobe_bad', 'reason': 'the kernel forbids probing it (kprobe blacklist)'},
        {'probe': 'kprobe_bad.cold', 'reason': 'the kernel forbids probing it (kprobe blacklist)'},
    ]


def test_pattern_matching_only_skipped_functions_is_no_error():
    probes, skipped = resolve(['vfs_write'])
    assert probes == []
    assert skipped == [{'probe': 'vfs_write', 'reason': 'the kernel forbids probing it (kprobe blacklist)'}]


def test_kernel_regexp_is_anchored():
    probes, _skipped = resolve(['vfs_read'], regexp=True)
    assert keys(probes) == ['vfs_read']
    probes, _skipped = resolve(['vfs_readv?'], regexp=True)
    assert keys(probes) == ['vfs_read', 'vfs_readv']


def test_same_probe_from_two_patterns_is_kept_once_with_the_first_key():
    probes, skipped = resolve(['p::vfs_read', 'vfs_read', 'vfs_*', 'schedule'])
    assert keys(probes) == ['vfs_read', 'vfs_readv', 'schedule']
    assert [p.index for p in probes] == [0, 1, 2]
    # skips are reported per pattern, so the same skip may appear twice
    assert [s['probe'] for s in skipped] == ['vfs_fsync.isra.0', 'vfs_read.cold', 'vfs_write']


def test_identity():
    probes, _skipped = resolve(['vfs_read', 't:sched:sched_switch', 'c:malloc'])
    assert [p.identity for p in probes] == [
        (P.KERNEL, 'vfs_read'),
        (P.TRACEPOINT, 'sched', 'sched_switch'),
        (P.USER, os.path.realpath(LIBC), ((0x1000, 0),)),
    ]


# --- max_probes --------------------------------------------------------------

def test_max_probes_counts_after_dedup():
    probes, _skipped = resolve(['vfs_read', 'vfs_*', 'schedule'], max_probes=3)
    assert len(probes) == 3


def test_max_probes_message():
    with pytest.raises(FuncCountError) as info:
        resolve(['vfs_*', 'schedule', 't:sched:*'], max_probes=3)
    assert info.value.msg == ('The patterns match 5 probes, more than max_probes (3); narrow the patterns, or raise '
                              'max_probes if counting that many is intended.')


# --- no match ----------------------------------------------------------------

@pytest.mark.parametrize('text,message', [
    ('no_such_fn', "Pattern 'no_such_fn' matches no kernel function; check the name against /proc/kallsyms."),
    ('vfs_read', "Pattern 'vfs_read' matches no kernel function; check the name against /proc/kallsyms."),
    ('c:no_such_fn', "Pattern 'c:no_such_fn' matches no function in c (/fake/lib/libc.so.6); check the name with "
                     "\"nm -D /fake/lib/libc.so.6\"."),
    (LIBC + ':nope*', "Pattern '/fake/lib/libc.so.6:nope*' matches no function in /fake/lib/libc.so.6; check the "
                      "name with \"nm -D /fake/lib/libc.so.6\"."),
    ('t:sched:no_such', "Pattern 't:sched:no_such' matches no tracepoint; list tracepoints under "
                        "/sys/kernel/tracing/events."),
    ('t:sched:sched_s', "Pattern 't:sched:sched_s' matches no tracepoint; list tracepoints under "
                        "/sys/kernel/tracing/events."),
    ('u:c:no_such', "Pattern 'u:c:no_such' matches no USDT probe in c (/fake/lib/libc.so.6); list its probes with "
                    "\"readelf -n /fake/lib/libc.so.6\"."),
    ('u:c:rtld:memory_sbrk_more', "Pattern 'u:c:rtld:memory_sbrk_more' matches no USDT probe in c "
                                  "(/fake/lib/libc.so.6); list its probes with \"readelf -n /fake/lib/libc.so.6\"."),
    ('u:c:lost', "Pattern 'u:c:lost' matches no USDT probe in c (/fake/lib/libc.so.6); list its probes with "
                 "\"readelf -n /fake/lib/libc.so.6\"."),
])
def test_no_match_message(text, message):
    host = FakeHost(kernel=['schedule'] if text == 'vfs_read' else KERNEL)
    with pytest.raises(FuncCountError) as info:
        resolve([text], host)
    assert info.value.msg == message


def test_no_match_message_names_the_first_pattern_that_matches_nothing():
    with pytest.raises(FuncCountError) as info:
        resolve(['vfs_read', 'nope1', 'nope2'])
    assert info.value.msg == "Pattern 'nope1' matches no kernel function; check the name against /proc/kallsyms."


# --- libraries ---------------------------------------------------------------

@pytest.mark.parametrize('text,pid,message', [
    ('nosuch:f', None, "Pattern 'nosuch:f' names the library or program 'nosuch', which was not found in the linker "
                       "cache or in PATH; give its full path instead (for example "
                       "/usr/lib/x86_64-linux-gnu/libnosuch.so)."),
    ('nosuch:f', 4321, "Pattern 'nosuch:f' names the library or program 'nosuch', which was not found in the process "
                       "4321, in the linker cache or in PATH; give its full path instead (for example "
                       "/usr/lib/x86_64-linux-gnu/libnosuch.so)."),
    ('u:nosuch:p', None, "Pattern 'u:nosuch:p' names the library or program 'nosuch', which was not found in the "
                         "linker cache or in PATH; give its full path instead (for example "
                         "/usr/lib/x86_64-linux-gnu/libnosuch.so)."),
    ('/no/such:f', None, "Pattern '/no/such:f' names /no/such, which does not exist or is not a file; give the full "
                         "path of an existing binary or library."),
    ('u:/no/such:p', 99, "Pattern 'u:/no/such:p' names /no/such, which does not exist or is not a file; give the "
                         "full path of an existing binary or library."),
    ('rel/bin:f', None, "Pattern 'rel/bin:f' names rel/bin, which does not exist or is not a file; give the full "
                        "path of an existing binary or library."),
])
def test_library_not_found_message(text, pid, message):
    with pytest.raises(FuncCountError) as info:
        resolve([text], FakeHost(pid=pid))
    assert info.value.msg == message


# --- user functions ----------------------------------------------------------

def test_user_functions_ifunc_resolved_unresolvable_and_outside_segments():
    probes, skipped = resolve(['c:*'])
    assert [(p.key, p.kind, p.symbol, p.path, p.locations) for p in probes] == [
        ('c:__libc_malloc', P.USER, '__libc_malloc', LIBC, [(0x1000, 0)]),
        ('c:free', P.USER, 'free', LIBC, [(0x1100, 0)]),
        ('c:strlen', P.USER, 'strlen', LIBC, [(0x7777, 0)]),     # where the resolver points, not the resolver
    ]
    # malloc is the same code as __libc_malloc: counted once, under the first name
    assert skipped == [
        {'probe': 'c:far_away', 'reason': 'its address is outside every loadable segment'},
        {'probe': 'c:strcpy', 'reason': 'GNU indirect function: the implementation is chosen when the library is '
                                        'loaded and could not be resolved here'},
    ]


def test_user_key_keeps_the_library_as_written():
    probes, _skipped = resolve(['p:' + LIBC + ':malloc', 'app:main'])
    assert keys(probes) == ['/fake/lib/libc.so.6:malloc', 'app:main']
    assert probes[1].path == APP


def test_same_function_by_name_and_by_path_is_one_probe():
    probes, _skipped = resolve(['c:malloc', LIBC + ':malloc', 'p:c:malloc'])
    assert keys(probes) == ['c:malloc']


def test_user_regexp():
    probes, _skipped = resolve(['c:(malloc|free)'], regexp=True)
    assert keys(probes) == ['c:free', 'c:malloc']


def test_only_resolved_elves_are_read():
    elf = FakeElf(functions={'main': sym('main', 0x1500)})
    host = FakeHost(elves={APP: elf, LIBC: None})
    resolve(['app:main', 'vfs_read'], host)
    assert elf.calls == 1


# --- USDT --------------------------------------------------------------------

def test_usdt_key_has_the_provider_only_when_the_name_is_ambiguous():
    probes, _skipped = resolve(['u:c:*'])
    assert [(p.key, p.kind, p.symbol, p.path, p.locations) for p in probes] == [
        ('u:c:memory_sbrk_more', P.USDT, 'memory_sbrk_more', LIBC, [(0x3200, 0), (0x3300, 0)]),
        ('u:c:libc:setjmp', P.USDT, 'setjmp', LIBC, [(0x3000, 0)]),
        ('u:c:rtld:setjmp', P.USDT, 'setjmp', LIBC, [(0x3100, 0)]),
    ]


def test_usdt_key_has_the_provider_even_when_the_pattern_names_one():
    probes, _skipped = resolve(['u:c:rtld:setjmp'])
    assert keys(probes) == ['u:c:rtld:setjmp']
    probes, _skipped = resolve(['u:c:libc:memory_sbrk_more'])
    assert keys(probes) == ['u:c:memory_sbrk_more']


def test_usdt_semaphore_is_a_file_offset():
    probes, _skipped = resolve(['u:app:*'])
    assert [(p.key, p.locations) for p in probes] == [
        ('u:app:tick', [(0x600, 0x7000)]),
        ('u:app:tock', [(0x700, 0)]),
    ]


def test_usdt_by_path_and_by_name_is_one_probe():
    probes, _skipped = resolve(['u:app:tick', 'u:' + APP + ':app:tick'])
    assert keys(probes) == ['u:app:tick']


def test_usdt_provider_regexp_is_anchored():
    with pytest.raises(FuncCountError):
        resolve(['u:c:lib:setjmp'], regexp=True)
    probes, _skipped = resolve(['u:c:lib.*:setjmp'], regexp=True)
    assert keys(probes) == ['u:c:libc:setjmp']


# --- tracepoints -------------------------------------------------------------

def test_tracepoints_and_syscall_events():
    probes, skipped = resolve(['t:sched:sched_switch', 't:syscalls:sys_*_read', 't:syscalls:sys_enter_brand_new'])
    assert skipped == []
    assert [(p.key, p.kind, p.category, p.event, p.tp_id, p.syscall) for p in probes] == [
        ('t:sched:sched_switch', P.TRACEPOINT, 'sched', 'sched_switch', 101, None),
        ('t:syscalls:sys_enter_read', P.TRACEPOINT, 'syscalls', 'sys_enter_read', 201, ('enter', 0)),
        ('t:syscalls:sys_exit_read', P.TRACEPOINT, 'syscalls', 'sys_exit_read', 202, ('exit', 0)),
        ('t:syscalls:sys_enter_brand_new', P.TRACEPOINT, 'syscalls', 'sys_enter_brand_new', 205, ('enter', None)),
    ]


def test_tracepoint_category_is_anchored():
    probes, _skipped = resolve(['t:sched:*'])
    assert keys(probes) == ['t:sched:sched_switch', 't:sched:sched_wakeup']
    probes, _skipped = resolve(['t:sched*:sched_switch'])
    assert keys(probes) == ['t:sched:sched_switch', 't:sched_ext:sched_switch']


def test_syscall_table_is_read_only_for_syscall_events():
    host = FakeHost()
    resolve(['t:sched:*', 'vfs_read'], host)
    assert host.syscall_calls == 0
    resolve(['t:syscalls:*'], host)
    assert host.syscall_calls == 1


def test_non_syscall_event_in_syscalls_category_has_no_syscall():
    host = FakeHost(tracepoints={('syscalls', 'odd_one'): 7})
    probes, _skipped = resolve(['t:syscalls:*'], host)
    assert [(p.key, p.syscall) for p in probes] == [('t:syscalls:odd_one', None)]


def test_every_key_is_a_pattern_that_selects_exactly_its_probe():
    patterns = ['vfs_*', 'schedule', 'c:*', 'app:main', 'u:c:*', 'u:app:*', 't:*:*']
    probes, _skipped = resolve(patterns)
    assert len(probes) == 21
    for probe in probes:
        again, _skipped = resolve([probe.key])
        assert [p.identity for p in again] == [probe.identity], probe.key


@pytest.mark.parametrize('library', ['t', 'u'])
def test_key_of_function_in_library_named_t_or_u_keeps_the_type(library):
    host = FakeHost(libraries={library: APP})
    probes, _skipped = resolve(['p:%s:main' % library], host)
    assert keys(probes) == ['p:%s:main' % library]
    again, _skipped = resolve([probes[0].key], host)
    assert [p.identity for p in again] == [probes[0].identity]


# --- the real HostView (no BPF, no root) -------------------------------------

def test_hostview_elf_error_message(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('not an ELF file at all, but long enough to have a header of sixty-four bytes.\n')
    with pytest.raises(FuncCountError) as info:
        R.HostView().elf(str(path))
    assert info.value.msg == ('Cannot read symbols: %s is not an ELF file; give the path of an ELF executable or '
                              'shared library.' % path)


def test_hostview_find_library_by_path(tmp_path):
    path = tmp_path / 'bin'
    path.write_bytes(b'x')
    host = R.HostView()
    assert host.find_library(str(path)) == str(path)
    assert host.find_library(str(tmp_path / 'missing')) is None
    assert host.find_library(str(tmp_path)) is None     # a directory is no binary


def _libc_path():
    with open('/proc/self/maps') as handle:
        for line in handle:
            fields = line.split(None, 5)
            if len(fields) == 6 and os.path.basename(fields[5].strip()).startswith('libc.so'):
                return fields[5].strip()
    pytest.skip('no libc mapped in this process')


@pytest.mark.skipif(os.uname().machine != 'x86_64' or not ctypes.util.find_library('c'),
                    reason='glibc on x86_64 has strlen as an indirect function')
def test_resolve_ifunc_in_this_process():
    path = _libc_path()
    elf = _elf.ElfFile(path)
    strlen = elf.functions()['strlen']
    assert strlen.ifunc is True
    target = R.resolve_ifunc(path, 'strlen')
    assert target is not None
    assert target != elf.vaddr_to_offset(strlen.value)          # the implementation, not the resolver
    executable = [(off, off + filesz) for _vaddr, _memsz, off, filesz in elf.segments]
    assert any(start <= target < end for start, end in executable)


def test_resolve_ifunc_of_a_file_not_mapped_here_is_none():
    assert R.resolve_ifunc('/bin/true', 'main') is None


def test_resolve_ifunc_of_an_unknown_symbol_is_none():
    assert R.resolve_ifunc(_libc_path(), 'no_such_symbol_xyz') is None


# --- regexp resolution runs under a deadline ---------------------------------

def test_regexp_resolution_gives_the_same_probes_as_globs():
    by_glob, skipped_glob = resolve(['vfs_*', 't:sched:*', 'c:*', 'u:c:*'])
    by_regexp, skipped_regexp = resolve(['vfs_.*', 't:sched:.*', 'c:.*', 'u:c:.*'], regexp=True)
    assert [(p.key, p.identity, p.index) for p in by_regexp] == [(p.key, p.identity, p.index) for p in by_glob]
    assert skipped_regexp == skipped_glob


def test_catastrophic_regexp_is_stopped():
    host = FakeHost(kernel=['a' * 40 + 'b'])
    with pytest.raises(FuncCountError) as info:
        R.resolve(P.parse_all(['(a+)+c'], regexp=True), host, regexp_seconds=1)
    assert info.value.msg == ("Matching the regular expressions '(a+)+c' took more than 1 s, so it was stopped; one "
                              "of them probably backtracks catastrophically (nested repetition such as (a+)+); "
                              "simplify it.")


class BrokenHost(FakeHost):
    def kernel_functions(self):
        raise RuntimeError('kallsyms went away')


def test_unexpected_error_while_resolving_a_regexp_is_one_sentence():
    with pytest.raises(FuncCountError) as info:
        R.resolve(P.parse_all(['vfs_.*'], regexp=True), BrokenHost())
    assert info.value.msg == 'Resolving the patterns failed: RuntimeError: kallsyms went away.'


def test_unexpected_error_while_resolving_a_glob_is_not_hidden():
    with pytest.raises(RuntimeError):
        R.resolve(P.parse_all(['vfs_*']), BrokenHost())
