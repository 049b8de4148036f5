# SPDX-License-Identifier: GPL-3.0-or-later
"""Every bad input and hostile environment gets one clear sentence, and
leaves nothing attached."""

from __future__ import annotations

import os
import subprocess

import pytest

from enginehelp import HERE, assert_nothing_attached, fails, our_programs

pytestmark = [pytest.mark.root]


@pytest.fixture(autouse=True)
def nothing_left():
    before = our_programs()
    yield
    assert_nothing_attached(before)


@pytest.mark.parametrize('patterns,options,message', [
    (['t:sched'], {}, "Tracepoint pattern 't:sched' must have the form t:category:event."),
    (['x:y:z'], {}, "Pattern 'x:y:z' has an unknown type 'x'; the type must be p (function), t (tracepoint) or u (USDT)."),
    (['c:'], {}, "Pattern 'c:' has an empty function name."),
    ([''], {}, 'An empty pattern was given; give a function, t:category:event or u:library:probe.'),
    ([], {}, 'No pattern was given; set patterns to at least one function, t:category:event or u:library:probe.'),
    (['t:sched:sched_(switch'], {'regexp': True},
     "Pattern 't:sched:sched_(switch' has an invalid regular expression 'sched_(switch' (missing ), unterminated "
     "subpattern at position 6); fix it, or set regexp to false to use * wildcards."),
    (['nosuchlib_xyz:malloc'], {},
     "Pattern 'nosuchlib_xyz:malloc' names the library or program 'nosuchlib_xyz', which was not found in the linker "
     "cache or in PATH; give its full path instead (for example /usr/lib/x86_64-linux-gnu/libnosuchlib_xyz.so)."),
    (['/no/such/binary:main'], {},
     "Pattern '/no/such/binary:main' names /no/such/binary, which does not exist or is not a file; give the full path "
     "of an existing binary or library."),
    (['/etc/hostname:main'], {},
     'Cannot read symbols: /etc/hostname is not an ELF file; give the path of an ELF executable or shared library.'),
    (['c:no_such_function_xyz'], {},
     "Pattern 'c:no_such_function_xyz' matches no function in c (/lib/x86_64-linux-gnu/libc.so.6); check the "
     "name with \"nm -D /lib/x86_64-linux-gnu/libc.so.6\"."),
    (['t:sched:no_such_event'], {},
     "Pattern 't:sched:no_such_event' matches no tracepoint; list tracepoints under /sys/kernel/tracing/events."),
    (['t:sched:*'], {'max_probes': 3}, None),
    (['t:sched:sched_switch'], {'duration': 0}, 'duration must be more than 0 and at most 604800 seconds (7 days), not 0.'),
    (['t:sched:sched_switch'], {'duration': -1.5},
     'duration must be more than 0 and at most 604800 seconds (7 days), not -1.5.'),
    (['t:sched:sched_switch'], {'duration': 1, 'interval': 2},
     'interval must be between 0.01 seconds and the duration (1 s), not 2.'),
    (['t:sched:sched_switch'], {'pid': 2 ** 22 + 7}, 'No process has pid 4194311; give the pid of a running process.'),
    (['t:sched:sched_switch'], {'cpu': 4096}, None),
    (['t:sched:sched_switch'], {'start_at': 'yesterday'},
     "start_at must be a UTC time in ISO 8601 such as 2026-12-06T18:00:00Z, or epoch seconds, not 'yesterday'."),
])
def test_bad_input_message(patterns, options, message):
    got = fails(patterns, **options)
    if message is not None:
        assert got == message
    assert '\n' not in got and 'Traceback' not in got


def test_too_many_probes_names_both_numbers():
    msg = fails(['t:sched:*'], max_probes=3)
    assert msg.startswith('The patterns match ')
    assert msg.endswith('probes, more than max_probes (3); narrow the patterns, or raise max_probes if counting '
                        'that many is intended.')


def test_cpu_out_of_range():
    msg = fails(['t:sched:sched_switch'], cpu=4096)
    assert msg.startswith('cpu 4096 is not an online CPU of this host (online: 0-')


def test_thread_id_is_not_a_pid():
    import threading
    started = threading.Event()
    stop = threading.Event()
    tid = []

    def body():
        tid.append(threading.get_native_id())
        started.set()
        stop.wait(10)
    thread = threading.Thread(target=body)
    thread.start()
    started.wait()
    try:
        msg = fails(['t:sched:sched_switch'], pid=tid[0])
    finally:
        stop.set()
        thread.join()
    assert msg == 'pid %d is a thread of process %d; give the process id %d.' % (tid[0], os.getpid(), os.getpid())


def test_start_at_in_the_past_gives_the_skew():
    msg = fails(['t:sched:sched_switch'], start_at='2020-01-01T00:00:00Z', duration=0.1)
    assert msg.startswith('start_at 2020-01-01T00:00:00.000000Z had already passed by ')
    assert 'check the clocks of the controller and this host (NTP)' in msg


