# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Choosing an attach mechanism per probe type, attaching, and detaching.

Tiers, fastest first:

    kernel functions  kprobe_multi (one link)      > kprobe (one perf event each)
    user functions    uprobe_multi (one link/file) > uprobe (one perf event each)
    USDT              as user functions; semaphores through ref_ctr_offset
    tracepoints       raw_tracepoint (one link each, detaches in one step) > perf_event
    syscall events    raw_syscalls (two programs for all, keyed by syscall id) > perf_event

A probe is told apart by its attach cookie where the mechanism has one;
otherwise the one compiled program is loaded once per probe with the probe's
index patched into its code ("program per probe").  Either way there is
one compiled program whatever the probe count.
"""

from __future__ import annotations

import os
import struct
import threading

from ansible_collections.ebpf.bcc.plugins.module_utils import _bpfsys as bpfsys
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils._capabilities import describe
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

KERNEL, USER, TRACEPOINT, SYSCALL = 'kernel', 'user', 'tracepoint', 'syscall'
GROUPS = (KERNEL, USER, TRACEPOINT, SYSCALL)
CHOICES = {
    KERNEL: ('auto', 'kprobe_multi', 'kprobe'),
    USER: ('auto', 'uprobe_multi', 'uprobe'),
    TRACEPOINT: ('auto', 'raw_tracepoint', 'perf_event'),
    SYSCALL: ('auto', 'raw_syscalls', 'perf_event'),
}
COOKIE_CHOICES = ('auto', 'always', 'never')
COOKIE, PER_PROBE, SYSCALL_ID = 'cookie', 'program per probe', 'syscall id'

# From this many syscall trace events on, one raw_syscalls program is cheaper
# to set up and tear down than one perf event each.
FOLD_MIN = 2
# perf events close in parallel: each close waits for an RCU grace period
CLOSE_THREADS = 32

# which capability each mechanism needs
NEEDS = {
    'kprobe_multi': 'kprobe_multi',
    'kprobe': 'kprobes',
    'uprobe_multi': 'uprobe_multi',
    'uprobe': 'uprobes',
    'raw_tracepoint': 'raw_tracepoints',
    'perf_event': 'tracepoints',
    'raw_syscalls': 'raw_tracepoints',
}


SHORT_NAMES = {'on_cookie': 'c', 'on_index': 'i', 'on_sys_enter': 'se', 'on_sys_exit': 'sx'}


def program_name(function):
    """fc<pid>_<function>: bpftool shows which process loaded a program, so a leak would be plain to see."""
    return ('fc%d_%s' % (os.getpid(), SHORT_NAMES[function])).encode()[:15]


def group_of(probe):
    if probe.kind == P.KERNEL:
        return KERNEL
    if probe.kind in (P.USER, P.USDT):
        return USER
    if probe.syscall is not None:
        return SYSCALL
    return TRACEPOINT


class Plan(object):
    """Mechanism and identity per group, and the probes no mechanism can take."""

    def __init__(self):
        self.mechanism = {}     # group -> mechanism
        self.identity = {}      # group -> COOKIE | PER_PROBE | SYSCALL_ID
        self.unavailable = {}   # group -> sentence naming each mechanism tried and why it failed
        self.by_probe = {}      # probe index -> (mechanism, identity)

    def summary(self):
        return {group: {'mechanism': self.mechanism[group], 'identity': self.identity[group]}
                for group in GROUPS if group in self.mechanism}


def _cookie_identity(caps, cookies, needs_link):
    """Cookie or per-probe identity for a per-probe mechanism."""
    has = caps.available('attach_cookies') and (not needs_link or caps.available(needs_link))
    if cookies == 'never':
        return PER_PROBE
    if cookies == 'always' and not has:
        raise FuncCountError('cookies is "always", but this kernel cannot pass attach cookies here (%s); set '
                             'cookies to auto.' % (caps.reason(needs_link) if needs_link and not
                                                   caps.available(needs_link) else caps.reason('attach_cookies')))
    return COOKIE if has else PER_PROBE


def _forced(group, choice, caps):
    need = NEEDS[choice]
    if not caps.available(need):
        raise FuncCountError('attach.%s is %s, but this kernel does not offer it (%s); set it to auto.'
                             % (group, choice, caps.reason(need)))
    return choice


def _no_cookie_conflict(group, choice, cookies):
    if cookies == 'never':
        raise FuncCountError('attach.%s is %s, which tells probes apart only by attach cookie, but cookies is never; '
                             'set attach.%s to auto or to a per-probe mechanism, or cookies to auto.'
                             % (group, choice, group))


def plan(probes, caps, attach=None, cookies='auto'):
    """Decide how each probe attaches.  ``caps`` is a Capabilities."""
    attach = dict(attach or {})
    result = Plan()
    groups = {}
    for probe in probes:
        groups.setdefault(group_of(probe), []).append(probe)

    def assign(group, members, mechanism, identity):
        result.mechanism[group] = mechanism
        result.identity[group] = identity
        for probe in members:
            result.by_probe[probe.index] = (mechanism, identity)
            probe.mechanism = mechanism

    if KERNEL in groups:
        choice = attach.get(KERNEL) or 'auto'
        members = groups[KERNEL]
        if choice == 'auto':
            if caps.available('kprobe_multi') and cookies != 'never':
                assign(KERNEL, members, 'kprobe_multi', COOKIE)
            elif caps.available('kprobes'):
                assign(KERNEL, members, 'kprobe', _cookie_identity(caps, cookies, 'perf_link'))
            else:
                multi = ('not used with cookies: never' if cookies == 'never' and caps.available('kprobe_multi')
                         else caps.reason('kprobe_multi'))
                result.unavailable[KERNEL] = (
                    'this kernel cannot count kernel functions: kprobe_multi: %s; kprobe: %s; fentry: %s'
                    % (multi, caps.reason('kprobes'), caps.reason('fentry')))
        elif _forced(KERNEL, choice, caps) == 'kprobe_multi':
            _no_cookie_conflict(KERNEL, choice, cookies)
            assign(KERNEL, members, choice, COOKIE)
        else:
            assign(KERNEL, members, choice, _cookie_identity(caps, cookies, 'perf_link'))

    if USER in groups:
        choice = attach.get(USER) or 'auto'
        members = groups[USER]
        if choice == 'auto':
            if caps.available('uprobe_multi') and cookies != 'never':
                assign(USER, members, 'uprobe_multi', COOKIE)
            elif caps.available('uprobes'):
                assign(USER, members, 'uprobe', _cookie_identity(caps, cookies, 'perf_link'))
            else:
                result.unavailable[USER] = ('this kernel cannot count user functions: uprobe_multi: %s; uprobe: %s'
                                            % (caps.reason('uprobe_multi'), caps.reason('uprobes')))
        elif _forced(USER, choice, caps) == 'uprobe_multi':
            _no_cookie_conflict(USER, choice, cookies)
            assign(USER, members, choice, COOKIE)
        else:
            assign(USER, members, choice, _cookie_identity(caps, cookies, 'perf_link'))

    tracepoints = list(groups.get(TRACEPOINT, []))
    if SYSCALL in groups:
        choice = attach.get(SYSCALL) or 'auto'
        known = [p for p in groups[SYSCALL] if p.syscall[1] is not None]
        fold = []
        if choice == 'raw_syscalls':
            _forced(SYSCALL, choice, caps)
            fold = known
        elif choice == 'auto' and caps.available('raw_tracepoints') and len(known) >= FOLD_MIN:
            fold = known
        if fold:
            assign(SYSCALL, fold, 'raw_syscalls', SYSCALL_ID)
        rest = [p for p in groups[SYSCALL] if p not in fold]
        if rest:
            # syscall trace events are no raw tracepoints: one perf event each
            if not caps.available('tracepoints'):
                raise FuncCountError('this kernel cannot attach to tracepoints (%s).' % caps.reason('tracepoints'))
            identity = _cookie_identity(caps, cookies, 'perf_link')
            for probe in rest:
                result.by_probe[probe.index] = ('perf_event', identity)
                probe.mechanism = 'perf_event'
            if not fold:
                result.mechanism[SYSCALL] = 'perf_event'
                result.identity[SYSCALL] = identity

    if tracepoints:
        choice = attach.get(TRACEPOINT) or 'auto'
        if choice == 'auto':
            if caps.available('raw_tracepoints'):
                choice = 'raw_tracepoint'
            elif caps.available('tracepoints'):
                choice = 'perf_event'
            else:
                raise FuncCountError('this kernel cannot attach to tracepoints: raw_tracepoint: %s; perf_event: %s.'
                                     % (caps.reason('raw_tracepoints'), caps.reason('tracepoints')))
        _forced(TRACEPOINT, choice, caps)
        if choice == 'raw_tracepoint':
            identity = _cookie_identity(caps, cookies, 'raw_tracepoint_cookies')
        else:
            identity = _cookie_identity(caps, cookies, 'perf_link')
        assign(TRACEPOINT, tracepoints, choice, identity)
    return result


class Attacher(object):
    """Owns every fd of a run; ``close`` detaches all of them."""

    def __init__(self, compiled, pid=None, ftrace_functions=None, caps=None):
        self.compiled = compiled
        self.pid = pid
        self.ftrace_functions = ftrace_functions
        self.caps = caps
        self.links = []        # fds whose close detaches in one step
        self.perf_fds = []     # perf events: slow to close
        self.progs = {}        # (function, prog type, expected attach type) -> fd
        self.clones = {}       # (prog type, index) -> fd
        self.fallbacks = []    # (probe key, from, to, reason)
        insns = compiled.insns['on_index']
        self._magic_slots = [i for i in range(0, len(insns), 8)
                             if struct.unpack_from('<i', insns, i + 4)[0] == compiled.index_magic]
        if not self._magic_slots:
            raise RuntimeError('the counting program carries no index slot to patch')

    # -- programs ------------------------------------------------------------

    def program(self, function, prog_type, expected=bpfsys.ATTACH_NONE):
        key = (function, prog_type, expected)
        if key not in self.progs:
            self.progs[key] = bpfsys.prog_load(prog_type, self.compiled.insns[function], expected,
                                               name=program_name(function))
        return self.progs[key]

    def clone(self, prog_type, index):
        key = (prog_type, index)
        if key not in self.clones:
            insns = bytearray(self.compiled.insns['on_index'])
            for slot in self._magic_slots:
                struct.pack_into('<i', insns, slot + 4, index)
            self.clones[key] = bpfsys.prog_load(prog_type, bytes(insns), name=program_name('on_index'))
        return self.clones[key]

    # -- attach --------------------------------------------------------------

    def attach(self, probes, the_plan, on_group=None):
        """Attach every planned probe; returns [{probe, reason}] for those that failed."""
        failed = []
        by_mech = {}
        for probe in probes:
            if probe.index in the_plan.by_probe:
                mech, identity = the_plan.by_probe[probe.index]
                by_mech.setdefault((mech, identity), []).append(probe)
            else:
                reason = the_plan.unavailable.get(group_of(probe), 'no attach mechanism')
                failed.append({'probe': probe.key, 'reason': reason})
        for (mech, identity), members in sorted(by_mech.items()):
            failed.extend(getattr(self, '_attach_' + mech)(members, identity))
            if on_group:
                on_group(mech)
        return failed

    def _attach_kprobe_multi(self, probes, _identity):
        failed = []
        multi, single = probes, []
        if self.ftrace_functions is not None:
            # kprobe_multi rides on ftrace: what ftrace cannot trace goes through a kprobe each
            multi = [p for p in probes if p.symbol in self.ftrace_functions]
            single = [p for p in probes if p.symbol not in self.ftrace_functions]
        if multi:
            prog = self.program('on_cookie', bpfsys.PROG_KPROBE, bpfsys.ATTACH_KPROBE_MULTI)
            failed.extend(self._link_all_or_each(multi, lambda group: bpfsys.link_kprobe_multi(
                prog, [p.symbol.encode() for p in group], [p.index for p in group])))
        if single:
            identity = COOKIE if self.caps is None or self.caps.available('kprobe_cookies') else PER_PROBE
            for probe in single:
                probe.mechanism = 'kprobe'
                self.fallbacks.append((probe.key, 'kprobe_multi', 'kprobe',
                                       'not in available_filter_functions, so ftrace cannot attach to it'))
            failed.extend(self._attach_kprobe(single, identity))
        return failed

    def _attach_uprobe_multi(self, probes, _identity):
        prog = self.program('on_cookie', bpfsys.PROG_KPROBE, bpfsys.ATTACH_UPROBE_MULTI)
        failed = []
        by_path = {}
        for probe in probes:
            by_path.setdefault(probe.path, []).append(probe)
        for path, group in sorted(by_path.items()):
            def link(members, path=path):
                offsets, refs, cookies = [], [], []
                for probe in members:
                    for offset, ref in probe.locations:
                        offsets.append(offset)
                        refs.append(ref)
                        cookies.append(probe.index)
                return bpfsys.link_uprobe_multi(prog, path.encode('utf-8', 'surrogateescape'), offsets, refs,
                                                cookies, pid=self.pid or 0)
            failed.extend(self._link_all_or_each(group, link))
        return failed

    def _link_all_or_each(self, probes, make_link):
        """One link for all; when the kernel refuses it, one link per probe, to find and skip
        the probes it refuses.  (A refused link costs an RCU grace period to unwind, about
        50-100 ms, while an accepted one costs well under a millisecond, so trying each
        probe once is cheaper than bisecting.)"""
        try:
            self.links.append(make_link(probes))
            return []
        except OSError as exc:
            if len(probes) == 1:
                return [{'probe': probes[0].key, 'reason': 'the kernel refused to attach: %s' % describe(exc)}]
        failed = []
        for probe in probes:
            try:
                self.links.append(make_link([probe]))
            except OSError as exc:
                failed.append({'probe': probe.key, 'reason': 'the kernel refused to attach: %s' % describe(exc)})
        return failed

    def _per_probe(self, probes, identity, prog_type, open_event):
        """Perf-event mechanisms: one event per probe (per location)."""
        failed = []
        prog = self.program('on_cookie', prog_type) if identity == COOKIE else None
        for probe in probes:
            opened = []
            try:
                for event in open_event(probe):
                    opened.append(event)
                    if identity == COOKIE:
                        self.links.append(bpfsys.link_perf_event(prog, event, probe.index))
                    else:
                        bpfsys.perf_set_bpf(event, self.clone(prog_type, probe.index))
                    bpfsys.perf_enable(event)
            except OSError as exc:
                failed.append({'probe': probe.key, 'reason': 'the kernel refused to attach: %s' % describe(exc)})
            self.perf_fds.extend(opened)
        return failed

    def _attach_kprobe(self, probes, identity):
        pmu = bpfsys.pmu_type('kprobe')
        return self._per_probe(probes, identity, bpfsys.PROG_KPROBE,
                               lambda p: [bpfsys.perf_probe(pmu, p.symbol.encode(), 0)])

    def _attach_uprobe(self, probes, identity):
        pmu = bpfsys.pmu_type('uprobe')

        def events(probe):
            for offset, ref in probe.locations:
                yield bpfsys.perf_probe(pmu, probe.path.encode('utf-8', 'surrogateescape'), offset,
                                        pid=self.pid or -1, ref_ctr_offset=ref)
        return self._per_probe(probes, identity, bpfsys.PROG_KPROBE, events)

    def _attach_perf_event(self, probes, identity):
        return self._per_probe(probes, identity, bpfsys.PROG_TRACEPOINT,
                               lambda p: [bpfsys.perf_tracepoint(p.tp_id)])

    def _attach_raw_tracepoint(self, probes, identity):
        failed = []
        retry = []
        for probe in probes:
            try:
                if identity == COOKIE:
                    prog = self.program('on_cookie', bpfsys.PROG_RAW_TRACEPOINT)
                    self.links.append(bpfsys.raw_tracepoint_open(probe.event.encode(), prog, cookie=probe.index))
                else:
                    prog = self.clone(bpfsys.PROG_RAW_TRACEPOINT, probe.index)
                    self.links.append(bpfsys.raw_tracepoint_open(probe.event.encode(), prog))
            except OSError as exc:
                # some trace events are no raw tracepoints: count them through perf
                retry.append(probe)
                self.fallbacks.append((probe.key, 'raw_tracepoint', 'perf_event', describe(exc)))
        if retry:
            perf_identity = identity if identity == PER_PROBE else COOKIE
            try:
                failed.extend(self._attach_perf_event(retry, perf_identity))
            except OSError as exc:
                failed.extend({'probe': p.key, 'reason': describe(exc)} for p in retry)
            for probe in retry:
                probe.mechanism = 'perf_event'
        return failed

    def _attach_raw_syscalls(self, probes, _identity):
        maps = self.compiled.map_fds
        for direction in ('enter', 'exit'):
            members = [p for p in probes if p.syscall[0] == direction]
            if not members:
                continue
            for probe in members:
                bpfsys.map_update(maps['sys_%s_index' % direction], struct.pack('<I', probe.syscall[1]),
                                  struct.pack('<I', probe.index + 1))
            prog = self.program('on_sys_%s' % direction, bpfsys.PROG_RAW_TRACEPOINT)
            self.links.append(bpfsys.raw_tracepoint_open(('sys_%s' % direction).encode(), prog))
        return []

    # -- detach --------------------------------------------------------------

    def close(self):
        for fd in self.links:
            bpfsys.close(fd)
        self.links = []
        perf = self.perf_fds
        self.perf_fds = []
        if len(perf) > 1:
            threads = []
            chunks = [perf[i::CLOSE_THREADS] for i in range(min(CLOSE_THREADS, len(perf)))]
            for chunk in chunks:
                thread = threading.Thread(target=lambda c=chunk: [bpfsys.close(fd) for fd in c])
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
        else:
            for fd in perf:
                bpfsys.close(fd)
        for fd in list(self.progs.values()) + list(self.clones.values()):
            bpfsys.close(fd)
        self.progs = {}
        self.clones = {}
