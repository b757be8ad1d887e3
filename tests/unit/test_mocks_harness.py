"""The mocks harness (`run_pulumi`, tools/local/mocks.py) gives back every file descriptor a run opened.

Hundreds of runs share one pytest process (tests/property runs the whole component 200 times per property). The
event loops Pulumi's mock monitor makes for its worker threads each hold an epoll fd and a socket pair; when they
were left to the garbage collector, ~20 fds stayed open per run, and a later test's select() failed with
"filedescriptor out of range in select()" once they passed 1,024 (tests/property then tests/package/test_plugin.py).
"""

import gc
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from market_data_pipeline import MarketDataPipeline

from tests.harness import run_pulumi
from tests.unit.conftest import deploy

RUNS = 12
"""Runs per check: enough for a per-run leak (~20 fds a run before the fix) to stand far above the slack."""
SLACK = 8
"""Fds a run may leave open once for the whole process (gRPC's and asyncio's first-use state), not per run."""


def _open_fds() -> Counter[str]:
    """This process's open fds by kind (socket, pipe, anon_inode, or file), read from /proc/self/fd."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the fd listdir itself used, closed by now
            continue
        kinds[target.split(":", 1)[0] if ":" in target else "file"] += 1
    return kinds


@contextmanager
def _no_gc() -> Iterator[None]:
    """Hold the cyclic GC off: only what a run closes itself counts (a collection in between would find the
    unclosed loops some of the time and hide the leak)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _assert_runs_keep_fds_flat(run: Callable[[], object]) -> None:
    run()  # first use: whatever the process keeps open once
    with _no_gc():
        before = _open_fds()
        for _ in range(RUNS):
            run()
        after = _open_fds()
    grown = sum(after.values()) - sum(before.values())
    assert grown <= SLACK, (
        f"{RUNS} mocked runs left {grown} more fds open (allowed: {SLACK}): "
        f"{dict(before)} before, {dict(after)} after"
    )


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc/self/fd (Linux)")
def test_run_pulumi_closes_the_fds_of_a_whole_component_run() -> None:
    """The whole component (resources, invokes, resource references) run RUNS times leaves no fd behind."""
    _assert_runs_keep_fds_flat(lambda: deploy({"environment_suffix": "fd"}))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc/self/fd (Linux)")
def test_run_pulumi_closes_the_fds_of_a_run_whose_program_raises() -> None:
    """A run whose program raises after registering the component (its calls still in flight) leaves no fd
    behind, and the error reaches the caller."""

    def program() -> None:
        MarketDataPipeline("md", {"environment_suffix": "fd"})
        raise RuntimeError("the program failed after registering")

    def failing_run() -> None:
        with pytest.raises(RuntimeError, match="failed after registering"):
            run_pulumi(program)

    _assert_runs_keep_fds_flat(failing_run)
