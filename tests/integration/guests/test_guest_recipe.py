"""Harness pieces that need no guest: cache keys, inventory, path helpers."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.guests import boot, build, config, inventory


def test_cache_key_is_stable_and_differs_per_suite():
    keys = {name: s.key() for name, s in config.SUITES.items()}
    assert keys == {name: s.key() for name, s in config.SUITES.items()}
    assert len(set(keys.values())) == len(keys)
    for name, s in config.SUITES.items():
        assert s.image_dir == os.path.join(config.CACHE_ROOT, f"{name}-{keys[name]}")


def test_cache_lives_outside_the_repository():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    for path in (config.CACHE_ROOT, config.RUN_DIR, config.DEB_CACHE):
        assert not os.path.abspath(path).startswith(repo + os.sep), path


def test_no_kernel_version_is_pinned():
    pkgs = " ".join(config.BASE_PACKAGES + config.BCC_PACKAGES)
    assert "linux-image" not in pkgs and "linux-headers" not in pkgs


def test_free_port_is_bindable_on_loopback():
    port = boot.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_inventory_data_for_both_connections():
    class FakeSuite:  # only the attributes inventory reads
        name, version = "bookworm", "12"

    class G:
        suite = FakeSuite()
        port = 40022
        key = "/var/cache/ebpf-bcc/guests/x/id_ed25519"
        kernel_release = "6.1.0-1-amd64"
        host_name = "guest-bookworm"

    host = inventory.inventory_data(G())["all"]["children"]["guests"]["hosts"]["guest-bookworm"]
    assert host["ansible_host"] == "127.0.0.1" and host["ansible_port"] == 40022
    assert host["ansible_user"] == "root"
    assert host["ansible_ssh_private_key_file"] == G.key  # read by ssh and paramiko
    assert host["ansible_host_key_checking"] is False  # read by ssh and paramiko
    assert "StrictHostKeyChecking=no" in host["ansible_ssh_common_args"]
    assert host["ansible_python_interpreter"] == "/usr/bin/python3"


def test_isdir_in_root_resolves_absolute_links_inside_the_root(tmp_path):
    root = tmp_path
    (root / "usr/src/linux-headers-x/include").mkdir(parents=True)
    (root / "usr/lib/modules/x").mkdir(parents=True)
    os.symlink("usr/lib", root / "lib")
    os.symlink("/usr/src/linux-headers-x", root / "usr/lib/modules/x/build")
    assert build._isdir_in_root(str(root), "/lib/modules/x/build/include")
    assert not build._isdir_in_root(str(root), "/lib/modules/x/build/missing")


def test_safe_rmtree_refuses_mounted_trees(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    inner = tmp_path / "root" / "proc"
    inner.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(inner)], check=True)
    try:
        with pytest.raises(build.BuildError, match="still mounted"):
            build.safe_rmtree(str(tmp_path / "root"))
    finally:
        subprocess.run(["umount", str(inner)], check=True)
    build.safe_rmtree(str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()
