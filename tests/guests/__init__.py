"""Guests that boot stock Debian kernels under qemu (TCG) for kernel-side tests.

See README.md in this directory. Public API:

    from tests.guests import Guest, ensure_image, get_suite
    with Guest("bookworm") as g:
        g.ssh("uname -r")
"""

from __future__ import annotations

from .build import ensure_image
from .config import SUITES, get_suite

__all__ = ["SUITES", "ensure_image", "get_suite"]
