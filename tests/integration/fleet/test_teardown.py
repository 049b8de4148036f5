"""The harness removes everything it started: on exit, on error, on signals, after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.fleet import Fleet, check, config, used_slots
from tests.fleet.pytest_plugin import record

pytestmark = [pytest.mark.root, pytest.mark.fleet]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# A child process that starts a fleet, prints its slot and pids, then waits.
CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {root!r})
    from tests.fleet import Fleet
    from tests.fleet.check import fleet_pids
    f = Fleet(2)
    {enter}
    print(json.dumps({{"slot": f.slot, "dir": f.dir, "pids": fleet_pids(f)}}), flush=True)
    time.sleep(120)
    """
)


def _child(enter: str) -> tuple[subprocess.Popen, dict]:
    code = CHILD.format(root=ROOT, enter=enter)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    assert line, f"child exited with {proc.wait()} before starting its fleet"
    return proc, json.loads(line)


def _wait_clean(slot, pids, state_dir, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = check.leftovers_of(slot, pids, state_dir)
        if check.clean(left) or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_up_and_down_of_six_hosts_leave_nothing():
    t = time.monotonic()
    with Fleet(6) as f:
        up_wall = round(time.monotonic() - t, 2)
        pids = check.fleet_pids(f)
        assert len(pids) == 6 and all(os.path.exists(f"/proc/{p}") for p in pids)
        assert len(check.leftovers_of(f.slot, pids, f.dir)["netns"]) == 6
        t = time.monotonic()
    down_wall = round(time.monotonic() - t, 2)
    record({"what": "Fleet(6) up/down (context manager)", "hosts": 6, "up_s": up_wall, "down_s": down_wall})
    print(f"6 shared-root hosts: up {up_wall} s, down {down_wall} s")
    assert check.clean(check.leftovers_of(f.slot, pids, f.dir)), check.leftovers_of(f.slot, pids, f.dir)
    if not used_slots():
        # No other fleet is up (another test session may have one): then the
        # machine has nothing of the harness, no blackhole route either.
        assert check.clean(check.leftovers()), check.leftovers()


def test_teardown_when_the_body_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with Fleet(2) as f:
            pids = check.fleet_pids(f)
            raise RuntimeError("boom")
    assert check.clean(check.leftovers_of(f.slot, pids, f.dir))


def test_teardown_when_up_fails_half_way(monkeypatch):
    f = Fleet(3)
    calls = []
    real = Fleet._start_host

    def failing(self, index, root):
        calls.append(index)
        if index == 3:
            raise RuntimeError("host 3 failed to start")
        return real(self, index, root)

    monkeypatch.setattr(Fleet, "_start_host", failing)
    with pytest.raises(RuntimeError, match="host 3"):
        with f:
            pass
    assert calls == [1, 2, 3]
    assert check.clean(check.leftovers_of(f.slot, check.fleet_pids(f), f.dir))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_tears_the_fleet_down(sig):
    proc, info = _child("f.__enter__()")
    try:
        assert not check.clean(check.leftovers_of(info["slot"], info["pids"], info["dir"]))
        proc.send_signal(sig)
        proc.wait(timeout=30)
        left = _wait_clean(info["slot"], info["pids"], info["dir"])
        assert check.clean(left), left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_then_down_cleans_from_state():
    proc, info = _child("f.up()")
    proc.kill()
    proc.wait()
    # sshd and the proxy got their parent-death signal; namespaces, links and
    # the state dir are still there until `down` runs.
    time.sleep(0.5)
    left = check.leftovers_of(info["slot"], info["pids"], info["dir"])
    assert left["netns"] and left["state_dir"]
    assert left["processes"] == []
    out = subprocess.run(
        [sys.executable, "-m", "tests.fleet", "down", "--slot", str(info["slot"])],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert json.loads(out.stdout)[0]["slot"] == info["slot"]
    assert check.clean(check.leftovers_of(info["slot"], info["pids"], info["dir"]))


def test_a_dead_owners_fleet_is_reclaimed_by_the_next_fleet():
    proc, info = _child("f.up()")
    proc.kill()
    proc.wait()
    with Fleet(1):
        # The dead fleet (2 hosts) is gone; its slot may have been reused for this one (1 host).
        assert config.netns_name(info["slot"], 2) not in check._netns()
        assert check.leftovers_of(info["slot"], info["pids"])["processes"] == []


def test_cli_up_status_down():
    env = dict(os.environ)
    py = [sys.executable, "-m", "tests.fleet"]
    up = subprocess.run(py + ["up", "2"], cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert up.returncode == 0, up.stderr
    state = json.loads(up.stdout)
    try:
        assert [h["name"] for h in state["hosts"]] == ["fleet-01", "fleet-02"]
        assert all(h["sshd_running"] for h in state["hosts"])
        status = json.loads(subprocess.run(py + ["status"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        assert state["slot"] in [s["slot"] for s in status["fleets"]]
        ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
        ping = subprocess.run(
            [ansible, "fleet", "-i", state["inventory_ssh"], "-m", "ping", "-o"],
            capture_output=True, text=True, env={**env, "ANSIBLE_NOCOLOR": "1"}, check=False,
        )
        assert ping.returncode == 0 and ping.stdout.count("SUCCESS") == 2, ping.stdout + ping.stderr
        # A bare down ends nothing (other runs' fleets may be up): it asks for --slot or --all.
        bare = subprocess.run(py + ["down"], cwd=ROOT, capture_output=True, text=True, check=False)
        assert bare.returncode == 2 and "give --slot S" in bare.stderr, bare.stderr
        status = json.loads(subprocess.run(py + ["status"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        assert state["slot"] in [s["slot"] for s in status["fleets"]]
    finally:
        subprocess.run(py + ["down", "--slot", str(state["slot"])], cwd=ROOT, capture_output=True, text=True, check=True)
    pids = [h["pid"] for h in state["hosts"]]
    assert check.clean(check.leftovers_of(state["slot"], pids, state["dir"]))


def test_pytest_interrupted_in_a_test_tears_the_fixture_fleet_down(tmp_path):
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {ROOT!r})\nfrom tests.fleet.pytest_plugin import fleet  # noqa\n"
    )
    (tmp_path / "test_sleep.py").write_text(
        textwrap.dedent(
            """
            import json, time
            from tests.fleet.check import fleet_pids
            def test_sleep(fleet):
                f = fleet(2)
                with open("info.json", "w") as fh:
                    json.dump({"slot": f.slot, "dir": f.dir, "pids": fleet_pids(f)}, fh)
                time.sleep(120)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sleep.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "info.json").exists() or not (tmp_path / "info.json").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
            time.sleep(0.1)
        time.sleep(0.2)
        info = json.loads((tmp_path / "info.json").read_text())
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in out, out
    left = _wait_clean(info["slot"], info["pids"], info["dir"])
    assert check.clean(left), (left, out)
