# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Legacy kprobe/uprobe trace events left behind by processes that died.

This engine creates no tracefs events: it attaches through perf_event_open() and BPF links, which the
kernel removes with the last file descriptor, also when the process is killed.  bcc's own tools
(funccount-bpfcc and the rest) fall back to writing entries into tracefs ``kprobe_events`` and
``uprobe_events`` on kernels without the kprobe/uprobe PMU, and a tool killed with SIGKILL leaves
those entries behind.  bcc names them ``<p|r>_<target>_bcc_<pid>``; an entry whose pid no longer
exists belongs to nobody, and each run removes such entries before it attaches, and says so.
Entries of live processes, and entries that do not follow bcc's naming, are never touched.
"""

from __future__ import annotations

import errno
import os
import re

EVENT_FILES = ('kprobe_events', 'uprobe_events')
_LINE = re.compile(r'^(?P<kind>[pr]):(?P<group>[^/\s]+)/(?P<event>\S+)\s')
_BCC_EVENT = re.compile(r'^[pr]_.*_bcc_(?P<pid>[0-9]+)$')


def parse(text):
    """Entries of a kprobe_events/uprobe_events file: [(group, event, pid or None)]."""
    entries = []
    for line in text.splitlines():
        match = _LINE.match(line + ' ')
        if not match:
            continue
        owner = _BCC_EVENT.match(match.group('event'))
        entries.append((match.group('group'), match.group('event'), int(owner.group('pid')) if owner else None))
    return entries


def orphans(entries, alive):
    """The (group, event, pid) entries that bcc made for a process that no longer exists."""
    return [entry for entry in entries if entry[2] is not None and not alive(entry[2])]


def pid_alive(pid):
    return os.path.exists('/proc/%d' % pid)


def _write(path, line):
    # os.open, not open(path, 'a'): Python seeks to the end of a file opened for appending, and tracefs
    # event files refuse that seek (EINVAL)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line.encode('utf-8', 'surrogateescape'))
    finally:
        os.close(fd)


def remove_orphans(tracefs, alive=pid_alive):
    """Remove the orphaned entries under tracefs; returns [{event, file, removed, reason}], one per orphan."""
    done = []
    if not tracefs:
        return done
    for name in EVENT_FILES:
        path = os.path.join(tracefs, name)
        try:
            with open(path) as handle:
                entries = parse(handle.read())
        except OSError:
            continue  # no such file on this kernel (no kprobes), or not readable
        for group, event, pid in orphans(entries, alive):
            item = {'event': '%s/%s' % (group, event), 'file': path, 'pid': pid, 'removed': True,
                    'reason': 'left by process %d, which no longer exists' % pid}
            try:
                _write(path, '-:%s/%s\n' % (group, event))
            except OSError as exc:
                item['removed'] = False
                item['reason'] += '; removing it failed: %s' % (
                    'still in use (EBUSY)' if exc.errno == errno.EBUSY else os.strerror(exc.errno or 0))
            done.append(item)
    return done
