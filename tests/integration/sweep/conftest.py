# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes sweephelp importable from the tests here and publishes the fleet fixtures."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sweephelp  # noqa: E402  pylint: disable=wrong-import-position
from tests.fleet.pytest_plugin import (  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
    fleet,
    pytest_configure,
    pytest_terminal_summary,
)

sweep_fleet = sweephelp.sweep_fleet
