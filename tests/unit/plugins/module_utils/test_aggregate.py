# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet aggregation (_aggregate): failed hosts, totals, matrix, rates, top lists, outliers, baseline diff."""

from __future__ import annotations

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate as A
from ansible_collections.ebpf.bcc.plugins.module_utils._aggregate import AggregateError


def res(counts, duration=10.0, skipped=(), **extra):
    result = {'changed': False, 'counts': dict(counts), 'total': sum(counts.values()), 'probes': len(counts),
              'skipped': [{'probe': p, 'reason': 'the kernel refused to attach'} for p in skipped],
              'duration': duration, 'start': '2026-12-06T18:00:00.000100Z', 'end': '2026-12-06T18:00:10.000200Z'}
    result.update(extra)
    return result


UNREACHABLE = {'unreachable': True, 'changed': False, 'msg': 'Failed to connect to the host via ssh: Connection refused'}
NO_BCC = {'failed': True, 'msg': 'Failed to import the required Python library (bcc) on web7.'}


@pytest.mark.parametrize('result,reason', [
    ('text', 'the result is not a mapping (got str)'),
    (None, 'the result is not a mapping (got NoneType)'),
    ([1], 'the result is not a mapping (got list)'),
    (UNREACHABLE, 'unreachable: Failed to connect to the host via ssh: Connection refused'),
    ({'unreachable': True}, 'unreachable: no message'),
    ({'unreachable': True, 'failed': True, 'msg': 'x'}, 'unreachable: x'),
    ({'failed': True, 'msg': '  boom\n'}, 'boom'),
    ({'failed': True, 'msg': ''}, 'the task failed without a message'),
    ({'failed': True}, 'the task failed without a message'),
    ({'failed': True, 'msg': 'partial', 'counts': {'a': 1}}, 'partial'),
    ({'skipped': True, 'skip_reason': 'Conditional result was False'}, 'skipped: Conditional result was False'),
    ({'skipped': True, 'msg': 'no bcc'}, 'skipped: no bcc'),
    ({'skipped': True}, 'skipped: no reason given'),
    ({}, 'the result has no counts (got nothing)'),
    ({'counts': [1]}, 'the result has no counts (got list)'),
    ({'counts': 'a'}, 'the result has no counts (got str)'),
    ({'counts': {'a': -1}}, 'the count of a is not a non-negative integer (got -1)'),
    ({'counts': {'a': True}}, 'the count of a is not a non-negative integer (got True)'),
    ({'counts': {'a': 1.5}}, 'the count of a is not a non-negative integer (got 1.5)'),
    ({'counts': {'a': '3'}}, "the count of a is not a non-negative integer (got '3')"),
    # funccount's own 'skipped' is a list of probes, not a skipped task
    (res({'a': 1}, skipped=['b']), None),
    ({'failed': False, 'counts': {}}, None),
    ({'counts': {'a': 0, 'b': 10 ** 15}}, None),
])
def test_failure_reason(result, reason):
    assert A.failure_reason(result) == reason


def test_split_orders_hosts_naturally_and_keeps_every_host():
    results = {'web10': res({'a': 1}), 'web2': UNREACHABLE, 'web1': res({'a': 2}), 'db1': NO_BCC, 'a': res({})}
    ok, failed = A.split(results)
    assert list(ok) == ['a', 'web1', 'web10']
    assert failed == {'db1': 'Failed to import the required Python library (bcc) on web7.',
                      'web2': 'unreachable: Failed to connect to the host via ssh: Connection refused'}
    assert list(failed) == ['db1', 'web2']
    assert A.failed_hosts(results) == failed


@pytest.mark.parametrize('names,ordered', [
    (['web10', 'web2', 'web1'], ['web1', 'web2', 'web10']),
    (['b', 'a10b', 'a9b', 'a'], ['a', 'a9b', 'a10b', 'b']),
    (['10.0.0.10', '10.0.0.9', '9.1.1.1'], ['9.1.1.1', '10.0.0.9', '10.0.0.10']),
    (['x1y2', 'x1y10', 'x1'], ['x1', 'x1y2', 'x1y10']),
])
def test_natural_key(names, ordered):
    assert sorted(names, key=A.natural_key) == ordered


