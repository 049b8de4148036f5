# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The counting engine: options in, a result dictionary out.

    validate -> resolve -> plan -> (check mode stops here)
    compile -> attach -> arm -> count for the window -> disarm -> read -> detach

Counting is switched on and off by a flag in a map, so the window is exactly
the time between the two flips and nothing of set-up or teardown is counted.
Whatever happens, everything attached is detached before returning.
"""

from __future__ import annotations

import datetime
import math
import os
import struct
import time

from ansible_collections.ebpf.bcc.plugins.module_utils import _attach
from ansible_collections.ebpf.bcc.plugins.module_utils import _bpfsys as bpfsys
from ansible_collections.ebpf.bcc.plugins.module_utils import _host
from ansible_collections.ebpf.bcc.plugins.module_utils import _leftovers
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils import _resolve
from ansible_collections.ebpf.bcc.plugins.module_utils import _result
from ansible_collections.ebpf.bcc.plugins.module_utils._capabilities import Capabilities
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

MISSING_CHOICES = ('warn', 'error', 'ignore')
DEFAULTS = {
    'regexp': False, 'duration': 10.0, 'interval': None, 'pid': None, 'cpu': None, 'max_probes': 1000,
    'missing': 'warn', 'include_zero': False, 'attach': None, 'cookies': 'auto', 'start_at': None,
    'overhead_limit': 5.0, 'group_by': 'none',
}
# Kept apart from DEFAULTS: only fleet workflows pass it, together with start_at.
START_AT_DEFAULTS = {'start_at_lead': None}
GROUP_BY = {'none': 0, 'pid': 1, 'comm': 2, 'cgroup': 3}
MAX_DURATION = 7 * 24 * 3600.0
MIN_INTERVAL = 0.01
# The overhead guard looks at the hit rate this often.
GUARD_PERIOD = 0.25
# ... and weighs the cost so far over at least this many seconds.
GUARD_MIN_SPAN = 1.0
# Per-event cost of each mechanism in nanoseconds, measured on the project's
# machines (../shared/notes/bpf-facts.md; bench/): a uprobe hit is a trap,
# the rest run in the kernel's own context.
COSTS_NS = {
    'uprobe_multi': 5000, 'uprobe': 5000, 'kprobe_multi': 150, 'kprobe': 300,
    'raw_tracepoint': 100, 'perf_event': 250, 'raw_syscalls': 100,
}
DEFAULT_COST_NS = 5000
# how late a window may start before start_at counts as missed
START_AT_TOLERANCE = 0.05
# how much further away than start_at_lead start_at may be (the controller rounds start_at up to a whole
# second, and clocks a few seconds apart are tolerated) before this host's clock counts as behind
START_AT_LEAD_TOLERANCE = 5.0


class Options(object):
    def __init__(self, patterns, **kwargs):
        unknown = set(kwargs) - set(DEFAULTS) - set(START_AT_DEFAULTS)
        if unknown:
            raise TypeError('unknown options: %s' % ', '.join(sorted(unknown)))
        values = dict(DEFAULTS, **START_AT_DEFAULTS)
        values.update((k, v) for k, v in kwargs.items() if v is not None)
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = list(patterns or [])
        for name, value in values.items():
            setattr(self, name, value)


def validate(opts):
    """Check options that do not need the host; raises FuncCountError."""
    if not opts.patterns:
        raise FuncCountError('No pattern was given; set patterns to at least one function, t:category:event or '
                             'u:library:probe.')
    for name, what in (('duration', 'a number of seconds'), ('interval', 'a number of seconds'),
                       ('overhead_limit', 'a percentage of one CPU, 0 to turn the guard off')):
        value = getattr(opts, name)
        if value is not None and not _number(value):
            raise FuncCountError('%s must be %s, not %r.' % (name, what, value))
    if not 0 < opts.duration <= MAX_DURATION:
        raise FuncCountError('duration must be more than 0 and at most %d seconds (7 days), not %s.'
                             % (MAX_DURATION, opts.duration))
    if opts.interval is not None:
        if not MIN_INTERVAL <= opts.interval <= opts.duration:
            raise FuncCountError('interval must be between %s seconds and the duration (%s s), not %s.'
                                 % (MIN_INTERVAL, opts.duration, opts.interval))
        if opts.duration / opts.interval > 100000:
            raise FuncCountError('duration / interval gives more than 100000 intervals; use a longer interval.')
    if not isinstance(opts.group_by, str) or opts.group_by not in GROUP_BY:
        raise FuncCountError('group_by must be one of %s, not %r.' % (', '.join(GROUP_BY), opts.group_by))
    if opts.overhead_limit < 0:
        raise FuncCountError('overhead_limit must be a percentage of one CPU, 0 to turn the guard off, not %s.'
                             % opts.overhead_limit)
    if not _whole_number(opts.max_probes) or opts.max_probes < 1:
        raise FuncCountError('max_probes must be a positive whole number, not %r.' % (opts.max_probes,))
    if opts.missing not in MISSING_CHOICES:
        raise FuncCountError('missing must be one of %s, not %r.' % (', '.join(MISSING_CHOICES), opts.missing))
    if opts.cookies not in _attach.COOKIE_CHOICES:
        raise FuncCountError('cookies must be one of %s, not %r.' % (', '.join(_attach.COOKIE_CHOICES), opts.cookies))
    if opts.attach is not None and not isinstance(opts.attach, dict):
        raise FuncCountError('attach must be a mapping of probe type (%s) to mechanism, not %r.'
                             % (', '.join(_attach.GROUPS), opts.attach))
    for group, choice in (opts.attach or {}).items():
        if group not in _attach.CHOICES:
            raise FuncCountError('attach has no key %r; use %s.' % (group, ', '.join(_attach.GROUPS)))
        if choice is not None and choice not in _attach.CHOICES[group]:
            raise FuncCountError('attach.%s must be one of %s, not %r.'
                                 % (group, ', '.join(_attach.CHOICES[group]), choice))
    if opts.start_at is not None:
        opts.start_at_epoch = parse_start_at(opts.start_at)
    if opts.start_at_lead is not None:
        if not _finite_number(opts.start_at_lead):
            raise FuncCountError('start_at_lead must be a number of seconds, not %r.' % (opts.start_at_lead,))
        if opts.start_at is None:
            raise FuncCountError('start_at_lead is the lead start_at was planned with; set start_at too, or drop '
                                 'start_at_lead.')
    if opts.pid is not None:
        if isinstance(opts.pid, bool) or not isinstance(opts.pid, int) or opts.pid <= 0:
            raise FuncCountError('pid must be a positive process id, not %r.' % (opts.pid,))
    if opts.cpu is not None:
        if isinstance(opts.cpu, bool) or not isinstance(opts.cpu, int) or opts.cpu < 0:
            raise FuncCountError('cpu must be a CPU number from 0, not %r.' % (opts.cpu,))
    try:
        return P.parse_all(opts.patterns, opts.regexp)
    except P.PatternError as exc:
        raise FuncCountError(str(exc))


def _number(value):
    """An int or float that is not a bool and not NaN (infinities and huge ints are left to range checks)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _finite_number(value):
    """A number that is finite as a float."""
    if not _number(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _whole_number(value):
    if isinstance(value, float):
        return _finite_number(value) and value.is_integer()
    return _number(value)


def parse_start_at(value):
    """A UTC instant as epoch seconds, from ISO 8601 text (Z or an offset) or a number of epoch seconds."""
    epoch = None
    if _finite_number(value):
        epoch = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            epoch = float(text)
        except ValueError:
            if text.endswith(('Z', 'z')):
                text = text[:-1] + '+00:00'
            if ' ' in text and 'T' not in text:
                text = text.replace(' ', 'T', 1)
            try:
                moment = datetime.datetime.fromisoformat(text)
            except ValueError:
                moment = None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=datetime.timezone.utc)
                epoch = moment.timestamp()
    if epoch is None or not math.isfinite(epoch) or not 0 <= epoch < 253402300800:  # year 10000
        raise FuncCountError('start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch '
                             'seconds, not %r.' % (value,))
    return epoch


