# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of issue 6 section 6: ebpf.bcc.funccount against funccount-bpfcc and bpftrace.

Two parts, both run in the same invocation so that their figures are comparable:

* whole-run wall time of a 1 s counting window, process start to exit, per
  row (pattern set) and tool, repeated, median/min/max;
* per-event overhead, added nanoseconds per call, of a syscall tracepoint
  (getppid) and of a uprobe (a function of a test binary compiled here).

Usage (as root):  python3 bench/run.py [--repeat 5] [--rows malloc,str,...]
Writes bench/results/<UTC timestamp>.json and prints Markdown tables.
"""

import argparse
import ast
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
SYSTEM_PYTHON = '/usr/bin/python3'
WINDOW = 1.0
# window of a tracer in the overhead part; it is stopped when the loops end
OVERHEAD_WINDOW = 120

TP_CATEGORIES = ('sched', 'block', 'irq', 'timer', 'workqueue')

# Each row: what every tool is given to count the same set of probes.
ROWS = {
    'malloc': {
        'title': '`c:malloc`',
        'ours': ['c:malloc'],
        'upstream': ['c:malloc'],
        'bpftrace': 'uprobe:libc:malloc',
    },
    'str': {
        'title': '`c:str*`',
        'ours': ['c:str*'],
        'upstream': ['c:str*'],
        'bpftrace': 'uprobe:libc:str*',
    },
    'syscalls': {
        'title': '`t:syscalls:sys_enter_*`',
        'ours': ['t:syscalls:sys_enter_*'],
        'upstream': ['t:syscalls:sys_enter_*'],
        'bpftrace': 'tracepoint:syscalls:sys_enter_*',
        'slow': True,
    },
    'tracepoints': {
        'title': '`t:{%s}:*`' % ','.join(TP_CATEGORIES),
        'ours': ['t:%s:*' % c for c in TP_CATEGORIES],
        # funccount takes one pattern per run: one anchored regexp for the five
        'upstream': ['-r', 't:(%s):.*' % '|'.join(TP_CATEGORIES)],
        'bpftrace': ','.join('tracepoint:%s:*' % c for c in TP_CATEGORIES),
    },
}
ROW_ORDER = ['malloc', 'str', 'syscalls', 'tracepoints']
TOOLS = ['engine', 'engine-cold', 'ansible', 'funccount-bpfcc', 'bpftrace']
TOOL_TITLES = {
    'engine': 'ours, engine alone',
    'engine-cold': 'ours, engine alone, empty program cache',
    'ansible': 'ours, `ansible -m ebpf.bcc.funccount`',
    'funccount-bpfcc': '`funccount-bpfcc -d 1`',
    'bpftrace': 'bpftrace',
}

# Lines that upstream tools print on this machine and that are not failures.
BPFTRACE_NOISE = re.compile(r"couldn't set RLIMIT_MEMLOCK")
UPSTREAM_DECODE_DEFECT = "'str' object has no attribute 'decode'"


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def median(xs):
    return statistics.median(xs) if xs else None


def summary(xs):
    if not xs:
        return None
    return {'median': round(median(xs), 4), 'min': round(min(xs), 4), 'max': round(max(xs), 4), 'n': len(xs)}


# ---------------------------------------------------------------------------
# environment


class Env(object):
    def __init__(self, args):
        self.tmp = tempfile.mkdtemp(prefix='ebpf-bcc-bench-')
        self.collections = args.collections or self._collections()
        self.ansible = args.ansible or self._ansible()
        self.upstream = shutil.which('funccount-bpfcc') or '/usr/sbin/funccount-bpfcc'
        self.bpftrace = shutil.which('bpftrace')
        self.overhead_limit = self._has_overhead_limit()

    def _collections(self):
        built = os.path.join(REPO, 'build', 'collections')
        if os.path.isdir(os.path.join(built, 'ansible_collections', 'ebpf', 'bcc', 'plugins')):
            return built
        # a clean clone without `make setup`: a collection tree of our own
        root = os.path.join(self.tmp, 'collections')
        os.makedirs(os.path.join(root, 'ansible_collections', 'ebpf'))
        os.symlink(REPO, os.path.join(root, 'ansible_collections', 'ebpf', 'bcc'))
        return root

    @staticmethod
    def _ansible():
        venv = os.path.join(REPO, '.venv', 'bin', 'ansible')
        return venv if os.access(venv, os.X_OK) else shutil.which('ansible')

    @staticmethod
    def _has_overhead_limit():
        """Whether the module has overhead_limit (its guard would cut a busy window short)."""
        try:
            with open(os.path.join(REPO, 'plugins', 'modules', 'funccount.py')) as f:
                return 'overhead_limit=dict(' in f.read()
        except OSError:
            return False

    def ours_env(self):
        env = dict(os.environ)
        env['PYTHONPATH'] = self.collections
        return env

    def ansible_env(self):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': self.collections,
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_DEPRECATION_WARNINGS': 'False',
            'ANSIBLE_LOCALHOST_WARNING': 'False',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
        })
        return env

    def upstream_env(self):
        env = dict(os.environ)
        env['PYTHONUNBUFFERED'] = '1'
        return env

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def engine_version():
    """The commit of the engine measured, and whether plugins/ differs from it."""
    def git(*cmd):
        p = subprocess.run(['git', '-C', REPO] + list(cmd), capture_output=True, text=True, check=False)
        return p.stdout.strip() if p.returncode == 0 else None
    return {'commit': git('rev-parse', '--short', 'HEAD'),
            'plugins_modified': bool(git('status', '--porcelain', '--', 'plugins'))}


def machine_info(env):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    info = {
        'kernel': platform.release(),
        'cpus': os.cpu_count(),
        'python': sys.version.split()[0],
        'bcc': out(['dpkg-query', '-W', '-f=${Version}', 'python3-bpfcc']),
        'bpftrace': out([env.bpftrace, '--version']) if env.bpftrace else None,
        'ansible': (out([env.ansible, '--version']) or '').splitlines()[0] if env.ansible else None,
        'os': out(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
        'loadavg_start': open('/proc/loadavg').read().split()[:3],
    }
    try:
        with open('/proc/meminfo') as f:
            info['mem_total'] = f.readline().split(':')[1].strip()
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------------
# whole-run wall time


def timed(cmd, env, timeout):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return time.monotonic() - t0, None, exc.stdout or '', exc.stderr or ''
    return time.monotonic() - t0, p.returncode, p.stdout, p.stderr


def ours_command(env, patterns, duration=WINDOW, extra=()):
    cmd = [SYSTEM_PYTHON, os.path.join(BENCH, 'ours.py'), '-d', str(duration)]
    if env.overhead_limit:
        cmd += ['--overhead-limit', '0']
    return cmd + list(extra) + ['--'] + list(patterns)


def parse_ours(stdout):
    """The JSON object printed by bench/ours.py (last line)."""
    lines = [l for l in stdout.splitlines() if l.strip().startswith('{')]
    return json.loads(lines[-1]) if lines else None


def engine_cell(r, rc, note=None):
    cell = {'ok': bool(r) and rc == 0 and not r.get('failed')}
    if r is None:
        cell['note'] = note or 'no result printed'
        return cell
    if r.get('failed'):
        cell['note'] = r.get('msg')
        return cell
    eng = r.get('engine', {})
    cell.update({
        'probes': r.get('probes'),
        'skipped': len(r.get('skipped') or []),
        'setup_seconds': eng.get('setup_seconds'),
        'teardown_seconds': eng.get('teardown_seconds'),
        'mechanisms': eng.get('mechanisms'),
        'headers': (eng.get('headers') or {}).get('kind'),
        'window': r.get('duration'),
        'aborted': r.get('aborted'),
    })
    if r.get('steps'):
        cell['steps'] = r['steps']
    if r.get('aborted'):
        cell['ok'] = False
        cell['note'] = 'window aborted: %s' % r['aborted']
    return cell


def run_engine(env, row, cold=False):
    extra = ['--breakdown']
    cache = None
    if cold:
        # a first run on the host: an empty per-host program cache, so the engine compiles
        cache = tempfile.mkdtemp(prefix='cache-', dir=env.tmp)
        extra += ['--cache-dir', cache]
    wall, rc, out, err = timed(ours_command(env, row['ours'], extra=extra), env.ours_env(), 300)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
    try:
        r = parse_ours(out)
    except ValueError:
        r = None
    cell = engine_cell(r, rc, note=(err.strip().splitlines() or ['rc %s' % rc])[-1])
    cell['wall'] = wall
    return cell


def parse_ansible(stdout):
    """`ansible` ad-hoc default callback: `localhost | SUCCESS => {json}`."""
    m = re.search(r'^localhost \| (\w+)(?: \| [^=]*)? => ', stdout, re.M)
    if not m:
        return None, None
    try:
        return m.group(1), json.loads(stdout[m.end():])
    except ValueError:
        return m.group(1), None


def run_ansible(env, row):
    if not env.ansible:
        return {'ok': False, 'note': 'ansible not found (make setup creates .venv)', 'wall': None}
    args = {'patterns': row['ours'], 'duration': WINDOW}
    if env.overhead_limit:
        args['overhead_limit'] = 0
    cmd = [env.ansible, 'localhost', '-c', 'local', '-m', 'ebpf.bcc.funccount', '-a', json.dumps(args)]
    wall, rc, out, err = timed(cmd, env.ansible_env(), 300)
    status, r = parse_ansible(out)
    if status is None and rc == 0 and re.search(r'^localhost \| SKIPPED', out, re.M):
        # The module ran, but its result has a non-empty top-level `skipped` list
        # (probes it could not attach), which Ansible reads as "this task was
        # skipped": it prints SKIPPED and drops the result.  The run is timed all
        # the same; the probe count is unknown.
        return {'ok': True, 'wall': wall, 'probes': None, 'status': 'SKIPPED',
                'note': 'Ansible printed "localhost | SKIPPED" and no result: the module returned a non-empty '
                        'top-level `skipped` list, which Ansible takes for a skipped task (%s)'
                        % ' '.join(l for l in err.splitlines() if 'not counted' in l)[:200]}
    if r is not None and r.get('failed'):
        r = {'failed': True, 'msg': r.get('msg')}
    cell = engine_cell(r, rc, note='ansible %s rc %s: %s' % (status, rc, (err or out).strip()[-300:]))
    cell['wall'] = wall
    cell['status'] = status
    return cell


UPSTREAM_LINES = re.compile(r'^(Tracing \d+ functions for .*|FUNC +COUNT|\S+ +\d+|Detaching\.\.\.|)$')


def check_upstream(rc, out, err):
    """Sanity check only: upstream funccount exits 0 even on errors, printing one line instead.

    Its normal output is a "Tracing N functions" line, a FUNC/COUNT table and
    "Detaching..."; any other line is taken as an error, except the known bcc
    0.26 defect of t: patterns, which only loses the printed counts."""
    text = out + err
    m = re.search(r'^Tracing (\d+) functions', text, re.M)
    notes = []
    if UPSTREAM_DECODE_DEFECT in text:
        notes.append('printed "%s" instead of its counts (bcc 0.26 defect)' % UPSTREAM_DECODE_DEFECT)
    bad = [l for l in text.splitlines() if not UPSTREAM_LINES.match(l) and UPSTREAM_DECODE_DEFECT not in l]
    if bad:
        notes.append('; '.join(bad[:3]))
    cell = {'ok': bool(m) and rc == 0 and not bad, 'probes': int(m.group(1)) if m else None}
    if not m:
        notes.append('no "Tracing N functions" line')
    if notes:
        cell['note'] = ' / '.join(notes)
    return cell


def run_upstream(env, row):
    cmd = [env.upstream, '-d', '%g' % WINDOW] + row['upstream']
    wall, rc, out, err = timed(cmd, env.upstream_env(), 600)
    cell = check_upstream(rc, out, err)
    cell['wall'] = wall
    return cell


def run_bpftrace(env, row):
    if not env.bpftrace or not row.get('bpftrace'):
        return {'ok': False, 'note': 'not expressible / bpftrace missing', 'wall': None}
    prog = '%s { @[probe] = count(); } interval:s:%d { exit(); }' % (row['bpftrace'], int(WINDOW))
    wall, rc, out, err = timed([env.bpftrace, '-e', prog], dict(os.environ), 600)
    text = out + err
    m = re.search(r'^Attaching (\d+) probes', text, re.M)
    bad = [l for l in text.splitlines() if l.startswith('ERROR') and not BPFTRACE_NOISE.search(l)]
    cell = {'ok': bool(m) and rc == 0 and not bad, 'wall': wall,
            # bpftrace counts the interval probe too
            'probes': int(m.group(1)) - 1 if m else None}
    notes = []
    if bad:
        notes.append('; '.join(bad[:3]))
    if rc != 0:
        notes.append('rc %s' % rc)
    if notes:
        cell['note'] = ' / '.join(notes)
    return cell


def run_engine_cold(env, row):
    return run_engine(env, row, cold=True)


RUNNERS = {'engine': run_engine, 'engine-cold': run_engine_cold, 'ansible': run_ansible, 'funccount-bpfcc': run_upstream, 'bpftrace': run_bpftrace}


def whole_runs(env, rows, tools, repeat, repeat_slow):
    """Round-robin: every repetition runs every (row, tool) cell once, so noise spreads evenly."""
    samples = {r: {t: [] for t in tools} for r in rows}
    reps = {}
    for r in rows:
        for t in tools:
            slow = ROWS[r].get('slow') and t in ('funccount-bpfcc', 'bpftrace')
            reps[(r, t)] = min(repeat, repeat_slow) if slow else repeat
    for i in range(max(reps.values())):
        for r in rows:
            for t in tools:
                if i >= reps[(r, t)]:
                    continue
                cell = RUNNERS[t](env, ROWS[r])
                cell['load1'] = float(open('/proc/loadavg').read().split()[0])
                samples[r][t].append(cell)
                log('run %d %-11s %-15s %s s probes=%s%s%s' % (
                    i + 1, r, t, '%.2f' % cell['wall'] if cell.get('wall') is not None else '-',
                    cell.get('probes'),
                    ' setup=%s teardown=%s' % (cell.get('setup_seconds'), cell.get('teardown_seconds'))
                    if 'setup_seconds' in cell else '',
                    '' if cell['ok'] else ' FAILED: %s' % cell.get('note')))
    return samples


def summarise_cells(cells):
    ok = [c for c in cells if c['ok'] and c.get('wall') is not None]
    s = {'wall': summary([c['wall'] for c in ok]), 'runs': len(cells), 'failed': len(cells) - len(ok)}
    probes = sorted(set(c.get('probes') for c in cells if c.get('probes') is not None))
    s['probes'] = probes[0] if len(probes) == 1 else probes
    skipped = sorted(set(c['skipped'] for c in cells if c.get('skipped')))
    if skipped:
        s['skipped'] = skipped[0] if len(skipped) == 1 else skipped
    notes = sorted(set(c['note'] for c in cells if c.get('note')))
    if notes:
        s['notes'] = notes
    if any('setup_seconds' in c for c in ok):
        s['setup'] = summary([c['setup_seconds'] for c in ok])
        s['teardown'] = summary([c['teardown_seconds'] for c in ok])
        s['setup_teardown'] = summary([c['setup_seconds'] + c['teardown_seconds'] for c in ok])
        mech = [c['mechanisms'] for c in ok if c.get('mechanisms')]
        s['mechanisms'] = mech[0] if mech else None
        s['headers'] = sorted(set(c.get('headers') for c in ok if c.get('headers')))
        names = sorted(set(k for c in ok for k in c.get('steps', {})))
        if names:
            s['steps'] = {k: summary([c['steps'].get(k, 0.0) for c in ok if 'steps' in c]) for k in names}
    return s


# ---------------------------------------------------------------------------
# per-event overhead


class Tool(object):
    """A tracer started in the background; ready() waits until it is counting."""

    def __init__(self, cmd, env, ready_re, stream):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out, self.err = [], []
        self.ready_re = re.compile(ready_re)
        self.event = threading.Event()
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out, stream == 'stdout')),
                        threading.Thread(target=self._pump, args=(self.p.stderr, self.err, stream == 'stderr'))]
        for th in self.threads:
            th.daemon = True
            th.start()

    def _pump(self, f, sink, watch):
        for line in f:
            sink.append(line)
            if watch and self.ready_re.search(line):
                self.event.set()
        if watch:
            self.event.set()  # ended without getting ready: wake the waiter

    def ready(self, timeout=120):
        self.event.wait(timeout)
        return self.p.poll() is None and any(self.ready_re.search(l) for l in self.out + self.err)

    def finish(self, timeout=120):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()  # our own child, by its Popen handle
            rc = self.p.wait()
        for th in self.threads:
            th.join(5)
        return rc, ''.join(self.out), ''.join(self.err)


def build_loop(env):
    exe = os.path.join(env.tmp, 'loop')
    subprocess.run(['gcc', '-O2', '-o', exe, os.path.join(BENCH, 'loop.c')], check=True)
    return exe


def run_loop(exe, mode, n, k):
    """(CPU ns per call, wall ns per call) of the loop: the least of k back-to-back runs each.

    On a busy machine interference only ever adds time, so the least of a few
    runs is the steadiest estimate."""
    cpus, walls = [], []
    for dummy in range(k):
        p = subprocess.run([exe, mode, str(n)], capture_output=True, text=True, check=True)
        cpu, wall = p.stdout.split()[:2]
        cpus.append(float(cpu))
        walls.append(float(wall))
    return min(cpus), min(walls)


def overhead_configs(env, exe, tools):
    key_sys = 't:syscalls:sys_enter_getppid'
    key_up = '%s:bench_target' % exe
    configs = [
        # (name, workload, tool, command builder, expected key)
        ('tracepoint, ours, raw_syscalls', 'syscall', 'engine', [key_sys], ['--attach', 'syscall=raw_syscalls'], key_sys),
        ('tracepoint, ours, perf_event', 'syscall', 'engine', [key_sys], ['--attach', 'syscall=perf_event'], key_sys),
        ('tracepoint, funccount-bpfcc', 'syscall', 'funccount-bpfcc', [key_sys], [], None),
        ('uprobe, ours, uprobe_multi', 'uprobe', 'engine', [key_up], ['--attach', 'user=uprobe_multi'], key_up),
        ('uprobe, ours, uprobe', 'uprobe', 'engine', [key_up], ['--attach', 'user=uprobe'], key_up),
        ('uprobe, funccount-bpfcc', 'uprobe', 'funccount-bpfcc', [key_up], [], None),
    ]
    return [c for c in configs if c[2] in tools]


def overhead(env, tools, repeat, n_sys, n_up, k):
    exe = build_loop(env)
    n = {'syscall': n_sys, 'uprobe': n_up}
    # The tracers get a long window (whole seconds: funccount-bpfcc does
    # sleep(int(duration)) and fails on '1.5') and are stopped once the loops
    # are done: ours by SIGUSR1 (bench/ours.py --stop-on-usr1), upstream by
    # SIGINT, its Ctrl-C, after which it prints, detaches and exits.
    duration = {w: OVERHEAD_WINDOW for w in n}
    configs = overhead_configs(env, exe, tools)
    results = {name: {'workload': w, 'tool': t, 'n': n[w], 'window': duration[w], 'samples': []}
               for name, w, t, dummy, dummy, dummy in configs}
    results.update({'baseline ' + w: {'workload': w, 'tool': None, 'n': n[w], 'samples': []} for w in n})
    for i in range(repeat):
        for name, workload, tool, patterns, extra, key in configs:
            base, base_wall = run_loop(exe, workload, n[workload], k)
            results['baseline ' + workload]['samples'].append({'ns': base, 'wall_ns': base_wall})
            if tool == 'engine':
                cmd = ours_command(env, patterns, duration[workload], ['--ready', '--stop-on-usr1'] + extra)
                tr = Tool(cmd, env.ours_env(), r'^ARMED', 'stderr')
            else:
                cmd = [env.upstream, '-d', '%g' % duration[workload]] + patterns
                tr = Tool(cmd, env.upstream_env(), r'^Tracing \d+ functions', 'stdout')
            sample = {'base_ns': base, 'base_wall_ns': base_wall}
            if tr.ready():
                t_ready = time.monotonic()
                time.sleep(0.2)  # let the tool's own start-up work settle
                t_loop = time.monotonic()
                sample['ns'], sample['wall_ns'] = run_loop(exe, workload, n[workload], k)
                sample['loop_seconds'] = time.monotonic() - t_loop
                # the loops must have run entirely inside the counting window
                sample['inside_window'] = (tr.p.poll() is None
                                           and time.monotonic() - t_ready < duration[workload] - 1.0)
                time.sleep(0.1)
                if tr.p.poll() is None:
                    tr.p.send_signal(signal.SIGUSR1 if tool == 'engine' else signal.SIGINT)
            rc, out, err = tr.finish()
            if tool == 'engine':
                r = parse_ours(out) if out.strip() else None
                cell = engine_cell(r, rc, note=(err.strip().splitlines() or ['rc %s' % rc])[-1])
                if r and not r.get('failed'):
                    sample['counted'] = r['counts'].get(key, 0)
                    if sample['counted'] < k * n[workload]:
                        cell['ok'] = False
                        cell['note'] = 'counted %d of %d calls (window too short?)' % (
                            sample['counted'], k * n[workload])
                sample['mechanisms'] = cell.get('mechanisms')
            else:
                cell = check_upstream(rc, out, err)
            sample['ok'] = cell['ok'] and 'ns' in sample and sample.get('inside_window')
            if 'ns' not in sample:
                sample['note'] = 'the tool never became ready: %s' % (out + err).strip()[-300:]
            elif not sample['inside_window']:
                sample['note'] = 'the window had ended before the loops did'
            elif cell.get('note'):
                sample['note'] = cell['note']
            if 'ns' in sample:
                sample['added_ns'] = sample['ns'] - base
                sample['added_wall_ns'] = sample['wall_ns'] - base_wall
            results[name]['samples'].append(sample)
            log('overhead %d %-34s base %.1f ns -> %s CPU ns/call%s' % (
                i + 1, name, base, '%.1f' % sample['ns'] if 'ns' in sample else '-',
                '' if sample['ok'] else ' FAILED: %s' % sample.get('note')))
    for name, res in results.items():
        ok = [s for s in res['samples'] if s.get('ok', True) and 'ns' in s]
        res['ns_per_call'] = summary([s['ns'] for s in ok])
        res['wall_ns_per_call'] = summary([s['wall_ns'] for s in ok])
        if res['tool']:
            res['added_ns'] = summary([s['added_ns'] for s in ok])
            res['added_wall_ns'] = summary([s['added_wall_ns'] for s in ok])
            res['failed'] = len(res['samples']) - len(ok)
            notes = sorted(set(s['note'] for s in res['samples'] if s.get('note')))
            if notes:
                res['notes'] = notes
    return results


# ---------------------------------------------------------------------------
# compile only


def upstream_program(env, patterns):
    """The C text funccount-bpfcc generates for patterns (its -D output), or None."""
    wall, rc, out, err = timed([env.upstream, '-D', '-d', '1'] + list(patterns), env.upstream_env(), 600)
    for line in out.splitlines():
        if line.startswith(("b'", 'b"')):
            try:
                return ast.literal_eval(line)
            except (ValueError, SyntaxError):
                return None
    log('funccount-bpfcc -D printed no program (rc %s, %.1f s): %s' % (rc, wall, (out + err).strip()[-200:]))
    return None


def compile_part(env, whole, repeat):
    """bcc compile of our program against upstream's for the uprobe rows, alternating, nothing attached."""
    results = {}
    for r in ('malloc', 'str'):
        cells = (whole or {}).get(r, {})
        eng = cells.get('engine') or {}
        probes = eng.get('probes')
        if not isinstance(probes, int):
            continue
        nprobes = probes + (eng.get('skipped') if isinstance(eng.get('skipped'), int) else 0)
        text = upstream_program(env, ROWS[r]['upstream'])
        if text is None:
            continue
        path = os.path.join(env.tmp, 'upstream-%s.c' % r)
        with open(path, 'wb') as f:
            f.write(text)
        cmd = [SYSTEM_PYTHON, os.path.join(BENCH, 'compile_cost.py'), '--nprobes', str(nprobes),
               '--upstream-program', path, '--repeat', str(repeat)]
        wall, rc, out, err = timed(cmd, env.ours_env(), 600)
        try:
            samples = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            log('compile_cost.py failed (rc %s): %s' % (rc, err.strip()[-300:]))
            continue
        results[r] = {'nprobes': nprobes, 'upstream_functions': text.count(b'int trace_count_'),
                      'ours': summary(samples['ours']), 'upstream': summary(samples['upstream']),
                      'ours_cached': summary(samples.get('ours_cached')),
                      'samples': samples}
        log('compile %s: ours %s, upstream %s' % (r, results[r]['ours'], results[r]['upstream']))
    return results


