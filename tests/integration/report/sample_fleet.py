# SPDX-License-Identifier: GPL-3.0-or-later
"""A realistic fleet result for the report: 9 hosts, one outlier, one unreachable host, one without bcc.

Run as a script to write the report and the README screenshot:

    .venv/bin/python tests/integration/report/sample_fleet.py OUTDIR [PNG]   # after make setup
"""

from __future__ import annotations

import os
import sys

RUN_ID = 'sweep-20261206T180000Z'
PATTERNS = ['t:sched:sched_switch', 't:syscalls:sys_enter_*', 'vfs_*', 'c:malloc']
WINDOW = {'start': '2026-12-06T18:00:00Z', 'end': '2026-12-06T18:00:10Z'}
HOSTILE = '<script>alert("x")</script> & \'q\' ü☃'

BASE = {
    't:sched:sched_switch': 10342, 'vfs_read': 2210, 'vfs_write': 1804, 't:syscalls:sys_enter_read': 2301,
    't:syscalls:sys_enter_write': 1920, 't:syscalls:sys_enter_openat': 412, 'vfs_open': 398, 'c:malloc': 731,
    't:syscalls:sys_enter_futex': 655, 'vfs_getattr': 230,
}


def host_result(index, scale=1.0, extra=None, start='2026-12-06T18:00:00.000123Z', end='2026-12-06T18:00:10.000435Z'):
    counts = {key: int(value * scale * (1 + 0.03 * ((index * 7 + len(key)) % 5 - 2))) for key, value in BASE.items()}
    counts.update(extra or {})
    counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        'changed': False, 'counts': counts, 'total': sum(counts.values()), 'probes': len(counts) + 1,
        'skipped_probes': [{'probe': 'vfs_set_acl_prepare_kgid', 'reason': 'the kernel refused to attach: No such file or directory (ENOENT)'}],
        'duration': 10.000312, 'start': start, 'end': end, 'aborted': None,
        'engine': {'bcc_version': '0.26.0', 'kernel_release': '6.1.0-27-amd64',
                   'mechanisms': {'tracepoint': {'mechanism': 'raw_tracepoint', 'identity': 'cookie'}}},
    }


def results(hostile=False):
    """The fleet; with hostile, web3 also reports a probe key full of markup."""
    fleet = {}
    for i in range(1, 7):
        fleet['web%d' % i] = host_result(i)
    extra = {'c:malloc': 82105, 'vfs_read': 9120, 'u:/opt/shop/bin/cart:order__done': 17}
    if hostile:
        extra[HOSTILE] = 17
    fleet['web3'] = host_result(3, extra=extra)
    fleet['db1'] = host_result(9)
    fleet['db2'] = {'unreachable': True, 'changed': False,
                    'msg': 'Failed to connect to the host via ssh: ssh: connect to host 10.0.0.12 port 22: Connection refused'}
    fleet['web10'] = {'failed': True, 'changed': False,
                      'msg': 'Failed to import the required Python library (bcc (python3-bpfcc on Debian and Ubuntu)) on '
                             'web10. Run the ebpf.bcc.install role on this host.'}
    return fleet


def main(argv):
    """Write the sample report into argv[0]; with argv[1], also a screenshot of its HTML there."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.join(here, '..', '..', '..', 'build', 'collections'), here]   # made by make setup
    from ansible_collections.ebpf.bcc.plugins.module_utils import _report  # pylint: disable=import-outside-toplevel
    import chromium  # pylint: disable=import-outside-toplevel
    report = _report.build(RUN_ID, results(), PATTERNS, window=WINDOW)
    directory, files, _changed = _report.write(argv[0], report)
    print(directory)
    if len(argv) > 1:
        requests = chromium.screenshot('file://' + os.path.abspath(files['html']), os.path.abspath(argv[1]), 1280, 1500)
        print(argv[1], 'requests:', requests)


if __name__ == '__main__':
    main(sys.argv[1:])
