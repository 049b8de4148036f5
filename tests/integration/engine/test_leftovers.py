# SPDX-License-Identifier: GPL-3.0-or-later
"""Legacy uprobe_events entries left by dead bcc processes are removed by the next run, and reported.

The entries are real tracefs entries, written the way bcc's tools write them when they fall back to
tracefs (kernels without the uprobe PMU), named <p|r>_<target>_bcc_<pid>.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _elf, _host

from enginehelp import count

pytestmark = [pytest.mark.root]

LIBC = '/lib/x86_64-linux-gnu/libc.so.6'


def _events_file():
    tracefs = _host.tracefs()
    if tracefs is None or not os.path.exists(os.path.join(tracefs, 'uprobe_events')):
        pytest.skip('no tracefs uprobe_events on this kernel')
    return os.path.join(tracefs, 'uprobe_events')


def _entries(path):
    with open(path) as handle:
        return handle.read()


def _append(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # tracefs refuses the seek of open(path, 'a')
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _add(path, name, offset):
    _append(path, 'p:uprobes/%s %s:0x%x\n' % (name, LIBC, offset))


def _remove(path, name):
    try:
        _append(path, '-:uprobes/%s\n' % name)
    except OSError:
        pass  # already gone


def test_a_run_removes_entries_of_dead_bcc_processes_and_keeps_live_ones():
    path = _events_file()
    elf = _elf.ElfFile(LIBC)
    offset = elf.vaddr_to_offset(elf.functions()['getppid'].value)
    dead = subprocess.Popen(['true'])
    dead.wait()
    stem = '_lib_x86_64_linux_gnu_libc_so_6_0x%x_bcc_' % offset
    orphan, live = 'p_%s%d' % (stem, dead.pid), 'p_%s%d' % (stem, os.getpid())
    _add(path, orphan, offset)
    _add(path, live, offset)
    try:
        assert orphan in _entries(path) and live in _entries(path)
        result = count(['t:sched:sched_switch'], duration=0.2)
        assert result['engine']['leftovers'] == [{
            'event': 'uprobes/' + orphan, 'file': path, 'pid': dead.pid, 'removed': True,
            'reason': 'left by process %d, which no longer exists' % dead.pid}]
        assert orphan not in _entries(path)
        assert live in _entries(path)  # this test process is alive: its entry is not ours to remove
        again = count(['t:sched:sched_switch'], duration=0.2)
        assert again['engine']['leftovers'] == []
    finally:
        _remove(path, orphan)
        _remove(path, live)
    assert orphan not in _entries(path) and live not in _entries(path)
