"""The DERIVED streaming projection's "rest of the all-in cost" (issue 10, R-PERF-1 cost figures): a measured
stream's non-aggregation cost split by what drives it (bench/cost.py `decompose_rest`) and re-priced at another
rate (`project_rest`, `stream_drivers`, `processor_runs_per_second`, `xray_sampled_share`)."""

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import cost
from bench.run import _aggregation_rows, _rest_rows, max_ticks_per_message, rest_usage, usage_of

GIB = 1024**3


def _round_prices() -> dict[str, Any]:
    """The price table with round numbers, so the hand computations below are readable."""
    p = copy.deepcopy(cost.load_prices())
    p["lambda"].update(gb_second=1e-5, per_million_requests=1.0)
    p["sqs"]["per_million_requests"] = 1.0
    p["dynamodb_on_demand"].update(
        per_million_write_request_units=1.0, storage_gb_month=1.0, pitr_gb_month=0.0
    )
    p["s3_standard"].update(per_thousand_put_copy_post_list=1.0, storage_gb_month=1.0)
    p["api_gateway_rest"]["per_million_requests"] = 1.0
    p["cloudwatch"].update(logs_ingestion_gb=1.0, logs_storage_gb_month=0.0)
    p["xray"]["per_million_traces_recorded"] = 1.0
    p["assumptions"].update(
        data_retention_days=30,
        days_per_month=30,
        lambda_platform_log_bytes_per_invocation=100,
        api_access_log_bytes_per_request=200,
        xray_traced_share_of_invocations=1.0,
    )
    p["aws_latency_p50_ms"]["per_action"] = {
        "s3:PutObject": 100,
        "sqs:SendMessageBatch": 20,
        "dynamodb:BatchWriteItem": 10,
        "dynamodb:PutItem": 5,
        "events:PutEvents": 20,
    }
    return p


def _api_usage(ticks: int = 1000, requests: int = 10, runs: int = 10) -> cost.Usage:
    """An API stream's non-aggregation usage: ``requests`` POSTs of ticks/requests ticks (one message each),
    ``runs`` DataProcessor runs, 25 ticks per BatchWriteItem, one marker and one PutEvents per run."""
    bwi = math.ceil(ticks / 25)
    return cost.Usage(
        ticks=ticks,
        memory_mb=1024,
        invocations={"ingestion": requests, "processor": runs},
        busy_ms={"ingestion": 5000.0, "processor": 5000.0},
        cpu_ms={"ingestion": 100.0, "processor": 200.0},
        aws_calls={
            "ingestion": {"s3:PutObject": requests, "sqs:SendMessageBatch": requests},
            "processor": {"dynamodb:BatchWriteItem": bwi, "dynamodb:PutItem": runs, "events:PutEvents": runs},
            "processor_esm": {"sqs:ReceiveMessage": requests, "sqs:DeleteMessageBatch": runs},
        },
        call_overlap={"processor": 2.0},
        units={"s3_tier1": requests, "sqs_requests": 2 * requests + runs, "ddb_wru": ticks + runs},
        api_requests=requests,
        log_bytes=3000.0,
        fn_log_bytes={"ingestion": 2000.0, "processor": 1000.0},
        ddb_stored_bytes_per_tick=250.0,
        ddb_window_bytes_per_tick=50.0,
        s3_stored_bytes_per_tick=100.0,
    )


def _measured(u: cost.Usage, rate: float = 10.0, windows: float = 20) -> cost.Drivers:
    requests = u.invocations["ingestion"]
    return cost.Drivers(
        rate,
        {
            "request": requests / u.ticks,
            "message": requests / u.ticks,
            "run": u.invocations["processor"] / u.ticks,
            "window": windows / u.ticks,
        },
    )


