# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""From parsed patterns to concrete probes.

Each Probe has a ``key`` that is itself a pattern selecting exactly that
probe.  What the host offers (tracepoints, kernel functions, libraries,
ELF symbols) comes from a ``HostView``; tests give a fake one.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import time

from ansible_collections.ebpf.bcc.plugins.module_utils import _elf
from ansible_collections.ebpf.bcc.plugins.module_utils import _host
from ansible_collections.ebpf.bcc.plugins.module_utils import _patterns as P
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

SYSCALL_CATEGORY = 'syscalls'
# first bytes of VEX (c4, c5) and EVEX (62) encoded instructions on x86_64
VEX_PREFIXES = (b'\xc4', b'\xc5', b'\x62')


class Probe(object):
    """One thing to count."""

    __slots__ = ('key', 'kind', 'symbol', 'category', 'event', 'tp_id', 'syscall', 'path',
                 'locations', 'index', 'mechanism')

    def __init__(self, key, kind, symbol=None, category=None, event=None, tp_id=None, syscall=None,
                 path=None, locations=None):
        self.key = key
        self.kind = kind
        self.symbol = symbol            # kernel or user function name, USDT probe name
        self.category = category        # tracepoint category
        self.event = event              # tracepoint event
        self.tp_id = tp_id              # perf tracepoint id
        self.syscall = syscall          # ('enter' | 'exit', nr or None) for syscall trace events
        self.path = path                # binary for uprobes
        self.locations = locations or []  # [(file offset, semaphore file offset or 0)]
        self.index = None
        self.mechanism = None

    @property
    def identity(self):
        if self.kind == P.KERNEL:
            return (self.kind, self.symbol)
        if self.kind == P.TRACEPOINT:
            return (self.kind, self.category, self.event)
        return (self.kind, os.path.realpath(self.path), tuple(sorted(self.locations)))

    def __repr__(self):
        return 'Probe(%r)' % self.key


class HostView(object):
    """The real host.  Everything is read lazily and once."""

    def __init__(self, pid=None):
        self.pid = pid
        self._tracepoints = None
        self._kernel = None
        self._blacklist = None
        self._syscalls = None
        self._elves = {}

    def tracepoints(self):
        if self._tracepoints is None:
            self._tracepoints = _host.tracepoints()
        return self._tracepoints

    def kernel_functions(self):
        if self._kernel is None:
            self._kernel = _host.kernel_functions()
        return self._kernel

    def ftrace_functions(self):
        if not hasattr(self, '_ftrace'):
            self._ftrace = _host.ftrace_functions()
        return self._ftrace

    def kprobe_blacklist(self):
        if self._blacklist is None:
            self._blacklist = _host.kprobe_blacklist()
        return self._blacklist

    def syscall_numbers(self):
        if self._syscalls is None:
            self._syscalls = _host.syscall_numbers()
        return self._syscalls

    def elf(self, path):
        if path not in self._elves:
            try:
                self._elves[path] = _elf.ElfFile(path)
            except _elf.ElfError as exc:
                raise FuncCountError('Cannot read symbols: %s; give the path of an ELF executable or shared library.'
                                     % exc)
        return self._elves[path]

    def find_library(self, name):
        """Path of a library or program named as bcc names them, or None."""
        if '/' in name:
            return name if os.path.isfile(name) else None
        if self.pid:
            found = _host.library_in_process(name, self.pid)
            if found:
                return found
        from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc  # pylint: disable=import-outside-toplevel
        found = _bcc.find_library(name) if _bcc.HAS_BCC else None
        return found or _host.which(name)

    def ifunc_target(self, path, name):
        return resolve_ifunc(path, name)


def resolve_ifunc(path, name):
    """File offset of the implementation the dynamic linker picks for a GNU indirect
    function, resolved in this process (same CPU, same choice as every process here).

    Only for libraries already mapped in this process, so no library is ever
    loaded (and no constructor run) just to resolve a symbol."""
    real = os.path.realpath(path)
    maps = []
    try:
        with open('/proc/self/maps') as handle:
            for line in handle:
                fields = line.split(None, 5)
                if len(fields) == 6 and os.path.realpath(fields[5].strip()) == real:
                    start, end = (int(x, 16) for x in fields[0].split('-'))
                    maps.append((start, end, int(fields[2], 16)))
    except OSError:
        return None
    if not maps:
        return None
    try:
        lib = ctypes.CDLL(real)
        addr = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    for start, end, pgoff in maps:
        if start <= addr < end:
            return addr - start + pgoff
    return None


