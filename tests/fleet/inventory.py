"""Ansible inventories for a running fleet (YAML, in the fleet's state dir).

inventory.yml          every host twice, under two names:
                         fleet-01 ...           groups fleet, fleet_ssh (OpenSSH)
                         fleet-01-paramiko ...  group fleet_paramiko (paramiko)
                       plus fleet_<root> groups (fleet_shared, fleet_bookworm,
                       ...) of the OpenSSH names. Target fleet, fleet_ssh or
                       fleet_paramiko; `all` has every host twice.
inventory-ssh.yml      every host once (fleet-01 ...), over OpenSSH: groups
inventory-paramiko.yml fleet and fleet_<root>, same for paramiko.

OpenSSH checks host keys against the fleet's own known_hosts (the harness made
the host keys); the paramiko plugin can only read ~/.ssh/known_hosts, so for it
host key checking is off (ansible_paramiko_host_key_checking: false).
"""

from __future__ import annotations

import os
import shlex

import yaml


def _common(fleet) -> dict:
    return {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": fleet.key_file,
    }


def _ssh_vars(fleet) -> dict:
    return {
        "ansible_connection": "ssh",
        "ansible_ssh_common_args": " ".join(shlex.quote(a) for a in fleet.ssh_args()),
    }


def _paramiko_vars() -> dict:
    return {
        "ansible_connection": "paramiko",
        "ansible_paramiko_host_key_checking": False,
    }


def _hostvars(h) -> dict:
    return {
        "ansible_host": h.address,
        "fleet_root": h.root,
        "fleet_netns": h.netns,
        "fleet_hostname": h.name,
    }


def _root_groups(fleet, suffix: str = "") -> dict:
    groups: dict = {}
    for h in fleet.hosts:
        groups.setdefault(f"fleet_{h.root}", {"hosts": {}})["hosts"][h.name + suffix] = None
    return groups


def build(fleet, connection: str | None = None) -> dict:
    """The inventory as a dict: connection None (both), "ssh" or "paramiko"."""
    if connection in ("ssh", "paramiko"):
        conn_vars = _ssh_vars(fleet) if connection == "ssh" else _paramiko_vars()
        children = {"fleet": {"hosts": {h.name: _hostvars(h) for h in fleet.hosts}}}
        children.update(_root_groups(fleet))
        return {"all": {"vars": {**_common(fleet), **conn_vars}, "children": children}}
    children = {
        "fleet": {"children": {"fleet_ssh": None}},
        "fleet_ssh": {"hosts": {h.name: _hostvars(h) for h in fleet.hosts}, "vars": _ssh_vars(fleet)},
        "fleet_paramiko": {
            "hosts": {h.name + "-paramiko": _hostvars(h) for h in fleet.hosts},
            "vars": _paramiko_vars(),
        },
    }
    children.update(_root_groups(fleet))
    return {"all": {"vars": _common(fleet), "children": children}}


def write_all(fleet) -> None:
    header = f"# ebpf.bcc test fleet, slot {fleet.slot}: written by tests/fleet (see tests/fleet/README.md)\n"
    for conn, path in ((None, fleet.inventory), ("ssh", fleet.inventory_for("ssh")), ("paramiko", fleet.inventory_for("paramiko"))):
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(header)
            yaml.safe_dump(build(fleet, conn), fh, default_flow_style=False, sort_keys=False)
        os.replace(tmp, path)
