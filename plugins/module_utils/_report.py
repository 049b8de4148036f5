# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet report of a funccount sweep: one dict (report.json) and its CSV, Markdown and HTML renderings.

build() makes the report from the host results; render_*() turn it into text, deterministically (the same
report gives the same bytes, so rewriting an unchanged report changes nothing); write() puts the files into
<report_dir>/<run_id>/. The schema is documented in docs/report-schema.md.

Everything that comes from a host (probe keys, host names, messages) is untrusted text: it is escaped for
each format (RFC 4180 quoting for CSV, code spans and backslash escapes for Markdown, HTML entities for
HTML and SVG), and the HTML page runs only its own inline script, pinned by a Content-Security-Policy hash.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import os
import re
import tempfile

from collections.abc import Mapping

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate

SCHEMA = 'ebpf.bcc.funccount_report/1'
FORMATS = ('json', 'csv', 'md', 'html')
FILENAMES = {fmt: 'report.%s' % fmt for fmt in FORMATS}
CSV_COLUMNS = ('host', 'probe', 'count', 'rate_per_second', 'start', 'end', 'error')
HEATMAP_PROBES = 30
HTML_TABLE_ROWS = 5000
# Keys of a registered result that are Ansible's bookkeeping, not the module's result.
DROPPED_KEYS = ('changed', 'invocation', 'ansible_facts', 'ansible_job_id', 'results_file', 'started', 'finished', 'attempts')


class ReportError(ValueError):
    """Bad input to the report writer; the message says what was wrong."""


def _skipped_list(entry):
    """The probes a host did not count: skipped_probes from the module, or skipped from the engine/facts."""
    items = entry.get('skipped_probes')
    if items is None:
        items = entry.get('skipped')
    return items if isinstance(items, list) else []


def check_run_id(run_id):
    if not isinstance(run_id, str) or not run_id.strip():
        raise ReportError('run_id must be a non-empty string, got %r' % (run_id,))
    if run_id in ('.', '..') or '/' in run_id or '\\' in run_id or '\0' in run_id:
        raise ReportError("run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got %r"
                          % (run_id,))
    if len(run_id.encode('utf-8')) > 200:
        raise ReportError('run_id must be at most 200 bytes long, got %d' % len(run_id.encode('utf-8')))
    return run_id


def _host_entry(result, reason):
    if not isinstance(result, Mapping):
        return {'failed': True, 'msg': reason}
    return {key: value for key, value in result.items()
            if key not in DROPPED_KEYS and not key.startswith('_ansible')}


def measured_window(ok):
    """The span of the hosts' windows: earliest start, latest end (ISO 8601 strings compare as times)."""
    starts = [r['start'] for r in ok.values() if isinstance(r.get('start'), str)]
    ends = [r['end'] for r in ok.values() if isinstance(r.get('end'), str)]
    return {'start': min(starts) if starts else None, 'end': max(ends) if ends else None}


