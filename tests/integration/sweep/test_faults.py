# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet faults in one ebpf.bcc.sweep over real hosts (issue 4, section 5): beside three hosts that count, one host
dies in the middle of the window, one's clock is 5 minutes ahead, one's 5 minutes behind, one is reached as a user
that is not root, and one's kernel refuses bpf(2). The sweep finishes, lists each faulty host in failed_hosts with
its reason, the others' counts are exact, and nothing of ours stays attached.

How each fault is made (all real; the module itself is never replaced):

- dies: every process in the host's network namespace (its sshd, its sessions, the module counting there) is
  SIGKILLed once the window is open, so the controller finds nothing to talk to;
- clock: the host's Python runs with an LD_PRELOAD library that shifts its CLOCK_REALTIME (as libfaketime does;
  a namespace host cannot have a clock of its own), through ansible_python_interpreter;
- not root: an account that exists on that host only (its own /etc/passwd in the host's mount namespace), become
  false; the progress file goes to its home since it cannot write /run;
- bpf refused: ansible_python_interpreter applies a seccomp filter that makes bpf(2) fail with EPERM (what a
  container runtime's default profile does), then runs /usr/bin/python3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from sweephelp import (  # pylint: disable=import-error
    COLLECTIONS, NO_BPF_PY, ROOT, Faults, SweepFleet, epoch, finish, kill_tree, read_report)

sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration', 'engine'))
from enginehelp import assert_nothing_attached, our_programs  # noqa: E402  pylint: disable=import-error,wrong-import-position

pytestmark = [pytest.mark.fleet, pytest.mark.root, pytest.mark.slow]

GOOD = ['fleet-01', 'fleet-02', 'fleet-03']
DIES, AHEAD, BEHIND, NOROOT, NOBPF = 'fleet-04', 'fleet-05', 'fleet-06', 'fleet-07', 'fleet-08'
FAULTY = [DIES, AHEAD, BEHIND, NOROOT, NOBPF]
SKEW = 300  # seconds
USER, UID = 'fcnoroot', 64123
TOCKS = {'fleet-01': 100, 'fleet-02': 200, 'fleet-03': 300}
TICKS = 1000  # on fleet-02 only
FORKS = 3
LEAD = 20 + 10 * -(-8 // FORKS)  # as test_sweep.lead_for: generous on this busy machine


@pytest.fixture(scope='module')
def faults_fleet(fleet, tmp_path_factory):
    f = fleet(['shared'] * 8)
    sf = SweepFleet(f, str(tmp_path_factory.mktemp('faults')))
    sf.setup()
    faults = Faults(sf)
    home = faults.add_user(NOROOT, USER, UID)
    sf.write_inventory(host_vars={
        AHEAD: {'ansible_python_interpreter': faults.skewed_python(SKEW)},
        BEHIND: {'ansible_python_interpreter': faults.skewed_python(-SKEW)},
        NOROOT: {'ansible_user': USER, 'funccount_status_dir': home},
        NOBPF: {'ansible_python_interpreter': faults.no_bpf_python()},
    })
    yield sf, faults, home
    faults.cleanup()
    try:
        os.rmdir(sf.bindir)
    except OSError:
        pass


@pytest.fixture
def run_id(faults_fleet):
    """The sweep's run id; afterwards, whatever the test found, the run's job directories are removed (shared-root
    hosts share /run with this machine; the non-root host's is in its home, removed with the fleet's files)."""
    sf = faults_fleet[0]
    rid = 'faults-%d' % os.getpid()
    yield rid
    for host in sf.f.hosts:
        shutil.rmtree(os.path.dirname(sf.status_file(rid, host.name)), ignore_errors=True)


def test_sweep_with_a_dying_host_skewed_clocks_a_non_root_user_and_bpf_refused(faults_fleet, run_id):
    sf, faults, home = faults_fleet
    before = our_programs()
    report_dir = os.path.join(sf.work, 'reports')
    t0 = time.monotonic()
    proc = sf.start('ebpf.bcc.sweep', {
        'funccount_hosts': 'good', 'funccount_patterns': [sf.tick, sf.tock], 'funccount_duration': 12,
        'funccount_run_id': run_id, 'funccount_report_dir': report_dir, 'funccount_become': False,
        'funccount_lead': LEAD}, forks=FORKS)
    try:
        sf.wait_counting(proc, run_id, GOOD + [DIES])
        # The hosts with a wrong clock had already failed when the window opened: neither waited 5 minutes.
        for host in (AHEAD, BEHIND):
            assert (sf.stage(run_id, host) or {}).get('stage') == 'failed', (host, sf.stage(run_id, host))
        dying = sf.stage(run_id, DIES)
        killed = faults.kill_host(DIES)
        assert dying['pid'] in killed, (dying, killed)
        ended = sf.work_on({h: (TICKS if h == 'fleet-02' else 0, TOCKS[h]) for h in GOOD})
        out = finish(proc)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
    took = time.monotonic() - t0
    assert proc.returncode == 0, out
    report = read_report(report_dir, run_id)
    assert ended < epoch(report['window']['end']), 'the workload outlasted the window:\n' + out

    # Every faulty host is listed, in inventory order, with its reason.
    failed = report['failed_hosts']
    assert list(failed) == FAULTY, failed
    assert failed[DIES].startswith('unreachable: ') and 'Connection refused' in failed[DIES], failed[DIES]
    ahead = re.search(r'^start_at (\S+) had already passed by ([0-9.]+) s when this host was ready to count',
                      failed[AHEAD])
    assert ahead and epoch(ahead.group(1)) == epoch(report['window']['start']), failed[AHEAD]
    assert SKEW - LEAD - 5 <= float(ahead.group(2)) <= SKEW + 1, failed[AHEAD]
    behind = re.search(r"^start_at (\S+) is ([0-9.]+) s away by this host's clock \(\S+\), but it was planned "
                       r"%d s ahead: this host's clock seems to be (\d+) s behind the controller's\. Nothing was "
                       r"attached" % LEAD, failed[BEHIND])
    assert behind and epoch(behind.group(1)) == epoch(report['window']['start']), failed[BEHIND]
    assert SKEW - LEAD - 5 <= int(behind.group(3)) <= SKEW + 1, failed[BEHIND]
    assert failed[NOROOT] == ('Counting needs root (BPF programs are loaded into the kernel); run the task with '
                              'become: true.'), failed[NOROOT]
    # bcc creates the program's maps while it compiles; the refused bpf(2) is told apart from a compile failure
    assert failed[NOBPF].startswith('The kernel refused the bpf() system call to this process: Operation not '
                                    'permitted (EPERM); '), failed[NOBPF]
    assert 'headers' not in failed[NOBPF], failed[NOBPF]

    # No other host's data is lost: exact counts, totals are their sums.
    assert report['summary']['hosts'] == 8 and report['summary']['counted'] == 3 and report['summary']['failed'] == 5
    for host in GOOD:
        expected = {sf.tick: TICKS, sf.tock: TOCKS[host]} if host == 'fleet-02' else {sf.tock: TOCKS[host]}
        assert report['hosts'][host]['counts'] == expected, (host, report['hosts'][host])
    assert report['totals'] == {sf.tick: TICKS, sf.tock: sum(TOCKS.values())}
    planned = epoch(report['window']['start'])
    for host in GOOD:
        assert planned <= epoch(report['hosts'][host]['start']) < planned + 1.0, report['hosts'][host]
    assert 'done: 3 (fleet-01, fleet-02, fleet-03), failed: 5 (%s)' % ', '.join(FAULTY) in out, out

    # Nothing of ours is attached anywhere (every host shares this machine's kernel), and the run's files are
    # gone from every host but the dead one, whose job directory (in /run, shared with this machine) stays.
    assert_nothing_attached(before)
    for host in GOOD + [AHEAD, BEHIND, NOBPF]:
        assert not os.path.exists(os.path.dirname(sf.status_file(run_id, host))), host
    assert [n for n in os.listdir(home) if n != '.ansible'] == [], os.listdir(home)
    assert os.path.isdir(os.path.dirname(sf.status_file(run_id, DIES)))
    print('sweep with faults: %.0f s; failed_hosts: %s' % (took, json.dumps(failed, indent=1)))


def _count_without_bpf(tmp_path, patterns):
    """The module on this machine, through ansible, under the interpreter whose bpf(2) the kernel refuses."""
    python = tmp_path / 'python3-nobpf'
    python.write_text(NO_BPF_PY)
    python.chmod(0o755)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local',
                           '-m', 'ebpf.bcc.funccount', '-a', json.dumps({'patterns': patterns, 'duration': 1}),
                           '-e', 'ansible_python_interpreter=%s' % python, '--tree', str(tmp_path / 'tree')],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1'))
    with open(tmp_path / 'tree' / 'localhost') as handle:
        result = json.load(handle)
    assert proc.returncode == 2 and 'localhost | FAILED! => ' in proc.stdout, (result, proc.stdout, proc.stderr)
    return result['msg']


def test_bpf_refused_for_tracepoints_names_the_refusal(tmp_path):
    before = our_programs()
    assert _count_without_bpf(tmp_path, ['t:sched:sched_switch']) == (
        'this kernel cannot attach to tracepoints: raw_tracepoint: Operation not permitted (EPERM); perf_event: '
        'Operation not permitted (EPERM).')
    assert_nothing_attached(before)


def test_bpf_refused_for_user_functions_names_the_refusal(tmp_path):
    before = our_programs()
    assert _count_without_bpf(tmp_path, ['c:getppid']) == (
        'The kernel refused the bpf() system call to this process: Operation not permitted (EPERM); a seccomp '
        'filter, a security module (lockdown, SELinux, AppArmor) or missing capabilities (CAP_BPF, CAP_PERFMON) '
        'forbid BPF here. Run the count where BPF is allowed: as root on the host, not in a confined container or '
        'service.')
    assert_nothing_attached(before)
