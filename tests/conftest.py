# SPDX-License-Identifier: GPL-3.0-or-later
"""Root-level pytest configuration for tests/unit and tests/integration."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# No per-example deadline: the 2-core test machines are often busy compiling
# BPF programs, and a timing flake is not a finding. In CI examples are
# derandomized so a run can be repeated exactly.
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``root`` when not running as root, saying why."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (run the tests as root)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
