# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The only file that imports bcc.

bcc compiles the one counting program (a fixed C text: nothing a user
typed ever reaches it; only integer sizes are passed, as -D flags), creates
its maps, and resolves library names as the rest of bcc does.  Loading,
attaching and detaching go through _bpfsys, so that every attach mechanism
the kernel offers can be used, including those bcc 0.26 does not know.
Bytes are converted to text here and nowhere else.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
import tempfile

from ansible_collections.ebpf.bcc.plugins.module_utils import _bpfsys as bpfsys
from ansible_collections.ebpf.bcc.plugins.module_utils import _host

try:
    import bcc as _bcc_module
    from bcc import BPF
    HAS_BCC = True
    BCC_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    HAS_BCC = False
    BCC_IMPORT_ERROR = exc
    BPF = None
    _bcc_module = None

# where distributions put the Python that imports their bcc package; modules respawn under the first
SYSTEM_INTERPRETERS = ['/usr/bin/python3', '/usr/libexec/platform-python', '/usr/bin/python3.13', '/usr/bin/python3.12',
                       '/usr/bin/python3.11', '/usr/bin/python3.9', '/usr/bin/python']

# the value the constant-index program carries until it is patched per probe
INDEX_MAGIC = 0x7eadbeef
NSYSCALLS = 1024
# distinct (probe, process / command / cgroup) pairs kept with group_by
GROUP_ENTRIES = 16384

PROGRAM = r"""
#include <uapi/linux/ptrace.h>
#include <asm/ptrace.h>

/* Declared here rather than taken from bcc's helpers.h, which lacks it before bcc 0.23
   (Debian 11 ships 0.18); 174 is BPF_FUNC_get_attach_cookie in the kernel ABI. */
static u64 (*get_attach_cookie)(void *ctx) = (void *)174;

struct config {
    u64 armed;      /* 1 while the window is open */
    u64 tgid;       /* count only this process, 0 = all */
    u64 cpu;        /* count only on this CPU + 1, 0 = all */
    u64 group_by;   /* 0 none, 1 pid, 2 comm, 3 cgroup */
    u64 sys_slot;   /* hits slot of the sys_enter program (sys_exit: + 1), after the probes' own */
};

struct group_key {
    u32 index;
    u32 tgid;
    u64 cgroup;
    char comm[16];
};

BPF_PERCPU_ARRAY(counts, u64, NPROBES);
/* every run while armed, before any filter: what the overhead guard weighs.
   Slots NPROBES and NPROBES + 1 are the raw_syscalls programs, which run on
   every syscall of the machine. */
BPF_PERCPU_ARRAY(hits, u64, NPROBES + 2);
BPF_ARRAY(config, struct config, 1);
BPF_HASH(groups, struct group_key, u64, GROUP_ENTRIES);
BPF_ARRAY(group_drops, u64, 1);
BPF_ARRAY(sys_enter_index, u32, NSYSCALLS);   /* syscall nr -> probe index + 1 */
BPF_ARRAY(sys_exit_index, u32, NSYSCALLS);

static __always_inline struct config *armed(u32 hit_slot, int syscall_program)
{
    u32 zero = 0;
    struct config *cfg = config.lookup(&zero);
    if (!cfg || !cfg->armed)
        return 0;
    if (syscall_program)
        hit_slot += cfg->sys_slot;
    u64 *hit = hits.lookup(&hit_slot);
    if (hit)
        (*hit)++;
    return cfg;
}

static __always_inline int count_event(struct config *cfg, u32 index)
{
    if (cfg->tgid && (bpf_get_current_pid_tgid() >> 32) != cfg->tgid)
        return 0;
    if (cfg->cpu && bpf_get_smp_processor_id() + 1 != cfg->cpu)
        return 0;
    u64 *value = counts.lookup(&index);
    if (value)
        (*value)++;
    if (cfg->group_by) {
        struct group_key key = {};
        u64 zero = 0;
        key.index = index;
        if (cfg->group_by == 1)
            key.tgid = bpf_get_current_pid_tgid() >> 32;
        if (cfg->group_by <= 2)
            bpf_get_current_comm(&key.comm, sizeof(key.comm));
        else
            key.cgroup = bpf_get_current_cgroup_id();
        u64 *n = groups.lookup_or_try_init(&key, &zero);
        if (n) {
            lock_xadd(n, 1);
        } else {
            u32 first = 0;
            u64 *drops = group_drops.lookup(&first);
            if (drops)
                lock_xadd(drops, 1);
        }
    }
    return 0;
}

static __always_inline int bump(u64 index)
{
    struct config *cfg = armed(index, 0);
    if (!cfg)
        return 0;
    return count_event(cfg, index);
}

int on_cookie(void *ctx)
{
    return bump(get_attach_cookie(ctx));
}

int on_index(void *ctx)
{
    return bump(INDEX_MAGIC);
}

int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
    struct config *cfg = armed(0, 1);
    if (!cfg)
        return 0;
    u32 nr = ctx->args[1];
    u32 *slot = sys_enter_index.lookup(&nr);
    if (slot && *slot)
        return count_event(cfg, *slot - 1);
    return 0;
}

int on_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct config *cfg = armed(1, 1);
    if (!cfg)
        return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    unsigned long orig_ax = 0;
    bpf_probe_read_kernel(&orig_ax, sizeof(orig_ax), &regs->orig_ax);
    u32 nr = orig_ax;
    u32 *slot = sys_exit_index.lookup(&nr);
    if (slot && *slot)
        return count_event(cfg, *slot - 1);
    return 0;
}
"""