@pytest.mark.parametrize('bad,message', [
    ([], 'expected a mapping of host name to funccount result, got list'),
    ('web1', 'expected a mapping of host name to funccount result, got str'),
    (None, 'expected a mapping of host name to funccount result, got NoneType'),
])
def test_input_must_be_a_mapping(bad, message):
    for func in (A.split, A.totals, A.matrix, A.rates, A.top_probes, A.top_hosts, A.outliers, A.failed_hosts):
        with pytest.raises(AggregateError) as info:
            func(bad)
        assert str(info.value) == message


TOTALS = [
    ({}, {}),
    ({'h1': UNREACHABLE}, {}),
    ({'h1': res({'a': 3})}, {'a': 3}),
    ({'h1': res({'a': 3, 'b': 1}), 'h2': res({'b': 5, 'c': 0}), 'h3': NO_BCC},
     {'b': 6, 'a': 3, 'c': 0}),
    # ties by key; the failed host's partial counts are not added
    ({'h1': res({'z': 2, 'y': 2}), 'h2': {'failed': True, 'msg': 'x', 'counts': {'z': 100}}}, {'y': 2, 'z': 2}),
    ({'h1': res({'a': 10 ** 12}), 'h2': res({'a': 10 ** 12})}, {'a': 2 * 10 ** 12}),
]


@pytest.mark.parametrize('results,expected', TOTALS)
def test_totals(results, expected):
    got = A.totals(results)
    assert got == expected
    assert list(got.items()) == list(expected.items())


FLEET = {
    'web2': res({'vfs_read': 20, 'vfs_write': 5}),
    'web10': res({'vfs_read': 40}, duration=4.0),
    'web1': res({'vfs_write': 1, 't:sched:sched_switch': 100}),
    'db1': UNREACHABLE,
    'db2': res({'vfs_read': 9}, duration=0.0),
}


def test_matrix():
    assert A.matrix(FLEET) == {
        'hosts': ['db2', 'web1', 'web2', 'web10'],
        'probes': ['t:sched:sched_switch', 'vfs_read', 'vfs_write'],
        'counts': [[0, 9, 0], [100, 0, 1], [0, 20, 5], [0, 40, 0]],
    }


def test_matrix_given_probes():
    assert A.matrix(FLEET, ['vfs_write', 'nowhere']) == {
        'hosts': ['db2', 'web1', 'web2', 'web10'], 'probes': ['vfs_write', 'nowhere'],
        'counts': [[0, 0], [1, 0], [5, 0], [0, 0]],
    }
    assert A.matrix({}) == {'hosts': [], 'probes': [], 'counts': []}
    with pytest.raises(AggregateError, match='^probes must be a list of probe keys, got str$'):
        A.matrix(FLEET, 'vfs_write')


def test_rates():
    assert A.rates(FLEET) == {
        'hosts': {
            'db2': {},
            'web1': {'t:sched:sched_switch': 10.0, 'vfs_write': 0.1},
            'web2': {'vfs_read': 2.0, 'vfs_write': 0.5},
            'web10': {'vfs_read': 10.0},
        },
        'fleet': {'vfs_read': 12.0, 't:sched:sched_switch': 10.0, 'vfs_write': 0.6},
    }
    assert list(A.rates(FLEET)['fleet']) == ['vfs_read', 't:sched:sched_switch', 'vfs_write']


@pytest.mark.parametrize('duration,rate', [(3.0, 0.333333), (10.000312, 0.099997), (True, None), ('10', None),
                                           (None, None), (-1.0, None)])
def test_rate_rounding_and_bad_durations(duration, rate):
    got = A.rates({'h': res({'a': 1}, duration=duration)})
    assert got['hosts']['h'] == ({} if rate is None else {'a': rate})
    assert got['fleet'] == ({} if rate is None else {'a': rate})


