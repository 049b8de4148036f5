# SPDX-License-Identifier: GPL-3.0-or-later
"""plan(): mechanism and identity per probe group, for kernels with different capabilities."""

from __future__ import annotations

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _attach as A
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError
from ansible_collections.ebpf.bcc.plugins.module_utils._resolve import Probe

COOKIE, PER_PROBE, SYSCALL_ID = A.COOKIE, A.PER_PROBE, A.SYSCALL_ID

ALL = ('kprobes', 'kprobe_multi', 'kprobe_cookies', 'uprobes', 'uprobe_multi', 'attach_cookies', 'perf_link',
       'raw_tracepoints', 'raw_tracepoint_cookies', 'tracepoints', 'fentry')


class FakeCaps(object):
    """Capabilities with fixed answers; records what was asked."""

    def __init__(self, available, reasons=None):
        self._available = set(available)
        self._reasons = dict(reasons or {})
        self.asked = set()

    def available(self, name):
        assert name in ALL, name
        self.asked.add(name)
        return name in self._available

    def reason(self, name):
        assert name in ALL, name
        if name in self._available:
            return 'works'
        return self._reasons.get(name, '%s: Invalid argument (EINVAL)' % name)


# what this test machine reports (6.18 built without CONFIG_KPROBES)
THIS = dict(
    available=('uprobes', 'uprobe_multi', 'attach_cookies', 'perf_link', 'raw_tracepoints',
               'raw_tracepoint_cookies', 'tracepoints'),
    reasons={'kprobes': 'the kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was built without '
                        'CONFIG_KPROBES',
             'kprobe_multi': 'Operation not supported (ENOTSUP)',
             'kprobe_cookies': 'kprobes are not available',
             'fentry': 'Operation not permitted (EPERM)'})
# Debian 12's 6.1: perf links and cookies, no multi links, no raw tracepoint cookies
K6_1 = dict(
    available=('kprobes', 'kprobe_cookies', 'uprobes', 'attach_cookies', 'perf_link', 'raw_tracepoints',
               'tracepoints', 'fentry'),
    reasons={'kprobe_multi': 'Operation not supported (ENOTSUP)', 'uprobe_multi': 'Invalid argument (EINVAL)',
             'raw_tracepoint_cookies': 'Invalid argument (EINVAL)'})
# 5.10: no cookies, no perf links, no multi links
K5_10 = dict(
    available=('kprobes', 'uprobes', 'raw_tracepoints', 'tracepoints', 'fentry'),
    reasons={'kprobe_multi': 'Invalid argument (EINVAL)', 'uprobe_multi': 'Invalid argument (EINVAL)',
             'attach_cookies': 'Invalid argument (EINVAL)', 'perf_link': 'Invalid argument (EINVAL)',
             'raw_tracepoint_cookies': 'bpf_get_attach_cookie is not available',
             'kprobe_cookies': 'perf event links (kernel 5.15+) are not available: Invalid argument (EINVAL)'})
# 6.12: everything
K6_12 = dict(available=ALL)
KERNELS = {'this': THIS, '6.1': K6_1, '5.10': K5_10, '6.12': K6_12}


def caps(name, drop=(), add=()):
    spec = KERNELS[name]
    return FakeCaps((set(spec['available']) - set(drop)) | set(add), spec.get('reasons'))


def probes(*specs):
    """Probes from short specs: 'k:name', 'u:key', 'd:key' (USDT), 't:cat:event', 's:enter:nr:name'."""
    made = []
    for spec in specs:
        kind, rest = spec.split(':', 1)
        if kind == 'k':
            probe = Probe(rest, P.KERNEL, symbol=rest)
        elif kind == 'u':
            probe = Probe(rest, P.USER, symbol=rest.split(':')[-1], path='/lib/libc.so.6', locations=[(0x100, 0)])
        elif kind == 'd':
            probe = Probe(rest, P.USDT, symbol=rest.split(':')[-1], path='/lib/libc.so.6', locations=[(0x200, 0)])
        elif kind == 't':
            category, event = rest.split(':')
            probe = Probe('t:' + rest, P.TRACEPOINT, category=category, event=event, tp_id=1)
        else:
            direction, nr, name = rest.split(':')
            event = 'sys_%s_%s' % (direction, name)
            probe = Probe('t:syscalls:' + event, P.TRACEPOINT, category='syscalls', event=event, tp_id=2,
                          syscall=(direction, int(nr) if nr != '?' else None))
        probe.index = len(made)
        made.append(probe)
    return made


