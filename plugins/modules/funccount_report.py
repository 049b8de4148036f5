#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: funccount_report
short_description: Write the fleet report of a funccount sweep (JSON, CSV, Markdown, self-contained HTML)
version_added: 0.2.0
description:
  - Takes the results of M(ebpf.bcc.funccount) on many hosts and writes into O(report_dir)/O(run_id)/ a
    C(report.json) (schema in C(docs/report-schema.md)), a C(report.csv) with one row per host and probe, a
    C(report.md) with summary tables, and a C(report.html) that needs nothing but itself (host by probe heatmap and
    per-probe bars as inline SVG, a sortable table; no external assets, and a Content-Security-Policy that lets only
    its own inline script run).
  - Fleet totals, rates, outliers and top lists are those of the filters P(ebpf.bcc.fleet_totals#filter),
    P(ebpf.bcc.rates#filter), P(ebpf.bcc.outliers#filter), P(ebpf.bcc.top_probes#filter) and
    P(ebpf.bcc.top_hosts#filter); with O(baseline), also the findings of P(ebpf.bcc.baseline_diff#filter).
  - Hosts that failed, were unreachable or skipped are excluded from the numbers and listed first, with the reason,
    in every format.
  - Run it on the controller, once (C(delegate_to=localhost), C(run_once=true), C(become=false)). It is a plain
    module rather than an action plugin so that check mode, C(changed) and argument checking behave as for any
    module, and so that it can equally write on a shared report host.
  - Every file is written atomically, and left alone when its content would not change, so that writing the same
    report again reports no change.
author:
  - ebpf.bcc developers (@ebpf-bcc)
attributes:
  check_mode:
    description: Computes the report and says whether any file would change, writing nothing.
    support: full
  diff_mode:
    description: No diff is shown.
    support: none
options:
  report_dir:
    description: Directory under which the directory O(run_id) is created.
    type: path
    required: true
  run_id:
    description: Name of this run, used as the name of its directory; no V(/), V(.) or V(..).
    type: str
    required: true
  results:
    description:
      - Host name to that host's registered result of M(ebpf.bcc.funccount), including failed and unreachable ones;
        P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
    type: dict
    required: true
  patterns:
    description: The patterns of the sweep, recorded in the report.
    type: list
    elements: str
    default: []
  window:
    description:
      - The planned window, recorded in the report. By default, and for a missing key, the earliest start and latest
        end the hosts measured.
    type: dict
    suboptions:
      start:
        description: Start, UTC, ISO 8601.
        type: str
      end:
        description: End, UTC, ISO 8601.
        type: str
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, csv, md, html]
    default: [json, csv, md, html]
  top:
    description: Length of the top lists of probes and hosts; V(0) lists all.
    type: int
    default: 10
  outlier_threshold:
    description: Modified z-score beyond which a host is an outlier for a probe; see P(ebpf.bcc.outliers#filter).
    type: float
    default: 3.5
  baseline:
    description:
      - A previous run to compare with, as a mapping of host to result or a C(report.json) of this module read back.
        Adds its findings (see P(ebpf.bcc.baseline_diff#filter)) to the report and to RV(findings).
    type: dict
  baseline_threshold:
    description: Factor of change of a rate that is a finding; see P(ebpf.bcc.baseline_diff#filter).
    type: float
    default: 2.0
  baseline_critical:
    description: Factor of change above which a finding is critical; defaults to O(baseline_threshold) squared.
    type: float
  baseline_min_rate:
    description: Ignore changes where both rates are below this many events per second.
    type: float
    default: 0.0
seealso:
  - module: ebpf.bcc.funccount
  - plugin: ebpf.bcc.collect_results
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Count on every host, whatever happens
  ebpf.bcc.funccount:
    patterns: ["t:sched:sched_switch", "vfs_read"]
    duration: 10
  become: true
  register: sweep
  ignore_errors: true
  ignore_unreachable: true

- name: Write the report on the controller
  ebpf.bcc.funccount_report:
    report_dir: /var/lib/funccount/reports
    run_id: "{{ now(utc=true, fmt='%Y%m%dT%H%M%SZ') }}"
    patterns: ["t:sched:sched_switch", "vfs_read"]
    results: "{{ hostvars | ebpf.bcc.collect_results('sweep', ansible_play_hosts_all) }}"
  delegate_to: localhost
  run_once: true
  become: false
  register: report

- name: Compare with a baseline report and fail on critical findings
  ebpf.bcc.funccount_report:
    report_dir: /var/lib/funccount/reports
    run_id: audit-{{ now(utc=true, fmt='%Y%m%d') }}
    results: "{{ hostvars | ebpf.bcc.collect_results('sweep', ansible_play_hosts_all) }}"
    baseline: "{{ lookup('ansible.builtin.file', '/var/lib/funccount/baseline.json') | from_json }}"
    baseline_threshold: 3
  delegate_to: localhost
  run_once: true
  become: false
  register: audit
  failed_when: audit.findings | selectattr('severity', 'eq', 'critical') | list | length > 0
"""

RETURN = r"""
path:
  description: The directory of this run's report.
  returned: always
  type: str
  sample: /var/lib/funccount/reports/20261206T180000Z
files:
  description: Format to the path of its file (written, or in check mode to be written).
  returned: always
  type: dict
  sample: {"json": "/var/lib/funccount/reports/20261206T180000Z/report.json",
           "html": "/var/lib/funccount/reports/20261206T180000Z/report.html"}
summary:
  description: Numbers of hosts, hosts that counted, failed hosts, probes, total count and hosts whose window was stopped early.
  returned: always
  type: dict
  sample: {"hosts": 8, "counted": 6, "failed": 2, "probes": 12, "total": 90211, "aborted": []}
failed_hosts:
  description: Host to the reason it has no data.
  returned: always
  type: dict
  sample: {"db3": "unreachable: Failed to connect to the host via ssh: Connection refused"}
outliers:
  description: The outliers, as P(ebpf.bcc.outliers#filter) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{"probe": "c:malloc", "host": "web3", "value": 8210.5, "median": 0.0, "spread": 1368.4167, "method": "meanad",
            "score": 4.7873, "direction": "high"}]
top_probes:
  description: The busiest probes, as P(ebpf.bcc.top_probes#filter) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{"probe": "vfs_read", "count": 13021, "rate": 1302.1, "hosts": 6}]
top_groups:
  description: The busiest processes, commands or cgroups (hosts counted with group_by), as P(ebpf.bcc.top_groups#filter) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{"host": "web3", "probe": "c:malloc", "group": "pid 4242 (nginx)", "count": 5120, "rate": 512.0, "pid": 4242,
            "comm": "nginx"}]
findings:
  description: The findings against O(baseline), as P(ebpf.bcc.baseline_diff#filter) returns them; empty without a baseline.
  returned: always
  type: list
  elements: dict
  sample: [{"severity": "critical", "scope": "host", "host": "web3", "probe": "vfs_read", "kind": "increased",
            "baseline_rate": 10.0, "current_rate": 50.0, "ratio": 5.0,
            "message": "vfs_read on web3 increased 5 times: 50/s, baseline 10/s"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate
from ansible_collections.ebpf.bcc.plugins.module_utils import _report

ARGUMENT_SPEC = dict(
    report_dir=dict(type='path', required=True),
    run_id=dict(type='str', required=True),
    results=dict(type='dict', required=True),
    patterns=dict(type='list', elements='str', default=[]),
    window=dict(type='dict', options=dict(start=dict(type='str'), end=dict(type='str'))),
    formats=dict(type='list', elements='str', choices=list(_report.FORMATS), default=list(_report.FORMATS)),
    top=dict(type='int', default=10),
    outlier_threshold=dict(type='float', default=3.5),
    baseline=dict(type='dict'),
    baseline_threshold=dict(type='float', default=2.0),
    baseline_critical=dict(type='float'),
    baseline_min_rate=dict(type='float', default=0.0),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        report = _report.build(
            p['run_id'], p['results'], patterns=p['patterns'], window=p['window'], top=p['top'],
            outlier_threshold=p['outlier_threshold'], baseline=p['baseline'], baseline_threshold=p['baseline_threshold'],
            baseline_critical=p['baseline_critical'], baseline_min_rate=p['baseline_min_rate'])
        path, files, changed = _report.write(p['report_dir'], report, p['formats'], check_mode=module.check_mode)
    except (_report.ReportError, _aggregate.AggregateError) as exc:
        module.fail_json(msg='Cannot write the report: %s.' % exc)
    except OSError as exc:
        module.fail_json(msg='Cannot write the report under %s: %s.' % (p['report_dir'], exc))
    module.exit_json(
        changed=changed, path=path, files=files, summary=report['summary'], failed_hosts=report['failed_hosts'],
        outliers=report['outliers'], top_probes=report['top_probes'], top_groups=report['top_groups'],
        findings=report['baseline']['findings'] if report['baseline'] else [])


if __name__ == '__main__':
    main()
