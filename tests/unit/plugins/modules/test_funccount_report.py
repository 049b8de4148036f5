# SPDX-License-Identifier: GPL-3.0-or-later
"""The funccount_report module: files written, check mode, a second run unchanged, error messages."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.ebpf.bcc.plugins.modules import funccount_report

RESULTS = {
    'web1': {'counts': {'vfs_read': 30}, 'duration': 10.0, 'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z'},
    'web2': {'counts': {'vfs_read': 10}, 'duration': 10.0, 'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z'},
    'web3': {'failed': True, 'msg': 'Failed to import the required Python library (bcc) on web3.'},
}


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            funccount_report.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def test_writes_then_unchanged(tmp_path, capsys):
    args = dict(report_dir=str(tmp_path), run_id='r1', results=RESULTS, patterns=['vfs_read'])
    code, out = run(capsys, **args)
    assert code == 0
    assert out['changed'] is True
    assert out['path'] == str(tmp_path / 'r1')
    assert out['files'] == {f: str(tmp_path / 'r1' / ('report.' + f)) for f in ('json', 'csv', 'md', 'html')}
    assert out['summary'] == {'hosts': 3, 'counted': 2, 'failed': 1, 'probes': 1, 'total': 40, 'aborted': []}
    assert out['failed_hosts'] == {'web3': 'Failed to import the required Python library (bcc) on web3.'}
    assert out['outliers'] == []
    assert out['top_probes'] == [{'probe': 'vfs_read', 'count': 40, 'rate': 4.0, 'hosts': 2}]
    assert out['top_groups'] == []
    assert out['findings'] == []
    report = json.loads((tmp_path / 'r1' / 'report.json').read_text(encoding='utf-8'))
    assert (report['run_id'], report['patterns'], report['totals']) == ('r1', ['vfs_read'], {'vfs_read': 40})
    assert report['window'] == {'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z', 'source': 'measured'}
    code, out = run(capsys, **args)
    assert (code, out['changed']) == (0, False)


def test_check_mode_writes_nothing(tmp_path, capsys):
    code, out = run(capsys, report_dir=str(tmp_path / 'x'), run_id='r1', results=RESULTS, formats=['md'],
                    _ansible_check_mode=True)
    assert (code, out['changed'], out['files']) == (0, True, {'md': str(tmp_path / 'x' / 'r1' / 'report.md')})
    assert not (tmp_path / 'x').exists()


def test_baseline_and_window(tmp_path, capsys):
    baseline = {'run_id': 'b0', 'hosts': {'web1': {'counts': {'vfs_read': 3}, 'duration': 10.0}}}
    code, out = run(capsys, report_dir=str(tmp_path), run_id='r2', results=RESULTS, baseline=baseline,
                    window={'start': '2026-12-06T17:59:59Z'}, formats=['json'], baseline_threshold=3.0)
    assert code == 0
    # web1 went from 0.3/s to 3/s: 10 times, more than 3 squared; fleet-wide it is web1 alone (web2 is new)
    assert [(f['severity'], f['kind'], f['host'], f['probe']) for f in out['findings']] == [
        ('critical', 'increased', None, 'vfs_read'),
        ('critical', 'increased', 'web1', 'vfs_read'),
        ('critical', 'host_failed', 'web3', None),
        ('info', 'host_new', 'web2', None),
    ]
    report = json.loads((tmp_path / 'r2' / 'report.json').read_text(encoding='utf-8'))
    assert report['window'] == {'start': '2026-12-06T17:59:59Z', 'end': '2026-12-06T18:00:10Z', 'source': 'given'}
    assert report['baseline']['run_id'] == 'b0'
    assert sorted(p.name for p in (tmp_path / 'r2').iterdir()) == ['report.json']


@pytest.mark.parametrize('args,msg', [
    ({'run_id': '../up'}, "Cannot write the report: run_id must be usable as one directory name (no '/', '\\', NUL, '.' "
                          "or '..'), got '../up'."),
    ({'top': -1}, 'Cannot write the report: n must be a non-negative integer (0 for all), got -1.'),
    ({'outlier_threshold': 0}, 'Cannot write the report: threshold must be a number above 0, got 0.0.'),
    ({'baseline': {}, 'baseline_threshold': 1}, 'Cannot write the report: threshold must be more than 1 (a factor of '
                                                'change), got 1.0.'),
])
def test_errors(tmp_path, capsys, args, msg):
    code, out = run(capsys, **dict(dict(report_dir=str(tmp_path), run_id='r', results=RESULTS), **args))
    assert (code, out['failed'], out['msg']) == (1, True, msg)


def test_unwritable_directory(tmp_path, capsys):
    (tmp_path / 'file').write_text('x')
    code, out = run(capsys, report_dir=str(tmp_path / 'file'), run_id='r', results=RESULTS)
    assert (code, out['failed']) == (1, True)
    assert out['msg'] == "Cannot write the report under %s: [Errno 20] Not a directory: '%s'." % (
        tmp_path / 'file', tmp_path / 'file' / 'r')
