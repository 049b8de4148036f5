"""Build a bootable guest image for one Debian suite, once, cached by content.

Layout of a finished image directory (CACHE_ROOT/<suite>-<key>/):

    image.raw        ext4 file system of the whole root, booted as /dev/vda
    vmlinuz          the suite's stock kernel, booted with -kernel
    initrd.img       a small initrd (virtio + ext4 only), booted with -initrd
    id_ed25519[.pub] the root login key baked into the image
    manifest.json    suite, kernel release, package versions, build timings

All work happens on the host (debootstrap, then apt in a chroot), never under
emulation. The directory is built under a temporary name and renamed at the
end, so a half-built image is never taken for a cached one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

from . import config


class BuildError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[guests] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    try:
        return subprocess.run(cmd, **kw)  # pylint: disable=subprocess-run-check
    except subprocess.CalledProcessError as exc:
        out = ""
        if exc.stdout:
            out += exc.stdout if isinstance(exc.stdout, str) else exc.stdout.decode(errors="replace")
        if exc.stderr:
            out += exc.stderr if isinstance(exc.stderr, str) else exc.stderr.decode(errors="replace")
        raise BuildError(f"command failed ({exc.returncode}): {' '.join(map(str, cmd))}\n{out[-4000:]}") from None


def image_ready(suite: config.Suite) -> bool:
    return os.path.exists(os.path.join(suite.image_dir, "manifest.json"))


def load_manifest(suite: config.Suite) -> dict:
    with open(os.path.join(suite.image_dir, "manifest.json")) as fh:
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


def ensure_image(suite: config.Suite, force: bool = False) -> dict:
    """Return the manifest of the suite's image, building it if needed."""
    if image_ready(suite) and not force:
        return load_manifest(suite)
    with _lock(os.path.join(config.CACHE_ROOT, f".{suite.name}.lock")):
        if image_ready(suite) and not force:  # built by someone else meanwhile
            return load_manifest(suite)
        return _build(suite)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise BuildError("building a guest image needs root (debootstrap, chroot)")
    missing = [t for t in ("debootstrap", "mkfs.ext4", "chroot", "ssh-keygen") if not shutil.which(t)]
    if missing:
        raise BuildError(
            f"missing host tools: {', '.join(missing)}; install the packages in scripts/apt-packages.txt"
        )


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.islink(path):  # never follow a link out of the root
        os.remove(path)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


@contextmanager
def _chroot_mounts(root: str, debs: str):
    mounts = []
    try:
        for src, dst, args in (
            ("proc", "proc", ["-t", "proc"]),
            ("sysfs", "sys", ["-t", "sysfs"]),
            ("/dev", "dev", ["--bind"]),
            ("devpts", "dev/pts", ["-t", "devpts"]),
            (debs, "var/cache/apt/archives", ["--bind"]),
        ):
            target = os.path.join(root, dst)
            os.makedirs(target, exist_ok=True)
            run(["mount", *args, src, target])
            mounts.append(target)
        yield
    finally:
        for target in reversed(mounts):
            subprocess.run(["umount", "-l", target], check=False)


def _chroot(root: str, cmd: list, **kw) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
        "HOME": "/root",
    }
    return run(["chroot", root, *cmd], env=env, **kw)


