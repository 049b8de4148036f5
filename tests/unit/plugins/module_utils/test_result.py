# SPDX-License-Identifier: GPL-3.0-or-later
"""Result shaping: timestamps, ordering of counts, the counted and planned result dictionaries."""

from __future__ import annotations

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils import _result
from ansible_collections.ebpf.bcc.plugins.module_utils._engine import Options, Window
from ansible_collections.ebpf.bcc.plugins.module_utils._resolve import Probe

T_1800Z = 1796580000.0       # 2026-12-06T18:00:00Z


@pytest.mark.parametrize('epoch,text', [
    (0, '1970-01-01T00:00:00.000000Z'),
    (0.5, '1970-01-01T00:00:00.500000Z'),
    (T_1800Z, '2026-12-06T18:00:00.000000Z'),
    (T_1800Z + 0.000123, '2026-12-06T18:00:00.000123Z'),
    (T_1800Z + 59.25, '2026-12-06T18:00:59.250000Z'),
    (1e9, '2001-09-09T01:46:40.000000Z'),
    (-1, '1969-12-31T23:59:59.000000Z'),
])
def test_iso(epoch, text):
    assert _result.iso(epoch) == text


ORDER = [
    ({}, False, []),
    ({'a': 0}, False, []),
    ({'a': 0}, True, [('a', 0)]),
    ({'b': 2, 'a': 2, 'c': 5, 'z': 0}, False, [('c', 5), ('a', 2), ('b', 2)]),
    ({'b': 2, 'a': 2, 'c': 5, 'z': 0, 'y': 0}, True, [('c', 5), ('a', 2), ('b', 2), ('y', 0), ('z', 0)]),
    ({'vfs_write': 1, 'vfs_read': 10 ** 12, 't:sched:sched_switch': 10 ** 12}, False,
     [('t:sched:sched_switch', 10 ** 12), ('vfs_read', 10 ** 12), ('vfs_write', 1)]),
]


@pytest.mark.parametrize('counts,include_zero,expected', ORDER)
def test_order_counts(counts, include_zero, expected):
    got = _result.order_counts(counts, include_zero)
    assert list(got.items()) == expected


def make_probes(*specs):
    made = []
    for key, kind in specs:
        probe = Probe(key, kind)
        probe.index = len(made)
        made.append(probe)
    return made


PROBES = (('vfs_read', P.KERNEL), ('c:malloc', P.USER), ('t:sched:sched_switch', P.TRACEPOINT),
          ('u:c:setjmp', P.USDT))
ENGINE = {'bcc_version': '0.26.0', 'kernel_release': '6.18.44', 'mechanisms': {}}


def test_counted():
    attached = make_probes(*PROBES)
    window = Window(T_1800Z, T_1800Z + 2.0000004, 2.0000004,
                    {'vfs_read': 7, 'c:malloc': 9, 't:sched:sched_switch': 0, 'not_attached': 99}, None)
    skipped = [{'probe': 'vfs_write', 'reason': 'x'}]
    result = _result.counted(Options(['x']), attached, skipped, window, ENGINE)
    assert result == {
        'changed': False,
        'counts': {'c:malloc': 9, 'vfs_read': 7},
        'total': 16,
        'probes': 4,
        'attached_probes': ['c:malloc', 't:sched:sched_switch', 'u:c:setjmp', 'vfs_read'],
        'skipped': [{'probe': 'vfs_write', 'reason': 'x'}],
        'duration': 2.0,
        'start': '2026-12-06T18:00:00.000000Z',
        'end': '2026-12-06T18:00:02.000000Z',
        'aborted': None,
        'engine': ENGINE,
    }
    assert list(result['counts']) == ['c:malloc', 'vfs_read']
    assert result['skipped'] is not skipped


def test_counted_include_zero():
    attached = make_probes(*PROBES)
    window = Window(T_1800Z, T_1800Z + 1, 1.0, {'vfs_read': 7, 'c:malloc': 9}, None)
    result = _result.counted(Options(['x'], include_zero=True), attached, [], window, ENGINE)
    assert list(result['counts'].items()) == [('c:malloc', 9), ('vfs_read', 7), ('t:sched:sched_switch', 0),
                                              ('u:c:setjmp', 0)]
    assert result['total'] == 16


def test_counted_duration_is_rounded_to_microseconds():
    window = Window(T_1800Z, T_1800Z + 1.23456789, 1.23456789, {}, None)
    assert _result.counted(Options(['x']), [], [], window, ENGINE)['duration'] == 1.234568


def test_counted_with_intervals():
    attached = make_probes(('vfs_read', P.KERNEL), ('vfs_write', P.KERNEL))
    window = Window(T_1800Z, T_1800Z + 2, 2.0, {'vfs_read': 5, 'vfs_write': 1}, [
        (T_1800Z, T_1800Z + 1, {'vfs_read': 2, 'vfs_write': 0}),
        (T_1800Z + 1, T_1800Z + 2, {'vfs_read': 3, 'vfs_write': 1}),
    ])
    result = _result.counted(Options(['x']), attached, [], window, ENGINE)
    assert result['intervals'] == [
        {'start': '2026-12-06T18:00:00.000000Z', 'end': '2026-12-06T18:00:01.000000Z', 'counts': {'vfs_read': 2}},
        {'start': '2026-12-06T18:00:01.000000Z', 'end': '2026-12-06T18:00:02.000000Z',
         'counts': {'vfs_read': 3, 'vfs_write': 1}},
    ]
    result = _result.counted(Options(['x'], include_zero=True), attached, [], window, ENGINE)
    assert list(result['intervals'][0]['counts'].items()) == [('vfs_read', 2), ('vfs_write', 0)]


def test_counted_passes_on_why_the_window_was_cut_short():
    window = Window(T_1800Z, T_1800Z + 1, 1.0, {}, None)
    window.aborted = {'reason': 'overhead'}
    assert _result.counted(Options(['x']), [], [], window, ENGINE)['aborted'] == {'reason': 'overhead'}


def test_counted_without_intervals_has_no_intervals_key():
    window = Window(T_1800Z, T_1800Z + 1, 1.0, {}, None)
    assert 'intervals' not in _result.counted(Options(['x']), [], [], window, ENGINE)


def test_planned():
    members = make_probes(*PROBES)
    for probe, mech in zip(members, ['kprobe_multi', 'uprobe_multi', 'raw_tracepoint', None]):
        probe.mechanism = mech
    skipped = [{'probe': 'vfs_write', 'reason': 'x'}]
    result = _result.planned(Options(['x']), members, skipped, the_plan=None, engine=ENGINE)
    assert result == {
        'changed': False,
        'counts': {},
        'total': 0,
        'probes': 4,
        'skipped': [{'probe': 'vfs_write', 'reason': 'x'}],
        'would_attach': [
            {'probe': 'vfs_read', 'type': 'kernel', 'mechanism': 'kprobe_multi'},
            {'probe': 'c:malloc', 'type': 'user', 'mechanism': 'uprobe_multi'},
            {'probe': 't:sched:sched_switch', 'type': 'tracepoint', 'mechanism': 'raw_tracepoint'},
            {'probe': 'u:c:setjmp', 'type': 'usdt', 'mechanism': None},
        ],
        'duration': 0.0,
        'engine': ENGINE,
    }
    assert result['skipped'] is not skipped
