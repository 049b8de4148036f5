# SPDX-License-Identifier: GPL-3.0-or-later
"""ebpf.bcc.audit over a real fleet: the first run becomes the baseline, the same load passes against
it, an injected regression (five times the calls on one host) fails ansible-playbook."""

from __future__ import annotations

import json
import os
import re

import pytest

from sweephelp import FORKS, finish, read_report  # pylint: disable=import-error

pytestmark = [pytest.mark.fleet, pytest.mark.root, pytest.mark.slow]

TOCKS = {'fleet-01': 100, 'fleet-02': 200, 'fleet-03': 300, 'fleet-04': 400, 'fleet-05': 500, 'fleet-06': 600}


def audit(sf, report_dir, run_id, ticks, **extra):
    """One audit over the hosts that count, with the workload (ticks on fleet-03) in its window."""
    args = {'funccount_hosts': 'good', 'funccount_patterns': [sf.tick, sf.tock], 'funccount_duration': 8,
            'funccount_run_id': run_id, 'funccount_report_dir': report_dir, 'funccount_become': False,
            'funccount_lead': 20 + 10 * -(-len(sf.good) // FORKS), 'funccount_audit_threshold': 2}
    args.update(extra)
    proc = sf.start('ebpf.bcc.audit', args)
    sf.wait_counting(proc, run_id, sf.good)
    sf.work_on({h: (ticks if h == 'fleet-03' else 0, TOCKS[h]) for h in sf.good})
    return proc, finish(proc)


def test_audit_baseline_pass_and_regression(sweep_fleet):
    sf = sweep_fleet
    report_dir = os.path.join(sf.work, 'audit')
    prom = os.path.join(sf.work, 'textfile', 'funccount.prom')
    os.makedirs(os.path.dirname(prom))
    base = os.path.join(report_dir, 'baseline.json')

    # 1. No baseline yet: the run passes and becomes the baseline.
    proc, out = audit(sf, report_dir, 'audit-1', 1000)
    assert proc.returncode == 0, out
    assert 'no baseline at %s: this run becomes the baseline' % base in out
    assert json.load(open(base))['run_id'] == 'audit-1'
    assert json.load(open(base)) == read_report(report_dir, 'audit-1')

    # 2. The same load against it: passes, no finding at warning or above; metrics written.
    proc, out = audit(sf, report_dir, 'audit-2', 1000, funccount_audit_textfile=prom)
    assert proc.returncode == 0, out
    report = read_report(report_dir, 'audit-2')
    assert report['baseline']['run_id'] == 'audit-1'
    assert [f for f in report['baseline']['findings'] if f['severity'] != 'info'] == [], report['baseline']
    assert 'audit audit-2: pass against baseline audit-1: 0 findings at or above warning' in out
    text = open(prom).read()
    assert 'funccount_audit_passed 1\n' in text
    assert 'funccount_audit_findings{severity="critical"} 0\n' in text
    for host in sf.good:
        assert 'funccount_audit_host_counted{host="%s"} 1\n' % host in text
    rate = report['rates']['hosts']['fleet-03'][sf.tick]
    assert 'funccount_audit_rate{host="fleet-03",probe="%s"} %s\n' % (sf.tick, rate) in text
    assert not [n for n in os.listdir(os.path.dirname(prom)) if n != 'funccount.prom']  # no temporary left

    # 3. Five times the calls on fleet-03: critical (threshold 2, critical 4), ansible-playbook fails.
    proc, out = audit(sf, report_dir, 'audit-3', 5000, funccount_audit_textfile=prom)
    assert proc.returncode == 2, out
    report = read_report(report_dir, 'audit-3')
    breaches = [(f['severity'], f['scope'], f['host'], f['probe'], f['kind'])
                for f in report['baseline']['findings'] if f['severity'] != 'info']
    assert breaches == [('critical', 'fleet', None, sf.tick, 'increased'),
                        ('critical', 'host', 'fleet-03', sf.tick, 'increased')], report['baseline']['findings']
    ratios = [f['ratio'] for f in report['baseline']['findings'] if f['severity'] == 'critical']
    assert all(4.9 < r < 5.1 for r in ratios), ratios
    assert re.search(r'%s on fleet-03 increased 5(\.\d+)? times' % re.escape(sf.tick), out), out
    assert 'audit audit-3: FAIL against baseline audit-1: 2 findings at or above warning' in out
    assert 'funccount_audit_passed 0\n' in open(prom).read()

    # The history: every run's directory and the index; the baseline is still the first run.
    index = json.load(open(os.path.join(report_dir, 'index.json')))
    assert [(r['run_id'], r['verdict'], r['baseline']) for r in index['runs']] == [
        ('audit-1', 'pass', None), ('audit-2', 'pass', 'audit-1'), ('audit-3', 'fail', 'audit-1')]
    assert index['runs'][2]['critical'] == 2
    assert json.load(open(base))['run_id'] == 'audit-1'
