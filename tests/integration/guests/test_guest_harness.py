"""The booted guest is what the image promises: its kernel, kprobes, bcc, Ansible."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

# The first test of a module also pays for the image build (cold: 2-4 min)
# and the boot (35-90 s under TCG), so allow more than pytest.ini's 600 s.
pytestmark = [pytest.mark.guest, pytest.mark.timeout(1800)]


def _ansible_bin() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "ansible")
    return here if os.path.exists(here) else (shutil.which("ansible") or "ansible")


def test_kernel_is_the_images(guest):
    release = guest.ssh("uname -r").stdout.strip()
    assert release == guest.kernel_release
    assert release.startswith(guest.suite.expected_kernel_prefix), release
    assert release.endswith("-amd64")


def test_headers_match_the_running_kernel(guest):
    guest.ssh('test -e "/lib/modules/$(uname -r)/build/Makefile"')
    pkgs = guest.ssh("dpkg-query -W -f '${Package}\\n' 'linux-headers-*'").stdout.split()
    assert f"linux-headers-{guest.kernel_release}" in pkgs


def test_kprobes_available(guest):
    kind = guest.ssh("cat /sys/bus/event_source/devices/kprobe/type").stdout.strip()
    assert kind.isdigit()


def test_bcc_imports(guest):
    res = guest.ssh("/usr/bin/python3 -c 'import bcc, sys; print(bcc.__file__)'")
    assert "bcc" in res.stdout


def test_funccount_counts_vfs_read(guest):
    # Smoke check that bcc compiles against the installed headers and attaches
    # a kprobe there. funccount's output is not an API; this only looks for a
    # positive count next to the function name. The background loop makes
    # sure vfs_read is called during the 2 s window.
    t = time.monotonic()
    res = guest.ssh(
        "( while :; do head -c1 /etc/hostname >/dev/null; sleep 0.05; done ) & W=$!; "
        "funccount-bpfcc -d 2 vfs_read; rc=$?; kill $W; exit $rc",
        timeout=300,
    )
    wall = time.monotonic() - t
    print(f"\nfunccount-bpfcc -d 2 vfs_read in {guest.host_name}: {wall:.1f} s wall\n{res.stdout}")
    # bcc 0.18 (bullseye) prints the name as b'vfs_read'.
    m = re.search(r"^\s*(?:b')?vfs_read'?\s+(\d+)\s*$", res.stdout, re.M)
    assert m, f"no count for vfs_read:\n{res.stdout}\n{res.stderr}"
    assert int(m.group(1)) > 0


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_ansible_ping(guest, connection):
    res = subprocess.run(
        [_ansible_bin(), "guests", "-i", guest.inventory, "-m", "ansible.builtin.ping",
         "-c", connection],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False"},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{guest.host_name} | SUCCESS" in res.stdout, res.stdout


def test_inventory_shape(guest):
    yaml = pytest.importorskip("yaml")
    with open(guest.inventory) as fh:
        inv = yaml.safe_load(fh)
    host = inv["all"]["children"]["guests"]["hosts"][guest.host_name]
    assert host["ansible_host"] == "127.0.0.1"
    assert host["ansible_port"] == guest.port
    assert host["ansible_user"] == "root"
    assert host["ansible_python_interpreter"] == "/usr/bin/python3"
    assert os.path.exists(host["ansible_ssh_private_key_file"])


def test_leaves_a_marker_in_the_overlay(guest):
    # test_guest_lifecycle.py boots the same image again and checks that this
    # file is gone: writes go to the throwaway overlay, never to the image.
    guest.ssh("echo dirty > /root/overlay-marker && sync")
    assert guest.ssh("cat /root/overlay-marker").stdout.strip() == "dirty"
