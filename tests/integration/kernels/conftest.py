"""Kernel-function counting on guests booted with stock Debian kernels (marker `guest`).

The guest is booted once per suite for every module here (package scope): test_kernel_functions.py and
test_mixed_sweep.py share it.  test_mixed_sweep.py also starts namespace hosts (tests/fleet)."""

from __future__ import annotations

import os
import sys

# The harnesses live in tests/guests and tests/fleet; make the repository root importable
# whatever directory pytest was started from.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fleet import pytest_plugin as fleet_plugin  # noqa: E402  pylint: disable=wrong-import-position
from tests.guests import pytest_plugin  # noqa: E402  pylint: disable=wrong-import-position

guest = pytest_plugin.guest_per_directory
fleet = fleet_plugin.fleet


def pytest_configure(config):
    pytest_plugin.pytest_configure(config)
    fleet_plugin.fleet_configure(config)


def pytest_terminal_summary(terminalreporter):
    pytest_plugin.pytest_terminal_summary(terminalreporter)
    fleet_plugin.fleet_terminal_summary(terminalreporter)
