"""Fixtures of the API contract suite (issue 14): one local stack of its own (moto server + the component's resources +
the local Lambda host), so the fuzzing and the health check after it see only their own traffic. Everything it started
is stopped by PID at the end."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Env
from tests.stack_helpers import assert_stopped


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local stack whose schedule does not fire by itself (the health check triggers the scheduled run)."""
    from tools.local.stack import LocalStack

    s = LocalStack(tmp_path_factory.mktemp("contract-stack"), suffix="ct", schedule_every_ms=3_600_000)
    s.start()
    try:
        yield s
    finally:
        s.stop()
        assert_stopped(s.started_pids, "the contract suite's local stack")


@pytest.fixture(scope="package")
def env(stack: Any) -> Env:
    """The local stack as the integration suite sees a deployment (outputs, clients, API key)."""
    return Env(dict(stack.outputs))