@pytest.mark.parametrize('n,by,expected', [
    (10, 'count', [('t:sched:sched_switch', 100, 10.0, 1), ('vfs_read', 69, 12.0, 3), ('vfs_write', 6, 0.6, 2)]),
    (2, 'count', [('t:sched:sched_switch', 100, 10.0, 1), ('vfs_read', 69, 12.0, 3)]),
    (0, 'count', [('t:sched:sched_switch', 100, 10.0, 1), ('vfs_read', 69, 12.0, 3), ('vfs_write', 6, 0.6, 2)]),
    (10, 'rate', [('vfs_read', 69, 12.0, 3), ('t:sched:sched_switch', 100, 10.0, 1), ('vfs_write', 6, 0.6, 2)]),
    (1, 'hosts', [('vfs_read', 69, 12.0, 3)]),
    (10, 'hosts', [('vfs_read', 69, 12.0, 3), ('vfs_write', 6, 0.6, 2), ('t:sched:sched_switch', 100, 10.0, 1)]),
])
def test_top_probes(n, by, expected):
    got = A.top_probes(FLEET, n, by)
    assert [(r['probe'], r['count'], r['rate'], r['hosts']) for r in got] == expected
    assert list(got[0]) == ['probe', 'count', 'rate', 'hosts']


def test_top_probes_zero_counts_and_no_window():
    results = {'h1': res({'a': 0, 'b': 2}, duration=0.0), 'h2': res({'a': 0})}
    assert A.top_probes(results) == [{'probe': 'b', 'count': 2, 'rate': None, 'hosts': 1},
                                     {'probe': 'a', 'count': 0, 'rate': 0.0, 'hosts': 0}]


@pytest.mark.parametrize('n,probe,expected', [
    (10, None, [('web1', 101, 10.1), ('web10', 40, 10.0), ('web2', 25, 2.5), ('db2', 9, None)]),
    (2, None, [('web1', 101, 10.1), ('web10', 40, 10.0)]),
    (0, 'vfs_read', [('web10', 40, 10.0), ('web2', 20, 2.0), ('db2', 9, None), ('web1', 0, 0.0)]),
    (3, 'nowhere', [('db2', 0, None), ('web1', 0, 0.0), ('web2', 0, 0.0)]),
])
def test_top_hosts(n, probe, expected):
    assert [(r['host'], r['count'], r['rate']) for r in A.top_hosts(FLEET, n, probe)] == expected


@pytest.mark.parametrize('call,message', [
    (lambda: A.top_probes(FLEET, -1), r'^n must be a non-negative integer \(0 for all\), got -1$'),
    (lambda: A.top_probes(FLEET, '3'), r"^n must be a non-negative integer \(0 for all\), got '3'$"),
    (lambda: A.top_probes(FLEET, True), r'^n must be a non-negative integer \(0 for all\), got True$'),
    (lambda: A.top_probes(FLEET, 3, 'mean'), r"^by must be 'count', 'rate' or 'hosts', got 'mean'$"),
    (lambda: A.top_hosts(FLEET, 1.5), r'^n must be a non-negative integer \(0 for all\), got 1.5$'),
    (lambda: A.top_hosts(FLEET, 3, ['a']), r'^probe must be a probe key, got list$'),
])
def test_top_errors(call, message):
    with pytest.raises(AggregateError, match=message):
        call()


@pytest.mark.parametrize('values,median,spread,method,scores', [
    ([1, 2, 3, 4, 100], 3, 1, 'mad', [-1.349, -0.6745, 0.0, 0.6745, 65.4265]),
    ([0, 100], 50.0, 50.0, 'mad', [-0.6745, 0.6745]),
    # MAD 0: the mean absolute deviation (198) stands in, scaled by 1.253314; one deviant of n scores n / 1.253314
    ([10, 10, 10, 10, 1000], 10, 198.0, 'meanad', [0.0, 0.0, 0.0, 0.0, 3.9894]),
    ([0, 0, 0, 0, 0, 60], 0.0, 10.0, 'meanad', [0.0, 0.0, 0.0, 0.0, 0.0, 4.7873]),
    ([0, 0, 9], 0, 3.0, 'meanad', [0.0, 0.0, 2.3937]),
    ([5, 5, 5], 5, 0.0, 'equal', [0.0, 0.0, 0.0]),
    ([7], 7, 0.0, 'equal', [0.0]),
])
def test_robust_scores(values, median, spread, method, scores):
    got_median, got_spread, got_method, got_scores = A.robust_scores(values)
    assert (got_median, got_spread, got_method) == (median, spread, method)
    assert [round(s, 4) for s in got_scores] == scores


def six_hosts(counts_by_host, **kwargs):
    return {host: res(counts, **kwargs) for host, counts in counts_by_host.items()}