def test_rest_decomposition_and_projection_match_a_hand_computation() -> None:
    """Issue 10: each line of a hand-made API stream lands on its driver with the value computed by hand, and the
    projection at other driver counts (incl. the X-Ray sampling rule) is that value times the counts."""
    p = _round_prices()
    u = _api_usage()
    dec = cost.decompose_rest(u, _measured(u), p)
    per = dec.per_driver
    ms = 1e-8  # USD per ms at 1 GB and $1e-5 per GB-s
    assert dec.unmapped == ()
    # per request (10): invocation, PutObject + SendMessageBatch time (overlap 1), the PUT, API Gateway, log bytes
    # (DataIngestion's own, the platform's, the access log)
    assert per["request"]["lambda"] == pytest.approx((10 * 1e-6 + (10 * 100 + 10 * 20) * ms) / 10)
    assert per["request"]["s3_requests"] == pytest.approx(10 * 1e-3 / 10)
    assert per["request"]["api_gateway"] == pytest.approx(1e-6)
    assert per["request"]["logs"] == pytest.approx((2000 + 10 * 100 + 10 * 200) / GIB / 10)
    # per message (10): the send and the receive, one SQS request each
    assert per["message"] == pytest.approx({"sqs": 20 * 1e-6 / 10})
    # per run (10): invocation, marker + PutEvents time over the overlap of 2, the delete, the marker's WRU, logs
    assert per["run"]["lambda"] == pytest.approx((10 * 1e-6 + (10 * 5 + 10 * 20) / 2 * ms) / 10)
    assert per["run"]["sqs"] == pytest.approx(1e-6)
    assert per["run"]["dynamodb_writes"] == pytest.approx(1e-6)
    assert per["run"]["logs"] == pytest.approx((1000 + 10 * 100) / GIB / 10)
    # per tick (1000): CPU of both functions and the tick writes' time, the tick WRU, the stored bytes
    assert per["tick"]["lambda"] == pytest.approx(((100 + 200) + 40 * 10 / 2) * ms / 1000)
    assert per["tick"]["dynamodb_writes"] == pytest.approx(1e-6)
    assert per["tick"]["dynamodb_storage_and_pitr"] == pytest.approx(200 / GIB)
    assert per["tick"]["s3_storage"] == pytest.approx(100 / GIB)
    # per stored window (20): 50 bytes per tick of aggregate items
    assert per["window"] == pytest.approx({"dynamodb_storage_and_pitr": 50 * 1000 / GIB / 20})
    assert dec.traces == pytest.approx(
        {"request": 1.0, "message": 0.0, "run": 1.0, "tick": 0.0, "window": 0.0}
    )

    # at the measured drivers: the measured cost; at 400 ticks/s with 200-tick requests and runs of 5 messages
    # (2 requests/s: X-Ray records (1 + 0.05 x 1) / 2 of them; 0.4 runs/s: all) plus a fixed $0.07
    same = cost.project_rest(dec, dec.measured, p)
    assert same["total"] == pytest.approx(cost.per_million(u, p, lambda_basis="modeled")["total"], abs=1e-5)
    target = cost.Drivers(400.0, {"request": 1 / 200, "message": 1 / 200, "run": 1 / 1000, "window": 0.001})
    got = cost.project_rest(dec, target, p, fixed=0.07)
    share = (1 + 0.05 * 1) / 2
    want = {
        "request": 1e6 / 200 * (sum(per["request"].values()) + share * 1e-6),
        "message": 1e6 / 200 * 2e-6,
        "run": 1e6 / 1000 * (sum(per["run"].values()) + 1e-6),
        "tick": 1e6 * sum(per["tick"].values()),
        "window": 1e6 * 0.001 * per["window"]["dynamodb_storage_and_pitr"],
        "month": 0.07,
    }
    assert got["by_driver"] == pytest.approx(want)
    assert got["xray_share"] == pytest.approx({"request": share, "run": 1.0})
    assert got["total"] == pytest.approx(sum(want.values()))


