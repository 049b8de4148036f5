"""Small helpers shared by the fleet modules: running commands, logging, pids."""

from __future__ import annotations

import os
import subprocess
import sys
import time


class FleetError(RuntimeError):
    """Something the harness could not do; the message says what and why."""


def log(msg: str) -> None:
    print(f"[fleet] {msg}", file=sys.stderr, flush=True)


def run(cmd, *, check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run cmd (a list); on failure raise FleetError with the command's output."""
    if capture:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
    proc = subprocess.run(cmd, check=False, **kw)
    if check and proc.returncode != 0:
        out = ((proc.stdout or "") + (proc.stderr or "")) if capture else ""
        raise FleetError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{out[-4000:]}")
    return proc


def pid_alive(pid: int) -> bool:
    """True if pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def pid_start_time(pid: int) -> int | None:
    """The process start time in clock ticks: with the pid, it names one process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid: int, start_time: int | None) -> bool:
    """True if pid still is the process that had start_time (no pid reuse)."""
    return start_time is not None and pid_alive(pid) and pid_start_time(pid) == start_time


def kill_and_wait(pids, timeout: float = 5.0) -> list[int]:
    """SIGTERM the given pids, SIGKILL what is left after timeout; return the killed."""
    import signal

    pids = [p for p in pids if pid_alive(p)]
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pids)
            pids = [p for p in pids if pid_alive(p)]
            if not pids:
                return []
            time.sleep(0.05)
    return pids


def _reap(pids) -> None:
    """Collect those of pids that are exited children of this process (no zombies)."""
    for p in pids:
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass


def descendants(pid: int) -> list[int]:
    """Every process under pid (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL pid and every process under it, by pid (ansible-playbook's workers each lead a process group of
    their own, so killing its group is not enough); one may exit on its own meanwhile."""
    import signal
    for member in [pid] + descendants(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