def test_outlier_one_host_runs_the_workload():
    results = six_hosts({'h%d' % i: {'t:sched:sched_switch': 1000} for i in range(1, 7)})
    results['h3'] = res({'t:sched:sched_switch': 1000, 'u:/srv/app:work': 600})
    results['h7'] = UNREACHABLE
    assert A.outliers(results) == [{
        'probe': 'u:/srv/app:work', 'host': 'h3', 'value': 60.0, 'median': 0.0, 'spread': 10.0, 'method': 'meanad',
        'score': 4.7873, 'direction': 'high'}]


def test_outlier_low_and_by_count():
    counts = {'a': 100, 'b': 100, 'c': 102, 'd': 98, 'e': 101, 'f': 0}
    results = {h: res({'p': c, 'q': 1}) for h, c in counts.items()}
    assert A.outliers(results, by='count', min_spread=0) == [{
        'probe': 'p', 'host': 'f', 'value': 0, 'median': 100.0, 'spread': 1.5, 'method': 'mad', 'score': -44.9667,
        'direction': 'low'}]
    assert A.outliers(results, threshold=50, by='count', min_spread=0) == []
    # the default floor: spread at least 5% of the median (MAD 1.5 < 5)
    assert A.outliers(results, by='count') == [{
        'probe': 'p', 'host': 'f', 'value': 0, 'median': 100.0, 'spread': 5.0, 'method': 'floor', 'score': -13.49,
        'direction': 'low'}]


def test_equal_counts_over_windows_microseconds_apart_are_not_outliers():
    durations = [10.000101, 10.000093, 10.000122, 10.000087, 10.000240, 10.000098]
    results = {'h%d' % i: res({'p': 1000}, duration=d) for i, d in enumerate(durations)}
    assert A.outliers(results, min_spread=0) != []  # MAD of about 1e-6/s: every small difference is "far"
    assert A.outliers(results) == []
    # a host really apart is still found: 30% above the median is beyond 3.5 at the 5% floor
    results['h9'] = res({'p': 1300}, duration=10.0001)
    assert [(o['host'], o['method'], o['score']) for o in A.outliers(results)] == [('h9', 'floor', 4.047)]
    assert [o['host'] for o in A.outliers(results, min_spread=0.1)] == []


def test_outlier_sample_leaves_out_hosts_that_did_not_attach_the_probe():
    # Mixed fleet: the guest counts kernel functions, the others their tracepoint equivalents.
    results = {h: res({'t:syscalls:sys_enter_read': 100}, attached_probes=['t:syscalls:sys_enter_read'])
               for h in ('ns1', 'ns2', 'ns3', 'ns4', 'ns5')}
    results['guest'] = res({'vfs_read': 100}, attached_probes=['vfs_read', 'vfs_write'])
    assert A.outliers(results) == []
    # without attached_probes the hosts cannot say, and every host with a window is in the sample
    plain = {h: dict(r, attached_probes=None) for h, r in results.items()}
    assert {(o['probe'], o['host']) for o in A.outliers(plain)} == {('vfs_read', 'guest'), ('t:syscalls:sys_enter_read', 'guest')}
    # a probe attached on the others but silent there still has them in the sample, at 0
    for host in ('ns1', 'ns2', 'ns3', 'ns4', 'ns5'):
        results[host]['attached_probes'].append('vfs_read')
    assert [(o['probe'], o['host']) for o in A.outliers(results)] == [('vfs_read', 'guest')]


@pytest.mark.parametrize('threshold,flagged', [(3.5, ['e']), (3.98, ['e']), (3.99, []), (100, [])])
def test_outlier_threshold(threshold, flagged):
    results = {h: res({'p': 10}) for h in 'abcd'}
    results['e'] = res({'p': 1000})
    assert [o['host'] for o in A.outliers(results, threshold)] == flagged


def test_outlier_sample_leaves_out_skipped_probes_and_hosts_without_window():
    results = {h: res({'p': 100}) for h in 'abcd'}
    results['e'] = res({}, skipped=['p'])
    assert A.outliers(results) == []
    results['e'] = res({})
    assert [(o['host'], o['score']) for o in A.outliers(results)] == [('e', -3.9894)]
    results['e'] = res({}, duration=0.0)
    assert A.outliers(results) == []
    assert [(o['host'], o['score']) for o in A.outliers(results, by='count')] == [('e', -3.9894)]


