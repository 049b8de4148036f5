"""The Ansible inventory for a booted guest: group `guests`, one host.

Works with both `ansible_connection=ssh` (the default) and `paramiko`: the
key, port and host-key settings below are read by both plugins.
"""

from __future__ import annotations

import json
import os

SSH_COMMON_ARGS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o IdentitiesOnly=yes -o LogLevel=ERROR"
)


def host_vars(guest) -> dict:
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": guest.port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": guest.key,
        "ansible_ssh_common_args": SSH_COMMON_ARGS,
        "ansible_host_key_checking": False,
        # bullseye's socket-activated sshd now and then drops a fresh connection.
        "ansible_ssh_retries": 3,
        "ansible_python_interpreter": "/usr/bin/python3",
        "guest_suite": guest.suite.name,
        "guest_debian_version": guest.suite.version,
        "guest_kernel_release": guest.kernel_release,
    }


def inventory_data(guest) -> dict:
    return {"all": {"children": {"guests": {"hosts": {guest.host_name: host_vars(guest)}}}}}


def write_inventory(path: str, guest) -> str:
    data = inventory_data(guest)
    try:
        import yaml
    except ImportError:  # JSON is YAML too
        text = json.dumps(data, indent=2)
    else:
        text = yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("# written by tests/guests; removed when the guest shuts down\n")
        fh.write(text)
    os.rename(tmp, path)
    return path
