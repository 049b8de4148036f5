# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters and funccount_report through ansible-playbook: real counting on this machine, a host that cannot be
reached and a host whose task fails, the results collected from hostvars and the report written on the controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
INVENTORY = """
[all]
local1 ansible_connection=local
local2 ansible_connection=local
ghost ansible_host=127.0.0.1 ansible_port=9 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=3'
broken ansible_connection=local host_patterns='["t:no_such_category:nothing"]'

[all:vars]
ansible_python_interpreter=/usr/bin/python3
"""


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('playbook')
    (tmp / 'hosts').write_text(INVENTORY, encoding='utf-8')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'build', 'collections'),
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_NOCOLOR='1', ANSIBLE_FORKS='2')
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    done = subprocess.run([ansible_playbook, '-i', str(tmp / 'hosts'), os.path.join(HERE, 'playbooks', 'sweep_report.yml'),
                           '-e', 'report_dir=%s' % (tmp / 'reports'), '-e', 'run_id=pb-1'],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    directory = tmp / 'reports' / 'pb-1'
    return {'done': done, 'dir': directory}


def load(run, name):
    return json.loads((run['dir'] / name).read_text(encoding='utf-8'))


def test_playbook_completes(run):
    done = run['done']
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(os.listdir(run['dir'])) == ['filters.json', 'report.csv', 'report.html', 'report.json', 'report.md']


def test_failed_hosts_are_kept_with_their_reason(run):
    report = load(run, 'report.json')
    assert list(report['hosts']) == ['broken', 'ghost', 'local1', 'local2']
    assert sorted(report['failed_hosts']) == ['broken', 'ghost']
    assert report['failed_hosts']['ghost'] == (
        'unreachable: Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 9: '
        'Connection refused')
    assert report['failed_hosts']['broken'] == ("Pattern 't:no_such_category:nothing' matches no tracepoint; list "
                                                "tracepoints under /sys/kernel/tracing/events.")
    assert report['summary']['counted'] == 2 and report['summary']['failed'] == 2
    assert load(run, 'filters.json')['failed_hosts'] == report['failed_hosts']


def test_totals_are_the_sum_of_the_hosts(run):
    report = load(run, 'report.json')
    filters = load(run, 'filters.json')
    counts = filters['counts']
    assert sorted(counts) == ['local1', 'local2']
    assert counts == {host: report['hosts'][host]['counts'] for host in ('local1', 'local2')}
    probes = set(counts['local1']) | set(counts['local2'])
    expected = {p: counts['local1'].get(p, 0) + counts['local2'].get(p, 0) for p in probes}
    assert report['totals'] == expected == filters['fleet_totals']
    assert report['totals']['t:sched:sched_switch'] > 0
    assert filters['host_matrix']['hosts'] == ['local1', 'local2']
    assert filters['top_probes'][0]['probe'] == next(iter(report['totals']))
    assert filters['report']['summary'] == report['summary']
    assert filters['report']['changed'] is True
    assert filters['report']['path'] == str(run['dir'])


def test_csv_has_a_row_per_host_and_probe(run):
    report = load(run, 'report.json')
    lines = (run['dir'] / 'report.csv').read_text(encoding='utf-8').splitlines()
    assert lines[0] == 'host,probe,count,rate_per_second,start,end,error'
    assert len(lines) == 1 + 2 * len(report['totals']) + 2
    assert lines[-2].startswith('broken,,,,,,') and lines[-1].startswith('ghost,,,,,,unreachable: ')