def build(run_id, results, patterns=(), window=None, top=10, outlier_threshold=3.5, baseline=None,
          baseline_threshold=2.0, baseline_critical=None, baseline_min_rate=0.0):
    """The report as a dict (what report.json holds)."""
    check_run_id(run_id)
    ok, failed = _aggregate.split(results)
    if isinstance(patterns, (str, bytes)) or not all(isinstance(p, str) for p in patterns):
        raise ReportError('patterns must be a list of strings, got %r' % (patterns,))
    measured = measured_window(ok)
    if window is None:
        window = dict(measured, source='measured')
    else:
        if not isinstance(window, Mapping):
            raise ReportError('window must be a mapping with start and end, got %s' % type(window).__name__)
        window = {'start': window.get('start') or measured['start'], 'end': window.get('end') or measured['end'],
                  'source': 'given'}
    totals = _aggregate.totals(ok)
    hosts = {}
    for host in sorted(results, key=lambda h: _aggregate.natural_key(str(h))):
        hosts[str(host)] = _host_entry(results[host], failed.get(str(host)))
    report = {
        'schema': SCHEMA,
        'run_id': run_id,
        'window': window,
        'patterns': list(patterns),
        'settings': {'top': top, 'outlier_threshold': outlier_threshold, 'baseline_threshold': baseline_threshold,
                     'baseline_critical': baseline_critical, 'baseline_min_rate': baseline_min_rate},
        'summary': {
            'hosts': len(hosts), 'counted': len(ok), 'failed': len(failed), 'probes': len(totals),
            'total': sum(totals.values()),
            'aborted': [host for host, r in ok.items() if r.get('aborted')],
        },
        'failed_hosts': failed,
        'totals': totals,
        'rates': _aggregate.rates(ok),
        'outliers': _aggregate.outliers(ok, outlier_threshold),
        'top_probes': _aggregate.top_probes(ok, top),
        'top_hosts': _aggregate.top_hosts(ok, top),
        'top_groups': _aggregate.top_groups(ok, top),
        'baseline': None,
        'hosts': hosts,
    }
    if baseline is not None:
        findings = _aggregate.baseline_diff(results, baseline, baseline_threshold, baseline_critical, baseline_min_rate)
        base_id = baseline.get('run_id') if isinstance(baseline, Mapping) and 'hosts' in baseline else None
        report['baseline'] = {'run_id': base_id if isinstance(base_id, str) else None, 'findings': findings}
    return report


# --- shared formatting -------------------------------------------------------------------------------------------

def fmt_count(count):
    return '{:,}'.format(count)


def fmt_rate(rate):
    if rate is None:
        return ''
    if rate >= 100:
        return '{:,.0f}'.format(rate)
    if rate >= 0.01:
        return '%.2f' % rate
    if rate == 0:
        return '0'
    return '%.3g' % rate


def _one_line(text):
    return re.sub(r'[\r\n\t\v\f\x85\u2028\u2029]+', ' ', str(text))


def _window(entry):
    duration = entry.get('duration')
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
        return None
    return float(duration)


def _entry_rate(entry, probe):
    duration = _window(entry)
    return None if duration is None else round(entry['counts'].get(probe, 0) / duration, 6)


def _status(entry):
    aborted = entry.get('aborted')
    if isinstance(aborted, Mapping):
        return 'stopped early after %s s' % aborted.get('after_seconds')
    return 'ok'


def _rows(report):
    """(host, probe, count, rate, start, end, error) per host x probe, then one row per failed host."""
    rows = []
    probes = list(report['totals'])
    for host, entry in report['hosts'].items():
        if host in report['failed_hosts']:
            continue
        for probe in probes:
            count = entry['counts'].get(probe, 0)
            rate = _entry_rate(entry, probe)
            rows.append((host, probe, count, rate, entry.get('start'), entry.get('end'), None))
    for host, reason in report['failed_hosts'].items():
        rows.append((host, None, None, None, None, None, reason))
    return rows


# --- JSON, CSV ---------------------------------------------------------------------------------------------------

def render_json(report):
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + '\n'


def render_csv(report):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\r\n')
    writer.writerow(CSV_COLUMNS)
    for row in _rows(report):
        writer.writerow(['' if value is None else value for value in row])
    return out.getvalue()


# --- Markdown ----------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r'([\\`*_\[\]<>|&#~!])')


def md_text(text):
    """Plain text for Markdown: one line, every character Markdown or HTML could act on backslash-escaped."""
    return _MD_SPECIAL.sub(r'\\\1', _one_line(text))


def md_code(text, in_table=True):
    """A code span holding text literally: a fence longer than any backtick run inside; '|' escaped in tables."""
    text = _one_line(text)
    longest = max([len(run) for run in re.findall('`+', text)] + [0])
    fence = '`' * (longest + 1)
    if text.startswith('`') or text.endswith('`') or (text.startswith(' ') and text.endswith(' ') and text.strip()):
        text = ' %s ' % text
    if in_table:
        text = text.replace('|', '\\|')
    return '%s%s%s' % (fence, text, fence)


