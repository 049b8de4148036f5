# SPDX-License-Identifier: GPL-3.0-or-later
"""start_at_lead: a host whose clock is behind the controller's fails at once instead of waiting for start_at."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.ebpf.bcc.plugins.module_utils import _engine as E
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

T_1800Z = 1796580000.0  # 2026-12-06T18:00:00Z


def opts(**options):
    o = E.Options(['t:sched:sched_switch'], **options)
    E.validate(o)
    return o


def test_start_at_lead_is_an_option_apart_from_the_defaults():
    assert 'start_at_lead' not in E.DEFAULTS
    assert E.Options(['x']).start_at_lead is None
    assert E.Options(['x'], start_at='1', start_at_lead=30).start_at_lead == 30


@pytest.mark.parametrize('value', ['30', float('nan'), float('inf'), True, [30], {}])
def test_start_at_lead_must_be_a_number(value):
    with pytest.raises(FuncCountError) as info:
        opts(start_at=T_1800Z, start_at_lead=value)
    assert info.value.msg == 'start_at_lead must be a number of seconds, not %r.' % (value,)


def test_start_at_lead_needs_start_at():
    with pytest.raises(FuncCountError) as info:
        opts(start_at_lead=30)
    assert info.value.msg == ('start_at_lead is the lead start_at was planned with; set start_at too, or drop '
                              'start_at_lead.')


@pytest.mark.parametrize('away', [-100.0, 0.0, 29.0, 30.0, 35.0])
def test_a_clock_within_the_lead_and_its_tolerance_passes(away):
    E.check_clock(opts(start_at=T_1800Z, start_at_lead=30), T_1800Z - away)


def test_no_check_without_a_lead_or_without_start_at():
    E.check_clock(opts(start_at=T_1800Z), T_1800Z - 86400)
    E.check_clock(opts(), T_1800Z)


def test_a_clock_behind_fails_saying_by_how_much():
    with pytest.raises(FuncCountError) as info:
        E.check_clock(opts(start_at='2026-12-06T18:00:00Z', start_at_lead=30), T_1800Z - 330.25)
    assert info.value.msg == (
        "start_at 2026-12-06T18:00:00.000000Z is 330.2 s away by this host's clock (2026-12-06T17:54:29.750000Z), "
        "but it was planned 30 s ahead: this host's clock seems to be 300 s behind the controller's. Nothing was "
        "attached; check the clocks of the controller and this host (NTP).")
    assert info.value.partial == {'behind_seconds': 300.25}


def test_the_tolerance_is_the_boundary():
    o = opts(start_at=T_1800Z, start_at_lead=2.5)
    E.check_clock(o, T_1800Z - 2.5 - E.START_AT_LEAD_TOLERANCE)
    with pytest.raises(FuncCountError) as info:
        E.check_clock(o, T_1800Z - 2.5 - E.START_AT_LEAD_TOLERANCE - 0.01)
    assert 'but it was planned 2.5 s ahead' in info.value.msg


def test_a_negative_lead_start_at_already_past():
    # a sweep planned in the past (lead -30) is left to the lateness check when the window would open
    E.check_clock(opts(start_at=T_1800Z, start_at_lead=-30), T_1800Z + 30)


@given(lead=st.floats(-1e6, 1e6), away=st.floats(-1e7, 1e7))
def test_check_clock_fails_exactly_when_too_far_away(lead, away):
    o = opts(start_at=T_1800Z, start_at_lead=lead)
    now = T_1800Z - away
    too_far = (T_1800Z - now) > lead + E.START_AT_LEAD_TOLERANCE
    try:
        E.check_clock(o, now)
    except FuncCountError as exc:
        assert too_far
        assert math.isclose(exc.partial['behind_seconds'], round(T_1800Z - now - lead, 3), abs_tol=1e-3)
    else:
        assert not too_far
