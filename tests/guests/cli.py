"""python -m tests.guests build|up|down|status|ssh [suite]

build   build the suite's image unless it is cached (prints the manifest)
up      boot the suite's guest and leave it running (prints the state,
        including the inventory path); the guest outlives this command
down    stop whatever guest the state file describes (poweroff, then kill)
status  print the state file and whether its qemu still runs
ssh     run a command in the running guest: ssh -- uname -r
prune   delete cached images whose key is not current (old recipes)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import boot, build, config


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.guests", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("build", "up"):
        s = sub.add_parser(name)
        s.add_argument("suite", nargs="?", default=config.DEFAULT_SUITE, choices=sorted(config.SUITES))
        if name == "build":
            s.add_argument("--force", action="store_true", help="rebuild even if cached")
        else:
            s.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                           help="wait this long for another running guest to finish")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("prune")
    s = sub.add_parser("ssh")
    s.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)

    if args.cmd == "build":
        suite = config.get_suite(args.suite)
        t = time.monotonic()
        cached = build.image_ready(suite) and not args.force
        manifest = build.ensure_image(suite, force=args.force)
        _print({"image_dir": suite.image_dir, "cached": cached,
                "seconds": round(time.monotonic() - t, 2), "manifest": manifest})
        return 0
    if args.cmd == "up":
        g = boot.Guest(args.suite, tie_to_parent=False, wait=args.wait)
        g.up()
        _print({**boot.read_state(), "timings": g.timings})
        return 0
    if args.cmd == "down":
        state = boot.down_from_state()
        if state is None:
            print("no guest running", file=sys.stderr)
        else:
            _print({"stopped": state["suite"], "pid": state["pid"], "shutdown_s": state["shutdown_s"]})
        return 0
    if args.cmd == "status":
        _print(boot.status())
        return 0
    if args.cmd == "prune":
        _print({"removed": build.prune()})
        return 0
    if args.cmd == "ssh":
        state = boot.read_state()
        if not state:
            print("no guest running; run `python -m tests.guests up` first", file=sys.stderr)
            return 1
        g = boot.Guest.from_state(state)
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        res = g.ssh(" ".join(cmd) or "true", check=False)
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        return res.returncode
    return 2