FUNCTIONS = ('on_cookie', 'on_index', 'on_sys_enter', 'on_sys_exit')
MAPS = ('counts', 'hits', 'config', 'sys_enter_index', 'sys_exit_index', 'groups', 'group_drops')
# maps whose size follows the probe count: name -> extra entries
SIZED_MAPS = {'counts': 0, 'hits': 2}


class CompileError(Exception):
    """bcc could not compile the counting program."""


def version():
    if not HAS_BCC:
        return None
    return getattr(_bcc_module, '__version__', None) or _version_from_package()


def _version_from_package():
    try:
        from bcc import version as bcc_version  # pylint: disable=import-outside-toplevel
        return bcc_version.__version__
    except (ImportError, AttributeError):
        return None


def find_library(name):
    """A library name (``c``, ``pthread``) resolved through ld.so.cache as bcc does, or None."""
    path = BPF.find_library(name.encode('utf-8', 'surrogateescape'))
    return path.decode('utf-8', 'surrogateescape') if path else None


def read_groups(map_fds):
    """[(probe index, tgid, cgroup id, comm, count)] from the group_by map, and the drops."""
    rows = []
    for key in bpfsys.map_keys(map_fds['groups'], GROUP_KEY.size):
        index, tgid, cgroup, comm = GROUP_KEY.unpack(key)
        try:
            count = struct.unpack('<Q', bpfsys.map_lookup(map_fds['groups'], key, 8))[0]
        except OSError:
            continue
        rows.append((index, tgid, cgroup, comm.split(b'\0', 1)[0].decode('utf-8', 'replace'), count))
    drops = struct.unpack('<Q', bpfsys.map_lookup(map_fds['group_drops'], struct.pack('<I', 0), 8))[0]
    return rows, drops


GROUP_KEY = struct.Struct('<IIQ16s')


class Compiled(object):
    """The compiled program: instructions per function, and map fds."""

    def __init__(self, bpf, headers, nprobes):
        self._bpf = bpf
        self.nprobes = nprobes
        self.headers = headers
        self.insns = {name: bytes(bpf.dump_func(name.encode())) for name in FUNCTIONS}
        self.map_fds = {name: bpf[name.encode()].map_fd for name in MAPS}
        self.index_magic = INDEX_MAGIC
        self.cached = False

    def read_groups(self):
        return read_groups(self.map_fds)

    def describe(self):
        """What the cache keeps: instructions with their map references, and the map shapes."""
        by_fd = {fd: name for name, fd in self.map_fds.items()}
        functions = {}
        for name, insns in self.insns.items():
            relocs = []
            for pos in range(0, len(insns), 8):
                opcode, regs, _off, imm = struct.unpack_from('<BBhi', insns, pos)
                if opcode == 0x18 and (regs >> 4) == 1:  # ld_imm64 of a map fd
                    if imm not in by_fd:
                        return None
                    relocs.append([pos, by_fd[imm]])
            functions[name] = {'insns': insns.hex(), 'relocs': relocs}
        maps = {}
        for name, fd in self.map_fds.items():
            maps[name] = dict(zip(('type', 'key_size', 'value_size', 'max_entries', 'flags'), bpfsys.map_info(fd)))
        return {'functions': functions, 'maps': maps}

    def close(self):
        if self._bpf is not None:
            self._bpf.cleanup()
            self._bpf = None


class CachedProgram(object):
    """The same program from the per-host cache: maps created here, fds patched in; no compiler run."""

    def __init__(self, spec, headers, nprobes):
        self.nprobes = nprobes
        self.headers = dict(headers, cached=True)
        self.index_magic = INDEX_MAGIC
        self.cached = True
        self.map_fds = {}
        try:
            for name, shape in spec['maps'].items():
                entries = shape['max_entries']
                if name in SIZED_MAPS:
                    entries = nprobes + SIZED_MAPS[name]
                self.map_fds[name] = bpfsys.map_create(shape['type'], shape['key_size'], shape['value_size'],
                                                       entries, shape['flags'], name.encode())
            self.insns = {}
            for name, function in spec['functions'].items():
                insns = bytearray(bytes.fromhex(function['insns']))
                for pos, map_name in function['relocs']:
                    struct.pack_into('<i', insns, pos + 4, self.map_fds[map_name])
                self.insns[name] = bytes(insns)
        except (OSError, KeyError, TypeError, ValueError):
            self.close()
            raise

    def read_groups(self):
        return read_groups(self.map_fds)

    def close(self):
        for fd in self.map_fds.values():
            bpfsys.close(fd)
        self.map_fds = {}


