"""Own-root hosts: a cached debootstrap root per suite, a fresh overlay per start.

The suites come from EBPF_BCC_FLEET_SUITES (space or comma separated, "all"
for bullseye, bookworm and trixie; default bookworm).
"""

from __future__ import annotations

import os
import time

import pytest

from tests.fleet import Fleet, config, rootfs
from tests.fleet.pytest_plugin import record

pytestmark = [pytest.mark.root, pytest.mark.fleet, pytest.mark.rootfs, pytest.mark.slow]

MAJOR = {"bullseye": "11", "bookworm": "12", "trixie": "13"}


def _suites() -> list[str]:
    raw = os.environ.get("EBPF_BCC_FLEET_SUITES", "bookworm")
    names = [n for n in raw.replace(",", " ").split() if n]
    return list(config.SUITES) if names == ["all"] else names


@pytest.fixture(scope="module", params=_suites())
def own(request, fleet):
    suite = request.param
    f = fleet([suite])
    m = f.rootfs[suite]
    entry = {
        "what": f"rootfs {suite}",
        "cached": m["cached"],
        "ensure_s": m["ensure_s"],
        "fresh_build_s": m["timings"]["total_s"],
        "built_at": m["built_at"],
        "size_mib": m["size_bytes"] // 2**20,
        "fleet_up_s": f.timings["up_s"],
    }
    record(entry)
    print(f"rootfs {suite}: {'cached' if m['cached'] else 'built'} in {m['ensure_s']} s "
          f"(fresh build took {m['timings']['total_s']} s on {m['built_at']}); host up in {f.timings['up_s']} s")
    yield suite, f
    f.down()  # before the next suite's host starts; the factory would wait for the module's end


def test_host_runs_its_own_debian(own):
    suite, f = own
    results = f.ansible_results("fleet_ssh", "setup", "gather_subset=!all,min")
    facts = results[f.hosts[0].name]["ansible_facts"]
    assert facts["ansible_distribution"] == "Debian"
    assert facts["ansible_distribution_major_version"] == MAJOR[suite]
    assert facts["ansible_hostname"] == "fleet-01"
    version = rootfs.load_manifest(suite)["python3"]  # e.g. 3.11.2-1+b1
    assert version.startswith(".".join(str(x) for x in (
        facts["ansible_python"]["version"]["major"], facts["ansible_python"]["version"]["minor"])))


def test_host_has_tracefs_proc_sys_dev_and_no_dns(own):
    f = own[1]
    out = f.ssh("fleet-01", "stat -f -c %T / /proc /sys /sys/kernel/tracing /sys/kernel/debug /dev /run; "
                "cat /etc/resolv.conf; test -c /dev/null && echo devnull").stdout.split()
    assert out == ["overlayfs", "proc", "sysfs", "tracefs", "debugfs", "tmpfs", "tmpfs", "devnull"]


def test_apt_get_install_inside_the_host_over_ansible(own):
    suite, f = own
    h = f.hosts[0]
    cache_root = os.path.join(f.rootfs[suite]["path"], "root")
    assert not os.path.exists(os.path.join(cache_root, "usr/bin/hello"))
    on_machine = os.path.exists("/usr/bin/hello")
    t = time.monotonic()
    r = f.ansible_results(
        "fleet_ssh", "apt", "name=hello state=present install_recommends=false update_cache=true cache_valid_time=86400"
    )
    took = round(time.monotonic() - t, 2)
    assert r[h.name].get("changed") is True, r[None].stdout + r[None].stderr
    record({"what": f"ansible apt hello on {suite}", "seconds": took})
    print(f"ansible -m apt name=hello on an own-root {suite} host: {took} s")
    # The same with the apt-get command line, and run over the other connection.
    out = f.ssh(h, "apt-get install -y --no-install-recommends hello && hello").stdout
    assert "Hello, world!" in out
    r = f.ansible_results("fleet_paramiko", "command", "hello")
    assert r[h.name + "-paramiko"]["stdout"] == "Hello, world!"
    # It is in the host's root only: not in the cache, not on this machine.
    assert os.path.exists(h.path("/usr/bin/hello"))
    assert os.path.exists(os.path.join(h.dir, "upper/usr/bin/hello"))
    assert not os.path.exists(os.path.join(cache_root, "usr/bin/hello"))
    assert os.path.exists("/usr/bin/hello") == on_machine
    # apt got there only through the fleet's proxy.
    with open(os.path.join(f.dir, "proxy.log")) as fh:
        assert "hello_" in fh.read()


def test_second_start_reuses_the_cache_and_starts_fresh(own):
    suite, first = own
    built_at = first.rootfs[suite]["built_at"]
    t = time.monotonic()
    with Fleet([suite]) as f:
        wall = round(time.monotonic() - t, 2)
        m = f.rootfs[suite]
        assert m["cached"] is True and m["built_at"] == built_at
        assert f.slot != first.slot  # two fleets at once
        # A fresh copy: what the first host installed is not here.
        assert f.ssh("fleet-01", "dpkg -s hello", check=False).returncode != 0
        assert f.ssh("fleet-01", "hostname").stdout.strip() == "fleet-01"
    record({"what": f"rootfs {suite} second start", "cached": True, "ensure_s": m["ensure_s"],
            "fleet_up_wall_s": wall, "fresh_build_s": m["timings"]["total_s"]})
    print(f"second start of an own-root {suite} host: {wall} s (rootfs from cache in {m['ensure_s']} s; "
          f"a fresh build took {m['timings']['total_s']} s)")
    assert m["ensure_s"] < 5


@pytest.mark.skipif(
    not os.environ.get("EBPF_BCC_FLEET_FRESH_BUILD"),
    reason="set EBPF_BCC_FLEET_FRESH_BUILD=1 to time a fresh root build (about 70 s) against a cached one",
)
def test_fresh_build_then_cached(tmp_path, monkeypatch):
    suite = _suites()[0]
    monkeypatch.setattr(config, "CACHE_ROOT", str(tmp_path / "cache"))
    fresh = rootfs.ensure_rootfs(suite)
    cached = rootfs.ensure_rootfs(suite)
    assert fresh["cached"] is False and cached["cached"] is True
    assert cached["built_at"] == fresh["built_at"]
    record({"what": f"rootfs {suite} fresh vs cached", "fresh_s": fresh["ensure_s"], "cached_s": cached["ensure_s"],
            "debootstrap_s": fresh["timings"]["debootstrap_s"], "size_mib": fresh["size_bytes"] // 2**20})
    print(f"rootfs {suite}: fresh build {fresh['ensure_s']} s, from cache {cached['ensure_s']} s")
    assert cached["ensure_s"] < 5
