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

With --stop-on-usr1, SIGUSR1 ends the window early (bench/run.py's overhead
part sends it once its loops are done): the engine is given a clock that
jumps forward by the duration at that moment, so its counting loop ends at
once and disarms, reads and detaches as usual; "duration" in the output is
then the real time counted, corrected for the jump.

With --breakdown, the result also has "steps": seconds spent in each engine
step (resolve and plan, compile, attach, detach, program close) and in
importing the engine and bcc, timed by wrapping those functions in this
process only.
"""

import time

T_START = time.monotonic()

import argparse  # noqa: E402  (after the start time, on purpose)
import functools  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402


class StoppableClock(object):
    """time.monotonic/time.sleep, except that after stop() the clock is ``jump`` seconds ahead."""

    def __init__(self, jump):
        self.jump = jump
        self.offset = 0.0

    def stop(self, *_args):
        self.offset = self.jump

    def monotonic(self):
        return time.monotonic() + self.offset

    def sleep(self, seconds):
        # short naps, so that a stop is seen within 50 ms
        end = time.monotonic() + seconds
        while not self.offset:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))


def timed_steps(engine, bcc, attach):
    """Wrap the engine's steps so that each one adds its seconds to the returned dict."""
    steps = {}

    def wrap(owner, name, label):
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return inner(*args, **kwargs)
            finally:
                steps[label] = round(steps.get(label, 0.0) + time.monotonic() - t0, 4)
        setattr(owner, name, wrapper)

    wrap(engine.Engine, 'prepare', 'resolve_plan')
    wrap(bcc, 'compile_program', 'compile')
    wrap(attach.Attacher, 'attach', 'attach')
    wrap(attach.Attacher, 'close', 'detach')
    if hasattr(bcc, 'Compiled'):
        wrap(bcc.Compiled, 'close', 'program_close')
    return steps


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
    ap.add_argument('--breakdown', action='store_true', help='time each engine step (see above)')
    ap.add_argument('--cache-dir', help='directory for the engine\'s per-host program cache (an empty one = '
                                        'a first run on the host, with a compiler run); default the engine\'s own')
    ap.add_argument('--stop-on-usr1', action='store_true', help='SIGUSR1 ends the window early (see above)')
    args = ap.parse_args(argv)

    t_import = time.monotonic()
    from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc, _attach
    imported = time.monotonic() - t_import
    steps = timed_steps(_engine, _bcc, _attach) if args.breakdown else None
    if args.cache_dir and hasattr(_bcc, 'CACHE_DIR'):
        _bcc.CACHE_DIR = args.cache_dir

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
    clock = None
    extra = {}
    if args.stop_on_usr1:
        clock = StoppableClock(args.duration)
        signal.signal(signal.SIGUSR1, clock.stop)
        extra['clock'] = clock
    try:
        r = _engine.Engine(opts, _bcc, on_armed=armed if args.ready else None, **extra).run()
    except _engine.FuncCountError as exc:
        json.dump({'failed': True, 'msg': str(exc)}, sys.stdout)
        sys.stdout.write('\n')
        return 1
    out = {
        'probes': r['probes'],
        'total': r['total'],
        'counts': r['counts'],
        'skipped': r['skipped'],
        'duration': r['duration'] - (clock.offset if clock else 0),
        'stopped_early': bool(clock and clock.offset),
        'aborted': r.get('aborted'),
        'engine': r['engine'],
    }
    if steps is not None:
        steps['import'] = round(imported, 4)
        steps['python_start_to_main'] = round(t_import - T_START, 4)
        out['steps'] = steps
    json.dump(out, sys.stdout, sort_keys=True, default=str)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
