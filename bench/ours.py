# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the ebpf.bcc counting engine once, as a small command line tool.

    PYTHONPATH=<collections dir> /usr/bin/python3 bench/ours.py -d 1 'c:malloc'

Prints one JSON object on stdout: probes, total, skipped, duration, aborted and
engine (setup_seconds, teardown_seconds, mechanisms, ...).  With --ready, prints
the line ARMED on stderr as soon as counting is switched on (bench/run.py starts
its overhead workload then).  Must run under the interpreter that imports bcc
(Debian: /usr/bin/python3).
"""

import argparse
import json
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('patterns', nargs='+')
    ap.add_argument('-d', '--duration', type=float, default=1.0)
    ap.add_argument('-r', '--regexp', action='store_true')
    ap.add_argument('--attach', action='append', default=[], metavar='GROUP=MECHANISM',
                    help='force a tier, e.g. syscall=perf_event (repeatable)')
    ap.add_argument('--cookies', default=None)
    ap.add_argument('--max-probes', type=int, default=None)
    ap.add_argument('--overhead-limit', type=float, default=None,
                    help='passed through when the engine has the option (0 turns its guard off)')
    ap.add_argument('--ready', action='store_true', help='print ARMED on stderr when counting starts')
    args = ap.parse_args(argv)

    from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc

    kwargs = {'duration': args.duration, 'regexp': args.regexp}
    if args.attach:
        kwargs['attach'] = dict(a.split('=', 1) for a in args.attach)
    if args.cookies:
        kwargs['cookies'] = args.cookies
    if args.max_probes:
        kwargs['max_probes'] = args.max_probes
    if args.overhead_limit is not None and 'overhead_limit' in getattr(_engine, 'DEFAULTS', {}):
        kwargs['overhead_limit'] = args.overhead_limit

    def armed():
        sys.stderr.write('ARMED\n')
        sys.stderr.flush()

    opts = _engine.Options(args.patterns, **kwargs)
    try:
        r = _engine.Engine(opts, _bcc, on_armed=armed if args.ready else None).run()
    except _engine.FuncCountError as exc:
        json.dump({'failed': True, 'msg': str(exc)}, sys.stdout)
        sys.stdout.write('\n')
        return 1
    out = {
        'probes': r['probes'],
        'total': r['total'],
        'counts': r['counts'],
        'skipped': r['skipped'],
        'duration': r['duration'],
        'aborted': r.get('aborted'),
        'engine': r['engine'],
    }
    json.dump(out, sys.stdout, sort_keys=True, default=str)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
