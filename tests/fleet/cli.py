"""python -m tests.fleet up|down|status|build

up [N] [--root R] [--hosts R,R,...]
        start a fleet and leave it running (it outlives this command); prints
        its slot, inventories and hosts as JSON. N hosts of root R (default:
        1 host, shared root); --hosts gives one root per host instead, e.g.
        --hosts shared,bookworm,trixie. Roots: shared, bullseye, bookworm, trixie.
down [--slot S] [--all]
        remove fleets from their state dirs and names: processes, namespaces,
        links, mounts, state. One of --slot (repeatable) or --all is required, so
        that a bare `down` cannot end fleets that other test runs are using.
status  the fleets that exist, their hosts and whether their sshd runs
build SUITE [--force]
        build (or show) the cached root filesystem for SUITE
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import config, fleet, rootfs
from .util import FleetError


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _summary(state: dict) -> dict:
    hosts = []
    for h in state.get("hosts", []):
        alive = fleet.Host(**h).running()
        hosts.append({k: h[k] for k in ("name", "address", "root", "netns", "pid")} | {"sshd_running": alive})
    return {
        "slot": state.get("slot"),
        "dir": state.get("dir"),
        "detached": state.get("detached"),
        "owner_pid": state.get("owner_pid"),
        "inventory": state.get("inventory"),
        "inventory_ssh": state.get("inventory_ssh"),
        "inventory_paramiko": state.get("inventory_paramiko"),
        "key_file": state.get("key_file"),
        "hosts": hosts,
        "timings": state.get("timings"),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.fleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("count", nargs="?", type=int, default=1)
    up.add_argument("--root", default=fleet.SHARED, choices=(fleet.SHARED, *config.SUITES))
    up.add_argument("--hosts", help="comma-separated roots, one per host")
    down = sub.add_parser("down")
    down.add_argument("--slot", type=int, action="append")
    down.add_argument("--all", action="store_true")
    sub.add_parser("status")
    b = sub.add_parser("build")
    b.add_argument("suite", choices=config.SUITES)
    b.add_argument("--force", action="store_true")
    args = p.parse_args(argv)

    try:
        if args.cmd == "up":
            hosts = args.hosts.split(",") if args.hosts else args.count
            f = fleet.Fleet(hosts, root=args.root, detached=True)
            try:
                f.up()
            except BaseException:
                f.down()
                raise
            _print(_summary(f.describe()))
            # Detached: this process exits, the fleet stays.
            fleet._LIVE.discard(f)
            return 0
        if args.cmd == "down":
            if not args.slot and not args.all:
                print("down: give --slot S for a fleet of yours (python -m tests.fleet status lists them), "
                      "or --all to end every fleet on this machine", file=sys.stderr)
                return 2
            slots = fleet.used_slots() if args.all else args.slot
            results = [fleet.teardown_slot(s) for s in slots]
            if not results:
                print("no fleet is up", file=sys.stderr)
            _print(results)
            return 0
        if args.cmd == "status":
            out = []
            for s in fleet.used_slots():
                st = fleet.read_state(s)
                out.append(_summary(st) if st else {"slot": s, "state": "no state.json (left over; run down)"})
            _print({"fleets": out, "cached_roots": [
                {k: m.get(k) for k in ("suite", "key", "path", "built_at", "size_bytes")} for m in rootfs.list_cached()
            ]})
            return 0
        if args.cmd == "build":
            t = time.monotonic()
            m = rootfs.ensure_rootfs(args.suite, force=args.force)
            m["seconds"] = round(time.monotonic() - t, 2)
            m.pop("versions", None)
            _print(m)
            return 0
    except FleetError as exc:
        print(f"python -m tests.fleet {args.cmd}: {exc}", file=sys.stderr)
        return 1
    return 2