def _kernel_abi(root: str) -> str:
    """The ABI name of the kernel linux-image-amd64 depends on, e.g. 6.1.0-40-amd64."""
    out = _chroot(
        root, ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:"):
            dep = line.split(":", 1)[1].strip()
            if dep.startswith("linux-image-") and dep != "linux-image-amd64":
                return dep[len("linux-image-"):]
    raise BuildError(f"cannot derive the kernel ABI from linux-image-amd64's dependencies:\n{out}")


def _configure(root: str, suite: config.Suite, pubkey: str) -> None:
    """Everything written into the root before the kernel is installed."""
    name = suite.name
    _write(
        os.path.join(root, "etc/apt/sources.list"),
        f"deb {config.MIRROR} {name} main\n"
        f"deb {config.MIRROR} {name}-updates main\n"
        f"deb {config.SECURITY_MIRROR} {suite.security_suite} main\n",
    )
    _write(os.path.join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", 0o755)
    _write(
        os.path.join(root, "etc/apt/apt.conf.d/90guest"),
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        'Acquire::Languages "none";\n',
    )
    # Keep the image lean: no documentation, manual pages or translations.
    _write(
        os.path.join(root, "etc/dpkg/dpkg.cfg.d/90guest-nodoc"),
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n"
        "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n",
    )
    # A small initrd: only what finds and mounts /dev/vda.
    _write(
        os.path.join(root, "etc/initramfs-tools/conf.d/90guest"),
        "MODULES=list\nCOMPRESS=zstd\n",
    )
    _write(
        os.path.join(root, "etc/initramfs-tools/modules"),
        "".join(m + "\n" for m in config.INITRD_MODULES),
    )
    _write(os.path.join(root, "etc/hostname"), f"guest-{name}\n")
    _write(
        os.path.join(root, "etc/hosts"),
        f"127.0.0.1 localhost\n127.0.1.1 guest-{name}\n::1 localhost ip6-localhost\n",
    )
    # The host's resolver while building; emptied at the end (the guest has
    # no network beyond qemu's port forward).
    with open("/etc/resolv.conf") as fh:
        _write(os.path.join(root, "etc/resolv.conf"), fh.read())
    _write(
        os.path.join(root, "etc/fstab"),
        "/dev/vda / ext4 rw,noatime,errors=remount-ro 0 0\n",
    )
    # Static address for qemu's user-mode network, set by a oneshot unit
    # (systemd-networkd alone costs 18-20 s under emulation).
    _write(
        os.path.join(root, "usr/local/sbin/guest-net"),
        "#!/bin/sh\n"
        "ip link set lo up\n"
        "i=0\n"
        "while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n"
        "ip link set eth0 up\n"
        f"ip addr add {config.GUEST_ADDRESS} dev eth0\n"
        f"ip route add default via {config.GUEST_GATEWAY}\n",
        0o755,
    )
    _write(
        os.path.join(root, "etc/systemd/system/guest-net.service"),
        "[Unit]\nDescription=Static address for qemu user-mode networking\n"
        "DefaultDependencies=no\nAfter=systemd-udevd.service\n"
        "Before=network.target\nWants=network.target\n\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/guest-net\n\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    _write(
        os.path.join(root, "etc/ssh/sshd_config.d/90guest.conf"),
        # Keywords all of OpenSSH 8.4 (bullseye) to 10 (trixie) accept.
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
    )
    if suite.ssh_per_connection:
        # bullseye: what a login leaves running (nohup jobs, Ansible async tasks) must outlive it.
        _write(
            os.path.join(root, "etc/systemd/system/ssh@.service.d/90guest.conf"),
            "[Service]\nKillMode=process\n",
        )
    _write(os.path.join(root, "root/.ssh/authorized_keys"), pubkey, 0o600)
    os.chmod(os.path.join(root, "root/.ssh"), 0o700)


def _finish_services(root: str) -> None:
    _chroot(root, ["systemctl", "enable", "guest-net.service", "ssh.socket"], capture_output=True)
    _chroot(root, ["systemctl", "disable", "ssh.service"], check=False, capture_output=True)
    masked = [
        "apt-daily.timer",
        # First-boot work that the throwaway overlay would redo on every boot
        # (ConditionNeedsUpdate=/etc), and hardware the guest does not have.
        "ldconfig.service",
        "systemd-update-done.service",
        "modprobe@drm.service",
        "apt-daily-upgrade.timer",
        "e2scrub_all.timer",
        "e2scrub_reap.service",
        "fstrim.timer",
        "systemd-networkd.service",
        "systemd-networkd-wait-online.service",
        "systemd-timesyncd.service",
        "serial-getty@ttyS0.service",
        "getty@tty1.service",
        "systemd-fsck-root.service",
    ]
    _chroot(root, ["systemctl", "mask", *masked], capture_output=True)
    # trixie's systemd-ssh-generator probes AF_VSOCK and fails; sshd comes from ssh.socket.
    gen = os.path.join(root, "etc/systemd/system-generators")
    os.makedirs(gen, exist_ok=True)
    if not os.path.lexists(os.path.join(gen, "systemd-ssh-generator")):
        os.symlink("/dev/null", os.path.join(gen, "systemd-ssh-generator"))
    _write(
        os.path.join(root, "etc/systemd/journald.conf.d/90guest.conf"),
        "[Journal]\nStorage=volatile\n",
    )
    _write(os.path.join(root, "etc/resolv.conf"), "")


def _isdir_in_root(root: str, path: str, depth: int = 0) -> bool:
    """os.path.isdir for a path inside root, resolving absolute links inside root."""
    if depth > 20:
        return False
    parts = [p for p in path.split("/") if p]
    cur = "/"
    for i, part in enumerate(parts):
        nxt = os.path.join(cur, part)
        host = os.path.join(root, nxt.lstrip("/"))
        if os.path.islink(host):
            target = os.readlink(host)
            if not target.startswith("/"):
                target = os.path.normpath(os.path.join(cur, target))
            rest = "/".join(parts[i + 1:])
            return _isdir_in_root(root, target.rstrip("/") + "/" + rest, depth + 1)
        cur = nxt
    return os.path.isdir(os.path.join(root, cur.lstrip("/")))


def _package_versions(root: str, names) -> dict:
    out = _chroot(
        root,
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *names],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _mounts_under(path: str) -> list:
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p == path or p.startswith(path + "/")]


def safe_rmtree(path: str) -> None:
    """rmtree that refuses to descend into a tree with something mounted in it."""
    if not os.path.exists(path):
        return
    busy = _mounts_under(path)
    if busy:
        raise BuildError(f"refusing to remove {path}: still mounted: {', '.join(busy)}")
    shutil.rmtree(path)


def _build(suite: config.Suite) -> dict:
    _check_host()
    final = suite.image_dir
    work = f"{final}.tmp-{os.getpid()}"
    _discard_abandoned(suite)
    _discard(work)
    root = os.path.join(work, "root")
    os.makedirs(root)
    timings = {}
    t_all = time.monotonic()
    try:
        log(f"building {suite.name} image in {work}")
        key = os.path.join(work, "id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ebpf-bcc-guest-{suite.name}", "-f", key])
        with open(key + ".pub") as fh:
            pubkey = fh.read()

        # Downloaded .debs are kept on the host per suite, so a rebuild (a new
        # recipe, a new key) does not fetch them again. Not part of the image.
        debs = os.path.join(config.DEB_CACHE, suite.name)
        os.makedirs(os.path.join(debs, "partial"), exist_ok=True)
        t = time.monotonic()
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={debs}",
                "--include=" + ",".join(config.BASE_PACKAGES),
                suite.name,
                root,
                config.MIRROR,
            ],
            capture_output=True,
            text=True,
        )
        timings["debootstrap_s"] = round(time.monotonic() - t, 1)
        log(f"debootstrap {timings['debootstrap_s']} s")

        t = time.monotonic()
        _configure(root, suite, pubkey)
        with _chroot_mounts(root, debs):
            _chroot(root, ["apt-get", "-q", "--error-on=any", "update"], capture_output=True, text=True)
            abi = _kernel_abi(root)
            log(f"kernel ABI {abi}")
            _chroot(
                root,
                [
                    "apt-get", "-q", "-y", "install",
                    "linux-image-amd64", f"linux-image-{abi}", f"linux-headers-{abi}",
                    *config.BCC_PACKAGES, *suite.extra_packages,
                ],
                capture_output=True,
                text=True,
            )
            versions = _package_versions(
                root,
                [
                    "linux-image-amd64", f"linux-image-{abi}", f"linux-headers-{abi}",
                    *config.BCC_PACKAGES, "python3", "openssh-server", "systemd",
                ],
            )
        archives = os.path.join(root, "var/cache/apt/archives")
        if not _mounts_under(archives):
            for f in os.listdir(archives):
                if f.endswith(".deb"):
                    os.remove(os.path.join(archives, f))
        modules = sorted(os.listdir(os.path.join(root, "lib/modules")))
        if modules != [abi]:
            raise BuildError(f"expected exactly one kernel {abi} in /lib/modules, found {modules}")
        if not _isdir_in_root(root, f"/lib/modules/{abi}/build/include"):
            raise BuildError(f"headers for {abi} missing: /lib/modules/{abi}/build does not exist")
        _finish_services(root)
        os.remove(os.path.join(root, "usr/sbin/policy-rc.d"))
        for sub in ("usr/share/doc", "usr/share/man", "usr/share/info"):
            # Leftovers from debootstrap's own packages (dpkg excludes came later).
            for dirpath, _dirs, files in os.walk(os.path.join(root, sub)):
                for f in files:
                    if f != "copyright":
                        os.remove(os.path.join(dirpath, f))
        timings["chroot_install_s"] = round(time.monotonic() - t, 1)
        log(f"kernel, headers and bcc in chroot {timings['chroot_install_s']} s")

        shutil.copyfile(os.path.join(root, "boot", f"vmlinuz-{abi}"), os.path.join(work, "vmlinuz"))
        shutil.copyfile(os.path.join(root, "boot", f"initrd.img-{abi}"), os.path.join(work, "initrd.img"))

        t = time.monotonic()
        image = os.path.join(work, "image.raw")
        run(
            ["mkfs.ext4", "-q", "-F", "-L", "guestroot", "-m", "0", "-d", root, image, config.IMAGE_SIZE],
            capture_output=True,
            text=True,
        )
        timings["mkfs_s"] = round(time.monotonic() - t, 1)
        log(f"mkfs.ext4 -d {timings['mkfs_s']} s")
        used = run(["du", "-sb", root], capture_output=True, text=True).stdout.split()[0]
        safe_rmtree(root)

        timings["total_s"] = round(time.monotonic() - t_all, 1)
        manifest = {
            "suite": suite.name,
            "debian_version": suite.version,
            "key": suite.key(),
            "recipe_version": config.RECIPE_VERSION,
            "kernel_release": abi,
            "packages": versions,
            "root_bytes": int(used),
            "initrd_bytes": os.path.getsize(os.path.join(work, "initrd.img")),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "timings": timings,
        }
        with open(os.path.join(work, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
        safe_rmtree(final)
        os.rename(work, final)
        log(f"built {suite.name} ({abi}) in {timings['total_s']} s: {final}")
        return manifest
    except BaseException:
        _discard(work)
        raise


def _discard(work: str) -> None:
    """Remove a failed or abandoned build dir; unmount what is mounted in it first."""
    for point in sorted(_mounts_under(work), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    try:
        safe_rmtree(work)
    except BuildError as exc:
        log(str(exc))


def _discard_abandoned(suite: config.Suite) -> None:
    """Build dirs of this suite left by builds whose process is gone."""
    prefix = os.path.basename(suite.image_dir) + ".tmp-"
    try:
        names = os.listdir(config.CACHE_ROOT)
    except FileNotFoundError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            log(f"removing abandoned build dir {name}")
            _discard(os.path.join(config.CACHE_ROOT, name))


def prune() -> list:
    """Delete finished image dirs that no current suite's key names."""
    current = {os.path.basename(s.image_dir) for s in config.SUITES.values()}
    try:  # never the image a running guest boots from
        with open(os.path.join(config.RUN_DIR, "state.json")) as fh:
            current.add(os.path.basename(json.load(fh)["image_dir"]))
    except (OSError, ValueError, KeyError):
        pass
    removed = []
    for name in sorted(os.listdir(config.CACHE_ROOT)) if os.path.isdir(config.CACHE_ROOT) else []:
        path = os.path.join(config.CACHE_ROOT, name)
        suite, _sep, key = name.partition("-")
        if suite in config.SUITES and len(key) == 12 and name not in current \
                and os.path.exists(os.path.join(path, "manifest.json")):
            safe_rmtree(path)
            removed.append(name)
    return removed
