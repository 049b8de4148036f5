# SPDX-License-Identifier: GPL-3.0-or-later
"""ebpf.bcc.incident over a real fleet: a preset, the tracepoint equivalent on a host without kprobes,
who drives the calls, outliers and top probes first."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from sweephelp import FORKS, ROOT, finish, read_report  # pylint: disable=import-error

pytestmark = [pytest.mark.fleet, pytest.mark.root, pytest.mark.slow]

PRESETS = yaml.safe_load(open(os.path.join(ROOT, 'playbooks', 'vars', 'incident_presets.yml')))['funccount_incident_presets']


def test_incident_sched_preset_with_tracepoints_where_no_kprobes(sweep_fleet):
    sf = sweep_fleet
    # Every host shares this machine's kernel; bcc_facts finds out whether it has kprobes (6.18 on the test
    # machine has none: all hosts fall back to tracepoints). fleet-02 says it has none in any case.
    kprobes = os.path.isdir('/sys/bus/event_source/devices/kprobe')
    inventory = sf.write_inventory(os.path.join(sf.work, 'inventory-incident.yml'),
                                   {'fleet-02': {'funccount_incident_kprobes': False}})
    run_id = 'incident-%d' % os.getpid()
    report_dir = os.path.join(sf.work, 'incident')
    proc = sf.start('ebpf.bcc.incident', {
        'funccount_hosts': 'sweep', 'funccount_incident': 'sched', 'funccount_extra_patterns': [sf.tick],
        'funccount_incident_duration': 8, 'funccount_run_id': run_id, 'funccount_report_dir': report_dir,
        'funccount_become': False, 'funccount_lead': 20 + 10 * -(-8 // FORKS)}, inventory=inventory)
    sf.wait_counting(proc, run_id, sf.good)
    sf.work_on({'fleet-03': (1000, 0)})
    out = finish(proc)
    assert proc.returncode == 0, out
    report = read_report(report_dir, run_id)

    kernel, tracepoints = set(PRESETS['sched']['kernel']), set(PRESETS['sched']['tracepoints'])
    uses = {h: 'kernel functions' if kprobes and h != 'fleet-02' else 'tracepoints (no kprobes)' for h in sf.good}
    for host, kind in uses.items():
        assert '"%s: %s"' % (host, kind) in out, out
    # The report's patterns: every host's (the ghost, without facts, was asked for the kernel functions).
    assert set(report['patterns']) == kernel | tracepoints | {sf.tick}
    assert list(report['failed_hosts']) == ['fleet-07', 'fleet-ghost']
    for host in sf.good:
        counts = report['hosts'][host]['counts']
        assert set(counts) - {sf.tick} <= (kernel if uses[host] == 'kernel functions' else tracepoints), (host, counts)
        assert counts.get(sf.tick) == (1000 if host == 'fleet-03' else None), (host, counts)
    assert report['hosts']['fleet-02']['counts']['t:sched:sched_switch'] > 0
    assert report['hosts']['fleet-01']['counts']['schedule' if kprobes else 't:sched:sched_switch'] > 0

    # Who drove the calls: the workload's command name, with its exact count.
    assert [g for g in report['hosts']['fleet-03']['groups'] if g['probe'] == sf.tick] == [
        {'probe': sf.tick, 'count': 1000, 'comm': 'sweepwork'}]
    assert report['top_groups'] and all('group' in g for g in report['top_groups'])
    # The summary starts with the outliers, then the top probes; failed hosts after them.
    assert ('fleet-03', sf.tick) in [(o['host'], o['probe']) for o in report['outliers']]
    summary = re.search(r'TASK \[Print the summary\].*?"msg": \[\n(.*?)\n    \]', out, re.S).group(1)
    lines = [line.strip().strip(',').strip('"') for line in summary.splitlines()]
    kinds = [line.split(' ')[0] for line in lines[2:]]
    assert kinds[0] == 'outlier' and 'top' in kinds and 'FAILED' in kinds, lines
    assert kinds.index('top') < kinds.index('FAILED') and max(i for i, k in enumerate(kinds) if k == 'outlier') < kinds.index('top'), lines