def check_clock(opts, now):
    """Fail at once when start_at is further away than it was planned to be (start_at_lead): then this host's
    clock is behind the controller's, and waiting for start_at would outlast the run's time limit."""
    target = getattr(opts, 'start_at_epoch', None)
    lead = opts.start_at_lead
    if target is None or lead is None:
        return
    away = target - now
    if away > float(lead) + START_AT_LEAD_TOLERANCE:
        behind = away - float(lead)
        raise FuncCountError(
            'start_at %s is %.1f s away by this host\'s clock (%s), but it was planned %s s ahead: this host\'s '
            'clock seems to be %.0f s behind the controller\'s. Nothing was attached; check the clocks of the '
            'controller and this host (NTP).'
            % (_result.iso(target), away, _result.iso(now), _format_number(float(lead)), behind),
            behind_seconds=round(behind, 3))


def check_host(opts, patterns):
    """Check what the host must offer before anything is loaded."""
    if os.geteuid() != 0:
        raise FuncCountError('Counting needs root (BPF programs are loaded into the kernel); run the task with '
                             'become: true.')
    if opts.pid is not None:
        if not _host.pid_exists(opts.pid):
            raise FuncCountError('No process has pid %d; give the pid of a running process.' % opts.pid)
        tgid = _tgid_of(opts.pid)
        if tgid is not None and tgid != opts.pid:
            raise FuncCountError('pid %d is a thread of process %d; give the process id %d.'
                                 % (opts.pid, tgid, tgid))
    if opts.cpu is not None and opts.cpu not in _host.online_cpus():
        raise FuncCountError('cpu %d is not an online CPU of this host (online: %s); give one of those.'
                             % (opts.cpu, _format_cpus(_host.online_cpus())))
    if any(p.kind == P.TRACEPOINT for p in patterns):
        try:
            _host.require_tracefs()
        except _host.HostError as exc:
            raise FuncCountError(str(exc))