def _md_table(header, rows, align=None):
    align = align or ['---'] * len(header)
    lines = ['| %s |' % ' | '.join(header), '|%s|' % '|'.join(align)]
    lines += ['| %s |' % ' | '.join(row) for row in rows]
    return lines


def render_md(report):
    s = report['summary']
    window = report['window']
    lines = ['# funccount report %s' % md_code(report['run_id'], in_table=False), '']
    lines.append('- Window (UTC): %s to %s' % (md_text(window.get('start') or 'unknown'),
                                               md_text(window.get('end') or 'unknown')))
    lines.append('- Patterns: %s' % (', '.join(md_code(p, in_table=False) for p in report['patterns']) or 'none given'))
    lines.append('- Hosts: %d, %d counted, %d failed' % (s['hosts'], s['counted'], s['failed']))
    lines.append('- Probes: %d, %s events in all' % (s['probes'], fmt_count(s['total'])))
    lines.append('')
    if report['failed_hosts']:
        lines += ['## Failed hosts (%d): no data from these' % len(report['failed_hosts']), '']
        lines += _md_table(['host', 'reason'], [[md_code(h), md_text(r)] for h, r in report['failed_hosts'].items()])
        lines.append('')
    if report['baseline'] is not None:
        findings = report['baseline']['findings']
        base = report['baseline']['run_id']
        lines += ['## Baseline%s: %d findings' % (' ' + md_code(base, in_table=False) if base else '', len(findings)), '']
        if findings:
            lines += _md_table(['severity', 'finding'], [[f['severity'], md_text(f['message'])] for f in findings])
        else:
            lines.append('No change beyond the thresholds.')
        lines.append('')
    threshold = report['settings']['outlier_threshold']
    lines += ['## Outliers (%d)' % len(report['outliers']), '']
    if report['outliers']:
        lines += _md_table(
            ['host', 'probe', 'per second', 'fleet median', 'score', 'direction'],
            [[md_code(o['host']), md_code(o['probe']), fmt_rate(o['value']), fmt_rate(o['median']), '%.1f' % o['score'],
              o['direction']] for o in report['outliers']],
            ['---', '---', '--:', '--:', '--:', '---'])
    else:
        lines.append('None: no host is more than %s modified z-scores from the fleet median of any probe.' % threshold)
    lines.append('')
    lines += ['## Top probes', '']
    if report['top_probes']:
        lines += _md_table(['#', 'probe', 'count', 'per second', 'hosts'],
                           [[str(i), md_code(p['probe']), fmt_count(p['count']), fmt_rate(p['rate']), str(p['hosts'])]
                            for i, p in enumerate(report['top_probes'], 1)],
                           ['--:', '---', '--:', '--:', '--:'])
    else:
        lines.append('No probe fired.')
    lines.append('')
    if report['top_groups']:
        lines += ['## Top processes, commands or cgroups', '']
        lines += _md_table(['host', 'probe', 'who', 'count', 'per second'],
                           [[md_code(g['host']), md_code(g['probe']), md_code(g['group']), fmt_count(g['count']),
                             fmt_rate(g['rate'])] for g in report['top_groups']],
                           ['---', '---', '---', '--:', '--:'])
        lines.append('')
    lines += ['## Hosts', '']
    rows = []
    for host, entry in report['hosts'].items():
        if host in report['failed_hosts']:
            rows.append([md_code(host), '', '', '', '', '', '**failed**'])
            continue
        counts = entry['counts']
        total = sum(counts.values())
        duration = _window(entry)
        rate = None if duration is None else total / duration
        note = _status(entry)
        if _skipped_list(entry):
            note += ', probes skipped: %d' % len(_skipped_list(entry))
        rows.append([md_code(host), fmt_count(total), fmt_rate(rate), str(len([c for c in counts.values() if c])),
                     md_text(entry.get('start') or ''), md_text(entry.get('end') or ''), md_text(note)])
    lines += _md_table(['host', 'total', 'per second', 'probes fired', 'start', 'end', 'status'], rows,
                       ['---', '--:', '--:', '--:', '---', '---', '---'])
    lines.append('')
    return '\n'.join(lines)


