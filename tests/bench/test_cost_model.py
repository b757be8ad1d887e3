"""The two Lambda bases of the cost model (bench/cost.py, issue 6) on a hand-made usage."""

import pytest

from bench import cost


def _usage() -> cost.Usage:
    return cost.Usage(
        ticks=1000,
        memory_mb=3072,
        invocations={"processor": 2, "aggregator": 1},
        busy_ms={"processor": 900.0, "aggregator": 4000.0},
        units={"ddb_wru": 1000.0},
        cpu_ms={"processor": 100.0, "aggregator": 50.0},
        aws_calls={
            "processor": {"dynamodb:BatchWriteItem": 40, "events:PutEvents": 2},
            "aggregator": {"dynamodb:Query": 10, "s3:GetObject": 1},
        },
    )


def test_modeled_lambda_time_is_cpu_plus_assumed_latency_per_counted_call() -> None:
    """Issue 6: modeled = measured CPU + sum(calls x assumed p50 latency); only the lambda line and total change."""
    p = cost.load_prices()
    lat = p["aws_latency_p50_ms"]
    assert lat["assumption"] is True and lat["source"] and lat["as_of"]
    per_action, per_service = lat["per_action"], lat["per_service"]

    def ms(action: str) -> float:
        return float(per_action.get(action, per_service[action.split(":")[0]]))

    want = {
        "processor": 100.0 + 40 * ms("dynamodb:BatchWriteItem") + 2 * ms("events:PutEvents"),
        "aggregator": 50.0 + 10 * ms("dynamodb:Query") + 1 * ms("s3:GetObject"),
    }
    u = _usage()
    assert cost.modeled_busy_ms(u, p) == pytest.approx(want)
    wall, modeled = cost.per_million(u, p), cost.per_million(u, p, lambda_basis="modeled")
    assert {k: v for k, v in wall.items() if k not in ("lambda", "total")} == {
        k: v for k, v in modeled.items() if k not in ("lambda", "total")
    }
    gb_s = 3072 / 1024 * sum(want.values()) / 1000
    want_lambda = (3 * p["lambda"]["per_million_requests"] / 1e6 + gb_s * p["lambda"]["gb_second"]) * 1000
    assert modeled["lambda"] == pytest.approx(want_lambda, rel=1e-4)
    assert modeled["total"] - wall["total"] == pytest.approx(modeled["lambda"] - wall["lambda"], abs=1e-5)


def test_cost_model_rejects_what_it_cannot_price() -> None:
    """Bad input: an unknown basis, a call without an assumed latency, a usage without CPU time."""
    p = cost.load_prices()
    u = _usage()
    with pytest.raises(ValueError, match="lambda_basis must be one of"):
        cost.per_million(u, p, lambda_basis="cpu")
    with pytest.raises(ValueError, match=r"no assumed latency for 'kinesis:PutRecord'.*per_service has"):
        cost.call_latency_ms("kinesis:PutRecord", p)
    u.cpu_ms = {"processor": 1.0}
    with pytest.raises(ValueError, match=r"no measured CPU time for \['aggregator'\]"):
        cost.per_million(u, p, lambda_basis="modeled")


def test_streaming_projection_matches_a_hand_computation_and_falls_with_the_window() -> None:
    """Issue 6 (cost model, streaming MODEL): one case computed by hand; longer windows never cost more."""
    p = cost.load_prices()
    # a price table with round numbers, so the hand computation is readable
    p = {
        **p,
        "assumptions": {**p["assumptions"], "ticks_per_trading_day": 3_600_000, "trading_hours_per_day": 1.0},
        "dynamodb_on_demand": {
            **p["dynamodb_on_demand"],
            "per_million_read_request_units": 1.0,
            "per_million_write_request_units": 2.0,
        },
        "eventbridge": {**p["eventbridge"], "per_million_custom_events": 1.0},
        "lambda": {**p["lambda"], "gb_second": 1.0, "per_million_requests": 1.0},
        "aws_latency_p50_ms": {
            **p["aws_latency_p50_ms"],
            "per_action": {"dynamodb:Query": 10, "dynamodb:PutItem": 6},
        },
    }
    # 1,000 ticks/s over 1 symbol, window 2 s: 1,800 events; 1 symbol per event; 150,000 ticks per 5 min window of
    # 100 B -> 3,663 RRU per query (strongly consistent, 4 KiB); 2 WRU per event.
    x = cost.streaming_aggregation(
        p, tick_item_bytes=100.0, agg_ticks_per_cpu_second=1_000_000.0, memory_mb=1024, symbols=1, window_s=2
    )
    events, rru = 1800, 3663
    busy_s = (1 / 4 * (10 + 6) + 150_000 / 1_000_000 * 1000) / 1000
    want = {
        "reads": events * rru * 1.0 / 1e6,
        "writes": events * 2 * 2.0 / 1e6,
        "events": events * 1.0 / 1e6,
        "lambda": events * (busy_s * 1.0 + 1.0 / 1e6),
    }
    for k, v in want.items():
        assert x[k] == pytest.approx(v / 3.6, rel=1e-3), k  # per million ticks: 3.6M ticks a day
    assert x["symbols_per_event"] == pytest.approx(1.0) and x["events_per_day"] == events
    rows = cost.streaming_projection(cost.load_prices(), 94.0, 500_000.0, 3072)
    for s in cost.STREAM_SYMBOLS:
        totals = [r["total"] for r in rows if r["symbols"] == s]
        assert totals == sorted(totals, reverse=True), f"{s} symbols: a longer window must not cost more"