def test_default_sampling_rule_and_processor_run_bound_on_hand_cases() -> None:
    """Issue 10: X-Ray's default rule (1 per second + 5% of the rest) and the upper bound of DataProcessor runs."""
    p = cost.load_prices()
    assert cost.xray_sampled_share(0.2, p) == 1.0 and cost.xray_sampled_share(1.0, p) == 1.0
    assert cost.xray_sampled_share(2.0, p) == pytest.approx(1.05 / 2)
    assert cost.xray_sampled_share(21.0, p) == pytest.approx(2.0 / 21)
    # five pollers, 1 s window, batches of 10: never more runs than messages; at most 5 + m/10 per second
    assert cost.processor_runs_per_second(2.137, 1, 10, 5) == pytest.approx(2.137)
    assert cost.processor_runs_per_second(100.0, 1, 10, 5) == pytest.approx(15.0)
    assert cost.processor_runs_per_second(2.0, 10, 10, 5) == pytest.approx(0.7)
    assert cost.processor_runs_per_second(3.0, 0, 10, 5) == 3.0  # no window: one run per message
    with pytest.raises(ValueError, match="batch_size >= 1"):
        cost.processor_runs_per_second(1.0, 1, 0, 5)
    # the design rate's file stream: 1,068-tick objects every 5 s, split into messages of at most 500 ticks
    d = cost.stream_drivers(213.7, 1068, 500, 0.09, 1.0, 10, 5)
    assert d.per_tick["request"] == pytest.approx(1 / 1068)
    assert d.per_tick["message"] == pytest.approx(3 / 1068)
    assert d.per_tick["run"] == pytest.approx(3 / 1068)  # 0.6 messages/s: one run each (pessimistic)
    assert max_ticks_per_message() == 500  # read from lib/lambda/src/core/pack.ts, its owner


def test_bad_input_names_what_is_wrong_and_what_is_allowed(tmp_path: Path) -> None:
    p = cost.load_prices()
    with pytest.raises(ValueError, match=r"unknown drivers \['tick'\]; allowed: \['request', 'message'"):
        cost.Drivers(10.0, {"tick": 1.0})
    with pytest.raises(ValueError, match="ticks_per_second must be > 0"):
        cost.Drivers(0.0, {})
    with pytest.raises(ValueError, match=r"counts must be >= 0, got \{'run': -1.0\}"):
        cost.Drivers(1.0, {"run": -1.0})
    u = _api_usage()
    with pytest.raises(ValueError, match=r"has run costs .* count no run"):
        cost.decompose_rest(u, cost.Drivers(10.0, {"request": 0.01, "message": 0.01}), p)
    u.ddb_window_bytes_per_tick = 300.0
    with pytest.raises(
        ValueError, match="ddb_window_bytes_per_tick must be within 0 and ddb_stored_bytes_per_tick"
    ):
        cost.decompose_rest(u, _measured(u), p)
    (tmp_path / "pack.ts").write_text("export const OTHER = 1;\n")
    with pytest.raises(ValueError, match="DEFAULT_MAX_TICKS_PER_MESSAGE"):
        max_ticks_per_message(tmp_path / "pack.ts")


def test_unknown_calls_and_functions_stay_per_tick_and_are_named() -> None:
    """Safety (issue 10): a call or function the driver tables do not know is never scaled down at a faster rate: it
    stays a per-tick cost, and the decomposition names it, so a handler that starts making a new call cannot make
    the DERIVED all-in optimistic silently."""
    p = cost.load_prices()
    u = _api_usage()
    u.aws_calls["processor"]["dynamodb:UpdateItem"] = 10
    u.invocations["enricher"] = 10
    u.cpu_ms["enricher"] = 50.0
    dec = cost.decompose_rest(u, _measured(u), p)
    assert dec.unmapped == ("call dynamodb:UpdateItem (processor)", "function enricher")
    base = cost.decompose_rest(_api_usage(), _measured(u), p)
    extra = cost.lambda_cost(10, 50.0 + 10 * cost.call_latency_ms("dynamodb:UpdateItem", p) / 2.0, 1024, p)
    # ... their Lambda time and requests land per tick, and every other driver is unchanged
    assert dec.per_driver["tick"]["lambda"] - base.per_driver["tick"]["lambda"] == pytest.approx(
        extra / u.ticks, rel=1e-9
    )
    for drv in ("request", "message", "run", "window"):
        assert dec.per_driver[drv] == pytest.approx(base.per_driver[drv]), drv
    assert dec.traces["tick"] == pytest.approx(10 / u.ticks)


def _fn_row(inv: int, units: dict[str, float], by_action: dict[str, int]) -> dict[str, Any]:
    """A function's row as part 6 measures it: ``inv`` invocations of 300 ms (30 ms CPU), one cold start, 900 log
    bytes each, the given calls and billing units."""
    return {
        "invocations": inv,
        "busy_ms": 300.0 * inv,
        "cpu_ms": 30.0 * inv,
        "cold_starts": 1,
        "log_bytes": 900 * inv,
        "calls": {"requests": sum(by_action.values()), "by_action": by_action},
        "units": units,
    }


