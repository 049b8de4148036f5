# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers and fixtures for real counting runs on this machine: workloads that make a known
number of calls when told to, and checks that nothing of ours stays attached."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc, _engine

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON311 = '/usr/bin/python3.11'


@pytest.fixture(scope='session')
def fcwork(tmp_path_factory):
    """Path of the compiled workload binary (in a directory whose name has a space and a colon)."""
    out = tmp_path_factory.mktemp('work') / 'bin dir:x'
    out.mkdir()
    binary = out / 'fcwork'
    subprocess.run(['gcc', '-O1', '-o', str(binary), os.path.join(HERE, 'workload', 'fcwork.c')], check=True)
    return str(binary)


@pytest.fixture(scope='session')
def private_python(tmp_path_factory):
    """A private copy of python3.11: USDT probes on it fire only in processes we start."""
    if not os.path.exists(PYTHON311):
        pytest.skip('%s is not installed' % PYTHON311)
    out = tmp_path_factory.mktemp('py') / 'python3.11'
    shutil.copy2(PYTHON311, out)
    return str(out)


class Workload(object):
    """A started process that does its calls when ``go`` is called."""

    def __init__(self, argv, ready=b'ready\n'):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        assert line == ready, 'workload did not start: %r' % line
        self.pid = self.proc.pid

    def go(self):
        self.proc.stdin.write(b'go\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line == b'done\n', 'workload did not finish: %r' % line

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture
def workload(fcwork):
    started = []

    def start(alpha=0, beta=0, getppid=0, forks=0, cpu=None):
        argv = [fcwork, str(alpha), str(beta), str(getppid), str(forks)]
        if cpu is not None:
            argv = ['taskset', '-c', str(cpu)] + argv
        w = Workload(argv)
        started.append(w)
        return w
    yield start
    for w in started:
        w.close()


GC_SCRIPT = r'''
import gc, sys
gc.disable()
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
for _ in range(int(sys.argv[1])):
    gc.collect()
sys.stdout.write("done\n"); sys.stdout.flush()
sys.stdin.read()
'''


@pytest.fixture
def gc_workload(private_python):
    started = []

    def start(collections, python=None):
        w = Workload([python or private_python, '-c', GC_SCRIPT, str(collections)])
        started.append(w)
        return w
    yield start
    for w in started:
        w.close()


def count(patterns, go=None, **options):
    """Run the engine in this process; ``go`` runs once the window is open."""
    options.setdefault('duration', 1.5)
    return _engine.Engine(_engine.Options(patterns, **options), _bcc, on_armed=go).run()


def fails(patterns, **options):
    """Run the engine expecting a FuncCountError; returns its message."""
    with pytest.raises(_engine.FuncCountError) as info:
        _engine.Engine(_engine.Options(patterns, **options), _bcc).run()
    return info.value.msg


# -- what is attached --------------------------------------------------------

OUR_NAME = re.compile(r'^fc(\d+)_(c|i|se|sx)$')


def our_programs():
    """Ids of loaded BPF programs of ours that no live run owns: loaded by this test process, or by a
    process that has exited (the engine names each program fc<pid>_<function>)."""
    out = subprocess.run(['bpftool', '-j', 'prog', 'show'], check=True, capture_output=True, text=True).stdout
    ids = []
    for prog in json.loads(out or '[]'):
        match = OUR_NAME.match(prog.get('name', ''))
        if match:
            pid = int(match.group(1))
            if pid == os.getpid() or not os.path.exists('/proc/%d' % pid):
                ids.append(prog['id'])
    return sorted(ids)


def probe_events():
    """Dynamic kprobe/uprobe trace events (legacy tracefs interface): we never create any."""
    lines = []
    for name in ('kprobe_events', 'uprobe_events'):
        path = os.path.join('/sys/kernel/tracing', name)
        if os.path.exists(path):
            with open(path) as handle:
                lines.extend(line.strip() for line in handle if line.strip())
    return lines


def assert_nothing_attached(before=None, wait=5.0):
    """No program of ours beyond ``before`` stays loaded.  The kernel frees a closed
    program after an RCU grace period, so this waits a little for it to go."""
    deadline = time.monotonic() + wait
    while True:
        left = sorted(set(our_programs()) - set(before or []))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == [], 'BPF programs of ours are still loaded: %s' % left
    assert probe_events() == [], 'trace events were left in tracefs'


@pytest.fixture
def clean():
    """Asserts after the test that it left no program of ours loaded."""
    before = our_programs()
    yield
    assert_nothing_attached(before)


def run_module(args, check=False, python=None, tmp_dir='/tmp'):
    """Run the module through ansible-playbook on localhost and return its registered result."""
    import tempfile
    root = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
    collections = os.path.join(root, 'build', 'collections')
    playbook_bin = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    work = tempfile.mkdtemp(prefix='fc-play-', dir=tmp_dir)
    out = os.path.join(work, 'result.json')
    play = [{
        'name': 'Run ebpf.bcc.funccount',
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [
            {'name': 'Count', 'ebpf.bcc.funccount': args, 'register': 'result', 'ignore_errors': True},
            {'name': 'Save the result', 'ansible.builtin.copy': {'content': '{{ result | to_json }}', 'dest': out},
             'check_mode': False},
        ],
    }]
    path = os.path.join(work, 'play.yml')
    with open(path, 'w') as handle:
        json.dump(play, handle)
    argv = [playbook_bin, '-i', 'localhost,', '-c', 'local', path]
    if check:
        argv.append('--check')
    argv += ['-e', 'ansible_python_interpreter=%s' % (python or '/usr/bin/python3')]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_DEPRECATION_WARNINGS='0',
               ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    try:
        with open(out) as handle:
            result = json.load(handle)
    except OSError:
        raise AssertionError('ansible-playbook wrote no result:\n%s\n%s' % (proc.stdout, proc.stderr))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result['_stdout'] = proc.stdout
    return result
