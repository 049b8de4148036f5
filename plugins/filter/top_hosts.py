# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: top_hosts
short_description: The busiest hosts of a fleet, overall or for one probe
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Ranks the hosts that counted by the sum of all their counts, or by their count of one probe, ties broken by host
    name in natural order.
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
    description: Return at most this many hosts; V(0) returns all.
    type: int
    default: 10
  probe:
    description: Rank by this probe's count instead of the sum of all counts (hosts that did not report it count 0).
    type: str
"""

EXAMPLES = r"""
- name: The three hosts calling tcp_sendmsg most
  ansible.builtin.debug:
    msg: "{{ results | ebpf.bcc.top_hosts(3, probe='tcp_sendmsg') | map(attribute='host') }}"
"""

RETURN = r"""
_value:
  description: One entry per host, busiest first.
  type: list
  elements: dict
  contains:
    host:
      description: The host name.
      type: str
    count:
      description: The sum of its counts, or its count of O(probe).
      type: int
    rate:
      description: That count per second of the host's window, or null without a window.
      type: float
  sample: [{"host": "web3", "count": 90210, "rate": 9021.0}]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def top_hosts(results, n=10, probe=None):
    try:
        return _aggregate.top_hosts(results, n, probe)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('top_hosts: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'top_hosts': top_hosts}