def test_outliers_order_and_too_few_hosts():
    results = {h: res({'p': 10, 'q': 10}) for h in 'abcd'}
    results['e'] = res({'p': 1000, 'q': 10})
    results['f'] = res({'p': 10, 'q': 5000})
    got = [(o['probe'], o['host'], o['score']) for o in A.outliers(results)]
    # six hosts: one deviant scores 6 / 1.253314 = 4.7873 on each probe; ties by probe then host
    assert got == [('p', 'e', 4.7873), ('q', 'f', 4.7873)]
    assert A.outliers({'a': res({'p': 1}), 'b': UNREACHABLE}) == []
    assert A.outliers({}) == []


@pytest.mark.parametrize('kwargs,message', [
    ({'min_spread': -1}, r'^min_spread must be a number not below 0 \(a fraction of the median\), got -1$'),
    ({'min_spread': None}, r'^min_spread must be a number not below 0 \(a fraction of the median\), got None$'),
    ({'threshold': 0}, r'^threshold must be a number above 0, got 0$'),
    ({'threshold': '3'}, r"^threshold must be a number above 0, got '3'$"),
    ({'threshold': True}, r'^threshold must be a number above 0, got True$'),
    ({'by': 'mean'}, r"^by must be 'rate' or 'count', got 'mean'$"),
])
def test_outlier_errors(kwargs, message):
    with pytest.raises(AggregateError, match=message):
        A.outliers(FLEET, **kwargs)


BASE = {
    'a': res({'p': 100, 'q': 10, 'gone': 5}),
    'b': res({'p': 100}),
    'c': res({'p': 50}),
    'd': res({'p': 1}),
    'e': NO_BCC,
}
CURRENT = {
    'a': res({'p': 500, 'q': 25, 'new': 30}),
    'b': res({'p': 100}, duration=20.0),      # 5/s against 10/s: a factor of exactly 2 is not more than 2
    'c': UNREACHABLE,
    'e': res({'p': 7}),
    'f': res({'p': 7}),
}


def f(severity, scope, host, probe, kind, base, cur, ratio, message):
    return {'severity': severity, 'scope': scope, 'host': host, 'probe': probe, 'kind': kind, 'baseline_rate': base,
            'current_rate': cur, 'ratio': ratio, 'message': message}


EXPECTED_DIFF = [
    f('critical', 'host', 'a', 'p', 'increased', 10.0, 50.0, 5.0, 'p on a increased 5 times: 50/s, baseline 10/s'),
    f('critical', 'host', 'c', None, 'host_failed', None, None, None,
      'c failed: unreachable: Failed to connect to the host via ssh: Connection refused'),
    f('warning', 'fleet', None, 'gone', 'vanished', 0.5, 0.0, None, 'fleet-wide gone vanished: the baseline had 0.5/s'),
    f('warning', 'fleet', None, 'new', 'appeared', 0.0, 3.0, None, 'fleet-wide new appeared: 3/s, not in the baseline'),
    f('warning', 'fleet', None, 'p', 'increased', 20.0, 55.0, 2.75,
      'fleet-wide p increased 2.75 times: 55/s, baseline 20/s'),
    f('warning', 'fleet', None, 'q', 'increased', 1.0, 2.5, 2.5, 'fleet-wide q increased 2.5 times: 2.5/s, baseline 1/s'),
    f('warning', 'host', 'a', 'gone', 'vanished', 0.5, 0.0, None, 'gone on a vanished: the baseline had 0.5/s'),
    f('warning', 'host', 'a', 'new', 'appeared', 0.0, 3.0, None, 'new on a appeared: 3/s, not in the baseline'),
    f('warning', 'host', 'a', 'q', 'increased', 1.0, 2.5, 2.5, 'q on a increased 2.5 times: 2.5/s, baseline 1/s'),
    f('warning', 'host', 'd', None, 'host_vanished', None, None, None, 'd is in the baseline but not in this run'),
    f('info', 'host', 'e', None, 'host_new', None, None, None,
      'e has no baseline to compare with (failed in the baseline: Failed to import the required Python library '
      '(bcc) on web7.)'),
    f('info', 'host', 'f', None, 'host_new', None, None, None, 'f has no baseline to compare with (not in the baseline)'),
]


def test_baseline_diff():
    assert A.baseline_diff(CURRENT, BASE) == EXPECTED_DIFF


