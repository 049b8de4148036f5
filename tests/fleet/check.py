"""Is anything of the harness left on this machine? (used by tests after teardown)"""

from __future__ import annotations

import json
import os
import subprocess

from . import config
from .util import pid_alive


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(config.NETNS_PREFIX)]


def _links() -> list[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=False).stdout
    return [link["ifname"] for link in json.loads(out or "[]") if link["ifname"].startswith(config.LINK_PREFIX)]


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    return [m for m in points if m.startswith(config.STATE_ROOT) or m.startswith(f"/run/netns/{config.NETNS_PREFIX}")]


def _sshd_pids() -> list[int]:
    """sshd processes whose command line names a fleet config (shared or own root)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        # sshd retitles itself ("sshd: /usr/sbin/sshd -D -f ... [listener]"):
        # look at the whole command line, not at argv[0].
        line = b" ".join(args)
        if (line.startswith(b"sshd") or line.startswith(b"/usr/sbin/sshd")) and (
            config.STATE_ROOT.encode() + b"/" in line or b"sshd_config.ebpf-bcc-fleet" in line
        ):
            if pid_alive(int(d)):
                pids.append(int(d))
    return pids


def leftovers() -> dict:
    """Everything of every fleet that exists now; all lists empty means clean."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=False).stdout
    return {
        "netns": _netns(),
        "links": _links(),
        "mounts": _mounts(),
        "sshd": _sshd_pids(),
        "routes": [r for r in routes.splitlines() if r.split() and (r.split()[0].startswith(config.NET_PREFIX + ".") or config.NET_SUPERNET in r)],
        "state_dirs": sorted(d for d in os.listdir(config.STATE_ROOT) if d.isdigit()) if os.path.isdir(config.STATE_ROOT) else [],
    }


def leftovers_of(slot: int, pids=(), state_dir: str | None = None) -> dict:
    """What is left of one fleet (slot): its namespaces, links, mounts, processes, state dir."""
    state_dir = state_dir or os.path.join(config.STATE_ROOT, str(slot))
    return {
        "netns": [n for n in _netns() if n.startswith(f"{config.NETNS_PREFIX}{slot}-")],
        "links": [x for x in _links() if x == config.bridge_name(slot) or x.startswith(f"{config.LINK_PREFIX}{slot}h")],
        "mounts": [m for m in _mounts() if m.startswith(state_dir + "/") or m.startswith(f"/run/netns/{config.NETNS_PREFIX}{slot}-")],
        "processes": [p for p in pids if p and pid_alive(p)],
        "state_dir": [state_dir] if os.path.exists(state_dir) else [],
    }


def fleet_pids(f) -> list[int]:
    """The pids a Fleet object recorded: its hosts' sshd and its proxy."""
    return [h.pid for h in f.hosts if h.pid] + ([f.proxy["pid"]] if f.proxy else [])


def clean(d: dict) -> bool:
    return not any(d.values())
