# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: baseline_diff
short_description: Compare a funccount sweep with a baseline, per host and fleet-wide
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Compares rates per second (count over the host's measured window), so that windows of different lengths compare.
  - For every host that counted in both runs and every probe either run reported, and for the fleet (the sum of the
    rates of those hosts, so that a host that failed does not also show up as a fleet-wide drop), a finding is made
    when the rate changed by more than O(threshold) times up or down (V(increased), V(decreased)), or the probe
    V(appeared) or V(vanished).
  - Severity V(critical) when the change is more than O(critical) times, V(warning) otherwise; V(appeared) and
    V(vanished) are V(warning).
  - Host findings, whose C(probe) is null, are V(host_failed) (V(critical), the host did not count in this run,
    with the reason), V(host_vanished) (V(warning), in the baseline but not in this run), V(host_new) (V(info), no
    usable baseline) and V(not_compared) (V(info), one run has no counting window).
  - "A probe that a host attached in one of the runs only is not compared (its rate would read as appeared or
    vanished): V(not_attached), V(warning) when this run could not attach it (it is in
    RV(ebpf.bcc.funccount#module:skipped_probes), with the reason), V(info) when it was not asked for (other
    patterns; known from RV(ebpf.bcc.funccount#module:attached_probes)). Results without C(attached_probes) are
    compared as if every probe had been attached."
options:
  _input:
    description:
      - Mapping of host name to the result of M(ebpf.bcc.funccount) on that host, as registered by the task (or by
        C(ansible.builtin.async_status)); P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
      - Hosts whose result is failed, unreachable or skipped, or has no counts, are left out; P(ebpf.bcc.failed_hosts#filter)
        lists them with the reason.
    type: dict
    required: true
  baseline:
    description:
      - The baseline, in the same form as the input, or a report written by M(ebpf.bcc.funccount_report) (its
        C(report.json) read back, recognised by its C(run_id) and C(hosts) keys).
      - The input may be such a report too.
    type: dict
    required: true
  threshold:
    description: A factor of change, more than 1. V(2) flags rates that more than doubled or fell below half.
    type: float
    default: 2.0
  critical:
    description: The factor above which a change is V(critical). Defaults to O(threshold) squared.
    type: float
  min_rate:
    description: Ignore changes where both rates are below this many events per second (noise from rare probes).
    type: float
    default: 0.0
positional: baseline
"""

EXAMPLES = r"""
- name: Compare with the stored baseline and fail on anything critical
  ansible.builtin.assert:
    that: findings | selectattr('severity', 'eq', 'critical') | list | length == 0
    fail_msg: "{{ findings | map(attribute='message') }}"
  vars:
    baseline: "{{ lookup('ansible.builtin.file', '/var/lib/funccount/baseline/report.json') | from_json }}"
    findings: "{{ results | ebpf.bcc.baseline_diff(baseline, threshold=3, min_rate=1) }}"
"""

RETURN = r"""
_value:
  description: The findings, V(critical) first, then V(warning), then V(info); fleet-wide before per host; then by host and probe.
  type: list
  elements: dict
  contains:
    severity:
      description: V(critical), V(warning) or V(info).
      type: str
    scope:
      description: V(fleet) or V(host).
      type: str
    host:
      description: The host, null for fleet-wide findings.
      type: str
    probe:
      description: The probe key, null for host findings.
      type: str
    kind:
      description: V(increased), V(decreased), V(appeared), V(vanished), V(host_failed), V(host_vanished), V(host_new), V(not_compared) or V(not_attached).
      type: str
    baseline_rate:
      description: Events per second in the baseline (null for host findings).
      type: float
    current_rate:
      description: Events per second in this run (null for host findings).
      type: float
    ratio:
      description: current_rate / baseline_rate rounded to 4 decimals, null unless V(increased) or V(decreased).
      type: float
    message:
      description: One line for a human.
      type: str
  sample: [{"severity": "critical", "scope": "host", "host": "web3", "probe": "vfs_read", "kind": "increased",
            "baseline_rate": 10.0, "current_rate": 50.0, "ratio": 5.0,
            "message": "vfs_read on web3 increased 5 times: 50/s, baseline 10/s"}]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def baseline_diff(results, baseline, threshold=2.0, critical=None, min_rate=0.0):
    try:
        return _aggregate.baseline_diff(results, baseline, threshold, critical, min_rate)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('baseline_diff: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'baseline_diff': baseline_diff}
