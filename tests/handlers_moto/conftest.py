"""Fixtures: one moto server per session (reset per test), Lambda hosts stopped by PID after each test."""

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tools.local.host import NODE18, NODE22, LambdaHostProcess
from tools.local.moto_server import MotoServer

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def node_binary(version: str) -> str:
    """The node binary for ``node22`` (tools/node22: the default Lambda runtime), ``node18`` (tools/node18) or
    ``node20`` (system node); fails clearly when missing."""
    pinned = {"node18": NODE18, "node22": NODE22}
    if version in pinned:
        if not pinned[version].exists():
            pytest.fail(f"Node binary {pinned[version]} missing: run `make node`")
        return str(pinned[version])
    if version == "node20":
        found = shutil.which("node")
        if not found:
            pytest.fail("system `node` (Node 20) not on PATH")
        return found
    raise ValueError(f"unknown node version {version!r}; allowed: node22, node20, node18")


NODE_VERSIONS = ("node22", "node18")
"""The bundles run end to end on the default runtime (nodejs22.x) and on the oldest one selectable (nodejs18.x)."""
NODE_MAJOR = {"node22": "v22.", "node20": "v20.", "node18": "v18."}


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``probe`` until it returns a truthy value; bounded by ``timeout`` seconds, then fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server process on 127.0.0.1 (free port), stopped by PID at the end of the session."""
    server = MotoServer(mode="process").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, reset to empty for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def start_host() -> Iterator[Callable[..., LambdaHostProcess]]:
    """Factory: start a Lambda host with a config; every host started is stopped (by PID) after the test."""
    hosts: list[LambdaHostProcess] = []

    def _start(config: dict[str, Any], **kwargs: Any) -> LambdaHostProcess:
        host = LambdaHostProcess(config, **kwargs)
        hosts.append(host)
        return host.start()

    yield _start
    for host in hosts:
        host.stop()
        print(
            f"--- host log (pid {host.pid}, exit {host.returncode}) ---\n{host.host_log()[-6000:]}"
        )  # shown on failure
        host.close()