def test_rest_and_aggregation_rows_add_up_to_the_stream() -> None:
    """Issue 10: the non-aggregation rows (`_rest_rows`) and the aggregation's (`_aggregation_rows`) split every
    measured unit of a stream once: their costs add up to the stream's, and the drivers count what was sent."""
    p = cost.load_prices()
    row = _fn_row
    fns = {
        "ingestion": row(
            20,
            {"s3_tier2": 40, "sqs_requests": 20, "sqs_messages": 20},
            {"s3:GetObject": 20, "s3:HeadObject": 20},
        ),
        "processor": row(
            20,
            {"ddb_wru": 1020, "events": 20},
            {"dynamodb:BatchWriteItem": 40, "dynamodb:PutItem": 20, "events:PutEvents": 20},
        ),
        "aggregator": row(5, {"ddb_rru": 50, "ddb_wru": 60}, {"dynamodb:Query": 50, "dynamodb:PutItem": 60}),
        "processor_esm": {
            "calls": {"requests": 40, "by_action": {"sqs:ReceiveMessage": 20, "sqs:DeleteMessageBatch": 20}},
            "units": {"sqs_requests": 40, "sqs_messages": 20},
        },
        "aggregator_esm": {"calls": {"requests": 6, "by_action": {}}, "units": {"sqs_requests": 6}},
    }
    x: dict[str, Any] = {
        "ticks": 1000,
        "files": 20,
        "api_requests": 0,
        "seconds_sending": 100.0,
        "spec": {"ticks_per_second": 10.0},
        "functions": fns,
        "storage": {
            "tick_items": 1000,
            "aggregate_items": 60,
            "aggregate_bytes": 9000,
            "ddb_stored_bytes_per_tick": 200.0 + (9000 + 6000) / 1000,
            "s3_stored_bytes_per_tick": 40.0,
        },
    }
    init = {"ingestion": 90.0, "processor": 95.0, "aggregator": 99.0}
    whole = usage_of(x, 1000, 20, 0)
    whole.init_ms = init
    agg = usage_of({"functions": _aggregation_rows(fns)}, 1000, 0, 0)
    agg.init_ms = init
    ur, drivers = rest_usage(x, init)
    assert set(_rest_rows(fns)) == {"ingestion", "processor", "processor_esm"}
    assert "events" not in ur.units and ur.units["sqs_requests"] == 60
    assert drivers.ticks_per_second == 10.0 and drivers.per_tick == pytest.approx(
        {"request": 0.02, "message": 0.02, "run": 0.02, "window": 0.06}
    )
    assert ur.ddb_window_bytes_per_tick == pytest.approx(15.0)
    for basis in cost.LAMBDA_BASES:
        total = cost.per_million(whole, p, lambda_basis=basis)["total"]
        parts = (
            cost.per_million(ur, p, lambda_basis=basis)["total"] + cost.per_million(agg, p, basis)["total"]
        )
        assert parts == pytest.approx(total, abs=1e-5), basis
    dec = cost.decompose_rest(ur, drivers, p)
    assert cost.project_rest(dec, drivers, p)["total"] == pytest.approx(
        cost.per_million(ur, p, lambda_basis="modeled")["total"], abs=1e-5
    )


_counts = st.integers(min_value=1, max_value=400)


@settings(max_examples=150, deadline=None)
@given(
    ticks=st.integers(min_value=100, max_value=100_000),
    requests=_counts,
    runs=_counts,
    windows=st.integers(min_value=0, max_value=5000),
    overlap=st.floats(min_value=1.0, max_value=6.0),
    rate=st.floats(min_value=0.5, max_value=2000.0),
)
def test_at_the_measured_drivers_the_projection_reproduces_the_measured_rest(
    ticks: int, requests: int, runs: int, windows: int, overlap: float, rate: float
) -> None:
    """Issue 10 (property): whatever the counts and the rate, re-pricing a decomposition at the drivers it was
    measured at gives back `per_million` of the measured usage, X-Ray included: the measured usage records each
    entry point's traces at the sampling rule's share of its rate over the same duration (`xray_shares`)."""
    p = cost.load_prices()
    u = _api_usage(ticks, requests, runs)
    u.call_overlap = {"ingestion": overlap, "processor": overlap}
    u.ddb_window_bytes_per_tick = 50.0 if windows else 0.0
    u.xray_share = cost.xray_shares(u, ticks / rate, p)
    dec = cost.decompose_rest(u, _measured(u, rate, windows), p)
    got = cost.project_rest(dec, dec.measured, p, fixed=0.05)
    want = cost.per_million(u, p, lambda_basis="modeled")["total"] + 0.05
    assert got["total"] == pytest.approx(want, abs=2e-5)


