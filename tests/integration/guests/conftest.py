"""Guest harness tests: boot stock Debian kernels under qemu (marker `guest`)."""

from __future__ import annotations

import os
import sys

# The harness lives in tests/guests; make the repository root importable
# whatever directory pytest was started from.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.guests import pytest_plugin  # noqa: E402  pylint: disable=wrong-import-position

guest = pytest_plugin.guest
pytest_configure = pytest_plugin.pytest_configure
pytest_terminal_summary = pytest_plugin.pytest_terminal_summary
