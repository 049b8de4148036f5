"""What a guest image is made of, and where images and running guests live.

Everything that changes the content of an image goes into the cache key, so a
change here produces a new image directory instead of silently reusing an old
one. Bump RECIPE_VERSION when the build steps change in a way the package lists
do not show.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

RECIPE_VERSION = "3"

MIRROR = os.environ.get("EBPF_BCC_GUEST_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "EBPF_BCC_GUEST_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)

# Outside the repository on purpose: a fresh clone on the same machine must
# find the images an earlier run built.
CACHE_ROOT = os.environ.get("EBPF_BCC_GUEST_CACHE", "/var/cache/ebpf-bcc/guests")
DEB_CACHE = os.environ.get("EBPF_BCC_GUEST_DEBS", "/var/cache/ebpf-bcc/debs")
RUN_DIR = os.environ.get("EBPF_BCC_GUEST_RUN", os.path.join(CACHE_ROOT, "run"))

# debootstrap --variant=minbase --include=...: what the guest needs to boot
# with systemd, take SSH logins and run Ansible modules (python3-apt lets the
# apt module inspect packages without trying to install python3-apt itself).
BASE_PACKAGES = (
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "iproute2",
    "openssh-server",
    "python3",
    "python3-apt",
    "initramfs-tools",
    "zstd",
)

# Installed in a chroot after debootstrap, together with the kernel image and
# the headers of exactly that kernel ABI (derived at build time).
BCC_PACKAGES = ("bpfcc-tools", "python3-bpfcc")

# Modules the initrd needs to find and mount the root disk; nothing else.
# virtio_net too, so eth0 exists when the static address is set.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "ext4")

IMAGE_SIZE = "4G"

QEMU_BINARY = "qemu-system-x86_64"
QEMU_ACCEL = ("-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2048")
KERNEL_CMDLINE = (
    "root=/dev/vda rw console=ttyS0 quiet mitigations=off net.ifnames=0 "
    "fsck.mode=skip"
)

GUEST_ADDRESS = "10.0.2.15/24"
GUEST_GATEWAY = "10.0.2.2"


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    expected_kernel_prefix: str
    security_suite: str
    extra_packages: tuple = field(default=())
    # Its ssh.socket has Accept=yes: one ssh@ service instance per connection, whose leftover
    # processes systemd kills when the connection closes (background jobs, Ansible's async tasks).
    # The image keeps them (KillMode=process for ssh@.service).
    ssh_per_connection: bool = False

    @property
    def packages(self) -> tuple:
        return BASE_PACKAGES + BCC_PACKAGES + self.extra_packages

    def key(self) -> str:
        material = json.dumps(
            {
                "suite": self.name,
                "base": sorted(BASE_PACKAGES),
                "bcc": sorted(BCC_PACKAGES),
                "extra": sorted(self.extra_packages),
                "initrd": sorted(INITRD_MODULES),
                "size": IMAGE_SIZE,
                "recipe": RECIPE_VERSION,
                # only where it applies, so the other suites keep their images
                **({"ssh_per_connection": "KillMode=process"} if self.ssh_per_connection else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:12]

    @property
    def image_dir(self) -> str:
        return os.path.join(CACHE_ROOT, f"{self.name}-{self.key()}")


SUITES = {
    s.name: s
    for s in (
        Suite("bookworm", "12", "6.1.", "bookworm-security"),
        Suite("trixie", "13", "6.12.", "trixie-security"),
        Suite("bullseye", "11", "5.10.", "bullseye-security", ssh_per_connection=True),
    )
}

DEFAULT_SUITE = "bookworm"


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise SystemExit(
            f"unknown guest suite {name!r}; choose one of {', '.join(SUITES)}"
        ) from None
