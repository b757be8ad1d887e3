"""The machinery of `make bench` part 6, the measured streams (issue 10), without a local stack (quick).

Zipf spread, tick source, freshness bookkeeping, exactness check, attribution of the pollers' calls per event-source
queue and of service deliveries, the stream driver against a fake stack, and the costs derived from a hand-made
measurement. No timing is asserted.
"""

import json
import math
import threading
import urllib.parse
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from bench import cost
from bench.run import (
    DEFERRAL_WAIT_S,
    ORDER_MARGIN_S,
    Sizes,
    _aggregation_rows,
    _deliveries,
    analyse_streaming,
    micro_part_now,
    streaming_goals,
)
from bench.stream import (
    EventSourceQueues,
    Freshness,
    StreamSpec,
    TickSource,
    crosses_group_boundary,
    drive,
    exactness,
    next_group_start,
    percentile,
    symbol_names,
    window_1m,
    zipf_weights,
)
from tools.local import datagen
from tools.local.calls import Call, billing_units
from tools.local.client import StackClient


def test_zipf_weights_sum_to_one_and_fall_as_one_over_rank() -> None:
    w = zipf_weights(1000)
    assert math.isclose(sum(w), 1.0, rel_tol=1e-12)
    assert w[0] / w[9] == pytest.approx(10.0) and w[0] / w[999] == pytest.approx(1000.0)
    assert zipf_weights(5, 0.0) == [pytest.approx(0.2)] * 5
    with pytest.raises(ValueError, match="n must be >= 1"):
        zipf_weights(0)


def test_tick_source_spreads_by_zipf_with_strictly_increasing_times_per_symbol() -> None:
    syms = symbol_names("api", 100)
    assert syms[0] == "A0001" and syms[-1] == "A0100" and all(len(s) <= 12 for s in syms)
    src = TickSource(syms, seed=3)
    ticks = src.take(20_000, 1_000_000, 1_100_000)
    assert len(ticks) == 20_000 and all(t.ts >= 1_000_000 for t in ticks)
    counts = Counter(t.symbol for t in ticks)
    w = zipf_weights(100)
    # the top symbol carries ~19% (1 / H_100), the 10th ten times less; a chi-square-free tolerance
    assert counts["A0001"] / 20_000 == pytest.approx(w[0], rel=0.08)
    assert counts["A0001"] / counts["A0010"] == pytest.approx(10.0, rel=0.3)
    last: dict[str, int] = {}
    for t in ticks:
        assert t.ts > last.get(t.symbol, -1) and t.price > 0 and t.volume > 0
        last[t.symbol] = t.ts
    # distinct (symbol, ts): the reference computation and the content-hash keys agree on what is distinct
    assert len({(t.symbol, t.ts) for t in ticks}) == len(ticks)
    assert TickSource(syms, seed=3).take(50, 0, 10) == TickSource(syms, seed=3).take(50, 0, 10)


def test_stream_spec_validates_and_derives_request_shape() -> None:
    api = StreamSpec("api", 1000, 20.0)
    assert (api.interval_s, api.ticks_per_request, api.suffix, api.label) == (5.0, 100, "sa1000", "api 1,000")
    f = StreamSpec("file", 10, 20.0)
    assert (f.interval_s, f.ticks_per_request) == (5.0, 100)
    with pytest.raises(ValueError, match="kind 'ftp'"):
        StreamSpec("ftp", 10, 1.0)
    with pytest.raises(ValueError, match="symbols 0"):
        StreamSpec("api", 0, 1.0)


