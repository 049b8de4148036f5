"""pytest fixtures for guests: `guest` boots one guest per test module.

Use from a conftest.py:

    from tests.guests.pytest_plugin import guest  # noqa: F401

or, to boot each suite once for all the test modules of that directory (package
scope; tests/integration/kernels does this):

    guest = pytest_plugin.guest_per_directory

By default `guest` is parametrized over the suites in EBPF_BCC_GUEST_SUITES
(space or comma separated, "all" for every suite; default "bookworm"), so a
module's tests run once per suite, one guest at a time. Pick suites for one
module with indirect parametrization:

    @pytest.mark.parametrize("guest", ["trixie"], indirect=True)

The guest is always shut down: on teardown, on Ctrl-C/SIGTERM (the context
manager turns them into KeyboardInterrupt), and if pytest itself is killed
(qemu gets SIGTERM when its parent dies; `python -m tests.guests down` then
removes the stale state). If another process's guest is running, the fixture
waits for it (EBPF_BCC_GUEST_WAIT seconds, default 1800) instead of failing.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from . import boot, config

TIMINGS = []


def guest_suites() -> list:
    raw = os.environ.get("EBPF_BCC_GUEST_SUITES", config.DEFAULT_SUITE)
    names = [n for n in raw.replace(",", " ").split() if n]
    if names == ["all"]:
        return list(config.SUITES)
    for n in names:
        config.get_suite(n)
    return names


def _record(entry: dict) -> None:
    TIMINGS.append(entry)
    try:
        os.makedirs(config.RUN_DIR, exist_ok=True)
        with open(os.path.join(config.RUN_DIR, "timings.jsonl"), "a") as fh:
            fh.write(json.dumps(entry) + "\n")
    except OSError:
        pass


def _booted(request):
    """Boot request.param's guest, yield it, shut it down and record its timings."""
    if os.geteuid() != 0:
        pytest.skip("guests need root (image build, qemu, /var/cache/ebpf-bcc)")
    suite = request.param
    # Another run's guest may be up (one at a time on this machine): queue.
    g = boot.Guest(suite, wait=float(os.environ.get("EBPF_BCC_GUEST_WAIT", "1800")))
    with g:
        yield g
    _record(
        {
            "suite": suite,
            "kernel_release": g.kernel_release,
            "fresh_build_s": g.manifest.get("timings", {}).get("total_s"),
            "built_at": g.manifest.get("built_at"),
            **g.timings,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )


@pytest.fixture(scope="module", params=guest_suites())
def guest(request):
    """A booted guest (tests.guests.boot.Guest); shut down after the module."""
    yield from _booted(request)


@pytest.fixture(scope="package", params=guest_suites(), name="guest")
def guest_per_directory(request):
    """The same, booted once for every test module of a directory (its conftest imports it as `guest`).

    pytest groups a directory's tests by suite, so each suite boots once for all of its modules."""
    yield from _booted(request)


def pytest_configure(config):
    config.addinivalue_line("markers", "guest: boots a qemu guest with a stock Debian kernel")


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("guest timings")
    for t in TIMINGS:
        terminalreporter.write_line(
            f"{t['suite']} ({t['kernel_release']}): "
            f"fresh build {t.get('fresh_build_s')} s (manifest, built {t.get('built_at')}); "
            f"image this run {t.get('image_s')} s ({'cached' if t.get('image_cached') else 'built now'}); "
            f"boot to SSH {t.get('boot_to_ssh_s')} s; shutdown {t.get('shutdown_s')} s"
        )
