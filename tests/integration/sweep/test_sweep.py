# SPDX-License-Identifier: GPL-3.0-or-later
"""ebpf.bcc.sweep over a real fleet: one window, exact counts, outliers, failed hosts, skew."""

from __future__ import annotations

import os
import re

import pytest

from sweephelp import FORKS, epoch, finish, read_report  # pylint: disable=import-error

pytestmark = [pytest.mark.fleet, pytest.mark.root, pytest.mark.slow]

TICKS = 1000  # sw_tick calls, on fleet-03 only
# sw_tock calls, the same number on every host that counts: equal counts over windows that differ by
# microseconds give rates whose MAD is almost 0, and the outlier filter's spread floor keeps them from being
# flagged.
TOCKS = {'fleet-%02d' % n: 500 for n in range(1, 7)}


def lead_for(hosts, forks=FORKS):
    """Seconds from the plan to the window: generous, since this machine runs other test suites too."""
    return 20 + 10 * -(-hosts // forks)


def test_sweep_one_window_exact_counts_outlier_and_failed_hosts(sweep_fleet):
    sf = sweep_fleet
    hosts = sf.good + sf.nobcc + [sf.ghost]
    assert len(hosts) == 8 and len(sf.good) == 6 and FORKS < len(hosts)
    run_id = 'sweep-%d' % os.getpid()
    report_dir = os.path.join(sf.work, 'reports')
    proc = sf.start('ebpf.bcc.sweep', {
        'funccount_hosts': 'sweep', 'funccount_patterns': [sf.tick, sf.tock], 'funccount_duration': 12,
        'funccount_run_id': run_id, 'funccount_report_dir': report_dir, 'funccount_become': False,
        'funccount_lead': lead_for(len(hosts))})
    sf.wait_counting(proc, run_id, sf.good)
    ended = sf.work_on({h: (TICKS if h == 'fleet-03' else 0, TOCKS[h]) for h in sf.good})
    out = finish(proc)
    assert proc.returncode == 0, out
    report = read_report(report_dir, run_id)
    assert ended < epoch(report['window']['end']), 'the workload outlasted the window:\n' + out

    # Every host is in the report; the two that could not count say why, the others' data is all there.
    assert list(report['hosts']) == hosts
    assert list(report['failed_hosts']) == ['fleet-07', 'fleet-ghost']
    assert report['failed_hosts']['fleet-ghost'].startswith('unreachable: '), report['failed_hosts']
    nobcc = report['failed_hosts']['fleet-07']
    assert 'Failed to import the required Python library (bcc' in nobcc and 'ebpf.bcc.install role' in nobcc, nobcc
    assert report['summary']['hosts'] == 8 and report['summary']['counted'] == 6 and report['summary']['failed'] == 2
    for host in sf.good:
        expected = {sf.tick: TICKS, sf.tock: TOCKS[host]} if host == 'fleet-03' else {sf.tock: TOCKS[host]}
        assert report['hosts'][host]['counts'] == expected, (host, report['hosts'][host])

    # Fleet totals are the sums of the host counts.
    assert report['totals'] == {sf.tock: sum(TOCKS.values()), sf.tick: TICKS}
    summed = {}
    for host in sf.good:
        for probe, count in report['hosts'][host]['counts'].items():
            summed[probe] = summed.get(probe, 0) + count
    assert report['totals'] == summed
    assert report['summary']['total'] == TICKS + sum(TOCKS.values())

    # The host where the workload ran, and only it, is the outlier, and only for sw_tick.
    assert [(o['probe'], o['host'], o['direction']) for o in report['outliers']] == [(sf.tick, 'fleet-03', 'high')]

    # One window: every host started counting at the planned instant (the engine sleeps until start_at).
    planned = epoch(report['window']['start'])
    for host in sf.good:
        start = epoch(report['hosts'][host]['start'])
        assert planned <= start < planned + 1.0, (host, report['hosts'][host]['start'], report['window']['start'])

    # Progress and the summary were shown.
    progress = re.search(r'TASK \[Show which hosts are armed, counting or failed\].*?\n(.*?)\nTASK', out, re.S).group(1)
    for host in sf.good:
        assert re.search(r'"%s: (counting|done)"' % host, progress), progress
    assert '"fleet-ghost: unreachable: ' in progress, progress
    assert 'done: 6 (fleet-01, fleet-02, fleet-03, fleet-04, fleet-05, fleet-06), failed: 2 (fleet-07, fleet-ghost)' in out
    assert '6 of 8 hosts counted, 2 failed, 2 probes, %d events' % (TICKS + sum(TOCKS.values())) in out
    assert 'FAILED fleet-ghost: unreachable: ' in out and 'outlier fleet-03 %s' % sf.tick in out
    for name in ('report.json', 'report.csv', 'report.md', 'report.html'):
        assert os.path.getsize(os.path.join(report_dir, run_id, name)) > 0
    # Nothing of the run is left on the hosts (shared-root hosts share /run with this machine).
    for host in sf.good:
        assert not os.path.exists(os.path.dirname(sf.status_file(run_id, host)))


def test_start_at_in_the_past_fails_with_the_skew(sweep_fleet):
    sf = sweep_fleet
    run_id = 'skew-%d' % os.getpid()
    report_dir = os.path.join(sf.work, 'reports')
    proc = sf.start('ebpf.bcc.sweep', {
        'funccount_hosts': 'fleet-01,fleet-02', 'funccount_patterns': [sf.tock], 'funccount_duration': 2,
        'funccount_run_id': run_id, 'funccount_report_dir': report_dir, 'funccount_become': False,
        'funccount_lead': -30})
    out = finish(proc)
    assert proc.returncode == 0, out
    report = read_report(report_dir, run_id)
    assert list(report['failed_hosts']) == ['fleet-01', 'fleet-02'], report['failed_hosts']
    for host, reason in report['failed_hosts'].items():
        match = re.search(r'^start_at (\S+) had already passed by ([0-9.]+) s when this host was ready', reason)
        assert match, reason
        assert epoch(match.group(1)) == epoch(report['window']['start'])
        assert float(match.group(2)) >= 30, reason
    assert report['summary']['counted'] == 0 and report['totals'] == {}
