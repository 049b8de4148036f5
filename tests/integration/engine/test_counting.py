# SPDX-License-Identifier: GPL-3.0-or-later
"""Exact counts with real BPF on this machine, for every probe type and every
attach tier this kernel offers.  Each workload makes a known number of calls
inside the window; where other processes could fire the same probe, the
count is filtered by pid or taken on a binary only the test runs."""

from __future__ import annotations

import os

import pytest

from enginehelp import PYTHON311, _bcc, _engine, assert_nothing_attached, count, our_programs

pytestmark = [pytest.mark.root]

TIERS_USER = [
    ({}, 'uprobe_multi', 'cookie'),
    ({'attach': {'user': 'uprobe'}}, 'uprobe', 'cookie'),
    ({'attach': {'user': 'uprobe'}, 'cookies': 'never'}, 'uprobe', 'program per probe'),
]


@pytest.mark.parametrize('options,mechanism,identity', TIERS_USER)
def test_functions_in_a_binary(workload, fcwork, clean, options, mechanism, identity):
    w = workload(alpha=1234, beta=77)
    result = count(['%s:fc_*' % fcwork], go=w.go, **options)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 1234, '%s:fc_beta' % fcwork: 77}
    assert result['total'] == 1311
    assert result['probes'] == 3          # fc_gamma attached, never called
    assert result['engine']['mechanisms']['user'] == {'mechanism': mechanism, 'identity': identity}


def test_include_zero_lists_probes_that_did_not_fire(workload, fcwork, clean):
    w = workload(alpha=5)
    result = count(['%s:fc_*' % fcwork], go=w.go, include_zero=True)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 5, '%s:fc_beta' % fcwork: 0, '%s:fc_gamma' % fcwork: 0}


@pytest.mark.parametrize('options,mechanism,identity', TIERS_USER)
def test_libc_function_in_one_process(workload, clean, options, mechanism, identity):
    w = workload(getppid=4321)
    result = count(['c:getppid'], go=w.go, pid=w.pid, **options)
    assert result['counts'] == {'c:getppid': 4321}
    assert result['engine']['mechanisms']['user']['mechanism'] == mechanism


@pytest.mark.parametrize('options,mechanism,identity', [
    ({}, 'raw_tracepoint', 'cookie'),
    ({'cookies': 'never'}, 'raw_tracepoint', 'program per probe'),
    ({'attach': {'tracepoint': 'perf_event'}}, 'perf_event', 'cookie'),
    ({'attach': {'tracepoint': 'perf_event'}, 'cookies': 'never'}, 'perf_event', 'program per probe'),
])
def test_tracepoint(workload, clean, options, mechanism, identity):
    w = workload(forks=37)
    result = count(['t:sched:sched_process_fork'], go=w.go, pid=w.pid, **options)
    assert result['counts'] == {'t:sched:sched_process_fork': 37}
    assert result['engine']['mechanisms']['tracepoint'] == {'mechanism': mechanism, 'identity': identity}


@pytest.mark.parametrize('options,mechanism', [
    ({}, 'raw_syscalls'),
    ({'attach': {'syscall': 'raw_syscalls'}}, 'raw_syscalls'),
    ({'attach': {'syscall': 'perf_event'}}, 'perf_event'),
    ({'attach': {'syscall': 'perf_event'}, 'cookies': 'never'}, 'perf_event'),
])
def test_syscall_tracepoints(workload, clean, options, mechanism):
    w = workload(getppid=2500)
    result = count(['t:syscalls:sys_enter_getppid', 't:syscalls:sys_exit_getppid'], go=w.go, pid=w.pid, **options)
    assert result['counts'] == {'t:syscalls:sys_enter_getppid': 2500, 't:syscalls:sys_exit_getppid': 2500}
    assert result['engine']['mechanisms']['syscall']['mechanism'] == mechanism


def test_one_syscall_tracepoint_uses_one_perf_event(workload, clean):
    w = workload(getppid=300)
    result = count(['t:syscalls:sys_enter_getppid'], go=w.go, pid=w.pid)
    assert result['counts'] == {'t:syscalls:sys_enter_getppid': 300}
    assert result['engine']['mechanisms']['syscall'] == {'mechanism': 'perf_event', 'identity': 'cookie'}


def test_every_syscall_entry_in_one_process(workload, clean):
    w = workload(getppid=1000, forks=3)
    result = count(['t:syscalls:sys_enter_*'], go=w.go, pid=w.pid)
    assert result['probes'] > 300
    assert result['counts']['t:syscalls:sys_enter_getppid'] == 1000
    assert result['engine']['mechanisms']['syscall']['mechanism'] == 'raw_syscalls'


