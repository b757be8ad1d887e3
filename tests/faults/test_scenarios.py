"""Fault, duplicate, poison, abuse and load scenarios on the local stack (issue 5).

Every scenario pushes real data through the real handler bundles (host workers on Node 18, moto behind the fault
proxy) and compares what is stored with an independent computation (tools/local/datagen.py's reference). Loss or
double counting fails the test. Spec ids: R-EVB-3 (at-least-once, idempotent consumers), R-DATA-3 (bad records never
stop good ones), R-DATA-4 (a tick delivered twice is stored once), R-DATA-5 (aggregates recomputed idempotently),
R-FN-4 (partial batch failures), R-SQS-2 (redrive to the DLQ), R-MON-2 (error counts), R-API-1/R-API-4 (API, keys).
"""

import functools
import gzip
import json
import random
import time
import uuid
from typing import Any

import pytest

from tests.faults.conftest import FaultStack, record_verdict, send_dataset, wait_for
from tools.local import datagen
from tools.local.fault_proxy import FaultRule

pytestmark = pytest.mark.timeout(300)


# R-EVB-3, R-DATA-4, R-FN-4: throttled table, unprocessed items, 5xx from SQS and EventBridge
def test_scenario_1_throttling_every_tick_stored_once(fault_stack: FaultStack) -> None:
    stack = fault_stack
    ds = datagen.generate(
        seed=101, symbols=("THRA", "THRB", "THRC"), minutes=6, ticks_per_minute=50, api_share=0.3
    )
    rules = [
        FaultRule("dynamodb", "BatchWriteItem", "throttle", 0.25, max_per_body=2),
        FaultRule("dynamodb", "BatchWriteItem", "unprocessed", 0.35, max_per_body=3, share=0.4),
        # every SendMessageBatch and PutEvents body fails exactly once (a share of the sends only after taking
        # effect: duplicates downstream), so each kind is injected whatever the number of calls
        FaultRule("sqs", "SendMessageBatch", "error_after", 0.3, max_per_body=1),
        FaultRule("sqs", "SendMessageBatch", "error", 1.0, max_per_body=1),
        FaultRule("events", "PutEvents", "error", 1.0, max_per_body=1),
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
    record_verdict(
        "throttling",
        int(stats["injected_total"]),
        verdict,
        time.monotonic() - t0,
        ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in sorted(injected.items()))
        + f", held items={stats['held_items']}",
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
    record_verdict(
        "duplicates",
        delivered - len(ds.ticks),
        verdict,
        time.monotonic() - t0,
        f"{copies} deliveries of {len(ds.files)} files + {len(ds.batches)} batches, shuffled; "
        f"{delivered} ticks delivered for {len(ds.ticks)} distinct",
    )
    assert verdict.ok, verdict.summary()
    assert sent["accepted"] == copies * sum(len(b.ticks) for b in ds.batches)


def _ticks(symbol: str, start_ms: int, n: int, seed: int, gap_ms: int = 37) -> list[datagen.Tick]:
    """n valid ticks of one symbol with distinct timestamps (a seeded random walk; plain Python)."""
    rng = random.Random(seed)
    price = 50.0 + rng.random() * 100
    out = []
    for i in range(n):
        price = max(0.01, price * (1 + rng.gauss(0, 0.001)))
        out.append(
            datagen.Tick(
                symbol,
                start_ms + i * gap_ms + rng.randrange(0, gap_ms),
                round(price, 2),
                rng.choice((1, 10, 100, 250)),
                "XNAS",
            )
        )
    return out


def _csv(ticks: list[datagen.Tick]) -> bytes:
    lines = ["symbol,timestamp,price,volume,exchange"] + [
        f"{t.symbol},{t.ts},{t.price:.2f},{t.volume},{t.exchange}" for t in ticks
    ]
    return ("\n".join(lines) + "\n").encode()


def _jsonl(ticks: list[datagen.Tick]) -> bytes:
    return "".join(json.dumps(t.as_json()) + "\n" for t in ticks).encode()


def _crashed_more_than(stack: FaultStack, n: int) -> bool:
    return len(stack.crashes_done("s2")) > n


# R-EVB-3, R-FN-4, R-DATA-5: a processor worker killed mid-invocation; the batch is redelivered, nothing double-counted
def test_scenario_2_crash_mid_batch_redelivered_not_double_counted(fault_stack: FaultStack) -> None:
    stack = fault_stack
    ds = datagen.generate(
        seed=202, symbols=("CRSA", "CRSB"), minutes=5, ticks_per_minute=40, api_share=0.3, batch_size=60
    )
    crashes: list[dict[str, Any]] = [{"mode": "after"}, {"mode": "during", "ms": 15}, {"mode": "after"}]
    fn = stack.outputs["ProcessorFunctionName"]
    before = stack.host.stats()[fn]
    t0 = time.monotonic()
    with stack.visibility(6):
        stack.crash_plan("s2", crashes)
        try:
            # in waves, so that there are enough invocations to crash (a redelivered batch may crash again: at most
            # 3 failed receives < maxReceiveCount)
            waves = [ds.files[:2], ds.files[2:4], ds.files[4:]]
            for i, wave in enumerate(waves):
                for f in wave:
                    stack.upload(f.key, f.body)
                if i < len(crashes):
                    wait_for(f"crash {i + 1}", functools.partial(_crashed_more_than, stack, i), timeout=60)
            for b in ds.batches:
                status, answer = stack.post_ingest(b.body, b.content_type)
                assert status == 202, answer
            verdict = stack.settle(ds.ticks, timeout=120)
        finally:
            stack.disarm()
    done = stack.crashes_done("s2")
    after = stack.host.stats()[fn]
    redelivered = len({m for c in done for m in c["messageIds"]})
    record_verdict(
        "crash mid-batch",
        len(done),
        verdict,
        time.monotonic() - t0,
        f"workers SIGKILLed: {', '.join(c['phase'] for c in done)}; {redelivered} messages redelivered; "
        f"processor errors {after['errors'] - before['errors']}",
    )
    assert verdict.ok, verdict.summary()
    assert len(done) == len(crashes)
    assert after["errors"] - before["errors"] >= 1  # the host saw dead runtimes (Runtime.ExitError)
    assert stack.depth(stack.outputs["DlqUrl"]) == 0


# R-DATA-3, R-SQS-2, R-MON-2, R-FN-4: poison files and poison SQS messages
def test_scenario_4_poison_input(fault_stack: FaultStack) -> None:
    stack = fault_stack
    ing, proc = stack.outputs["IngestionFunctionName"], stack.outputs["ProcessorFunctionName"]
    seq_ing, seq_proc = stack.log_seq(ing), stack.log_seq(proc)
    t0 = time.monotonic()
    base = datagen.DEFAULT_START_MS
    good: list[datagen.Tick] = []
    files: dict[str, tuple[bytes, set[int]]] = {}  # key -> (body, expected rejected line numbers)

    # 1. CSV: wrong column counts, wrong types, bad values, between good rows
    g = _ticks("PSNA", base, 40, seed=41)
    rows = ["symbol,timestamp,price,volume,exchange"] + [
        f"{t.symbol},{t.ts},{t.price:.2f},{t.volume},{t.exchange}" for t in g
    ]
    bad_rows = {
        5: "PSNA,1764001800000,12.5",  # too few columns
        9: "PSNA,1764001800000,abc,10,XNAS",  # price not a number
        14: "PSNA,yesterday,12.5,10,XNAS",  # bad timestamp
        20: "psn a!,1764001800000,12.5,10,XNAS",  # bad symbol
        27: "PSNA,1764001800000,-1,10,XNAS",  # price <= 0
        33: "PSNA,1764001800000,12.5,-10,XNAS",  # volume < 0
    }
    for line_no in sorted(bad_rows):
        rows.insert(line_no - 1, bad_rows[line_no])
    files["incoming/poison/mixed.csv"] = (("\n".join(rows) + "\n").encode(), set(bad_rows))
    good += g

    # 2. JSON Lines: wrong types, not objects, and a huge line (above the 64 KiB line limit)
    g = _ticks("PSNB", base, 30, seed=42)
    lines = [json.dumps(t.as_json()) for t in g]
    bad_lines = {
        3: json.dumps({"symbol": 123, "timestamp": base, "price": 1.5, "volume": 1}),
        7: json.dumps({"symbol": "PSNB", "timestamp": True, "price": 1.5, "volume": 1}),
        8: json.dumps({"symbol": "PSNB", "timestamp": base, "price": [1.5], "volume": 1}),
        12: json.dumps({"symbol": "PSNB", "timestamp": base, "price": 1.5, "volume": "lots"}),
        15: "[1, 2, 3]",
        16: "null",
        19: '"just a string"',
        22: json.dumps(
            {"symbol": "PSNB", "timestamp": base + 1, "price": 1.5, "volume": 1, "pad": "x" * 100_000}
        ),
        25: '{"symbol": "PSNB", "timestamp": ',
    }
    for line_no in sorted(bad_lines):
        lines.insert(line_no - 1, bad_lines[line_no])
    files["incoming/poison/types.jsonl"] = (("\n".join(lines) + "\n").encode(), set(bad_lines))
    good += g

    # 3. an empty file, 4. binary garbage, 5. a .gz that is not gzip (its ticks must NOT be stored: the whole file is
    # rejected with the reason), 6. a gzip file with a bad line (the good ones stored)
    rng = random.Random(44)
    garbage = bytes(rng.randrange(256) for _ in range(20_000))
    not_gzip_ticks = _ticks("PSNZ", base, 10, seed=45)
    g = _ticks("PSNC", base, 25, seed=46)
    gz_lines = [json.dumps(t.as_json()) for t in g]
    gz_lines.insert(10, '{"symbol": "PSNC", "price": 3}')
    good += g
    files["incoming/poison/empty.csv"] = (b"", set())
    files["incoming/poison/garbage.jsonl"] = (garbage, set())
    files["incoming/poison/not-gzip.jsonl.gz"] = (_jsonl(not_gzip_ticks), {0})
    files["incoming/poison/good.jsonl.gz"] = (
        gzip.compress(("\n".join(gz_lines) + "\n").encode(), mtime=0),
        {11},
    )

    # poison SQS messages, sent straight to the ProcessingQueue next to a good one
    mrc = stack.max_receive_count()
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    poison = [
        f"not json {{ {marker}-0",
        json.dumps({"v": 1, "src": f"{marker}-1", "ticks": "not-a-list"}),
        json.dumps(
            {
                "v": 1,
                "src": f"{marker}-2",
                "ticks": [{"symbol": "PSNQ", "ts": base, "price": 1e200, "volume": 1}],
            }
        ),
        json.dumps(
            {
                "v": 1,
                "src": f"{marker}-3",
                "ticks": [{"symbol": "PSNQ", "ts": "soon", "price": 1, "volume": 1}],
            }
        ),
    ]
    g = _ticks("PSND", base, 20, seed=47)
    good_msg = json.dumps(
        {
            "v": 1,
            "src": "test:poison-neighbour",
            "ticks": [
                {
                    "symbol": t.symbol,
                    "ts": t.ts,
                    "price": t.price,
                    "volume": t.volume,
                    "extra": {"exchange": t.exchange},
                }
                for t in g
            ],
        }
    )
    good += g

    with stack.visibility(2):
        for key, (body, _bad) in files.items():
            stack.upload(key, body)
        stack.sqs.send_message_batch(
            QueueUrl=stack.outputs["QueueUrl"],
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate([*poison[:2], good_msg, *poison[2:]])
            ],
        )
        # the poison messages reach the DLQ after maxReceiveCount receives; the DLQ-not-empty alarm's metric
        # (ApproximateNumberOfMessagesVisible of the DLQ) moves from 0
        dlq = stack.outputs["DlqUrl"]
        dlq_depth_seen = wait_for(
            f"{len(poison)} poison messages in the DLQ",
            lambda: stack.depth(dlq) >= len(poison) and stack.depth(dlq),
            90,
        )
        in_dlq: dict[str, dict[str, Any]] = {}
        for _ in range(20):
            msgs = stack.sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
            for m in msgs:
                if marker in m["Body"]:
                    in_dlq[m["Body"]] = m
                    stack.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
            if len(in_dlq) == len(poison):
                break
        verdict = stack.settle(good, timeout=90)

    errors_ing = stack.errors_logged(ing, seq_ing)
    errors_proc = stack.errors_logged(proc, seq_proc)
    problems: list[str] = []
    rejected_total = 0
    for key, (_body, bad) in files.items():
        recs = stack.rejected(key)
        rejected_total += len(recs)
        if {int(r["line"]) for r in recs} != bad:
            problems.append(
                f"{key}: rejected lines {sorted(int(r['line']) for r in recs)} != expected {sorted(bad)}"
            )
        if any(not str(r.get("reason", "")).strip() for r in recs):
            problems.append(f"{key}: a rejected record without a reason: {recs}")
    garbage_recs = stack.rejected("incoming/poison/garbage.jsonl")
    not_gzip = stack.rejected("incoming/poison/not-gzip.jsonl.gz")
    record_verdict(
        "poison input",
        sum(len(b) for _k, (_x, b) in files.items()) + len(poison) + 2,
        verdict,
        time.monotonic() - t0,
        f"{rejected_total} rejected records with reasons, {len(in_dlq)}/{len(poison)} poison messages in the DLQ, "
        f"ERROR lines: ingestion {errors_ing}, processor {errors_proc}",
    )
    assert verdict.ok, verdict.summary()
    assert len(in_dlq) == len(poison), f"poison messages in the DLQ: {list(in_dlq)}"
    for m in in_dlq.values():  # they got there after the configured receives (R-SQS-2)
        assert int(m["Attributes"].get("ApproximateReceiveCount", mrc)) >= mrc
    assert dlq_depth_seen >= 1  # the DLQ-not-empty alarm's metric moved
    # garbage: every line rejected with a reason (nothing of it stored: no symbol of it exists in the table)
    garbage_problems = [p for p in problems if "garbage" in p]
    problems = [p for p in problems if "garbage" not in p]
    assert garbage_recs and all(r["reason"] for r in garbage_recs), garbage_problems
    assert problems == [], problems
    assert "gzip" in not_gzip[0]["reason"]
    assert stack.count("PSNZ") == 0  # the not-gzip file's records were rejected as a whole, with that reason
    assert stack.count("PSNQ") == 0
    # error-count metrics move (R-MON-2): the deployed pattern counts the handlers' ERROR lines
    assert errors_proc >= len(poison) * mrc, errors_proc
    assert errors_ing >= 1, errors_ing  # the file that could not be read at all (not gzip) is an ERROR
