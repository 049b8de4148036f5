# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet_totals
short_description: Sum funccount counts over the hosts of a fleet
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Merges the RV(ebpf.bcc.funccount#module:counts) of every host that counted into one mapping of probe key to the
    sum of its counts over those hosts.
options:
  _input:
    description:
      - Mapping of host name to the result of M(ebpf.bcc.funccount) on that host, as registered by the task (or by
        C(ansible.builtin.async_status)); P(ebpf.bcc.collect_results#filter) builds it from C(hostvars).
      - Hosts whose result is failed, unreachable or skipped, or has no counts, are left out; P(ebpf.bcc.failed_hosts#filter)
        lists them with the reason.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the fleet's counts
  ansible.builtin.debug:
    msg: "{{ hostvars | ebpf.bcc.collect_results('sweep', ansible_play_hosts_all) | ebpf.bcc.fleet_totals }}"
"""

RETURN = r"""
_value:
  description: Probe key to the sum of its counts over the hosts that counted, highest first, then by key.
  type: dict
  sample: {"t:sched:sched_switch": 60512, "vfs_read": 13021}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def fleet_totals(results):
    try:
        return _aggregate.totals(results)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('fleet_totals: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'fleet_totals': fleet_totals}
