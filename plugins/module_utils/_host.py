# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the running host offers to probe: tracefs, tracepoints, kernel
functions, the syscall table, kernel headers, process maps.  Reads files
only; loads nothing into the kernel."""

from __future__ import annotations

import glob
import os
import re
import shutil

TRACEFS_CANDIDATES = ('/sys/kernel/tracing', '/sys/kernel/debug/tracing')
DEBUGFS = '/sys/kernel/debug'


class HostError(Exception):
    """The host lacks something a run needs; the message says what to do."""


def _read(path):
    with open(path) as handle:
        return handle.read()


def is_mounted(path, fstype):
    try:
        with open('/proc/self/mounts') as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 3 and fields[1] == path and fields[2] == fstype:
                    return True
    except OSError:
        pass
    return False


def tracefs():
    """The tracefs mount point, or None."""
    for path in TRACEFS_CANDIDATES:
        if os.path.isdir(os.path.join(path, 'events')):
            return path
    return None


def require_tracefs():
    path = tracefs()
    if path is None:
        raise HostError('tracefs is not mounted, so tracepoints cannot be listed; mount it with '
                        '"mount -t tracefs nodev /sys/kernel/tracing" or run the ebpf.bcc.install role.')
    return path


def tracepoints():
    """Mapping (category, event) -> perf tracepoint id, from tracefs."""
    base = os.path.join(require_tracefs(), 'events')
    result = {}
    for category in sorted(os.listdir(base)):
        cat_dir = os.path.join(base, category)
        if not os.path.isdir(cat_dir):
            continue
        for event in sorted(os.listdir(cat_dir)):
            try:
                result[(category, event)] = int(_read(os.path.join(cat_dir, event, 'id')))
            except (OSError, ValueError):
                continue
    return result


def kernel_release():
    return os.uname().release


def kallsyms_text():
    """Names of kernel text symbols, in kallsyms order, without duplicates."""
    seen = {}
    try:
        with open('/proc/kallsyms') as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 3 and fields[1] in ('t', 'T', 'w', 'W') and fields[0] != '0' * len(fields[0]):
                    seen.setdefault(fields[2], True)
    except OSError:
        pass
    return list(seen)


# padding and CFI stubs the compiler places before functions (Linux 6.2+): not functions to count
_NOT_FUNCTIONS = ('__pfx_', '__cfi_')


def kernel_functions():
    """(names, source) of kernel functions that may be probed.

    Text symbols from kallsyms, as bcc's funccount uses: kprobes can attach to
    any of them that is not blacklisted, traceable by ftrace or not, and those
    the kernel refuses are skipped with its reason.  When kallsyms cannot be
    read, ``available_filter_functions``.
    """
    names = [n for n in kallsyms_text() if not n.startswith(_NOT_FUNCTIONS)]
    if names:
        return names, 'kallsyms'
    ftrace = ftrace_functions()
    return (sorted(ftrace) if ftrace else []), 'available_filter_functions'


def ftrace_functions():
    """Names ftrace (and so kprobe_multi, which is built on it) can attach to, or None if unreadable."""
    base = tracefs()
    if not base:
        return None
    names = set()
    try:
        with open(os.path.join(base, 'available_filter_functions')) as handle:
            for line in handle:
                fields = line.split()
                if fields:
                    names.add(fields[0])
    except OSError:
        return None
    return names


def kprobe_blacklist():
    """Functions the kernel refuses to kprobe."""
    names = set()
    for path in (os.path.join(DEBUGFS, 'kprobes', 'blacklist'),):
        try:
            with open(path) as handle:
                for line in handle:
                    fields = line.split()
                    if len(fields) >= 2:
                        names.add(fields[1])
        except OSError:
            pass
    return names


# --- the syscall table -------------------------------------------------------

_SYSCALL_RE = re.compile(r'__SYSCALL(?:_[A-Z0-9]+)?\(\s*(\d+)\s*,\s*(?:sys_|__x64_sys_)?(\w+)')
_NR_RE = re.compile(r'#define\s+__NR_(\w+)\s+(\d+)')
# event names whose syscall has another __NR_ name on x86_64
_EVENT_ALIASES = {'newstat': 'stat', 'newlstat': 'lstat', 'newfstat': 'fstat', 'newuname': 'uname',
                  'sendfile64': 'sendfile', 'umount': 'umount2'}


# x86_64 syscalls newer than the headers most distributions ship (numbers are a
# stable ABI); tests/integration checks every entry against this kernel's own
# syscall trace events.  uprobe/uretprobe are left out: called outside a probe
# trampoline they kill the caller, so they cannot be checked, and they fall back
# to one perf event each.
RECENT_X86_64 = {
    'cachestat': 451, 'fchmodat2': 452, 'map_shadow_stack': 453, 'futex_wake': 454, 'futex_wait': 455,
    'futex_requeue': 456, 'statmount': 457, 'listmount': 458, 'lsm_get_self_attr': 459,
    'lsm_set_self_attr': 460, 'lsm_list_modules': 461, 'mseal': 462, 'setxattrat': 463, 'getxattrat': 464,
    'listxattrat': 465, 'removexattrat': 466, 'open_tree_attr': 467, 'file_getattr': 468, 'file_setattr': 469,
}


def header_dirs():
    """Kernel header trees present on the host, newest release first."""
    dirs = []
    for pattern in ('/lib/modules/*/build', '/usr/src/linux-headers-*', '/usr/src/kernels/*'):
        dirs.extend(path for path in glob.glob(pattern) if os.path.isdir(path))
    return dirs


def parse_syscall_table(text):
    """Event name -> syscall number from arch/x86/include/generated/asm/syscalls_64.h."""
    return {name: int(nr) for nr, name in _SYSCALL_RE.findall(text)}


def parse_unistd(text):
    table = {name: int(nr) for name, nr in _NR_RE.findall(text)}
    for event, nr_name in _EVENT_ALIASES.items():
        if nr_name in table:
            table.setdefault(event, table[nr_name])
    return table


def syscall_numbers(release=None):
    """Syscall event name (without sys_enter_) -> number for the native ABI, and where it came from.

    Syscall numbers are a stable ABI, so a table from older headers is right
    for every syscall it lists; newer syscalls are simply absent.
    """
    release = release or kernel_release()
    candidates = []
    exact = '/lib/modules/%s/build' % release
    roots = [exact] + sorted(header_dirs(), reverse=True)
    for root in roots:
        candidates.append((os.path.join(root, 'arch/x86/include/generated/asm/syscalls_64.h'), parse_syscall_table))
    for path in ('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h'):
        candidates.append((path, parse_unistd))
    for path, parser in candidates:
        try:
            table = parser(_read(path))
        except OSError:
            continue
        if table:
            if os.uname().machine == 'x86_64':
                for name, nr in RECENT_X86_64.items():
                    if name not in table and nr not in table.values():
                        table[name] = nr
            return table, path
    return {}, None


# --- kernel headers for bcc --------------------------------------------------

_VERSION_RE = re.compile(r'(\d+)\.(\d+)(?:\.(\d+))?')


def _version_key(text):
    match = _VERSION_RE.search(text)
    if not match:
        return None
    return tuple(int(x or 0) for x in match.groups())


def nearest_headers(release=None):
    """Headers to compile with: ('exact', path) when /lib/modules/<release>/build exists,
    else ('nearest', [build_dir, source_dir...]) for the closest installed version, else (None, None)."""
    release = release or kernel_release()
    exact = '/lib/modules/%s/build' % release
    if os.path.isdir(os.path.join(exact, 'include')) or os.path.isdir(os.path.join(exact, 'arch')):
        # a link to another version's tree (as the install role makes on custom kernels) is the nearest, not exact
        target = os.path.realpath(exact)
        if os.path.islink(exact) and release not in target:
            return 'nearest', [exact]
        return 'exact', [exact]
    want = _version_key(release) or (0, 0, 0)
    trees = []
    for build in sorted(set(glob.glob('/usr/src/linux-headers-*') + glob.glob('/usr/src/kernels/*')
                            + glob.glob('/lib/modules/*/build'))):
        if build.endswith('-common') or not os.path.isdir(build):
            continue
        key = _version_key(os.path.basename(build.rstrip('/')) if 'lib/modules' not in build
                           else build.split('/')[3])
        if key is None:
            continue
        parts = [os.path.realpath(build)]
        # Debian splits headers into <abi>-<flavour> (generated) and <abi>-common (sources)
        match = re.match(r'(.*linux-headers-\d+\.\d+\.\d+-\d+)-[^/]+$', parts[0])
        if match and os.path.isdir(match.group(1) + '-common'):
            parts.append(match.group(1) + '-common')
        elif os.path.isdir(os.path.join(os.path.dirname(build), 'source')):
            parts.append(os.path.realpath(os.path.join(os.path.dirname(build), 'source')))
        distance = tuple(abs(a - b) for a, b in zip(key, want))
        trees.append((distance, tuple(-x for x in key), parts))
    if not trees:
        return None, None
    trees.sort()
    seen = []
    for part in trees[0][2]:
        if part not in seen:
            seen.append(part)
    return 'nearest', seen


def merge_trees(dest, sources):
    """Make ``dest`` a tree of symlinks that overlays ``sources`` (first wins), merging
    directories that several sources share.  Used to give bcc one kernel tree when a
    distribution splits generated and common headers."""
    os.makedirs(dest, exist_ok=True)
    for source in sources:
        for entry in sorted(os.listdir(source)):
            src = os.path.join(source, entry)
            dst = os.path.join(dest, entry)
            if not os.path.lexists(dst):
                os.symlink(src, dst)
            elif os.path.isdir(src) and os.path.isdir(dst):
                if os.path.islink(dst):
                    previous = os.readlink(dst)
                    os.unlink(dst)
                    merge_trees(dst, [previous])
                merge_trees(dst, [src])


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


# --- processes and libraries -------------------------------------------------

def pid_exists(pid):
    return os.path.isdir('/proc/%d' % pid)


def process_libraries(pid):
    """Paths of the files mapped by a process."""
    paths = []
    try:
        with open('/proc/%d/maps' % pid) as handle:
            for line in handle:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith('/'):
                    path = fields[5].rstrip('\n')
                    if path.endswith(' (deleted)'):
                        continue
                    if path not in paths:
                        paths.append(path)
    except OSError:
        pass
    return paths


def library_in_process(name, pid):
    """Resolve a short library name (``c``, ``pthread``) against what ``pid`` has mapped, as bcc does."""
    prefixes = ('lib%s.' % name, 'lib%s-' % name)
    try:
        exe = os.readlink('/proc/%d/exe' % pid)
    except OSError:
        exe = None
    if exe and os.path.basename(exe) == name:
        return exe
    for path in process_libraries(pid):
        base = os.path.basename(path)
        if base.startswith(prefixes) and '.so' in base:
            return '/proc/%d/root%s' % (pid, path) if os.path.exists('/proc/%d/root%s' % (pid, path)) else path
    return None


def cgroup2_root():
    try:
        with open('/proc/self/mounts') as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 3 and fields[2] == 'cgroup2':
                    return fields[1]
    except OSError:
        pass
    return None


def cgroup_paths(ids, root=None):
    """cgroup v2 id -> path (relative to the cgroup2 mount, '/' for the root), by inode number."""
    root = root or cgroup2_root()
    found = {}
    if not root or not ids:
        return found
    wanted = set(ids)
    for dirpath, _dirs, _files in os.walk(root):
        try:
            ino = os.stat(dirpath).st_ino
        except OSError:
            continue
        if ino in wanted:
            found[ino] = '/' if dirpath == root else '/' + os.path.relpath(dirpath, root)
            if len(found) == len(wanted):
                break
    return found


def which(name):
    return shutil.which(name)


def online_cpus():
    text = _read('/sys/devices/system/cpu/online').strip()
    cpus = set()
    for part in text.split(','):
        if '-' in part:
            low, high = part.split('-')
            cpus.update(range(int(low), int(high) + 1))
        elif part:
            cpus.add(int(part))
    return cpus
