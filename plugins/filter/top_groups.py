# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: top_groups
short_description: The processes, commands or cgroups of a fleet that caused the most events
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Ranks the entries of RV(ebpf.bcc.funccount#module:groups) (counted with O(ebpf.bcc.funccount#module:group_by))
    of every host that counted, busiest first, ties broken by host, probe and group.
  - Hosts counted without O(ebpf.bcc.funccount#module:group_by) add nothing.
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
    description: Return at most this many entries; V(0) returns all.
    type: int
    default: 10
  probe:
    description: Only entries of this probe.
    type: str
"""

EXAMPLES = r"""
- name: Which processes call tcp_sendmsg most, fleet-wide
  ansible.builtin.debug:
    msg: "{{ item.host }}: {{ item.group }} {{ item.count }}"
  loop: "{{ results | ebpf.bcc.top_groups(5, probe='tcp_sendmsg') }}"
"""

RETURN = r"""
_value:
  description: One entry per host, probe and group, busiest first.
  type: list
  elements: dict
  contains:
    host:
      description: The host.
      type: str
    probe:
      description: The probe key.
      type: str
    group:
      description: V(pid 4242 (nginx)) with group_by=pid, the command name with group_by=comm, the cgroup path with group_by=cgroup.
      type: str
    count:
      description: Events of the probe caused by the group.
      type: int
    rate:
      description: That count per second of the host's window, or null without a window.
      type: float
    pid:
      description: As the host gave it, with group_by=pid.
      type: int
    comm:
      description: As the host gave it, with group_by=pid or comm.
      type: str
    cgroup:
      description: As the host gave it, with group_by=cgroup.
      type: str
    cgroup_id:
      description: As the host gave it, with group_by=cgroup.
      type: int
  sample: [{"host": "web3", "probe": "c:malloc", "group": "pid 4242 (nginx)", "count": 5120, "rate": 512.0, "pid": 4242,
            "comm": "nginx"}]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def top_groups(results, n=10, probe=None):
    try:
        return _aggregate.top_groups(results, n, probe)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('top_groups: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'top_groups': top_groups}