@settings(max_examples=150, deadline=None)
@given(
    r1=st.floats(min_value=1.0, max_value=2000.0),
    factor=st.floats(min_value=1.0, max_value=50.0),
    batch=st.integers(min_value=1, max_value=2000),
    symbols=st.sampled_from([1, 10, 100, 1000]),
    window_s=st.sampled_from([0, 1, 10, 60]),
)
def test_the_cost_per_tick_never_grows_with_the_rate(
    r1: float, factor: float, batch: int, symbols: int, window_s: int
) -> None:
    """Issue 10 (property): for a stream of requests of a fixed size (the API stream), a faster rate never costs more
    per tick: requests and messages per tick stay, runs per tick and stored windows per tick do not grow, and X-Ray
    records a share that does not grow."""
    p = cost.load_prices()
    u = _api_usage()
    dec = cost.decompose_rest(u, _measured(u), p)

    def at(rate: float) -> float:
        w = cost.scaled_windows_per_tick(0.02, 10.0, rate, symbols)
        return float(
            cost.project_rest(dec, cost.stream_drivers(rate, batch, 500, w, window_s, 10, 5), p)["total"]
        )

    assert at(r1 * factor) <= at(r1) * (1 + 1e-9)


@settings(max_examples=150, deadline=None)
@given(k=st.floats(min_value=0.01, max_value=20.0), requests=_counts)
def test_scaling_the_request_count_scales_exactly_that_component(k: float, requests: int) -> None:
    """Issue 10 (property): k times the requests per tick gives k times the per-request component (at rates where
    the sampling rule records every trace) and leaves every other component as it was."""
    p = cost.load_prices()
    u = _api_usage(ticks=10_000, requests=requests)
    dec = cost.decompose_rest(u, _measured(u, rate=1.0), p)
    base = cost.project_rest(dec, dec.measured, p, fixed=0.07)
    scaled = cost.Drivers(1.0, {**dec.measured.per_tick, "request": dec.measured.per_tick["request"] * k})
    got = cost.project_rest(dec, scaled, p, fixed=0.07)
    assert got["by_driver"]["request"] == pytest.approx(base["by_driver"]["request"] * k, rel=1e-12)
    for drv in ("message", "run", "tick", "window", "month"):
        assert got["by_driver"][drv] == pytest.approx(base["by_driver"][drv], rel=1e-12), drv