# ---------------------------------------------------------------------------
# report


def fmt_range(s, digits=2):
    if not s:
        return 'n/a'
    f = '%%.%df' % digits
    return ('%s (%s–%s)' % (f, f, f)) % (s['median'], s['min'], s['max'])


def fmt_probes(p):
    if isinstance(p, list):
        return '/'.join(str(x) for x in p) if p else '?'
    return str(p)


def markdown(report):
    lines = []
    info = report['machine']
    lines.append('Machine: %s, kernel %s, %s CPUs, bcc %s, %s, %s; load average at start %s, at end %s. '
                 'Started %s.' % (info.get('os'), info['kernel'], info['cpus'], info.get('bcc'),
                                  info.get('bpftrace'), info.get('ansible'), ' '.join(info['loadavg_start']),
                                  ' '.join(info.get('loadavg_end', [])), report['started']))
    ev = report.get('engine_version') or {}
    lines.append('Engine measured: commit %s%s.' % (ev.get('commit'), ', with uncommitted changes under plugins/'
                                                    if ev.get('plugins_modified') else ''))
    lines.append('')
    whole = report.get('whole_run')
    if whole:
        tools = report['tools']
        lines.append('Whole-run wall time of a %g s window, process start to exit, seconds: median (min–max), '
                     '[probes attached] ×runs.' % WINDOW)
        lines.append('')
        lines.append('| row | ' + ' | '.join(TOOL_TITLES[t] for t in tools) + ' |')
        lines.append('|---|' + '---|' * len(tools))
        for r, cells in whole.items():
            row = [ROWS[r]['title']]
            for t in tools:
                s = cells[t]
                probes = fmt_probes(s['probes'])
                if s.get('skipped'):
                    probes += ', %s skipped' % fmt_probes(s['skipped'])
                txt = '%s [%s] ×%d' % (fmt_range(s['wall']), probes, s['runs'] - s['failed'])
                if s['failed']:
                    txt += ', %d failed' % s['failed']
                row.append(txt)
            lines.append('| ' + ' | '.join(row) + ' |')
        lines.append('')
        if 'engine' in tools:
            lines.append('Our engine (engine alone) set-up and teardown, seconds, median (min–max), and targets.')
            lines.append('')
            lines.append('| row | mechanisms | setup | teardown | setup + teardown | ≤ 1 s? | '
                         'upstream (wall − 1 s) ÷ ours setup + teardown | upstream (wall − 1 s) ÷ ours (wall − 1 s) '
                         '| engine wall ≤ upstream wall? |')
            lines.append('|---|---|---|---|---|---|---|---|---|')
            for r, cells, label in [(r, dict(c, engine=c[t]), lbl) for r, c in whole.items()
                                    for t, lbl in (('engine', ''), ('engine-cold', ', empty cache')) if t in c]:
                e = cells['engine']
                u = cells.get('funccount-bpfcc')
                st = e.get('setup_teardown')
                mech = ', '.join('%s: %s (%s)' % (g, m.get('mechanism'), m.get('identity'))
                                 for g, m in sorted((e.get('mechanisms') or {}).items()))
                ratio_st = ratio = same = 'n/a'
                if u and u['wall'] and e['wall']:
                    extra = u['wall']['median'] - WINDOW
                    ratio = '%.1f×' % (extra / max(e['wall']['median'] - WINDOW, 1e-3))
                    if st:
                        ratio_st = '%.1f×' % (extra / max(st['median'], 1e-3))
                    same = 'yes' if e['wall']['median'] <= u['wall']['median'] else 'NO'
                ok = 'n/a'
                if st:
                    ok = 'yes, every run' if st['max'] <= 1.0 else 'median only' if st['median'] <= 1.0 else 'NO'
                lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                    ROWS[r]['title'] + label, mech or 'n/a', fmt_range(e.get('setup'), 3), fmt_range(e.get('teardown'), 3),
                    fmt_range(st, 3), ok, ratio_st, ratio, same))
            lines.append('')
            steps = [(ROWS[r]['title'] + lbl, cells[t]['steps']) for r, cells in whole.items()
                     for t, lbl in (('engine', ''), ('engine-cold', ', empty cache'))
                     if cells.get(t, {}).get('steps')]
            if steps:
                names = ['python_start_to_main', 'import', 'resolve_plan', 'compile', 'attach', 'detach',
                         'program_close']
                lines.append('Where the engine\'s time goes, seconds, median of the same runs (bench/ours.py '
                             '--breakdown; `import` = importing the engine and bcc, `compile` = bcc/clang, '
                             '`program_close` = BPF.cleanup()):')
                lines.append('')
                lines.append('| row | ' + ' | '.join(names) + ' |')
                lines.append('|---|' + '---|' * len(names))
                for title, st_ in steps:
                    lines.append('| %s | %s |' % (title, ' | '.join(
                        '%.3f' % st_[k]['median'] if k in st_ else 'n/a' for k in names)))
                lines.append('')
        notes = []
        for r, cells in whole.items():
            for t, s in cells.items():
                for n in s.get('notes', []):
                    notes.append('- %s, %s: %s' % (ROWS[r]['title'], t, n))
        if notes:
            lines.append('Notes printed by the tools:')
            lines.append('')
            lines.extend(sorted(set(notes)))
            lines.append('')
    comp = report.get('compile')
    if comp:
        lines.append('Compile only (bcc/clang, then BPF.cleanup(), nothing attached; bench/compile_cost.py), '
                     'seconds, median (min–max), the two alternating: our program (one whatever the probe count) '
                     'against the program funccount-bpfcc generates for the row (`funccount-bpfcc -D`, one C '
                     'function per probe).')
        lines.append('')
        lines.append('| row | ours, `compile_program(n)`, empty cache | ours, from the cache | upstream program | runs |')
        lines.append('|---|---|---|---|---|')
        for r, c in comp.items():
            lines.append('| %s | %s (n = %d) | %s | %s (%d functions) | %d |' % (
                ROWS[r]['title'], fmt_range(c['ours'], 3), c['nprobes'], fmt_range(c.get('ours_cached'), 3),
                fmt_range(c['upstream'], 3), c['upstream_functions'], c['ours']['n']))
        lines.append('')
    oh = report.get('overhead')
    if oh:
        lines.append('Per-event overhead: ns per call of a tight loop, median (min–max) over %d runs, each run the '
                     'least of %d loops; CPU = the loop process\'s own CPU time (user + kernel, where the probe '
                     'handlers run), wall = elapsed; added = with the probe − without it, measured back to back.'
                     % (report['args']['overhead_repeat'], report['args']['loops']))
        lines.append('')
        lines.append('| workload | counted by | CPU ns per call | added CPU ns per call | added wall ns per call |')
        lines.append('|---|---|---|---|---|')
        for name, res in oh.items():
            if res['tool'] is None:
                continue
            wl = ('getppid() ×%d, `t:syscalls:sys_enter_getppid`' if res['workload'] == 'syscall'
                  else 'bench_target() ×%d, uprobe on it') % res['n']
            txt = fmt_range(res['added_ns'], 0)
            if res.get('failed'):
                txt += ', %d failed' % res['failed']
            lines.append('| %s | %s | %s | %s | %s |' % (
                wl, name.split(', ', 1)[1], fmt_range(res['ns_per_call'], 0), txt, fmt_range(res['added_wall_ns'], 0)))
        for w in ('syscall', 'uprobe'):
            res = oh.get('baseline ' + w)
            if res:
                lines.append('| %s | no probe | %s | | (wall %s) |' % (
                    'getppid()' if w == 'syscall' else 'bench_target()', fmt_range(res['ns_per_call'], 0),
                    fmt_range(res['wall_ns_per_call'], 0)))
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description='Benchmark ebpf.bcc.funccount against funccount-bpfcc and bpftrace.')
    ap.add_argument('--repeat', type=int, default=5, help='runs per cell (default 5)')
    ap.add_argument('--repeat-slow', type=int, default=3,
                    help='runs per upstream/bpftrace cell of the syscalls row, ~28 s each (default 3)')
    ap.add_argument('--rows', default=','.join(ROW_ORDER), help='comma list of %s, or none' % ','.join(ROW_ORDER))
    ap.add_argument('--tools', default=','.join(TOOLS), help='comma list of %s' % ','.join(TOOLS))
    ap.add_argument('--overhead-repeat', type=int, default=3, help='runs per overhead cell (default 3); 0 skips')
    ap.add_argument('--compile-repeat', type=int, default=5,
                    help='compile-only runs of ours and upstream\'s program for the uprobe rows (default 5); 0 skips')
    ap.add_argument('--calls-syscall', type=int, default=200000, help='getppid() calls per loop (default 200000)')
    ap.add_argument('--calls-uprobe', type=int, default=50000, help='uprobe hits per loop (default 50000)')
    ap.add_argument('--loops', type=int, default=5,
                    help='loops per measurement, the least taken (default 5)')
    ap.add_argument('--collections', help='collections dir holding ansible_collections/ebpf/bcc '
                                          '(default build/collections, else a temporary one)')
    ap.add_argument('--ansible', help='ansible executable (default .venv/bin/ansible, else PATH)')
    ap.add_argument('--out', help='results file (default bench/results/<timestamp>.json)')
    args = ap.parse_args(argv)

    if os.geteuid() != 0:
        ap.error('run as root (every tool attaches BPF programs)')
    rows = [r for r in args.rows.split(',') if r and r != 'none']
    tools = [t for t in args.tools.split(',') if t]
    for r in rows:
        if r not in ROWS:
            ap.error('unknown row %r; choose from %s' % (r, ', '.join(ROW_ORDER)))
    for t in tools:
        if t not in TOOLS:
            ap.error('unknown tool %r; choose from %s' % (t, ', '.join(TOOLS)))

    started = datetime.datetime.now(datetime.timezone.utc)
    env = Env(args)
    report = {'started': started.strftime('%Y-%m-%dT%H:%M:%SZ'), 'args': vars(args), 'tools': tools,
              'command': ' '.join(['python3', 'bench/run.py'] + (argv if argv is not None else sys.argv[1:])),
              'collections': env.collections, 'overhead_limit_passed': 0 if env.overhead_limit else None}
    try:
        report['engine_version'] = engine_version()
        report['machine'] = machine_info(env)
        log('machine: %s' % json.dumps(report['machine']))
        t0 = time.monotonic()
        if rows:
            samples = whole_runs(env, rows, tools, args.repeat, args.repeat_slow)
            report['whole_run_samples'] = samples
            report['whole_run'] = {r: {t: summarise_cells(samples[r][t]) for t in tools} for r in rows}
        if args.compile_repeat > 0 and 'engine' in tools and 'funccount-bpfcc' in tools:
            report['compile'] = compile_part(env, report.get('whole_run'), args.compile_repeat)
        if args.overhead_repeat > 0:
            report['overhead'] = overhead(env, tools, args.overhead_repeat, args.calls_syscall, args.calls_uprobe,
                                          args.loops)
        report['seconds'] = round(time.monotonic() - t0, 1)
        report['machine']['loadavg_end'] = open('/proc/loadavg').read().split()[:3]
    finally:
        env.close()
    out = args.out or os.path.join(BENCH, 'results', started.strftime('%Y%m%dT%H%M%SZ') + '.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    report['markdown'] = markdown(report)
    with open(out, 'w') as f:
        json.dump(report, f, indent=1, sort_keys=True, default=str)
    print(report['markdown'])
    print('Command: `%s`; took %s s; results in %s' % (
        report['command'], report.get('seconds'), os.path.relpath(out, REPO)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
