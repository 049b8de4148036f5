# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: outliers
short_description: Hosts whose count of a probe is far from the rest of the fleet (median and MAD)
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - For every probe any host reported, scores each host that counted with the modified z-score of Iglewicz and
    Hoaglin, M = 0.6745 * (x - median) / MAD, where x is the host's rate (or count), median is the median over the
    hosts and MAD the median of the absolute deviations from it. Median and MAD are not dragged along by the
    outliers themselves, unlike mean and standard deviation.
  - A host is an outlier when |M| is more than O(threshold).
  - "When MAD is 0 (more than half of the hosts have exactly the median value, typically 0 on the hosts that do not
    run a workload), the mean absolute deviation from the median stands in: M = (x - median) / (1.253314 * meanAD)
    (C(method=meanad)). Then one host differing from an all-equal rest scores n / 1.253314 for n hosts, so it is
    flagged at the default threshold from 5 hosts on; with fewer hosts, lower O(threshold)."
  - When every host has the same value, there are no outliers.
  - "The spread is at least O(min_spread) times |median| (C(method=floor)): in a uniform fleet, equal counts over
    windows a few microseconds apart give rates whose MAD is almost 0, and every host would be far from the median.
    At the defaults a host is flagged when it is more than about 26% away from the median of such a fleet."
  - "The sample of a probe is every host that counted, with 0 where the probe did not fire, except hosts that did not
    attach it (listed in RV(ebpf.bcc.funccount#module:skipped_probes), or absent from
    RV(ebpf.bcc.funccount#module:attached_probes): a host given other patterns, such as tracepoints instead of
    kernel functions) and, with O(by=rate), hosts without a window. Probes with fewer than 2 such hosts are not
    scored."
options:
  _input:
    description:
      - Mapping of host name to the result of M(ebpf.bcc.funccount) on that host, as registered by the task (or by
        C(ansible.builtin.async_status)); P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
      - Hosts whose result is failed, unreachable or skipped, or has no counts, are left out; P(ebpf.bcc.failed_hosts#filter)
        lists them with the reason.
    type: dict
    required: true
  threshold:
    description: Flag hosts whose |modified z-score| is more than this. 3.5 is the value Iglewicz and Hoaglin recommend.
    type: float
    default: 3.5
  by:
    description: Score V(rate) (events per second of the host's measured window) or the raw V(count).
    type: str
    choices: [rate, count]
    default: rate
  min_spread:
    description:
      - The least spread, as a fraction of |median|; V(0) turns the floor off.
    type: float
    default: 0.05
"""

EXAMPLES = r"""
- name: Hosts that stand out, most extreme first
  ansible.builtin.debug:
    msg: "{{ item.host }}: {{ item.probe }} at {{ item.value }}/s, fleet median {{ item.median }}/s"
  loop: "{{ results | ebpf.bcc.outliers }}"

- name: Only hosts that call a probe much more than the others
  ansible.builtin.debug:
    msg: "{{ results | ebpf.bcc.outliers(threshold=5) | selectattr('direction', 'eq', 'high') | map(attribute='host') | unique }}"
"""

RETURN = r"""
_value:
  description: One entry per outlying host and probe, largest |score| first, then by probe and host.
  type: list
  elements: dict
  contains:
    probe:
      description: The probe key.
      type: str
    host:
      description: The outlying host.
      type: str
    value:
      description: Its rate (or count), rounded to 6 decimals.
      type: float
    median:
      description: The median over the sample.
      type: float
    spread:
      description: The MAD, with C(method=meanad) the mean absolute deviation, with C(method=floor) O(min_spread) x |median|.
      type: float
    method:
      description: V(mad), V(meanad) (MAD was 0) or V(floor) (the spread was below the floor).
      type: str
    score:
      description: The modified z-score, rounded to 4 decimals.
      type: float
    direction:
      description: V(high) or V(low).
      type: str
  sample: [{"probe": "c:malloc", "host": "web3", "value": 8210.5, "median": 0.0, "spread": 1368.4167, "method": "meanad",
            "score": 4.7873, "direction": "high"}]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def outliers(results, threshold=3.5, by='rate', min_spread=0.05):
    try:
        return _aggregate.outliers(results, threshold, by, min_spread)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('outliers: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'outliers': outliers}
