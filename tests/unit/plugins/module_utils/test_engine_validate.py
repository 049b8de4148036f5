# SPDX-License-Identifier: GPL-3.0-or-later
"""validate() and parse_start_at(): every option's bad values with their exact messages."""

from __future__ import annotations

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _engine as E
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

T_1800Z = 1796580000.0       # 2026-12-06T18:00:00Z
T_0000Z = 1796515200.0       # 2026-12-06T00:00:00Z


def fails(patterns=('vfs_read',), **options):
    with pytest.raises(FuncCountError) as info:
        E.validate(E.Options(list(patterns), **options))
    assert info.value.partial == {}
    return info.value.msg


# --- Options --------------------------------------------------------------------

def test_options_defaults():
    opts = E.Options(['vfs_read'])
    assert {name: getattr(opts, name) for name in E.DEFAULTS} == {
        'regexp': False, 'duration': 10.0, 'interval': None, 'pid': None, 'cpu': None, 'max_probes': 1000,
        'missing': 'warn', 'include_zero': False, 'attach': None, 'cookies': 'auto', 'start_at': None,
        'overhead_limit': 5.0, 'group_by': 'none'}
    assert opts.patterns == ['vfs_read']


def test_options_none_means_default():
    opts = E.Options(['x'], duration=None, max_probes=None, missing=None, cookies=None)
    assert (opts.duration, opts.max_probes, opts.missing, opts.cookies) == (10.0, 1000, 'warn', 'auto')


def test_options_one_pattern_as_a_string():
    assert E.Options('t:sched:*').patterns == ['t:sched:*']


def test_options_no_patterns():
    assert E.Options(None).patterns == []


def test_options_unknown_option_is_a_programming_error():
    with pytest.raises(TypeError) as info:
        E.Options(['x'], bogus=1, zzz=2)
    assert str(info.value) == 'unknown options: bogus, zzz'


# --- good options -----------------------------------------------------------------

def test_validate_returns_the_parsed_patterns():
    pats = E.validate(E.Options(['vfs_read', 't:sched:*', 'vfs_read', 'c:malloc']))
    assert [(p.text, p.kind) for p in pats] == [('vfs_read', P.KERNEL), ('t:sched:*', P.TRACEPOINT),
                                                ('c:malloc', P.USER)]


def test_validate_passes_regexp():
    assert [p.regexp for p in E.validate(E.Options(['vfs_read.*'], regexp=True))] == [True]


@pytest.mark.parametrize('options', [
    {'duration': 0.001},
    {'duration': 1},
    {'duration': 604800},
    {'duration': 604800.0},
    {'duration': 1, 'interval': 1},
    {'duration': 1, 'interval': 0.01},
    {'duration': 1000, 'interval': 0.01},       # exactly 100000 intervals
    {'max_probes': 1},
    {'max_probes': 10 ** 6},
    {'missing': 'warn'}, {'missing': 'error'}, {'missing': 'ignore'},
    {'cookies': 'auto'}, {'cookies': 'always'}, {'cookies': 'never'},
    {'attach': {}},
    {'attach': {'kernel': 'kprobe', 'user': 'uprobe', 'tracepoint': 'perf_event', 'syscall': 'raw_syscalls'}},
    {'attach': {'kernel': 'kprobe_multi', 'user': 'uprobe_multi', 'tracepoint': 'raw_tracepoint',
                'syscall': 'perf_event'}},
    {'attach': {'kernel': None, 'user': 'auto'}},
    {'pid': 1}, {'pid': 4194304},
    {'cpu': 0}, {'cpu': 4095},
    {'include_zero': True},
    {'overhead_limit': 0}, {'overhead_limit': 0.5}, {'overhead_limit': 100}, {'overhead_limit': float('inf')},
    {'group_by': 'none'}, {'group_by': 'pid'}, {'group_by': 'comm'}, {'group_by': 'cgroup'},
    {'max_probes': 1.0}, {'max_probes': 10 ** 400},
    {'start_at': 0}, {'start_at': '9999-12-31T23:59:59Z'},
])
def test_good_options(options):
    assert len(E.validate(E.Options(['vfs_read'], **options))) == 1


# --- bad options ------------------------------------------------------------------

