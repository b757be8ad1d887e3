"""X-Ray in the MEASURED streaming runs at X-Ray's default sampling rule (issue 10, part 6 cost figures; the stage and
functions trace actively, R-API-5): each trace entry point (the API stage with the DataIngestion invocation it makes,
DataIngestion from S3, DataProcessor, DataAggregator) priced at the sampled share of its MEASURED rate in the whole
stream (bench/cost.py `xray_entry_points`, `xray_shares`, `xray_recorded`; bench/run.py `xray_of_stream`)."""

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import cost
from bench.run import _aggregation_rows, rest_usage, usage_of
from tests.bench.test_rest_projection import _fn_row, analysed


def _recorded_share(per_second: float) -> float:
    """The default rule written out independently: the first trace each second, 5% of the rest."""
    return 1.0 if per_second <= 1 else (1 + 0.05 * (per_second - 1)) / per_second


def _usage(ticks: int, api: int, files: int, processor: int, aggregator: int) -> cost.Usage:
    """A stream's usage with ``api`` API requests (each invoking DataIngestion once), ``files`` S3 objects (each
    invoking it once), and the given DataProcessor and DataAggregator invocations."""
    inv = {"ingestion": api + files, "processor": processor, "aggregator": aggregator}
    return cost.Usage(
        ticks=ticks,
        memory_mb=3072,
        invocations={f: n for f, n in inv.items() if n},
        busy_ms={f: 1.0 for f, n in inv.items() if n},
        api_requests=api,
    )


def _xray_line(traces: float, ticks: int, p: dict[str, Any]) -> float:
    return traces * float(p["xray"]["per_million_traces_recorded"]) / ticks


_counts = st.integers(min_value=0, max_value=3000)
_stream_counts = {
    "ticks": st.integers(min_value=100, max_value=1_000_000),
    "api": _counts,
    "files": _counts,
    "processor": _counts,
    "aggregator": _counts,
}


@settings(max_examples=200, deadline=None)
@given(
    **_stream_counts,
    stretch=st.floats(min_value=1.0, max_value=50.0),
)
def test_at_one_trace_per_second_or_less_per_entry_point_the_line_is_todays(
    ticks: int, api: int, files: int, processor: int, aggregator: int, stretch: float
) -> None:
    """Issue 10 (property): when every entry point's measured rate is 1/s or less the sampling rule records every
    trace, so the xray line equals the one a usage without a duration gets (traced share of 1)."""
    p = cost.load_prices()
    u = _usage(ticks, api, files, processor, aggregator)
    today = cost.per_million(u, p)["xray"]
    seconds = max(1, api, files, processor, aggregator) * stretch  # no entry point above 1 per second
    u.xray_share = cost.xray_shares(u, seconds, p)
    assert all(v == 1.0 for v in u.xray_share.values())
    assert cost.per_million(u, p)["xray"] == pytest.approx(today, rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    **_stream_counts,
    seconds=st.floats(min_value=10.0, max_value=600.0),
)
def test_at_a_known_rate_the_line_is_count_times_the_sampled_share_times_the_price(
    ticks: int, api: int, files: int, processor: int, aggregator: int, seconds: float
) -> None:
    """Issue 10 (property): per entry point, count x ((1 + 0.05 (r - 1)) / r) x price at its measured rate r = count /
    seconds (1 when r <= 1); an API request and its DataIngestion invocation are one trace of the API stage, and
    DataIngestion from S3 is an entry point of its own, at its own rate."""
    p = cost.load_prices()
    u = _usage(ticks, api, files, processor, aggregator)
    u.xray_share = cost.xray_shares(u, seconds, p)
    traces = sum(n * _recorded_share(n / seconds) for n in (api, files, processor, aggregator))
    assert cost.per_million(u, p)["xray"] == pytest.approx(_xray_line(traces, ticks, p), rel=1e-6, abs=1e-6)