def test_baseline_diff_compares_only_probes_attached_in_both_runs():
    base = {'guest': res({'vfs_read': 100, 'vfs_write': 10}, attached_probes=['vfs_read', 'vfs_write']),
            'ns1': res({'t:syscalls:sys_enter_read': 100}, attached_probes=['t:syscalls:sys_enter_read'])}
    cur = {'guest': res({'vfs_read': 100}, skipped=['vfs_write'], attached_probes=['vfs_read']),
           'ns1': res({'t:syscalls:sys_enter_read': 100, 'vfs_read': 3},
                      attached_probes=['t:syscalls:sys_enter_read', 'vfs_read'])}
    assert A.baseline_diff(cur, base) == [
        f('warning', 'host', 'guest', 'vfs_write', 'not_attached', None, None, None,
          'vfs_write on guest was not compared: it was not attached in this run (the kernel refused to attach)'),
        f('info', 'host', 'ns1', 'vfs_read', 'not_attached', None, None, None,
          'vfs_read on ns1 was not compared: it was not attached in the baseline'),
    ]
    # without attached_probes a probe missing from this run's counts has vanished, as before
    plain_cur = {'guest': res({'vfs_read': 100}), 'ns1': res({'t:syscalls:sys_enter_read': 100})}
    plain_base = {h: dict(r, attached_probes=None) for h, r in base.items()}
    assert [(x['host'], x['probe'], x['kind']) for x in A.baseline_diff(plain_cur, plain_base)] == [
        (None, 'vfs_write', 'vanished'), ('guest', 'vfs_write', 'vanished')]


def test_baseline_diff_takes_reports():
    assert A.baseline_diff({'run_id': 'now', 'hosts': CURRENT}, {'run_id': 'then', 'hosts': BASE}) == EXPECTED_DIFF


def test_baseline_diff_min_rate_and_critical():
    got = A.baseline_diff(CURRENT, BASE, threshold=2.0, critical=10.0, min_rate=1.0)
    assert [(x['severity'], x['scope'], x['host'], x['probe'], x['kind']) for x in got] == [
        ('critical', 'host', 'c', None, 'host_failed'),
        ('warning', 'fleet', None, 'new', 'appeared'),
        ('warning', 'fleet', None, 'p', 'increased'),
        ('warning', 'fleet', None, 'q', 'increased'),
        ('warning', 'host', 'a', 'new', 'appeared'),
        ('warning', 'host', 'a', 'p', 'increased'),
        ('warning', 'host', 'a', 'q', 'increased'),
        ('warning', 'host', 'd', None, 'host_vanished'),
        ('info', 'host', 'e', None, 'host_new'),
        ('info', 'host', 'f', None, 'host_new'),
    ]


@pytest.mark.parametrize('base,cur,threshold,expected', [
    (100, 100, 2.0, None),
    (100, 200, 2.0, None),
    (100, 201, 2.0, ('warning', 'increased', 2.01)),
    (100, 400, 2.0, ('warning', 'increased', 4.0)),
    (100, 401, 2.0, ('critical', 'increased', 4.01)),
    (100, 50, 2.0, None),
    (100, 49, 2.0, ('warning', 'decreased', 0.49)),
    (100, 20, 2.0, ('critical', 'decreased', 0.2)),
    (100, 20, 5.0, None),
    (100, 19, 5.0, ('warning', 'decreased', 0.19)),
    (3, 1, 1.5, ('critical', 'decreased', 0.3333)),   # critical defaults to 1.5 ** 2 = 2.25
    (0, 0, 2.0, None),
    (0, 1, 2.0, ('warning', 'appeared', None)),
    (1, 0, 2.0, ('warning', 'vanished', None)),
])
def test_baseline_diff_thresholds(base, cur, threshold, expected):
    got = A.baseline_diff({'h': res({'p': cur}, duration=1.0)}, {'h': res({'p': base}, duration=1.0)}, threshold)
    assert [(x['severity'], x['kind'], x['ratio']) for x in got if x['scope'] == 'host'] == ([expected] if expected else [])
    assert [(x['severity'], x['kind'], x['ratio']) for x in got if x['scope'] == 'fleet'] == ([expected] if expected else [])