MIXED = ('k:vfs_read', 'k:vfs_write', 'u:c:malloc', 'd:u:c:setjmp', 't:sched:sched_switch',
         's:enter:0:read', 's:exit:0:read', 's:enter:?:brand_new')


def by_probe(the_plan, members):
    return {p.key: the_plan.by_probe.get(p.index) for p in members}


# --- automatic choice per kernel ---------------------------------------------

def test_this_machine():
    members = probes(*MIXED)
    the_plan = A.plan(members, caps('this'))
    assert the_plan.summary() == {
        'user': {'mechanism': 'uprobe_multi', 'identity': COOKIE},
        'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': COOKIE},
        'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID},
    }
    assert the_plan.unavailable == {
        'kernel': 'this kernel cannot count kernel functions: kprobe_multi: Operation not supported (ENOTSUP); '
                  'kprobe: the kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was built '
                  'without CONFIG_KPROBES; fentry: Operation not permitted (EPERM)'}
    assert by_probe(the_plan, members) == {
        'vfs_read': None,
        'vfs_write': None,
        'c:malloc': ('uprobe_multi', COOKIE),
        'u:c:setjmp': ('uprobe_multi', COOKIE),
        't:sched:sched_switch': ('raw_tracepoint', COOKIE),
        't:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
        't:syscalls:sys_exit_read': ('raw_syscalls', SYSCALL_ID),
        't:syscalls:sys_enter_brand_new': ('perf_event', COOKIE),   # no syscall number: one perf event
    }
    assert [p.mechanism for p in members] == [None, None, 'uprobe_multi', 'uprobe_multi', 'raw_tracepoint',
                                              'raw_syscalls', 'raw_syscalls', 'perf_event']


def test_kernel_6_1():
    members = probes(*MIXED)
    the_plan = A.plan(members, caps('6.1'))
    assert the_plan.summary() == {
        'kernel': {'mechanism': 'kprobe', 'identity': COOKIE},
        'user': {'mechanism': 'uprobe', 'identity': COOKIE},
        'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': PER_PROBE},
        'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID},
    }
    assert the_plan.unavailable == {}
    assert by_probe(the_plan, members)['t:syscalls:sys_enter_brand_new'] == ('perf_event', COOKIE)


def test_kernel_5_10():
    members = probes(*MIXED)
    the_plan = A.plan(members, caps('5.10'))
    assert the_plan.summary() == {
        'kernel': {'mechanism': 'kprobe', 'identity': PER_PROBE},
        'user': {'mechanism': 'uprobe', 'identity': PER_PROBE},
        'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': PER_PROBE},
        'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID},
    }
    assert by_probe(the_plan, members) == {
        'vfs_read': ('kprobe', PER_PROBE),
        'vfs_write': ('kprobe', PER_PROBE),
        'c:malloc': ('uprobe', PER_PROBE),
        'u:c:setjmp': ('uprobe', PER_PROBE),
        't:sched:sched_switch': ('raw_tracepoint', PER_PROBE),
        't:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
        't:syscalls:sys_exit_read': ('raw_syscalls', SYSCALL_ID),
        't:syscalls:sys_enter_brand_new': ('perf_event', PER_PROBE),
    }


def test_kernel_6_12():
    members = probes(*MIXED)
    the_plan = A.plan(members, caps('6.12'))
    assert the_plan.summary() == {
        'kernel': {'mechanism': 'kprobe_multi', 'identity': COOKIE},
        'user': {'mechanism': 'uprobe_multi', 'identity': COOKIE},
        'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': COOKIE},
        'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID},
    }


