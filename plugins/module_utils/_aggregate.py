# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet aggregation of funccount results: pure functions on plain data.

The input everywhere is a mapping of host name to that host's funccount result, as registered by a
task (or read back from an async job). Hosts whose task failed, was skipped or could not reach the host
are never counted, and never dropped either: split() puts them, with the reason, into a separate mapping
that every caller reports.

Used by the filter plugins (plugins/filter/) and by the report writer (_report.py); it imports nothing
but the standard library, so that it runs on the controller and on any target.
"""

from __future__ import annotations

import re
import statistics

from collections.abc import Mapping

# Modified z-score of Iglewicz and Hoaglin: 0.6745 * (x - median) / MAD, where 0.6745 is the 0.75 quantile
# of the standard normal (so MAD / 0.6745 estimates the standard deviation). When MAD is 0 (more than half
# of the hosts have exactly the median value), the mean absolute deviation from the median stands in, scaled
# by 1.253314 (sqrt(pi / 2), the same correction for a normal distribution), as IBM SPSS and others do.
MAD_SCALE = 0.6745
MEANAD_SCALE = 1.253314

SEVERITIES = ('critical', 'warning', 'info')


class AggregateError(ValueError):
    """Bad input to an aggregation function; the message says what was wrong."""


def natural_key(text):
    """Sort key under which web2 comes before web10."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.split(r'(\d+)', text) if part]


def _type(value):
    return type(value).__name__


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def failure_reason(result):
    """Why this result cannot be counted, or None when it can."""
    if not isinstance(result, Mapping):
        return 'the result is not a mapping (got %s)' % _type(result)
    msg = result.get('msg')
    msg = str(msg).strip() if msg not in (None, '') else ''
    if result.get('unreachable'):
        return 'unreachable: %s' % (msg or 'no message')
    if result.get('failed'):
        return msg or 'the task failed without a message'
    if result.get('skipped') is True:  # a skipped task; funccount's own skipped is a list of probes
        return 'skipped: %s' % (result.get('skip_reason') or msg or 'no reason given')
    counts = result.get('counts')
    if not isinstance(counts, Mapping):
        return 'the result has no counts (got %s)' % ('nothing' if counts is None else _type(counts))
    for probe, count in counts.items():
        if not _is_count(count):
            return 'the count of %s is not a non-negative integer (got %r)' % (probe, count)
    return None


def split(results):
    """(ok, failed): host -> result for the hosts that counted, host -> reason for the others, by host name."""
    if not isinstance(results, Mapping):
        raise AggregateError('expected a mapping of host name to funccount result, got %s' % _type(results))
    ok, failed = {}, {}
    for host in sorted(results, key=lambda h: natural_key(str(h))):
        reason = failure_reason(results[host])
        if reason is None:
            ok[str(host)] = results[host]
        else:
            failed[str(host)] = reason
    return ok, failed


def failed_hosts(results):
    return split(results)[1]


def _duration(result):
    value = result.get('duration')
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def _rate(count, duration):
    return None if duration is None else round(count / duration, 6)


def _ordered(counts):
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def totals(results):
    """Probe -> sum of its counts over the hosts that counted, highest first."""
    ok = split(results)[0]
    summed = {}
    for result in ok.values():
        for probe, count in result['counts'].items():
            summed[probe] = summed.get(probe, 0) + count
    return _ordered(summed)


def matrix(results, probes=None):
    """Host x probe counts: {'hosts': [...], 'probes': [...], 'counts': [[count per probe] per host]}."""
    ok = split(results)[0]
    if probes is None:
        probes = list(totals(ok))
    elif isinstance(probes, (str, bytes)) or not isinstance(probes, (list, tuple)):
        raise AggregateError('probes must be a list of probe keys, got %s' % _type(probes))
    return {
        'hosts': list(ok),
        'probes': list(probes),
        'counts': [[ok[host]['counts'].get(probe, 0) for probe in probes] for host in ok],
    }