BAD = [
    ((), {}, 'No pattern was given; set patterns to at least one function, t:category:event or u:library:probe.'),
    # duration
    (None, {'duration': 0}, 'duration must be more than 0 and at most 604800 seconds (7 days), not 0.'),
    (None, {'duration': -1.5}, 'duration must be more than 0 and at most 604800 seconds (7 days), not -1.5.'),
    (None, {'duration': 604800.5},
     'duration must be more than 0 and at most 604800 seconds (7 days), not 604800.5.'),
    (None, {'duration': float('inf')}, 'duration must be more than 0 and at most 604800 seconds (7 days), not inf.'),
    (None, {'duration': float('-inf')},
     'duration must be more than 0 and at most 604800 seconds (7 days), not -inf.'),
    (None, {'duration': float('nan')}, 'duration must be a number of seconds, not nan.'),
    (None, {'duration': '10'}, "duration must be a number of seconds, not '10'."),
    (None, {'duration': True}, 'duration must be a number of seconds, not True.'),
    (None, {'duration': False}, 'duration must be a number of seconds, not False.'),
    (None, {'duration': [1]}, 'duration must be a number of seconds, not [1].'),
    # interval
    (None, {'interval': 0.005}, 'interval must be between 0.01 seconds and the duration (10.0 s), not 0.005.'),
    (None, {'interval': 0}, 'interval must be between 0.01 seconds and the duration (10.0 s), not 0.'),
    (None, {'interval': -1}, 'interval must be between 0.01 seconds and the duration (10.0 s), not -1.'),
    (None, {'duration': 1, 'interval': 2}, 'interval must be between 0.01 seconds and the duration (1 s), not 2.'),
    (None, {'interval': float('inf')},
     'interval must be between 0.01 seconds and the duration (10.0 s), not inf.'),
    (None, {'interval': float('nan')}, 'interval must be a number of seconds, not nan.'),
    (None, {'interval': '1'}, "interval must be a number of seconds, not '1'."),
    (None, {'interval': True}, 'interval must be a number of seconds, not True.'),
    (None, {'duration': 1000.5, 'interval': 0.01},
     'duration / interval gives more than 100000 intervals; use a longer interval.'),
    (None, {'duration': 'x', 'interval': 'y'}, "duration must be a number of seconds, not 'x'."),
    # overhead_limit
    (None, {'overhead_limit': -1},
     'overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not -1.'),
    (None, {'overhead_limit': -0.5},
     'overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not -0.5.'),
    (None, {'overhead_limit': '5'},
     "overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not '5'."),
    (None, {'overhead_limit': float('nan')},
     'overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not nan.'),
    (None, {'overhead_limit': True},
     'overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not True.'),
    # group_by
    (None, {'group_by': 'user'}, "group_by must be one of none, pid, comm, cgroup, not 'user'."),
    (None, {'group_by': 'PID'}, "group_by must be one of none, pid, comm, cgroup, not 'PID'."),
    (None, {'group_by': 1}, 'group_by must be one of none, pid, comm, cgroup, not 1.'),
    # max_probes
    (None, {'max_probes': 'abc'}, "max_probes must be a positive whole number, not 'abc'."),
    (None, {'max_probes': '5'}, "max_probes must be a positive whole number, not '5'."),
    (None, {'max_probes': ''}, "max_probes must be a positive whole number, not ''."),
    (None, {'max_probes': []}, 'max_probes must be a positive whole number, not [].'),
    (None, {'max_probes': {}}, 'max_probes must be a positive whole number, not {}.'),
    (None, {'max_probes': float('nan')}, 'max_probes must be a positive whole number, not nan.'),
    (None, {'max_probes': float('inf')}, 'max_probes must be a positive whole number, not inf.'),
    (None, {'max_probes': 1.5}, 'max_probes must be a positive whole number, not 1.5.'),
    (None, {'max_probes': 0}, 'max_probes must be a positive whole number, not 0.'),
    (None, {'max_probes': -5}, 'max_probes must be a positive whole number, not -5.'),
    (None, {'max_probes': True}, 'max_probes must be a positive whole number, not True.'),
    (None, {'max_probes': False}, 'max_probes must be a positive whole number, not False.'),
    (None, {'max_probes': 0.5}, 'max_probes must be a positive whole number, not 0.5.'),
    # missing
    (None, {'missing': 'fail'}, "missing must be one of warn, error, ignore, not 'fail'."),
    (None, {'missing': 'WARN'}, "missing must be one of warn, error, ignore, not 'WARN'."),
    (None, {'missing': ['warn']}, "missing must be one of warn, error, ignore, not ['warn']."),
    (None, {'missing': True}, 'missing must be one of warn, error, ignore, not True.'),
    # cookies
    (None, {'cookies': 'yes'}, "cookies must be one of auto, always, never, not 'yes'."),
    (None, {'cookies': True}, 'cookies must be one of auto, always, never, not True.'),
    (None, {'cookies': {}}, 'cookies must be one of auto, always, never, not {}.'),
    # attach
    (None, {'attach': {'kprobe': 'auto'}}, "attach has no key 'kprobe'; use kernel, user, tracepoint, syscall."),
    (None, {'attach': {'usdt': 'uprobe'}}, "attach has no key 'usdt'; use kernel, user, tracepoint, syscall."),
    (None, {'attach': {1: 'auto'}}, 'attach has no key 1; use kernel, user, tracepoint, syscall.'),
    (None, {'attach': {'kernel': 'fentry'}}, "attach.kernel must be one of auto, kprobe_multi, kprobe, not 'fentry'."),
    (None, {'attach': {'kernel': 'uprobe'}}, "attach.kernel must be one of auto, kprobe_multi, kprobe, not 'uprobe'."),
    (None, {'attach': {'user': 'kprobe'}}, "attach.user must be one of auto, uprobe_multi, uprobe, not 'kprobe'."),
    (None, {'attach': {'tracepoint': 'raw_syscalls'}},
     "attach.tracepoint must be one of auto, raw_tracepoint, perf_event, not 'raw_syscalls'."),
    (None, {'attach': {'syscall': 'raw_tracepoint'}},
     "attach.syscall must be one of auto, raw_syscalls, perf_event, not 'raw_tracepoint'."),
    (None, {'attach': {'kernel': ['kprobe']}},
     "attach.kernel must be one of auto, kprobe_multi, kprobe, not ['kprobe']."),
    (None, {'attach': {'kernel': True}}, 'attach.kernel must be one of auto, kprobe_multi, kprobe, not True.'),
    (None, {'attach': 'kprobe'},
     "attach must be a mapping of probe type (kernel, user, tracepoint, syscall) to mechanism, not 'kprobe'."),
    (None, {'attach': ['kernel']},
     "attach must be a mapping of probe type (kernel, user, tracepoint, syscall) to mechanism, not ['kernel']."),
    (None, {'attach': 5},
     'attach must be a mapping of probe type (kernel, user, tracepoint, syscall) to mechanism, not 5.'),
    # pid
    (None, {'pid': 0}, 'pid must be a positive process id, not 0.'),
    (None, {'pid': -1}, 'pid must be a positive process id, not -1.'),
    (None, {'pid': True}, 'pid must be a positive process id, not True.'),
    (None, {'pid': '123'}, "pid must be a positive process id, not '123'."),
    (None, {'pid': 1.0}, 'pid must be a positive process id, not 1.0.'),
    # cpu
    (None, {'cpu': -1}, 'cpu must be a CPU number from 0, not -1.'),
    (None, {'cpu': True}, 'cpu must be a CPU number from 0, not True.'),
    (None, {'cpu': '0'}, "cpu must be a CPU number from 0, not '0'."),
    (None, {'cpu': 0.0}, 'cpu must be a CPU number from 0, not 0.0.'),
    # start_at
    (None, {'start_at': 'yesterday'},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not 'yesterday'."),
    (None, {'start_at': ''},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not ''."),
    (None, {'start_at': '2026-13-01T00:00:00Z'},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not "
     "'2026-13-01T00:00:00Z'."),
    (None, {'start_at': '18:00'},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not '18:00'."),
    (None, {'start_at': [2026]},
     'start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not [2026].'),
    (None, {'start_at': b'1796580000'},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not b'1796580000'."),
    (None, {'start_at': True},
     'start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not True.'),
    # duration and interval as ints too large for a float
    (None, {'duration': 10 ** 400},
     'duration must be more than 0 and at most 604800 seconds (7 days), not %d.' % 10 ** 400),
    (None, {'interval': 10 ** 400},
     'interval must be between 0.01 seconds and the duration (10.0 s), not %d.' % 10 ** 400),
    # patterns: PatternError becomes FuncCountError with the same sentence
    (['vfs_read', 't:sched'], {}, "Tracepoint pattern 't:sched' must have the form t:category:event."),
    ([''], {}, 'An empty pattern was given; give a function, t:category:event or u:library:probe.'),
    ([None], {}, 'Pattern None is not a string; give each pattern as text such as vfs_read or t:sched:sched_switch.'),
    (['vfs_read', ['x']], {},
     "Pattern ['x'] is not a string; give each pattern as text such as vfs_read or t:sched:sched_switch."),
    (['vfs_(read'], {'regexp': True},
     "Pattern 'vfs_(read' has an invalid regular expression 'vfs_(read' (missing ), unterminated subpattern at "
     "position 4); fix it, or set regexp to false to use * wildcards."),
]


@pytest.mark.parametrize('patterns,options,message', BAD, ids=['%s-%s' % (b[0], repr(b[1])[:60]) for b in BAD])
def test_bad_option(patterns, options, message):
    got = fails(('vfs_read',) if patterns is None else patterns, **options)
    assert got == message
    assert '\n' not in got


def test_options_are_checked_before_patterns():
    assert fails(['t:x'], duration=0) == 'duration must be more than 0 and at most 604800 seconds (7 days), not 0.'


def test_validate_sets_start_at_epoch():
    opts = E.Options(['vfs_read'], start_at='2026-12-06T18:00:00Z')
    E.validate(opts)
    assert opts.start_at_epoch == T_1800Z


def test_validate_without_start_at_sets_no_epoch():
    opts = E.Options(['vfs_read'])
    E.validate(opts)
    assert not hasattr(opts, 'start_at_epoch')


# --- parse_start_at ------------------------------------------------------------------

@pytest.mark.parametrize('value,epoch', [
    ('2026-12-06T18:00:00Z', T_1800Z),
    ('2026-12-06T18:00:00z', T_1800Z),
    ('2026-12-06T18:00:00+00:00', T_1800Z),
    ('2026-12-06T20:00:00+02:00', T_1800Z),
    ('2026-12-06T13:00:00-05:00', T_1800Z),
    ('2026-12-07T03:30:00+09:30', T_1800Z),
    ('2026-12-06T18:00:00', T_1800Z),                 # naive: UTC, not the host's zone
    ('2026-12-06 18:00:00', T_1800Z),
    ('2026-12-06 18:00:00Z', T_1800Z),
    ('  2026-12-06T18:00:00Z  ', T_1800Z),
    ('2026-12-06T18:00:00.250Z', T_1800Z + 0.25),
    ('2026-12-06T18:00:00.000001+00:00', T_1800Z + 0.000001),
    ('2026-12-06T18:00Z', T_1800Z),
    ('2026-12-06', T_0000Z),
    (1796580000, T_1800Z),
    (1796580000.25, T_1800Z + 0.25),
    ('1796580000', T_1800Z),
    ('1796580000.25', T_1800Z + 0.25),
    (' 1796580000 ', T_1800Z),
    (0, 0.0),
    ('0', 0.0),
    ('9999-12-31T23:59:59Z', 253402300799.0),
    (253402300799.5, 253402300799.5),
])
def test_parse_start_at(value, epoch):
    got = E.parse_start_at(value)
    assert isinstance(got, float)
    assert got == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize('value', [
    'yesterday', '', 'now', '2026-12-06T25:00:00Z', 'Z', {}, None, b'0', True, False,
    float('nan'), float('inf'), float('-inf'), 'nan', 'inf', '-inf', '1e999', 10 ** 400,
    -1, '-1', '1969-12-31T23:59:59Z', 253402300800, '253402300800.0',
])
def test_parse_start_at_error(value):
    with pytest.raises(FuncCountError) as info:
        E.parse_start_at(value)
    assert info.value.msg == ('start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch '
                              'seconds, not %r.' % (value,))


# --- bugs ----------------------------------------------------------------------------

@pytest.mark.parametrize('value', [['pid'], {'pid': 1}])
def test_group_by_unhashable(value):
    assert fails(group_by=value) == 'group_by must be one of none, pid, comm, cgroup, not %r.' % (value,)
