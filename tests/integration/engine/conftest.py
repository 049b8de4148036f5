# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes enginehelp importable from the tests here and publishes its fixtures."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from enginehelp import clean, fcwork, gc_workload, private_python, workload  # noqa: E402,F401  pylint: disable=wrong-import-position
