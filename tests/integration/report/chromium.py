# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless Debian chromium on file:// pages, cut off from the network.

Chromium runs in a new network namespace (`unshare --net`, as root: only a down loopback, so nothing can
leave the machine whatever Chromium itself tries: it asks update and account services on start even with
the flags below), with every host name resolving to nothing, and a fresh profile each time. Its NetLog
is kept, so that a test can list the requests a page made.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
import tempfile

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--host-resolver-rules=MAP * ~NOTFOUND',
         '--hide-scrollbars']


def binary():
    return shutil.which('chromium')


def run(url, *args, timeout=120):
    """Run chromium on a file:// URL; (stdout, page requests from the NetLog)."""
    if not url.startswith('file://'):
        raise ValueError('only file:// pages, got %r' % url)
    profile = tempfile.mkdtemp(prefix='chromium-profile-')
    netlog = os.path.join(profile, 'netlog.json')
    try:
        command = ['unshare', '--net', binary()] + FLAGS + ['--user-data-dir=%s' % profile,
                                                            '--log-net-log=%s' % netlog] + list(args) + [url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError('chromium exited with %d: %s' % (done.returncode, done.stderr[-2000:]))
        return done.stdout, page_requests(netlog)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_requests(netlog):
    """URLs of the requests a page started (the browser's own have the initiator 'not an origin')."""
    with open(netlog, encoding='utf-8') as handle:
        log = json.load(handle)
    names = {number: name for name, number in log['constants']['logEventTypes'].items()}
    urls = []
    for event in log['events']:
        params = event.get('params') or {}
        if names.get(event['type']) == 'URL_REQUEST_START_JOB' and 'url' in params:
            if params.get('initiator') != 'not an origin':
                urls.append(params['url'])
    return urls


def dump_dom(url):
    return run(url, '--dump-dom')


def screenshot(url, png, width=1280, height=2000):
    return run(url, '--screenshot=%s' % png, '--window-size=%d,%d' % (width, height))[1]


class Dom(html.parser.HTMLParser):
    """Elements of a page with attributes, text and ancestors, from the standard library's parser."""

    VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'source', 'wbr'}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.stack = [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = {'tag': tag, 'attrs': dict(attrs), 'text': '', 'parents': list(self.stack)}
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({'tag': tag, 'attrs': dict(attrs), 'text': '', 'parents': list(self.stack)})

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()['tag'] == tag:
                break

    def handle_data(self, data):
        for element in self.stack:
            element['text'] += data

    def find(self, tag=None, **attrs):
        return [e for e in self.elements if (tag is None or e['tag'] == tag)
                and all(e['attrs'].get(k.rstrip('_').replace('_', '-')) == v for k, v in attrs.items())]

    def rows(self, table_id):
        """Cell texts of the body rows of a table, in document order."""
        table = self.find('table', id=table_id)[0]
        rows = [e for e in self.elements if e['tag'] == 'tr' and table in e['parents']
                and any(p['tag'] == 'tbody' for p in e['parents'])]
        return [[c['text'] for c in self.elements if c['tag'] == 'td' and row in c['parents']] for row in rows]