def test_freshness_resolves_a_sample_once_its_window_holds_the_trades_sent_up_to_it() -> None:
    fr = Freshness(seed=1)
    w = 60_000 * 100
    t1 = [datagen.Tick("X", w + i, 1.0, 1, "XNAS") for i in range(3)]
    t2 = [datagen.Tick("X", w + 10 + i, 1.0, 1, "XNAS") for i in range(2)]
    (s1,) = fr.sent(t1, at=10.0)
    (s2,) = fr.sent(t2, at=12.0)
    assert (s1.window, s1.trades_needed, s2.trades_needed) == (w, 3, 5)
    assert fr.pending_windows() == [("X", w)]
    assert fr.seen("X", w, 4, at=13.0) == 1  # 4 trades: includes the first request, not yet the second
    assert fr.seen("X", w, 5, at=16.5) == 1
    assert fr.pending_windows() == []
    assert fr.summary() == {"samples": 2, "never_fresh": 0, "p50_s": 3.75, "p95_s": 4.5, "max_s": 4.5}
    assert fr.sent([], at=1.0) == []
    three = Freshness(seed=2, per_request=3).sent(t1 + t2, at=0.0)
    # one request's ticks travel in one message: every sample of it needs the window's count after the request
    assert len(three) == 3 and {x.trades_needed for x in three} == {5}
    assert window_1m(w + 59_999) == w
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and percentile([1.0], 0.95) == 1.0


def test_exactness_names_lost_doubled_and_wrong_aggregates() -> None:
    ticks = TickSource(["A", "B"], seed=2).take(50, 0, 200_000)
    ref = datagen.reference_aggregates(ticks)
    got: dict[tuple[str, str], dict[int, dict[str, float | None]]] = {}
    for (sym, iv, start), a in ref.items():
        got.setdefault((sym, iv), {})[start] = {
            f: (None if getattr(a, f) is None else float(getattr(a, f)))
            for f in ("open", "high", "low", "close", "volume", "vwap", "trades")
        }
    stored = Counter(t.symbol for t in ticks)
    assert exactness(ticks, stored, got) == []
    assert exactness(ticks, {**stored, "A": stored["A"] - 1}, got)[0].startswith("A: ")
    assert exactness(ticks, {**stored, "Z": 3}, got) == ["Z: 3 ticks stored, none sent"]
    key = next(iter(got))
    start = next(iter(got[key]))
    got[key][start] = {**got[key][start], "volume": (got[key][start]["volume"] or 0) + 1}
    assert any("volume" in p for p in exactness(ticks, stored, got))


def _call(action: str, tag: str, units: dict[str, float] | None = None) -> Call:
    return Call("sqs", action, 200, 0, 0, units or {"sqs_requests": 1.0}, tag)


def test_event_source_calls_are_attributed_per_queue_from_the_host_config() -> None:
    cfg = {
        "eventSources": [
            {"type": "s3-notification", "queueUrl": "http://x/1/shim-s3", "function": "DataIngestion-a"},
            {"type": "sqs", "queueUrl": "http://x/1/ProcessingQueue-a", "function": "DataProcessor-a"},
            {"type": "sqs", "queueUrl": "http://x/1/AggBuffer-a", "function": "DataAggregator-a"},
            {"type": "schedule", "function": "DataAggregator-a"},
        ]
    }
    q = EventSourceQueues.from_host_config(cfg, lambda n: n.split("-")[0].removeprefix("Data").lower())
    assert q.work == {"ProcessingQueue-a": "processor_esm", "AggBuffer-a": "aggregator_esm"}
    assert q.shims == frozenset({"shim-s3"})
    calls = [
        _call("ReceiveMessage", "ProcessingQueue-a"),
        _call("ReceiveMessage", "ProcessingQueue-a|empty"),
        _call("DeleteMessageBatch", "AggBuffer-a"),
        _call("ReceiveMessage", "shim-s3"),
        _call("GetQueueAttributes", "ProcessingQueue-a"),
    ]
    work, idle, emulation = q.split(calls)
    assert [len(work["processor_esm"]), len(work["aggregator_esm"]), len(idle), len(emulation)] == [
        1,
        1,
        1,
        2,
    ]
    # a queue fed by a service (an EventBridge rule's SQS target): received there minus sent there by functions
    polls = {
        "esm": [
            _call("ReceiveMessage", "ProcessingQueue-a", {"sqs_requests": 1.0, "sqs_messages": 4.0}),
            _call("ReceiveMessage", "AggBuffer-a", {"sqs_requests": 1.0, "sqs_messages": 7.0}),
        ],
        "ingestion": [
            _call("SendMessageBatch", "ProcessingQueue-a", {"sqs_requests": 1.0, "sqs_messages": 4.0})
        ],
    }
    assert _deliveries(polls, q) == {
        "aggregator_delivery": {
            "calls": {"requests": 7, "by_action": {"sqs:SendMessage (by the service)": 7}},
            "units": {"sqs_requests": 7.0},
        }
    }


