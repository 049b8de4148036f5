"""Start and stop a fleet of SSH hosts on this machine, each in its own network namespace.

A fleet has a slot S (0..config.MAX_SLOTS-1) that names everything it creates:

    bridge           ebfl<S>br, 10.213.S.1/24, in this machine's namespace
    host i           netns ebpf-bcc-fleet<S>-<ii>, veth ebfl<S>h<ii> on the
                     bridge, eth0 = 10.213.S.(10+i)/24 inside, no default
                     route; hostname fleet-<ii> in a UTS namespace of its own
    state            config.STATE_ROOT/<S>/ (state.json, keys, inventory, logs,
                     per-host dirs); see README.md

Each host is one process tree: `ip netns exec NS unshare --uts --mount ...
sh start.sh`, which mounts what the host needs in its private mount namespace
and then execs sshd -D (chrooted for an own-root host). Every mount a host makes
lives in that namespace and disappears with its last process, so teardown is:
kill the processes in the host's netns, delete the netns and links, stop the
proxy, remove the state dir. `teardown_slot()` does that from names and
state.json alone, which is what `python -m tests.fleet down` runs after a crash.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from . import config, inventory, rootfs
from .util import FleetError, kill_and_wait, log, pid_alive, pid_start_time, run, same_process

SHARED = "shared"
STATE_FILE = "state.json"
_PR_SET_PDEATHSIG = 1


@dataclass
class Host:
    index: int
    name: str
    address: str
    netns: str
    veth: str
    root: str  # SHARED, or a Debian suite for an own-root host
    dir: str  # this host's state dir
    rootfs: str | None = None  # the cached root (overlay lower dir), own-root only
    pid: int | None = None
    start_time: int | None = None
    host_key_pub: str | None = None

    @property
    def own_root(self) -> bool:
        return self.root != SHARED

    def path(self, p: str) -> str:
        """Where path p inside this host is seen from this machine (via /proc/PID/root)."""
        if not self.pid:
            raise FleetError(f"{self.name} is not running")
        return f"/proc/{self.pid}/root/{p.lstrip('/')}"

    def running(self) -> bool:
        return bool(self.pid) and same_process(self.pid, self.start_time)


def _lock_path() -> str:
    return os.path.join(config.STATE_ROOT, ".lock")


@contextmanager
def _global_lock():
    os.makedirs(config.STATE_ROOT, exist_ok=True)
    with open(_lock_path(), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def slot_dir(slot: int) -> str:
    return os.path.join(config.STATE_ROOT, str(slot))


def read_state(slot: int) -> dict | None:
    try:
        with open(os.path.join(slot_dir(slot), STATE_FILE)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def used_slots() -> list[int]:
    """Slots that have a state dir or any netns/link named after them."""
    slots = set()
    if os.path.isdir(config.STATE_ROOT):
        slots.update(int(d) for d in os.listdir(config.STATE_ROOT) if d.isdigit())
    for ns in _our_netns():
        slots.add(int(re.match(rf"{config.NETNS_PREFIX}(\d+)-", ns).group(1)))
    for link in _our_links():
        slots.add(int(re.match(rf"{config.LINK_PREFIX}(\d+)", link).group(1)))
    return sorted(slots)


def _our_netns(slot: int | None = None) -> list[str]:
    s = r"\d+" if slot is None else str(slot)
    pat = re.compile(rf"^{config.NETNS_PREFIX}{s}-\d+$")
    out = run(["ip", "netns", "list"], check=False).stdout or ""
    return [line.split()[0] for line in out.splitlines() if line.split() and pat.match(line.split()[0])]


def _our_links(slot: int | None = None) -> list[str]:
    s = r"\d+" if slot is None else str(slot)
    pat = re.compile(rf"^{config.LINK_PREFIX}{s}(br|h\d+)$")
    out = run(["ip", "-j", "link", "show"], check=False).stdout or "[]"
    return [link["ifname"] for link in json.loads(out) if pat.match(link.get("ifname", ""))]


def _owner_gone(state: dict) -> bool:
    return not same_process(state.get("owner_pid", 0), state.get("owner_start_time"))


def _check_network_free() -> None:
    """Refuse to start if this machine already has addresses or routes in our range
    that the harness did not make: we must only ever talk to what we created."""
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for link in addrs:
        if link.get("ifname", "").startswith(config.LINK_PREFIX):
            continue
        for a in link.get("addr_info", []):
            if a.get("local", "").startswith(config.NET_PREFIX + "."):
                raise FleetError(
                    f"{link['ifname']} has {a['local']}, inside the fleet range {config.NET_SUPERNET}: "
                    "the harness only uses addresses it creates; free the range or change config.NET_PREFIX"
                )
    routes = json.loads(run(["ip", "-j", "-4", "route", "show"]).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if dst.startswith(config.NET_PREFIX + ".") or dst == config.NET_SUPERNET:
            if r.get("type") == "blackhole" or r.get("dev", "").startswith(config.LINK_PREFIX):
                continue
            raise FleetError(f"route {dst} via {r.get('dev')} is inside the fleet range {config.NET_SUPERNET}")


def _ensure_blackhole() -> None:
    run(["ip", "route", "replace", "blackhole", config.NET_SUPERNET])


def _drop_blackhole_if_unused() -> None:
    if not used_slots():
        run(["ip", "route", "del", "blackhole", config.NET_SUPERNET], check=False)


def assert_local(address: str, bridge: str) -> None:
    """Raise unless address is reached through our bridge (never the default route)."""
    out = run(["ip", "-j", "route", "get", address], check=False).stdout or "[]"
    try:
        dev = json.loads(out)[0].get("dev")
    except (ValueError, IndexError):
        dev = None
    if dev != bridge:
        raise FleetError(f"{address} would be reached through {dev!r}, not the fleet bridge {bridge}: not connecting")


def teardown_slot(slot: int, *, quiet: bool = False, locked: bool = False) -> dict:
    """Remove everything slot has made: processes, netns, links, proxy, state dir.

    Works from names and state.json alone (after a crash, from another
    process). Kills only processes that are the recorded host/proxy processes
    (checked by pid and start time) or that live in one of this slot's network
    namespaces, which only the harness's sshd and start.sh put there.
    """
    t0 = time.monotonic()
    state = read_state(slot) or {}
    pids = set()
    for h in state.get("hosts", []):
        if h.get("pid") and same_process(h["pid"], h.get("start_time")):
            pids.add(h["pid"])
    namespaces = _our_netns(slot)
    for ns in namespaces:
        out = run(["ip", "netns", "pids", ns], check=False).stdout or ""
        pids.update(int(p) for p in out.split() if p.isdigit())
    left = kill_and_wait(sorted(pids))
    kill_s = time.monotonic() - t0
    if left:
        raise FleetError(f"slot {slot}: processes {left} did not exit after SIGKILL")
    proxy = state.get("proxy") or {}
    if proxy.get("pid") and same_process(proxy["pid"], proxy.get("start_time")):
        kill_and_wait([proxy["pid"]])
    for ns in namespaces:
        run(["ip", "netns", "del", ns], check=False)
    for link in _our_links(slot):
        run(["ip", "link", "del", link], check=False)
    d = slot_dir(slot)
    # Mounts are in the hosts' own mount namespaces and went with their
    # processes; anything still mounted under the state dir would be a bug,
    # but must not make rm -rf reach into it.
    for mnt in rootfs._mounts_under(d):
        run(["umount", "-l", mnt], check=False)
    t_rm = time.monotonic()
    if os.path.lexists(d):
        run(["rm", "-rf", "--one-file-system", d])
    rm_s = time.monotonic() - t_rm
    if locked:
        _drop_blackhole_if_unused()
    else:
        with _global_lock():
            _drop_blackhole_if_unused()
    result = {
        "slot": slot,
        "killed": len(pids),
        "netns": len(namespaces),
        "down_s": round(time.monotonic() - t0, 2),
        "kill_s": round(kill_s, 2),
        "rm_s": round(rm_s, 2),
    }
    if not quiet:
        log(f"slot {slot}: down in {result['down_s']} s ({len(pids)} processes, {len(namespaces)} namespaces)")
    return result


def teardown_all() -> list[dict]:
    return [teardown_slot(s) for s in used_slots()]


def _parse_roots(hosts, root) -> list[str]:
    if isinstance(hosts, int):
        if hosts < 1 or hosts > config.MAX_HOSTS:
            raise FleetError(f"hosts must be 1..{config.MAX_HOSTS}, got {hosts}")
        roots = [root] * hosts
    else:
        roots = list(hosts)
        if not roots or len(roots) > config.MAX_HOSTS:
            raise FleetError(f"give 1..{config.MAX_HOSTS} hosts, got {len(roots)}")
    for r in roots:
        if r != SHARED and r not in config.SUITES:
            raise FleetError(f"unknown root {r!r}: use {SHARED!r} or a suite ({', '.join(config.SUITES)})")
    return roots


SSHD_CONFIG = """\
# ebpf.bcc test fleet: {name} ({root} root), written by tests/fleet
ListenAddress {address}:22
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
LogLevel INFO
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""