def test_baseline_diff_decreased_message_and_no_window():
    got = A.baseline_diff({'h': res({'p': 10}, duration=1.0)}, {'h': res({'p': 100}, duration=1.0)})
    assert got[0]['message'] == 'fleet-wide p decreased 10 times: 10/s, baseline 100/s'
    assert got[1]['message'] == 'p on h decreased 10 times: 10/s, baseline 100/s'
    got = A.baseline_diff({'h': res({'p': 10}, duration=0.0)}, {'h': res({'p': 100})})
    assert got == [f('info', 'host', 'h', None, 'not_compared', None, None, None,
                     'h was not compared: this run has no counting window')]
    got = A.baseline_diff({'h': res({'p': 10})}, {'h': res({'p': 100}, duration=0.0)})
    assert got[0]['message'] == 'h was not compared: the baseline has no counting window'
    assert A.baseline_diff({}, {}) == []


@pytest.mark.parametrize('kwargs,message', [
    ({'threshold': 1}, r'^threshold must be more than 1 \(a factor of change\), got 1$'),
    ({'threshold': 0.5}, r'^threshold must be more than 1 \(a factor of change\), got 0.5$'),
    ({'threshold': 'x'}, r"^threshold must be a number, got 'x'$"),
    ({'min_rate': None}, r'^min_rate must be a number, got None$'),
    ({'threshold': 3, 'critical': 2}, r'^critical must be a number not below threshold \(3\), got 2$'),
    ({'critical': 'high'}, r"^critical must be a number not below threshold \(2.0\), got 'high'$"),
])
def test_baseline_diff_errors(kwargs, message):
    with pytest.raises(AggregateError, match=message):
        A.baseline_diff(CURRENT, BASE, **kwargs)
    with pytest.raises(AggregateError, match='^expected a mapping of host name to funccount result, got list$'):
        A.baseline_diff(CURRENT, [])


GROUPS = {
    'a': res({'p': 12, 'q': 1}, duration=2.0, groups=[
        {'probe': 'p', 'count': 10, 'pid': 100, 'comm': 'nginx'}, {'probe': 'p', 'count': 2, 'pid': 101, 'comm': ''},
        {'probe': 'q', 'count': 1, 'pid': 5}, 'junk', {'probe': 'q', 'count': -1, 'pid': 6}, {'count': 3, 'pid': 7}]),
    'b': res({'p': 10}, groups=[{'probe': 'p', 'count': 10, 'comm': 'java'}]),
    'c': res({'p': 4}, groups=[{'probe': 'p', 'count': 4, 'cgroup': '/system.slice/x.service', 'cgroup_id': 77}]),
    'd': res({'p': 9}),
    'e': {'failed': True, 'msg': 'x', 'counts': {'p': 1}, 'groups': [{'probe': 'p', 'count': 1000, 'pid': 1}]},
}


@pytest.mark.parametrize('n,probe,expected', [
    (10, None, [('a', 'p', 'pid 100 (nginx)', 10, 5.0), ('b', 'p', 'java', 10, 1.0),
                ('c', 'p', '/system.slice/x.service', 4, 0.4), ('a', 'p', 'pid 101', 2, 1.0), ('a', 'q', 'pid 5', 1, 0.5)]),
    (2, None, [('a', 'p', 'pid 100 (nginx)', 10, 5.0), ('b', 'p', 'java', 10, 1.0)]),
    (0, 'q', [('a', 'q', 'pid 5', 1, 0.5)]),
    (0, 'nowhere', []),
])
def test_top_groups(n, probe, expected):
    got = A.top_groups(GROUPS, n, probe)
    assert [(g['host'], g['probe'], g['group'], g['count'], g['rate']) for g in got] == expected


def test_top_groups_keeps_the_ids():
    assert A.top_groups(GROUPS, 0)[2] == {'host': 'c', 'probe': 'p', 'group': '/system.slice/x.service', 'count': 4,
                                          'rate': 0.4, 'cgroup': '/system.slice/x.service', 'cgroup_id': 77}
    assert A.top_groups(GROUPS, 1)[0] == {'host': 'a', 'probe': 'p', 'group': 'pid 100 (nginx)', 'count': 10, 'rate': 5.0,
                                          'pid': 100, 'comm': 'nginx'}
    assert A.group_label({}) == 'unknown'
    with pytest.raises(AggregateError, match='^probe must be a probe key, got int$'):
        A.top_groups(GROUPS, 1, 5)