def rates(results):
    """Per-second rates: {'hosts': {host: {probe: rate}}, 'fleet': {probe: sum of the hosts' rates}}.

    A host's rate is its count over its measured window (duration); hosts without a window (check mode)
    have no rates and do not add to the fleet's.
    """
    ok = split(results)[0]
    per_host, fleet = {}, {}
    for host, result in ok.items():
        duration = _duration(result)
        if duration is None:
            per_host[host] = {}
            continue
        per_host[host] = {probe: _rate(count, duration) for probe, count in _ordered(result['counts']).items()}
        for probe, count in result['counts'].items():
            fleet[probe] = fleet.get(probe, 0.0) + count / duration
    fleet = {probe: round(rate, 6) for probe, rate in fleet.items()}
    return {'hosts': per_host, 'fleet': dict(sorted(fleet.items(), key=lambda kv: (-kv[1], kv[0])))}


def _check_top(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise AggregateError('n must be a non-negative integer (0 for all), got %r' % (n,))


def top_probes(results, n=10, by='count'):
    """The busiest probes of the fleet: [{'probe', 'count', 'rate', 'hosts'}], by count, rate or hosts."""
    _check_top(n)
    if by not in ('count', 'rate', 'hosts'):
        raise AggregateError("by must be 'count', 'rate' or 'hosts', got %r" % (by,))
    ok = split(results)[0]
    summed = totals(ok)
    fleet = rates(ok)['fleet']
    seen = {}
    for result in ok.values():
        for probe, count in result['counts'].items():
            if count:
                seen[probe] = seen.get(probe, 0) + 1
    rows = [{'probe': probe, 'count': count, 'rate': fleet.get(probe), 'hosts': seen.get(probe, 0)}
            for probe, count in summed.items()]
    rows.sort(key=lambda row: (-(row[by] or 0), -row['count'], row['probe']))
    return rows[:n] if n else rows


def top_hosts(results, n=10, probe=None):
    """The busiest hosts: [{'host', 'count', 'rate'}], by the sum of all counts or by one probe's count."""
    _check_top(n)
    if probe is not None and not isinstance(probe, str):
        raise AggregateError('probe must be a probe key, got %s' % _type(probe))
    ok = split(results)[0]
    rows = []
    for host, result in ok.items():
        count = sum(result['counts'].values()) if probe is None else result['counts'].get(probe, 0)
        rows.append({'host': host, 'count': count, 'rate': _rate(count, _duration(result))})
    rows.sort(key=lambda row: (-row['count'], natural_key(row['host'])))
    return rows[:n] if n else rows


def group_label(group):
    """How a group of RV(groups) reads: 'pid 4242 (nginx)', 'nginx' or '/system.slice/nginx.service'."""
    if group.get('pid') is not None:
        return 'pid %s (%s)' % (group['pid'], group['comm']) if group.get('comm') else 'pid %s' % group['pid']
    if group.get('cgroup') is not None:
        return str(group['cgroup'])
    if group.get('comm') is not None:
        return str(group['comm'])
    return 'unknown'


def top_groups(results, n=10, probe=None):
    """The busiest processes, commands or cgroups of the fleet (from group_by): [{'host', 'probe', 'group', 'count',
    'rate', and pid, comm, cgroup, cgroup_id as the host gave them}], busiest first."""
    _check_top(n)
    if probe is not None and not isinstance(probe, str):
        raise AggregateError('probe must be a probe key, got %s' % _type(probe))
    ok = split(results)[0]
    rows = []
    for host, result in ok.items():
        groups = result.get('groups')
        if not isinstance(groups, list):
            continue
        for group in groups:
            if not isinstance(group, Mapping) or not isinstance(group.get('probe'), str) or not _is_count(group.get('count')):
                continue
            if probe is not None and group['probe'] != probe:
                continue
            row = {'host': host, 'probe': group['probe'], 'group': group_label(group), 'count': group['count'],
                   'rate': _rate(group['count'], _duration(result))}
            row.update((key, group[key]) for key in ('pid', 'comm', 'cgroup', 'cgroup_id') if key in group)
            rows.append(row)
    rows.sort(key=lambda row: (-row['count'], natural_key(row['host']), row['probe'], row['group']))
    return rows[:n] if n else rows


def _skipped_items(result):
    """The {probe, reason} entries of the probes a host did not count (skipped_probes, or skipped in facts)."""
    items = result.get('skipped_probes')
    if items is None:
        items = result.get('skipped') if isinstance(result.get('skipped'), list) else []
    return [item for item in items or [] if isinstance(item, Mapping)]


def _skipped(result):
    return {item.get('probe') for item in _skipped_items(result)}


def _skip_reason(result, probe):
    reasons = [item.get('reason') for item in _skipped_items(result) if item.get('probe') == probe]
    return (reasons[0] if reasons else None) or 'no reason given'


def _tried(result):
    """The probes a host attached (attached_probes, plus what it counted), or None when the result does not say."""
    attached = result.get('attached_probes')
    if not isinstance(attached, list):
        return None
    counts = result.get('counts') if isinstance(result.get('counts'), Mapping) else {}
    return set(attached) | set(counts)


def _in_sample(probe, result, skipped):
    """Whether a host counted this probe at all: attached it (when the result says), and did not skip it."""
    if probe in skipped:
        return False
    tried = _tried(result)
    return tried is None or probe in tried


def robust_scores(values):
    """Modified z-scores of a list of numbers: (median, spread, method, scores).

    method is 'mad' (score = 0.6745 * (x - median) / MAD), 'meanad' when MAD is 0 (score = (x - median) /
    (1.253314 * mean absolute deviation from the median)), or 'equal' when every value is the median (all
    scores 0).
    """
    median = statistics.median(values)
    deviations = [abs(x - median) for x in values]
    mad = statistics.median(deviations)
    if mad > 0:
        return median, mad, 'mad', [MAD_SCALE * (x - median) / mad for x in values]
    meanad = sum(deviations) / len(deviations)
    if meanad > 0:
        return median, meanad, 'meanad', [(x - median) / (MEANAD_SCALE * meanad) for x in values]
    return median, 0.0, 'equal', [0.0 for _x in values]


def outliers(results, threshold=3.5, by='rate', min_spread=0.05):
    """Hosts whose value of a probe is far from the fleet's: a modified z-score beyond the threshold.

    For each probe seen on any host, the sample is every host that counted (0 where the probe did not fire),
    except hosts that did not attach the probe (listed in skipped, or absent from attached_probes when the
    result has that list: a host given other patterns) and, by rate, hosts without a window. The spread is at
    least min_spread times |median| (method 'floor'), so that near-equal values (equal counts over windows a
    few microseconds apart) do not make outliers. Returns [{'probe', 'host', 'value', 'median', 'spread',
    'method', 'score', 'direction'}], largest |score| first.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        raise AggregateError('threshold must be a number above 0, got %r' % (threshold,))
    if by not in ('rate', 'count'):
        raise AggregateError("by must be 'rate' or 'count', got %r" % (by,))
    if isinstance(min_spread, bool) or not isinstance(min_spread, (int, float)) or min_spread < 0:
        raise AggregateError('min_spread must be a number not below 0 (a fraction of the median), got %r'
                             % (min_spread,))
    ok = split(results)[0]
    skipped = {host: _skipped(result) for host, result in ok.items()}
    found = []
    for probe in totals(ok):
        hosts, values = [], []
        for host, result in ok.items():
            if not _in_sample(probe, result, skipped[host]):
                continue
            count = result['counts'].get(probe, 0)
            if by == 'rate':
                duration = _duration(result)
                if duration is None:
                    continue
                value = count / duration
            else:
                value = count
            hosts.append(host)
            values.append(value)
        if len(values) < 2:
            continue
        median, spread, method, scores = robust_scores(values)
        floor = min_spread * abs(median)
        if method != 'equal' and spread < floor:
            spread, method = floor, 'floor'
            scores = [MAD_SCALE * (x - median) / floor for x in values]
        for host, value, score in zip(hosts, values, scores):
            if abs(score) > threshold:
                found.append({
                    'probe': probe, 'host': host, 'value': round(value, 6), 'median': round(median, 6),
                    'spread': round(spread, 6), 'method': method, 'score': round(score, 4),
                    'direction': 'high' if score > 0 else 'low',
                })
    found.sort(key=lambda item: (-abs(item['score']), item['probe'], natural_key(item['host'])))
    return found


def hosts_of(data):
    """The host -> result mapping of a report (a dict with run_id and hosts) or of a plain mapping."""
    if isinstance(data, Mapping) and 'run_id' in data and isinstance(data.get('hosts'), Mapping):
        return data['hosts']
    return data


def _fmt_rate(rate):
    return '%.6g/s' % rate


def _compare(scope, host, probe, base, cur, threshold, critical, min_rate):
    """One finding for a probe's rate in baseline and current run, or None when within the thresholds."""
    where = probe if host is None else '%s on %s' % (probe, host)
    where = ('fleet-wide ' if host is None else '') + where
    item = {'scope': scope, 'host': host, 'probe': probe, 'baseline_rate': round(base, 6),
            'current_rate': round(cur, 6), 'ratio': None}
    if base == 0 and cur == 0:
        return None
    if base == 0:
        if cur < min_rate:
            return None
        item.update(severity='warning', kind='appeared',
                    message='%s appeared: %s, not in the baseline' % (where, _fmt_rate(cur)))
        return item
    if cur == 0:
        if base < min_rate:
            return None
        item.update(severity='warning', kind='vanished',
                    message='%s vanished: the baseline had %s' % (where, _fmt_rate(base)))
        return item
    if max(base, cur) < min_rate:
        return None
    ratio = cur / base
    factor = max(ratio, 1 / ratio)
    if factor <= threshold:
        return None
    kind = 'increased' if ratio > 1 else 'decreased'
    item.update(severity='critical' if factor > critical else 'warning', kind=kind, ratio=round(ratio, 4),
                message='%s %s %.3g times: %s, baseline %s' % (where, kind, factor, _fmt_rate(cur), _fmt_rate(base)))
    return item


def baseline_diff(current, baseline, threshold=2.0, critical=None, min_rate=0.0):
    """Findings of a run against a baseline run, per host and fleet-wide, most severe first.

    Rates per second are compared, so windows of different lengths compare. A probe's change is a finding
    when its rate changed by more than threshold times (up or down): 'critical' above critical times
    (default threshold squared), else 'warning'; probes that appeared or vanished are 'warning'. Changes
    where both rates are below min_rate are ignored. A host that failed now is 'critical'; a host of the
    baseline missing now is 'warning'; a host without a usable baseline is 'info'. A probe a host attached in
    one run only is not compared ('not_attached'): 'warning' when this run could not attach it (skipped),
    'info' when it was not asked for (absent from attached_probes). Fleet-wide rates sum the hosts that
    counted the probe in both runs, so a failed host does not show up as a fleet-wide drop.
    """
    for name, value in (('threshold', threshold), ('min_rate', min_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AggregateError('%s must be a number, got %r' % (name, value))
    if threshold <= 1:
        raise AggregateError('threshold must be more than 1 (a factor of change), got %r' % (threshold,))
    if critical is None:
        critical = threshold * threshold
    elif isinstance(critical, bool) or not isinstance(critical, (int, float)) or critical < threshold:
        raise AggregateError('critical must be a number not below threshold (%r), got %r' % (threshold, critical))
    cur_ok, cur_failed = split(hosts_of(current))
    base_ok, base_failed = split(hosts_of(baseline))
    findings = []
    for host, reason in cur_failed.items():
        findings.append({'severity': 'critical', 'scope': 'host', 'host': host, 'probe': None, 'kind': 'host_failed',
                         'baseline_rate': None, 'current_rate': None, 'ratio': None,
                         'message': '%s failed: %s' % (host, reason)})
    for host in base_ok:
        if host not in cur_ok and host not in cur_failed:
            findings.append({'severity': 'warning', 'scope': 'host', 'host': host, 'probe': None,
                             'kind': 'host_vanished', 'baseline_rate': None, 'current_rate': None, 'ratio': None,
                             'message': '%s is in the baseline but not in this run' % host})
    fleet_base, fleet_cur = {}, {}
    for host, result in cur_ok.items():
        if host not in base_ok:
            why = ('failed in the baseline: %s' % base_failed[host]) if host in base_failed else 'not in the baseline'
            findings.append({'severity': 'info', 'scope': 'host', 'host': host, 'probe': None, 'kind': 'host_new',
                             'baseline_rate': None, 'current_rate': None, 'ratio': None,
                             'message': '%s has no baseline to compare with (%s)' % (host, why)})
            continue
        cur_d, base_d = _duration(result), _duration(base_ok[host])
        if cur_d is None or base_d is None:
            findings.append({'severity': 'info', 'scope': 'host', 'host': host, 'probe': None, 'kind': 'not_compared',
                             'baseline_rate': None, 'current_rate': None, 'ratio': None,
                             'message': '%s was not compared: %s has no counting window' %
                                        (host, 'this run' if cur_d is None else 'the baseline')})
            continue
        cur_counts, base_counts = result['counts'], base_ok[host]['counts']
        cur_skipped, base_skipped = _skipped(result), _skipped(base_ok[host])
        for probe in sorted(set(cur_counts) | set(base_counts)):
            in_cur = _in_sample(probe, result, cur_skipped)
            in_base = _in_sample(probe, base_ok[host], base_skipped)
            if not (in_cur and in_base):
                # Attached in one run only: no rate to compare. A probe this run could not attach is lost
                # coverage (warning); one it was not asked for (other patterns) is only noted.
                findings.append({
                    'severity': 'warning' if probe in cur_skipped else 'info', 'scope': 'host', 'host': host,
                    'probe': probe, 'kind': 'not_attached', 'baseline_rate': None, 'current_rate': None,
                    'ratio': None,
                    'message': '%s on %s was not compared: it was not attached in %s%s'
                               % (probe, host, 'this run' if not in_cur else 'the baseline',
                                  ' (%s)' % _skip_reason(result if not in_cur else base_ok[host], probe)
                                  if probe in (cur_skipped if not in_cur else base_skipped) else '')})
                continue
            cur, base = cur_counts.get(probe, 0) / cur_d, base_counts.get(probe, 0) / base_d
            fleet_cur[probe] = fleet_cur.get(probe, 0.0) + cur
            fleet_base[probe] = fleet_base.get(probe, 0.0) + base
            item = _compare('host', host, probe, base, cur, threshold, critical, min_rate)
            if item:
                findings.append(item)
    for probe in sorted(fleet_cur):
        item = _compare('fleet', None, probe, fleet_base[probe], fleet_cur[probe], threshold, critical, min_rate)
        if item:
            findings.append(item)
    order = ('severity', 'scope', 'host', 'probe', 'kind', 'baseline_rate', 'current_rate', 'ratio', 'message')
    findings = [{key: item[key] for key in order} for item in findings]
    findings.sort(key=lambda f: (SEVERITIES.index(f['severity']), f['scope'] != 'fleet',
                                 natural_key(f['host'] or ''), f['probe'] or '', f['kind']))
    return findings
