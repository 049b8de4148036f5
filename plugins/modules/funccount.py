#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: funccount
short_description: Count kernel functions, tracepoints, user functions and USDT probes with eBPF
version_added: 0.1.0
description:
  - Counts how often kernel functions, tracepoints, user-space functions and USDT probes fire on the
    target host during a fixed window, using one eBPF program compiled by bcc, and returns the counts as
    structured data and as the fact C(ansible_facts.funccount).
  - Accepts the full pattern grammar of bcc's C(funccount) tool, but attaches through the fastest
    mechanism the running kernel offers (multi-probe links, raw tracepoints, attach cookies) so that
    set-up and teardown stay short whatever the number of probes.
  - Probes that match but cannot be attached (inlined, notrace, blacklisted, vanished) are skipped and
    listed with their reason instead of aborting the run; see O(missing).
  - Nothing stays attached after the module returns, whether it succeeded or failed. A run whose connection to
    the controller drops (SIGHUP, or its output losing its reader, as without a pty) stops at once and detaches.
  - Counting never changes the host, so the task never reports a change.
author:
  - ebpf.bcc developers (@ebpf-bcc)
requirements:
  - root on the target (C(become=true))
  - bcc's Python bindings from the distribution (C(python3-bpfcc) on Debian and Ubuntu, C(python3-bcc) on
    Fedora and RHEL); the module re-runs itself under the system Python when the given interpreter cannot
    import them. The P(ebpf.bcc.install#role) role installs them.
  - kernel headers (exact, or the nearest installed version)
  - tracefs mounted, for tracepoints
attributes:
  check_mode:
    description: Resolves every pattern and reports the probes it would attach and the mechanisms, attaching nothing.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
options:
  patterns:
    description:
      - What to count, in bcc C(funccount) syntax. Several patterns of any types may be mixed.
      - V(func) or V(p::func) is a kernel function.
      - V(lib:func) or V(p:lib:func) is a function in a library or program; V(c) is libc. A name is looked
        up as bcc does (in the mappings of O(pid) when given, then the linker cache, then E(PATH)).
      - V(/path:func) is a function in the binary at that path; paths may contain colons.
      - V(t:category:event) is a tracepoint.
      - V(u:lib:probe), V(u:/path:probe) and V(u:lib:provider:probe) are USDT probes; semaphores are
        handled by the kernel, so USDT probes with semaphores work without O(pid).
      - Names may use C(*) wildcards; with O(regexp=true) every name is a regular expression. Either way a
        name must match whole.
      - A single string is split on commas by Ansible; give a list when a pattern contains a comma.
    type: list
    elements: str
    required: true
    aliases: [pattern]
  regexp:
    description:
      - Treat function, category, event, provider and probe names as regular expressions, anchored at both ends.
      - The library part is never a pattern.
    type: bool
    default: false
  duration:
    description:
      - Length of the counting window in seconds. Must be more than 0.
    type: float
    default: 10
  start_at:
    description:
      - Start the window exactly at this instant instead of as soon as everything is attached, so that many
        hosts count over the same wall-clock interval. UTC in ISO 8601 (V(2026-12-06T18:00:00Z); an explicit
        offset is honoured) or epoch seconds.
      - Everything is attached first; the task fails when the instant has already passed by the time the host is
        ready, and the message says by how much, so that clock skew is visible.
    type: str
  start_at_lead:
    description:
      - With O(start_at), how many seconds before O(start_at) the instant was chosen (the lead a fleet workflow
        such as C(ebpf.bcc.sweep) planned). When O(start_at) is more than this plus 5 seconds away by the
        host's clock, that clock must be behind the controller's, so the task fails at once, before anything is
        attached, and says by how much, instead of waiting for an instant that comes too late.
      - Without it, the task waits for O(start_at) however far away it is.
    type: float
  interval:
    description:
      - When set, also return the counts of each consecutive interval of this many seconds within the window
        in RV(intervals). The last interval ends with the window and may be shorter.
    type: float
  pid:
    description:
      - Count only events of this process (thread group id).
    type: int
  cpu:
    description:
      - Count only events on this CPU.
    type: int
  overhead_limit:
    description:
      - The overhead guard. While counting, the cost of every probe hit is estimated (hits, including those a
        O(pid) or O(cpu) filter drops, times the measured cost of the probe's mechanism, about 5 microseconds for
        a uprobe and 0.1 to 0.3 microseconds for tracepoints), four times a second. When it passes this share
        of one CPU, in percent, the window stops early and the result carries the counts so far and
        RV(aborted).
      - V(0) turns the guard off.
    type: float
    default: 5
  group_by:
    description:
      - Also break the counts down by who caused them, in RV(groups).
      - V(pid) per process (with its command name), V(comm) per command name, V(cgroup) per cgroup v2 (its path
        under the cgroup2 mount), V(none) not at all.
    type: str
    choices: [none, pid, comm, cgroup]
    default: none
  status_file:
    description:
      - Write the run's progress to this file while it runs, as one line of JSON replaced at each stage
        (C(resolved), C(compiled), C(attached), C(armed), C(counting), C(disarmed), C(detaching), C(done) or
        C(failed)), with the time and, once known, the window; a sweep started with C(async) reads it to show
        which hosts are armed, counting, done or failed.
      - The file is created with mode 0644 and left in place at the end, holding the final stage.
    type: path
  max_probes:
    description:
      - Fail when the patterns match more probes than this, as bcc's funccount does (its limit is 1000).
        Raising it is allowed.
    type: int
    default: 1000
  missing:
    description:
      - What to do when some matched probes cannot be attached.
      - V(warn) counts the others and lists the failed ones in RV(skipped_probes) with their reason, with a warning.
      - V(error) fails the task.
      - V(ignore) counts the others and lists the failed ones in RV(skipped_probes) without a warning; a pattern that
        matches nothing is then listed in RV(skipped_probes) too instead of failing the task, so that one set of patterns
        can serve kernels that name a function differently.
      - When no probe at all can be attached the task fails whatever this says.
    type: str
    choices: [warn, error, ignore]
    default: warn
  include_zero:
    description:
      - Also list probes that did not fire in RV(counts).
    type: bool
    default: false
  attach:
    description:
      - Force an attach mechanism per probe type instead of the fastest one the kernel offers (V(auto)).
        Mostly for testing the fallbacks; a forced mechanism the kernel lacks fails the task.
    type: dict
    suboptions:
      kernel:
        description: Kernel functions.
        type: str
        choices: [auto, kprobe_multi, kprobe]
        default: auto
      user:
        description: User functions and USDT probes.
        type: str
        choices: [auto, uprobe_multi, uprobe]
        default: auto
      tracepoint:
        description: Tracepoints other than syscall trace events.
        type: str
        choices: [auto, raw_tracepoint, perf_event]
        default: auto
      syscall:
        description:
          - Syscall trace events (V(t:syscalls:sys_enter_*), V(t:syscalls:sys_exit_*)).
          - V(raw_syscalls) counts all of them with two programs on C(raw_syscalls) keyed by syscall number;
            V(auto) does so from two such events on.
        type: str
        choices: [auto, raw_syscalls, perf_event]
        default: auto
  cookies:
    description:
      - How probes are told apart. V(auto) uses attach cookies where the kernel has them and otherwise loads
        the one compiled program once per probe with its index patched in.
      - V(never) forces the per-probe programs (and so the per-probe mechanisms), V(always) fails when cookies
        are not available.
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - Kernel functions need kprobes (kprobe_multi or per-function kprobes). On a kernel without them the task
    says which mechanisms were tried and why each is unavailable; count tracepoints instead.
  - Counting a hot user function costs a trap per call (several microseconds); keep windows short on busy hosts.
  - Syscall trace events counted through V(raw_syscalls) use the native syscall table; 32-bit compat syscalls
    are not told apart.
seealso:
  - name: bcc funccount
    description: The bcc tool whose pattern grammar this module accepts.
    link: https://github.com/iovisor/bcc/blob/master/tools/funccount_example.txt
"""

EXAMPLES = r"""
- name: Count scheduler tracepoints for 5 seconds
  ebpf.bcc.funccount:
    patterns:
      - "t:sched:*"
    duration: 5
  become: true
  register: sched

- name: Show the three busiest tracepoints
  ansible.builtin.debug:
    msg: "{{ sched.counts | dict2items | sort(attribute='value', reverse=true) | list | first }}"

- name: Count malloc and every str* function of libc in one process, per second
  ebpf.bcc.funccount:
    patterns:
      - "c:malloc"
      - "c:str*"
    pid: "{{ nginx_pid }}"
    duration: 10
    interval: 1
  become: true

- name: Count USDT garbage collections of every python3.11 process
  ebpf.bcc.funccount:
    pattern: "u:/usr/bin/python3.11:gc__start"
    duration: 30
  become: true

- name: Count every syscall entry with regular expressions, failing if any cannot be attached
  ebpf.bcc.funccount:
    patterns:
      - "t:syscalls:sys_enter_.*"
    regexp: true
    missing: error
    duration: 1
  become: true

- name: Count kernel VFS functions (needs a kernel with kprobes)
  ebpf.bcc.funccount:
    patterns: ["vfs_*"]
    duration: 2
  become: true

- name: See which probes would be attached, and how, without attaching anything
  ebpf.bcc.funccount:
    patterns: ["t:block:*", "c:malloc"]
  check_mode: true
  become: true
"""

RETURN = r"""
counts:
  description:
    - Probe key to number of times it fired in the window, highest first. Zero counts appear only with
      O(include_zero=true).
    - Every key is itself a pattern that selects exactly that probe.
  returned: always
  type: dict
  sample: {"t:sched:sched_switch": 10342, "vfs_read": 2210, "c:malloc": 731, "u:/usr/bin/python3.11:gc__start": 4}
total:
  description: Sum of all counts.
  returned: always
  type: int
  sample: 13287
probes:
  description: Number of probes attached (in check mode, that would be attached).
  returned: always
  type: int
  sample: 4
attached_probes:
  description:
    - The key of every probe that was attached and counted, sorted, including those that saw no event (which
      O(include_zero=false) leaves out of RV(counts)). The fleet filters use it to compare a probe only between
      hosts that counted it.
  returned: success, not in check mode
  type: list
  elements: str
  sample: ["t:sched:sched_switch", "vfs_read"]
skipped_probes:
  description:
    - Probes that matched but were not counted, with the reason. (Under C(ansible_facts.funccount) this list is
      called C(skipped); at the top level that name would make Ansible report the task as skipped.)
  returned: always
  type: list
  elements: dict
  contains:
    probe:
      description: The probe key.
      type: str
      sample: vfs_set_acl_prepare_kgid
    reason:
      description: Why it was not counted.
      type: str
      sample: "the kernel refused to attach: No such file or directory (ENOENT)"
  sample: [{"probe": "c:strlen", "reason": "GNU indirect function: the implementation is chosen when the library is loaded and could not be resolved here"}]
duration:
  description: Measured length of the window in seconds; 0 in check mode.
  returned: always
  type: float
  sample: 10.000312
start:
  description: Start of the window, UTC, ISO 8601.
  returned: when counting (not in check mode)
  type: str
  sample: "2026-12-06T18:00:00.000123Z"
end:
  description: End of the window, UTC, ISO 8601.
  returned: when counting (not in check mode)
  type: str
  sample: "2026-12-06T18:00:10.000435Z"
groups:
  description:
    - With O(group_by), the counts per probe and process, command or cgroup, busiest first.
  returned: when O(group_by) is not V(none)
  type: list
  elements: dict
  contains:
    probe:
      description: The probe key.
      type: str
      sample: c:malloc
    count:
      description: Events of this probe caused by this group.
      type: int
      sample: 5120
    pid:
      description: Process id, with O(group_by=pid).
      type: int
      sample: 4242
    comm:
      description: Command name, with O(group_by=pid) (the busiest thread's) or O(group_by=comm).
      type: str
      sample: nginx
    cgroup:
      description: cgroup v2 path, with O(group_by=cgroup).
      type: str
      sample: /system.slice/nginx.service
    cgroup_id:
      description: cgroup v2 id, with O(group_by=cgroup).
      type: int
      sample: 5631
  sample: [{"probe": "c:malloc", "count": 5120, "pid": 4242, "comm": "nginx"}]
groups_dropped:
  description: Events counted in RV(counts) but not in RV(groups) because the group table was full (16384 entries).
  returned: when O(group_by) is not V(none)
  type: int
  sample: 0
aborted:
  description:
    - Null, or why the overhead guard stopped the window early (see O(overhead_limit)); RV(counts) and
      RV(duration) then cover the time until the stop.
  returned: when counting (not in check mode)
  type: dict
  contains:
    reason:
      description: One sentence naming the costliest probe, its rate and the estimate.
      type: str
      sample: >-
        counting cost an estimated 41.9% of one CPU, more than overhead_limit (5%): c:malloc fired 83800 times a
        second through uprobe_multi (about 5000 ns each); the window was stopped after 0.25 s. Count something less
        hot, filter by pid, or raise overhead_limit.
    after_seconds:
      description: Seconds into the window when it was stopped.
      type: float
      sample: 0.25
    overhead_percent:
      description: The estimate that tripped the guard, in percent of one CPU.
      type: float
      sample: 41.9
  sample: null
intervals:
  description: Counts per interval; they add up to RV(counts).
  returned: when O(interval) is set
  type: list
  elements: dict
  contains:
    start:
      description: Start of the interval, UTC, ISO 8601.
      type: str
      sample: "2026-12-06T18:00:00.000123Z"
    end:
      description: End of the interval, UTC, ISO 8601.
      type: str
      sample: "2026-12-06T18:00:01.000170Z"
    counts:
      description: Probe key to count within the interval.
      type: dict
      sample: {"c:malloc": 73}
  sample: [{"start": "2026-12-06T18:00:00.000123Z", "end": "2026-12-06T18:00:01.000170Z", "counts": {"c:malloc": 73}}]
would_attach:
  description: In check mode, every probe that would be attached, its type and mechanism.
  returned: in check mode
  type: list
  elements: dict
  contains:
    probe:
      description: The probe key.
      type: str
      sample: c:malloc
    type:
      description: V(kernel), V(user), V(tracepoint) or V(usdt).
      type: str
      sample: user
    mechanism:
      description: The attach mechanism.
      type: str
      sample: uprobe_multi
  sample: [{"probe": "c:malloc", "type": "user", "mechanism": "uprobe_multi"}]
engine:
  description: How the counting was done.
  returned: always
  type: dict
  contains:
    bcc_version:
      description: Version of bcc's Python bindings.
      type: str
      sample: 0.26.0
    kernel_release:
      description: Release of the running kernel.
      type: str
      sample: 6.1.0-27-amd64
    mechanisms:
      description:
        - Per probe type (V(kernel), V(user), V(tracepoint), V(syscall)) the attach mechanism and how probes are
          told apart (V(cookie), V(program per probe), V(syscall id)).
      type: dict
      sample: {"tracepoint": {"mechanism": "raw_tracepoint", "identity": "cookie"}}
    overhead_percent:
      description: Estimated cost of the counting over the window, in percent of one CPU (see O(overhead_limit)).
      type: float
      returned: when counting
      sample: 0.42
    headers:
      description:
        - Kernel headers bcc compiled with; C(kind) is V(exact) or V(nearest) (the closest installed version, when
          none match the running kernel).
        - C(cached) is V(true) when the compiled program came from the host's cache
          (C(/var/cache/ebpf-bcc/programs), keyed by bcc version, kernel release, headers and program text), so
          that no compiler ran.
      type: dict
      returned: when counting
      sample: {"kind": "nearest", "path": "/usr/src/linux-headers-6.1.0-27-amd64 + /usr/src/linux-headers-6.1.0-27-common"}
    fallbacks:
      description: Probes that fell back from the planned mechanism to another one, with the reason.
      type: list
      elements: dict
      returned: when any probe fell back
      sample: [{"probe": "t:ftrace:function", "from": "raw_tracepoint", "to": "perf_event", "reason": "No such file or directory (ENOENT)"}]
    setup_seconds:
      description: Seconds from the start of the task to the start of the window (resolve, compile, attach).
      type: float
      returned: when counting
      sample: 0.41
    teardown_seconds:
      description: Seconds to detach everything after the window.
      type: float
      returned: when counting
      sample: 0.02
    leftovers:
      description:
        - Legacy trace events found in tracefs C(kprobe_events) and C(uprobe_events) that bcc's tools
          (C(funccount-bpfcc) and the rest, on kernels without the kprobe/uprobe PMU) made for a process that no
          longer exists, and that this run removed before attaching. This module makes no such events.
        - Entries of live processes, and entries not named as bcc names them (C(<p|r>_<target>_bcc_<pid>)), are
          never touched.
      type: list
      elements: dict
      returned: when counting
      contains:
        event:
          description: C(group/name) of the event.
          type: str
        file:
          description: The tracefs file it was listed in.
          type: str
        pid:
          description: The process that made it.
          type: int
        removed:
          description: Whether removing it worked.
          type: bool
        reason:
          description: Why it was removed, and why removing failed if it did.
          type: str
      sample: [{"event": "kprobes/p_vfs_read_bcc_4242", "file": "/sys/kernel/tracing/kprobe_events", "pid": 4242,
                "removed": true, "reason": "left by process 4242, which no longer exists"}]
  sample: {"bcc_version": "0.26.0", "kernel_release": "6.18.0", "setup_seconds": 0.41, "teardown_seconds": 0.02,
           "mechanisms": {"user": {"mechanism": "uprobe_multi", "identity": "cookie"}},
           "headers": {"kind": "exact", "path": "/lib/modules/6.18.0/build"}}
ansible_facts:
  description: The same result under one key.
  returned: always
  type: dict
  contains:
    funccount:
      description: Every key above but C(changed).
      type: dict
      sample: {"counts": {"c:malloc": 731}, "total": 731, "probes": 1}
  sample: {"funccount": {"counts": {"c:malloc": 731}, "total": 731, "probes": 1}}
"""

import datetime
import json
import os
import select
import signal
import threading

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.respawn import has_respawned, probe_interpreters_for_module, respawn_module

from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc
from ansible_collections.ebpf.bcc.plugins.module_utils import _engine
from ansible_collections.ebpf.bcc.plugins.module_utils._errors import FuncCountError

SYSTEM_INTERPRETERS = _bcc.SYSTEM_INTERPRETERS

ATTACH_SPEC = dict(
    kernel=dict(type='str', choices=['auto', 'kprobe_multi', 'kprobe'], default='auto'),
    user=dict(type='str', choices=['auto', 'uprobe_multi', 'uprobe'], default='auto'),
    tracepoint=dict(type='str', choices=['auto', 'raw_tracepoint', 'perf_event'], default='auto'),
    syscall=dict(type='str', choices=['auto', 'raw_syscalls', 'perf_event'], default='auto'),
)

ARGUMENT_SPEC = dict(
    patterns=dict(type='list', elements='str', required=True, aliases=['pattern']),
    regexp=dict(type='bool', default=False),
    duration=dict(type='float', default=10.0),
    interval=dict(type='float'),
    start_at=dict(type='str'),
    start_at_lead=dict(type='float'),
    pid=dict(type='int'),
    cpu=dict(type='int'),
    max_probes=dict(type='int', default=1000),
    group_by=dict(type='str', choices=['none', 'pid', 'comm', 'cgroup'], default='none'),
    status_file=dict(type='path'),
    overhead_limit=dict(type='float', default=5.0),
    missing=dict(type='str', choices=['warn', 'error', 'ignore'], default='warn'),
    include_zero=dict(type='bool', default=False),
    attach=dict(type='dict', options=ATTACH_SPEC),
    cookies=dict(type='str', choices=['auto', 'always', 'never'], default='auto'),
)


class StatusFile(object):
    """Progress for whoever watches an async run: one JSON line, replaced atomically."""

    def __init__(self, path, options):
        self.path = path
        self.options = options

    def stage(self, name, **extra):
        if not self.path or name.startswith('attaching '):
            return
        record = {'stage': name, 'time': _iso_now(), 'pid': os.getpid()}
        record.update((k, v) for k, v in extra.items() if v is not None)
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        try:
            with open(tmp, 'w') as handle:
                handle.write(json.dumps(record, sort_keys=True) + '\n')
            os.chmod(tmp, 0o644)
            os.rename(tmp, self.path)
        except OSError:
            pass  # progress is a courtesy; never fail a count for it


def _iso_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


class Interrupted(FuncCountError):
    pass


_SIGNALLED = []  # the signals received, in order
LOST_MSG = ("The connection to the controller was lost (this run's output was closed); the run was stopped and "
            "everything it had attached was detached.")


def _on_signal(signum, _frame):
    _SIGNALLED.append(signum)
    if OutputWatch.lost:
        raise Interrupted(LOST_MSG)
    raise Interrupted('The run was interrupted by signal %d; everything it had attached was detached.' % signum)


class OutputWatch(object):
    """Stops the run when whoever reads this module's output is gone.

    A dropped SSH connection hangs up the session's terminal (SIGHUP) only when there is one; without a pty
    (pipelining) and when the controller itself dies, the module's stdout just loses its reader, and poll()
    says so (POLLERR for a pipe, POLLHUP for a hung-up terminal or socket).  Then the run is interrupted the
    way SIGHUP would do it, so that it detaches at once instead of counting into the void.
    """

    lost = False

    def __init__(self, fd=1):
        self.fd = fd
        self.active = True

    def start(self):
        thread = threading.Thread(target=self._watch, name='funccount-output-watch')
        thread.daemon = True
        thread.start()
        return self

    def _watch(self):
        poller = select.poll()
        poller.register(self.fd, 0)  # POLLERR and POLLHUP are always reported
        while True:
            try:
                events = [ev for _fd, ev in poller.poll()]
            except InterruptedError:
                continue
            if not events or any(ev & select.POLLNVAL for ev in events):
                return  # no such descriptor: nothing to watch
            if any(ev & (select.POLLERR | select.POLLHUP) for ev in events):
                break
        if self.active and not _SIGNALLED:
            OutputWatch.lost = True
            os.kill(os.getpid(), signal.SIGHUP)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    if not _bcc.HAS_BCC:
        if not has_respawned():
            interpreter = probe_interpreters_for_module(SYSTEM_INTERPRETERS, 'bcc')
            if interpreter:
                respawn_module(interpreter)
        msg = (missing_required_lib('bcc (python3-bpfcc on Debian and Ubuntu, python3-bcc on Fedora and RHEL)')
               + ' Run the ebpf.bcc.install role on this host.')
        StatusFile(module.params['status_file'], None).stage('failed', msg=msg)
        module.fail_json(msg=msg, exception=str(_bcc.BCC_IMPORT_ERROR))

    params = module.params
    options = _engine.Options(
        params['patterns'], regexp=params['regexp'], duration=params['duration'], interval=params['interval'],
        pid=params['pid'], cpu=params['cpu'], max_probes=params['max_probes'], missing=params['missing'],
        include_zero=params['include_zero'], attach=params['attach'], cookies=params['cookies'],
        start_at=params['start_at'], start_at_lead=params['start_at_lead'], overhead_limit=params['overhead_limit'],
        group_by=params['group_by'],
    )
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _on_signal)

    status = StatusFile(params['status_file'], options)
    engine = _engine.Engine(options, _bcc, on_stage=status.stage)
    watch = OutputWatch().start()
    try:
        try:
            result = engine.check() if module.check_mode else engine.run()
        finally:
            watch.active = False
    except FuncCountError as exc:
        status.stage('failed', msg=exc.msg)
        partial = dict(exc.partial)
        if 'skipped' in partial:
            partial['skipped_probes'] = partial.pop('skipped')
        module.fail_json(msg=exc.msg, changed=False, **partial)
    except Exception as exc:  # pylint: disable=broad-except
        msg = ('Unexpected %s while counting: %s. This is a bug in ebpf.bcc; everything attached was detached.'
               % (type(exc).__name__, exc))
        status.stage('failed', msg=msg)
        module.fail_json(msg=msg, changed=False)
    status.stage('done', total=result['total'], start=result.get('start'), end=result.get('end'))

    # Ansible reads a truthy top-level "skipped" as "this task was skipped", so the list of probes
    # that were not counted is returned as skipped_probes (and as skipped under ansible_facts.funccount)
    skipped = result.pop('skipped')
    result['skipped_probes'] = skipped
    if skipped and params['missing'] == 'warn':
        module.warn('%d matched probes were not counted (first: %s: %s); see skipped_probes.'
                    % (len(skipped), skipped[0]['probe'], skipped[0]['reason']))
    removed = [item['event'] for item in result['engine'].get('leftovers', []) if item['removed']]
    if removed:
        module.warn('Removed %d trace events that bcc tools of processes that no longer exist had left in tracefs '
                    '(first: %s); see engine.leftovers.' % (len(removed), removed[0]))
    if result.get('aborted'):
        module.warn('The window was stopped early: %s' % result['aborted']['reason'])
    facts = dict((k, v) for k, v in result.items() if k not in ('changed', 'skipped_probes'))
    facts['skipped'] = skipped
    module.exit_json(ansible_facts={'funccount': facts}, **result)


if __name__ == '__main__':
    main()
