"""The harness always cleans up: CLI up/status/down, SIGTERM, a killed owner.

These start their own guests (one at a time, after test_guest_harness.py's
module-scoped guest is down) in child processes, the way CI or a developer
would, and check that no qemu, overlay or state file is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.guests import boot, config
from tests.guests.pytest_plugin import guest_suites

# The first test of a module also pays for the image build (cold: 2-4 min)
# and the boot (35-90 s under TCG), so allow more than pytest.ini's 600 s.
pytestmark = [pytest.mark.guest, pytest.mark.timeout(1800)]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SUITE = guest_suites()[0]
WAIT = float(os.environ.get("EBPF_BCC_GUEST_WAIT", "1800"))


STARTED = []  # qemu pids these tests started; teardown stops only those


@pytest.fixture(autouse=True)
def _root_and_image():
    if os.geteuid() != 0:
        pytest.skip("guests need root")
    from tests.guests import build
    build.ensure_image(config.get_suite(SUITE))
    # One guest at a time on this machine: let another run's guest finish.
    assert _wait(lambda: not boot.status()["running"], WAIT, step=5), "another guest is still running"
    yield
    # Whatever happened above, leave none of our guests behind.
    state = boot.read_state()
    if state and state["pid"] in STARTED:
        boot.down_from_state()


def cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "tests.guests", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _wait(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def test_cli_up_status_ssh_down_and_image_stays_clean():
    image = os.path.join(config.get_suite(SUITE).image_dir, "image.raw")
    before = os.stat(image)

    up = cli("up", "--wait", str(WAIT), SUITE, timeout=WAIT + 600)
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads(up.stdout)
    STARTED.append(state["pid"])
    print(f"\nCLI up {SUITE}: boot to SSH {state['timings']['boot_to_ssh_s']} s")
    assert state["suite"] == SUITE and os.path.exists(state["inventory"])

    st = json.loads(cli("status").stdout)
    assert st["running"] is True and st["pid"] == state["pid"]

    # Writes of earlier boots went to their overlays, not to the image.
    res = cli("ssh", "--", "test ! -e /root/overlay-marker && uname -r")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == state["kernel_release"]

    down = cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    print(f"CLI down: {json.loads(down.stdout)['shutdown_s']} s")
    assert not boot._pid_alive(state["pid"])
    assert not os.path.exists(state["overlay"])
    assert json.loads(cli("status").stdout) == {"running": False}

    after = os.stat(image)
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def _ours(owner):
    return lambda: (boot.read_state() or {}).get("owner_pid") == owner.pid


def _owner(tmp_path):
    script = (
        "import time\n"
        "from tests.guests.boot import Guest\n"
        # Queue like the fixture does if another run's guest holds the slot.
        f"with Guest({SUITE!r}, wait={WAIT!r}):\n"
        "    time.sleep(3600)\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                            stdout=open(tmp_path / "out", "w"), stderr=subprocess.STDOUT)


def test_sigterm_during_boot_shuts_the_guest_down(tmp_path):
    owner = _owner(tmp_path)
    try:
        assert _wait(_ours(owner), WAIT + 120), (tmp_path / "out").read_text()
        state = boot.read_state()
        STARTED.append(state["pid"])
        assert state["owner_pid"] == owner.pid
        assert boot._pid_alive(state["pid"])
        owner.send_signal(signal.SIGTERM)
        owner.wait(timeout=60)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    assert _wait(lambda: not boot._pid_alive(state["pid"]), 15)
    assert not os.path.exists(state["overlay"])
    assert boot.read_state() is None


def test_killed_owner_takes_qemu_along_and_down_cleans_up(tmp_path):
    owner = _owner(tmp_path)
    try:
        assert _wait(_ours(owner), WAIT + 120), (tmp_path / "out").read_text()
        state = boot.read_state()
        STARTED.append(state["pid"])
        assert state["owner_pid"] == owner.pid
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    # qemu was started with PR_SET_PDEATHSIG: it goes when its owner does.
    assert _wait(lambda: not boot._pid_alive(state["pid"]), 30)
    st = json.loads(cli("status").stdout)
    assert st["running"] is False and st["stale"] is True
    assert cli("down").returncode == 0
    assert boot.read_state() is None
    assert not os.path.exists(state["overlay"])
