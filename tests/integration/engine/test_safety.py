# SPDX-License-Identifier: GPL-3.0-or-later
"""Production safety on this machine: whatever ends a run leaves nothing of
ours attached; the overhead guard stops hot counting early; several runs at
once each count right and clean up only their own objects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from enginehelp import HERE, assert_nothing_attached, count, our_programs

pytestmark = [pytest.mark.root]

COLLECTIONS = os.path.abspath(os.path.join(HERE, '..', '..', '..', 'build', 'collections'))

# A run in a child process that prints each stage and, at the one named in
# argv[2], stops there (sleeps) so that the test can end it.
STAGED = r'''
import json, signal, sys, time
from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc
from ansible_collections.ebpf.bcc.plugins.modules.funccount import _on_signal
patterns, stop_at, action = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(signum, _on_signal)

def on_stage(stage):
    print(stage, flush=True)
    if stage == stop_at:
        if action == 'raise':
            raise RuntimeError('injected failure at ' + stage)
        time.sleep(120)

try:
    _engine.Engine(_engine.Options(patterns, duration=1.0), _bcc, on_stage=on_stage).run()
    print('RESULT ok', flush=True)
except _engine.FuncCountError as exc:
    print('RESULT FuncCountError ' + exc.msg, flush=True)
except RuntimeError as exc:
    print('RESULT RuntimeError ' + str(exc), flush=True)
'''

MIXED = ['t:sched:sched_switch', 't:sched:sched_process_*', 't:syscalls:sys_enter_getppid',
         't:syscalls:sys_enter_read', 't:syscalls:sys_enter_write', 'c:malloc', 'c:getppid']
STAGES = ['resolved', 'compiled', 'attaching raw_syscalls', 'attaching raw_tracepoint', 'attached', 'armed', 'counting',
          'disarmed', 'detaching']


def _staged(stop_at, action, patterns=None):
    proc = subprocess.Popen([sys.executable, '-c', STAGED, json.dumps(patterns or MIXED), stop_at, action],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    seen = []
    for line in proc.stdout:
        seen.append(line.strip())
        if line.strip() == stop_at or line.startswith('RESULT'):
            break
    return proc, seen


@pytest.mark.parametrize('stage', STAGES)
@pytest.mark.parametrize('how', ['SIGKILL', 'SIGTERM'])
def test_killed_at_every_stage_leaves_nothing(stage, how):
    before = our_programs()
    proc, seen = _staged(stage, 'sleep')
    assert seen[-1] == stage, seen
    proc.send_signal(getattr(signal, how))
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    if how == 'SIGTERM':
        assert 'RESULT FuncCountError The run was interrupted by signal 15; everything it had attached was detached.' \
            in rest, rest
    assert_nothing_attached(before)


@pytest.mark.parametrize('stage', ['compiled', 'attaching raw_syscalls', 'attached', 'counting', 'disarmed'])
def test_exception_at_every_stage_leaves_nothing(stage):
    before = our_programs()
    proc, _seen = _staged(stage, 'raise')
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    assert 'RESULT RuntimeError injected failure at %s' % stage in rest, rest
    assert_nothing_attached(before)


@pytest.fixture
def hot(tmp_path):
    """A process that calls hot() as fast as it can until it is killed."""
    source = tmp_path / 'hot.c'
    source.write_text('__attribute__((noinline)) int hot(int x) { return x + 1; }\n'
                      'int main(void) { volatile int s = 0; for (;;) s += hot(s); }\n')
    binary = tmp_path / 'hot'
    subprocess.run(['gcc', '-O1', '-o', str(binary), str(source)], check=True)
    proc = subprocess.Popen([str(binary)])
    time.sleep(0.2)
    yield str(binary), proc.pid
    proc.kill()
    proc.wait()


def test_overhead_guard_stops_a_hot_uprobe(hot):
    binary, pid = hot
    before = our_programs()
    result = count(['%s:hot' % binary], duration=5)
    assert result['aborted'] is not None
    assert result['duration'] < 2.0
    assert result['counts']['%s:hot' % binary] > 0
    assert result['aborted']['overhead_percent'] > 5
    reason = result['aborted']['reason']
    assert reason.startswith('counting cost an estimated ')
    assert '%s:hot fired ' % binary in reason and 'through uprobe_multi (about 5000 ns each)' in reason
    assert result['engine']['overhead_percent'] > 5
    del pid
    assert_nothing_attached(before)


def test_overhead_guard_can_be_turned_off(hot):
    binary, _pid = hot
    result = count(['%s:hot' % binary], duration=0.6, overhead_limit=0)
    assert result['aborted'] is None
    assert result['duration'] >= 0.6


def test_overhead_guard_lets_a_quiet_run_finish(workload, fcwork):
    w = workload(alpha=3000)
    result = count(['%s:fc_alpha' % fcwork, 't:sched:*'], go=w.go, duration=1.0)
    assert result['aborted'] is None
    assert result['counts']['%s:fc_alpha' % fcwork] == 3000
    assert 0 <= result['engine']['overhead_percent'] < 5


CONCURRENT = r'''
import json, sys
from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc
opts = json.loads(sys.argv[1])
r = _engine.Engine(_engine.Options(**opts), _bcc).run()
print(json.dumps(r['counts']))
'''


def test_concurrent_runs_count_right_and_clean_up_their_own(workload, fcwork):
    before = our_programs()
    a = workload(alpha=100, beta=10, getppid=7)
    b = workload(alpha=200, beta=20, getppid=9)
    # four compiles at once on a busy 2-core machine: leave them time to arm
    start = time.time() + 15
    runs = [
        {'patterns': ['%s:fc_*' % fcwork], 'pid': a.pid},
        {'patterns': ['%s:fc_*' % fcwork], 'pid': b.pid},
        {'patterns': ['%s:fc_alpha' % fcwork, 't:syscalls:sys_enter_getppid'], 'pid': a.pid},
        {'patterns': ['%s:fc_beta' % fcwork, 't:syscalls:sys_enter_getppid', 't:syscalls:sys_exit_getppid'],
         'pid': b.pid},
    ]
    procs = []
    for run in runs:
        opts = dict(run, duration=2.0, start_at=start)
        procs.append(subprocess.Popen([sys.executable, '-c', CONCURRENT, json.dumps(opts)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=COLLECTIONS)))
    timer = threading.Timer(start - time.time() + 0.5, lambda: (a.go(), b.go()))
    timer.start()
    outputs = [p.communicate(timeout=90) for p in procs]
    timer.join()
    for out, err in outputs:
        assert out.strip(), err
    results = [json.loads(out) for out, _err in outputs]
    alpha, beta = '%s:fc_alpha' % fcwork, '%s:fc_beta' % fcwork
    assert results[0] == {alpha: 100, beta: 10}
    assert results[1] == {alpha: 200, beta: 20}
    assert results[2] == {alpha: 100, 't:syscalls:sys_enter_getppid': 7}
    assert results[3] == {beta: 20, 't:syscalls:sys_enter_getppid': 9, 't:syscalls:sys_exit_getppid': 9}
    assert_nothing_attached(before)


def test_a_run_does_not_detach_another_runs_probes(workload, fcwork):
    # a short run starts and ends inside a long one; the long one still counts everything
    long_w = workload(alpha=500)
    box = {}

    def long_run():
        box['result'] = count(['%s:fc_alpha' % fcwork], pid=long_w.pid, duration=4.0)
    thread = threading.Thread(target=long_run)
    thread.start()
    time.sleep(1.5)
    count(['%s:fc_alpha' % fcwork, 't:sched:sched_switch'], duration=0.3)
    long_w.go()
    thread.join()
    assert box['result']['counts'] == {'%s:fc_alpha' % fcwork: 500}
