# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wall time of an ebpf.bcc.sweep with a 10 s window over 2, 4, 6 and 8 hosts of the test fleet.

Every host is launched with async and poll 0 and counts over the same planned window, so the whole run
should take the lead (plan to window), the window and a tail (collect, report) whatever the number of
hosts, as long as they launch in the same number of batches (ceil(hosts / forks)); the table shows each
part. The lead is fixed (--lead) so that the parts compare between sizes.

Usage (as root, from the repository root):
    .venv/bin/python bench/sweep_wall.py [--sizes 2,4,6,8] [--forks 8] [--window 10] [--lead 30] [--repeat 1]
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

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
PATTERNS = ['t:sched:sched_switch', 't:syscalls:sys_enter_getppid']


def epoch(iso):
    return datetime.datetime.strptime(iso.rstrip('Z')[:26], '%Y-%m-%dT%H:%M:%S.%f' if '.' in iso else '%Y-%m-%dT%H:%M:%S') \
        .replace(tzinfo=datetime.timezone.utc).timestamp()


def one_sweep(fleet, work, forks, window, lead, run_id):
    for h in fleet.hosts:
        assert_local(h.address, fleet.bridge)
    extra = {'funccount_hosts': 'fleet', 'funccount_patterns': PATTERNS, 'funccount_duration': window,
             'funccount_run_id': run_id, 'funccount_report_dir': os.path.join(work, 'reports'),
             'funccount_become': False, 'funccount_lead': lead}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'), ANSIBLE_NOCOLOR='1')
    argv = [PLAYBOOK, '-i', fleet.inventory_for('ssh'), '--forks', str(forks), 'ebpf.bcc.sweep', '-e', json.dumps(extra)]
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit('sweep failed (%s):\n%s\n%s' % (' '.join(map(shlex.quote, argv)), proc.stdout, proc.stderr))
    with open(os.path.join(work, 'reports', run_id, 'report.json')) as handle:
        report = json.load(handle)
    start = epoch(report['window']['start'])
    end = epoch(report['window']['end'])
    starts = [epoch(r['start']) for r in report['hosts'].values() if isinstance(r, dict) and r.get('start')]
    return {
        'hosts': len(fleet.hosts), 'forks': forks, 'batches': -(-len(fleet.hosts) // forks), 'window_s': window,
        'lead_s': lead, 'wall_s': round(wall, 2), 'plan_to_window_s': round(start - t0, 2),
        'tail_s': round(t0 + wall - end, 2), 'wall_minus_window_s': round(wall - window, 2),
        'counted': report['summary']['counted'], 'failed': report['failed_hosts'],
        'start_spread_ms': round((max(starts) - min(starts)) * 1000, 3) if starts else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--sizes', default='2,4,6,8')
    ap.add_argument('--forks', type=int, default=8)
    ap.add_argument('--window', type=float, default=10.0)
    ap.add_argument('--lead', type=float, default=30.0)
    ap.add_argument('--repeat', type=int, default=1)
    args = ap.parse_args()
    rows = []
    for size in [int(s) for s in args.sizes.split(',')]:
        with Fleet(size) as fleet, tempfile.TemporaryDirectory(prefix='sweep-wall-') as work:
            for i in range(args.repeat):
                row = one_sweep(fleet, work, args.forks, args.window, args.lead, 'wall-%d-%d' % (size, i))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    out = {'what': 'sweep_wall', 'at': stamp, 'machine': {'cpus': os.cpu_count(), 'kernel': platform.release(),
           'load': os.getloadavg()}, 'patterns': PATTERNS, 'rows': rows}
    os.makedirs(os.path.join(BENCH, 'results'), exist_ok=True)
    path = os.path.join(BENCH, 'results', 'sweep_wall-%s.json' % stamp)
    with open(path, 'w') as handle:
        json.dump(out, handle, indent=2)
    print('| hosts | forks | batches | window s | lead s | wall s | wall - window s | tail s | start spread ms | counted |')
    print('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
    for r in rows:
        print('| %(hosts)d | %(forks)d | %(batches)d | %(window_s)g | %(lead_s)g | %(wall_s)s | %(wall_minus_window_s)s '
              '| %(tail_s)s | %(start_spread_ms)s | %(counted)d |' % r)
    print('\n%s; load average at the end %s' % (path, ' '.join('%.1f' % x for x in os.getloadavg())))


if __name__ == '__main__':
    main()
