# SPDX-License-Identifier: GPL-3.0-or-later
"""One ebpf.bcc.incident run over a mixed inventory: namespace hosts on this machine's kernel (no kprobes:
the preset's tracepoint equivalents) plus a guest booted with a stock Debian kernel (kprobes: the preset's
kernel functions), giving one report with both kinds of keys and exact counts of a known workload.

Every host runs a small workload that waits for a trigger, then makes a known number of read() calls on
/dev/zero; each host counts only its workload (funccount_pid per host in the inventory), so its read count
is exact: `vfs_read` in the guest, `t:syscalls:sys_enter_read` on the namespace hosts.  The guest is the
directory's guest fixture (booted once for test_kernel_functions.py and this module)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from tests.fleet.fleet import assert_local
from tests.guests.inventory import host_vars as guest_host_vars

pytestmark = [pytest.mark.guest, pytest.mark.fleet, pytest.mark.root, pytest.mark.slow]

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
PRESETS = yaml.safe_load(open(os.path.join(ROOT, 'playbooks', 'vars', 'incident_presets.yml')))[
    'funccount_incident_presets']

# read() calls per host: different on every host, so that a count can only come from its own host.
READS = {'fleet-01': 1000, 'fleet-02': 1700}
GUEST_READS = 1234
WINDOW = 20  # seconds; the workloads run in the first few of them
LEAD = 120  # seconds from the plan to the window: the guest launches, compiles and attaches under emulation

# Prints its pid, waits for the trigger path to exist (stat only: no read() before it), makes the reads,
# says it is done by creating a directory, then stays alive (the pid filter names it) until killed.
WORKLOAD = r'''
import os, sys, time
trigger, calls, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open("/dev/zero", os.O_RDONLY)
sys.stdout.write("%d\n" % os.getpid()); sys.stdout.flush()
deadline = time.time() + 1800
while not os.path.exists(trigger):
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.05)
for _ in range(calls):
    os.read(fd, 1)
os.mkdir(done)
time.sleep(max(0.0, deadline - time.time()))
'''


class Hosts(object):
    """Starts the workload on the namespace hosts and in the guest, triggers it, stops it."""

    def __init__(self, fleet, guest, work):
        self.f, self.g, self.work = fleet, guest, work
        self.script = os.path.join(work, 'workload.py')
        with open(self.script, 'w') as handle:
            handle.write(WORKLOAD)
        self.pids = {}
        self.unit = None

    def paths(self, host):
        base = os.path.join(self.work, host) if host != self.g.host_name else '/tmp/fc-mixed'
        return base + '.go', base + '.done', base + '.out'

    def start(self):
        # Namespace hosts share this machine's files and process ids: the script, the trigger and the
        # pid are the same seen from here.
        for host, reads in READS.items():
            assert_local(self.f.host(host).address, self.f.bridge)
            go, done, out = self.paths(host)
            self.f.ssh(host, 'setsid nohup /usr/bin/python3 %s %s %d %s < /dev/null > %s 2>&1 &'
                       % (self.script, go, reads, done, out))
            self.pids[host] = self._pid(lambda path=out: _read(path))
        go, done, out = self.paths(self.g.host_name)
        self.g.ssh('rm -rf /tmp/fc-mixed.*; cat > /tmp/fc-mixed.py <<"EOF"\n%sEOF' % WORKLOAD)
        self.unit = self.g.spawn('exec python3 /tmp/fc-mixed.py %s %d %s > %s 2>&1' % (go, GUEST_READS, done, out))
        self.pids[self.g.host_name] = self._pid(lambda: self.g.ssh('cat %s' % out, check=False).stdout)
        return self.pids

    @staticmethod
    def _pid(read):
        for _attempt in range(100):
            text = read().strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.2)
        raise AssertionError('a workload did not start')

    def trigger(self):
        for host in READS:
            open(self.paths(host)[0], 'w').close()
        self.g.ssh('touch %s' % self.paths(self.g.host_name)[0])

    def done(self):
        here = all(os.path.isdir(self.paths(host)[1]) for host in READS)
        return here and self.g.ssh('test -d %s' % self.paths(self.g.host_name)[1], check=False).returncode == 0

    def stop(self):
        for host in READS:
            pid = self.pids.get(host)
            if pid and _is_workload(pid, self.script):
                os.kill(pid, 15)
        if self.unit:
            self.g.ssh('systemctl stop %s' % self.unit, check=False)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ''


def _is_workload(pid, script):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return script.encode() in handle.read()
    except OSError:
        return False


def write_inventory(path, fleet, guest, pids):
    ssh_args = ' '.join(shlex.quote(a) for a in fleet.ssh_args())
    hosts = {}
    for host in READS:
        hosts[host] = {'ansible_host': fleet.host(host).address, 'ansible_user': 'root',
                       'ansible_python_interpreter': '/usr/bin/python3', 'ansible_connection': 'ssh',
                       'ansible_ssh_private_key_file': fleet.key_file, 'ansible_ssh_common_args': ssh_args,
                       'funccount_pid': pids[host]}
    hosts[guest.host_name] = dict(guest_host_vars(guest), funccount_pid=pids[guest.host_name])
    with open(path, 'w') as handle:
        yaml.safe_dump({'all': {'children': {'mixed': {'hosts': hosts}}}}, handle, default_flow_style=False)
    return path


def stage_here(run_id, host):
    """A namespace host's progress, read from this machine (its /run is this machine's)."""
    try:
        with open('/run/ebpf-bcc-funccount-%s-%s/status.json' % (run_id, host)) as handle:
            return json.load(handle).get('stage')
    except (OSError, ValueError):
        return None


def stage_in_guest(guest, run_id):
    res = guest.ssh('cat /run/ebpf-bcc-funccount-%s-%s/status.json' % (run_id, guest.host_name), check=False,
                    timeout=60)
    try:
        return json.loads(res.stdout).get('stage')
    except ValueError:
        return None


@pytest.mark.timeout(1800)
def test_incident_over_namespace_hosts_and_a_guest_gives_one_report(guest, fleet):
    f = fleet(len(READS))
    assert [h.name for h in f.hosts] == list(READS)
    work = tempfile.mkdtemp(prefix='fc-mixed-')
    hosts = Hosts(f, guest, work)
    pids = hosts.start()
    inventory = write_inventory(os.path.join(work, 'inventory.yml'), f, guest, pids)
    run_id = 'mixed-%d' % os.getpid()
    report_dir = os.path.join(work, 'reports')
    extra = {'funccount_incident': 'vfs', 'funccount_incident_duration': WINDOW, 'funccount_lead': LEAD,
             'funccount_run_id': run_id, 'funccount_report_dir': report_dir, 'funccount_become': False}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_DEPRECATION_WARNINGS='0')
    proc = subprocess.Popen([PLAYBOOK, '-i', inventory, 'ebpf.bcc.incident', '-e', json.dumps(extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=work)
    try:
        # Trigger the workloads once every host counts; each then makes its reads inside the window.
        deadline = time.monotonic() + 900
        stages = {}
        while time.monotonic() < deadline and proc.poll() is None:
            stages = {h: stage_here(run_id, h) for h in READS}
            if all(s == 'counting' for s in stages.values()):
                stages[guest.host_name] = stage_in_guest(guest, run_id)
                if stages[guest.host_name] == 'counting':
                    break
            time.sleep(1)
        else:
            if proc.poll() is None:
                proc.kill()
            raise AssertionError('the hosts did not all start counting: %s\n%s' % (stages, proc.communicate()[0]))
        hosts.trigger()
        triggered = time.time()
        while not hosts.done() and time.time() < triggered + WINDOW:
            time.sleep(0.5)
        finished = time.time()
        out = proc.communicate(timeout=1200)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        hosts.stop()
    assert proc.returncode == 0, out
    with open(os.path.join(report_dir, run_id, 'report.json')) as handle:
        report = json.load(handle)
    when = 'triggered %.1f s, done %.1f s, window %s' % (triggered, finished, report['window'])

    # One report, no host lost.
    assert report['failed_hosts'] == {}, report['failed_hosts']
    assert report['summary']['counted'] == 3 and report['summary']['hosts'] == 3
    kernel, tracepoints = set(PRESETS['vfs']['kernel']), set(PRESETS['vfs']['tracepoints'])
    assert set(report['patterns']) == kernel | tracepoints

    # The guest (kprobes) counted kernel functions, through a kernel-function tier.
    g = report['hosts'][guest.host_name]
    assert '"%s: kernel functions"' % guest.host_name in out, out
    assert g['engine']['kernel_release'] == guest.kernel_release
    assert set(g['counts']) <= kernel, g['counts']
    assert g['counts'].get('vfs_read') == GUEST_READS, (g['counts'], when)
    assert g['engine']['mechanisms']['kernel']['mechanism'] in ('kprobe', 'kprobe_multi'), g['engine']

    # The namespace hosts (this machine's kernel) counted the tracepoint equivalents, unless it has kprobes.
    kprobes_here = os.path.isdir('/sys/bus/event_source/devices/kprobe')
    for host, reads in READS.items():
        h = report['hosts'][host]
        assert h['engine']['kernel_release'] == os.uname().release
        if kprobes_here:
            assert set(h['counts']) <= kernel and h['counts'].get('vfs_read') == reads, (host, h['counts'], when)
            continue
        assert '"%s: tracepoints (no kprobes)"' % host in out, out
        assert set(h['counts']) <= tracepoints, (host, h['counts'])
        assert h['counts'].get('t:syscalls:sys_enter_read') == reads, (host, h['counts'], when)
        assert 'kernel' not in h['engine']['mechanisms'], h['engine']['mechanisms']
    if not kprobes_here:
        assert report['totals']['t:syscalls:sys_enter_read'] == sum(READS.values())
        assert report['totals']['vfs_read'] == GUEST_READS
