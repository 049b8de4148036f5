# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: table
short_description: Format funccount counts as aligned text lines, busiest first
version_added: 0.1.0
author:
  - ebpf.bcc developers (@ebpf-bcc)
description:
  - Turns a mapping of probe key to count (RV(ebpf.bcc.funccount#module:counts)) into a list of aligned lines,
    highest count first, for reading in a terminal.
options:
  _input:
    description: Mapping of probe key to count.
    type: dict
    required: true
  top:
    description: Show at most this many probes; V(0) shows all.
    type: int
    default: 20
  seconds:
    description: When given, add a column with the rate per second.
    type: float
"""

EXAMPLES = r"""
- name: Print the ten busiest probes with their rate
  ansible.builtin.debug:
    msg: "{{ result.counts | ebpf.bcc.table(top=10, seconds=result.duration) }}"
"""

RETURN = r"""
_value:
  description: One header line, then one line per probe.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def table(counts, top=20, seconds=None):
    if not isinstance(counts, dict):
        raise AnsibleFilterError('table expects a mapping of probe to count, got %s' % type(counts).__name__)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if top:
        items = items[:int(top)]
    width = max([len('probe')] + [len(k) for k, _v in items])
    if seconds:
        lines = ['%-*s %14s %14s' % (width, 'probe', 'count', 'per second')]
        lines += ['%-*s %14d %14.1f' % (width, k, v, v / float(seconds)) for k, v in items]
    else:
        lines = ['%-*s %14s' % (width, 'probe', 'count')]
        lines += ['%-*s %14d' % (width, k, v) for k, v in items]
    return lines


class FilterModule(object):
    def filters(self):
        return {'table': table}