@pytest.mark.parametrize('options,mechanism', [
    ({}, 'uprobe_multi'),
    ({'attach': {'user': 'uprobe'}}, 'uprobe'),
    ({'attach': {'user': 'uprobe'}, 'cookies': 'never'}, 'uprobe'),
])
def test_usdt_with_semaphore_in_pid_mode(gc_workload, clean, options, mechanism):
    w = gc_workload(17, python=PYTHON311)
    result = count(['u:python3.11:gc__start'], go=w.go, pid=w.pid, **options)
    assert result['counts'] == {'u:python3.11:gc__start': 17}
    assert result['engine']['mechanisms']['user']['mechanism'] == mechanism


@pytest.mark.parametrize('options', [{}, {'attach': {'user': 'uprobe'}}])
def test_usdt_with_semaphore_in_path_mode(gc_workload, private_python, clean, options):
    # no pid: the kernel raises the semaphore in every process of that binary
    w = gc_workload(23)
    result = count(['u:%s:gc__start' % private_python], go=w.go, **options)
    assert result['counts'] == {'u:%s:gc__start' % private_python: 23}


def test_usdt_with_provider(gc_workload, private_python, clean):
    w = gc_workload(4)
    result = count(['u:%s:python:gc__*' % private_python], go=w.go)
    assert result['counts'] == {'u:%s:gc__start' % private_python: 4, 'u:%s:gc__done' % private_python: 4}


def test_every_key_selects_exactly_its_probe(workload, fcwork, gc_workload, private_python, clean):
    w = workload(alpha=10, beta=20, getppid=30, forks=2)
    g = gc_workload(3)

    def go():
        w.go()
        g.go()
    first = count(['%s:fc_*' % fcwork, 'c:getpp*', 't:sched:sched_process_f*', 'u:%s:gc__st*' % private_python],
                  go=go, duration=2)
    assert len(first['counts']) >= 5
    for key in first['counts']:
        probes = _engine.Engine(_engine.Options([key]), _bcc).prepare()[0]
        assert [p.key for p in probes] == [key]


def test_several_patterns_of_every_type_at_once(workload, fcwork, clean):
    w = workload(alpha=11, beta=12, getppid=13, forks=14)
    result = count(['%s:fc_alpha' % fcwork, 'p:%s:fc_beta' % fcwork, 'c:getppid', 't:sched:sched_process_fork',
                    't:syscalls:sys_enter_getppid'], go=w.go, pid=w.pid)
    assert result['counts'] == {
        '%s:fc_alpha' % fcwork: 11, '%s:fc_beta' % fcwork: 12, 'c:getppid': 13,
        't:syscalls:sys_enter_getppid': 13, 't:sched:sched_process_fork': 14,
    }
    assert result['total'] == 63


def test_intervals_add_up_to_the_total(workload, fcwork, clean):
    w = workload(alpha=999)
    result = count(['%s:fc_alpha' % fcwork], go=w.go, duration=1.0, interval=0.25)
    intervals = result['intervals']
    assert len(intervals) == 4
    assert sum(i['counts'].get('%s:fc_alpha' % fcwork, 0) for i in intervals) == 999
    assert intervals[0]['start'] == result['start']
    assert intervals[-1]['end'] == result['end']
    for before, after in zip(intervals, intervals[1:]):
        assert before['end'] == after['start']


def test_pid_filter_excludes_other_processes(workload, fcwork, clean):
    counted = workload(alpha=40)
    other = workload(alpha=60)

    def go():
        counted.go()
        other.go()
    result = count(['%s:fc_alpha' % fcwork], go=go, pid=counted.pid)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 40}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason='needs two CPUs')
def test_cpu_filter(workload, fcwork, clean):
    on_cpu1 = workload(alpha=50, cpu=1)
    on_cpu0 = workload(alpha=70, cpu=0)

    def go():
        on_cpu1.go()
        on_cpu0.go()
    result = count(['%s:fc_alpha' % fcwork], go=go, cpu=1, include_zero=True)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 50}


def test_counts_only_inside_the_window(workload, fcwork, clean):
    w = workload(alpha=100)
    w.go()    # before the window: not counted
    result = count(['%s:fc_alpha' % fcwork], duration=0.5, include_zero=True)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 0}