def test_no_raw_tracepoints_means_perf_events_for_everything():
    members = probes('t:sched:sched_switch', 's:enter:0:read', 's:exit:0:read')
    the_plan = A.plan(members, caps('5.10', drop=['raw_tracepoints']))
    assert the_plan.summary() == {
        'tracepoint': {'mechanism': 'perf_event', 'identity': PER_PROBE},
        'syscall': {'mechanism': 'perf_event', 'identity': PER_PROBE},
    }
    the_plan = A.plan(probes('t:sched:sched_switch'), caps('6.1', drop=['raw_tracepoints']))
    assert the_plan.summary() == {'tracepoint': {'mechanism': 'perf_event', 'identity': COOKIE}}


def test_empty_plan():
    the_plan = A.plan([], caps('6.12'))
    assert the_plan.summary() == {}
    assert the_plan.by_probe == {}


def test_capabilities_are_asked_only_for_the_groups_present():
    fake = caps('6.12')
    A.plan(probes('t:sched:sched_switch'), fake)
    assert fake.asked == {'raw_tracepoints', 'attach_cookies', 'raw_tracepoint_cookies'}


# --- syscall folding ----------------------------------------------------------

@pytest.mark.parametrize('specs,attach,expected_by_probe,summary', [
    # one known syscall event: a perf event is cheaper than raw_syscalls
    (('s:enter:0:read',), None, {'t:syscalls:sys_enter_read': ('perf_event', COOKIE)},
     {'mechanism': 'perf_event', 'identity': COOKIE}),
    # FOLD_MIN of them: folded
    (('s:enter:0:read', 's:enter:1:write'), None,
     {'t:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
      't:syscalls:sys_enter_write': ('raw_syscalls', SYSCALL_ID)},
     {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}),
    # unknown numbers do not count towards FOLD_MIN
    (('s:enter:0:read', 's:enter:?:a', 's:exit:?:a'), None,
     {'t:syscalls:sys_enter_read': ('perf_event', COOKIE), 't:syscalls:sys_enter_a': ('perf_event', COOKIE),
      't:syscalls:sys_exit_a': ('perf_event', COOKIE)},
     {'mechanism': 'perf_event', 'identity': COOKIE}),
    # forced raw_syscalls folds even one
    (('s:enter:0:read',), {'syscall': 'raw_syscalls'}, {'t:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID)},
     {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}),
    # ... but cannot fold an event without a number
    (('s:enter:0:read', 's:enter:?:a'), {'syscall': 'raw_syscalls'},
     {'t:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID), 't:syscalls:sys_enter_a': ('perf_event', COOKIE)},
     {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}),
    (('s:enter:?:a',), {'syscall': 'raw_syscalls'}, {'t:syscalls:sys_enter_a': ('perf_event', COOKIE)},
     {'mechanism': 'perf_event', 'identity': COOKIE}),
    # forced perf_event never folds
    (('s:enter:0:read', 's:exit:0:read', 's:enter:1:write'), {'syscall': 'perf_event'},
     {'t:syscalls:sys_enter_read': ('perf_event', COOKIE), 't:syscalls:sys_exit_read': ('perf_event', COOKIE),
      't:syscalls:sys_enter_write': ('perf_event', COOKIE)},
     {'mechanism': 'perf_event', 'identity': COOKIE}),
    (('s:enter:0:read', 's:exit:0:read'), {'syscall': 'auto'},
     {'t:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
      't:syscalls:sys_exit_read': ('raw_syscalls', SYSCALL_ID)},
     {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}),
    (('s:enter:0:read', 's:exit:0:read'), {'syscall': None},
     {'t:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
      't:syscalls:sys_exit_read': ('raw_syscalls', SYSCALL_ID)},
     {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}),
])
def test_syscall_folding(specs, attach, expected_by_probe, summary):
    assert A.FOLD_MIN == 2
    members = probes(*specs)
    the_plan = A.plan(members, caps('6.12'), attach)
    assert by_probe(the_plan, members) == expected_by_probe
    assert the_plan.summary() == {'syscall': summary}


def test_syscall_and_other_tracepoints_are_separate_groups():
    members = probes('t:sched:sched_switch', 's:enter:0:read', 's:exit:0:read')
    the_plan = A.plan(members, caps('6.12'), {'tracepoint': 'perf_event'})
    assert by_probe(the_plan, members) == {
        't:sched:sched_switch': ('perf_event', COOKIE),
        't:syscalls:sys_enter_read': ('raw_syscalls', SYSCALL_ID),
        't:syscalls:sys_exit_read': ('raw_syscalls', SYSCALL_ID),
    }


# --- forced tiers -------------------------------------------------------------

@pytest.mark.parametrize('kernel,specs,attach,summary', [
    ('6.12', ('k:vfs_read',), {'kernel': 'kprobe'}, {'kernel': {'mechanism': 'kprobe', 'identity': COOKIE}}),
    ('6.12', ('k:vfs_read',), {'kernel': 'kprobe_multi'},
     {'kernel': {'mechanism': 'kprobe_multi', 'identity': COOKIE}}),
    ('6.12', ('k:vfs_read',), {'kernel': 'auto'}, {'kernel': {'mechanism': 'kprobe_multi', 'identity': COOKIE}}),
    ('6.12', ('k:vfs_read',), {'kernel': None}, {'kernel': {'mechanism': 'kprobe_multi', 'identity': COOKIE}}),
    ('5.10', ('k:vfs_read',), {'kernel': 'kprobe'}, {'kernel': {'mechanism': 'kprobe', 'identity': PER_PROBE}}),
    ('6.12', ('u:c:malloc',), {'user': 'uprobe'}, {'user': {'mechanism': 'uprobe', 'identity': COOKIE}}),
    ('6.12', ('d:u:c:setjmp',), {'user': 'uprobe'}, {'user': {'mechanism': 'uprobe', 'identity': COOKIE}}),
    ('this', ('u:c:malloc',), {'user': 'uprobe_multi'},
     {'user': {'mechanism': 'uprobe_multi', 'identity': COOKIE}}),
    ('6.12', ('t:sched:sched_switch',), {'tracepoint': 'perf_event'},
     {'tracepoint': {'mechanism': 'perf_event', 'identity': COOKIE}}),
    ('5.10', ('t:sched:sched_switch',), {'tracepoint': 'perf_event'},
     {'tracepoint': {'mechanism': 'perf_event', 'identity': PER_PROBE}}),
    ('6.1', ('t:sched:sched_switch',), {'tracepoint': 'raw_tracepoint'},
     {'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': PER_PROBE}}),
    # a key for a group without probes changes nothing
    ('6.12', ('k:vfs_read',), {'user': 'uprobe', 'tracepoint': 'perf_event'},
     {'kernel': {'mechanism': 'kprobe_multi', 'identity': COOKIE}}),
])
def test_forced_tier(kernel, specs, attach, summary):
    assert A.plan(probes(*specs), caps(kernel), attach).summary() == summary


@pytest.mark.parametrize('kernel,drop,specs,attach,message', [
    ('6.1', (), ('k:vfs_read',), {'kernel': 'kprobe_multi'},
     'attach.kernel is kprobe_multi, but this kernel does not offer it (Operation not supported (ENOTSUP)); set it '
     'to auto.'),
    ('this', (), ('k:vfs_read',), {'kernel': 'kprobe'},
     'attach.kernel is kprobe, but this kernel does not offer it (the kernel has no kprobe PMU '
     '(/sys/bus/event_source/devices/kprobe); it was built without CONFIG_KPROBES); set it to auto.'),
    ('5.10', (), ('u:c:malloc',), {'user': 'uprobe_multi'},
     'attach.user is uprobe_multi, but this kernel does not offer it (Invalid argument (EINVAL)); set it to auto.'),
    ('6.1', (), ('d:u:c:setjmp',), {'user': 'uprobe_multi'},
     'attach.user is uprobe_multi, but this kernel does not offer it (Invalid argument (EINVAL)); set it to auto.'),
    ('5.10', ('uprobes',), ('u:c:malloc',), {'user': 'uprobe'},
     'attach.user is uprobe, but this kernel does not offer it (uprobes: Invalid argument (EINVAL)); set it to '
     'auto.'),
    ('6.12', ('raw_tracepoints',), ('t:sched:sched_switch',), {'tracepoint': 'raw_tracepoint'},
     'attach.tracepoint is raw_tracepoint, but this kernel does not offer it (raw_tracepoints: Invalid argument '
     '(EINVAL)); set it to auto.'),
    ('6.12', ('tracepoints',), ('t:sched:sched_switch',), {'tracepoint': 'perf_event'},
     'attach.tracepoint is perf_event, but this kernel does not offer it (tracepoints: Invalid argument '
     '(EINVAL)); set it to auto.'),
])
def test_forced_tier_error(kernel, drop, specs, attach, message):
    with pytest.raises(FuncCountError) as info:
        A.plan(probes(*specs), caps(kernel, drop=drop), attach)
    assert info.value.msg == message


def test_forced_raw_syscalls_without_raw_tracepoints():
    fake = caps('6.12', drop=['raw_tracepoints'])
    with pytest.raises(FuncCountError) as info:
        A.plan(probes('s:enter:0:read', 's:exit:0:read'), fake, {'syscall': 'raw_syscalls'})
    assert info.value.msg == ('attach.syscall is raw_syscalls, but this kernel does not offer it (raw_tracepoints: '
                              'Invalid argument (EINVAL)); set it to auto.')


def test_syscall_events_without_tracepoints():
    fake = caps('6.12', drop=['raw_tracepoints', 'tracepoints'])
    with pytest.raises(FuncCountError) as info:
        A.plan(probes('s:enter:0:read', 's:exit:0:read'), fake)
    assert info.value.msg == 'this kernel cannot attach to tracepoints (tracepoints: Invalid argument (EINVAL)).'


def test_no_user_probes_at_all_is_unavailable_not_an_error():
    fake = caps('5.10', drop=['uprobes'])
    members = probes('u:c:malloc', 'k:vfs_read')
    the_plan = A.plan(members, fake)
    assert the_plan.summary() == {'kernel': {'mechanism': 'kprobe', 'identity': PER_PROBE}}
    assert the_plan.unavailable == {
        'user': 'this kernel cannot count user functions: uprobe_multi: Invalid argument (EINVAL); uprobe: uprobes: '
                'Invalid argument (EINVAL)'}
    assert by_probe(the_plan, members) == {'c:malloc': None, 'vfs_read': ('kprobe', PER_PROBE)}


# --- cookies ----------------------------------------------------------------------

def test_cookies_never_uses_per_probe_programs_everywhere():
    members = probes(*MIXED)
    the_plan = A.plan(members, caps('6.12'), cookies='never')
    assert the_plan.summary() == {
        'kernel': {'mechanism': 'kprobe', 'identity': PER_PROBE},
        'user': {'mechanism': 'uprobe', 'identity': PER_PROBE},
        'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': PER_PROBE},
        'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID},
    }
    assert by_probe(the_plan, members)['t:syscalls:sys_enter_brand_new'] == ('perf_event', PER_PROBE)


