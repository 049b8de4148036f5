"""Boot one guest under qemu (TCG), wait for a real SSH login, always shut down.

A running guest is described by a state file (RUN_DIR/state.json) so that
`python -m tests.guests down` can stop it from another process, e.g. after an
interrupted test run. Only one guest runs at a time.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

from . import build, config
from .inventory import write_inventory

STATE_FILE = "state.json"


class GuestError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[guests] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_our_qemu(pid: int, overlay: str) -> bool:
    """True only if pid is still the qemu that boots this overlay (no pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        return False
    return bool(args) and os.path.basename(args[0]).startswith(b"qemu-system") and any(
        overlay.encode() in a for a in args
    )


def _set_pdeathsig() -> None:
    # qemu dies with the process that started it, even if that one is killed
    # hard; used when the harness owns the guest for its own lifetime.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def read_state(run_dir: str = None) -> dict | None:
    path = os.path.join(run_dir or config.RUN_DIR, STATE_FILE)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


class Guest:
    """A booted guest. Use as a context manager, or call up()/down()."""

    def __init__(self, suite: str = config.DEFAULT_SUITE, run_dir: str = None,
                 boot_timeout: float = None, tie_to_parent: bool = True, wait: float = 0):
        self.suite = config.get_suite(suite)
        self.run_dir = run_dir or config.RUN_DIR
        if boot_timeout is None:
            boot_timeout = float(os.environ.get("EBPF_BCC_GUEST_BOOT_TIMEOUT", "420"))
        self.boot_timeout = boot_timeout
        self.wait = wait
        self.tie_to_parent = tie_to_parent
        self.image_dir = self.suite.image_dir
        self.proc = None
        self.pid = None
        self.port = None
        self.manifest = None
        self.timings = {}
        self.ready = False
        self._old_handlers = {}

    @classmethod
    def from_state(cls, state: dict, run_dir: str = None) -> "Guest":
        """The guest a state file describes (its image, key and port), for ssh/down."""
        g = cls(state["suite"], run_dir=run_dir)
        g.image_dir = state["image_dir"]
        g.port = state["port"]
        g.pid = state["pid"]
        return g

    # ---- paths -----------------------------------------------------------

    @property
    def key(self) -> str:
        return os.path.join(self.image_dir, "id_ed25519")

    @property
    def overlay(self) -> str:
        return os.path.join(self.run_dir, f"{self.suite.name}-overlay.qcow2")

    @property
    def console_log(self) -> str:
        return os.path.join(self.run_dir, f"{self.suite.name}-console.log")

    @property
    def inventory(self) -> str:
        return os.path.join(self.run_dir, "inventory.yml")

    @property
    def kernel_release(self) -> str:
        return self.manifest["kernel_release"]

    @property
    def host_name(self) -> str:
        return f"guest-{self.suite.name}"

    # ---- ssh -------------------------------------------------------------
    def ssh_args(self, connect_timeout: int = 10) -> list:
        return [
            "ssh", "-p", str(self.port), "-i", self.key,
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6",
            "root@127.0.0.1",
        ]

    def ssh(self, command, check: bool = True, timeout: float = 600,
            connect_timeout: int = 10, retries: int = 2) -> subprocess.CompletedProcess:
        """Run a shell command in the guest as root; returns the CompletedProcess."""
        if not isinstance(command, str):
            command = shlex.join(command)
        for attempt in range(retries + 1):
            res = subprocess.run(
                self.ssh_args(connect_timeout) + ["--", command],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
            )
            # 255 with no output is ssh failing to log in (the guest's sshd
            # under emulation sometimes drops a fresh connection), not the command.
            if res.returncode != 255 or res.stdout or attempt == retries:
                break
            log(f"{self.host_name}: ssh login failed ({res.stderr.strip()[-200:]}); retrying")
            time.sleep(2)
        if check and res.returncode != 0:
            raise GuestError(
                f"{command!r} failed in {self.host_name} ({res.returncode}):\n{res.stdout}{res.stderr}"
            )
        return res

    def spawn(self, command: str, unit: str = None) -> str:
        """Start a shell command in the guest that outlives this SSH connection; returns its unit name.

        Each login to the guest's socket-activated sshd is an ssh@ service instance, and on bullseye
        systemd kills what is left in it when the connection closes (`nohup ... &` does not escape
        it), so a background process is started as a transient unit instead. Stop it with
        `systemctl stop UNIT` (the guest's shutdown stops it too)."""
        unit = unit or f"ebpf-bcc-spawn-{os.getpid()}-{int(time.time() * 1000)}"
        self.ssh(shlex.join(["systemd-run", "--quiet", "--collect", "--unit", unit, "/bin/sh", "-c", command]))
        return unit

    # ---- lifecycle ---------------------------------------------------------
    def _busy_state(self) -> dict | None:
        """The state of a guest that is running now (not a stale one), if any."""
        state = read_state(self.run_dir)
        if not state:
            return None
        if not (_pid_alive(state["pid"]) and _is_our_qemu(state["pid"], state["overlay"])):
            return None
        owner = state.get("owner_pid")
        if state.get("tied") and owner and owner != os.getpid() and not _pid_alive(owner):
            return None  # its owner died; qemu follows it (PDEATHSIG), clean it up
        return state

    def _claim(self):
        """Take the one-guest slot: wait (up to self.wait s) while another guest runs.

        Returns the open lock file; the caller holds it until its state file is
        written, so two harnesses never start a guest at the same time.
        """
        lock_path = os.path.join(self.run_dir, ".lock")
        deadline = time.monotonic() + self.wait
        announced = False
        while True:
            fh = open(lock_path, "w")
            fcntl.flock(fh, fcntl.LOCK_EX)
            state = self._busy_state()
            if state is None:
                down_from_state(self.run_dir)  # removes a stale state, if any
                return fh
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
            if time.monotonic() >= deadline:
                raise GuestError(
                    f"guest {state['suite']} (qemu pid {state['pid']}, started by pid "
                    f"{state.get('owner_pid')}) is already running; one guest at a time: "
                    "wait for it, or stop it with `python -m tests.guests down`"
                )
            if not announced:
                log(f"waiting up to {self.wait:.0f} s for guest {state['suite']} "
                    f"(qemu pid {state['pid']}, owner pid {state.get('owner_pid')}) to finish")
                announced = True
            time.sleep(5)

    def _start_qemu(self) -> None:
        m = self.image_dir
        cmd = [
            config.QEMU_BINARY, "-nodefaults", "-vga", "none", "-display", "none",
            *config.QEMU_ACCEL,
            "-kernel", os.path.join(m, "vmlinuz"),
            "-initrd", os.path.join(m, "initrd.img"),
            "-append", config.KERNEL_CMDLINE,
            "-drive", f"file={self.overlay},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
            "-device", "virtio-net-pci,netdev=n0",
            "-serial", f"file:{self.console_log}",
            "-no-reboot",
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.run_dir, f"{self.suite.name}-qemu.err"), "w"),
            start_new_session=True,
            preexec_fn=_set_pdeathsig if self.tie_to_parent else None,
        )
        self.pid = self.proc.pid

    def _write_state(self) -> None:
        state = {
            "suite": self.suite.name, "pid": self.pid, "port": self.port,
            "overlay": self.overlay, "key": self.key, "image_dir": self.image_dir,
            "kernel_release": self.kernel_release, "inventory": self.inventory,
            "owner_pid": os.getpid(), "tied": self.tie_to_parent,
            "host_name": self.host_name, "started_at": time.time(),
        }
        tmp = os.path.join(self.run_dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=2)
        os.rename(tmp, os.path.join(self.run_dir, STATE_FILE))

    def _qemu_error(self) -> str:
        try:
            with open(os.path.join(self.run_dir, f"{self.suite.name}-qemu.err")) as fh:
                err = fh.read()[-2000:]
        except OSError:
            err = ""
        try:
            with open(self.console_log, errors="replace") as fh:
                console = fh.read()[-3000:]
        except OSError:
            console = ""
        return f"qemu stderr:\n{err}\nconsole (tail):\n{console}"

    def up(self) -> "Guest":
        os.makedirs(self.run_dir, exist_ok=True)
        t = time.monotonic()
        cached = build.image_ready(self.suite)
        self.manifest = build.ensure_image(self.suite)
        self.timings["image_s"] = round(time.monotonic() - t, 2)
        self.timings["image_cached"] = cached
        lock = self._claim()
        # From here on any exception, including KeyboardInterrupt from a
        # signal, stops the guest and removes its files before propagating.
        try:
            try:
                self._start()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                lock.close()
            log(f"{self.suite.name}: qemu pid {self.pid}, ssh on 127.0.0.1:{self.port}")
            self._wait_ssh(self._t_start)
        except BaseException:
            if self.pid is not None:
                self.down()
            else:
                _cleanup_files(self.run_dir, self.suite.name)
            raise
        self.timings["boot_to_ssh_s"] = round(time.monotonic() - self._t_start, 2)
        log(f"{self.suite.name}: SSH login after {self.timings['boot_to_ssh_s']} s")
        return self

    def _start(self) -> None:
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
             "-b", os.path.join(self.image_dir, "image.raw"), self.overlay],
            check=True,
        )
        self._t_start = time.monotonic()
        for attempt in range(3):
            self.port = free_port()
            self._start_qemu()
            time.sleep(0.5)
            if self.proc.poll() is None:
                break
            err = self._qemu_error()
            if "hostfwd" not in err and "forwarding" not in err:
                raise GuestError(f"qemu exited at once ({self.proc.returncode}):\n{err}")
            log(f"port {self.port} was taken, retrying")
        else:
            raise GuestError("could not start qemu on a free loopback port")
        self._write_state()
        write_inventory(self.inventory, self)

    def _wait_ssh(self, t0: float) -> None:
        # qemu accepts on the forwarded port before sshd is up; only a full
        # login that runs a command counts as ready.
        deadline = t0 + self.boot_timeout
        while True:
            if self.proc.poll() is not None:
                raise GuestError(
                    f"qemu exited ({self.proc.returncode}) before SSH came up:\n{self._qemu_error()}"
                )
            try:
                res = self.ssh("true", check=False, timeout=30, connect_timeout=5, retries=0)
                if res.returncode == 0:
                    self.ready = True
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise GuestError(
                    f"no SSH login within {self.boot_timeout:.0f} s:\n{self._qemu_error()}"
                )
            time.sleep(1)

    def down(self) -> None:
        if self.pid is None:
            return
        t = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            # A guest that never took a login gets no poweroff: kill it at once.
            wait = 0.5
            if self.ready:
                wait = 60
                try:
                    self.ssh("systemctl poweroff", check=False, timeout=20, connect_timeout=5, retries=1)
                except subprocess.TimeoutExpired:
                    pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                log(f"{self.suite.name}: qemu did not exit after poweroff; killing pid {self.pid}")
                _kill(self.proc.pid, self.overlay, self.proc)
        self.timings["shutdown_s"] = round(time.monotonic() - t, 2)
        log(f"{self.suite.name}: down in {self.timings['shutdown_s']} s")
        _cleanup_files(self.run_dir, self.suite.name)
        self.pid = None
        self.proc = None
        self.ready = False

    # ---- context manager + signals -------------------------------------------
    def _on_signal(self, signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __enter__(self) -> "Guest":
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        try:
            return self.up()
        except BaseException:
            try:
                self.down()
            finally:
                self._restore_signals()
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.down()
        finally:
            self._restore_signals()

    def _restore_signals(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()


def _kill(pid: int, overlay: str, proc=None) -> None:
    if not _is_our_qemu(pid, overlay):
        return
    os.kill(pid, signal.SIGTERM)
    for _attempt in range(100):
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _pid_alive(pid):
            return
        time.sleep(0.1)
    if _is_our_qemu(pid, overlay):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=10)


def _cleanup_files(run_dir: str, suite: str) -> None:
    for name in (f"{suite}-overlay.qcow2", STATE_FILE, "inventory.yml"):
        try:
            os.remove(os.path.join(run_dir, name))
        except FileNotFoundError:
            pass


def down_from_state(run_dir: str = None) -> dict | None:
    """Stop the guest a state file describes (from any process). Returns the state."""
    run_dir = run_dir or config.RUN_DIR
    state = read_state(run_dir)
    if not state:
        return None
    pid, overlay = state["pid"], state["overlay"]
    t = time.monotonic()
    if _pid_alive(pid) and _is_our_qemu(pid, overlay):
        g = Guest.from_state(state, run_dir)
        try:
            res = g.ssh("systemctl poweroff", check=False, timeout=20, connect_timeout=5, retries=1)
            rounds = 600 if res.returncode == 0 else 50
        except subprocess.TimeoutExpired:
            rounds = 50
        for _round in range(rounds):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            log(f"qemu pid {pid} did not exit after poweroff; killing it")
            _kill(pid, overlay)
    state["shutdown_s"] = round(time.monotonic() - t, 2)
    _cleanup_files(run_dir, state["suite"])
    return state


def status(run_dir: str = None) -> dict:
    run_dir = run_dir or config.RUN_DIR
    state = read_state(run_dir)
    if not state:
        return {"running": False}
    alive = _pid_alive(state["pid"]) and _is_our_qemu(state["pid"], state["overlay"])
    return {"running": alive, "stale": not alive, **state}