def test_result_shape(workload, fcwork, clean):
    w = workload(alpha=1)
    result = count(['%s:fc_alpha' % fcwork], go=w.go, duration=0.5)
    assert result['changed'] is False
    assert 0.5 <= result['duration'] < 0.7
    assert result['start'].endswith('Z') and result['end'].endswith('Z')
    engine = result['engine']
    assert engine['bcc_version'] and engine['kernel_release'] == os.uname().release
    assert engine['headers']['kind'] in ('exact', 'nearest')
    assert engine['setup_seconds'] > 0 and engine['teardown_seconds'] >= 0


def test_check_mode_attaches_nothing(fcwork):
    before = our_programs()
    result = _engine.Engine(_engine.Options(['%s:fc_*' % fcwork, 't:sched:sched_switch', 't:syscalls:sys_enter_read']),
                            _bcc).check()
    assert result['probes'] == 5
    assert {(p['probe'], p['mechanism']) for p in result['would_attach']} == {
        ('%s:fc_alpha' % fcwork, 'uprobe_multi'), ('%s:fc_beta' % fcwork, 'uprobe_multi'),
        ('%s:fc_gamma' % fcwork, 'uprobe_multi'), ('t:sched:sched_switch', 'raw_tracepoint'),
        ('t:syscalls:sys_enter_read', 'perf_event')}
    assert result['counts'] == {}
    assert_nothing_attached(before)


def test_program_name_resolves_to_the_executable_of_the_pid(gc_workload, private_python, clean):
    w = gc_workload(6)
    result = count(['u:python3.11:gc__start'], go=w.go, pid=w.pid)
    assert result['counts'] == {'u:python3.11:gc__start': 6}


def test_group_by_pid(workload, fcwork, clean):
    a = workload(alpha=30)
    b = workload(alpha=45)

    def go():
        a.go()
        b.go()
    result = count(['%s:fc_alpha' % fcwork], go=go, group_by='pid')
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 75}
    assert result['groups'] == [
        {'probe': '%s:fc_alpha' % fcwork, 'count': 45, 'pid': b.pid, 'comm': 'fcwork'},
        {'probe': '%s:fc_alpha' % fcwork, 'count': 30, 'pid': a.pid, 'comm': 'fcwork'},
    ]
    assert result['groups_dropped'] == 0


def test_group_by_comm(workload, fcwork, clean):
    a = workload(alpha=5, getppid=8)
    b = workload(alpha=6)

    def go():
        a.go()
        b.go()
    result = count(['%s:fc_alpha' % fcwork, 'c:getppid'], go=go, group_by='comm', pid=None)
    rows = [r for r in result['groups'] if r['comm'] == 'fcwork']
    assert rows == [{'probe': '%s:fc_alpha' % fcwork, 'count': 11, 'comm': 'fcwork'},
                    {'probe': 'c:getppid', 'count': 8, 'comm': 'fcwork'}]


def test_group_by_cgroup(workload, fcwork, clean, tmp_path):
    from ansible_collections.ebpf.bcc.plugins.module_utils import _host
    root = _host.cgroup2_root()
    if root is None:
        pytest.skip('no cgroup2 mount')
    name = 'ebpf-bcc-test-%d' % os.getpid()
    path = os.path.join(root, name)
    os.mkdir(path)
    try:
        w = workload(alpha=21)
        with open(os.path.join(path, 'cgroup.procs'), 'w') as handle:
            handle.write(str(w.pid))
        result = count(['%s:fc_alpha' % fcwork], go=w.go, group_by='cgroup')
        w.close()
    finally:
        os.rmdir(path)
    assert [(r['cgroup'], r['count']) for r in result['groups']] == [('/' + name, 21)]


def test_compiled_and_cached_programs_count_alike(workload, fcwork, clean, tmp_path, monkeypatch):
    monkeypatch.setattr(_bcc, 'CACHE_DIR', str(tmp_path / 'programs'))
    results = []
    for _run in range(2):
        w = workload(alpha=77, getppid=33)
        results.append(count(['%s:fc_alpha' % fcwork, 't:syscalls:sys_enter_getppid', 't:syscalls:sys_exit_getppid'],
                             go=w.go, pid=w.pid, group_by='pid'))
    compiled, cached = results
    assert 'cached' not in compiled['engine']['headers']
    assert cached['engine']['headers']['cached'] is True
    for result in results:
        assert result['counts'] == {'%s:fc_alpha' % fcwork: 77, 't:syscalls:sys_enter_getppid': 33,
                                    't:syscalls:sys_exit_getppid': 33}
        assert [g['count'] for g in result['groups']] == [77, 33, 33]
    assert len(list((tmp_path / 'programs').iterdir())) == 1
