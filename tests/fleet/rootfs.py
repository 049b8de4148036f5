"""Debian root filesystems for own-root hosts: built once with debootstrap, cached.

Layout of a cached root (config.CACHE_ROOT/<suite>-<key>/):

    root/           the root filesystem (minbase + config.BASE_PACKAGES),
                    with apt lists, no ssh host keys, an empty resolv.conf
    manifest.json   suite, key, packages and versions, build time, size

A root is built under a temporary name and renamed when complete, under a
lock, so a half-built root is never taken for a cached one and two processes
never build the same root at once. Hosts never write to a cached root: each
host mounts it as the lower dir of an overlay whose upper dir lives in the
fleet's state dir (see fleet.py), so every run starts from the same pristine
tree and the cache needs no copy.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import time
from contextlib import contextmanager

from . import config
from .util import FleetError, log, pid_alive, run


def is_cached(suite: str, packages=config.BASE_PACKAGES) -> bool:
    return os.path.isfile(os.path.join(config.rootfs_dir(suite, packages), "manifest.json"))


def load_manifest(suite: str, packages=config.BASE_PACKAGES) -> dict:
    with open(os.path.join(config.rootfs_dir(suite, packages), "manifest.json")) as fh:
        return json.load(fh)


@contextmanager
def _lock(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == path or mnt.startswith(path + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: str) -> None:
    """rm -rf path, first unmounting anything a crashed build left mounted in it."""
    for mnt in _mounts_under(path):
        run(["umount", "-l", mnt], check=False)
    if os.path.lexists(path):
        run(["rm", "-rf", "--one-file-system", path])


def _sources(suite: str) -> str:
    lines = [
        f"deb {config.MIRROR} {suite} main",
        f"deb {config.MIRROR} {suite}-updates main",
        f"deb {config.SECURITY_MIRROR} {suite}-security main",
    ]
    return "\n".join(lines) + "\n"


def _chroot(root: str, *cmd: str) -> str:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
        "HOME": "/root",
    }
    return run(["chroot", root, *cmd], env=env).stdout


def _build(suite: str, packages, dest: str) -> dict:
    t0 = time.monotonic()
    tmp = f"{dest}.tmp-{os.getpid()}"
    root = os.path.join(tmp, "root")
    os.makedirs(tmp)
    timings = {}
    try:
        log(f"rootfs {suite}: debootstrap --variant=minbase into {root} (about 70 s)")
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--components=main",
                "--include=" + ",".join(packages),
                suite,
                root,
                config.MIRROR,
            ],
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )
        timings["debootstrap_s"] = round(time.monotonic() - t0, 1)

        t1 = time.monotonic()
        with open(os.path.join(root, "etc/apt/sources.list"), "w") as fh:
            fh.write(_sources(suite))
        # Package lists for all three sources, fetched now over this machine's
        # network, so that a host can apt-get install at once.
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        _chroot(root, "apt-get", "-q", "update")
        _chroot(root, "apt-get", "clean")
        # No daemon starts at package install time: hosts have no init.
        policy = os.path.join(root, "usr/sbin/policy-rc.d")
        with open(policy, "w") as fh:
            fh.write("#!/bin/sh\n# ebpf.bcc fleet: hosts have no init; never start services\nexit 101\n")
        os.chmod(policy, 0o755)
        # Per-host things are written when a host starts.
        for key in glob.glob(os.path.join(root, "etc/ssh/ssh_host_*")):
            os.unlink(key)
        open(os.path.join(root, "etc/resolv.conf"), "w").close()
        with open(os.path.join(root, "etc/hostname"), "w") as fh:
            fh.write("fleet\n")
        for d in ("run/sshd", "root/.ssh"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, "root/.ssh"), 0o700)
        for d in ("sys/kernel/tracing", "sys/kernel/debug"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        timings["configure_s"] = round(time.monotonic() - t1, 1)

        versions = {}
        out = _chroot(root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n")
        for line in out.splitlines():
            name, version = (line.split(" ", 1) + [""])[:2]
            versions[name] = version
        size = int(run(["du", "-sxb", root]).stdout.split()[0])
        manifest = {
            "suite": suite,
            "key": config.rootfs_key(suite, packages),
            "recipe": config.RECIPE_VERSION,
            "mirror": config.MIRROR,
            "packages": list(packages),
            "versions": {p: versions.get(p) for p in packages},
            "python3": versions.get("python3"),
            "installed_packages": len(versions),
            "size_bytes": size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "timings": {**timings, "total_s": round(time.monotonic() - t0, 1)},
        }
        with open(os.path.join(tmp, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
        os.rename(tmp, dest)
        log(f"rootfs {suite}: built in {manifest['timings']['total_s']} s, {size // 2**20} MiB: {dest}")
        return manifest
    except BaseException:
        remove_tree(tmp)
        raise


def ensure_rootfs(suite: str, packages=config.BASE_PACKAGES, *, force: bool = False) -> dict:
    """Return the manifest of the cached root for suite, building it if needed.

    The manifest gets "path" (the cache dir), "cached" (whether it existed)
    and "ensure_s" (seconds this call took) added.
    """
    if suite not in config.SUITES:
        raise FleetError(f"unknown suite {suite!r}: pick one of {', '.join(config.SUITES)}")
    if os.geteuid() != 0:
        raise FleetError("building a root filesystem needs root (debootstrap, chroot)")
    t0 = time.monotonic()
    dest = config.rootfs_dir(suite, packages)
    cached = True
    with _lock(os.path.join(config.CACHE_ROOT, f".{os.path.basename(dest)}.lock")):
        # Leftovers of builds whose process died.
        for tmp in glob.glob(f"{dest}.tmp-*"):
            pid = tmp.rsplit("-", 1)[1]
            if not (pid.isdigit() and pid_alive(int(pid))) or int(pid) == os.getpid():
                log(f"rootfs {suite}: removing an interrupted build {tmp}")
                remove_tree(tmp)
        if force and os.path.isdir(dest):
            remove_tree(dest)
        if not os.path.isfile(os.path.join(dest, "manifest.json")):
            if os.path.lexists(dest):
                remove_tree(dest)
            cached = False
            _build(suite, packages, dest)
    manifest = load_manifest(suite, packages)
    manifest.update(path=dest, cached=cached, ensure_s=round(time.monotonic() - t0, 2))
    return manifest


def list_cached() -> list[dict]:
    out = []
    for mf in sorted(glob.glob(os.path.join(config.CACHE_ROOT, "*", "manifest.json"))):
        with open(mf) as fh:
            m = json.load(fh)
        m["path"] = os.path.dirname(mf)
        out.append(m)
    return out