def _tgid_of(pid):
    try:
        with open('/proc/%d/status' % pid) as handle:
            for line in handle:
                if line.startswith('Tgid:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _format_cpus(cpus):
    cpus = sorted(cpus)
    return '%d-%d' % (cpus[0], cpus[-1]) if cpus == list(range(cpus[0], cpus[-1] + 1)) else ','.join(map(str, cpus))


class Engine(object):
    """One counting run.  ``bcc`` is the _bcc module (or a stand-in in unit tests)."""

    def __init__(self, opts, bcc, host=None, caps=None, clock=time, on_armed=None, on_stage=None):
        self.opts = opts
        self.bcc = bcc
        self.host = host or _resolve.HostView(pid=opts.pid)
        self.caps = caps or Capabilities()
        self.clock = clock
        self.on_armed = on_armed
        self.on_stage = on_stage or (lambda stage: None)

    def prepare(self):
        patterns = validate(self.opts)
        check_host(self.opts, patterns)
        probes, skipped = _resolve.resolve(patterns, self.host, int(self.opts.max_probes),
                                           skip_no_match=self.opts.missing == 'ignore')
        the_plan = _attach.plan(probes, self.caps, self.opts.attach, self.opts.cookies)
        return probes, skipped, the_plan

    def check(self):
        """Check mode: resolve and plan, attach nothing."""
        probes, skipped, the_plan = self.prepare()
        return _result.planned(self.opts, probes, skipped, the_plan, self._engine_facts(the_plan))

    def run(self):
        t0 = self.clock.monotonic()
        probes, skipped, the_plan = self.prepare()
        check_clock(self.opts, time.time())
        # legacy trace events that bcc tools killed earlier left behind (this engine makes none)
        leftovers = _leftovers.remove_orphans(_host.tracefs())
        self.on_stage('resolved')
        compiled = None
        attacher = None
        try:
            try:
                compiled = self.bcc.compile_program(len(probes))
            except self.bcc.CompileError as exc:
                raise FuncCountError(str(exc))
            self.on_stage('compiled')
            ftrace = self.host.ftrace_functions() if any(p.kind == P.KERNEL for p in probes) else None
            attacher = _attach.Attacher(compiled, pid=self.opts.pid, ftrace_functions=ftrace, caps=self.caps)
            failed = attacher.attach(probes, the_plan, on_group=lambda mech: self.on_stage('attaching ' + mech))
            failed_keys = set(f['probe'] for f in failed)
            attached = [p for p in probes if p.key not in failed_keys]
            skipped = skipped + failed
            self._apply_missing(failed, attached, the_plan)
            self._configure(compiled)
            self.on_stage('attached')
            setup_seconds = self.clock.monotonic() - t0
            window = self._count(compiled, attached)
        finally:
            t1 = self.clock.monotonic()
            try:
                self.on_stage('detaching')
            finally:
                if attacher is not None:
                    attacher.close()
                if compiled is not None:
                    compiled.close()
            teardown_seconds = self.clock.monotonic() - t1
        facts = self._engine_facts(the_plan, compiled, attacher)
        facts['overhead_percent'] = window.overhead_percent
        facts['setup_seconds'] = round(setup_seconds, 4)
        facts['teardown_seconds'] = round(teardown_seconds, 4)
        facts['leftovers'] = leftovers
        return _result.counted(self.opts, attached, skipped, window, facts)

    def _apply_missing(self, failed, attached, the_plan):
        if not attached:
            reasons = sorted(set(the_plan.unavailable.values()))
            if reasons:
                raise FuncCountError('Nothing could be attached: %s.' % '; '.join(reasons),
                                     skipped=failed)
            raise FuncCountError('None of the %d matched probes could be attached (first: %s: %s); see skipped_probes.'
                                 % (len(failed), failed[0]['probe'], failed[0]['reason']), skipped=failed)
        if failed and self.opts.missing == 'error':
            first = failed[0]
            raise FuncCountError('%d of the matched probes could not be attached (first: %s: %s); set missing '
                                 'to warn to count the others.' % (len(failed), first['probe'], first['reason']),
                                 skipped=failed)

    def _configure(self, compiled):
        self._arm(compiled, False)

    def _arm(self, compiled, on):
        cfg = struct.pack('<QQQQQ', 1 if on else 0, self.opts.pid or 0,
                          (self.opts.cpu + 1) if self.opts.cpu is not None else 0, GROUP_BY[self.opts.group_by],
                          compiled.nprobes)
        bpfsys.map_update(compiled.map_fds['config'], struct.pack('<I', 0), cfg)

    def _count(self, compiled, probes):
        reader = CountReader(compiled.map_fds['counts'], [p.index for p in probes])
        guard = OverheadGuard(compiled.map_fds['hits'], probes, self.opts.overhead_limit, compiled.nprobes)
        duration = float(self.opts.duration)
        interval = self.opts.interval
        marks = []  # (seconds since start, cumulative counts) at each interval boundary
        aborted = None
        self.on_stage('armed')
        self._wait_for_start()
        self._arm(compiled, True)
        start_wall = time.time()
        start = self.clock.monotonic()
        try:
            self.on_stage('counting')
            if self.on_armed:
                self.on_armed()
            next_mark = interval if interval and interval < duration - 1e-9 else None
            next_check = GUARD_PERIOD if guard.enabled else None
            while True:
                wake = min(t for t in (duration, next_mark, next_check) if t is not None)
                self._sleep_until(start + wake)
                now = self.clock.monotonic() - start
                if now >= duration - 1e-9:
                    break
                if next_mark is not None and now >= next_mark - 1e-9:
                    marks.append((now, reader.read()))
                    next_mark += interval
                    if next_mark >= duration - 1e-9:
                        next_mark = None
                if next_check is not None and now >= next_check - 1e-9:
                    aborted = guard.check(now)
                    if aborted:
                        break
                    next_check += GUARD_PERIOD
        finally:
            self._arm(compiled, False)
            self.on_stage('disarmed')
        elapsed = self.clock.monotonic() - start
        final = reader.read()
        by_index = {p.index: p.key for p in probes}
        intervals = None
        if interval:
            marks.append((elapsed, final))
            intervals = []
            prev_t, prev = 0.0, {}
            for t, cumulative in marks:
                intervals.append((start_wall + prev_t, start_wall + t,
                                  {by_index[i]: c - prev.get(i, 0) for i, c in cumulative.items()}))
                prev_t, prev = t, cumulative
        window = Window(start_wall, start_wall + elapsed, elapsed, {by_index[i]: c for i, c in final.items()},
                        intervals)
        window.aborted = aborted
        window.overhead_percent = guard.overhead_percent(elapsed)
        if self.opts.group_by != 'none':
            rows, drops = compiled.read_groups()
            window.groups = group_rows(self.opts.group_by, rows, by_index)
            window.groups_dropped = drops
        return window

    def _wait_for_start(self):
        """Sleep until start_at (wall clock), failing when it has already passed."""
        target = getattr(self.opts, 'start_at_epoch', None)
        if target is None:
            return
        late = time.time() - target
        if late > START_AT_TOLERANCE:
            raise FuncCountError(
                'start_at %s had already passed by %.3f s when this host was ready to count (its clock says %s); '
                'choose a later start_at, or check the clocks of the controller and this host (NTP).'
                % (_result.iso(target), late, _result.iso(time.time())), late_seconds=round(late, 3))
        while True:
            left = target - time.time()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.5))

    def _sleep_until(self, deadline):
        while True:
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.5))

    def _engine_facts(self, the_plan, compiled=None, attacher=None):
        facts = {
            'bcc_version': self.bcc.version() if hasattr(self.bcc, 'version') else None,
            'kernel_release': _host.kernel_release(),
            'mechanisms': the_plan.summary(),
        }
        if compiled is not None:
            facts['headers'] = dict(compiled.headers)
        if attacher is not None and attacher.fallbacks:
            facts['fallbacks'] = [{'probe': k, 'from': a, 'to': b, 'reason': r} for k, a, b, r in attacher.fallbacks]
        return facts


