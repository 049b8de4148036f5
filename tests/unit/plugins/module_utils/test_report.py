# SPDX-License-Identifier: GPL-3.0-or-later
"""The report (_report): its dict, the CSV, Markdown and HTML renderings with hostile keys, and writing the files."""

from __future__ import annotations

import base64
import copy
import hashlib
import html.parser
import json
import os

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _report as R
from ansible_collections.ebpf.bcc.plugins.module_utils._report import ReportError

HOSTILE = '<b>&"x" | `y`</b>\n\u2603'
HOSTILE_HOST = 'h<i>"&amp;\''

T0, T1 = '2026-12-06T18:00:00.000100Z', '2026-12-06T18:00:10.000100Z'
T2, T3 = '2026-12-06T18:00:00.000200Z', '2026-12-06T18:00:05.000200Z'
ABORTED = {'reason': 'counting cost too much', 'after_seconds': 5.0, 'overhead_percent': 9.1}

RESULTS = {
    'web2': {'counts': {'vfs_read': 10}, 'duration': 5.0, 'skipped': [], 'start': T2, 'end': T3, 'probes': 2,
             'engine': {'bcc_version': '0.26.0'}, 'aborted': ABORTED},
    'web1': {'counts': {'vfs_read': 30, 'vfs_write': 5, HOSTILE: 1}, 'duration': 10.0, 'start': T0, 'end': T1,
             'skipped': [{'probe': 'vfs_set_acl', 'reason': 'ENOENT'}], 'engine': {'bcc_version': '0.26.0'},
             'aborted': None, 'invocation': {'module_args': {}}, 'ansible_facts': {'funccount': {}},
             '_ansible_no_log': False, 'changed': False},
    'web3': {'unreachable': True, 'msg': 'ssh: | <refused> & *gone*', 'changed': False},
}


def build(**kwargs):
    return R.build('run-1', RESULTS, ['vfs_*', HOSTILE], top=2, **kwargs)


def test_build():
    assert build() == {
        'schema': 'ebpf.bcc.funccount_report/1',
        'run_id': 'run-1',
        'window': {'start': T0, 'end': T1, 'source': 'measured'},
        'patterns': ['vfs_*', HOSTILE],
        'settings': {'top': 2, 'outlier_threshold': 3.5, 'baseline_threshold': 2.0, 'baseline_critical': None,
                     'baseline_min_rate': 0.0},
        'summary': {'hosts': 3, 'counted': 2, 'failed': 1, 'probes': 3, 'total': 46, 'aborted': ['web2']},
        'failed_hosts': {'web3': 'unreachable: ssh: | <refused> & *gone*'},
        'totals': {'vfs_read': 40, 'vfs_write': 5, HOSTILE: 1},
        'rates': {'hosts': {'web1': {'vfs_read': 3.0, 'vfs_write': 0.5, HOSTILE: 0.1}, 'web2': {'vfs_read': 2.0}},
                  'fleet': {'vfs_read': 5.0, 'vfs_write': 0.5, HOSTILE: 0.1}},
        'outliers': [],
        'top_probes': [{'probe': 'vfs_read', 'count': 40, 'rate': 5.0, 'hosts': 2},
                       {'probe': 'vfs_write', 'count': 5, 'rate': 0.5, 'hosts': 1}],
        'top_hosts': [{'host': 'web1', 'count': 36, 'rate': 3.6}, {'host': 'web2', 'count': 10, 'rate': 2.0}],
        'top_groups': [],
        'baseline': None,
        'hosts': {
            'web1': {'counts': {'vfs_read': 30, 'vfs_write': 5, HOSTILE: 1}, 'duration': 10.0, 'start': T0, 'end': T1,
                     'skipped': [{'probe': 'vfs_set_acl', 'reason': 'ENOENT'}], 'engine': {'bcc_version': '0.26.0'},
                     'aborted': None},
            'web2': RESULTS['web2'],
            'web3': {'unreachable': True, 'msg': 'ssh: | <refused> & *gone*'},
        },
    }
    assert list(build()['hosts']) == ['web1', 'web2', 'web3']


def test_build_does_not_change_its_input():
    before = copy.deepcopy(RESULTS)
    build(baseline=RESULTS)
    assert RESULTS == before