CACHE_DIR = '/var/cache/ebpf-bcc/programs'
CACHE_FORMAT = 1


def _cache_path(headers):
    digest = hashlib.sha256()
    for part in (str(CACHE_FORMAT), PROGRAM, str(version()), _host.kernel_release(), headers['path'],
                 str(GROUP_ENTRIES), str(NSYSCALLS), str(INDEX_MAGIC)):
        digest.update(part.encode('utf-8', 'surrogateescape') + b'\0')
    return os.path.join(CACHE_DIR, digest.hexdigest()[:32] + '.json')


def _load_cached(headers, nprobes):
    try:
        with open(_cache_path(headers)) as handle:
            spec = json.load(handle)
        return CachedProgram(spec, headers, max(1, int(nprobes)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_cached(headers, compiled):
    try:
        spec = compiled.describe()
        if spec is None:
            return
        os.makedirs(CACHE_DIR, mode=0o755, exist_ok=True)
        path = _cache_path(headers)
        tmp = '%s.%d.tmp' % (path, os.getpid())
        with open(tmp, 'w') as handle:
            json.dump(spec, handle)
        os.rename(tmp, path)
    except (OSError, ValueError):
        pass  # a cache is an optimisation: never fail a count for it


def bpf_refused():
    """A sentence when this process may not use bpf(2) at all, else None.

    bcc creates the program's maps while it compiles, so a bpf() that the kernel refuses (a seccomp
    filter, an LSM, a container without CAP_BPF) surfaces as a compile failure; one small map of our own
    tells the two apart."""
    try:
        bpfsys.close(bpfsys.map_create(2, 4, 8, 1))  # BPF_MAP_TYPE_ARRAY, u32 -> u64, 1 entry
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES, errno.ENOSYS):
            return ('The kernel refused the bpf() system call to this process: %s (%s); a seccomp filter, a '
                    'security module (lockdown, SELinux, AppArmor) or missing capabilities (CAP_BPF, '
                    'CAP_PERFMON) forbid BPF here. Run the count where BPF is allowed: as root on the host, not '
                    'in a confined container or service.'
                    % (os.strerror(exc.errno), errno.errorcode.get(exc.errno, exc.errno)))
    return None


def compile_program(nprobes):
    """Compile the counting program for ``nprobes`` counters; returns a Compiled.

    Uses /lib/modules/<release>/build when present; otherwise the nearest
    installed headers, merged into a temporary tree for bcc (a counting
    program reads no kernel structure whose layout could differ)."""
    kind, trees = _host.nearest_headers()
    if kind is None:
        raise CompileError('no kernel headers are installed (/lib/modules/%s/build is missing and no '
                           '/usr/src/linux-headers-* exists); install them with the ebpf.bcc.install role.'
                           % _host.kernel_release())
    cflags = ['-DNPROBES=%d' % max(1, int(nprobes)), '-DNSYSCALLS=%d' % NSYSCALLS, '-DGROUP_ENTRIES=%d' % GROUP_ENTRIES,
              '-DINDEX_MAGIC=%d' % INDEX_MAGIC, '-w']
    tmp = None
    merge = False
    saved = os.environ.get('BCC_KERNEL_SOURCE')
    headers = {'kind': kind, 'path': ' + '.join(trees)}
    cached = _load_cached(headers, nprobes)
    if cached is not None:
        return cached
    try:
        merge = kind == 'nearest' and trees != ['/lib/modules/%s/build' % _host.kernel_release()]
        if merge:
            tmp = tempfile.mkdtemp(prefix='ebpf-bcc-headers-')
            _host.merge_trees(tmp, trees)
            os.environ['BCC_KERNEL_SOURCE'] = tmp
        try:
            bpf = BPF(text=PROGRAM.encode(), cflags=cflags)
        except Exception as exc:  # bcc raises bare Exception
            refused = bpf_refused()
            if refused:
                raise CompileError(refused)
            raise CompileError('bcc could not compile the counting program with the kernel headers at %s (%s); '
                               'install headers for this kernel with the ebpf.bcc.install role.'
                               % (headers['path'], str(exc).strip() or type(exc).__name__))
        compiled = Compiled(bpf, headers, max(1, int(nprobes)))
        _save_cached(headers, compiled)
        return compiled
    finally:
        if merge:
            if saved is None:
                os.environ.pop('BCC_KERNEL_SOURCE', None)
            else:
                os.environ['BCC_KERNEL_SOURCE'] = saved
        if tmp:
            _host.remove_tree(tmp)
