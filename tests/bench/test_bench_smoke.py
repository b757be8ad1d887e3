"""Smoke run of every `make bench` code path at tiny sizes (issue 6), so the bench cannot rot unnoticed.

Never asserts a timing. It checks that the outputs are well formed and that the counting is right where the answer is
known independently: the naive design makes exactly one SendMessage, PutItem and PutEvents and two UpdateItem calls
per tick by construction, so the counting proxies must see exactly those numbers; our ingestion reads every uploaded
file once; the cost lines follow from the counted units and the price table.
"""

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import cost
from bench.run import QUICK, render, run_all


@pytest.mark.timeout(600)
def test_bench_quick_run_is_well_formed(tmp_path: Path) -> None:
    """Issue 6: CPU, cold start, requests (ours vs naive), e2e and cost parts all produce complete, consistent output."""
    out = tmp_path / "results.json"
    r: dict[str, Any] = run_all(QUICK, ["cpu", "cold", "pipeline"], tmp_path / "work", out)
    assert json.loads(out.read_text())["goals"] == r["goals"]

    # 1. CPU: both Node versions, every input format plus aggregation, positive throughputs and a ratio
    assert set(r["cpu"]) == {"node18", "node20"}
    assert r["cpu"]["node18"]["node"].startswith("v18.") and r["cpu"]["node20"]["node"].startswith("v20.")
    for n in r["cpu"].values():
        assert set(n["ingestion"]) == {"csv", "jsonl", "csv.gz", "jsonl.gz"}
        for part in [*n["ingestion"].values(), n["aggregation"]]:
            assert part["ours"]["ticksPerSec"] > 0 and part["baseline"]["ticksPerSec"] > 0
            assert len(part["ours"]["cpuMs"]) == QUICK.cpu_runs
            assert part["ratio"] == pytest.approx(
                part["ours"]["ticksPerSec"] / part["baseline"]["ticksPerSec"], rel=0.01
            )
        assert n["aggregation"]["windows"] > n["aggregation"]["groups5m"] > 0

    # 3. cold start: every bundle, sizes and medians over the runs
    bundles = r["cold_start"]["bundles"]
    assert set(bundles) == {"ingestion", "processor", "aggregator", "query"}
    for b in bundles.values():
        assert b["gzip_bytes"] < b["bytes"] and len(b["import_ms_runs"]) == QUICK.cold_runs
        assert b["import_ms_median"] > 0 and b["process_ms_median"] > b["import_ms_median"]

    # 2. naive design: request counts known by construction, classified per function
    naive = r["naive"]
    ticks = naive["counts"]["accepted"]
    assert ticks == naive["ticks_delivered"] > 0
    acts = {k: v["calls"]["by_action"] for k, v in naive["functions"].items()}
    assert acts["ingestion"]["sqs:SendMessage"] == ticks
    assert acts["processor"] == {"dynamodb:PutItem": ticks, "events:PutEvents": ticks}
    assert acts["aggregator"] == {"dynamodb:UpdateItem": 2 * ticks}
    assert naive["functions"]["processor"]["units"]["events"] == ticks

    # 2 + 4. our pipeline: exact aggregates, every file read once, requests per 10k, ratio
    (e2e,) = r["e2e"]
    assert e2e["drained"] and e2e["aggregate_problems"] == []
    ours = e2e["functions"]
    assert ours["ingestion"]["calls"]["by_action"]["s3:GetObject"] == e2e["files"]
    # the SQS client sends to its QueueUrl's host: counted because the queue URLs go through the proxy too
    assert ours["ingestion"]["calls"]["by_action"].get("sqs:SendMessageBatch", 0) >= 1
    assert ours["processor"]["calls"]["by_action"].get("dynamodb:BatchWriteItem", 0) >= 1
    assert ours["processor"]["units"]["ddb_wru"] >= e2e["storage"]["tick_items"]
    q = r["requests"]
    assert q["ratio"] == pytest.approx(q["naive"]["total"] / q["ours"]["total"], rel=0.01)
    assert e2e["ticks_per_second"] > 0

    # 5. cost: lines follow from units and prices; the goals are reported, four of them
    prices = cost.load_prices()
    u = r["cost"]["usage_ours"]
    want_sqs = u["units"]["sqs_requests"] * prices["sqs"]["per_million_requests"] / u["ticks"]
    assert r["cost"]["ours_per_million"]["sqs"] == pytest.approx(want_sqs, rel=1e-3, abs=1e-6)
    pm = r["cost"]["ours_per_million"]
    assert pm["total"] == pytest.approx(sum(v for k, v in pm.items() if k != "total"), rel=1e-4)
    assert r["cost"]["idle_month"]["alarms"] > 0 and r["cost"]["idle_month"]["dashboards"] > 0
    assert all(math.isfinite(v) for v in r["cost"]["monthly_active"].values())
    assert [type(g["met"]) for g in r["goals"]] == [bool] * 5  # cost twice: wall time and modeled for AWS

    # 5. Lambda two ways: wall time on moto, and modeled for AWS = measured CPU + assumed latency per counted call
    c = r["cost"]
    for f, fn in ours.items():
        if f in u["invocations"] and fn["invocations"]:
            assert fn["cpu_ms"] > 0, f  # the host measured CPU time for every function that ran
    # every call a function made through the host named its execution environment (the bundles' AWS SDK sends the
    # worker's AWS_SDK_UA_APP_ID), so each function has a measured call overlap (>= 1) dividing its call latencies
    for f, fn in ours.items():
        if f in u["invocations"]:
            assert fn["calls_attributed"] == fn["calls"]["requests"], f
            assert fn["call_overlap"] >= 1.0 and u["call_overlap"][f] == fn["call_overlap"], f
    want_modeled = {
        f: u["cpu_ms"][f]
        + sum(n * cost.call_latency_ms(a, prices) for a, n in u["aws_calls"].get(f, {}).items())
        / u["call_overlap"][f]
        for f in u["invocations"]
    }
    assert c["call_overlap"] == u["call_overlap"]
    assert c["lambda_ms_modeled"] == pytest.approx(want_modeled, rel=1e-3, abs=0.2)
    pmm = c["ours_per_million_modeled"]
    assert {k: v for k, v in pmm.items() if k not in ("lambda", "total")} == {
        k: v for k, v in pm.items() if k not in ("lambda", "total")
    }
    inv = sum(u["invocations"].values())
    busy_m = sum(want_modeled.values()) + sum(
        u["cold_starts"].get(f, 0) * u["init_ms"].get(f, 0.0) for f in u["cold_starts"]
    )
    want_lambda = cost.lambda_cost(inv, busy_m, u["memory_mb"], prices) * 1e6 / u["ticks"]
    assert pmm["lambda"] == pytest.approx(want_lambda, rel=1e-3)
    assert pmm["total"] == pytest.approx(sum(v for k, v in pmm.items() if k != "total"), rel=1e-4)
    assert r["naive"]["process_cpu_ms"] > 0 and "monthly_active_modeled" in c

    table = render(r)
    for heading in ("1. CPU", "2. AWS requests", "3. Cold start", "4. End to end", "5. Cost", "Goals"):
        assert heading in table
    assert "ours (modeled)" in table and "ours (wall)" in table
    assert "measured call overlap" in table