START_SHARED = """\
#!/bin/sh
# {name}: shared root, netns {netns}. Runs in its own UTS and mount namespaces
# (made by unshare); every mount here vanishes with the host's last process.
set -eu
H={dir}
hostname {name}
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
mount --bind "$H/etc/hosts" /etc/hosts
mount --bind "$H/etc/hostname" /etc/hostname
if [ -e /etc/resolv.conf ]; then mount --bind "$H/etc/resolv.conf" /etc/resolv.conf; fi
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
mount -t tmpfs -o mode=0755 tmpfs /run/sshd
exec /usr/sbin/sshd -D -e -f "$H/sshd_config"
"""

START_OWN = """\
#!/bin/sh
# {name}: own root ({root}, overlay on the cached {rootfs}), netns {netns}.
# Runs in its own UTS and mount namespaces (made by unshare); every mount here
# vanishes with the host's last process.
set -eu
H={dir}
R="$H/root"
hostname {name}
mount -t overlay overlay -o "lowerdir={rootfs}/root,upperdir=$H/upper,workdir=$H/work" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tracefs tracefs "$R/sys/kernel/tracing"
mount -t debugfs debugfs "$R/sys/kernel/debug"
mount --rbind /dev "$R/dev"
mount --make-rslave "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mkdir -m 0755 "$R/run/sshd" "$R/run/lock"
install -m 0644 "$H/etc/hosts" "$R/etc/hosts"
install -m 0644 "$H/etc/hostname" "$R/etc/hostname"
install -m 0644 "$H/etc/resolv.conf" "$R/etc/resolv.conf"
install -m 0644 "$H/etc/apt-proxy.conf" "$R/etc/apt/apt.conf.d/00ebpf-bcc-fleet-proxy"
install -m 0600 "$H/ssh_host_ed25519_key" "$R/etc/ssh/ssh_host_ed25519_key"
install -m 0644 "$H/ssh_host_ed25519_key.pub" "$R/etc/ssh/ssh_host_ed25519_key.pub"
install -m 0644 "$H/sshd_config" "$R/etc/ssh/sshd_config.ebpf-bcc-fleet"
install -d -m 0700 "$R/root/.ssh"
install -m 0600 "$H/authorized_keys" "$R/root/.ssh/authorized_keys"
exec chroot "$R" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.ebpf-bcc-fleet
"""


