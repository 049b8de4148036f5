"""Six shared-root hosts, reached by Ansible over paramiko and OpenSSH."""

from __future__ import annotations

import os
import shlex
import time

import pytest

from tests.fleet import config
from tests.fleet.pytest_plugin import record

pytestmark = [pytest.mark.root, pytest.mark.fleet, pytest.mark.slow]

N = 6
FORKS = 4  # fewer forks than hosts: ansible must queue hosts and reuse workers


@pytest.fixture(scope="module")
def six(fleet):
    return fleet(N)


def _ok(results: dict, names: list[str]) -> None:
    proc = results[None]
    assert sorted(k for k in results if k is not None) == sorted(names), proc.stdout + proc.stderr
    bad = {k: v for k, v in results.items() if k is not None and (v.get("unreachable") or v.get("failed"))}
    assert not bad, bad
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("group,suffix", [("fleet_paramiko", "-paramiko"), ("fleet_ssh", "")])
def test_ping_every_host(six, group, suffix):
    t = time.monotonic()
    results = six.ansible_results(group, "ping", forks=FORKS)
    took = round(time.monotonic() - t, 2)
    record({"what": f"ansible -m ping {group}", "hosts": N, "forks": FORKS, "seconds": took})
    print(f"ansible -m ping {group}, {N} hosts, --forks {FORKS}: {took} s")
    _ok(results, [h.name + suffix for h in six.hosts])
    assert all(r["ping"] == "pong" for k, r in results.items() if k is not None)


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_single_connection_inventories(six, connection):
    results = six.ansible_results("fleet", "ping", inventory_path=six.inventory_for(connection), forks=FORKS)
    _ok(results, [h.name for h in six.hosts])


def test_hostnames_and_addresses_are_distinct(six):
    t = time.monotonic()
    results = six.ansible_results("fleet_ssh", "setup", "gather_subset=!all,min,network", forks=FORKS)
    took = round(time.monotonic() - t, 2)
    record({"what": "ansible -m setup (min,network) fleet_ssh", "hosts": N, "forks": FORKS, "seconds": took})
    print(f"fact gathering (min, network) on {N} hosts: {took} s")
    _ok(results, [h.name for h in six.hosts])
    seen_names, seen_addrs = set(), set()
    for h in six.hosts:
        facts = results[h.name]["ansible_facts"]
        assert facts["ansible_hostname"] == h.name
        assert facts["ansible_all_ipv4_addresses"] == [h.address]
        assert facts["ansible_eth0"]["ipv4"]["address"] == h.address
        seen_names.add(facts["ansible_hostname"])
        seen_addrs.add(h.address)
    assert len(seen_names) == len(seen_addrs) == N
    # No DNS wait: per-host /etc/hosts and an empty resolv.conf.
    assert took < 5 * N, f"fact gathering took {took} s: is something waiting on DNS?"


def test_name_resolution_is_local(six):
    for h in six.hosts:
        out = six.ssh(h, "cat /etc/resolv.conf; echo ---; getent hosts $(hostname); cat /etc/hostname").stdout
        resolv, rest = out.split("---\n", 1)
        assert resolv == ""
        assert rest.split() == [h.address, h.name, h.name]


def test_tracefs_and_debugfs_inside_each_host(six):
    results = six.ansible_results(
        "fleet_paramiko", "command", "stat -f -c %T /sys/kernel/tracing /sys/kernel/debug", forks=FORKS
    )
    _ok(results, [h.name + "-paramiko" for h in six.hosts])
    for k, r in results.items():
        if k is not None:
            assert r["stdout_lines"] == ["tracefs", "debugfs"], (k, r)
    # ... and readable there, as bcc needs.
    out = six.ssh(six.hosts[0], "test -r /sys/kernel/tracing/available_filter_functions && echo ok").stdout
    assert out.strip() == "ok"


BCC_TRACEPOINT = """
import os
from bcc import BPF
b = BPF(text='''
BPF_ARRAY(n, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    int k = 0; u64 *v = n.lookup(&k); if (v) __sync_fetch_and_add(v, 1);
    return 0;
}
'''.replace("PID", str(os.getpid())))
for _ in range(7):
    os.getppid()
print(b["n"][0].value)
"""


def test_bcc_attaches_a_tracepoint_inside_a_host(six):
    # Tracepoints are looked up in tracefs: this only works because the host's
    # namespace has tracefs mounted on its fresh /sys.
    out = six.ssh(six.hosts[-1], "/usr/bin/python3 -c " + shlex.quote(BCC_TRACEPOINT)).stdout
    assert out.strip() == "7"


@pytest.mark.parametrize("group", ["fleet_ssh", "fleet_paramiko"])
def test_file_transfer_over_sftp(six, group):
    dest = "/tmp/ebpf-bcc-fleet-sftp-{{ inventory_hostname }}"
    try:
        results = six.ansible_results(
            group,
            "copy",
            f"content='{{{{ inventory_hostname }}}}\n' dest={dest} mode=0600",
            forks=FORKS,
            extra=["-e", "ansible_ssh_transfer_method=sftp"],
        )
        _ok(results, [k for k in results if k is not None])
        assert len(results) == N + 1
        for k, r in results.items():
            if k is not None:
                with open(f"/tmp/ebpf-bcc-fleet-sftp-{k}") as fh:  # shared root: this machine's /tmp
                    assert fh.read() == k + "\n"
    finally:
        for h in six.hosts:
            for name in (h.name, h.name + "-paramiko"):
                try:
                    os.unlink(f"/tmp/ebpf-bcc-fleet-sftp-{name}")
                except FileNotFoundError:
                    pass


def test_host_mounts_stay_inside_the_host(six):
    # The hosts' bind mounts, tracefs and /run/sshd are in their own mount
    # namespaces: this machine's view has none of them.
    with open("/proc/self/mountinfo") as fh:
        ours = [line for line in fh if six.dir in line]
    assert ours == []
    with open("/etc/hostname") as fh:
        assert not fh.read().startswith("fleet-")
    assert all(h.address.startswith(f"{config.NET_PREFIX}.{six.slot}.") for h in six.hosts)
