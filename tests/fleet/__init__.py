"""A fleet of real SSH hosts on this machine, one network namespace each.

See README.md in this directory. Public API:

    from tests.fleet import Fleet
    with Fleet(6) as f:                       # six shared-root hosts
        f.ansible("fleet_paramiko", "ping", forks=3)
    with Fleet(["bookworm"]) as f:            # one own-root Debian 12 host
        f.ssh("fleet-01", "apt-get install -y hello")
"""

from __future__ import annotations

from .config import SUITES
from .fleet import SHARED, Fleet, Host, teardown_all, teardown_slot, used_slots
from .rootfs import ensure_rootfs
from .util import FleetError

__all__ = [
    "SHARED",
    "SUITES",
    "Fleet",
    "FleetError",
    "Host",
    "ensure_rootfs",
    "teardown_all",
    "teardown_slot",
    "used_slots",
]