class Fleet:
    """N SSH hosts on this machine. Use as a context manager, or up()/down().

        with Fleet(6) as f:                      # 6 shared-root hosts
            f.ansible("fleet_ssh", "ping")
        with Fleet(["bookworm", "trixie"]) as f: # two own-root hosts
            ...
        Fleet(3, root="bullseye")                # three bullseye hosts

    detached=True (the CLI's `up`) leaves the hosts running after this process
    exits; otherwise sshd gets SIGTERM when the process that started it dies,
    and the next Fleet or `down` removes the rest.
    """

    def __init__(self, hosts=1, root: str = SHARED, *, detached: bool = False, ready_timeout: float = 30.0):
        self.roots = _parse_roots(hosts, root)
        self.detached = detached
        self.ready_timeout = ready_timeout
        self.slot: int | None = None
        self.dir: str | None = None
        self.hosts: list[Host] = []
        self.proxy: dict | None = None
        self.rootfs: dict[str, dict] = {}
        self.timings: dict = {}
        self._up = False
        self._old_handlers: dict = {}
        self._procs: dict[int, subprocess.Popen] = {}

    # -- paths -----------------------------------------------------------
    @property
    def key_file(self) -> str:
        return os.path.join(self.dir, "id_ed25519")

    @property
    def known_hosts(self) -> str:
        return os.path.join(self.dir, "known_hosts")

    @property
    def inventory(self) -> str:
        """The inventory with groups fleet, fleet_ssh and fleet_paramiko."""
        return os.path.join(self.dir, "inventory.yml")

    def inventory_for(self, connection: str) -> str:
        """An inventory that has each host once (group fleet), over ssh or paramiko."""
        if connection not in ("ssh", "paramiko"):
            raise FleetError(f"connection must be ssh or paramiko, not {connection!r}")
        return os.path.join(self.dir, f"inventory-{connection}.yml")

    @property
    def bridge(self) -> str:
        return config.bridge_name(self.slot)

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> Fleet:
        self._install_signal_handlers()
        try:
            self.up()
        except BaseException:
            self.down()
            self._restore_signal_handlers()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.down()
        finally:
            self._restore_signal_handlers()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def to_interrupt(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                self._old_handlers[sig] = signal.signal(sig, to_interrupt)

    def _restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers.clear()

    def up(self) -> Fleet:
        if os.geteuid() != 0:
            raise FleetError("a fleet needs root (network namespaces, mounts, sshd)")
        if self._up:
            raise FleetError(f"this fleet is up already (slot {self.slot})")
        self.slot = self.dir = self.proxy = None
        self.hosts, self._procs, self.timings = [], {}, {}
        t0 = time.monotonic()
        # Roots first: a build takes a minute and needs no network of ours.
        for suite in sorted({r for r in self.roots if r != SHARED}):
            self.rootfs[suite] = rootfs.ensure_rootfs(suite)
        self.timings["rootfs_s"] = round(time.monotonic() - t0, 2)
        self.timings["rootfs_cached"] = {s: m["cached"] for s, m in self.rootfs.items()}

        t1 = time.monotonic()
        self._up = True  # from here on, down() has something to remove
        _LIVE.add(self)
        self._allocate()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ebpf-bcc-fleet{self.slot}", "-f", self.key_file])
        self._make_bridge()
        if any(r != SHARED for r in self.roots):
            self._start_proxy()
        for i, r in enumerate(self.roots, start=1):
            self._start_host(i, r)
            self._write_state()
        self._wait_ready()
        self._write_client_files()
        self.timings["up_s"] = round(time.monotonic() - t1, 2)
        self.timings["hosts"] = len(self.hosts)
        self._write_state()
        log(
            f"slot {self.slot}: {len(self.hosts)} hosts up in {self.timings['up_s']} s "
            f"(roots {self.timings['rootfs_s']} s): {self.inventory}"
        )
        return self

    def down(self) -> dict:
        if not self._up:
            return {}
        if self.slot is None:  # up() failed before a slot was allocated
            self._up = False
            _LIVE.discard(self)
            return {}
        result = teardown_slot(self.slot, quiet=True)
        self._up = False
        _LIVE.discard(self)
        self.timings["down_s"] = result["down_s"]
        log(f"slot {self.slot}: {len(self.hosts)} hosts down in {result['down_s']} s")
        return result

    # -- steps of up() -----------------------------------------------------
    def _allocate(self) -> None:
        with _global_lock():
            _check_network_free()
            # Reclaim fleets whose owner died without cleaning up (not detached).
            for s in used_slots():
                st = read_state(s)
                if st is None or (not st.get("detached") and _owner_gone(st)):
                    log(f"slot {s}: left over by a process that is gone; cleaning it up")
                    teardown_slot(s, locked=True)
            taken = set(used_slots())
            free = [s for s in range(config.MAX_SLOTS) if s not in taken]
            if not free:
                raise FleetError(f"all {config.MAX_SLOTS} fleet slots are in use: python -m tests.fleet down --all")
            self.slot = free[0]
            self.dir = slot_dir(self.slot)
            os.makedirs(os.path.join(self.dir, "hosts"), mode=0o700)
            # state.json exists from the moment the slot does: a slot dir
            # without one is a leftover that the next allocation may remove.
            self._write_state()
            _ensure_blackhole()

    def _write_state(self) -> None:
        state = {
            "slot": self.slot,
            "dir": self.dir,
            "owner_pid": os.getpid(),
            "owner_start_time": pid_start_time(os.getpid()),
            "detached": self.detached,
            "roots": self.roots,
            "bridge": config.bridge_name(self.slot),
            "bridge_address": config.bridge_address(self.slot),
            "proxy": self.proxy,
            "hosts": [asdict(h) for h in self.hosts],
            "inventory": self.inventory,
            "inventory_ssh": self.inventory_for("ssh"),
            "inventory_paramiko": self.inventory_for("paramiko"),
            "key_file": self.key_file,
            "known_hosts": self.known_hosts,
            "rootfs": {s: m["path"] for s, m in self.rootfs.items()},
            "timings": self.timings,
        }
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(self.dir, STATE_FILE))

    def _make_bridge(self) -> None:
        br = self.bridge
        run(["ip", "link", "add", br, "type", "bridge"])
        # No IPv6 on our links: no router solicitations, no MLD, nothing sent
        # but what the tests send.
        run(["sysctl", "-q", "-w", f"net.ipv6.conf.{br}.disable_ipv6=1"], check=False)
        run(["ip", "addr", "add", f"{config.bridge_address(self.slot)}/24", "dev", br])
        run(["ip", "link", "set", br, "up"])

    def _popen_kwargs(self, log_path: str) -> dict:
        kw = {
            "stdin": subprocess.DEVNULL,
            "stdout": open(log_path, "ab"),
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
            "close_fds": True,
        }
        if not self.detached:
            libc = ctypes.CDLL(None, use_errno=True)

            def tie_to_parent():
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

            kw["preexec_fn"] = tie_to_parent
        return kw

    def _start_proxy(self) -> None:
        addr = config.bridge_address(self.slot)
        cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "proxy.py"), "--listen", f"{addr}:{config.PROXY_PORT}"]
        for h in config.PROXY_ALLOW:
            cmd += ["--allow", h]
        if config.PROXY_CACHE:
            cmd += ["--cache-dir", config.PROXY_CACHE]
        kw = self._popen_kwargs(os.path.join(self.dir, "proxy.log"))
        with kw["stdout"]:
            proc = subprocess.Popen(cmd, **kw)
        self.proxy = {"pid": proc.pid, "start_time": pid_start_time(proc.pid), "url": f"http://{addr}:{config.PROXY_PORT}/"}
        self._write_state()

    def _start_host(self, index: int, root: str) -> None:
        slot = self.slot
        name = config.host_name(index)
        hdir = os.path.join(self.dir, "hosts", f"{index:02d}")
        h = Host(
            index=index,
            name=name,
            address=config.host_address(slot, index),
            netns=config.netns_name(slot, index),
            veth=config.veth_name(slot, index),
            root=root,
            dir=hdir,
            rootfs=self.rootfs[root]["path"] if root != SHARED else None,
        )
        self.hosts.append(h)
        os.makedirs(os.path.join(hdir, "etc"), mode=0o755)
        # The network: a veth from the bridge to eth0 in the host's namespace.
        run(["ip", "netns", "add", h.netns])
        self._write_state()
        run(["ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns])
        run(["sysctl", "-q", "-w", f"net.ipv6.conf.{h.veth}.disable_ipv6=1"], check=False)
        run(["ip", "link", "set", h.veth, "master", self.bridge, "up"])
        nsx = ["ip", "netns", "exec", h.netns]
        run(nsx + ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"], check=False)
        run(nsx + ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"], check=False)
        run(nsx + ["ip", "addr", "add", f"{h.address}/24", "dev", "eth0"])
        run(nsx + ["ip", "link", "set", "eth0", "up"])
        run(nsx + ["ip", "link", "set", "lo", "up"])

        # Keys and files.
        host_key = os.path.join(hdir, "ssh_host_ed25519_key")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}-host", "-f", host_key])
        with open(host_key + ".pub") as fh:
            h.host_key_pub = " ".join(fh.read().split()[:2])
        with open(self.key_file + ".pub") as fh:
            pub = fh.read()
        with open(os.path.join(hdir, "authorized_keys"), "w") as fh:
            fh.write(pub)
        others = "".join(
            f"{config.host_address(slot, i)}\t{config.host_name(i)}\n"
            for i in range(1, len(self.roots) + 1)
            if i != index
        )
        with open(os.path.join(hdir, "etc/hosts"), "w") as fh:
            fh.write(f"127.0.0.1\tlocalhost\n{h.address}\t{name}\n{others}")
        with open(os.path.join(hdir, "etc/hostname"), "w") as fh:
            fh.write(name + "\n")
        open(os.path.join(hdir, "etc/resolv.conf"), "w").close()
        if h.own_root:
            conf = {
                "host_key": "/etc/ssh/ssh_host_ed25519_key",
                "pid_file": "/run/sshd.pid",
                "authorized_keys": "/root/.ssh/authorized_keys",
            }
            with open(os.path.join(hdir, "etc/apt-proxy.conf"), "w") as fh:
                fh.write(
                    "// ebpf.bcc test fleet: this host reaches the Debian archive only through\n"
                    "// the fleet's proxy on its bridge (tests/fleet/proxy.py).\n"
                    f'Acquire::http::Proxy "{self.proxy["url"]}";\n'
                    'Acquire::http::Pipeline-Depth "0";\n'
                    'Acquire::Retries "3";\n'
                )
            for d in ("root", "upper", "work"):
                os.makedirs(os.path.join(hdir, d), mode=0o755)
            script = START_OWN
        else:
            conf = {
                "host_key": host_key,
                "pid_file": os.path.join(hdir, "sshd.pid"),
                "authorized_keys": os.path.join(hdir, "authorized_keys"),
            }
            script = START_SHARED
        with open(os.path.join(hdir, "sshd_config"), "w") as fh:
            fh.write(SSHD_CONFIG.format(name=name, root=root, address=h.address, **conf))
        start = os.path.join(hdir, "start.sh")
        with open(start, "w") as fh:
            fh.write(script.format(name=name, root=root, netns=h.netns, dir=shlex.quote(hdir), rootfs=h.rootfs))
        os.chmod(start, 0o755)

        cmd = nsx + ["unshare", "--uts", "--mount", "--propagation", "slave", "--", "/bin/sh", start]
        kw = self._popen_kwargs(os.path.join(hdir, "host.log"))
        with kw["stdout"]:
            proc = subprocess.Popen(cmd, **kw)
        h.pid = proc.pid
        h.start_time = pid_start_time(proc.pid)
        self._procs[proc.pid] = proc

    def _wait_ready(self) -> None:
        t0 = time.monotonic()
        for h in self.hosts:
            assert_local(h.address, self.bridge)
        pending = list(self.hosts)
        deadline = time.monotonic() + self.ready_timeout
        while pending:
            for h in list(pending):
                if not pid_alive(h.pid) or self._procs[h.pid].poll() is not None:
                    raise FleetError(f"{h.name}: sshd exited during start; see {h.dir}/host.log:\n{_tail(h.dir + '/host.log')}")
                if _banner(h.address):
                    pending.remove(h)
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(h.name for h in pending)
                raise FleetError(f"no SSH banner from {names} within {self.ready_timeout} s; see host.log in {self.dir}/hosts/")
            time.sleep(0.05)
        self.timings["ready_s"] = round(time.monotonic() - t0, 2)

    def _write_client_files(self) -> None:
        with open(self.known_hosts, "w") as fh:
            for h in self.hosts:
                fh.write(f"{h.address} {h.host_key_pub}\n")
        os.makedirs(os.path.join(self.dir, "cp"), mode=0o700, exist_ok=True)
        inventory.write_all(self)

    # -- using the fleet ---------------------------------------------------
    def ssh_args(self) -> list[str]:
        """OpenSSH options that reach the fleet's hosts (key, known_hosts, control socket)."""
        return [
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", f"ControlPath={self.dir}/cp/%C",
        ]  # fmt: skip

    def ssh(self, host: Host | str, command: str, *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run command on host with OpenSSH as root; returns the CompletedProcess (text)."""
        h = self.host(host)
        assert_local(h.address, self.bridge)
        cmd = ["ssh", "-i", self.key_file, *self.ssh_args(), "-o", "ControlMaster=no", f"root@{h.address}", command]
        return run(cmd, check=check, timeout=timeout)

    def host(self, host: Host | str | int) -> Host:
        if isinstance(host, Host):
            return host
        for h in self.hosts:
            if host in (h.name, h.index, h.address):
                return h
        raise FleetError(f"no host {host!r} in this fleet ({', '.join(h.name for h in self.hosts)})")

    def env(self) -> dict:
        """Environment for ansible commands run against this fleet."""
        env = dict(os.environ)
        env.update(
            ANSIBLE_INVENTORY=self.inventory,
            ANSIBLE_PARAMIKO_LOOK_FOR_KEYS="False",
            ANSIBLE_PARAMIKO_RECORD_HOST_KEYS="False",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        return env

    def ansible(
        self,
        pattern: str,
        module: str = "ping",
        args: str | None = None,
        *,
        inventory_path: str | None = None,
        forks: int | None = None,
        extra=(),
        check: bool = True,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        """Run the `ansible` ad-hoc command next to this Python against the fleet."""
        for h in self.hosts:
            assert_local(h.address, self.bridge)
        cmd = [_tool("ansible"), pattern, "-i", inventory_path or self.inventory, "-m", module]
        if args is not None:
            cmd += ["-a", args]
        if forks:
            cmd += ["--forks", str(forks)]
        cmd += list(extra)
        return run(cmd, check=check, env=self.env(), timeout=timeout)

    def ansible_results(self, pattern: str, module: str = "ping", args: str | None = None, **kw) -> dict:
        """Run `ansible` like ansible() (check=False) and return {host: result dict}.

        Results come from the tree callback (one JSON file per host); a host
        that was unreachable has "unreachable": true. The CompletedProcess is
        under the key None.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="fleet-tree-") as tree:
            proc = self.ansible(pattern, module, args, extra=[*kw.pop("extra", ()), "--tree", tree], check=False, **kw)
            results: dict = {None: proc}
            for name in sorted(os.listdir(tree)):
                with open(os.path.join(tree, name)) as fh:
                    results[name] = json.load(fh)
        return results

    def ansible_playbook(self, playbook: str, *, inventory_path: str | None = None, extra=(), check: bool = True, timeout: float = 1800):
        for h in self.hosts:
            assert_local(h.address, self.bridge)
        cmd = [_tool("ansible-playbook"), "-i", inventory_path or self.inventory, playbook, *extra]
        return run(cmd, check=check, env=self.env(), timeout=timeout)

    def describe(self) -> dict:
        return read_state(self.slot) or {}


def _tool(name: str) -> str:
    """An Ansible command next to this Python (the venv's), else the one on PATH."""
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(exe):
        return exe
    found = shutil.which(name)
    if not found:
        raise FleetError(f"{name} is neither next to {sys.executable} nor on PATH: run make setup")
    return found


def _tail(path: str, n: int = 20) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return ""


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1) as s:
            s.settimeout(2)
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


_LIVE: set = set()


def _down_all_live() -> None:
    for f in list(_LIVE):
        try:
            f.down()
        except Exception as exc:  # noqa: BLE001 - at exit, report and go on
            log(f"slot {f.slot}: teardown at exit failed: {exc}")


atexit.register(_down_all_live)
