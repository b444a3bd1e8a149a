"""Server processes: free ports, readiness, guaranteed teardown and RSS sampling from /proc."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "OtherLoad",
    "RssSampler",
    "ServerProcess",
    "busy_processes",
    "free_port",
    "tree_cpu_seconds",
    "tree_memory",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(root: int) -> list[int]:
    children = _children_map()
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _memory_of(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes; PSS splits pages shared between processes (a forked worker and
    its parent) among them, so a sum over a tree counts each page once."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


def _cpu_ticks(reaped: bool = False) -> dict[int, tuple[str, int]]:
    ticks: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat.rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of /proc/PID/stat; cutime and cstime (16, 17)
        # what its children used that it has waited for.
        used = int(fields[11]) + int(fields[12])
        if reaped:
            used += int(fields[13]) + int(fields[14])
        ticks[int(entry.name)] = (name, used)
    return ticks


def tree_cpu_seconds(root: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds used so far by a process and its live descendants; with
    `reaped`, also by descendants that exited and were waited for (a PostgreSQL backend
    whose connection closed, say), each counted once, in the process that reaped it."""
    ticks = _cpu_ticks(reaped)
    return sum(ticks[pid][1] for pid in _descendants(root) if pid in ticks) / os.sysconf(
        "SC_CLK_TCK"
    )


class OtherLoad:
    """Watches, every `interval` seconds, the CPU that processes outside this harness (its
    servers and load generators are its descendants; kernel threads are left out) use while
    it runs: how much the measurements had to share the machine."""

    def __init__(self, interval: float = 2.0) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="other-load", daemon=True)
        self.cpu_seconds = 0.0
        self.by_name: dict[str, float] = {}
        self.started = 0.0
        self.elapsed = 0.0

    def _run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        before = _cpu_ticks()
        while not self._stop.wait(self._interval):
            after = _cpu_ticks()
            ours = set(_descendants(os.getpid())) | set(_descendants(2))
            for pid, (name, ticks) in after.items():
                if pid in ours or pid not in before:
                    continue
                used = (ticks - before[pid][1]) / hz
                if used > 0:
                    self.cpu_seconds += used
                    self.by_name[name] = self.by_name.get(name, 0.0) + used
            before = after

    def __enter__(self) -> OtherLoad:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.elapsed = time.monotonic() - self.started

    def summary(self) -> str:
        if not self.elapsed:
            return "not watched"
        share = self.cpu_seconds / self.elapsed
        top = sorted(self.by_name.items(), key=lambda item: -item[1])[:4]
        names = ", ".join(f"{name} {used:.0f} s" for name, used in top if used >= 1)
        return f"{self.cpu_seconds:,.0f} CPU-s, {share:.0%} of one core on average" + (
            f" ({names})" if names else ""
        )


def busy_processes(seconds: float = 1.0, threshold: float = 0.1) -> list[tuple[str, float]]:
    """Other processes using more than `threshold` of a CPU over `seconds`, busiest first:
    what else competes with the benchmark for the machine."""
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, ticks) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        share = (ticks - before[pid][1]) / hz / seconds
        if share >= threshold:
            busy.append((f"{name} (pid {pid})", share))
    return sorted(busy, key=lambda item: -item[1])


def tree_memory(root: int) -> tuple[int, int]:
    """Summed (RSS, PSS) of a process and all its descendants (Granian workers included)."""
    rss = pss = 0
    for pid in _descendants(root):
        r, p = _memory_of(pid)
        rss, pss = rss + r, pss + p
    return rss, pss


class RssSampler:
    """Polls the summed RSS and PSS of a process tree in a thread; `peak_rss`/`peak_pss` are
    the largest samples. Use as a context manager around one phase. The tree is re-listed
    every second so workers that start later are counted too."""

    def __init__(self, root_pid: int, interval: float = 0.05) -> None:
        self._root = root_pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_rss = 0
        self.peak_pss = 0

    def _sample(self, pids: list[int]) -> None:
        rss = pss = 0
        for pid in pids:
            r, p = _memory_of(pid)
            rss, pss = rss + r, pss + p
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        pids: list[int] = []
        listed_at = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - listed_at > 1.0:
                pids = _descendants(self._root)
                listed_at = now
            self._sample(pids)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._sample(_descendants(self._root))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(_descendants(self._root))


class ServerProcess:
    """One registry server: started in its own session, output to a log file, always stopped."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, port: int, path: str, timeout: float = 60.0) -> None:
        """Wait until `GET path` gets any HTTP answer; show the log if the server dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", path)
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # The group is the one this server was started in (start_new_session): only its processes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        # Workers that outlived their parent are still in the group: leave none behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
