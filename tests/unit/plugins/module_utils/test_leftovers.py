# SPDX-License-Identifier: GPL-3.0-or-later
"""Legacy trace events of dead bcc processes (_leftovers): which are orphans, and how they are removed."""

from __future__ import annotations

import errno
import os

from ansible_collections.ebpf.bcc.plugins.module_utils import _leftovers as L

KPROBE_EVENTS = """p:kprobes/p_vfs_read_bcc_4242 vfs_read
r:kprobes/r_vfs_read_bcc_4242 vfs_read
p:kprobes/p_tcp_sendmsg_bcc_777 tcp_sendmsg
p:kprobes/myprobe do_sys_open
p:perf/p_vfs_write_bcc_31337 vfs_write
garbage line
"""
UPROBE_EVENTS = """p:uprobes/p__lib_x86_64_linux_gnu_libc_so_6_0x9a0f0_bcc_4242 /lib/x86_64-linux-gnu/libc.so.6:0x000000000009a0f0
p:uprobes/p_bcc_manual /usr/bin/bash:0x0000000000001000
"""


def test_parse_reads_group_event_and_bcc_pid():
    assert L.parse(KPROBE_EVENTS) == [
        ('kprobes', 'p_vfs_read_bcc_4242', 4242), ('kprobes', 'r_vfs_read_bcc_4242', 4242),
        ('kprobes', 'p_tcp_sendmsg_bcc_777', 777), ('kprobes', 'myprobe', None),
        ('perf', 'p_vfs_write_bcc_31337', 31337)]
    assert L.parse(UPROBE_EVENTS) == [
        ('uprobes', 'p__lib_x86_64_linux_gnu_libc_so_6_0x9a0f0_bcc_4242', 4242), ('uprobes', 'p_bcc_manual', None)]
    assert L.parse('') == []


def test_orphans_are_bcc_entries_of_dead_processes_only():
    alive = {777}.__contains__
    assert [(g, e) for g, e, _p in L.orphans(L.parse(KPROBE_EVENTS), alive)] == [
        ('kprobes', 'p_vfs_read_bcc_4242'), ('kprobes', 'r_vfs_read_bcc_4242'), ('perf', 'p_vfs_write_bcc_31337')]
    assert L.orphans(L.parse(KPROBE_EVENTS), lambda pid: True) == []


def test_remove_orphans_writes_one_removal_per_orphan(tmp_path):
    (tmp_path / 'kprobe_events').write_text(KPROBE_EVENTS)
    # no uprobe_events: a kernel without uprobes is fine
    done = L.remove_orphans(str(tmp_path), alive={777, 31337}.__contains__)
    assert done == [
        {'event': 'kprobes/p_vfs_read_bcc_4242', 'file': str(tmp_path / 'kprobe_events'), 'pid': 4242,
         'removed': True, 'reason': 'left by process 4242, which no longer exists'},
        {'event': 'kprobes/r_vfs_read_bcc_4242', 'file': str(tmp_path / 'kprobe_events'), 'pid': 4242,
         'removed': True, 'reason': 'left by process 4242, which no longer exists'}]
    assert (tmp_path / 'kprobe_events').read_text().endswith(
        'garbage line\n-:kprobes/p_vfs_read_bcc_4242\n-:kprobes/r_vfs_read_bcc_4242\n')


def test_remove_orphans_reports_a_failed_removal(tmp_path, monkeypatch):
    (tmp_path / 'uprobe_events').write_text(UPROBE_EVENTS)

    def busy(path, line):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(L, '_write', busy)
    assert L.remove_orphans(str(tmp_path), alive=lambda pid: False) == [{
        'event': 'uprobes/p__lib_x86_64_linux_gnu_libc_so_6_0x9a0f0_bcc_4242', 'file': str(tmp_path / 'uprobe_events'),
        'pid': 4242, 'removed': False,
        'reason': 'left by process 4242, which no longer exists; removing it failed: still in use (EBUSY)'}]


def test_an_unreadable_events_file_is_passed_over(tmp_path):
    os.mkdir(str(tmp_path / 'kprobe_events'))
    assert L.remove_orphans(str(tmp_path), alive=lambda pid: False) == []


def test_no_tracefs_no_work():
    assert L.remove_orphans(None) == []
    assert L.pid_alive(os.getpid()) is True