class Window(object):
    def __init__(self, start, end, duration, counts, intervals):
        self.start = start
        self.end = end
        self.duration = duration
        self.counts = counts
        self.intervals = intervals


def group_rows(group_by, rows, by_index):
    """Shape (index, tgid, cgroup, comm, count) rows from the map into result rows, busiest first."""
    merged = {}
    comms = {}
    for index, tgid, cgroup, comm, count in rows:
        if index not in by_index:
            continue
        if group_by == 'pid':
            key = (index, tgid)
            # threads of one process may carry different names: keep the busiest
            comms.setdefault(key, {}).setdefault(comm, 0)
            comms[key][comm] += count
        elif group_by == 'comm':
            key = (index, comm)
        else:
            key = (index, cgroup)
        merged[key] = merged.get(key, 0) + count
    paths = _host.cgroup_paths(set(k[1] for k in merged)) if group_by == 'cgroup' else {}
    result = []
    for key, count in merged.items():
        row = {'probe': by_index[key[0]], 'count': count}
        if group_by == 'pid':
            row['pid'] = key[1]
            row['comm'] = sorted(comms[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        elif group_by == 'comm':
            row['comm'] = key[1]
        else:
            row['cgroup'] = paths.get(key[1]) or 'cgroup id %d' % key[1]
            row['cgroup_id'] = key[1]
        result.append(row)
    result.sort(key=lambda r: (-r['count'], r['probe'], str(r.get('pid', r.get('comm', r.get('cgroup'))))))
    return result


class OverheadGuard(object):
    """Estimates what counting costs the host and says when it passes the limit.

    Every run of a program while armed is counted per probe before any filter
    (the ``hits`` map), so events that a pid or cpu filter drops, and every
    syscall that the raw_syscalls programs see, are weighed too.  The cost is
    hits x the per-event cost of the probe's mechanism (COSTS_NS), as a share of
    one CPU over the time counted so far.
    """

    def __init__(self, map_fd, probes, limit_percent, nprobes):
        self.limit = float(limit_percent or 0)
        self.enabled = self.limit > 0
        indexes = [p.index for p in probes]
        self.cost = {p.index: COSTS_NS.get(p.mechanism, DEFAULT_COST_NS) for p in probes}
        self.mechanism = {p.index: p.mechanism for p in probes}
        self.key = {p.index: p.key for p in probes}
        self.sys_slots = []
        if any(p.mechanism == 'raw_syscalls' for p in probes):
            # the slots after the probes' own: the sys_enter and sys_exit programs
            self.sys_slots = [nprobes, nprobes + 1]
        self.reader = CountReader(map_fd, indexes + self.sys_slots)

    def costs(self):
        """(nanoseconds spent so far, (the share of the costliest probe, its key, events, mechanism))."""
        hits = self.reader.read()
        total = 0.0
        worst = (0.0, None, 0, None)
        for index, count in hits.items():
            if index in self.sys_slots:
                continue
            spent = count * self.cost[index]
            total += spent
            if spent > worst[0]:
                worst = (spent, self.key[index], count, self.mechanism[index])
        if self.sys_slots:
            events = sum(hits[slot] for slot in self.sys_slots)
            spent = events * COSTS_NS['raw_syscalls']
            total += spent
            if spent > worst[0]:
                worst = (spent, 'raw_syscalls (every syscall of the host)', events, 'raw_syscalls')
        return total, worst

    def overhead_percent(self, elapsed):
        if elapsed <= 0:
            return 0.0
        total, _worst = self.costs()
        return round(100.0 * total / (elapsed * 1e9), 3)

    def check(self, elapsed):
        if not self.enabled or elapsed <= 0:
            return None
        total, (spent, key, events, mechanism) = self.costs()
        # a short burst early in the window is no overhead: spread over at least GUARD_MIN_SPAN
        percent = 100.0 * total / (max(elapsed, GUARD_MIN_SPAN) * 1e9)
        if percent <= self.limit:
            return None
        return {
            'reason': 'counting cost an estimated %.1f%% of one CPU, more than overhead_limit (%s%%): %s fired '
                      '%.0f times a second through %s (about %d ns each); the window was stopped after %.2f s. '
                      'Count something less hot, filter by pid, or raise overhead_limit.'
                      % (percent, _format_number(self.limit), key, events / elapsed, mechanism,
                         COSTS_NS.get(mechanism, DEFAULT_COST_NS), elapsed),
            'after_seconds': round(elapsed, 3),
            'overhead_percent': round(percent, 3),
        }


def _format_number(value):
    return ('%f' % value).rstrip('0').rstrip('.')


class CountReader(object):
    """Sums the per-CPU counters of the given indexes."""

    def __init__(self, map_fd, indexes):
        self.map_fd = map_fd
        self.indexes = list(indexes)
        self.ncpus = bpfsys.possible_cpus()
        self.fmt = '<%dQ' % self.ncpus

    def read(self):
        result = {}
        for index in self.indexes:
            raw = bpfsys.map_lookup(self.map_fd, struct.pack('<I', index), 8 * self.ncpus)
            result[index] = sum(struct.unpack(self.fmt, raw))
        return result
