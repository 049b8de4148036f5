# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Set-up and teardown of kernel-function counting on stock Debian kernels: ours against funccount-bpfcc.

Boots the qemu guests of tests/guests (stock Debian 11/12/13 kernels, software
emulation), one at a time, and in each guest, in the same run and round-robin,
times counting `tcp_*` and `vfs_*` for a short window with

* ours: the engine (bench/ours.py over plugins/module_utils, copied into the
  guest, under the guest's /usr/bin/python3 and bcc), with the guest's program
  cache warm, and with an empty one (a host's first run, with a compiler run);
* the guest's own `funccount-bpfcc PATTERN` (bcc 0.18 / 0.26 / 0.31);
* `funccount-bpfcc -r '^(f1|f2|...)$'`: upstream given exactly the functions
  ours attached in that guest (upstream 0.26 aborts `vfs_*` on the first
  function that cannot be probed, so the wildcard alone compares nothing).
  A funccount-bpfcc cell that fails on its first run is not repeated.

Set-up is the time from process start to "counting": ours prints ARMED on
stderr when its window opens (bench/ours.py --ready), upstream prints
"Tracing N functions" once everything is attached.  Teardown is the time from
the stop signal to process exit: SIGUSR1 for ours (bench/ours.py
--stop-on-usr1 ends the window at once; it then disarms, reads, detaches and
exits), SIGINT (Ctrl-C) for upstream (it prints its counts, detaches and
exits).  Both are taken inside the guest with time.monotonic(), so SSH is not
in them.  The engine's own setup_seconds / teardown_seconds (from after its
imports to armed, and detach) are reported too.

Usage (as root, from the repository root; guests are built on first use):

    .venv/bin/python bench/guests.py [--suites bookworm,trixie,bullseye] [--repeat 3] [--window 2]

Writes bench/results/guests-<UTC>.json and prints Markdown tables.
"""

import argparse
import base64
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
GUEST_DIR = '/root/fcbench'
GUEST_COLLECTIONS = GUEST_DIR + '/collections'
GUEST_SELF = GUEST_DIR + '/guests.py'
GUEST_OURS = GUEST_DIR + '/ours.py'
UPSTREAM = '/usr/sbin/funccount-bpfcc'

ROWS = {'tcp': 'tcp_*', 'vfs': 'vfs_*'}
ROW_ORDER = ['tcp', 'vfs']
TOOLS = ['engine', 'engine-cold', 'upstream', 'upstream-exact']
TOOL_TITLES = {
    'engine': 'ours, engine (program cache warm)',
    'engine-cold': 'ours, engine, empty program cache',
    'upstream': '`funccount-bpfcc PATTERN`',
    'upstream-exact': '`funccount-bpfcc -r` with the functions ours attached',
}
MAX_PROBES = 5000
READY_TIMEOUT = 1200
EXIT_TIMEOUT = 1200
UPSTREAM_READY = re.compile(r'^Tracing (\d+) functions')


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {'median': round(statistics.median(xs), 3), 'min': round(min(xs), 3), 'max': round(max(xs), 3),
            'n': len(xs)}


# ---------------------------------------------------------------------------
# inside the guest (this file is copied there; Python 3.9+, standard library)


def _reader(stream, lines, marker, stamps):
    for raw in iter(stream.readline, b''):
        line = raw.decode('utf-8', 'replace').rstrip('\n')
        lines.append(line)
        if 'ready' not in stamps and marker(line):
            stamps['ready'] = time.monotonic()
            stamps['ready_line'] = line
    stream.close()


def guest_cell(spec):
    """Run one command: start -> ready marker -> window -> stop signal -> exit; returns the times."""
    env = dict(os.environ, **spec.get('env', {}))
    where, pattern = spec['ready'].split(':', 1)
    regexp = re.compile(pattern)
    stamps = {}
    out, err = [], []
    t0 = time.monotonic()
    proc = subprocess.Popen(spec['cmd'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)

    def marker(stream):
        return lambda line: where == stream and regexp.search(line)

    threads = [threading.Thread(target=_reader, args=(proc.stdout, out, marker('stdout'), stamps)),
               threading.Thread(target=_reader, args=(proc.stderr, err, marker('stderr'), stamps))]
    for t in threads:
        t.daemon = True
        t.start()
    res = {'cmd': spec['cmd'][:6] + (['...'] if len(spec['cmd']) > 6 else [])}
    while 'ready' not in stamps and proc.poll() is None and time.monotonic() - t0 < READY_TIMEOUT:
        time.sleep(0.01)
    if 'ready' not in stamps:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for t in threads:
            t.join(10)
        res.update(failed=True, rc=proc.returncode, wall_s=round(time.monotonic() - t0, 3),
                   stdout_tail=out[-8:], stderr_tail=err[-8:])
        return res
    res['setup_s'] = round(stamps['ready'] - t0, 3)
    res['ready_line'] = stamps['ready_line'][:200]
    time.sleep(spec['window'])
    t_stop = time.monotonic()
    res['window_s'] = round(t_stop - stamps['ready'], 3)
    proc.send_signal(getattr(signal, spec['stop']))
    try:
        proc.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        res['killed'] = True
    t_end = time.monotonic()
    for t in threads:
        t.join(10)
    res.update(rc=proc.returncode, teardown_s=round(t_end - t_stop, 3), wall_s=round(t_end - t0, 3),
               stderr_tail=err[-8:])
    if spec.get('json_stdout'):
        try:
            res['result'] = json.loads(out[-1])
        except (ValueError, IndexError):
            res['stdout_tail'] = out[-8:]
    else:
        res['stdout_lines'] = len(out)
        res['stdout_tail'] = [line for line in out if 'Detaching' in line or 'rror' in line][-4:]
    return res


def guest_attachable(pattern):
    """Run the engine once (1 s, include_zero): the functions it attaches and those it skips; warms the cache."""
    sys.path.insert(0, GUEST_COLLECTIONS)
    from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc  # pylint: disable=import-error
    opts = _engine.Options([pattern], duration=1.0, include_zero=True, max_probes=MAX_PROBES, overhead_limit=0)
    r = _engine.Engine(opts, _bcc).run()
    return {'attached': sorted(r['counts']), 'skipped': r['skipped'], 'mechanisms': r['engine']['mechanisms'],
            'bcc_version': r['engine'].get('bcc_version'), 'kernel_release': r['engine'].get('kernel_release')}


def guest_main(argv):
    if argv[0] == '--cell':
        print(json.dumps(guest_cell(json.loads(argv[1]))))
    elif argv[0] == '--attachable':
        print(json.dumps(guest_attachable(argv[1]), default=str))
    elif argv[0] == '--info':
        def out(cmd):
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
            return p.stdout.decode().strip()
        print(json.dumps({
            'kernel': os.uname().release, 'cpus': os.cpu_count(),
            'python': sys.version.split()[0],
            'bcc': out(['dpkg-query', '-W', '-f=${Version}', 'python3-bpfcc']),
            'os': out(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
            'loadavg': open('/proc/loadavg').read().split()[:3],
        }))
    return 0


# ---------------------------------------------------------------------------
# on the host


def payload():
    """A tar.gz of the engine (as an ansible_collections tree), bench/ours.py and this file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        src = os.path.join(REPO, 'plugins', 'module_utils')
        for name in sorted(os.listdir(src)):
            if name.endswith('.py'):
                tar.add(os.path.join(src, name),
                        arcname='collections/ansible_collections/ebpf/bcc/plugins/module_utils/' + name)
        tar.add(os.path.join(BENCH, 'ours.py'), arcname='ours.py')
        tar.add(os.path.abspath(__file__), arcname='guests.py')
    return buf.getvalue()


def guest_run(g, command, stdin=None, timeout=3600):
    """A command in the guest over SSH (stdin bytes optional); returns stdout, raises on failure."""
    for attempt in range(3):
        p = subprocess.run(g.ssh_args() + ['--', command], input=stdin, capture_output=True, timeout=timeout,
                           check=False)
        if p.returncode != 255 or p.stdout or attempt == 2:  # 255, no output: the login was dropped
            break
        time.sleep(2)
    if p.returncode != 0:
        raise RuntimeError('%r failed in the guest (%d): %s%s' % (command[:200], p.returncode,
                                                                  p.stdout.decode(errors='replace')[-2000:],
                                                                  p.stderr.decode(errors='replace')[-2000:]))
    return p.stdout.decode()


def guest_json(g, args, stdin=None):
    text = guest_run(g, 'python3 %s --in-guest %s' % (GUEST_SELF, ' '.join(_quote(a) for a in args)), stdin=stdin)
    return json.loads(text.strip().splitlines()[-1])


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def cell_spec(tool, pattern, exact, window, run_no):
    py = {'PYTHONPATH': GUEST_COLLECTIONS}
    if tool in ('engine', 'engine-cold'):
        cmd = ['/usr/bin/python3', GUEST_OURS, '--ready', '--stop-on-usr1', '-d', '86400',
               '--max-probes', str(MAX_PROBES), '--overhead-limit', '0']
        if tool == 'engine-cold':
            cmd += ['--cache-dir', '/tmp/fcbench-cold-%d' % run_no]
        return {'cmd': cmd + [pattern], 'env': py, 'ready': 'stderr:^ARMED$', 'stop': 'SIGUSR1',
                'window': window, 'json_stdout': True}
    # upstream is Python: unbuffered, so that its "Tracing" line reaches the pipe when printed
    env = {'PYTHONUNBUFFERED': '1'}
    if tool == 'upstream':
        cmd = [UPSTREAM, pattern]
    else:
        cmd = [UPSTREAM, '-r', '^(%s)$' % '|'.join(re.escape(f) for f in exact)]
    return {'cmd': cmd, 'env': env, 'ready': 'stdout:' + UPSTREAM_READY.pattern, 'stop': 'SIGINT',
            'window': window}


def cell_record(tool, res):
    rec = {'tool': tool, 'failed': bool(res.get('failed')), 'setup_s': res.get('setup_s'),
           'teardown_s': res.get('teardown_s'), 'wall_s': res.get('wall_s'), 'window_s': res.get('window_s'),
           'rc': res.get('rc'), 'raw': res}
    if tool.startswith('engine'):
        r = res.get('result') or {}
        eng = r.get('engine') or {}
        rec.update(probes=r.get('probes'), skipped=len(r.get('skipped') or []),
                   engine_setup_s=eng.get('setup_seconds'), engine_teardown_s=eng.get('teardown_seconds'),
                   mechanisms=eng.get('mechanisms'), cached=(eng.get('headers') or {}).get('cached'))
        if not r or r.get('failed'):
            rec['failed'] = True
            rec['why'] = (r.get('msg') if r else None) or ' / '.join(res.get('stderr_tail') or [])[-300:]
    else:
        m = UPSTREAM_READY.search(res.get('ready_line') or '')
        rec['probes'] = int(m.group(1)) if m else None
        if rec['failed']:
            tail = [line for line in (res.get('stdout_tail') or []) + (res.get('stderr_tail') or []) if line.strip()]
            rec['why'] = ' / '.join(tail[-3:])[-300:]
    return rec


def bench_guest(suite, args):
    sys.path.insert(0, REPO)
    from tests.guests.boot import Guest  # pylint: disable=import-outside-toplevel
    out = {'suite': suite, 'cells': [], 'rows': {}}
    t0 = time.monotonic()
    with Guest(suite, wait=args.wait) as g:
        out['boot'] = dict(g.timings)
        guest_run(g, 'rm -rf %s && mkdir -p %s && base64 -d | tar xzf - -C %s' % (GUEST_DIR, GUEST_DIR, GUEST_DIR),
                  stdin=base64.b64encode(payload()))
        out['guest'] = guest_json(g, ['--info'])
        log('%s: %s, bcc %s, Python %s' % (suite, out['guest']['kernel'], out['guest']['bcc'], out['guest']['python']))
        for row in args.rows:
            t = time.monotonic()
            att = guest_json(g, ['--attachable', ROWS[row]])
            att['seconds'] = round(time.monotonic() - t, 1)
            out['rows'][row] = att
            log('%s %s: ours attaches %d, skips %d (%s); first run %.0f s' % (
                suite, ROWS[row], len(att['attached']), len(att['skipped']), att['mechanisms'], att['seconds']))
        run_no = 0
        for rep in range(args.repeat):
            for row in args.rows:
                for tool in args.tools:
                    if rep and tool.startswith('upstream') and all(
                            c['failed'] for c in out['cells'] if c['row'] == row and c['tool'] == tool):
                        continue  # upstream failed on the first run (it aborts on a function it cannot probe)
                    run_no += 1
                    spec = cell_spec(tool, ROWS[row], out['rows'][row]['attached'], args.window, run_no)
                    load = open('/proc/loadavg').read().split()[0]
                    res = guest_json(g, ['--cell', json.dumps(spec)])
                    rec = cell_record(tool, res)
                    rec.update(row=row, repeat=rep, host_load=load)
                    out['cells'].append(rec)
                    log('%s %s %s #%d: %s' % (suite, ROWS[row], tool, rep + 1, 'FAILED: %s' % rec.get('why')
                                              if rec['failed'] else 'set-up %.2f s, teardown %.2f s [%s]'
                                              % (rec['setup_s'], rec['teardown_s'], rec.get('probes'))))
                    if tool == 'engine-cold':
                        guest_run(g, 'rm -rf /tmp/fcbench-cold-%d' % run_no)
        out['guest']['loadavg_end'] = guest_json(g, ['--info'])['loadavg']
    out['shutdown_s'] = g.timings.get('shutdown_s')
    out['seconds'] = round(time.monotonic() - t0, 1)
    return out


def summarise(guest_out):
    table = {}
    for row in ROW_ORDER:
        for tool in TOOLS:
            cells = [c for c in guest_out['cells'] if c['row'] == row and c['tool'] == tool]
            if not cells:
                continue
            ok = [c for c in cells if not c['failed']]
            table['%s/%s' % (row, tool)] = {
                'runs': len(cells), 'failed': len(cells) - len(ok),
                'why': sorted(set(c.get('why') or '' for c in cells if c['failed'])),
                'fail_after_s': summary([c['wall_s'] for c in cells if c['failed']]),
                'setup_s': summary([c['setup_s'] for c in ok]),
                'teardown_s': summary([c['teardown_s'] for c in ok]),
                'both_s': summary([c['setup_s'] + c['teardown_s'] for c in ok]),
                'engine_setup_s': summary([c.get('engine_setup_s') for c in ok]),
                'engine_teardown_s': summary([c.get('engine_teardown_s') for c in ok]),
                'probes': sorted(set(c.get('probes') for c in ok)),
                'skipped': sorted(set(c.get('skipped') for c in ok if c.get('skipped') is not None)),
                'mechanisms': next((c.get('mechanisms') for c in ok if c.get('mechanisms')), None),
            }
    return table


def fmt(s, digits=2):
    if not s:
        return ''
    return '%.*f (%.*f–%.*f)' % (digits, s['median'], digits, s['min'], digits, s['max'])


def markdown(report):
    lines = [
        'Kernel functions on stock Debian kernels, in qemu guests under **software emulation (TCG)**, 2 vCPUs on '
        'the 2-core host: every figure is many times what the same kernel takes on real hardware; compare the '
        'tools within a row. Seconds, median (min–max) of %d round-robin runs; window %s s.' % (
            report['args']['repeat'], report['args']['window']),
        '',
        '| guest | pattern | tool | probes attached | set-up: start → counting | teardown: stop → exit | '
        'set-up + teardown | engine setup / teardown (own) |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for g in report['guests']:
        info = g.get('guest') or {}
        name = '%s (%s, bcc %s)' % (g['suite'], info.get('kernel', '?'), (info.get('bcc') or '?').split('+')[0])
        for key, s in g['summary'].items():
            row, tool = key.split('/')
            if s['failed'] == s['runs']:
                why = (s['why'] or [''])[0]
                cell = 'fails after %s s: %s' % (fmt(s['fail_after_s'], 1), why[:160].replace('|', '\\|'))
                lines.append('| %s | `%s` | %s | %s | | | | |' % (name, ROWS[row], TOOL_TITLES[tool], cell))
                continue
            probes = '/'.join(str(p) for p in s['probes'])
            if s['skipped']:
                probes += ' (%s skipped)' % '/'.join(str(x) for x in s['skipped'])
            if s['mechanisms']:
                kern = s['mechanisms'].get('kernel') or {}
                probes += ', %s' % kern.get('mechanism', '?')
            own = ''
            if s['engine_setup_s']:
                own = '%.2f / %.2f' % (s['engine_setup_s']['median'], s['engine_teardown_s']['median'])
            note = ' (%d of %d failed)' % (s['failed'], s['runs']) if s['failed'] else ''
            lines.append('| %s | `%s` | %s | %s | %s | %s | %s | %s |' % (
                name, ROWS[row], TOOL_TITLES[tool] + note, probes, fmt(s['setup_s']), fmt(s['teardown_s']),
                fmt(s['both_s']), own))
    lines.append('')
    for g in report['guests']:
        info = g.get('guest') or {}
        loads = sorted(float(c['host_load']) for c in g['cells']) or [0.0]
        values = (g['suite'], (g.get('boot') or {}).get('boot_to_ssh_s'), g.get('seconds'), loads[0], loads[-1],
                  ' '.join(info.get('loadavg_end') or []))
        lines.append('- %s: boot to SSH %s s, whole guest %s s; host load average %.1f–%.1f at the samples; '
                     'guest load at the end %s.' % values)
    lines.append('')
    lines.append('Command: `%s`; results in %s' % (report['command'], report['results_file']))
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--suites', default='bookworm', help='comma separated: bullseye, bookworm, trixie (or all)')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--window', type=float, default=2.0)
    ap.add_argument('--rows', default=','.join(ROW_ORDER))
    ap.add_argument('--tools', default=','.join(TOOLS))
    ap.add_argument('--wait', type=float, default=3600.0, help='seconds to queue behind another run\'s guest')
    ap.add_argument('--in-guest', nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.in_guest:
        return guest_main(args.in_guest)
    suites = ['bullseye', 'bookworm', 'trixie'] if args.suites == 'all' else args.suites.split(',')
    args.rows = [r for r in args.rows.split(',') if r]
    args.tools = [t for t in args.tools.split(',') if t]
    started = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
    results_file = os.path.join('bench', 'results', 'guests-%s.json' % started)
    report = {
        'started': started,
        'args': {'suites': suites, 'repeat': args.repeat, 'window': args.window, 'rows': args.rows,
                 'tools': args.tools},
        'command': ' '.join(['bench/guests.py'] + (argv if argv is not None else sys.argv[1:])),
        'engine_commit': subprocess.run(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'], capture_output=True,
                                        text=True, check=False).stdout.strip(),
        'host_loadavg_start': open('/proc/loadavg').read().split()[:3],
        'results_file': results_file, 'guests': [],
    }
    t0 = time.monotonic()
    for suite in suites:
        g = bench_guest(suite, args)
        g['summary'] = summarise(g)
        report['guests'].append(g)
        os.makedirs(os.path.join(REPO, 'bench', 'results'), exist_ok=True)
        with open(os.path.join(REPO, results_file), 'w') as handle:
            json.dump(report, handle, indent=1, default=str)
    report['seconds'] = round(time.monotonic() - t0, 1)
    report['host_loadavg_end'] = open('/proc/loadavg').read().split()[:3]
    report['markdown'] = markdown(report)
    with open(os.path.join(REPO, results_file), 'w') as handle:
        json.dump(report, handle, indent=1, default=str)
    print(report['markdown'])
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--in-guest':
        sys.exit(guest_main(sys.argv[2:]))
    sys.exit(main())