def test_cookies_never_with_forced_perf_tiers():
    members = probes('k:vfs_read', 'u:c:malloc', 't:sched:sched_switch')
    the_plan = A.plan(members, caps('6.12'), {'kernel': 'kprobe', 'user': 'uprobe', 'tracepoint': 'perf_event'},
                      cookies='never')
    assert set(the_plan.by_probe.values()) == {('kprobe', PER_PROBE), ('uprobe', PER_PROBE),
                                               ('perf_event', PER_PROBE)}


@pytest.mark.parametrize('kernel', ['6.12', '6.1', 'this'])
def test_cookies_always_where_the_kernel_has_them(kernel):
    members = probes('u:c:malloc', 's:enter:?:a')
    the_plan = A.plan(members, caps(kernel), cookies='always')
    assert set(identity for _mech, identity in the_plan.by_probe.values()) == {COOKIE}


@pytest.mark.parametrize('kernel,specs,message', [
    ('5.10', ('k:vfs_read',), 'cookies is "always", but this kernel cannot pass attach cookies here (Invalid '
                              'argument (EINVAL)); set cookies to auto.'),
    ('5.10', ('u:c:malloc',), 'cookies is "always", but this kernel cannot pass attach cookies here (Invalid '
                              'argument (EINVAL)); set cookies to auto.'),
    ('5.10', ('s:enter:?:a',), 'cookies is "always", but this kernel cannot pass attach cookies here (Invalid '
                               'argument (EINVAL)); set cookies to auto.'),
    ('5.10', ('t:sched:sched_switch',), 'cookies is "always", but this kernel cannot pass attach cookies here '
                                        '(bpf_get_attach_cookie is not available); set cookies to auto.'),
    ('6.1', ('t:sched:sched_switch',), 'cookies is "always", but this kernel cannot pass attach cookies here '
                                       '(Invalid argument (EINVAL)); set cookies to auto.'),
])
def test_cookies_always_where_the_kernel_has_none(kernel, specs, message):
    with pytest.raises(FuncCountError) as info:
        A.plan(probes(*specs), caps(kernel), cookies='always')
    assert info.value.msg == message