@pytest.mark.parametrize('window,expected', [
    (None, {'start': T0, 'end': T1, 'source': 'measured'}),
    ({'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z'},
     {'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z', 'source': 'given'}),
    ({'start': '2026-12-06T18:00:00Z', 'end': None}, {'start': '2026-12-06T18:00:00Z', 'end': T1, 'source': 'given'}),
    ({}, {'start': T0, 'end': T1, 'source': 'given'}),
])
def test_window(window, expected):
    assert build(window=window)['window'] == expected


def test_window_of_no_counting_host():
    report = R.build('r', {'a': {'failed': True, 'msg': 'x'}, 'b': 'junk'})
    assert report['window'] == {'start': None, 'end': None, 'source': 'measured'}
    assert report['hosts'] == {'a': {'failed': True, 'msg': 'x'},
                               'b': {'failed': True, 'msg': 'the result is not a mapping (got str)'}}
    assert report['summary'] == {'hosts': 2, 'counted': 0, 'failed': 2, 'probes': 0, 'total': 0, 'aborted': []}


def test_build_with_baseline_report():
    baseline = {'run_id': 'base-7', 'hosts': {'web1': {'counts': {'vfs_read': 3}, 'duration': 10.0},
                                              'web2': RESULTS['web2']}}
    report = build(baseline=baseline, baseline_threshold=5.0)
    assert report['baseline'] == {'run_id': 'base-7', 'findings': [
        {'severity': 'critical', 'scope': 'host', 'host': 'web3', 'probe': None, 'kind': 'host_failed',
         'baseline_rate': None, 'current_rate': None, 'ratio': None,
         'message': 'web3 failed: unreachable: ssh: | <refused> & *gone*'},
        {'severity': 'warning', 'scope': 'fleet', 'host': None, 'probe': HOSTILE, 'kind': 'appeared',
         'baseline_rate': 0.0, 'current_rate': 0.1, 'ratio': None,
         'message': 'fleet-wide %s appeared: 0.1/s, not in the baseline' % HOSTILE},
        {'severity': 'warning', 'scope': 'fleet', 'host': None, 'probe': 'vfs_write', 'kind': 'appeared',
         'baseline_rate': 0.0, 'current_rate': 0.5, 'ratio': None,
         'message': 'fleet-wide vfs_write appeared: 0.5/s, not in the baseline'},
        {'severity': 'warning', 'scope': 'host', 'host': 'web1', 'probe': HOSTILE, 'kind': 'appeared',
         'baseline_rate': 0.0, 'current_rate': 0.1, 'ratio': None,
         'message': '%s on web1 appeared: 0.1/s, not in the baseline' % HOSTILE},
        {'severity': 'warning', 'scope': 'host', 'host': 'web1', 'probe': 'vfs_read', 'kind': 'increased',
         'baseline_rate': 0.3, 'current_rate': 3.0, 'ratio': 10.0,
         'message': 'vfs_read on web1 increased 10 times: 3/s, baseline 0.3/s'},
        {'severity': 'warning', 'scope': 'host', 'host': 'web1', 'probe': 'vfs_write', 'kind': 'appeared',
         'baseline_rate': 0.0, 'current_rate': 0.5, 'ratio': None,
         'message': 'vfs_write on web1 appeared: 0.5/s, not in the baseline'},
    ]}
    # sorted by severity, scope (fleet first), host, then probe key: '<' sorts before 'v'
    # fleet vfs_read: 0.3 + 2 = 2.3/s then, 3 + 2 = 5/s now: 2.17 times, below 5
    assert R.build('x', RESULTS, baseline={'web1': RESULTS['web1'], 'web2': RESULTS['web2']})['baseline'] == {
        'run_id': None, 'findings': [report['baseline']['findings'][0]]}


def test_report_json_read_back_is_a_baseline():
    previous = json.loads(R.render_json(build()))
    assert build(baseline=previous)['baseline'] == {'run_id': 'run-1', 'findings': [
        {'severity': 'critical', 'scope': 'host', 'host': 'web3', 'probe': None, 'kind': 'host_failed',
         'baseline_rate': None, 'current_rate': None, 'ratio': None,
         'message': 'web3 failed: unreachable: ssh: | <refused> & *gone*'}]}