# Regular expressions are the user's code: one that backtracks catastrophically
# could run for ever on a symbol name.  With regexp, resolution runs in a child
# process that is killed when it passes this many seconds.
REGEXP_SECONDS = 20.0


def resolve(patterns, host, max_probes=None, regexp_seconds=None, skip_no_match=False):
    """Resolve patterns into (probes, skipped).  Raises FuncCountError for bad input.

    With ``skip_no_match`` (missing: ignore) a pattern that matches nothing is listed in
    skipped instead of failing the run, so that one set of patterns can serve kernels that
    name a function differently; no match at all still fails."""
    if any(p.regexp for p in patterns):
        seconds = REGEXP_SECONDS if regexp_seconds is None else regexp_seconds
        return run_with_deadline(lambda: _resolve_all(patterns, host, max_probes, skip_no_match), seconds, patterns)
    return _resolve_all(patterns, host, max_probes, skip_no_match)


def run_with_deadline(work, seconds, patterns):
    """Run ``work`` in a forked child; its result (or FuncCountError) comes back pickled."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        code = 0
        try:
            try:
                payload = ('ok', work())
            except FuncCountError as exc:
                payload = ('error', exc.msg)
            except Exception as exc:  # pylint: disable=broad-except
                payload = ('error', 'Resolving the patterns failed: %s: %s.' % (type(exc).__name__, exc))
            data = pickle.dumps(payload)
            with os.fdopen(write_end, 'wb') as out:
                out.write(data)
        except BaseException:  # pylint: disable=broad-except
            code = 1
        os._exit(code)  # pylint: disable=protected-access
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(child, signal.SIGKILL)
                texts = ', '.join(repr(p.text) for p in patterns if p.regexp)
                raise FuncCountError('Matching the regular expressions %s took more than %g s, so it was stopped; '
                                     'one of them probably backtracks catastrophically (nested repetition such as '
                                     '(a+)+); simplify it.' % (texts, seconds))
            ready, _w, _x = select.select([read_end], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(child, 0)
    if not chunks:
        raise FuncCountError('Resolving the patterns failed in a child process that returned nothing.')
    kind, value = pickle.loads(b''.join(chunks))
    if kind == 'error':
        raise FuncCountError(value)
    return value


def _resolve_all(patterns, host, max_probes, skip_no_match=False):
    probes = []
    skipped = []
    seen = {}
    for pattern in patterns:
        found, dropped = _resolve_one(pattern, host)
        if not found and not dropped:
            if not skip_no_match:
                raise FuncCountError(_no_match_message(pattern, host))
            skipped.append({'probe': pattern.text, 'reason': _no_match_message(pattern, host)})
        for probe in found:
            ident = probe.identity
            if ident in seen:
                continue
            seen[ident] = probe
            probes.append(probe)
        skipped.extend(dropped)
    if not probes and skip_no_match and skipped:
        raise FuncCountError('No pattern matched anything: %s' % skipped[0]['reason'])
    if max_probes is not None and len(probes) > max_probes:
        raise FuncCountError('The patterns match %d probes, more than max_probes (%d); narrow the patterns, '
                             'or raise max_probes if counting that many is intended.' % (len(probes), max_probes))
    for index, probe in enumerate(probes):
        probe.index = index
    return probes, skipped


def _no_match_message(pattern, host=None):
    path = library = pattern.library
    if pattern.kind in (P.USER, P.USDT) and host is not None:
        path = host.find_library(library) or library
        if path != library:
            library = '%s (%s)' % (library, path)
    what = {
        P.KERNEL: 'kernel function',
        P.USER: 'function in %s' % library,
        P.TRACEPOINT: 'tracepoint',
        P.USDT: 'USDT probe in %s' % library,
    }[pattern.kind]
    hint = {
        P.KERNEL: 'check the name against /proc/kallsyms',
        P.USER: 'check the name with "%s %s"' % ('nm -D' if '.so' in os.path.basename(path or '') else 'nm', path),
        P.TRACEPOINT: 'list tracepoints under /sys/kernel/tracing/events',
        P.USDT: 'list its probes with "readelf -n %s"' % path,
    }[pattern.kind]
    return 'Pattern %r matches no %s; %s.' % (pattern.text, what, hint)


def _resolve_one(pattern, host):
    if pattern.kind == P.TRACEPOINT:
        return _resolve_tracepoints(pattern, host), []
    if pattern.kind == P.KERNEL:
        return _resolve_kernel(pattern, host)
    path = _library_path(pattern, host)
    if pattern.kind == P.USER:
        return _resolve_user(pattern, path, host)
    return _resolve_usdt(pattern, path, host), []


def _library_path(pattern, host):
    lib = pattern.library
    path = host.find_library(lib)
    if path:
        return path
    if '/' in lib:
        raise FuncCountError('Pattern %r names %s, which does not exist or is not a file; give the full path of '
                             'an existing binary or library.' % (pattern.text, lib))
    where = 'in the process %d, ' % host.pid if host.pid else ''
    raise FuncCountError('Pattern %r names the library or program %r, which was not found %sin the linker cache '
                         'or in PATH; give its full path instead (for example /usr/lib/x86_64-linux-gnu/lib%s.so).'
                         % (pattern.text, lib, where, lib))


def _resolve_tracepoints(pattern, host):
    found = []
    syscalls = None
    for (category, event), tp_id in sorted(host.tracepoints().items()):
        if not (pattern.matches_category(category) and pattern.matches_name(event)):
            continue
        syscall = None
        if category == SYSCALL_CATEGORY:
            if syscalls is None:
                syscalls = host.syscall_numbers()[0]
            for prefix, direction in (('sys_enter_', 'enter'), ('sys_exit_', 'exit')):
                if event.startswith(prefix):
                    syscall = (direction, syscalls.get(event[len(prefix):]))
        found.append(Probe('t:%s:%s' % (category, event), P.TRACEPOINT, category=category, event=event,
                           tp_id=tp_id, syscall=syscall))
    return found


def _resolve_kernel(pattern, host):
    names, _source = host.kernel_functions()
    blacklist = host.kprobe_blacklist()
    found, skipped = [], []
    for name in sorted(n for n in names if pattern.matches_name(n)):
        if name in blacklist:
            skipped.append({'probe': name, 'reason': 'the kernel forbids probing it (kprobe blacklist)'})
        elif '.' in name:
            skipped.append({'probe': name, 'reason': 'compiler-generated clone (%s); probe the function it was '
                                                     'split from' % name.split('.', 1)[1]})
        else:
            found.append(Probe(name, P.KERNEL, symbol=name))
    return found, skipped


def _resolve_user(pattern, path, host):
    elf = host.elf(path)
    functions = elf.functions()
    found, skipped = [], []
    for name in sorted(n for n in functions if pattern.matches_name(n)):
        # a library named t or u needs the p: type, or its key would read as a tracepoint or USDT pattern
        key = ('p:%s:%s' if pattern.library in ('t', 'u') else '%s:%s') % (pattern.library, name)
        sym = functions[name]
        offset = elf.vaddr_to_offset(sym.value)
        if sym.ifunc:
            target = host.ifunc_target(path, name)
            if target is None:
                skipped.append({'probe': key, 'reason': 'GNU indirect function: the implementation is chosen when '
                                                        'the library is loaded and could not be resolved here'})
                continue
            offset = target
        if offset is None:
            skipped.append({'probe': key, 'reason': 'its address is outside every loadable segment'})
            continue
        if getattr(elf, 'machine', None) == _elf.EM_X86_64 and elf.first_bytes(offset, 1) in VEX_PREFIXES:
            skipped.append({'probe': key, 'reason': 'its first instruction is VEX/EVEX-encoded (AVX), which x86 '
                                                    'uprobes cannot single-step; the kernel would refuse it'})
            continue
        found.append(Probe(key, P.USER, symbol=name, path=path, locations=[(offset, 0)]))
    return found, skipped


def _resolve_usdt(pattern, path, host):
    try:
        return _usdt_probes(pattern, path, host)
    except _elf.ElfError as exc:
        raise FuncCountError('Cannot read USDT probes: %s; give the path of an intact ELF binary.' % exc)


def _usdt_probes(pattern, path, host):
    elf = host.elf(path)
    groups = {}
    providers_of = {}
    for note in elf.usdt_notes():
        providers_of.setdefault(note.name, set()).add(note.provider)
        if pattern.matches_provider(note.provider) and pattern.matches_name(note.name):
            offset = elf.vaddr_to_offset(note.pc)
            ref = elf.vaddr_to_offset(note.semaphore) if note.semaphore else 0
            if offset is not None:
                groups.setdefault((note.provider, note.name), []).append((offset, ref or 0))
    found = []
    for (provider, name) in sorted(groups):
        if len(providers_of[name]) == 1:
            key = 'u:%s:%s' % (pattern.library, name)
        else:
            key = 'u:%s:%s:%s' % (pattern.library, provider, name)
        found.append(Probe(key, P.USDT, symbol=name, path=path, locations=sorted(set(groups[(provider, name)]))))
    return found