def test_kernel_functions_on_a_kernel_without_kprobes():
    if os.path.exists('/sys/bus/event_source/devices/kprobe'):
        pytest.skip('this kernel has kprobes')
    msg = fails(['vfs_read'])
    assert msg.startswith('Nothing could be attached: this kernel cannot count kernel functions: kprobe_multi: ')
    for mechanism in ('kprobe_multi: ', 'kprobe: the kernel has no kprobe PMU', 'fentry: '):
        assert mechanism in msg


def test_forced_tier_the_kernel_lacks():
    if os.path.exists('/sys/bus/event_source/devices/kprobe'):
        pytest.skip('this kernel has kprobes')
    msg = fails(['vfs_read'], attach={'kernel': 'kprobe'})
    assert msg.startswith('attach.kernel is kprobe, but this kernel does not offer it (the kernel has no kprobe PMU')
    assert msg.endswith('; set it to auto.')


def test_missing_error_fails_when_a_probe_cannot_attach():
    if os.path.exists('/sys/bus/event_source/devices/kprobe'):
        pytest.skip('this kernel has kprobes')
    msg = fails(['vfs_read', 't:sched:sched_switch'], missing='error')
    assert msg.startswith("1 of the matched probes could not be attached (first: vfs_read: this kernel cannot count")


def _run_isolated(code, *unshare_then):
    """Run python code under Debian's python in a private mount namespace after shell commands."""
    collections = os.path.abspath(os.path.join(HERE, '..', '..', '..', 'build', 'collections'))
    script = ' && '.join(list(unshare_then) + ['exec /usr/bin/python3 -c "$0"'])
    return subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, code],
                          capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONPATH=collections))


ENGINE_CALL = '''
from ansible_collections.ebpf.bcc.plugins.module_utils import _engine, _bcc
try:
    _engine.Engine(_engine.Options(%r, duration=0.2), _bcc).run()
    print("OK")
except _engine.FuncCountError as exc:
    print(exc.msg)
'''


def test_tracefs_not_mounted():
    proc = _run_isolated(ENGINE_CALL % (['t:sched:sched_switch'],),
                         'umount /sys/kernel/tracing', '(umount /sys/kernel/debug/tracing 2>/dev/null; true)',
                         'umount /sys/kernel/debug')
    assert proc.stdout.strip() == ('tracefs is not mounted, so tracepoints cannot be listed; mount it with '
                                   '"mount -t tracefs nodev /sys/kernel/tracing" or run the ebpf.bcc.install role.')


def test_uprobes_need_no_tracefs(fcwork):
    proc = _run_isolated(ENGINE_CALL % (['%s:fc_alpha' % fcwork],),
                         'umount /sys/kernel/tracing', '(umount /sys/kernel/debug/tracing 2>/dev/null; true)',
                         'umount /sys/kernel/debug')
    assert proc.stdout.strip() == 'OK'


def test_nearest_headers_when_build_is_missing(fcwork):
    release = os.uname().release
    if not os.path.exists('/lib/modules/%s/build' % release):
        pytest.skip('no exact headers to hide')
    code = ENGINE_CALL.replace('print("OK")', 'print(r["engine"]["headers"]["kind"], r["counts"])').replace(
        '_engine.Engine(', 'r = _engine.Engine(')
    proc = _run_isolated(code % (['%s:fc_alpha' % fcwork],), 'mount -t tmpfs none /lib/modules')
    assert proc.stdout.startswith('nearest'), proc.stdout + proc.stderr


def test_not_root(fcwork):
    collections = os.path.abspath(os.path.join(HERE, '..', '..', '..', 'build', 'collections'))
    proc = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c',
                           ENGINE_CALL % (['t:sched:sched_switch'],)],
                          capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONPATH=collections))
    assert proc.stdout.strip() == ('Counting needs root (BPF programs are loaded into the kernel); run the task with '
                                   'become: true.'), proc.stderr


def test_missing_ignore_skips_a_pattern_that_matches_nothing(fcwork):
    from enginehelp import count
    result = count(['%s:fc_alpha' % fcwork, 't:sched:no_such_event'], missing='ignore', duration=0.2,
                   include_zero=True)
    assert result['counts'] == {'%s:fc_alpha' % fcwork: 0}
    assert result['skipped'] == [{'probe': 't:sched:no_such_event', 'reason': "Pattern 't:sched:no_such_event' matches "
                                  "no tracepoint; list tracepoints under /sys/kernel/tracing/events."}]
    assert fails(['t:sched:no_such_event'], missing='ignore') == (
        "No pattern matched anything: Pattern 't:sched:no_such_event' matches no tracepoint; list tracepoints "
        "under /sys/kernel/tracing/events.")
