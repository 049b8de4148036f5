#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bcc_facts
short_description: Report bcc, kernel headers and the eBPF attach mechanisms the running kernel offers
version_added: 0.1.0
description:
  - Sets C(ansible_facts.bcc) with the bcc version, the kernel release, the kernel headers bcc would compile
    with (exact or nearest), whether tracefs and debugfs are mounted, and which attach mechanisms the running
    kernel offers.
  - Every mechanism is probed for real, by loading a two-instruction program and attaching it for an instant
    through that mechanism; nothing is guessed from version numbers. Nothing stays loaded afterwards.
  - Works without bcc installed (then RV(ansible_facts.bcc.installed) is V(false)), so it can take a capability
    census of a fleet before anything is installed.
author:
  - ebpf.bcc developers (@ebpf-bcc)
requirements:
  - root on the target (C(become=true)), to load the probe programs
attributes:
  check_mode:
    description: Probing changes nothing, so it also runs in check mode.
    support: full
  diff_mode:
    description: Nothing is changed.
    support: none
options: {}
"""

EXAMPLES = r"""
- name: Take a capability census of the fleet
  ebpf.bcc.bcc_facts:
  become: true

- name: List hosts whose kernel cannot count kernel functions
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ ansible_facts.bcc.reasons.kprobes }}"
  when: not ansible_facts.bcc.mechanisms.kprobes
"""

RETURN = r"""
ansible_facts:
  description: Facts about bcc and this kernel.
  returned: always
  type: dict
  contains:
    bcc:
      description: Everything below.
      type: dict
      contains:
        installed:
          description: Whether bcc's Python bindings import on this host.
          type: bool
          sample: true
        version:
          description: bcc version, or null when not installed.
          type: str
          sample: 0.26.0
        python:
          description: The interpreter that imports bcc.
          type: str
          sample: /usr/bin/python3
        kernel_release:
          description: Release of the running kernel.
          type: str
          sample: 6.1.0-27-amd64
        headers:
          description:
            - Kernel headers bcc compiles with. C(kind) is V(exact) (for this kernel), V(nearest) (another installed
              version, used because a counting program reads no kernel structure) or null (none installed).
          type: dict
          sample: {"kind": "nearest", "path": "/usr/src/linux-headers-6.1.0-27-amd64"}
        tracefs:
          description: Where tracefs is mounted, or null.
          type: str
          sample: /sys/kernel/tracing
        debugfs:
          description: Whether debugfs is mounted at /sys/kernel/debug.
          type: bool
          sample: true
        btf:
          description: Whether the kernel exposes BTF (/sys/kernel/btf/vmlinux).
          type: bool
          sample: true
        lockdown:
          description: Kernel lockdown mode, or null when securityfs is not mounted.
          type: str
          sample: integrity
        mechanisms:
          description:
            - Each attach mechanism and whether it works here - V(kprobes), V(kprobe_multi), V(kprobe_cookies),
              V(uprobes), V(uprobe_multi), V(attach_cookies), V(perf_link), V(raw_tracepoints),
              V(raw_tracepoint_cookies), V(tracepoints), V(fentry).
          type: dict
          sample: {"kprobes": false, "kprobe_multi": false, "uprobe_multi": true, "raw_tracepoints": true}
        reasons:
          description: For each unavailable mechanism, why.
          type: dict
          sample: {"kprobes": "the kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe); it was built without CONFIG_KPROBES"}
  sample: {"bcc": {"installed": true, "version": "0.26.0", "mechanisms": {"kprobes": false}}}
"""

import os
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.respawn import has_respawned, probe_interpreters_for_module, respawn_module

from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc
from ansible_collections.ebpf.bcc.plugins.module_utils import _capabilities
from ansible_collections.ebpf.bcc.plugins.module_utils import _host

SYSTEM_INTERPRETERS = _bcc.SYSTEM_INTERPRETERS


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    if not _bcc.HAS_BCC and not has_respawned():
        interpreter = probe_interpreters_for_module(SYSTEM_INTERPRETERS, 'bcc')
        if interpreter:
            respawn_module(interpreter)
    if os.geteuid() != 0:
        module.fail_json(msg='Probing the kernel needs root (it loads BPF programs for an instant); run the task '
                             'with become: true.')
    caps = _capabilities.probe_all()
    kind, trees = _host.nearest_headers()
    facts = {
        'installed': _bcc.HAS_BCC,
        'version': _bcc.version(),
        'python': sys.executable if _bcc.HAS_BCC else None,
        'kernel_release': _host.kernel_release(),
        'headers': {'kind': kind, 'path': ' + '.join(trees) if trees else None},
        'tracefs': caps.pop('tracefs'),
        'debugfs': _host.is_mounted('/sys/kernel/debug', 'debugfs'),
        'btf': caps.pop('btf'),
        'lockdown': caps.pop('lockdown'),
        'reasons': caps.pop('reasons'),
        'mechanisms': caps,
    }
    module.exit_json(changed=False, ansible_facts={'bcc': facts})


if __name__ == '__main__':
    main()
