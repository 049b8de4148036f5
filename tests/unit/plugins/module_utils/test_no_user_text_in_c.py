# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing a user types reaches the C source bcc compiles, or a shell."""

from __future__ import annotations

import glob
import os
import re

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc

HOSTILE = ['t:sched:*"); system("touch /tmp/pwned', 'c:malloc`id`', '/tmp/a b:c;rm -rf /:f$(id)',
           'u:/x:p:#include </etc/shadow>', 'vfs_%s%n\\x00']


class Captured(Exception):
    pass


@pytest.mark.parametrize('nprobes', [1, 7, 1000, 65536])
def test_compiled_text_is_fixed_and_flags_are_integers(monkeypatch, nprobes):
    seen = {}

    def fake_bpf(text, cflags):
        seen['text'] = text
        seen['cflags'] = cflags
        raise Captured()
    monkeypatch.setattr(_bcc, 'BPF', fake_bpf)
    monkeypatch.setattr(_bcc, '_load_cached', lambda headers, n: None)
    monkeypatch.setattr(_bcc._host, 'nearest_headers', lambda: ('exact', ['/lib/modules/x/build']))
    with pytest.raises(Exception):
        _bcc.compile_program(nprobes)
    assert seen['text'] == _bcc.PROGRAM.encode()
    for flag in seen['cflags']:
        assert re.fullmatch(r'-D[A-Z_]+=\d+|-w', flag), flag
    # the function takes a count, nothing else: a pattern has no way in
    for text in HOSTILE:
        assert text.encode() not in seen['text']


def test_the_engine_never_starts_a_shell_or_a_program():
    here = os.path.dirname(_bcc.__file__)
    for path in glob.glob(os.path.join(here, '*.py')):
        with open(path) as handle:
            source = handle.read()
        for forbidden in ('subprocess', 'os.system', 'os.popen', 'os.exec', 'shell=True', 'pty.spawn'):
            assert forbidden not in source, '%s uses %s' % (os.path.basename(path), forbidden)
