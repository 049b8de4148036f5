"""Tests of the fleet harness itself (tests/fleet): real namespaces, sshd, ansible."""

from __future__ import annotations

import os
import sys

# The harness lives in tests/fleet; make the repository root importable
# whatever directory pytest was started from.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fleet.pytest_plugin import (  # noqa: E402,F401 pylint: disable=unused-import
    fleet,
    pytest_configure,
    pytest_terminal_summary,
)
