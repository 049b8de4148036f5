# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: top_probes
short_description: The busiest probes of a fleet
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Ranks the probes by their count summed over the hosts that counted (or by fleet rate, or by how many hosts saw
    them), ties broken by count then by key.
options:
  _input:
    description:
      - Mapping of host name to the result of M(ebpf.bcc.funccount) on that host, as registered by the task (or by
        C(ansible.builtin.async_status)); P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
      - Hosts whose result is failed, unreachable or skipped, or has no counts, are left out; P(ebpf.bcc.failed_hosts#filter)
        lists them with the reason.
    type: dict
    required: true
  n:
    description: Return at most this many probes; V(0) returns all.
    type: int
    default: 10
  by:
    description: V(count) (fleet total), V(rate) (fleet events per second, see P(ebpf.bcc.rates#filter)), or V(hosts) (number of hosts where the probe fired).
    type: str
    choices: [count, rate, hosts]
    default: count
"""

EXAMPLES = r"""
- name: The five busiest probes of the sweep
  ansible.builtin.debug:
    msg: "{{ results | ebpf.bcc.top_probes(5) }}"
"""

RETURN = r"""
_value:
  description: One entry per probe, busiest first.
  type: list
  elements: dict
  contains:
    probe:
      description: The probe key.
      type: str
    count:
      description: Sum of its counts over the hosts that counted.
      type: int
    rate:
      description: Fleet events per second, or null when no host had a window.
      type: float
    hosts:
      description: Number of hosts where it fired at least once.
      type: int
  sample: [{"probe": "vfs_read", "count": 13021, "rate": 1302.1, "hosts": 6}]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def top_probes(results, n=10, by='count'):
    try:
        return _aggregate.top_probes(results, n, by)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('top_probes: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'top_probes': top_probes}
