"""Start, reset and stop a moto server on 127.0.0.1 on a free port.

Two modes:

* ``"process"`` (default): a child Python process running ``ThreadedMotoServer`` (this file with ``--serve``);
  it has its own GIL, so a busy test or demo process does not slow moto down. Stopped by its PID.
* ``"thread"``: ``ThreadedMotoServer`` inside the calling process (cheapest to start).

Both modes install ``tools.local.moto_speedups`` (a proven-equivalent speed patch for DynamoDB base-table Query;
``MDP_MOTO_SPEEDUPS=0`` turns it off) and ``tools.local.moto_threadsafe`` (moto must not drop DynamoDB writes it
acknowledged when concurrent requests create one partition; always on).

Usage::

    with MotoServer() as moto:
        s3 = moto.client("s3")
        ...
        moto.reset()
"""

import argparse
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tools.local import moto_speedups, moto_threadsafe
from tools.local.child_server import ChildServer, announce_ready, stop_event, wait_for_stop

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
"""The credentials every local client sends moto (it accepts any). The account and region are
`tools.local.mocks.ACCOUNT`/`REGION`, imported where used: the moto child process must not import pulumi."""


class MotoServerError(RuntimeError):
    """moto could not be started, reached or reset."""


def _wait_http_ok(url: str, timeout: float, alive: Any = None) -> None:
    """Poll ``url`` until it answers (any HTTP status), bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise MotoServerError(f"moto server exited before it answered on {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise MotoServerError(f"moto server did not answer on {url} within {timeout:.0f}s: {last}")


class MotoServer:
    """A moto server bound to 127.0.0.1 on a free port; ``endpoint_url`` is set after ``start()``."""

    def __init__(self, mode: Literal["process", "thread"] = "process", log_path: Path | None = None) -> None:
        """Prepare (not start) a server; ``log_path`` receives the child's output in process mode."""
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', got {mode!r}")
        self.mode = mode
        self.log_path = log_path
        self.endpoint_url = ""
        self.port = 0
        self.pid: int | None = None
        self._child: ChildServer | None = None
        self._thread_server: Any = None

    def start(self, timeout: float = 30.0) -> "MotoServer":
        """Start the server and wait (bounded by ``timeout``) until it answers HTTP."""
        if self.endpoint_url:
            raise MotoServerError("already started")
        if self.mode == "thread":
            from moto.server import ThreadedMotoServer

            moto_speedups.install()
            moto_threadsafe.install()
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            self._thread_server = server
            _host, self.port = server.get_host_and_port()
            self.endpoint_url = f"http://127.0.0.1:{self.port}"
            _wait_http_ok(self.endpoint_url + "/moto-api/", timeout)
            return self
        self._child = ChildServer(
            "tools.local.moto_server", ["--serve"], "moto server", self.log_path, MotoServerError
        )
        deadline = time.monotonic() + timeout
        self.port = self._child.start(timeout)
        self.pid = self._child.pid
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        try:
            _wait_http_ok(
                self.endpoint_url + "/moto-api/", max(1.0, deadline - time.monotonic()), self._child.alive
            )
        except MotoServerError:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Clear every backend (``POST /moto-api/reset``)."""
        if not self.endpoint_url:
            raise MotoServerError("not started")
        req = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as resp:
            if resp.status != 200:
                raise MotoServerError(f"moto reset answered {resp.status}")

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at this server (region us-east-1, test credentials)."""
        import boto3
        from botocore.config import Config

        from tools.local.mocks import REGION

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=60),
            **CREDENTIALS,
            **kwargs,
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point AWS SDKs at this server."""
        from tools.local.mocks import REGION

        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (by its PID in process mode); safe to call twice."""
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None
        if self._child is not None:
            child, self._child = self._child, None
            child.stop(timeout)
        self.endpoint_url = ""

    def __enter__(self) -> "MotoServer":
        """Start on entering the context."""
        return self.start() if not self.endpoint_url else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on leaving the context."""
        self.stop()


def _serve(ready_file: str) -> int:
    """Child-process entry: run ThreadedMotoServer until SIGTERM/SIGINT, announce the port in ``ready_file``."""
    from moto.server import ThreadedMotoServer

    print(f"moto_speedups active: {moto_speedups.install()}", flush=True)  # first line of the log
    print(f"moto_threadsafe active: {moto_threadsafe.install()}", flush=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    stop = stop_event()
    announce_ready(ready_file, port)
    wait_for_stop(stop)
    server.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", action="store_true", help="run a server in this process until SIGTERM")
    parser.add_argument("--ready-file", help="write {port, pid} JSON here when ready")
    a = parser.parse_args()
    if not a.serve:
        with MotoServer() as m:
            print(f"moto on {m.endpoint_url} (pid {m.pid}); Ctrl-C stops it", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        sys.exit(0)
    sys.exit(_serve(a.ready_file or os.devnull))
