# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: host_matrix
short_description: Host x probe matrix of funccount counts
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Lays the counts of the hosts that counted out as a matrix, one row per host and one column per probe, with 0
    where a host did not report a probe.
options:
  _input:
    description:
      - Mapping of host name to the result of M(ebpf.bcc.funccount) on that host, as registered by the task (or by
        C(ansible.builtin.async_status)); P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
      - Hosts whose result is failed, unreachable or skipped, or has no counts, are left out; P(ebpf.bcc.failed_hosts#filter)
        lists them with the reason.
    type: dict
    required: true
  probes:
    description:
      - The columns, in this order. By default every probe any host reported, busiest of the fleet first.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Count of tcp_sendmsg per host
  ansible.builtin.debug:
    msg: "{{ dict(m.hosts | zip(m.counts | map('first'))) }}"
  vars:
    m: "{{ results | ebpf.bcc.host_matrix(probes=['tcp_sendmsg']) }}"
"""

RETURN = r"""
_value:
  description: The matrix.
  type: dict
  contains:
    hosts:
      description: Row labels, the hosts that counted, in natural order (web2 before web10).
      type: list
      elements: str
    probes:
      description: Column labels.
      type: list
      elements: str
    counts:
      description: One list per host, one count per probe.
      type: list
      elements: list
  sample: {"hosts": ["web1", "web2"], "probes": ["vfs_read", "vfs_write"], "counts": [[120, 7], [98, 0]]}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def host_matrix(results, probes=None):
    try:
        return _aggregate.matrix(results, probes)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('host_matrix: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'host_matrix': host_matrix}
