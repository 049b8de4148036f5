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
from tests.fleet.util import kill_tree  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

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


# -- fleet faults (test_faults.py): hosts that die, have a wrong clock, a non-root user or refuse bpf(2) ---------

# An LD_PRELOAD library: the process's wall clock (CLOCK_REALTIME) runs FC_CLOCK_OFFSET seconds off, as on a host
# whose clock is wrong (a clock of its own cannot be given to a namespace host: time namespaces offset only the
# monotonic clocks); the monotonic clocks are left alone. What libfaketime does, in a few lines.
CLOCK_SHIM_C = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long offset(void)
{
    const char *s = getenv("FC_CLOCK_OFFSET");
    return s ? atol(s) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0 && tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return rc;
}

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
'''

# An interpreter for Ansible: /usr/bin/python3 under a seccomp filter that makes bpf(2) fail with EPERM, as the
# default seccomp profile of a container runtime does. The filter is the kernel's own (prctl), inherited by
# everything the module starts; no part of the module is replaced.
NO_BPF_PY = r'''#!/usr/bin/python3
import ctypes
import os
import struct
import sys

BPF_NR = 321  # x86_64
program = [
    (0x20, 0, 0, 4),                    # ld [arch]
    (0x15, 0, 3, 0xC000003E),           # not AUDIT_ARCH_X86_64: allow
    (0x20, 0, 0, 0),                    # ld [nr]
    (0x15, 0, 1, BPF_NR),               # bpf(2)?
    (0x06, 0, 0, 0x00050000 | 1),       # ret SECCOMP_RET_ERRNO | EPERM
    (0x06, 0, 0, 0x7fff0000),           # ret SECCOMP_RET_ALLOW
]
code = b''.join(struct.pack('HBBI', *ins) for ins in program)
buf = ctypes.create_string_buffer(code, len(code))


class SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
prog = SockFprog(len(program), ctypes.addressof(buf))
# PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP with SECCOMP_MODE_FILTER
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:
    sys.exit('seccomp: %s' % os.strerror(ctypes.get_errno()))
os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv[1:])
'''


class Faults(object):
    """What test_faults.py does to hosts of a SweepFleet; files live in one directory that every host can read."""

    def __init__(self, sf):
        self.sf = sf
        self.dir = os.path.join('/var/tmp', 'ebpf-bcc-faults-%d-%d' % (os.getpid(), sf.f.slot))
        os.makedirs(self.dir, mode=0o755)
        os.chmod(self.dir, 0o755)
        self.shim = os.path.join(self.dir, 'clockshim.so')
        source = os.path.join(self.dir, 'clockshim.c')
        with open(source, 'w') as handle:
            handle.write(CLOCK_SHIM_C)
        subprocess.run(['gcc', '-O1', '-shared', '-fPIC', '-o', self.shim, source, '-ldl'], check=True)

    def _script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as handle:
            handle.write(text)
        os.chmod(path, 0o755)
        return path

    def skewed_python(self, offset):
        """An interpreter whose wall clock is offset seconds off (negative: behind)."""
        return self._script('python3-clock%+d' % offset, '#!/bin/sh\nFC_CLOCK_OFFSET=%d LD_PRELOAD=%s exec /usr/bin/python3 "$@"\n'
                            % (offset, shlex.quote(self.shim)))

    def no_bpf_python(self):
        """An interpreter whose bpf(2) calls the kernel refuses (seccomp, EPERM)."""
        return self._script('python3-nobpf', NO_BPF_PY)

    def add_user(self, host, name, uid):
        """A login account that exists on one shared-root host only: copies of /etc/passwd and /etc/group with one
        more line, bind-mounted in that host's own mount namespace (this machine's files stay as they are). Its
        password field is '*' (no password, not locked), its home a directory of its own here; the fleet's
        authorized_keys file (the same path for every user) is made reachable for it. Returns the home."""
        home = os.path.join(self.dir, 'home-' + name)
        os.makedirs(home, mode=0o700)
        os.chown(home, uid, uid)
        files = {}
        for base, line in (('passwd', '%s:*:%d:%d:ebpf.bcc fault test:%s:/bin/sh\n' % (name, uid, uid, home)),
                           ('group', '%s:x:%d:\n' % (name, uid))):
            with open('/etc/' + base) as handle:
                text = handle.read()
            files[base] = os.path.join(self.dir, '%s-%s' % (base, host))
            with open(files[base], 'w') as handle:
                handle.write(text + line)
            os.chmod(files[base], 0o644)
        self.sf.f.ssh(host, ' && '.join('mount --bind %s /etc/%s' % (shlex.quote(path), base)
                                        for base, path in files.items()))
        hosts_dir = os.path.join(self.sf.f.dir, 'hosts')
        os.chmod(hosts_dir, os.stat(hosts_dir).st_mode | 0o001)  # search only: sshd reads the keys as the user
        check = subprocess.run(['ssh', '-i', self.sf.f.key_file] + self.sf.f.ssh_args() + [
            '-o', 'ControlMaster=no', '%s@%s' % (name, self.sf.f.host(host).address), 'id -u'],
            capture_output=True, text=True, timeout=60, check=False)
        assert check.stdout.strip() == str(uid), (check.stdout, check.stderr)
        return home

    def kill_host(self, host):
        """The host dies: SIGKILL, by pid, every process in its network namespace (its sshd, every session and
        whatever they started, such as the module counting there). Returns the pids."""
        import signal
        netns = self.sf.f.host(host).netns
        killed = []
        deadline = time.monotonic() + 30
        while True:
            out = subprocess.run(['ip', 'netns', 'pids', netns], capture_output=True, text=True, check=True).stdout
            pids = [int(p) for p in out.split()]
            if not pids:
                return killed
            assert time.monotonic() < deadline, 'processes of %s outlived SIGKILL: %s' % (host, pids)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def cleanup(self):
        subprocess.run(['rm', '-rf', '--one-file-system', self.dir], check=False)
