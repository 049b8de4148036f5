# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: rates
short_description: Per-second rates of funccount counts, per host and for the fleet
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Divides each host's counts by the length of its window as measured on that host
    (RV(ebpf.bcc.funccount#module:duration)), so that hosts whose windows differ slightly still compare.
  - The fleet's rate of a probe is the sum of the hosts' rates (events per second over the whole fleet).
  - A host without a window (a check-mode result, duration 0) has no rates and adds nothing to the fleet's.
  - Rates are rounded to 6 decimals.
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
- name: Fleet-wide calls per second of vfs_read
  ansible.builtin.debug:
    msg: "{{ (results | ebpf.bcc.rates).fleet['vfs_read'] | default(0) }}"
"""

RETURN = r"""
_value:
  description: The rates.
  type: dict
  contains:
    hosts:
      description: Host to probe key to events per second, busiest first; hosts in natural order.
      type: dict
    fleet:
      description: Probe key to the sum of the hosts' rates, highest first.
      type: dict
  sample: {"hosts": {"web1": {"vfs_read": 12.0}, "web2": {"vfs_read": 9.8}}, "fleet": {"vfs_read": 21.8}}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def rates(results):
    try:
        return _aggregate.rates(results)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('rates: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'rates': rates}
