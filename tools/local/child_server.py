"""Shared start/stop code of the local servers that run as Python child processes (moto, the fault proxy).

Parent side: ``ChildServer`` spawns ``python -m <module> <args> --ready-file F`` in its own session (a Ctrl-C in the
terminal reaches the parent, which stops the child by its PID), waits (bounded) for the child to write
``{"port": n, "pid": n}`` to ``F``, and stops it with SIGTERM (SIGKILL if it lingers).

Child side: ``stop_event`` installs the signal handlers, ``announce_ready`` writes that file atomically,
``wait_for_stop`` blocks until SIGTERM/SIGINT, or until
the parent died without stopping us (so no server lingers after a crashed test run).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""Repository root: the children run ``python -m tools.local.<module>`` from here."""


def terminate(proc: "subprocess.Popen[bytes]", timeout: float) -> int:
    """SIGTERM ``proc`` by its PID unless it has exited; SIGKILL if it lingers past ``timeout``. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return int(proc.returncode)


class ChildServer:
    """A server child process announcing its port in a ready file; stopped by its PID."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        name: str,
        log_path: Path | None = None,
        error: type[Exception] = RuntimeError,
    ) -> None:
        """Prepare (not start) ``python -m module *args``; ``name`` and ``error`` shape the failure messages."""
        self.module = module
        self.args = list(args)
        self.name = name
        self.log_path = log_path
        self.error = error
        self.pid: int | None = None
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout: float) -> int:
        """Spawn the child, wait (bounded by ``timeout``) for its ready file, return the port it listens on."""
        if self._proc is not None:
            raise self.error(f"{self.name} already started")
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.name.replace(' ', '-')}-")
        ready = Path(self._tmp.name) / "ready.json"
        log = self.log_path or Path(self._tmp.name) / "server.log"
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args, "--ready-file", str(ready)],
                cwd=str(REPO),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self._proc.poll() is not None:
                code = self._proc.returncode
                tail = log.read_text(errors="replace")[-2000:]
                self.stop()
                raise self.error(f"{self.name} exited with {code}: {tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise self.error(f"{self.name} not ready within {timeout:.0f}s (log: {log})")
            time.sleep(0.05)
        self.port = int(json.loads(ready.read_text())["port"])
        return self.port

    def alive(self) -> bool:
        """Whether the child is running."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID (SIGKILL if it lingers past ``timeout``); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, timeout)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def announce_ready(ready_file: str, port: int) -> None:
    """Child side: atomically write ``{"port", "pid"}`` to ``ready_file``."""
    tmp = ready_file + ".tmp"
    Path(tmp).write_text(json.dumps({"port": port, "pid": os.getpid()}))
    os.replace(tmp, ready_file)


def stop_event() -> threading.Event:
    """Child side: an event set by SIGTERM/SIGINT (install it before announcing readiness)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event, watch_parent: bool = True) -> None:
    """Child side: block until ``stop`` is set (or, with ``watch_parent``, until the parent process is gone)."""
    parent = os.getppid()
    while not stop.wait(1.0):
        if watch_parent and os.getppid() != parent:  # the parent died without stopping us: do not linger
            break
