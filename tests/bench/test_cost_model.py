"""The two Lambda bases of the cost model (bench/cost.py, issue 6) on a hand-made usage."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_an_api_request_and_its_ingestion_invocation_are_one_trace() -> None:
    """Issue 10: X-Ray bills traces; API Gateway's trace is joined by the DataIngestion invocation it makes, while the
    queue- and event-driven functions start their own. Priced per trace, not per segment."""
    p = cost.load_prices()
    u = _usage()
    u.invocations = {"ingestion": 10, "processor": 4, "aggregator": 1}
    u.api_requests = 10
    assert cost.xray_traces(u) == 15
    per_trace = (
        p["assumptions"]["xray_traced_share_of_invocations"] * p["xray"]["per_million_traces_recorded"] / 1e6
    )
    assert cost.per_million(u, p)["xray"] == pytest.approx(15 * per_trace * 1e6 / u.ticks, rel=1e-5)
    u.api_requests = (
        12  # two requests that invoked nothing (say, refused by the gateway) are traces of their own
    )
    assert cost.xray_traces(u) == 17
    assert cost.xray_entry_points(u) == {
        "api": {"ingestion": 10, "api": 2},
        "processor": {"processor": 4},
        "aggregator": {"aggregator": 1},
    }


def test_windows_per_tick_matches_a_simulated_zipf_stream() -> None:
    """R-PERF-1 (issue 10): expected windows with ticks per tick, against a seeded simulation of the same stream
    (each tick's symbol drawn by the Zipf weights, counted windows over 60 simulated minutes)."""
    import random

    rng = random.Random(7)
    for rate, symbols in ((5.0, 200), (40.0, 50), (200.0, 1000)):
        weights = [k**-1.0 for k in range(1, symbols + 1)]
        minutes = 60
        ticks = int(rate * 60 * minutes)
        drawn = rng.choices(range(symbols), weights=weights, k=ticks)
        stamps = sorted(rng.random() * 60 * minutes for _ in range(ticks))
        w1 = {(s, int(t // 60)) for s, t in zip(drawn, stamps, strict=True)}
        w5 = {(s, int(t // 300)) for s, t in zip(drawn, stamps, strict=True)}
        want = cost.windows_per_tick(rate, symbols)
        assert want["1m"] == pytest.approx(len(w1) / ticks, rel=0.05), (rate, symbols)
        assert want["5m"] == pytest.approx(len(w5) / ticks, rel=0.07), (rate, symbols)
        assert want["total"] == pytest.approx(want["1m"] + want["5m"])
    # the bounds: sparse symbols give one 1m and one 5m window per tick; a single busy symbol next to none
    assert cost.windows_per_tick(0.0001, 10_000)["total"] == pytest.approx(2.0, rel=1e-3)
    assert cost.windows_per_tick(1000.0, 1)["total"] == pytest.approx(1 / 60_000 + 1 / 300_000, rel=1e-3)
    with pytest.raises(ValueError, match="rate > 0 and symbols > 0"):
        cost.windows_per_tick(0, 10)


def test_aggregation_fit_recovers_known_costs_and_projects_them() -> None:
    """Issue 10: the per-window / per-run fit of part 6 recovers the costs that made the data, falls back to one
    term when the other would be negative, and the projection prices windows and runs at the target rate."""
    a, b = 2e-6, 2e-5
    runs = [(40.0, 26.0), (379.0, 25.0), (1158.0, 26.0)]
    fit = cost.fit_aggregation([(w, i, a * w + b * i) for w, i in runs])
    assert fit["per_window"] == pytest.approx(a) and fit["per_invocation"] == pytest.approx(b)
    # dollars that fall with the runs: the per-run term would be negative, so the windows carry it all
    one = cost.fit_aggregation([(10.0, 10.0, 1.0), (100.0, 5.0, 10.0)])
    assert one["per_invocation"] == 0.0 and one["per_window"] == pytest.approx(
        (10 * 1 + 100 * 10) / (10 * 10 + 100 * 100)
    )
    got = cost.projected_aggregation_per_million(fit, 200.0, 1000, invocations_per_second=1.0)
    assert got == pytest.approx((a * cost.windows_per_tick(200.0, 1000)["5m"] + b / 200.0) * 1e6)
    with pytest.raises(ValueError, match="at least one measured run"):
        cost.fit_aggregation([])


def test_interval_union_counts_overlapping_and_nested_intervals_once() -> None:
    """Issue 10 (R-PERF-1 cost figures): the union of call intervals on hand-made cases."""
    assert cost.interval_union_length([]) == 0.0
    assert cost.interval_union_length([(0.0, 1.0), (2.0, 3.0)]) == 2.0  # disjoint
    assert cost.interval_union_length([(0.0, 2.0), (1.0, 3.0)]) == 3.0  # overlapping
    assert cost.interval_union_length([(0.0, 4.0), (1.0, 2.0), (1.5, 3.0)]) == 4.0  # nested
    assert cost.interval_union_length([(2.0, 3.0), (0.0, 1.0), (1.0, 2.0)]) == 3.0  # touching, unsorted
    with pytest.raises(ValueError, match=r"an interval ends before it starts: \(2.0, 1.0\)"):
        cost.interval_union_length([(2.0, 1.0)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), max_size=25))
def test_interval_union_matches_a_count_of_covered_unit_cells(raw: list[tuple[int, int]]) -> None:
    """Issue 10: with integer ends, the union's length is the number of unit cells [k, k+1) some interval covers."""
    intervals = [(float(s), float(s + n)) for s, n in raw]
    covered = {k for s, n in raw for k in range(s, s + n)}
    assert cost.interval_union_length(intervals) == pytest.approx(len(covered))


def test_call_overlap_is_call_time_over_the_per_worker_union() -> None:
    """Issue 10: a sequential handler gives 1.0; two environments each sequential AT THE SAME TIME also give 1.0 (the
    union is per worker: each environment bills its own time); four calls at once in one environment give 4.0;
    calls that named no worker are left out, and none at all give 1.0."""
    sequential = [("w1", 0.0, 1.0), ("w1", 1.0, 3.0), ("w1", 5.0, 6.0)]
    assert cost.call_overlap(sequential) == 1.0
    side_by_side = [("w1", 0.0, 1.0), ("w1", 1.0, 2.0), ("w2", 0.0, 1.0), ("w2", 1.0, 2.0)]
    assert cost.call_overlap(side_by_side) == 1.0
    assert cost.call_overlap([("w1", 0.0, 2.0)] * 4) == 4.0
    # one invocation writes four items at once (moto answers them staggered), then reads one; another is sequential
    staggered = [("w1", 0.0, 1.0), ("w1", 0.0, 2.0), ("w1", 0.0, 3.0), ("w1", 0.0, 4.0), ("w1", 4.0, 5.0)]
    staggered += [("w2", 0.0, 1.0), ("w2", 2.0, 3.0)]
    assert cost.call_overlap(staggered) == pytest.approx((10 + 1 + 2) / (5 + 2))
    assert cost.call_overlap(sequential + [("", 0.0, 6.0)] * 3) == 1.0
    assert cost.call_overlap([]) == 1.0 and cost.call_overlap([("", 0.0, 1.0)]) == 1.0
    assert cost.call_overlap([("w1", 1.0, 1.0)]) == 1.0  # zero-length calls: nothing measured, sequential


def test_modeled_call_time_is_divided_by_the_measured_overlap() -> None:
    """Issue 10: modeled = CPU + assumed call latencies / overlap; a usage without an overlap (results from before it
    was measured) is priced as before (sequential); an overlap below 1 is refused, naming the function."""
    p = cost.load_prices()
    u = _usage()
    before = cost.modeled_busy_ms(u, p)
    before_pm = cost.per_million(u, p, lambda_basis="modeled")
    u.call_overlap = {"processor": 2.5}
    after = cost.modeled_busy_ms(u, p)
    calls_ms = before["processor"] - 100.0
    assert after["processor"] == pytest.approx(100.0 + calls_ms / 2.5)
    assert after["aggregator"] == before["aggregator"]
    u.call_overlap = {"processor": 1.0, "aggregator": 1.0}
    assert cost.per_million(u, p, lambda_basis="modeled") == before_pm
    u.call_overlap = {"aggregator": 0.5}
    with pytest.raises(ValueError, match=r"call_overlap must be >= 1 .*\{'aggregator': 0.5\}"):
        cost.modeled_busy_ms(u, p)
