# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: failed_hosts
short_description: The hosts of a funccount sweep that did not count, with the reason
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Every aggregation filter of this collection leaves out the hosts that did not count. This filter lists them, so
    that no host is ever dropped silently.
  - A host did not count when its result is not a mapping, is C(unreachable), C(failed) or C(skipped), or has no
    RV(ebpf.bcc.funccount#module:counts) of non-negative integers.
  - "The reason is the result's C(msg): C(unreachable: <msg>) for unreachable hosts, C(skipped: <skip_reason>) for
    skipped tasks."
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
- name: Fail when any host did not count
  ansible.builtin.assert:
    that: results | ebpf.bcc.failed_hosts | length == 0
    fail_msg: "{{ results | ebpf.bcc.failed_hosts }}"
  vars:
    results: "{{ hostvars | ebpf.bcc.collect_results('sweep', ansible_play_hosts_all) }}"
"""

RETURN = r"""
_value:
  description: Host name to the reason, hosts in natural order (web2 before web10).
  type: dict
  sample: {"db3": "unreachable: Failed to connect to the host via ssh: Connection refused",
           "web7": "Failed to import the required Python library (bcc) on web7."}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.bcc.plugins.module_utils import _aggregate


def failed_hosts(results):
    try:
        return _aggregate.failed_hosts(results)
    except _aggregate.AggregateError as exc:
        raise AnsibleFilterError('failed_hosts: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'failed_hosts': failed_hosts}