# --- HTML --------------------------------------------------------------------------------------------------------

def esc(text):
    return html.escape(str(text), quote=True)


def _short(text, width):
    text = _one_line(text)
    return text if len(text) <= width else text[:width - 1] + '\u2026'


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1a1a1a;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f3f3;padding:0 .2em;border-radius:3px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left;
vertical-align:top}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
section.failed{border:2px solid #c0392b;background:#fdecea;padding:.2em 1em 1em;border-radius:4px}
section.failed h2{color:#a93226;border-color:#e6b0aa}tr.failed td{background:#fdecea;color:#922b21}
.critical{color:#a93226;font-weight:700}.warning{color:#9a6700;font-weight:600}.info{color:#555}
.note{color:#555;font-size:.92em}svg text{font:11px ui-monospace,SFMono-Regular,Menlo,monospace;fill:#222}
svg .failedlabel{fill:#a93226}svg rect.outlier{stroke:#d62728;stroke-width:2.5}
.scroll{overflow-x:auto}span.time{white-space:nowrap}
"""

SCRIPT = """
(function () {
  'use strict';
  function key(cell, numeric) {
    var v = cell.getAttribute('data-sort');
    if (v === null) { v = cell.textContent; }
    if (!numeric) { return v; }
    v = parseFloat(v);
    return isNaN(v) ? -Infinity : v;
  }
  function sortTable(table, col, dir) {
    var head = table.tHead.rows[0];
    var numeric = head.cells[col].getAttribute('data-type') === 'number';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(head.cells, function (th, i) {
      th.setAttribute('aria-sort', i === col ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      function go() { sortTable(table, i, th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc'); }
      th.tabIndex = 0;
      th.addEventListener('click', go);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); }
      });
    });
  });
  var m = /^#sort=([A-Za-z0-9_-]+):([0-9]+):(asc|desc)$/.exec(window.location.hash);
  var t = m && document.getElementById(m[1]);
  if (t && t.classList.contains('sortable')) { sortTable(t, parseInt(m[2], 10), m[3]); }
}());
"""


def _time(text):
    return '<span class="time">%s</span>' % esc(text) if text else ''


def _csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode('utf-8')).digest()).decode('ascii')


def _heat_colour(fraction):
    """White to dark blue; fraction in [0, 1]."""
    low, high = (239, 246, 255), (8, 48, 107)
    return '#%02x%02x%02x' % tuple(int(round(a + (b - a) * fraction)) for a, b in zip(low, high))


def _heatmap(report, probes):
    hosts = list(report['hosts'])
    failed = report['failed_hosts']
    outlying = {(o['host'], o['probe']) for o in report['outliers']}
    cell_w, cell_h = 26, 20
    host_labels = {h: _short(h, 28) for h in hosts}
    probe_labels = {p: _short(p, 36) for p in probes}
    left = 12 + 7 * max([len(v) for v in host_labels.values()] + [4])
    top = 16 + int(6.6 * 0.72 * max([len(v) for v in probe_labels.values()] + [4]))
    failed_labels = {h: 'failed: ' + _short(failed[h], 60) for h in hosts if h in failed}
    grid = cell_w * max(len(probes), 1)
    band = max([grid] + [12 + 7 * len(v) for v in failed_labels.values()])
    width = left + max(grid + 150, band + 10)
    height = top + cell_h * len(hosts) + 10
    maxima = {}
    for p in probes:
        values = [_entry_rate(report['hosts'][h], p) or 0.0 for h in hosts if h not in failed]
        maxima[p] = max(values + [0.0])
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" id="heatmap-svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" aria-label="rate per second, host by probe">' % (width, height, width, height)]
    for j, p in enumerate(probes):
        x = left + j * cell_w + cell_w // 2
        parts.append('<text class="col" transform="translate(%d,%d) rotate(-45)"><title>%s</title>%s</text>'
                     % (x, top - 6, esc(p), esc(probe_labels[p])))
    for i, h in enumerate(hosts):
        y = top + i * cell_h
        if h in failed:
            parts.append('<text class="row failedlabel" x="%d" y="%d" text-anchor="end"><title>%s failed: %s</title>%s'
                         '</text>' % (left - 6, y + 14, esc(h), esc(failed[h]), esc(host_labels[h])))
            parts.append('<rect class="failedrow" x="%d" y="%d" width="%d" height="%d" fill="#fdecea" stroke="#c0392b"/>'
                         % (left, y + 1, band, cell_h - 2))
            parts.append('<text class="failedlabel" x="%d" y="%d">%s</text>' % (left + 6, y + 14, esc(failed_labels[h])))
            continue
        parts.append('<text class="row" x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>'
                     % (left - 6, y + 14, esc(h), esc(host_labels[h])))
        for j, p in enumerate(probes):
            rate = _entry_rate(report['hosts'][h], p) or 0.0
            count = report['hosts'][h]['counts'].get(p, 0)
            frac = rate / maxima[p] if maxima[p] > 0 else 0.0
            colour = '#ffffff' if count == 0 else _heat_colour(0.12 + 0.88 * frac)
            cls = 'cell outlier' if (h, p) in outlying else 'cell'
            parts.append('<rect class="%s" x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#e3e3e3">'
                         '<title>%s \u00b7 %s: %s (%s/s)</title></rect>'
                         % (cls, left + j * cell_w + 1, y + 1, cell_w - 2, cell_h - 2, colour, esc(h), esc(p),
                            fmt_count(count), fmt_rate(rate)))
    parts.append('</svg>')
    return ''.join(parts)


def _bars(report, probes):
    labels = {p: _short(p, 40) for p in probes}
    left = 12 + 7 * max([len(v) for v in labels.values()] + [4])
    bar_max, row_h = 420, 20
    height = row_h * len(probes) + 8
    width = left + bar_max + 120
    peak = max([report['totals'][p] for p in probes] + [1])
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" id="bars-svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" aria-label="fleet total per probe">' % (width, height, width, height)]
    for i, p in enumerate(probes):
        y = 4 + i * row_h
        count = report['totals'][p]
        length = max(1, int(round(bar_max * count / peak))) if count else 0
        parts.append('<text x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>'
                     % (left - 6, y + 13, esc(p), esc(labels[p])))
        parts.append('<rect class="bar" x="%d" y="%d" width="%d" height="%d" fill="#2b6cb0"><title>%s: %s</title></rect>'
                     % (left, y + 2, length, row_h - 5, esc(p), fmt_count(count)))
        parts.append('<text class="value" x="%d" y="%d">%s</text>' % (left + length + 6, y + 13, fmt_count(count)))
    parts.append('</svg>')
    return ''.join(parts)


def _table(table_id, columns, rows, sortable=True):
    """columns: [(label, numeric)]; rows: [(css class or '', [(text, sort key or None)])]."""
    out = ['<table%s%s>' % (' id="%s"' % table_id if table_id else '', ' class="sortable"' if sortable else ''),
           '<thead><tr>']
    for label, numeric in columns:
        out.append('<th%s>%s</th>' % (' class="num" data-type="number"' if numeric else '', esc(label)))
    out.append('</tr></thead><tbody>')
    for cls, cells in rows:
        out.append('<tr%s>' % (' class="%s"' % cls if cls else ''))
        for (text, sort), (_label, numeric) in zip(cells, columns):
            attrs = ' class="num"' if numeric else ''
            if sort is not None:
                attrs += ' data-sort="%s"' % esc(sort)
            out.append('<td%s>%s</td>' % (attrs, text))
        out.append('</tr>')
    out.append('</tbody></table>')
    return ''.join(out)


def render_html(report):
    s = report['summary']
    window = report['window']
    failed = report['failed_hosts']
    probes = list(report['totals'])[:HEATMAP_PROBES]
    body = ['<header><h1>funccount report <code>%s</code></h1><dl class="meta">' % esc(report['run_id'])]
    body.append('<dt>Window (UTC)</dt><dd>%s to %s</dd>'
                % (esc(window.get('start') or 'unknown'), esc(window.get('end') or 'unknown')))
    patterns = ' '.join('<code>%s</code>' % esc(p) for p in report['patterns']) or 'none given'
    body.append('<dt>Patterns</dt><dd>%s</dd>' % patterns)
    body.append('<dt>Hosts</dt><dd id="host-summary">%d: %d counted, %d failed</dd>' % (s['hosts'], s['counted'], s['failed']))
    body.append('<dt>Probes</dt><dd>%d, %s events in all</dd></dl></header>' % (s['probes'], fmt_count(s['total'])))
    if failed:
        body.append('<section class="failed" id="failed"><h2>Failed hosts (%d): no data from these</h2>' % len(failed))
        body.append(_table('failed-table', [('host', False), ('reason', False)],
                           [('failed', [('<code>%s</code>' % esc(h), None), (esc(r), None)]) for h, r in failed.items()]))
        body.append('</section>')
    if report['baseline'] is not None:
        findings = report['baseline']['findings']
        body.append('<section id="baseline"><h2>Baseline%s: %d findings</h2>'
                    % (' <code>%s</code>' % esc(report['baseline']['run_id']) if report['baseline']['run_id'] else '',
                       len(findings)))
        if findings:
            body.append(_table('baseline-table', [('severity', False), ('finding', False)],
                               [('', [('<span class="%s">%s</span>' % (f['severity'], f['severity']),
                                       str(('critical', 'warning', 'info').index(f['severity']))),
                                      (esc(f['message']), None)]) for f in findings]))
        else:
            body.append('<p>No change beyond the thresholds.</p>')
        body.append('</section>')
    body.append('<section id="outliers"><h2>Outliers (%d)</h2>' % len(report['outliers']))
    if report['outliers']:
        body.append(_table('outliers-table', [('host', False), ('probe', False), ('per second', True),
                                              ('fleet median', True), ('score', True), ('direction', False)],
                           [('', [('<code>%s</code>' % esc(o['host']), None), ('<code>%s</code>' % esc(o['probe']), None),
                                  (fmt_rate(o['value']), repr(o['value'])), (fmt_rate(o['median']), repr(o['median'])),
                                  ('%.1f' % o['score'], repr(o['score'])), (o['direction'], None)])
                            for o in report['outliers']]))
    else:
        body.append('<p>None: no host is more than %s modified z-scores from the fleet median of any probe.</p>'
                    % esc(report['settings']['outlier_threshold']))
    body.append('</section>')
    if probes:
        more = len(report['totals']) - len(probes)
        body.append('<section id="heatmap"><h2>Rate per second, host by probe</h2><p class="note">Darker is a higher '
                    'rate relative to the busiest host for that probe; white: did not fire; red outline: '
                    'outlier.%s Hover a cell for its count.</p><div class="scroll">%s</div></section>'
                    % (' The %d busiest of %d probes; the table below has them all.' % (len(probes), len(report['totals']))
                       if more else '', _heatmap(report, probes)))
        body.append('<section id="bars"><h2>Fleet total per probe</h2><div class="scroll">%s</div></section>'
                    % _bars(report, probes))
    if report['top_groups']:
        body.append('<section id="groups"><h2>Top processes, commands or cgroups</h2>%s</section>' % _table(
            'groups-table', [('host', False), ('probe', False), ('who', False), ('count', True), ('per second', True)],
            [('', [('<code>%s</code>' % esc(g['host']), None), ('<code>%s</code>' % esc(g['probe']), None),
                   ('<code>%s</code>' % esc(g['group']), None), (fmt_count(g['count']), str(g['count'])),
                   (fmt_rate(g['rate']), repr(g['rate']) if g['rate'] is not None else '-1')])
             for g in report['top_groups']]))
    host_rows = []
    for host, entry in report['hosts'].items():
        if host in failed:
            host_rows.append(('failed', [('<code>%s</code>' % esc(host), None), ('', '-1'), ('', '-1'), ('', '-1'),
                                         ('', None), ('', None), ('failed: %s' % esc(failed[host]), None)]))
            continue
        total = sum(entry['counts'].values())
        duration = _window(entry)
        rate = None if duration is None else total / duration
        fired = len([c for c in entry['counts'].values() if c])
        note = _status(entry) + (', probes skipped: %d' % len(_skipped_list(entry)) if _skipped_list(entry) else '')
        host_rows.append(('', [('<code>%s</code>' % esc(host), None), (fmt_count(total), str(total)),
                               (fmt_rate(rate), repr(rate) if rate is not None else '-1'), (str(fired), str(fired)),
                               (_time(entry.get('start')), None), (_time(entry.get('end')), None), (esc(note), None)]))
    body.append('<section id="hosts"><h2>Hosts</h2>%s</section>' % _table(
        'hosts-table', [('host', False), ('total', True), ('per second', True), ('probes fired', True), ('start', False),
                        ('end', False), ('status', False)], host_rows))
    rows = [row for row in _rows(report) if row[6] is not None or row[2]]
    fired = [row for row in rows if row[6] is None]
    note = 'Every host and probe that fired, and every failed host; the CSV also has the zeros.'
    if len(fired) > HTML_TABLE_ROWS:
        note = ('The %d busiest of %d host and probe pairs that fired, and every failed host; the CSV has them all.'
                % (HTML_TABLE_ROWS, len(fired)))
        rows = sorted(fired, key=lambda row: -row[2])[:HTML_TABLE_ROWS] + [row for row in rows if row[6] is not None]
    count_rows = []
    for host, probe, count, rate, start, end, error in rows:
        if error is not None:
            count_rows.append(('failed', [('<code>%s</code>' % esc(host), None), ('\u2014', None), ('', '-1'), ('', '-1'),
                                          ('', None), ('', None), ('failed: %s' % esc(error), None)]))
        else:
            count_rows.append(('', [('<code>%s</code>' % esc(host), None), ('<code>%s</code>' % esc(probe), probe),
                                    (fmt_count(count), str(count)), (fmt_rate(rate), repr(rate) if rate is not None else '-1'),
                                    (_time(start), None), (_time(end), None), ('ok', None)]))
    columns = [('host', False), ('probe', False), ('count', True), ('per second', True), ('start', False),
               ('end', False), ('status', False)]
    body.append('<section id="data"><h2>Counts, host by probe</h2><p class="note">%s Click a column heading to sort.'
                '</p>%s</section>' % (note, _table('counts', columns, count_rows)))
    csp = ("default-src 'none'; style-src %s; script-src %s; img-src 'none'; base-uri 'none'; form-action 'none'"
           % (_csp_hash(CSS), _csp_hash(SCRIPT)))
    return ''.join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n',
        '<meta http-equiv="Content-Security-Policy" content="%s">\n' % esc(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<title>funccount report %s</title>\n' % esc(report['run_id']),
        '<style>%s</style>\n</head>\n<body>\n' % CSS,
        '\n'.join(body),
        '\n<script>%s</script>\n</body></html>\n' % SCRIPT,
    ])


RENDERERS = {'json': render_json, 'csv': render_csv, 'md': render_md, 'html': render_html}


# --- files -------------------------------------------------------------------------------------------------------

def write(report_dir, report, formats=FORMATS, check_mode=False):
    """Write the formats into <report_dir>/<run_id>/; files whose content is unchanged are left alone.

    Returns (directory, {format: path}, changed). In check mode nothing is written.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportError('unknown report formats %s; choose from %s' % (', '.join(map(str, bad)), ', '.join(FORMATS)))
    directory = os.path.join(report_dir, check_run_id(report['run_id']))
    files, changed = {}, False
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        path = os.path.join(directory, FILENAMES[fmt])
        files[fmt] = path
        data = RENDERERS[fmt](report).encode('utf-8')
        try:
            with open(path, 'rb') as handle:
                if handle.read() == data:
                    continue
        except (FileNotFoundError, NotADirectoryError):
            pass
        changed = True
        if check_mode:
            continue
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % FILENAMES[fmt], dir=directory)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return directory, files, changed