@pytest.mark.parametrize('run_id', ['run-1', '2026-12-06T18:00:00Z', 'sweep \u00fc', 'a' * 200, '...'])
def test_run_id_ok(run_id):
    assert R.check_run_id(run_id) == run_id


@pytest.mark.parametrize('run_id,message', [
    ('', "run_id must be a non-empty string, got ''"),
    ('  ', "run_id must be a non-empty string, got '  '"),
    (None, 'run_id must be a non-empty string, got None'),
    (7, 'run_id must be a non-empty string, got 7'),
    ('.', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got '.'"),
    ('..', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got '..'"),
    ('../x', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got '../x'"),
    ('/etc', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got '/etc'"),
    ('a\\b', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got 'a\\\\b'"),
    ('a\0b', "run_id must be usable as one directory name (no '/', '\\', NUL, '.' or '..'), got 'a\\x00b'"),
    ('a' * 201, 'run_id must be at most 200 bytes long, got 201'),
    ('\u00fc' * 101, 'run_id must be at most 200 bytes long, got 202'),
])
def test_run_id_bad(run_id, message):
    with pytest.raises(ReportError) as info:
        R.check_run_id(run_id)
    assert str(info.value) == message


@pytest.mark.parametrize('kwargs,message', [
    ({'patterns': 'vfs_*'}, "patterns must be a list of strings, got 'vfs_*'"),
    ({'patterns': [1]}, 'patterns must be a list of strings, got [1]'),
    ({'window': 'now'}, 'window must be a mapping with start and end, got str'),
])
def test_build_errors(kwargs, message):
    with pytest.raises(ReportError) as info:
        R.build('r', RESULTS, **kwargs)
    assert str(info.value) == message


def test_json():
    text = R.render_json(build())
    assert json.loads(text) == build()
    assert text.endswith('}\n')
    assert '"<b>&\\"x\\" | `y`</b>\\n\u2603": 1' in text     # UTF-8 as is, JSON escapes only
    with pytest.raises(ValueError):
        R.render_json(dict(build(), bad=float('nan')))


CSV = (
    'host,probe,count,rate_per_second,start,end,error\r\n'
    'web1,vfs_read,30,3.0,%(t0)s,%(t1)s,\r\n'
    'web1,vfs_write,5,0.5,%(t0)s,%(t1)s,\r\n'
    'web1,"<b>&""x"" | `y`</b>\n\u2603",1,0.1,%(t0)s,%(t1)s,\r\n'
    'web2,vfs_read,10,2.0,%(t2)s,%(t3)s,\r\n'
    'web2,vfs_write,0,0.0,%(t2)s,%(t3)s,\r\n'
    'web2,"<b>&""x"" | `y`</b>\n\u2603",0,0.0,%(t2)s,%(t3)s,\r\n'
    'web3,,,,,,unreachable: ssh: | <refused> & *gone*\r\n'
) % {'t0': T0, 't1': T1, 't2': T2, 't3': T3}


def test_csv():
    assert R.render_csv(build()) == CSV


def test_csv_reads_back():
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(R.render_csv(build()), newline='')))
    assert [(r['host'], r['probe'], r['count']) for r in rows] == [
        ('web1', 'vfs_read', '30'), ('web1', 'vfs_write', '5'), ('web1', HOSTILE, '1'), ('web2', 'vfs_read', '10'),
        ('web2', 'vfs_write', '0'), ('web2', HOSTILE, '0'), ('web3', '', '')]
    assert rows[-1]['error'] == 'unreachable: ssh: | <refused> & *gone*'


def test_csv_host_without_window():
    report = R.build('r', {'h': {'counts': {'a': 3}, 'duration': 0.0}})
    assert R.render_csv(report) == 'host,probe,count,rate_per_second,start,end,error\r\nh,a,3,,,,\r\n'


MD = '''# funccount report `run-1`

- Window (UTC): %(t0)s to %(t1)s
- Patterns: `vfs_*`, ``<b>&"x" | `y`</b> \u2603``
- Hosts: 3, 2 counted, 1 failed
- Probes: 3, 46 events in all

## Failed hosts (1): no data from these

| host | reason |
|---|---|
| `web3` | unreachable: ssh: \\| \\<refused\\> \\& \\*gone\\* |

## Outliers (0)

None: no host is more than 3.5 modified z-scores from the fleet median of any probe.

## Top probes

| # | probe | count | per second | hosts |
|--:|---|--:|--:|--:|
| 1 | `vfs_read` | 40 | 5.00 | 2 |
| 2 | `vfs_write` | 5 | 0.50 | 1 |

## Hosts

| host | total | per second | probes fired | start | end | status |
|---|--:|--:|--:|---|---|---|
| `web1` | 36 | 3.60 | 3 | %(t0)s | %(t1)s | ok, probes skipped: 1 |
| `web2` | 10 | 2.00 | 1 | %(t2)s | %(t3)s | stopped early after 5.0 s |
| `web3` |  |  |  |  |  | **failed** |
''' % {'t0': T0, 't1': T1, 't2': T2, 't3': T3}


def test_markdown():
    assert R.render_md(build()) == MD


def test_markdown_outliers_and_baseline():
    results = {'h%d' % i: {'counts': {'p': 10}, 'duration': 1.0} for i in range(1, 6)}
    results['h5'] = {'counts': {'p': 1000, HOSTILE: 2}, 'duration': 1.0}
    base = {'h%d' % i: {'counts': {'p': 10}, 'duration': 1.0} for i in range(1, 6)}
    text = R.render_md(R.build('r', results, baseline={'run_id': 'b|1', 'hosts': base}, top=1))
    assert '''## Baseline `b|1`: 4 findings

| severity | finding |
|---|---|
| critical | fleet-wide p increased 20.8 times: 1040/s, baseline 50/s |
| critical | p on h5 increased 100 times: 1000/s, baseline 10/s |
| warning | fleet-wide \\<b\\>\\&"x" \\| \\`y\\`\\</b\\> \u2603 appeared: 2/s, not in the baseline |
| warning | \\<b\\>\\&"x" \\| \\`y\\`\\</b\\> \u2603 on h5 appeared: 2/s, not in the baseline |

## Outliers (2)

| host | probe | per second | fleet median | score | direction |
|---|---|--:|--:|--:|---|
| `h5` | ``<b>&"x" \\| `y`</b> \u2603`` | 2.00 | 0 | 4.0 | high |
| `h5` | `p` | 1,000 | 10.00 | 4.0 | high |
''' in text


@pytest.mark.parametrize('text,table,expected', [
    ('vfs_read', True, '`vfs_read`'),
    ('a`b', True, '``a`b``'),
    ('a``b`', True, '``` a``b` ```'),
    ('`a', True, '`` `a ``'),
    ('a|b', True, '`a\\|b`'),
    ('a|b', False, '`a|b`'),
    (' a ', True, '`  a  `'),
    ('  ', True, '`  `'),
    ('a\nb\r\nc', True, '`a b c`'),
    ('<&>', True, '`<&>`'),
])
def test_md_code(text, table, expected):
    assert R.md_code(text, in_table=table) == expected


@pytest.mark.parametrize('text,expected', [
    ('plain words, ok.', 'plain words, ok.'),
    ('a_b*c', 'a\\_b\\*c'),
    ('<script>&amp;', '\\<script\\>\\&amp;'),
    ('[x](http://e)', '\\[x\\](http://e)'),
    ('a|b\\c', 'a\\|b\\\\c'),
    ('# h\n## h2', '\\# h \\#\\# h2'),
    ('`code` ~x~ !', '\\`code\\` \\~x\\~ \\!'),
])
def test_md_text(text, expected):
    assert R.md_text(text) == expected


@pytest.mark.parametrize('rate,text', [
    (None, ''), (0, '0'), (0.0, '0'), (0.001234, '0.00123'), (0.01, '0.01'), (0.5, '0.50'), (3.6, '3.60'),
    (99.994, '99.99'), (99.996, '100.00'), (100, '100'), (999.5, '1,000'), (1234567.8, '1,234,568'),
])
def test_fmt_rate(rate, text):
    assert R.fmt_rate(rate) == text


class Dom(html.parser.HTMLParser):
    """Elements with their attributes and text, from the standard library's HTML parser."""

    VOID = {'meta', 'br', 'img', 'input', 'link', 'hr'}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.stack = [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = {'tag': tag, 'attrs': dict(attrs), 'text': '', 'parents': [e['tag'] for e in self.stack]}
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({'tag': tag, 'attrs': dict(attrs), 'text': '', 'parents': [e['tag'] for e in self.stack]})

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()['tag'] == tag:
                break

    def handle_data(self, data):
        for element in self.stack:
            element['text'] += data

    def find(self, tag=None, **attrs):
        return [e for e in self.elements if (tag is None or e['tag'] == tag)
                and all(e['attrs'].get(k.rstrip('_')) == v for k, v in attrs.items())]


def sha256(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode('utf-8')).digest()).decode()


def hostile_report():
    results = copy.deepcopy(RESULTS)
    results[HOSTILE_HOST] = {'counts': {HOSTILE: 7, '</svg><script>alert(1)</script>': 3}, 'duration': 1.0,
                             'start': T0, 'end': T1}
    results['web4'] = {'failed': True, 'msg': '<img src=x onerror=alert(1)> "failed" & \'quoted\''}
    return R.build('<run>&"1"', results, [HOSTILE])


def test_html_is_self_contained_and_escaped():
    page = R.render_html(hostile_report())
    dom = Dom(page)
    tags = {e['tag'] for e in dom.elements}
    assert not tags & {'b', 'i', 'img', 'link', 'iframe', 'object', 'embed', 'base', 'form'}
    scripts = dom.find('script')
    assert len(scripts) == 1 and scripts[0]['text'] == R.SCRIPT
    assert dom.find('style')[0]['text'] == R.CSS
    assert not [e for e in dom.elements if set(e['attrs']) & {'src', 'href', 'onerror', 'onload', 'onclick', 'style'}]
    assert [e['attrs']['xmlns'] for e in dom.find('svg')] == ['http://www.w3.org/2000/svg'] * 2
    assert page.count('http://') + page.count('https://') == 2
    csp = [e['attrs']['content'] for e in dom.find('meta') if e['attrs'].get('http-equiv') == 'Content-Security-Policy']
    assert len(csp) == 1
    csp = csp[0]
    assert csp == ("default-src 'none'; style-src %s; script-src %s; img-src 'none'; base-uri 'none'; "
                   "form-action 'none'" % (sha256(R.CSS), sha256(R.SCRIPT)))
    assert dom.find('title')[0]['text'] == 'funccount report <run>&"1"'
    codes = [e['text'] for e in dom.find('code')]
    assert HOSTILE in codes and HOSTILE_HOST in codes and '</svg><script>alert(1)</script>' in codes
    failed = dom.find('section', id='failed')[0]
    assert failed['text'].count('web4') == 1
    assert '<img src=x onerror=alert(1)> "failed" & \'quoted\'' in failed['text']
    assert 'unreachable: ssh: | <refused> & *gone*' in failed['text']


def test_html_sections_and_tables():
    dom = Dom(R.render_html(hostile_report()))
    assert [e['attrs']['id'] for e in dom.find('section')] == ['failed', 'outliers', 'heatmap', 'bars', 'hosts', 'data']
    assert dom.find('dd', id='host-summary')[0]['text'] == '5: 3 counted, 2 failed'
    rows = [e for e in dom.find('tr') if 'tbody' in e['parents']]
    # failed hosts 2, outliers 1 (the hostile host's 7/s of HOSTILE against 0.1 and 0), hosts 5,
    # counts: the pairs that fired (hostile host 2, web1 3, web2 1) + 2 failed hosts
    assert len(rows) == 2 + 1 + 5 + 6 + 2
    assert dom.find('table', id='counts')[0]['attrs']['class'] == 'sortable'
    # failed hosts table, hosts table and counts table: 2 each
    assert len(dom.find('tr', class_='failed')) == 6
    heat_cells = [e for e in dom.find('rect') if e['attrs'].get('class', '').startswith('cell')]
    assert len(heat_cells) == 3 * 4
    assert [e['text'] for e in heat_cells if e['attrs']['class'] == 'cell outlier'] == [
        '%s \u00b7 %s: 7 (7.00/s)' % (HOSTILE_HOST, HOSTILE)]
    titles = [e['text'] for e in dom.find('title') if 'svg' in e['parents']]
    assert '%s: 8' % HOSTILE in titles
    assert '</svg><script>alert(1)</script>: 3' in titles
    assert len(dom.find('rect', class_='failedrow')) == 2
    assert len(dom.find('rect', class_='bar')) == 4
    labels = [e['text'] for e in dom.find('text', class_='col')]
    # each column label: its <title> (the key as is), then the key on one line
    assert labels == ['vfs_read' * 2, HOSTILE + HOSTILE.replace('\n', ' '), 'vfs_write' * 2,
                      '</svg><script>alert(1)</script>' * 2]


def test_html_deterministic_and_only_svg_for_data():
    assert R.render_html(build()) == R.render_html(build())
    dom = Dom(R.render_html(R.build('empty', {'a': {'failed': True, 'msg': 'no bcc'}})))
    assert [e['attrs']['id'] for e in dom.find('section')] == ['failed', 'outliers', 'hosts', 'data']
    assert dom.find('svg') == []


GROUPED = {
    'web1': {'counts': {'c:malloc': 50, 'vfs_read': 4}, 'duration': 2.0,
             'groups': [{'probe': 'c:malloc', 'count': 40, 'pid': 4242, 'comm': 'ng<i>nx'},
                        {'probe': 'c:malloc', 'count': 10, 'pid': 7, 'comm': 'sh'},
                        {'probe': 'vfs_read', 'count': 4, 'pid': 7, 'comm': ''}]},
    'web2': {'counts': {'c:malloc': 40}, 'duration': 2.0,
             'groups': [{'probe': 'c:malloc', 'count': 40, 'cgroup': '/system.slice/a|b.service', 'cgroup_id': 9}]},
    'web3': {'counts': {'c:malloc': 3}, 'duration': 2.0},
}


def test_groups_in_markdown_and_html():
    report = R.build('g', GROUPED, top=3)
    assert report['top_groups'] == [
        {'host': 'web1', 'probe': 'c:malloc', 'group': 'pid 4242 (ng<i>nx)', 'count': 40, 'rate': 20.0, 'pid': 4242,
         'comm': 'ng<i>nx'},
        {'host': 'web2', 'probe': 'c:malloc', 'group': '/system.slice/a|b.service', 'count': 40, 'rate': 20.0,
         'cgroup': '/system.slice/a|b.service', 'cgroup_id': 9},
        {'host': 'web1', 'probe': 'c:malloc', 'group': 'pid 7 (sh)', 'count': 10, 'rate': 5.0, 'pid': 7, 'comm': 'sh'},
    ]
    assert """## Top processes, commands or cgroups

| host | probe | who | count | per second |
|---|---|---|--:|--:|
| `web1` | `c:malloc` | `pid 4242 (ng<i>nx)` | 40 | 20.00 |
| `web2` | `c:malloc` | `/system.slice/a\\|b.service` | 40 | 20.00 |
| `web1` | `c:malloc` | `pid 7 (sh)` | 10 | 5.00 |

## Hosts
""" in R.render_md(report)
    dom = Dom(R.render_html(report))
    assert [e['attrs']['id'] for e in dom.find('section')] == ['outliers', 'heatmap', 'bars', 'groups', 'hosts', 'data']
    assert [e['text'] for e in dom.find('tr') if 'tbody' in e['parents']][:3] == [
        'web1c:mallocpid 4242 (ng<i>nx)4020.00', 'web2c:malloc/system.slice/a|b.service4020.00',
        'web1c:mallocpid 7 (sh)105.00']
    assert 'i' not in {e['tag'] for e in dom.elements}


def test_html_marks_outliers():
    results = {'h%d' % i: {'counts': {'p': 10, 'q': 5}, 'duration': 1.0} for i in range(1, 7)}
    results['h6'] = {'counts': {'p': 900, 'q': 5}, 'duration': 1.0}
    dom = Dom(R.render_html(R.build('o', results)))
    outlying = [e['text'] for e in dom.find('rect', class_='cell outlier')]
    assert outlying == ['h6 \u00b7 p: 900 (900/s)']
    outlier_rows = [e['text'] for e in dom.find('tr') if 'tbody' in e['parents']][:1]
    # 900 against five 10s: MAD 0, mean absolute deviation 890 / 6, score 890 / (1.253314 * 148.33) = 4.787
    assert outlier_rows == ['h6p90010.004.8high']


def test_html_heatmap_limit():
    counts = {'p%02d' % i: 100 - i for i in range(40)}
    dom = Dom(R.render_html(R.build('many', {'a': {'counts': counts, 'duration': 1.0}})))
    assert len(dom.find('rect', class_='cell')) == R.HEATMAP_PROBES
    assert 'The 30 busiest of 40 probes; the table below has them all.' in dom.find('section', id='heatmap')[0]['text']
    assert len([e for e in dom.find('tr') if 'tbody' in e['parents']]) == 1 + 40


def test_html_counts_table_limit():
    results = {'h%02d' % i: {'counts': {'p%03d' % j: 1 + i * 100 + j for j in range(100)}, 'duration': 1.0}
               for i in range(51)}
    results['zz'] = {'unreachable': True, 'msg': 'gone'}
    dom = Dom(R.render_html(R.build('big', results)))
    section = dom.find('section', id='data')[0]['text']
    assert section.startswith('Counts, host by probeThe 5000 busiest of 5100 host and probe pairs that fired, and every '
                              'failed host; the CSV has them all.')
    rows = [e['text'] for e in dom.find('tr') if 'tbody' in e['parents']]
    # failed hosts 1, hosts 52 (no outliers: counts grow evenly from host to host), counts 5000 + 1
    assert len(rows) == 1 + 52 + 5000 + 1
    assert rows[1 + 52] == 'h50p0995,1005,100ok'    # 1 + 50 * 100 + 99 events in 1 s
    assert rows[-1] == 'zz\u2014failed: unreachable: gone'


def test_write(tmp_path):
    report = build()
    directory, files, changed = R.write(str(tmp_path), report)
    assert (directory, changed) == (str(tmp_path / 'run-1'), True)
    assert files == {fmt: str(tmp_path / 'run-1' / ('report.' + fmt)) for fmt in ('json', 'csv', 'md', 'html')}
    assert sorted(os.listdir(directory)) == ['report.csv', 'report.html', 'report.json', 'report.md']
    assert (tmp_path / 'run-1' / 'report.csv').read_bytes() == CSV.encode('utf-8')
    assert (tmp_path / 'run-1' / 'report.md').read_text(encoding='utf-8') == MD
    assert json.loads((tmp_path / 'run-1' / 'report.json').read_text(encoding='utf-8')) == report
    assert (tmp_path / 'run-1' / 'report.html').read_text(encoding='utf-8') == R.render_html(report)
    assert {oct(os.stat(p).st_mode & 0o777) for p in files.values()} == {'0o644'}
    stamps = {p: os.stat(p).st_mtime_ns for p in files.values()}
    assert R.write(str(tmp_path), report) == (directory, files, False)
    assert {p: os.stat(p).st_mtime_ns for p in files.values()} == stamps
    report['patterns'] = ['other']
    assert R.write(str(tmp_path), report, ['md'], check_mode=True) == (directory, {'md': files['md']}, True)
    assert (tmp_path / 'run-1' / 'report.md').read_text(encoding='utf-8') == MD
    assert R.write(str(tmp_path), report, ['md']) == (directory, {'md': files['md']}, True)
    assert '- Patterns: `other`' in (tmp_path / 'run-1' / 'report.md').read_text(encoding='utf-8')
    assert sorted(os.listdir(directory)) == ['report.csv', 'report.html', 'report.json', 'report.md']


def test_write_check_mode_creates_nothing(tmp_path):
    directory, files, changed = R.write(str(tmp_path / 'reports'), build(), ['json', 'html'], check_mode=True)
    assert (directory, changed) == (str(tmp_path / 'reports' / 'run-1'), True)
    assert list(files) == ['json', 'html']
    assert not (tmp_path / 'reports').exists()


def test_write_errors(tmp_path):
    with pytest.raises(ReportError) as info:
        R.write(str(tmp_path), build(), ['json', 'pdf', 'xml'])
    assert str(info.value) == 'unknown report formats pdf, xml; choose from json, csv, md, html'
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OSError):
        R.write(str(tmp_path / 'file'), build())
