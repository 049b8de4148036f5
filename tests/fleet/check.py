"""Is anything of the harness left on this machine? (used by tests after teardown)"""

from __future__ import annotations

import json
import os
import subprocess

from . import config
from .util import pid_alive


def leftovers(fleet=None) -> dict:
    """Whatever of the harness (or of one fleet) still exists; empty lists mean clean."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    ns = [line.split()[0] for line in ns if line.startswith(config.NETNS_PREFIX)]
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout)
    links = [link["ifname"] for link in links if link["ifname"].startswith(config.LINK_PREFIX)]
    with open("/proc/self/mountinfo") as fh:
        mounts = [
            line.split()[4]
            for line in fh
            if config.STATE_ROOT in line.split()[4] or f"/run/netns/{config.NETNS_PREFIX}" in line.split()[4]
        ]
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    routes = [r for r in routes.splitlines() if config.NET_PREFIX + "." in r]
    out = {"netns": ns, "links": links, "mounts": mounts, "routes": routes}
    if fleet is not None:
        slot = fleet.slot
        out = {
            "netns": [n for n in ns if n.startswith(f"{config.NETNS_PREFIX}{slot}-")],
            "links": [x for x in links if x in {config.bridge_name(slot)} | {h.veth for h in fleet.hosts}],
            "mounts": [m for m in mounts if m.startswith(fleet.dir)],
            "processes": [h.pid for h in fleet.hosts if h.pid and pid_alive(h.pid)]
            + ([fleet.proxy["pid"]] if fleet.proxy and pid_alive(fleet.proxy["pid"]) else []),
            "state_dir": [fleet.dir] if fleet.dir and os.path.exists(fleet.dir) else [],
        }
    return out


def clean(d: dict) -> bool:
    return not any(d.values())