def test_the_design_rate_api_stream_on_hand_figures() -> None:
    """Issue 10: the API stream of the design-rate run (about 2.1 requests/s and 1.2 processor runs/s over 300 s)
    records (1 + 0.05 x 1.1) / 2.1 of its requests and (1 + 0.05 x 0.2) / 1.2 of its runs; the aggregator at 0.5/s
    all of them."""
    p = cost.load_prices()
    u = _usage(64_110, api=630, files=0, processor=360, aggregator=150)
    u.xray_share = cost.xray_shares(u, 300.0, p)
    assert u.xray_share == pytest.approx(
        {"ingestion": 1.055 / 2.1, "processor": 1.01 / 1.2, "aggregator": 1.0}, rel=1e-9
    )
    want = 630 * 1.055 / 2.1 + 360 * 1.01 / 1.2 + 150
    assert cost.per_million(u, p)["xray"] == pytest.approx(_xray_line(want, 64_110, p), rel=1e-5)


def test_a_slice_without_the_streams_share_or_a_bad_share_is_refused() -> None:
    """Bad input: a usage with shares that miss one of its trace counters, or a share outside (0, 1], or a duration
    that is not > 0, gets an error naming what is wrong and what is allowed."""
    p = cost.load_prices()
    u = _usage(1000, api=10, files=0, processor=5, aggregator=1)
    u.xray_share = {"ingestion": 0.5, "processor": 1.0}
    with pytest.raises(ValueError, match=r"no share for the trace counters \['aggregator'\].*xray_shares"):
        cost.per_million(u, p)
    u.xray_share = {"ingestion": 0.5, "processor": 1.0, "aggregator": 1.5}
    with pytest.raises(ValueError, match=r"within \(0, 1\]"):
        cost.per_million(u, p)
    with pytest.raises(ValueError, match="duration in seconds > 0"):
        cost.xray_shares(u, 0.0, p)