def test_cookies_always_names_attach_cookies_when_only_the_helper_is_missing():
    fake = caps('6.12', drop=['attach_cookies'])
    fake._reasons['attach_cookies'] = 'Invalid argument (EINVAL)'
    with pytest.raises(FuncCountError) as info:
        A.plan(probes('k:vfs_read'), fake, {'kernel': 'kprobe'}, cookies='always')
    assert info.value.msg == ('cookies is "always", but this kernel cannot pass attach cookies here (Invalid '
                              'argument (EINVAL)); set cookies to auto.')


def test_syscall_folding_ignores_cookies():
    members = probes('s:enter:0:read', 's:exit:0:read')
    for cookies in A.COOKIE_CHOICES:
        assert A.plan(members, caps('5.10'), cookies=cookies).summary() == {
            'syscall': {'mechanism': 'raw_syscalls', 'identity': SYSCALL_ID}}


# --- conflicts and reasons ------------------------------------------------------------

def test_tracepoints_unavailable_under_auto_names_both_mechanisms():
    fake = caps('6.12', drop=['raw_tracepoints', 'tracepoints'])
    with pytest.raises(FuncCountError) as info:
        A.plan(probes('t:sched:sched_switch'), fake)
    assert info.value.msg == ('this kernel cannot attach to tracepoints: raw_tracepoint: raw_tracepoints: Invalid '
                              'argument (EINVAL); perf_event: tracepoints: Invalid argument (EINVAL).')