def test_proxy_counts_the_messages_each_sqs_call_moved() -> None:
    recv = json.dumps({"Messages": [{"Body": "a"}, {"Body": "b"}]}).encode()
    units, tag = billing_units("sqs", "ReceiveMessage", b'{"QueueUrl": "http://h/1/Q"}', recv)
    assert units["sqs_messages"] == 2 and tag == "Q"
    units, tag = billing_units("sqs", "ReceiveMessage", b'{"QueueUrl": "http://h/1/Q"}', b"{}")
    assert "sqs_messages" not in units and tag == "Q|empty"
    body = json.dumps(
        {"QueueUrl": "http://h/1/Q", "Entries": [{"Id": "1"}, {"Id": "2"}, {"Id": "3"}]}
    ).encode()
    assert billing_units("sqs", "SendMessageBatch", body, b"{}")[0]["sqs_messages"] == 3


class _FakeHost:
    """Answers POST /ingest with 202 and GET .../aggregates with what the 'pipeline' stored so far."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trades: Counter[tuple[str, int]] = Counter()
        self.posts = 0

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float = 30
    ) -> tuple[int, dict[str, str], bytes]:
        if method == "POST":
            assert headers["x-api-key"] == "k" and path == "/st/ingest"
            with self.lock:
                self.posts += 1
                for t in json.loads(body or b"[]"):
                    self.trades[(t["symbol"], window_1m(int(t["timestamp"])))] += 1
            return 202, {}, b"{}"
        u = urllib.parse.urlsplit(path)
        sym = u.path.split("/")[3]
        w = int(urllib.parse.parse_qs(u.query)["from"][0])
        with self.lock:
            n = self.trades[(sym, w)]
        return 200, {}, json.dumps({"items": [{"windowStart": w, "trades": n}] if n else []}).encode()


class _FakeStack:
    def __init__(self) -> None:
        self.host = _FakeHost()
        outputs = {"BucketName": "b", "TableName": "t", "ApiUrl": "http://127.0.0.1:9/st/"}
        self.client = StackClient(outputs, self.host, api_key="k")


def test_driver_sends_a_bounded_steady_stream_and_measures_freshness() -> None:
    spec = StreamSpec("api", 10, 200.0, batch_ticks=100)  # one POST every 0.5 s
    st = _FakeStack()
    runs = drive({spec: st}, seconds=2.0, settle_s=5.0, poll_s=0.2, seed=1, log=lambda _m: None)
    run = runs[spec]
    assert run.requests == st.host.posts == 4 and len(run.ticks) == 400
    assert run.statuses == {202: 4}
    f = run.freshness.summary()
    assert (
        f["samples"] == 4 * 3 and f["never_fresh"] == 0 and 0 <= f["p50_s"] <= f["p95_s"] <= f["max_s"] < 1.0
    )


def _row(inv: int, ms: float, units: dict[str, float], by_action: dict[str, int]) -> dict[str, Any]:
    return {
        "invocations": inv,
        "busy_ms": ms,
        "cpu_ms": ms / 2,
        "cold_starts": 0,
        "log_bytes": 0,
        "calls": {"requests": sum(by_action.values()), "by_action": by_action},
        "units": units,
    }


def test_streaming_costs_follow_from_the_measured_units() -> None:
    fns = {
        "ingestion": _row(
            10,
            500,
            {"s3_tier1": 10, "sqs_requests": 10, "sqs_messages": 10},
            {"s3:PutObject": 10, "sqs:SendMessageBatch": 10},
        ),
        "processor": _row(
            10, 2000, {"ddb_wru": 1010, "events": 10}, {"dynamodb:BatchWriteItem": 40, "events:PutEvents": 10}
        ),
        "aggregator": _row(
            10, 3000, {"ddb_rru": 100, "ddb_wru": 200}, {"dynamodb:Query": 100, "dynamodb:PutItem": 200}
        ),
        "processor_esm": {"calls": {"requests": 20, "by_action": {}}, "units": {"sqs_requests": 20}},
    }
    stream: dict[str, Any] = {
        "kind": "api",
        "label": "api 10",
        "symbols": 10,
        "ticks": 1000,
        "files": 0,
        "api_requests": 10,
        "seconds_sending": 50.0,
        "spec": {"ticks_per_second": 20.0},
        "functions": fns,
        "storage": {
            "ddb_stored_bytes_per_tick": 300.0,
            "s3_stored_bytes_per_tick": 100.0,
            "tick_item_bytes_mean": 120,
        },
        "freshness": {"samples": 10, "never_fresh": 0, "p50_s": 3.0, "p95_s": 9.0, "max_s": 11.0},
        "exact": True,
    }
    r: dict[str, Any] = {
        "streaming": {
            "idle_schedule": {"units": {}, "busy_ms": 10.0, "log_bytes": 0, "emf_metrics": []},
            "alarms": 10,
            "dashboards": 1,
            "streams": [stream],
        }
    }
    analyse_streaming(r)
    prices = cost.load_prices()
    c = stream["cost"]
    pm = c["modeled"]["per_million"]
    assert pm["api_gateway"] == pytest.approx(
        10 * prices["api_gateway_rest"]["per_million_requests"] / 1000, rel=1e-4
    )
    assert pm["dynamodb_writes"] == pytest.approx(
        1210 * prices["dynamodb_on_demand"]["per_million_write_request_units"] / 1000, rel=1e-4
    )
    assert stream["requests_per_10k"] == {
        "ingestion": 200.0,
        "processor": 500.0,
        "aggregator": 3000.0,
        "processor_esm": 200.0,
        "total": 3900.0,
    }
    # aggregation = the aggregator's rows plus the events that drive it
    agg = _aggregation_rows(fns)
    assert set(agg) == {"aggregator", "events"} and agg["events"]["units"] == {"events": 10.0}
    assert 0 < c["modeled"]["aggregation_share"] < 1
    assert c["modeled"]["aggregation_per_million"] == pytest.approx(
        c["modeled"]["aggregation_share"] * pm["total"], rel=1e-3
    )
    # wall basis: 30 invocations and 5,500 busy ms at 3,072 MB, per million ticks
    want_wall = cost.lambda_cost(30, 5500.0, 3072, prices) * 1000
    assert c["wall"]["per_million"]["lambda"] == pytest.approx(want_wall, rel=1e-4)
    goals = streaming_goals(r["streaming"])
    assert [g["met"] for g in goals if "fresh" in g["goal"]] == [True]
    assert all(isinstance(g["met"], bool) for g in goals)


def test_all_in_goal_is_judged_at_the_design_rate_when_a_stream_ran_there() -> None:
    """Issue 10: the all-in goals are costs per million ticks at the design volume, so when part 6 measured a symbol
    count at the design rate (`Sizes.stream_design_rate_symbols`) that stream is judged, not the slower ones; results
    without one judge every stream (as before)."""

    def stream(symbols: int, rate: float, all_in: float) -> dict[str, Any]:
        return {
            "kind": "file",
            "label": f"file {symbols}",
            "symbols": symbols,
            "spec": {"ticks_per_second": rate},
            "cost": {"modeled": {"all_in": all_in, "aggregation_share": 0.05}},
            "freshness": {"samples": 1, "never_fresh": 0, "p50_s": 1.0, "p95_s": 2.0, "max_s": 3.0},
            "exact": True,
        }

    slow, design = stream(10, 10.0, 1.5), stream(1000, 213.7, 0.85)
    st: dict[str, Any] = {"streams": [slow, design], "design_rate_symbols": [1000], "design_rate": 213.7}
    all_in = [g for g in streaming_goals(st) if "all-in cost <=" in g["goal"]]
    assert len(all_in) == 1 and all_in[0]["met"] is True
    assert "at the design rate (213.7 ticks/s, 1,000 symbols)" in all_in[0]["goal"]
    assert all_in[0]["value"].startswith("$0.850")
    share = [g for g in streaming_goals(st) if "aggregation <=" in g["goal"]]
    assert share[0]["goal"].startswith("file stream at 1,000 symbols, 213.7 ticks/s")
    old = {"streams": [slow, design]}
    all_in_old = [g for g in streaming_goals(old) if "all-in cost <=" in g["goal"]]
    assert all_in_old[0]["met"] is False and "at every symbol count" in all_in_old[0]["goal"]
    # a goal measured at another rate names where it is judged; one measured at the design rate does not
    assert all_in_old[0]["goal"].endswith("judged at the design rate: `make bench-design-rate`")
    assert "make bench-design-rate" not in all_in[0]["goal"] + share[0]["goal"]
    share_old = [g for g in streaming_goals(old) if "aggregation <=" in g["goal"]]
    assert share_old[0]["goal"].endswith("judged at the design rate: `make bench-design-rate`")


@given(hst.floats(min_value=1.6e9, max_value=2.0e9), hst.floats(min_value=0.0, max_value=30.0))
def test_next_group_start_is_the_next_5_minute_boundary(now: float, margin: float) -> None:
    """Issue 10 (part 6 --stream-align): the streams start on a (symbol, 5m) group boundary, the first one at least
    ``margin`` seconds away, so that a 300 s stream fills each group as a continuous feed does."""
    t = next_group_start(now, margin)
    assert t % 300 == 0
    assert now + margin < t <= now + margin + 300


@given(hst.floats(min_value=1.6e9, max_value=2.0e9), hst.floats(min_value=0.0, max_value=900.0))
def test_crosses_group_boundary_iff_a_multiple_of_5_minutes_lies_in_the_span(
    start: float, seconds: float
) -> None:
    """Issue 10 (the bench's part order): a (symbol, 5m) group boundary lies in (start, start + seconds] exactly when
    some multiple of 300 s does (counted by walking the multiples near ``start``)."""
    k0 = int(start // 300) - 1
    found = any(start < 300 * k <= start + seconds for k in range(k0, k0 + 6))
    assert crosses_group_boundary(start, seconds) is found
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        crosses_group_boundary(start, -1.0)


@given(hst.floats(min_value=1.6e9, max_value=2.0e9), hst.sampled_from(["cpu", "cold"]))
def test_a_micro_part_runs_first_unless_that_carries_the_streams_end_across_a_boundary(
    now: float, part: str
) -> None:
    """Issue 10 (make bench under 10 minutes): part 1 or 3 runs before the streams exactly when the streams, ending
    that much later, still end in the 5-minute window they would end in without it (so the wait for their last
    groups grows by no extra window); otherwise it runs after part 6, and then the streams end at most its duration
    (plus the margin) before a boundary, so their last groups come back well within the deferral wait."""
    s = Sizes()
    estimate = dict(s.micro_estimates)[part]
    end = now + s.stream_setup_estimate + s.stream_seconds  # the streams' end if they started now
    late = end + estimate + ORDER_MARGIN_S  # ... and after the part (and the margin)
    if micro_part_now(now, s, part):
        assert end // 300 == late // 300
    else:
        to_boundary = 300 * (end // 300 + 1) - end
        assert to_boundary <= estimate + ORDER_MARGIN_S < DEFERRAL_WAIT_S
    assert micro_part_now(now, Sizes(stream_align=True), part) is True


def test_micro_parts_order_at_both_sides_of_a_boundary() -> None:
    """Issue 10: concrete cases of `micro_part_now` around the boundary at 1,764,001,800 s (2025-11-24T16:30Z)."""
    s = Sizes()
    boundary = 1_764_001_800.0
    streams = s.stream_setup_estimate + s.stream_seconds
    # the streams would end 10 s before the boundary: part 1 first would push it past: it runs after part 6
    assert micro_part_now(boundary - streams - 10, s, "cpu") is False
    # ... 50 s before it: no room for part 1 (60 s), room for part 3 (25 s)
    assert micro_part_now(boundary - streams - 50, s, "cpu") is False
    assert micro_part_now(boundary - streams - 50, s, "cold") is True
    # ... 200 s before it: room for both
    assert micro_part_now(boundary - streams - 200, s, "cpu") is True
    # ... just after it: a whole window ahead
    assert micro_part_now(boundary - streams + 1, s, "cpu") is True
