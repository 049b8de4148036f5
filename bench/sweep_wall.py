# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wall time of a fleet count: ebpf.bcc.sweep against upstream funccount run by Ansible, 2 to 8 hosts.

The alternative an operator would otherwise pick is an ad-hoc command over the inventory,
`ansible HOSTS -f FORKS -m command -a 'funccount-bpfcc -d WINDOW PATTERN'`: Ansible runs `forks` hosts at a
time, so with more hosts than forks the counts are taken one batch after the other, over different
intervals, and the run takes about ceil(hosts / forks) windows. ebpf.bcc.sweep launches every host with
async and poll 0 and they all count over the same planned window, so it takes the lead (plan to window:
launching forks hosts at a time, then set-up), one window and a tail (collect, report).

Every size runs both tools, with the playbook's own lead (10 s + 6 s per launch batch) unless --lead is
given, and ours with two window lengths, so that the table shows whether wall - window depends on the
window. Hosts are namespace hosts of tests/fleet on this machine: they share its CPUs.

Usage (as root, from the repository root):
    .venv/bin/python bench/sweep_wall.py [--sizes 2,4,8] [--forks 3] [--windows 10,20] [--lead S] [--repeat 1]
Writes bench/results/sweep_wall-<UTC timestamp>.json and prints a Markdown table.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, REPO)

from tests.fleet import Fleet  # noqa: E402  pylint: disable=wrong-import-position
from tests.fleet.fleet import assert_local  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
PATTERN = 'c:getppid'  # upstream funccount takes one pattern (and fails on tracepoints in bcc 0.26): both count this


def epoch(iso):
    return datetime.datetime.strptime(iso.rstrip('Z')[:26], '%Y-%m-%dT%H:%M:%S.%f' if '.' in iso else '%Y-%m-%dT%H:%M:%S') \
        .replace(tzinfo=datetime.timezone.utc).timestamp()


def _env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'), ANSIBLE_NOCOLOR='1',
                ANSIBLE_CALLBACK_RESULT_FORMAT='json')


def _check_local(fleet):
    for h in fleet.hosts:
        assert_local(h.address, fleet.bridge)


def ours(fleet, work, forks, window, lead, run_id):
    _check_local(fleet)
    extra = {'funccount_hosts': 'fleet', 'funccount_patterns': [PATTERN], 'funccount_duration': window,
             'funccount_run_id': run_id, 'funccount_report_dir': os.path.join(work, 'reports'),
             'funccount_become': False}
    if lead is not None:
        extra['funccount_lead'] = lead
    argv = [os.path.join(BIN, 'ansible-playbook'), '-i', fleet.inventory_for('ssh'), '--forks', str(forks),
            'ebpf.bcc.sweep', '-e', json.dumps(extra)]
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=work, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit('sweep failed (%s):\n%s\n%s' % (' '.join(map(shlex.quote, argv)), proc.stdout, proc.stderr))
    with open(os.path.join(work, 'reports', run_id, 'report.json')) as handle:
        report = json.load(handle)
    start, end = epoch(report['window']['start']), epoch(report['window']['end'])
    starts = [epoch(r['start']) for r in report['hosts'].values() if isinstance(r, dict) and r.get('start')]
    return {'tool': 'ebpf.bcc.sweep', 'hosts': len(fleet.hosts), 'forks': forks, 'window_s': window,
            'wall_s': round(wall, 2), 'wall_minus_window_s': round(wall - window, 2),
            'lead_s': round(start - t0, 2), 'tail_s': round(t0 + wall - end, 2),
            'counted': report['summary']['counted'], 'failed': report['failed_hosts'],
            'start_spread_s': round(max(starts) - min(starts), 4) if starts else None}


def upstream(fleet, work, forks, window):
    """funccount-bpfcc on every host through an ad-hoc ansible command (what a user would otherwise run)."""
    _check_local(fleet)
    # funccount-bpfcc -d takes whole seconds; && so that a failed count fails the host (and this benchmark)
    command = 'date +%%s.%%N && funccount-bpfcc -d %d %s && date +%%s.%%N' % (round(window), shlex.quote(PATTERN))
    argv = [os.path.join(BIN, 'ansible'), 'fleet', '-i', fleet.inventory_for('ssh'), '--forks', str(forks),
            '-m', 'ansible.builtin.shell', '-a', command]
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=work, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit('ad-hoc funccount failed (%s):\n%s\n%s'
                         % (' '.join(map(shlex.quote, argv)), proc.stdout, proc.stderr))
    starts = []
    for line in proc.stdout.splitlines():
        if line.count('.') == 1 and line.replace('.', '').isdigit():
            starts.append(float(line))
    firsts = starts[0::2]  # each host prints its start, then its end
    counted = proc.stdout.count('Detaching...')  # printed by each host's funccount once it has counted
    if counted != len(fleet.hosts) or len(starts) != 2 * len(fleet.hosts):
        raise SystemExit('ad-hoc funccount did not count on every host:\n%s' % proc.stdout)
    return {'tool': 'ansible -m shell funccount-bpfcc', 'hosts': len(fleet.hosts), 'forks': forks,
            'window_s': window, 'wall_s': round(wall, 2), 'wall_minus_window_s': round(wall - window, 2),
            'lead_s': None, 'tail_s': None, 'counted': counted, 'failed': {},
            'start_spread_s': round(max(firsts) - min(firsts), 4) if firsts else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--sizes', default='2,4,8')
    ap.add_argument('--forks', type=int, default=3)
    ap.add_argument('--windows', default='10,20', help='window lengths for ebpf.bcc.sweep; upstream uses the first')
    ap.add_argument('--lead', type=float, default=None, help="fixed lead; default: the playbook's own")
    ap.add_argument('--repeat', type=int, default=1)
    args = ap.parse_args()
    windows = [float(w) for w in args.windows.split(',')]
    rows = []
    for size in [int(s) for s in args.sizes.split(',')]:
        with Fleet(size) as fleet, tempfile.TemporaryDirectory(prefix='sweep-wall-') as work:
            for i in range(args.repeat):
                for window in windows:
                    rows.append(ours(fleet, work, args.forks, window, args.lead, 'wall-%d-%d-%g' % (size, i, window)))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                rows.append(upstream(fleet, work, args.forks, windows[0]))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    out = {'what': 'sweep_wall', 'at': stamp, 'machine': {'cpus': os.cpu_count(), 'kernel': platform.release(),
           'load': os.getloadavg()}, 'pattern': PATTERN, 'forks': args.forks, 'rows': rows}
    os.makedirs(os.path.join(BENCH, 'results'), exist_ok=True)
    path = os.path.join(BENCH, 'results', 'sweep_wall-%s.json' % stamp)
    with open(path, 'w') as handle:
        json.dump(out, handle, indent=2)
    print('| tool | hosts | forks | window s | wall s | wall - window s | lead s | tail s | start spread s | counted |')
    print('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
    for r in rows:
        print('| %s | %d | %d | %g | %.1f | %.1f | %s | %s | %s | %d |' % (
            r['tool'], r['hosts'], r['forks'], r['window_s'], r['wall_s'], r['wall_minus_window_s'],
            '-' if r['lead_s'] is None else '%.1f' % r['lead_s'], '-' if r['tail_s'] is None else '%.1f' % r['tail_s'],
            '-' if r['start_spread_s'] is None else '%.3f' % r['start_spread_s'], r['counted']))
    print('\n%s; load average at the end %s' % (path, ' '.join('%.1f' % x for x in os.getloadavg())))


if __name__ == '__main__':
    main()
