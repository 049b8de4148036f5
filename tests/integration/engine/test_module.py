# SPDX-License-Identifier: GPL-3.0-or-later
"""The module run the way users run it: through ansible-playbook."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
import time

import pytest

from enginehelp import assert_nothing_attached, our_programs, run_module

pytestmark = [pytest.mark.root]


@pytest.fixture(autouse=True)
def nothing_left():
    before = our_programs()
    yield
    assert_nothing_attached(before)


def _iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + ('%.6fZ' % (epoch % 1))[1:]


def test_exact_count_through_ansible_playbook_with_start_at(workload, fcwork):
    w = workload(alpha=2024, beta=3)
    start = time.time() + 8
    trigger = threading.Timer(start - time.time() + 0.5, w.go)
    trigger.start()
    try:
        result = run_module({'patterns': ['%s:fc_*' % fcwork], 'duration': 2, 'start_at': _iso(start)})
    finally:
        trigger.cancel()
        trigger.join()
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is False
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 2024, '%s:fc_beta' % fcwork: 3}
    assert result['ansible_facts']['funccount']['counts'] == result['counts']
    started = time.mktime(time.strptime(result['start'][:19], '%Y-%m-%dT%H:%M:%S')) - time.timezone
    assert abs(started + float('0.' + result['start'][20:-1]) - start) < 0.05


def test_check_mode_through_ansible(fcwork):
    result = run_module({'patterns': ['%s:fc_*' % fcwork, 't:sched:sched_switch']}, check=True)
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is False
    assert result['probes'] == 4
    assert sorted(p['probe'] for p in result['would_attach']) == sorted(
        ['%s:fc_alpha' % fcwork, '%s:fc_beta' % fcwork, '%s:fc_gamma' % fcwork, 't:sched:sched_switch'])


@pytest.mark.parametrize('args,message', [
    ({'patterns': ['t:nope:nope']}, "Pattern 't:nope:nope' matches no tracepoint; list tracepoints under "
                                    "/sys/kernel/tracing/events."),
    ({'patterns': ['t:sched:sched_switch'], 'duration': 0},
     'duration must be more than 0 and at most 604800 seconds (7 days), not 0.0.'),
    ({'patterns': ['t:sched:sched_switch'], 'start_at': '2001-01-01T00:00:00Z', 'duration': 0.1}, None),
])
def test_failure_through_ansible_is_one_sentence(args, message):
    result = run_module(args)
    assert result['failed'] is True
    assert 'Traceback' not in result['msg'] and '\n' not in result['msg']
    if message:
        assert result['msg'] == message
    else:
        assert result['msg'].startswith('start_at 2001-01-01T00:00:00.000000Z had already passed by ')


def _python_without_bcc():
    for path in sorted(glob.glob('/root/.pyenv/versions/3.1[1-3]*/bin/python3')):
        if subprocess.run([path, '-c', 'import bcc'], capture_output=True, check=False).returncode != 0:
            return path
    return None


def test_respawns_under_the_system_python_when_bcc_is_missing(gc_workload, private_python):
    python = _python_without_bcc()
    if python is None:
        pytest.skip('no Python without bcc on this machine')
    result = run_module({'patterns': ['t:sched:sched_process_exec'], 'duration': 0.2, 'include_zero': True},
                        python=python)
    assert result.get('failed') is not True, result.get('msg')
    assert list(result['counts']) == ['t:sched:sched_process_exec']


def test_status_file_shows_progress_and_the_end(tmp_path):
    status = tmp_path / 'status.json'
    result = run_module({'patterns': ['t:sched:sched_switch'], 'duration': 0.3, 'status_file': str(status)})
    assert result.get('failed') is not True, result.get('msg')
    import json
    record = json.loads(status.read_text())
    assert record['stage'] == 'done'
    assert record['total'] == result['total'] and record['start'] == result['start']


def test_status_file_records_a_failure(tmp_path):
    status = tmp_path / 'status.json'
    result = run_module({'patterns': ['t:sched:nope'], 'status_file': str(status)})
    assert result['failed'] is True
    import json
    record = json.loads(status.read_text())
    assert record == dict(record, stage='failed', msg=result['msg'])


def test_probes_not_counted_do_not_make_the_task_skipped():
    if os.path.exists('/sys/bus/event_source/devices/kprobe'):
        pytest.skip('this kernel has kprobes')
    result = run_module({'patterns': ['vfs_read', 't:sched:sched_switch'], 'duration': 0.2, 'include_zero': True})
    assert result.get('failed') is not True, result.get('msg')
    assert 'skipped' not in result
    assert [s['probe'] for s in result['skipped_probes']] == ['vfs_read']
    assert result['ansible_facts']['funccount']['skipped'] == result['skipped_probes']
    assert list(result['counts']) == ['t:sched:sched_switch']


def test_a_failure_lists_the_probes_it_could_not_attach_as_skipped_probes():
    if os.path.exists('/sys/bus/event_source/devices/kprobe'):
        pytest.skip('this kernel has kprobes')
    result = run_module({'patterns': ['vfs_read']})
    assert result['failed'] is True
    assert 'skipped' not in result
    assert [s['probe'] for s in result['skipped_probes']] == ['vfs_read']
    assert result['msg'].startswith('Nothing could be attached: ')
