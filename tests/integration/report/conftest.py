# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes the chromium helper and the sample fleet importable from the tests here."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