@pytest.mark.parametrize('specs,attach,message', [
    (('k:vfs_read',), {'kernel': 'kprobe_multi'},
     'attach.kernel is kprobe_multi, which tells probes apart only by attach cookie, but cookies is never; set '
     'attach.kernel to auto or to a per-probe mechanism, or cookies to auto.'),
    (('u:c:malloc',), {'user': 'uprobe_multi'},
     'attach.user is uprobe_multi, which tells probes apart only by attach cookie, but cookies is never; set '
     'attach.user to auto or to a per-probe mechanism, or cookies to auto.'),
])
def test_cookies_never_conflicts_with_forced_multi_links(specs, attach, message):
    with pytest.raises(FuncCountError) as info:
        A.plan(probes(*specs), caps('6.12'), attach, cookies='never')
    assert info.value.msg == message


def test_forced_multi_link_the_kernel_lacks_is_reported_before_the_cookie_conflict():
    with pytest.raises(FuncCountError) as info:
        A.plan(probes('k:vfs_read'), caps('6.1'), {'kernel': 'kprobe_multi'}, cookies='never')
    assert info.value.msg == ('attach.kernel is kprobe_multi, but this kernel does not offer it (Operation not '
                              'supported (ENOTSUP)); set it to auto.')


def test_unavailable_reason_when_cookies_never_excludes_kprobe_multi():
    fake = caps('this', add=['kprobe_multi'])
    the_plan = A.plan(probes('k:vfs_read'), fake, cookies='never')
    assert the_plan.unavailable == {
        'kernel': 'this kernel cannot count kernel functions: kprobe_multi: not used with cookies: never; kprobe: '
                  'the kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was built without '
                  'CONFIG_KPROBES; fentry: Operation not permitted (EPERM)'}
