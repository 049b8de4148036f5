# SPDX-License-Identifier: GPL-3.0-or-later
"""The endings of a run that Ansible and the network bring, through ansible-playbook for real:

- Ansible's async timeout (``async:`` shorter than the window): async_wrapper SIGKILLs the module's process
  group; the task says so and nothing of ours stays attached;
- a dropped SSH connection in the middle of the window, on a fleet host (tests/fleet, sharing this machine's
  kernel, so bpftool here sees its programs): the ssh client is killed (with a pty: the module gets SIGHUP), or
  the whole controller is killed with pipelining on (no pty: the module sees its stdout closed). Either way the
  module stops at once, says why in its status file and leaves nothing attached, long before the window ends.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.ebpf.bcc.plugins.modules.funccount import LOST_MSG
from enginehelp import HERE, assert_nothing_attached, our_programs

ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.fleet.fleet import assert_local  # noqa: E402  pylint: disable=wrong-import-position
from tests.fleet.util import descendants, kill_tree  # noqa: E402  pylint: disable=wrong-import-position
from tests.fleet.pytest_plugin import fleet  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

pytestmark = [pytest.mark.root, pytest.mark.slow]

COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
WINDOW = 90  # seconds: far longer than any ending below takes
PATTERNS = ['t:sched:sched_switch', 't:syscalls:sys_enter_getppid', 'c:getppid']


def _env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                ANSIBLE_DEPRECATION_WARNINGS='0', ANSIBLE_HOST_KEY_CHECKING='True')


def _write_play(work, task, hosts='target', result=None):
    tasks = [dict(task, name='Count', register='result', ignore_errors=True)]
    if result:
        tasks.append({'name': 'Save the result', 'ansible.builtin.copy': {'content': '{{ result | to_json }}',
                                                                          'dest': result},
                      'delegate_to': 'localhost'})
    path = os.path.join(work, 'play.yml')
    with open(path, 'w') as handle:
        json.dump([{'name': 'Count', 'hosts': hosts, 'gather_facts': False, 'tasks': tasks}], handle)
    return path


def _status(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _wait_stage(path, stage, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(path)
        if status and status['stage'] == stage:
            return status
        if status and status['stage'] in ('failed', 'done') or proc.poll() is not None:
            out = proc.communicate(timeout=60)[0] if proc.stdout else ''
            raise AssertionError('the run never reached %s: %s\n%s' % (stage, status, out))
        time.sleep(0.1)
    raise AssertionError('the run did not reach %s within %s s: %s' % (stage, timeout, _status(path)))


def _wait_gone(pid, timeout):
    """Wait until process pid is gone (it is not our child: poll /proc)."""
    deadline = time.monotonic() + timeout
    while os.path.exists('/proc/%d' % pid):
        if time.monotonic() > deadline:
            raise AssertionError('process %d is still running %s s later' % (pid, timeout))
        time.sleep(0.1)


def test_async_timeout_shorter_than_the_window(tmp_path):
    """async: 15 for a 90 s window: async_wrapper kills the module's process group with SIGKILL after 15-20 s."""
    before = our_programs()
    work = str(tmp_path)
    status_file = os.path.join(work, 'status.json')
    result_file = os.path.join(work, 'result.json')
    task = {'ebpf.bcc.funccount': {'patterns': PATTERNS, 'duration': WINDOW, 'status_file': status_file},
            'async': 15, 'poll': 3}
    play = _write_play(work, task, hosts='localhost', result=result_file)
    proc = subprocess.run([PLAYBOOK, '-i', 'localhost,', '-c', 'local', play, '-e',
                           'ansible_python_interpreter=/usr/bin/python3'],
                          capture_output=True, text=True, env=_env(), cwd=work, timeout=WINDOW, check=False)
    with open(result_file) as handle:
        result = json.load(handle)
    assert result['failed'] is True, result
    # Ansible's own words, whichever side noticed first: the poller, or async_wrapper's watchdog
    assert result['msg'] in ('async task did not complete within the requested time - 15s', 'Timeout exceeded'), result
    # The module had counted, and its process is gone. async_wrapper SIGKILLs its child's process group, but it
    # makes that group only after the fork, so the module started by the child may still be in the old one: then
    # the SIGKILL ends only the child, the module's output loses its reader, and the module stops itself, saying so.
    status = _status(status_file)
    assert status['stage'] == 'counting' or (status['stage'], status.get('msg')) == ('failed', LOST_MSG), status
    _wait_gone(status['pid'], 60)
    assert_nothing_attached(before)


