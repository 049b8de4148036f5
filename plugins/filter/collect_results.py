# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: collect_results
short_description: Gather the registered funccount result of every host into one mapping
version_added: 0.2.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Builds the host to result mapping the other filters of this collection take, from C(hostvars), for every host
    of a list (typically C(ansible_play_hosts_all), which still holds the hosts that failed or were unreachable).
  - A host that has no such variable (it never ran the task) gets a failed result saying so, and a host that is not
    in the inventory one saying that, so that it shows up in P(ebpf.bcc.failed_hosts#filter) instead of vanishing.
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  var:
    description: The name the task registered its result under.
    type: str
    required: true
  hosts:
    description: The hosts to collect, in this order.
    type: list
    elements: str
    required: true
positional: var, hosts
"""

EXAMPLES = r"""
- name: Count on every host
  ebpf.bcc.funccount:
    patterns: ["t:sched:sched_switch"]
  register: sweep
  ignore_errors: true
  ignore_unreachable: true

- name: Show the fleet totals
  ansible.builtin.debug:
    msg: "{{ hostvars | ebpf.bcc.collect_results('sweep', ansible_play_hosts_all) | ebpf.bcc.fleet_totals }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: Host name to its registered result, in the order of O(hosts).
  type: dict
  sample: {"web1": {"counts": {"t:sched:sched_switch": 10342}, "duration": 10.0003},
           "web2": {"failed": true, "msg": "no result registered as 'sweep' for web2: it did not run the task"}}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def collect_results(hostvars, var, hosts):
    if not isinstance(var, str) or not var:
        raise AnsibleFilterError('collect_results: var must be the name of a registered variable, got %r' % (var,))
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError('collect_results: hosts must be a list of host names, got %s' % type(hosts).__name__)
    collected = {}
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else None
        if not isinstance(host_vars, Mapping):
            collected[host] = {'failed': True, 'msg': '%s is not in the inventory' % host}
        elif var not in host_vars:
            collected[host] = {'failed': True, 'msg': "no result registered as '%s' for %s: it did not run the task" % (var, host)}
        else:
            collected[host] = host_vars[var]
    return collected


class FilterModule(object):
    def filters(self):
        return {'collect_results': collect_results}
