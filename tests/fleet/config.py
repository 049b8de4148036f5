"""Where fleets and cached root filesystems live, and what a root filesystem holds.

Everything that changes the content of a cached root filesystem goes into its
cache key (suite, package list, mirror, RECIPE_VERSION), so a change here
builds a new root next to the old one instead of silently reusing a stale one.
Bump RECIPE_VERSION when the build steps in rootfs.py change.
"""

from __future__ import annotations

import hashlib
import json
import os

RECIPE_VERSION = "1"

# Outside the repository on purpose: a fresh clone on the same machine (CI)
# finds the roots an earlier run built.
CACHE_ROOT = os.environ.get("EBPF_BCC_ROOTFS_CACHE", "/var/cache/ebpf-bcc/rootfs")

# One directory per running fleet (STATE_ROOT/<slot>/): keys, sshd configs,
# overlay upper dirs, inventory, state.json. `python -m tests.fleet down`
# cleans from here after a crash. On disk, not tmpfs: an own-root host's
# overlay upper dir holds whatever the tests apt-get install into it.
STATE_ROOT = os.environ.get("EBPF_BCC_FLEET_STATE", "/var/tmp/ebpf-bcc/fleet")

MIRROR = os.environ.get("EBPF_BCC_ROOTFS_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "EBPF_BCC_ROOTFS_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)

# Time measurements of fleets started by the pytest fixture, one JSON per line.
TIMINGS_FILE = os.environ.get("EBPF_BCC_FLEET_TIMINGS", "/var/tmp/ebpf-bcc/fleet-timings.jsonl")

SUITES = ("bullseye", "bookworm", "trixie")

# debootstrap --variant=minbase --include=...: what a host needs to take SSH
# logins and run Ansible modules (python3-apt lets ansible.builtin.apt work
# without first installing python3-apt itself; iproute2 gives network facts).
BASE_PACKAGES = (
    "python3",
    "python3-apt",
    "openssh-server",
    "iproute2",
)

# Addresses exist only on this machine: fleet slot S uses 10.213.S.0/24 on a
# bridge of its own (10.213.S.1 is the bridge, hosts are 10.213.S.11...).
# While any fleet is up, a blackhole route for the whole /16 keeps a packet
# for a host that is gone from ever leaving through the default route.
NET_PREFIX = "10.213"
NET_SUPERNET = "10.213.0.0/16"
MAX_SLOTS = 64
FIRST_HOST_OCTET = 11
MAX_HOSTS = 200

# Names of everything the harness creates, derived from the slot, so that
# `down` can find them even when state.json was never written.
NETNS_PREFIX = "ebpf-bcc-fleet"
LINK_PREFIX = "ebfl"

# The HTTP proxy each fleet runs on its bridge address, so that own-root hosts
# can apt-get from the Debian archive while their namespace can only reach
# addresses the harness created. It forwards only to these hosts.
PROXY_PORT = 3142
PROXY_ALLOW = tuple(
    os.environ.get(
        "EBPF_BCC_FLEET_PROXY_ALLOW", "deb.debian.org security.debian.org"
    ).split()
)

# Package files the proxy downloaded, kept across runs (see proxy.py); empty
# to turn the cache off.
PROXY_CACHE = os.environ.get("EBPF_BCC_FLEET_PROXY_CACHE", "/var/cache/ebpf-bcc/apt-proxy")


def netns_name(slot: int, index: int) -> str:
    return f"{NETNS_PREFIX}{slot}-{index:02d}"


def bridge_name(slot: int) -> str:
    return f"{LINK_PREFIX}{slot}br"


def veth_name(slot: int, index: int) -> str:
    return f"{LINK_PREFIX}{slot}h{index:02d}"


def bridge_address(slot: int) -> str:
    return f"{NET_PREFIX}.{slot}.1"


def host_address(slot: int, index: int) -> str:
    return f"{NET_PREFIX}.{slot}.{FIRST_HOST_OCTET + index - 1}"


def host_name(index: int) -> str:
    return f"fleet-{index:02d}"


def rootfs_key(suite: str, packages=BASE_PACKAGES) -> str:
    blob = json.dumps(
        {
            "suite": suite,
            "packages": sorted(packages),
            "mirror": MIRROR,
            "security_mirror": SECURITY_MIRROR,
            "recipe": RECIPE_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def rootfs_dir(suite: str, packages=BASE_PACKAGES) -> str:
    return os.path.join(CACHE_ROOT, f"{suite}-{rootfs_key(suite, packages)}")