# -- a dropped SSH connection ----------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def ssh_host(fleet, tmp_path_factory):
    """One shared-root fleet host and an inventory that reaches it with one plain ssh connection per task."""
    f = fleet(1)
    host = f.hosts[0]
    work = str(tmp_path_factory.mktemp('endings'))
    inventory = os.path.join(work, 'inventory.yml')
    with open(inventory, 'w') as handle:
        yaml.safe_dump({'all': {'hosts': {'target': {
            'ansible_host': host.address, 'ansible_user': 'root', 'ansible_connection': 'ssh',
            'ansible_python_interpreter': '/usr/bin/python3', 'ansible_ssh_private_key_file': f.key_file,
            'ansible_ssh_common_args': ' '.join(shlex.quote(a) for a in f.ssh_args()),
            # no ControlMaster: the ssh process that runs the module is the connection itself
            'ansible_ssh_args': '-o ControlMaster=no -o ControlPersist=no', 'ansible_ssh_retries': 0,
        }}}}, handle)
    return f, host, inventory


def _ssh_clients(pid, address):
    """The ssh processes under pid that talk to address."""
    clients = []
    for child in descendants(pid):
        try:
            with open('/proc/%d/cmdline' % child, 'rb') as handle:
                argv = handle.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if os.path.basename(argv[0]) == 'ssh' and any(address in a for a in argv):
            clients.append(child)
    return clients


@pytest.mark.parametrize('how', ['kill the ssh client (pty, SIGHUP)', 'kill ansible-playbook (pipelining, no pty)'])
def test_dropped_ssh_connection_mid_window(ssh_host, tmp_path, how):
    f, host, inventory = ssh_host
    before = our_programs()
    work = str(tmp_path)
    os.chmod(work, 0o755)
    status_file = os.path.join(work, 'status.json')  # /tmp is this machine's: the host writes it here
    pipelining = 'pipelining' in how
    play = _write_play(work, {'ebpf.bcc.funccount': {'patterns': PATTERNS, 'duration': WINDOW,
                                                     'status_file': status_file}})
    assert_local(host.address, f.bridge)
    proc = subprocess.Popen([PLAYBOOK, '-i', inventory, play], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=work,
                            env=dict(_env(), ANSIBLE_PIPELINING=str(pipelining)))
    try:
        status = _wait_stage(status_file, 'counting', proc)
        clients = _ssh_clients(proc.pid, host.address)
        assert len(clients) == 1, clients
        time.sleep(1)
        if pipelining:
            # the controller, its workers (each in a process group of its own) and their ssh: all at once
            kill_tree(proc.pid)
        else:
            os.kill(clients[0], signal.SIGKILL)  # the connection: the kernel closes its socket

        # a generous bound, still far inside the 90 s window: the module stops because the connection dropped
        _wait_gone(status['pid'], 45)
    finally:
        kill_tree(proc.pid)
        proc.communicate(timeout=120)
    final = _status(status_file)
    assert final['stage'] == 'failed', final
    lost = LOST_MSG
    assert lost == ('The connection to the controller was lost (this run\'s output was closed); the run was stopped '
                    'and everything it had attached was detached.')
    hup = 'The run was interrupted by signal 1; everything it had attached was detached.'
    # with a pty, the hangup may be seen as SIGHUP or as the closed output, whichever comes first
    assert final['msg'] in ((lost,) if pipelining else (lost, hup)), final
    assert_nothing_attached(before)
