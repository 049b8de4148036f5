# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html rendered by headless Chromium (Debian's chromium), offline: what the page shows after its script ran.

--dump-dom gives the DOM after the page's own inline script has run under its Content-Security-Policy; the
URL fragment #sort=<table>:<column>:<asc|desc> makes that script sort a table, so sorting is checked in the
real engine. The NetLog shows that the page asked for nothing, and a page with an <img> from the network
shows that the check would see it.
"""

from __future__ import annotations

import os

import pytest

import chromium
import sample_fleet

from ansible_collections.ebpf.bcc.plugins.module_utils import _report

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root (chromium runs in its own network namespace)')

HOSTILE = sample_fleet.HOSTILE


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    if chromium.binary() is None:
        pytest.fail('chromium is not installed: run make setup (scripts/apt-packages.txt lists it)')
    report = _report.build(sample_fleet.RUN_ID, sample_fleet.results(hostile=True), sample_fleet.PATTERNS,
                           window=sample_fleet.WINDOW)
    _directory, files, _changed = _report.write(str(tmp_path_factory.mktemp('reports')), report)
    return {'url': 'file://' + files['html'], 'report': report}


@pytest.fixture(scope='module')
def shown(page):
    text, requests = chromium.dump_dom(page['url'])
    return {'dom': chromium.Dom(text), 'requests': requests, 'text': text}


def test_page_asks_for_nothing(shown):
    assert shown['requests'] == []


def test_the_check_sees_a_request(tmp_path):
    leaky = tmp_path / 'leaky.html'
    leaky.write_text('<!DOCTYPE html><title>x</title><img src="http://report-assets.invalid/logo.png">', encoding='utf-8')
    assert chromium.dump_dom('file://%s' % leaky)[1] == ['http://report-assets.invalid/logo.png']


def test_summary_and_failed_hosts_first(shown):
    dom = shown['dom']
    assert dom.find('title')[0]['text'] == 'funccount report sweep-20261206T180000Z'
    assert dom.find('dd', id='host-summary')[0]['text'] == '9: 7 counted, 2 failed'
    assert [s['attrs']['id'] for s in dom.find('section')] == ['failed', 'outliers', 'heatmap', 'bars', 'hosts', 'data']
    assert dom.rows('failed-table') == [
        ['db2', 'unreachable: Failed to connect to the host via ssh: ssh: connect to host 10.0.0.12 port 22: '
                'Connection refused'],
        ['web10', 'Failed to import the required Python library (bcc (python3-bpfcc on Debian and Ubuntu)) on web10. '
                  'Run the ebpf.bcc.install role on this host.'],
    ]
    assert [r['attrs'].get('class') for r in dom.find('tr') if 'db2' in r['text'] or 'web10' in r['text']] == \
        ['failed'] * 6


def test_outliers_shown(shown, page):
    rows = shown['dom'].rows('outliers-table')
    assert [(r[0], r[1], r[5]) for r in rows] == [(o['host'], o['probe'], o['direction']) for o in page['report']['outliers']]
    assert [(r[0], r[1]) for r in rows] == [('web3', 'c:malloc'), ('web3', 'vfs_read'),
                                            ('web3', HOSTILE), ('web3', 'u:/opt/shop/bin/cart:order__done')]


def test_hostile_key_is_text_everywhere(shown):
    dom = shown['dom']
    assert len(dom.find('script')) == 1
    assert not {e['tag'] for e in dom.elements} & {'b', 'img', 'iframe', 'object', 'embed', 'link'}
    assert HOSTILE in [e['text'] for e in dom.find('code')]
    assert [e['text'] for e in dom.find('text', class_='col') if 'alert' in e['text']] == [HOSTILE + HOSTILE]
    assert '%s: 17' % HOSTILE in [e['text'] for e in dom.find('title')]


def test_svg_heatmap_and_bars(shown, page):
    dom = shown['dom']
    probes = len(page['report']['totals'])
    cells = [e for e in dom.find('rect') if e['attrs'].get('class', '').startswith('cell')]
    assert len(cells) == 7 * probes
    assert sorted(e['text'] for e in dom.find('rect', class_='cell outlier')) == [
        'web3 \u00b7 %s: 17 (1.70/s)' % HOSTILE,
        'web3 \u00b7 c:malloc: 82,105 (8,210/s)',
        'web3 \u00b7 u:/opt/shop/bin/cart:order__done: 17 (1.70/s)',
        'web3 \u00b7 vfs_read: 9,120 (912/s)',
    ]
    assert [e['attrs']['class'] for e in dom.find('rect') if e['attrs'].get('class') == 'failedrow'] == ['failedrow'] * 2
    bars = dom.find('rect', class_='bar')
    assert len(bars) == probes
    widths = [int(b['attrs']['width']) for b in bars]
    assert widths[0] == 420 and widths == sorted(widths, reverse=True)


def test_script_ran_under_the_csp(shown):
    headings = [e for e in shown['dom'].find('th') if any(p['attrs'].get('id') == 'counts' for p in e['parents'])]
    assert [h['attrs'].get('tabindex') for h in headings] == ['0'] * 7


@pytest.mark.parametrize('fragment,column,first,last', [
    ('', None, ['db1', 'c:malloc', '709'], ['web10', '\u2014', '']),
    ('#sort=counts:2:desc', 'descending', ['web3', 'c:malloc', '82,105'], None),
    ('#sort=counts:0:asc', 'ascending', ['db1'], None),
    ('#sort=counts:0:desc', 'descending', ['web6'], None),
])
def test_sorting(page, fragment, column, first, last):
    dom = chromium.Dom(chromium.dump_dom(page['url'] + fragment)[0])
    rows = dom.rows('counts')
    # every pair that fired: the 10 probes of every host and web3's 2 of its own, and the 2 failed hosts
    assert len(rows) == 7 * 10 + 2 + 2
    assert rows[0][:len(first)] == first
    if last:
        assert rows[-1][:len(last)] == last
    heads = [h for h in dom.find('th') if any(p['attrs'].get('id') == 'counts' for p in h['parents'])]
    sorted_by = [h['attrs'].get('aria-sort') for h in heads if h['attrs'].get('aria-sort') not in (None, 'none')]
    assert sorted_by == ([column] if column else [])
    if fragment == '#sort=counts:2:desc':
        counts = [int(r[2].replace(',', '')) if r[2] else -1 for r in rows]
        assert counts == sorted(counts, reverse=True)


def test_screenshot(page, tmp_path):
    png = tmp_path / 'report.png'
    assert chromium.screenshot(page['url'], str(png), 1280, 1500) == []
    data = png.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert (int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')) == (1280, 1500)
    assert len(data) > 50000
