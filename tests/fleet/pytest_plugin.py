"""pytest fixtures for the test fleet: `fleet` starts hosts for a test module.

Use from a conftest.py (the repository root must be importable, see
tests/integration/fleet/conftest.py):

    from tests.fleet.pytest_plugin import (  # noqa: F401
        fleet, fleet_configure as pytest_configure,
        fleet_terminal_summary as pytest_terminal_summary)

`fleet` is a module-scoped factory: each call starts a Fleet (tests.fleet.Fleet)
and returns it up and ready; all fleets a module started are torn down after
its last test, also when a test fails, on Ctrl-C and on SIGTERM (turned into
KeyboardInterrupt). If pytest itself is killed, the hosts' sshd get SIGTERM
(parent-death signal) and the next fleet, or `python -m tests.fleet down`,
removes what is left.

    def test_ping(fleet):
        f = fleet(6)                       # six shared-root hosts
        f.ansible("fleet_paramiko", "ping", forks=3)

    @pytest.mark.rootfs
    def test_install(fleet):
        f = fleet(["bookworm"])            # one own-root Debian 12 host

Tests that start own-root hosts should carry the `rootfs` marker (a root
filesystem build takes a minute the first time): `-m "not rootfs"` skips them.
Time measurements of every fleet are printed at the end of the run and appended
to fleet_config.TIMINGS_FILE.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from . import config as fleet_config
from .fleet import SHARED, Fleet

TIMINGS: list[dict] = []


def record(entry: dict) -> None:
    """Keep a time measurement for the end-of-run summary (and TIMINGS_FILE)."""
    entry = {**entry, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    TIMINGS.append(entry)
    try:
        os.makedirs(os.path.dirname(fleet_config.TIMINGS_FILE), exist_ok=True)
        with open(fleet_config.TIMINGS_FILE, "a") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError:
        pass


def _fleet_entry(f: Fleet, what: str) -> dict:
    return {
        "what": what,
        "hosts": len(f.roots),
        "roots": sorted(set(f.roots)),
        **{k: f.timings.get(k) for k in ("rootfs_s", "rootfs_cached", "up_s", "ready_s", "down_s")},
    }


@pytest.fixture(scope="module")
def fleet(request):
    """Factory fleet(hosts=1, root="shared", **kw) -> a running tests.fleet.Fleet."""
    if os.geteuid() != 0:
        pytest.skip("the test fleet needs root (network namespaces, mounts, sshd)")
    started: list[Fleet] = []

    def start(hosts=1, root: str = SHARED, **kw) -> Fleet:
        f = Fleet(hosts, root, **kw)
        started.append(f)
        f.__enter__()
        return f

    try:
        yield start
    finally:
        errors = []
        for f in reversed(started):
            try:
                f.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - tear every fleet down, then fail
                errors.append(exc)
            if f.timings.get("up_s") is not None:
                record(_fleet_entry(f, request.node.name))
        if errors:
            raise errors[0]


def fleet_configure(config) -> None:
    config.addinivalue_line("markers", "rootfs: starts own-root fleet hosts (debootstrap root build, ~1 min uncached)")
    config.addinivalue_line("markers", "fleet: starts SSH hosts in network namespaces (tests/fleet)")


def fleet_terminal_summary(terminalreporter) -> None:
    if not TIMINGS:
        return
    tr = terminalreporter
    tr.section("fleet time measurements")
    for e in TIMINGS:
        tr.write_line(json.dumps(e, sort_keys=True))


# For a conftest that wants only this plugin's hooks under their usual names.
pytest_configure = fleet_configure
pytest_terminal_summary = fleet_terminal_summary
