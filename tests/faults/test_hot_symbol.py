"""Hot symbol above DynamoDB's per-partition write ceiling (issue 10, point 4) on the fault stack.

A partition key takes about 1,000 write units per second on DynamoDB however the table scales (the fault proxy's
``partition_capacity`` rule emulates it; see tools/local/fault_proxy.py for the AWS documentation). Every tick of a
symbol shares one partition key (``symbol``) and a sort key that only grows, so a symbol that trades faster than the
ceiling cannot be written faster. Here the ceiling is scaled down to `CAPACITY` write units per second (moto on 2
cores cannot take 1,000 per second per symbol) and one symbol streams at `OVERLOAD` times that for `SECONDS`: the
ticks wait in the ProcessingQueue (DataProcessor writes what fits, retries the rest, and fails the records it could not
finish so SQS redelivers them), the backlog drains once the burst is over, and nothing is lost or counted twice.
Spec ids: R-EVB-3 (at-least-once, idempotent consumers), R-DATA-4 (a tick delivered twice is stored once), R-DATA-5
(aggregates exact), R-FN-4 (partial batch failures), R-MON-3 (the queue-age alarm is what a user sees).
"""

import json
import time

import pytest

from tests.faults.conftest import FaultStack, record_verdict
from tests.faults.test_scenarios import _ticks
from tools.local import datagen
from tools.local.fault_proxy import FaultRule

pytestmark = pytest.mark.timeout(180)

CAPACITY = 40.0
"""Emulated write units per second per partition (DynamoDB: 1,000), scaled down 25x for moto."""
OVERLOAD = 2.0
"""The hot symbol's rate as a multiple of the ceiling."""
SECONDS = 8
"""How long the hot symbol streams above the ceiling."""
BATCH = 100
"""Ticks per POST /ingest (one POST every BATCH / (OVERLOAD x CAPACITY) seconds)."""


def _queues(stack: FaultStack) -> str:
    """Where the ProcessingQueue's messages are, for a failure message: a message moved to the DLQ is a delivery that
    failed `maxReceiveCount` times (those ticks are lost to the pipeline until someone redrives it), a delayed one is
    not counted by `depth`."""
    parts = []
    for name in ("QueueUrl", "DlqUrl"):
        c = stack.queue_counts(stack.outputs[name])
        parts.append(
            f"{stack.outputs[name].rsplit('/', 1)[-1]}: visible {c['visible']}, in flight {c['in_flight']}, "
            f"delayed {c['delayed']}"
        )
    return "; ".join(parts)


def test_scenario_hot_symbol_above_partition_ceiling_drains(fault_stack: FaultStack) -> None:
    stack = fault_stack
    rate = OVERLOAD * CAPACITY
    n_hot = int(rate * SECONDS)
    base = datagen.DEFAULT_START_MS + 3 * 3_600_000
    hot = _ticks("HOTSYM", base, n_hot, seed=61, gap_ms=20)
    cold = _ticks("COLDSYM", base, n_hot // 20, seed=62, gap_ms=400)
    batches: list[list[datagen.Tick]] = []
    for i in range(0, n_hot, BATCH):
        j = i // 20
        batches.append(hot[i : i + BATCH] + cold[j : j + BATCH // 20])
    interval = BATCH / rate
    rule = FaultRule("dynamodb", "*", "partition_capacity", 1.0, capacity=CAPACITY, partition_key="symbol")
    stack.proxy.reset()
    stack.proxy.configure([rule])
    t0 = time.monotonic()
    backlog_peak = 0
    sent = 0
    try:
        # The session's visibility timeout (60 s) stays: it must exceed DataProcessor's timeout (50 s, R-FN-6), or a
        # message still being written would be received again and reach the DLQ after maxReceiveCount receives.
        for i, b in enumerate(batches):
            due = t0 + i * interval
            time.sleep(max(0.0, due - time.monotonic()))
            body = json.dumps([t.as_json() for t in b]).encode()
            status, answer = stack.post_ingest(body, "application/json")
            assert status == 202, f"POST /ingest answered {status}: {answer}"
            sent += sum(1 for t in b if t.symbol == "HOTSYM")
            if i % 3 == 2:
                backlog_peak = max(backlog_peak, sent - stack.count("HOTSYM"))
        t_sent = time.monotonic()
        stored_while_sending = stack.count("HOTSYM")
        backlog_peak = max(backlog_peak, sent - stored_while_sending)
        # the backlog drains: every hot tick stored (bounded wait), then the aggregates settle
        drained_at = None
        empty = 0
        for _ in range(240):
            if stack.count("HOTSYM") >= n_hot:
                drained_at = time.monotonic()
                break
            # nothing visible or in flight three times in a row: nothing more will be written
            empty = empty + 1 if stack.depth(stack.outputs["QueueUrl"]) == 0 else 0
            if empty >= 3:
                break
            time.sleep(0.5)
        verdict = stack.settle(hot + cold, timeout=60 if drained_at else 10)
    finally:
        stack.proxy.configure([])
    stats = stack.proxy.stats()
    throttled = stats["throttled_keys"]
    drain_s = (drained_at - t_sent) if drained_at else float("nan")
    record_verdict(
        "hot symbol",
        sum(int(n) for n in throttled.values()),
        verdict,
        time.monotonic() - t0,
        f"{rate:.0f} ticks/s of one symbol for {SECONDS} s against {CAPACITY:.0f} WU/s per partition; "
        f"peak backlog {backlog_peak} ticks, drained {drain_s:.1f} s after the last POST (a message DataProcessor "
        "could not finish waits for the visibility timeout); throttled writes "
        f"per partition {dict(sorted(throttled.items()))}",
    )
    assert verdict.ok, f"{verdict.summary()}; {_queues(stack)}"
    # the ceiling really held the hot symbol back, and only it
    assert throttled.get("HOTSYM", 0) > 0, stats
    assert "COLDSYM" not in throttled, stats
    assert backlog_peak > CAPACITY, f"no backlog formed (peak {backlog_peak} ticks): the ceiling did not bite"
    assert drained_at is not None, "the hot symbol's backlog did not drain"
    assert stack.depth(stack.outputs["QueueUrl"]) == 0
    assert stack.depth(stack.outputs["DlqUrl"]) == 0, "throttled messages were redriven to the DLQ"
