# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shaping engine output into the documented result (plain data only)."""

from __future__ import annotations

import datetime


def iso(epoch):
    """UTC ISO 8601 with microseconds and a Z, e.g. 2026-12-06T18:00:00.000123Z."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def order_counts(counts, include_zero):
    """Highest count first, then by key; zero counts only when asked."""
    items = [(k, v) for k, v in counts.items() if include_zero or v]
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    return dict(items)


def planned(opts, probes, skipped, the_plan, engine):
    """Check-mode result: what would be attached, and how."""
    return {
        'changed': False,
        'counts': {},
        'total': 0,
        'probes': len(probes),
        'skipped': list(skipped),
        'would_attach': [{'probe': p.key, 'type': p.kind, 'mechanism': p.mechanism} for p in probes],
        'duration': 0.0,
        'engine': engine,
    }


def counted(opts, attached, skipped, window, engine):
    counts = order_counts({p.key: window.counts.get(p.key, 0) for p in attached}, opts.include_zero)
    result = {
        'changed': False,
        'counts': counts,
        'total': sum(window.counts.get(p.key, 0) for p in attached),
        'probes': len(attached),
        'attached_probes': sorted(p.key for p in attached),
        'skipped': list(skipped),
        'duration': round(window.duration, 6),
        'start': iso(window.start),
        'end': iso(window.end),
        'aborted': getattr(window, 'aborted', None),
        'engine': engine,
    }
    if getattr(window, 'groups', None) is not None:
        result['groups'] = window.groups
        result['groups_dropped'] = window.groups_dropped
    if window.intervals is not None:
        result['intervals'] = [
            {'start': iso(start), 'end': iso(end), 'counts': order_counts(counts, opts.include_zero)}
            for start, end, counts in window.intervals
        ]
    return result
