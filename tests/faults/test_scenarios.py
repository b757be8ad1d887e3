"""Fault, duplicate, poison, abuse and load scenarios on the local stack (issue 5).

Every scenario pushes real data through the real handler bundles (host workers on Node 18, moto behind the fault
proxy) and compares what is stored with an independent computation (tools/local/datagen.py's reference). Loss or
double counting fails the test. Spec ids: R-EVB-3 (at-least-once, idempotent consumers), R-DATA-3 (bad records never
stop good ones), R-DATA-4 (a tick delivered twice is stored once), R-DATA-5 (aggregates recomputed idempotently),
R-FN-4 (partial batch failures), R-SQS-2 (redrive to the DLQ), R-MON-2 (error counts), R-API-1/R-API-4 (API, keys).
"""

import time

import pytest

from tests.faults.conftest import FaultStack, ScenarioResult, record, send_dataset
from tools.local import datagen
from tools.local.fault_proxy import FaultRule

pytestmark = pytest.mark.timeout(240)


# R-EVB-3, R-DATA-4, R-FN-4: throttled table, unprocessed items, 5xx from SQS and EventBridge
def test_scenario_1_throttling_every_tick_stored_once(fault_stack: FaultStack) -> None:
    stack = fault_stack
    ds = datagen.generate(
        seed=101, symbols=("THRA", "THRB", "THRC"), minutes=6, ticks_per_minute=50, api_share=0.3
    )
    rules = [
        FaultRule("dynamodb", "BatchWriteItem", "throttle", 0.25, max_per_body=2),
        FaultRule("dynamodb", "BatchWriteItem", "unprocessed", 0.35, max_per_body=3, share=0.4),
        FaultRule("sqs", "SendMessageBatch", "error", 0.3, max_per_body=2),
        FaultRule("sqs", "SendMessageBatch", "error_after", 0.2, max_per_body=1),
        FaultRule("events", "PutEvents", "error", 0.3, max_per_body=2),
    ]
    stack.proxy.reset()
    stack.proxy.configure(rules, seed=1)
    t0 = time.monotonic()
    try:
        sent = send_dataset(stack, ds)
        verdict = stack.settle(ds.ticks, timeout=120)
    finally:
        stack.proxy.configure([])
    stats = stack.proxy.stats()
    injected = stats["injected"]
    record(
        ScenarioResult(
            "throttling",
            int(stats["injected_total"]),
            verdict.survived,
            len(verdict.lost),
            verdict.duplicated,
            time.monotonic() - t0,
            ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in sorted(injected.items()))
            + f", held items={stats['held_items']}",
        )
    )
    assert verdict.ok, verdict.summary()
    assert sent["accepted"] == sum(len(b.ticks) for b in ds.batches)
    # every kind of fault really happened (else the scenario proves nothing)
    for kind in (
        "BatchWriteItem.throttle",
        "BatchWriteItem.unprocessed",
        "SendMessageBatch.error",
        "PutEvents.error",
    ):
        assert any(k.endswith(kind) and v > 0 for k, v in injected.items()), f"no {kind} injected: {injected}"
    assert stack.depth(stack.outputs["DlqUrl"]) == 0


# R-DATA-4, R-DATA-5, R-EVB-3: the same files and API batches delivered several times, shuffled
def test_scenario_3_duplicates_equal_single_delivery(fault_stack: FaultStack) -> None:
    stack = fault_stack
    ds = datagen.generate(seed=303, symbols=("DUPA", "DUPB"), minutes=5, ticks_per_minute=40, api_share=0.4)
    copies = 3
    t0 = time.monotonic()
    sent = send_dataset(stack, ds, copies=copies, shuffle_seed=3)
    verdict = stack.settle(ds.ticks, timeout=120)
    delivered = copies * (sum(len(f.ticks) for f in ds.files) + sum(len(b.ticks) for b in ds.batches))
    record(
        ScenarioResult(
            "duplicates",
            delivered - len(ds.ticks),
            verdict.survived,
            len(verdict.lost),
            verdict.duplicated,
            time.monotonic() - t0,
            f"{copies} deliveries of {len(ds.files)} files + {len(ds.batches)} batches, shuffled; "
            f"{delivered} ticks delivered for {len(ds.ticks)} distinct",
        )
    )
    assert verdict.ok, verdict.summary()
    assert sent["accepted"] == copies * sum(len(b.ticks) for b in ds.batches)
