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

import os
import tempfile

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

static __always_inline struct config *armed(u32 hit_slot)
{
    u32 zero = 0;
    struct config *cfg = config.lookup(&zero);
    if (!cfg || !cfg->armed)
        return 0;
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
    struct config *cfg = armed(index);
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
    struct config *cfg = armed(NPROBES);
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
    struct config *cfg = armed(NPROBES + 1);
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
MAPS = ('counts', 'hits', 'config', 'sys_enter_index', 'sys_exit_index')


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


class Compiled(object):
    """The compiled program: instructions per function, and map fds."""

    def __init__(self, bpf, headers, nprobes):
        self._bpf = bpf
        self.nprobes = nprobes
        self.headers = headers
        self.insns = {name: bytes(bpf.dump_func(name.encode())) for name in FUNCTIONS}
        self.map_fds = {name: bpf[name.encode()].map_fd for name in MAPS}
        self.index_magic = INDEX_MAGIC

    def read_groups(self):
        """[(probe index, tgid, cgroup id, comm, count)] from the group_by map, and the drops."""
        rows = []
        for key, value in self._bpf[b'groups'].items():
            comm = bytes(bytearray(key.comm)).split(b'\0', 1)[0].decode('utf-8', 'replace')
            rows.append((key.index, key.tgid, key.cgroup, comm, value.value))
        drops = self._bpf[b'group_drops'][0].value
        return rows, drops

    def close(self):
        if self._bpf is not None:
            self._bpf.cleanup()
            self._bpf = None


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
    headers = {'kind': kind, 'path': trees[0]}
    try:
        merge = kind == 'nearest' and trees != ['/lib/modules/%s/build' % _host.kernel_release()]
        if merge:
            tmp = tempfile.mkdtemp(prefix='ebpf-bcc-headers-')
            _host.merge_trees(tmp, trees)
            os.environ['BCC_KERNEL_SOURCE'] = tmp
            headers['path'] = ' + '.join(trees)
        try:
            bpf = BPF(text=PROGRAM.encode(), cflags=cflags)
        except Exception as exc:  # bcc raises bare Exception
            raise CompileError('bcc could not compile the counting program with the kernel headers at %s (%s); '
                               'install headers for this kernel with the ebpf.bcc.install role.'
                               % (headers['path'], str(exc).strip() or type(exc).__name__))
        return Compiled(bpf, headers, max(1, int(nprobes)))
    finally:
        if merge:
            if saved is None:
                os.environ.pop('BCC_KERNEL_SOURCE', None)
            else:
                os.environ['BCC_KERNEL_SOURCE'] = saved
        if tmp:
            _host.remove_tree(tmp)
