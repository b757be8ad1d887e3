"""Helpers the local-stack suites share (tests/integration, tests/faults): a bounded wait and the check that a
stack fixture's processes are all gone after it stopped them."""

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest


def wait_for(what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call `fn` until it returns a truthy value and return that; fail naming `what` after `timeout` seconds
    (bounded in count and time)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 2):
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last value: {repr(last)[:500]})")


def assert_stopped(pids: Iterable[int], started_by: str) -> None:
    """Fail if any of `pids` (processes `started_by` started and has stopped) is still running."""
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        pytest.fail(f"process {pid} started by {started_by} is still running")