def analysed(streams: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Part 6's results of measured ``streams`` of ``seconds`` each, analysed (`analyse_streaming`) with a hand-made
    idle month (10 alarms, a dashboard, a 10 ms scheduled run)."""
    from bench.run import analyse_streaming

    r: dict[str, Any] = {
        "streaming": {
            "seconds": seconds,
            "ticks_per_second_per_stream": 10.0,
            "poll_s": 1.0,
            "idle_schedule": {"units": {}, "busy_ms": 10.0, "log_bytes": 0, "emf_metrics": []},
            "alarms": 10,
            "dashboards": 1,
            "streams": streams,
        }
    }
    analyse_streaming(r)
    return r


def _stream(kind: str, symbols: int, aggregate_items: int, extra_call: str = "") -> dict[str, Any]:
    """A measured 10 ticks/s stream of 1,800 ticks as part 6 records it (hand-made counts)."""
    requests = 18 if kind == "api" else 36
    ing_calls = (
        {"s3:PutObject": requests, "sqs:SendMessageBatch": requests}
        if kind == "api"
        else {"s3:GetObject": requests, "s3:HeadObject": requests, "sqs:SendMessageBatch": requests}
    )
    proc_calls = {"dynamodb:BatchWriteItem": 72, "dynamodb:PutItem": requests, "events:PutEvents": requests}
    if extra_call:
        proc_calls[extra_call] = requests

    def fn(inv: int, units: dict[str, float], by_action: dict[str, int]) -> dict[str, Any]:
        return {**_fn_row(inv, units, by_action), "call_overlap": 1.5}

    s3 = {"s3_tier1": requests} if kind == "api" else {"s3_tier2": 2 * requests}
    return {
        "kind": kind,
        "symbols": symbols,
        "label": f"{kind} {symbols:,}",
        "spec": {
            "kind": kind,
            "symbols": symbols,
            "ticks_per_second": 10.0,
            "batch_ticks": 100,
            "file_every_s": 5.0,
        },
        "ticks": 1800,
        "requests": requests,
        "files": requests if kind == "file" else 0,
        "api_requests": requests if kind == "api" else 0,
        "ticks_per_request": 1800 // requests,
        "seconds_sending": 180.0,
        "functions": {
            "ingestion": fn(requests, {**s3, "sqs_requests": requests, "sqs_messages": requests}, ing_calls),
            "processor": fn(requests, {"ddb_wru": 1800 + requests, "events": requests}, proc_calls),
            "aggregator": fn(
                20,
                {"ddb_rru": aggregate_items, "ddb_wru": aggregate_items},
                {"dynamodb:PutItem": aggregate_items},
            ),
            "processor_esm": {
                "calls": {
                    "requests": 2 * requests,
                    "by_action": {"sqs:ReceiveMessage": requests, "sqs:DeleteMessageBatch": requests},
                },
                "units": {"sqs_requests": 2 * requests, "sqs_messages": requests},
            },
        },
        "storage": {
            "tick_items": 1800,
            "tick_item_bytes_mean": 98.6,
            "aggregate_items": aggregate_items,
            "aggregate_bytes": 165 * aggregate_items,
            "ddb_stored_bytes_per_tick": 198.6 + 265 * aggregate_items / 1800,
            "s3_stored_bytes_per_tick": 95.0,
        },
        "freshness": {"samples": 5, "never_fresh": 0, "p50_s": 2.0, "p95_s": 3.0, "max_s": 3.5},
        "exact": True,
        "problems": [],
    }


def test_part_6_prints_the_rest_by_driver_and_the_goals_use_it() -> None:
    """Issue 10: the DERIVED table reproduces each run's measured rest at its own rate, prices the design rate's
    drivers (one 1,068-tick file every 5 s = 3 messages and, at the bound, 3 runs), the goals use the derived
    all-in, and a call no table names is printed as kept per tick."""
    from bench.run import render_streaming, streaming_goals

    streams = [
        _stream("api", 10, 40),
        _stream("api", 1000, 980, extra_call="sqs:SendMessage"),
        _stream("file", 10, 40),
        _stream("file", 1000, 1000),
    ]
    r = analysed(streams, 180)
    pr = r["streaming"]["projection"]
    for kind in ("api", "file"):
        for row in pr["kinds"][kind]["rows"]:
            assert row["rest_per_million_all_in_at_measured_rate"] == pytest.approx(
                row["rest_per_million_all_in_measured"], abs=2e-4
            )
            assert row["rest_per_million_all_in"] < row["rest_per_million_all_in_measured"]
            assert row["rest_per_million_all_in_full_batches"] <= row["rest_per_million_all_in"]
            assert row["all_in"] == pytest.approx(
                row["rest_per_million_all_in"] + row["aggregation_per_million"], abs=2e-4
            )
    file_row = pr["kinds"]["file"]["rows"][0]
    assert file_row["rest_drivers_per_tick"]["request"] == pytest.approx(1 / 1068, rel=2e-3)
    assert file_row["rest_drivers_per_tick"]["message"] == pytest.approx(3 / 1068, rel=2e-3)
    assert file_row["rest_drivers_per_tick"]["run"] == pytest.approx(3 / 1068, rel=2e-3)
    assert pr["kinds"]["api"]["rows"][1]["rest_kept_per_tick"] == ["call sqs:SendMessage (processor)"]
    text = render_streaming(r["streaming"])
    assert "at the run's rate (check)" in text
    assert "Kept per tick (never scaled down) because" in text and "sqs:SendMessage (processor)" in text
    goals = {g["goal"]: g for g in streaming_goals(r["streaming"])}
    worst = max(pr["kinds"]["file"]["rows"], key=lambda row: row["all_in"])
    derived = [g for k, g in goals.items() if k.startswith("DERIVED") and "file stream: all-in" in k]
    assert derived and derived[0]["value"].startswith(f"${worst['all_in']:.3f}")
