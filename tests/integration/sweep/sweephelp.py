# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the sweep, incident and audit playbooks on the test fleet (tests/fleet): real hosts over SSH.

One fleet per test module: shared-root hosts that can count (this machine's bcc), an own-root Debian 12
host without bcc, and an inventory host at an address of the fleet's subnet with nothing behind it.
Each shared-root host gets its own copy of a small workload at one common path (a tmpfs mounted in
the host's own mount namespace), so a uprobe on that path counts only the calls made on that host.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.fleet.fleet import assert_local  # noqa: E402  pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

GOOD = 6  # shared-root hosts that count
FORKS = 3  # smaller than the number of hosts
GHOST_OCTET = 250  # an address of the fleet's subnet that no host has


class SweepFleet(object):
    """The fleet, its inventory and the per-host workload copies."""

    def __init__(self, f, work):
        self.f = f
        self.work = work
        self.good = [h.name for h in f.hosts if not h.own_root]
        self.nobcc = [h.name for h in f.hosts if h.own_root]
        self.ghost = 'fleet-ghost'
        self.ghost_address = '10.213.%d.%d' % (f.slot, GHOST_OCTET)
        self.bindir = os.path.join('/var/tmp', 'ebpf-bcc-sweep-test-%d-%d' % (os.getpid(), f.slot))
        self.binary = os.path.join(self.bindir, 'sweepwork')
        self.tick = '%s:sw_tick' % self.binary
        self.tock = '%s:sw_tock' % self.binary
        self.inventory = os.path.join(work, 'inventory.yml')

    def setup(self):
        built = os.path.join(self.work, 'sweepwork')
        subprocess.run(['gcc', '-O1', '-o', built, os.path.join(HERE, 'sweepwork.c')], check=True)
        os.makedirs(self.bindir, exist_ok=True)  # the mount point; empty on this machine
        for name in self.good:
            self.f.ssh(name, 'mount -t tmpfs -o size=4m,mode=0755 tmpfs %s && cp %s %s && %s 0 0'
                       % (shlex.quote(self.bindir), shlex.quote(built), shlex.quote(self.binary),
                          shlex.quote(self.binary)))
        self.write_inventory()

    def write_inventory(self, path=None, host_vars=None):
        """The inventory: groups sweep (all), good, nobcc, ghost; host_vars adds {host: {var: value}}."""
        ssh_args = ' '.join(shlex.quote(a) for a in self.f.ssh_args())
        hosts = {h.name: dict({'ansible_host': h.address}, **(host_vars or {}).get(h.name, {})) for h in self.f.hosts}
        inv = {'all': {
            'vars': {'ansible_user': 'root', 'ansible_python_interpreter': '/usr/bin/python3',
                     'ansible_ssh_private_key_file': self.f.key_file, 'ansible_connection': 'ssh',
                     'ansible_ssh_common_args': ssh_args, 'ansible_ssh_retries': 0},
            'children': {
                'sweep': {'children': {
                    'good': {'hosts': {n: hosts[n] for n in self.good}},
                    'nobcc': {'hosts': {n: hosts[n] for n in self.nobcc}},
                    'ghost': {'hosts': {self.ghost: {'ansible_host': self.ghost_address}}},
                }},
            },
        }}
        with open(path or self.inventory, 'w') as handle:
            yaml.safe_dump(inv, handle, default_flow_style=False, sort_keys=False)
        return path or self.inventory

    def check_local(self):
        for h in self.f.hosts:
            assert_local(h.address, self.f.bridge)
        assert_local(self.ghost_address, self.f.bridge)

    def status_file(self, run_id, host):
        """A shared-root host's progress file, as this machine sees it (/run is shared with them)."""
        return '/run/ebpf-bcc-funccount-%s-%s/status.json' % (run_id, host)

    def stage(self, run_id, host):
        try:
            with open(self.status_file(run_id, host)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def start(self, playbook, extra, forks=FORKS, inventory=None):
        """Start ansible-playbook against this fleet; returns the Popen (text output in one stream)."""
        self.check_local()
        argv = [PLAYBOOK, '-i', inventory or self.inventory, '--forks', str(forks), playbook, '-e', json.dumps(extra)]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_DEPRECATION_WARNINGS='0', ANSIBLE_HOST_KEY_CHECKING='True')
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=self.work)

    def wait_counting(self, proc, run_id, hosts, timeout=300):
        """Wait until every one of hosts says it is counting (or the playbook ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stages = {h: (self.stage(run_id, h) or {}).get('stage') for h in hosts}
            if all(s == 'counting' for s in stages.values()):
                return self.stage(run_id, hosts[0])
            bad = {h: s for h, s in stages.items() if s in ('failed', 'done', 'disarmed', 'detaching')}
            if bad or proc.poll() is not None:
                out = finish(proc)
                raise AssertionError('hosts did not all start counting: %s\n%s' % (stages, out))
            time.sleep(0.1)
        raise AssertionError('no host counting after %s s' % timeout)

    def work_on(self, counts):
        """Run the workload on hosts over their own SSH at once: {host: (ticks, tocks)}; returns the end time."""
        procs = {}
        for host, (ticks, tocks) in counts.items():
            self.check_local()
            command = '%s %d %d' % (shlex.quote(self.binary), ticks, tocks)
            argv = ['ssh', '-i', self.f.key_file] + self.f.ssh_args() + [
                '-o', 'ControlMaster=no', 'root@%s' % self.f.host(host).address, command]
            procs[host] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for host, proc in procs.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 and out.strip() == '%d %d' % counts[host], (host, out, err)
        return time.time()


def finish(proc, timeout=900):
    return proc.communicate(timeout=timeout)[0]


def read_report(report_dir, run_id):
    with open(os.path.join(report_dir, run_id, 'report.json')) as handle:
        return json.load(handle)


def epoch(iso):
    import datetime
    return datetime.datetime.strptime(iso.rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f' if '.' in iso else '%Y-%m-%dT%H:%M:%S') \
        .replace(tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture(scope='module')
def sweep_fleet(fleet, tmp_path_factory):
    """Six shared-root hosts with bcc and the workload, one own-root host without bcc, one ghost."""
    f = fleet(['shared'] * GOOD + ['bookworm'])
    sf = SweepFleet(f, str(tmp_path_factory.mktemp('sweep')))
    sf.setup()
    yield sf
    try:
        os.rmdir(sf.bindir)
    except OSError:
        pass
