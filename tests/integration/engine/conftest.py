# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes enginehelp importable from the tests here and publishes its fixtures."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import enginehelp  # noqa: E402  pylint: disable=wrong-import-position

clean = enginehelp.clean
fcwork = enginehelp.fcwork
gc_workload = enginehelp.gc_workload
private_python = enginehelp.private_python
workload = enginehelp.workload
