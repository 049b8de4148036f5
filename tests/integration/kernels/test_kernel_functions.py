# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel-function counting proven on stock Debian kernels booted under qemu.

This machine's kernel has no kprobes, so every kernel-side tier is shown on
a guest: exact counts for functions with a one-to-one relation to a syscall
the workload issues, wildcards that include unprobeable functions, and the
tier each kernel really uses.  The module runs in the guest the way users run
it: shipped by ansible-playbook over SSH, under the guest's own Python and
bcc.  EBPF_BCC_GUEST_SUITES picks the guests (default bookworm; all three in
`make test-kernels`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

pytestmark = [pytest.mark.guest, pytest.mark.root]

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')

# Per suite: (kernel tier, identity), (user tier, identity), and what bcc_facts must say.
EXPECTED = {
    'bullseye': {
        'kernel': ('kprobe', 'program per probe'), 'user': ('uprobe', 'program per probe'),
        'facts': {'kprobes': True, 'kprobe_multi': False, 'attach_cookies': False, 'perf_link': False,
                  'uprobe_multi': False, 'raw_tracepoints': True, 'raw_tracepoint_cookies': False},
    },
    'bookworm': {
        'kernel': ('kprobe', 'cookie'), 'user': ('uprobe', 'cookie'),
        'facts': {'kprobes': True, 'kprobe_multi': False, 'attach_cookies': True, 'perf_link': True,
                  'kprobe_cookies': True, 'uprobe_multi': False, 'raw_tracepoints': True,
                  'raw_tracepoint_cookies': False},
    },
    'trixie': {
        'kernel': ('kprobe_multi', 'cookie'), 'user': ('uprobe_multi', 'cookie'),
        'facts': {'kprobes': True, 'kprobe_multi': True, 'attach_cookies': True, 'perf_link': True,
                  'kprobe_cookies': True, 'uprobe_multi': True, 'raw_tracepoints': True,
                  'raw_tracepoint_cookies': True},
    },
}

# Started in the guest; waits for the window, then makes its calls.
WORKLOAD = r'''
import os, sys, time
start, calls = float(sys.argv[1]), int(sys.argv[2])
sys.stdout.write("%d\n" % os.getpid()); sys.stdout.flush()
time.sleep(max(0.0, start + 3 - time.time()))
fd = os.open("/dev/zero", os.O_RDONLY)
for _ in range(calls):
    os.getppid()
for _ in range(calls):
    os.read(fd, 1)
time.sleep(max(0.0, start + float(sys.argv[3]) + 30 - time.time()))
'''


def run_playbook(guest, tasks, timeout=900):
    """Run tasks on the guest through ansible-playbook; returns the registered `result` of the last one."""
    work = tempfile.mkdtemp(prefix='fc-guest-')
    out = os.path.join(work, 'result.json')
    tasks = list(tasks)
    tasks[-1] = dict(tasks[-1], register='result', ignore_errors=True)
    save = {'content': '{{ result | to_json }}', 'dest': out}
    tasks.append({'name': 'Save the result', 'ansible.builtin.copy': save, 'delegate_to': 'localhost',
                  'check_mode': False})
    play = [{'name': 'On the guest', 'hosts': 'guests', 'gather_facts': False, 'tasks': tasks}]
    path = os.path.join(work, 'play.yml')
    with open(path, 'w') as handle:
        json.dump(play, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_DEPRECATION_WARNINGS='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOST_KEY_CHECKING='0')
    bin_dir = os.path.dirname(sys.executable)
    proc = subprocess.run([os.path.join(bin_dir, 'ansible-playbook'), '-i', guest.inventory, path], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    try:
        with open(out) as handle:
            return json.load(handle)
    except OSError:
        raise AssertionError('ansible-playbook wrote no result:\n%s\n%s' % (proc.stdout, proc.stderr))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start_workload(guest, start, calls, duration):
    script = base64.b64encode(WORKLOAD.encode()).decode()
    guest.ssh('echo %s | base64 -d > /tmp/fc-workload.py' % script)
    guest.ssh('rm -f /tmp/fc-workload.out')
    # A transient unit: a background job of an SSH session dies with it on bullseye (see Guest.spawn).
    guest.spawn('exec python3 /tmp/fc-workload.py %f %d %f > /tmp/fc-workload.out 2>&1' % (start, calls, duration))
    for _attempt in range(50):
        text = guest.ssh('cat /tmp/fc-workload.out', check=False).stdout.strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.2)
    raise AssertionError('the workload did not start in the guest')


def count_in_guest(guest, args, calls, lead=80.0):
    """Count with the module in the guest while a workload there makes `calls` getppid() and read() calls."""
    duration = float(args.get('duration', 8))
    start = time.time() + lead   # compiling under emulation takes a while
    pid = start_workload(guest, start, calls, duration)
    module_args = dict(args, duration=duration, pid=pid, start_at='%.6f' % start)
    task = {'name': 'Count', 'ebpf.bcc.funccount': module_args}
    return run_playbook(guest, [task])


def expected(guest):
    return EXPECTED[guest.suite.name]


def test_capability_facts_match_the_kernel(guest):
    result = run_playbook(guest, [{'name': 'Facts', 'ebpf.bcc.bcc_facts': {}}])
    assert result.get('failed') is not True, result
    facts = result['ansible_facts']['bcc']
    assert facts['kernel_release'] == guest.kernel_release
    assert facts['installed'] is True
    assert facts['headers']['kind'] == 'exact'
    mechanisms = facts['mechanisms']
    for name, value in expected(guest)['facts'].items():
        assert mechanisms[name] is value, (name, facts['reasons'].get(name))


def test_exact_kernel_function_counts_with_the_best_tier(guest):
    calls = 1234
    result = count_in_guest(guest, {'patterns': ['__x64_sys_getppid', 'vfs_read', 't:syscalls:sys_enter_getppid',
                                                 'c:getppid']}, calls)
    assert result.get('failed') is not True, result.get('msg')
    assert result['counts'] == {'__x64_sys_getppid': calls, 'vfs_read': calls,
                                't:syscalls:sys_enter_getppid': calls, 'c:getppid': calls}
    mechanisms = result['engine']['mechanisms']
    assert (mechanisms['kernel']['mechanism'], mechanisms['kernel']['identity']) == expected(guest)['kernel']
    assert (mechanisms['user']['mechanism'], mechanisms['user']['identity']) == expected(guest)['user']
    assert result['engine']['kernel_release'] == guest.kernel_release
    assert result['engine']['headers']['kind'] == 'exact'


def test_per_probe_kprobes_without_cookies(guest):
    calls = 321
    result = count_in_guest(guest, {'patterns': ['__x64_sys_getppid', 'vfs_read'], 'attach': {'kernel': 'kprobe'},
                                    'cookies': 'never'}, calls)
    assert result.get('failed') is not True, result.get('msg')
    assert result['counts'] == {'__x64_sys_getppid': calls, 'vfs_read': calls}
    assert result['engine']['mechanisms']['kernel'] == {'mechanism': 'kprobe', 'identity': 'program per probe'}


def test_wildcards_skip_what_cannot_be_probed_and_count_the_rest(guest):
    calls = 50
    # Without cookies (5.10) each of the ~450 functions gets a program of its own: loading them one by one
    # under emulation took 90 s and more on a loaded machine, past the usual lead.
    lead = 80.0 if expected(guest)['kernel'][1] == 'cookie' else 300.0
    result = count_in_guest(guest, {'patterns': ['vfs_*', 'tcp_*'], 'max_probes': 5000, 'include_zero': True},
                            calls, lead=lead)
    assert result.get('failed') is not True, result.get('msg')
    assert result['counts']['vfs_read'] == calls
    assert result['probes'] > 100
    assert any(k.startswith('tcp_') for k in result['counts'])
    skipped = result['skipped_probes']
    assert skipped, 'expected some vfs_*/tcp_* functions that cannot be probed'
    for entry in skipped:
        assert entry['probe'].startswith(('vfs_', 'tcp_')) and entry['reason']