def _design_rate_stream(kind: str, seconds: float = 300.0) -> dict[str, Any]:
    """A measured stream at about the design rate (hand-made counts): API 2.1 requests/s of 100 ticks (file: one
    object every 5 s), DataProcessor 1.2 runs/s, DataAggregator 0.5 runs/s, over ``seconds``."""
    requests = round(2.1 * seconds) if kind == "api" else round(seconds / 5)
    ticks = 100 * round(2.1 * seconds)
    runs, agg = round(1.2 * seconds), round(0.5 * seconds)
    ing_calls = (
        {"s3:PutObject": requests, "sqs:SendMessageBatch": requests}
        if kind == "api"
        else {"s3:GetObject": requests, "s3:HeadObject": requests, "sqs:SendMessageBatch": requests}
    )
    s3 = {"s3_tier1": requests} if kind == "api" else {"s3_tier2": 2 * requests}
    return {
        "kind": kind,
        "symbols": 1000,
        "label": f"{kind} 1,000",
        "spec": {"kind": kind, "symbols": 1000, "ticks_per_second": ticks / seconds, "file_every_s": 5.0},
        "ticks": ticks,
        "requests": requests,
        "files": requests if kind == "file" else 0,
        "api_requests": requests if kind == "api" else 0,
        "ticks_per_request": ticks // requests,
        "seconds_sending": seconds,
        "functions": {
            "ingestion": _fn_row(
                requests, {**s3, "sqs_requests": requests, "sqs_messages": requests}, ing_calls
            ),
            "processor": _fn_row(
                runs,
                {"ddb_wru": ticks + runs, "events": runs},
                {"dynamodb:BatchWriteItem": ticks // 25, "dynamodb:PutItem": runs, "events:PutEvents": runs},
            ),
            "aggregator": _fn_row(agg, {"ddb_rru": 900, "ddb_wru": 900}, {"dynamodb:PutItem": 900}),
            "processor_esm": {
                "calls": {
                    "requests": requests + runs,
                    "by_action": {"sqs:ReceiveMessage": requests, "sqs:DeleteMessageBatch": runs},
                },
                "units": {"sqs_requests": requests + runs, "sqs_messages": requests},
            },
        },
        "storage": {
            "tick_items": ticks,
            "tick_item_bytes_mean": 98.6,
            "aggregate_items": 900,
            "aggregate_bytes": 165 * 900,
            "ddb_stored_bytes_per_tick": 198.6 + 265 * 900 / ticks,
            "s3_stored_bytes_per_tick": 95.0,
        },
        "freshness": {"samples": 5, "never_fresh": 0, "p50_s": 2.0, "p95_s": 3.0, "max_s": 3.5},
        "exact": True,
        "problems": [],
    }


@pytest.mark.parametrize("kind", ["api", "file"])
def test_part_6_prices_the_stream_and_its_slices_at_the_whole_streams_rates(kind: str) -> None:
    """Issue 10 (safety): part 6's measured xray line is the independent per-entry-point computation at the stream's
    measured rates; the aggregation slice, the ingestion slice and the rest (`rest_usage`) price their traces at the
    WHOLE stream's rate of their entry point (DataIngestion of an API stream at the API stage's rate), so the
    aggregation and the rest add up to the whole, and the rest's decomposition re-priced at its measured drivers
    reproduces it exactly."""
    p = cost.load_prices()
    x = _design_rate_stream(kind)
    c = analysed([x], 300)["streaming"]["streams"][0]["cost"]
    seconds = float(x["seconds_sending"])
    fns = x["functions"]
    n = {f: int(fns[f]["invocations"]) for f in ("ingestion", "processor", "aggregator")}
    ticks = int(x["ticks"])
    rates = {f: k / seconds for f, k in n.items()}
    assert rates["processor"] == pytest.approx(1.2) and rates["aggregator"] == pytest.approx(0.5)
    entry = "api" if kind == "api" else "ingestion"
    assert c["xray"]["per_second"] == pytest.approx(
        {entry: rates["ingestion"], **{f: rates[f] for f in n if f != "ingestion"}}, abs=1e-4
    )
    want = {f: _xray_line(k * _recorded_share(rates[f]), ticks, p) for f, k in n.items()}
    for basis in cost.LAMBDA_BASES:
        assert c[basis]["per_million"]["xray"] == pytest.approx(sum(want.values()), abs=2e-6), basis

    # the slices, as analyse_streaming builds them, with the whole stream's shares
    shares = cost.xray_shares(usage_of(x, ticks, int(x["files"]), int(x["api_requests"])), seconds, p)
    assert c["xray"]["share"] == pytest.approx(shares, abs=1e-4)
    ua = usage_of({"functions": _aggregation_rows(fns)}, ticks, 0, 0)
    ui = usage_of({"functions": {"ingestion": fns["ingestion"]}}, ticks, 0, 0)
    ur, drivers = rest_usage(x, {})
    for s in (ua, ui, ur):
        s.xray_share = shares
    assert cost.per_million(ua, p)["xray"] == pytest.approx(want["aggregator"], abs=2e-6)
    assert cost.per_million(ui, p)["xray"] == pytest.approx(want["ingestion"], abs=2e-6)
    assert cost.per_million(ur, p)["xray"] == pytest.approx(want["ingestion"] + want["processor"], abs=5e-6)
    whole = c["modeled"]["per_million"]["total"]
    parts = c["modeled"]["aggregation_per_million"] + c["rest"]["per_million"]
    assert parts == pytest.approx(whole, abs=2e-5)
    dec = cost.decompose_rest(ur, drivers, p)
    assert cost.project_rest(dec, drivers, p)["total"] == pytest.approx(c["rest"]["per_million"], abs=2e-6)


def test_a_stream_without_a_duration_keeps_todays_line() -> None:
    """Issue 10: a stream with no recorded duration (``seconds_sending`` 0) counts every trace, as before."""
    p = cost.load_prices()
    x = _design_rate_stream("api")
    x["seconds_sending"] = 0.0
    c = analysed([copy.deepcopy(x)], 300)["streaming"]["streams"][0]["cost"]
    assert c["xray"] == {"seconds": 0.0, "per_second": {}, "entry_share": {}, "share": {}}
    traces = (
        x["api_requests"]
        + x["functions"]["processor"]["invocations"]
        + x["functions"]["aggregator"]["invocations"]
    )
    assert c["modeled"]["per_million"]["xray"] == pytest.approx(
        _xray_line(traces, int(x["ticks"]), p), abs=2e-6
    )


def test_part_6_report_prints_each_entry_points_rate_and_recorded_share() -> None:
    """Issue 10: the per-line table of part 6 says how the xray line is priced and prints, per stream, each entry
    point's measured rate and the share recorded (API stage 2.1/s: (1 + 0.05 x 1.1) / 2.1 = 50%)."""
    from bench.run import render_streaming

    r = analysed([_design_rate_stream("api"), _design_rate_stream("file")], 300)
    text = render_streaming(r["streaming"])
    assert "at X-Ray's default sampling rule" in text
    assert "api 2.10/s: 50%" in text and "processor 1.20/s: 84%" in text and "aggregator 0.50/s: 100%" in text
    assert "ingestion 0.20/s: 100%" in text
