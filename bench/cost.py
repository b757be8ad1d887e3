"""Cost model of issue 6: dollars per million ticks and per month, from measured units and `bench/prices.json`.

Everything here is a pure function of its arguments (no I/O except `load_prices`), so the arithmetic is testable
with hand-made measurements. Inputs are *measured* at the local endpoint by `bench/run.py`:

* `Usage`: billing units of one run (SQS requests per 64 KiB chunk, EventBridge events, DynamoDB read/write units,
  S3 request tiers), Lambda invocations and busy milliseconds per function, API requests, log bytes, and the bytes
  that stay stored per tick (DynamoDB items incl. overhead, S3 objects);
* Lambda time two ways (``per_million(..., lambda_basis=...)``): ``"wall"`` = the busy (wall) time measured on the
  local host, which includes moto's latency (pessimistic); ``"modeled"`` = an AWS estimate: the measured CPU time
  (user + system) of each invocation plus, for every AWS call the function made (counted by the proxies), the
  assumed p50 latency of that call from ``prices.json`` ``aws_latency_p50_ms`` (marked as assumptions), divided by
  the function's MEASURED call overlap (`call_overlap`: how many of its calls were in flight at once, on average,
  while any was; 1.0 = sequential, the upper bound used before it was measured);
* `IdleUsage`: what keeps running with no data (the scheduled aggregator run, event-source-mapping polls) and the
  resources that bill by the month (alarms, dashboards, custom metrics).
"""

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
GIB = 1024**3


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    """The price table (one file, with its source and date)."""
    prices: dict[str, Any] = json.loads(path.read_text())
    for key in (
        "source",
        "as_of",
        "lambda",
        "dynamodb_on_demand",
        "sqs",
        "eventbridge",
        "s3_standard",
        "assumptions",
    ):
        if key not in prices:
            raise ValueError(f"{path}: missing '{key}'")
    return prices


@dataclass
class Usage:
    """Measured usage of one run that handled `ticks` ticks."""

    ticks: int
    memory_mb: int
    invocations: dict[str, int]
    busy_ms: dict[str, float]
    cold_starts: dict[str, int] = field(default_factory=dict)
    init_ms: dict[str, float] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)
    """sqs_requests, events, ddb_wru, ddb_rru, s3_tier1, s3_tier2"""
    api_requests: int = 0
    log_bytes: float = 0.0
    ddb_stored_bytes_per_tick: float = 0.0
    s3_stored_bytes_per_tick: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """measured CPU time (user + system) per function, for the modeled Lambda time"""
    aws_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    """per function: counted AWS calls by ``service:Action``, for the modeled Lambda time"""
    call_overlap: dict[str, float] = field(default_factory=dict)
    """per function: measured overlap of its AWS calls (`call_overlap`, >= 1); a function without one counts its
    calls as sequential (1.0)"""


LAMBDA_BASES = ("wall", "modeled")
"""How `per_million` prices Lambda time (module docstring)."""


def call_latency_ms(action: str, p: dict[str, Any]) -> float:
    """Assumed p50 latency of one ``service:Action`` call (``per_action`` first, then ``per_service``)."""
    lat = p.get("aws_latency_p50_ms")
    if not isinstance(lat, dict):
        raise ValueError("prices.json has no 'aws_latency_p50_ms' table (needed for the modeled Lambda time)")
    if action in lat.get("per_action", {}):
        return float(lat["per_action"][action])
    service = action.split(":", 1)[0]
    if service in lat.get("per_service", {}):
        return float(lat["per_service"][service])
    raise ValueError(
        f"no assumed latency for {action!r} in prices.json aws_latency_p50_ms; "
        f"per_service has {sorted(lat.get('per_service', {}))}, per_action has {sorted(lat.get('per_action', {}))}"
    )


def interval_union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of closed intervals ``(start, end)`` (overlapping and nested ones counted once)."""
    total = 0.0
    cur: tuple[float, float] | None = None
    for start, end in sorted(intervals):
        if end < start:
            raise ValueError(f"an interval ends before it starts: ({start}, {end})")
        if cur is None or start > cur[1]:
            total += cur[1] - cur[0] if cur is not None else 0.0
            cur = (start, end)
        else:
            cur = (cur[0], max(cur[1], end))
    return total + (cur[1] - cur[0] if cur is not None else 0.0)


def call_overlap(calls: Iterable[tuple[str, float, float]]) -> float:
    """MEASURED overlap of one function's AWS calls: the sum of the calls' durations over the sum, per execution
    environment (worker), of the union of that worker's call intervals; >= 1, and 1.0 = sequential.

    ``calls``: (worker, start, end) of each call, as the counting proxy saw it (``tools.local.calls.Call`` ``worker``,
    ``started``, ``ended``); calls without a worker ('') are left out, and with none left the answer is 1.0. A worker
    runs one invocation at a time, so its union is the sum over its invocations of the time at least one call was in
    flight; per worker, so two environments each calling sequentially at the same time still give 1.0 (their calls
    are billed separately, each environment's own time).

    Conservative: moto answers requests more or less one at a time, so calls the handler issues at once finish
    staggered at the proxy, and the overlap measured here UNDERSTATES the handler's real concurrency (e.g. four
    parallel writes measure below 4). Dividing the assumed latencies by it keeps the modeled call time on the high
    side, closer than the sequential bound (an estimate: the overlap is weighted by moto's call durations here, the
    latencies it divides are AWS's assumed ones).
    """
    by_worker: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for worker, start, end in calls:
        if worker:
            by_worker[worker].append((start, end))
    union = sum(interval_union_length(iv) for iv in by_worker.values())
    if union <= 0:
        return 1.0
    durations = sum(end - start for iv in by_worker.values() for start, end in iv)
    return max(1.0, durations / union)


def modeled_busy_ms(u: Usage, p: dict[str, Any]) -> dict[str, float]:
    """Per function: measured CPU ms + the assumed latency of every counted AWS call divided by the function's
    measured call overlap (``Usage.call_overlap``; 1.0, calls taken as sequential, when not measured)."""
    missing = [f for f, n in u.invocations.items() if n and f not in u.cpu_ms]
    if missing:
        raise ValueError(f"no measured CPU time for {missing}: the modeled Lambda time needs Usage.cpu_ms")
    bad = {f: v for f, v in u.call_overlap.items() if not (isinstance(v, (int, float)) and v >= 1.0)}
    if bad:
        raise ValueError(
            f"Usage.call_overlap must be >= 1 per function (1.0 = sequential calls; see call_overlap), got {bad}"
        )
    return {
        f: float(u.cpu_ms.get(f, 0.0))
        + sum(n * call_latency_ms(a, p) for a, n in u.aws_calls.get(f, {}).items())
        / float(u.call_overlap.get(f, 1.0))
        for f in u.invocations
    }


@dataclass
class IdleUsage:
    """What an idle month costs: per scheduled run, plus monthly resources."""

    schedule_units: dict[str, float]
    schedule_busy_ms: float
    schedule_log_bytes: float
    alarms: int
    dashboards: int
    idle_custom_metrics: int
    memory_mb: int = 3072


def _units_cost(units: dict[str, float], p: dict[str, Any]) -> dict[str, float]:
    d, s3 = p["dynamodb_on_demand"], p["s3_standard"]
    return {
        "sqs": units.get("sqs_requests", 0) * p["sqs"]["per_million_requests"] / 1e6,
        "eventbridge": units.get("events", 0) * p["eventbridge"]["per_million_custom_events"] / 1e6,
        "dynamodb_writes": units.get("ddb_wru", 0) * d["per_million_write_request_units"] / 1e6,
        "dynamodb_reads": units.get("ddb_rru", 0) * d["per_million_read_request_units"] / 1e6,
        "s3_requests": units.get("s3_tier1", 0) * s3["per_thousand_put_copy_post_list"] / 1e3
        + units.get("s3_tier2", 0) * s3["per_thousand_get_and_other"] / 1e3,
    }


def lambda_cost(invocations: int, busy_ms: float, memory_mb: int, p: dict[str, Any]) -> float:
    """Requests plus GB-seconds (billed per ms)."""
    gb_s = (memory_mb / 1024) * (busy_ms / 1000)
    return float(invocations * p["lambda"]["per_million_requests"] / 1e6 + gb_s * p["lambda"]["gb_second"])


def per_million(u: Usage, p: dict[str, Any], lambda_basis: str = "wall") -> dict[str, float]:
    """Dollars per million ticks, line by line, plus `total` (requests, compute, logs, X-Ray, storage for the
    retention period). ``lambda_basis``: ``"wall"`` (measured busy time) or ``"modeled"`` (CPU + assumed call
    latencies over the measured call overlap, `modeled_busy_ms`); only the ``lambda`` line (and so ``total``)
    differs."""
    if u.ticks <= 0:
        raise ValueError(f"a usage needs ticks > 0, got {u.ticks}")
    if lambda_basis not in LAMBDA_BASES:
        raise ValueError(f"lambda_basis must be one of {LAMBDA_BASES}, got {lambda_basis!r}")
    a = p["assumptions"]
    scale = 1e6 / u.ticks
    lines = {k: v * scale for k, v in _units_cost(u.units, p).items()}
    inv = sum(u.invocations.values())
    per_fn = u.busy_ms if lambda_basis == "wall" else modeled_busy_ms(u, p)
    busy = sum(per_fn.values()) + sum(u.cold_starts.get(f, 0) * u.init_ms.get(f, 0.0) for f in u.cold_starts)
    lines["lambda"] = lambda_cost(inv, busy, u.memory_mb, p) * scale
    lines["api_gateway"] = u.api_requests * p["api_gateway_rest"]["per_million_requests"] / 1e6 * scale
    log_bytes = (
        u.log_bytes
        + inv * a["lambda_platform_log_bytes_per_invocation"]
        + u.api_requests * a["api_access_log_bytes_per_request"]
    )
    cw = p["cloudwatch"]
    months_kept = a["log_retention_days"] / a["days_per_month"]
    lines["logs"] = (
        (log_bytes / GIB) * (cw["logs_ingestion_gb"] + cw["logs_storage_gb_month"] * months_kept) * scale
    )
    lines["xray"] = (
        xray_traces(u)
        * a["xray_traced_share_of_invocations"]
        * p["xray"]["per_million_traces_recorded"]
        / 1e6
        * scale
    )
    d = p["dynamodb_on_demand"]
    months = a["data_retention_days"] / a["days_per_month"]
    ddb_gb = u.ddb_stored_bytes_per_tick * 1e6 / GIB
    lines["dynamodb_storage_and_pitr"] = ddb_gb * (d["storage_gb_month"] + d["pitr_gb_month"]) * months
    lines["s3_storage"] = (
        u.s3_stored_bytes_per_tick * 1e6 / GIB * p["s3_standard"]["storage_gb_month"] * months
    )
    lines["total"] = sum(lines.values())
    return {k: round(v, 6) for k, v in lines.items()}


def xray_traces(u: Usage) -> int:
    """Traces a run records at a traced share of 1: one per Lambda invocation, where an API request and the
    DataIngestion invocation it makes are ONE trace (API Gateway takes the sampling decision and passes it in the
    trace header; the downstream segment joins that trace: "X-Ray sampling is parent-based",
    https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html). A function invoked from SQS or
    EventBridge starts its own trace (linked, not joined: https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html),
    so it counts once per invocation. API requests that invoked no function (none in the bench) count alone."""
    inv = sum(u.invocations.values())
    return inv + max(0, u.api_requests - u.invocations.get("ingestion", 0))


def idle_month(i: IdleUsage, p: dict[str, Any]) -> dict[str, float]:
    """Dollars for a month without data (scale to zero: what remains), line by line, plus `total`."""
    a, cw = p["assumptions"], p["cloudwatch"]
    n = a["schedule_invocations_per_month"]
    sched = {k: v * n for k, v in _units_cost(i.schedule_units, p).items()}
    lines = {
        "scheduled_aggregator_lambda": lambda_cost(n, i.schedule_busy_ms * n, i.memory_mb, p),
        "scheduled_aggregator_requests": sum(sched.values()),
        "scheduled_aggregator_logs": (i.schedule_log_bytes + a["lambda_platform_log_bytes_per_invocation"])
        * n
        / GIB
        * (
            cw["logs_ingestion_gb"]
            + cw["logs_storage_gb_month"] * a["log_retention_days"] / a["days_per_month"]
        ),
        "scheduled_aggregator_xray": n
        * a["xray_traced_share_of_invocations"]
        * p["xray"]["per_million_traces_recorded"]
        / 1e6,
        "sqs_event_source_polling": a["esm_idle_pollers"]
        * (a["days_per_month"] * 86_400 / a["esm_long_poll_seconds"])
        * p["sqs"]["per_million_requests"]
        / 1e6,
        "alarms": i.alarms * cw["alarm_standard_month"],
        "dashboards": i.dashboards * cw["dashboard_month"],
        "custom_metrics": i.idle_custom_metrics * cw["custom_metric_month"],
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def monthly(pm: dict[str, float], idle: dict[str, float], p: dict[str, Any]) -> dict[str, float]:
    """A month of `ticks_per_trading_day` on `trading_days_per_month` days, plus the idle (fixed) costs.

    Storage in `pm` is already priced for a tick kept the whole retention period, so the steady state
    (a rolling window of retained ticks) costs the same per tick ingested.
    """
    a = p["assumptions"]
    ticks_m = a["ticks_per_trading_day"] * a["trading_days_per_month"] / 1e6
    variable = pm["total"] * ticks_m
    total = variable + idle["total"]
    return {
        "ticks_per_month_millions": ticks_m,
        "variable": round(variable, 2),
        "fixed": round(idle["total"], 2),
        "total": round(total, 2),
        "per_million_all_in": round(total / ticks_m, 4) if ticks_m else math.nan,
    }


STREAM_SYMBOLS = (10, 100, 1000)
"""Symbol counts of the streaming projection."""
STREAM_WINDOWS_S = (1, 10, 60)
"""DataProcessor batching windows of the streaming projection (`processor_batching_window_seconds`; default 1)."""
AGGREGATOR_CONCURRENCY = 4
"""Queries/writes DataAggregator runs at once (`settings.concurrency` in lib/lambda/src/handlers/aggregator.ts)."""


def streaming_aggregation(
    p: dict[str, Any],
    tick_item_bytes: float,
    agg_ticks_per_cpu_second: float,
    memory_mb: int,
    symbols: int,
    window_s: float,
) -> dict[str, float]:
    """MODEL (not a measurement): DataAggregator's cost per million ticks when ticks STREAM in evenly all day.

    The bench's end-to-end runs upload a few files, so each TicksStored event covers many ticks. In a steady stream
    DataProcessor runs about once per batching window, and every run's event makes DataAggregator re-read the
    current 5-minute window of every symbol it touched (a strongly consistent Query: on average 150 s of that
    symbol's ticks) and write that symbol's 1m and 5m aggregates. Inputs: `ticks_per_trading_day` over
    `trading_hours_per_day` (prices.json assumptions), `symbols` traded evenly, the batching window; measured: the
    stored tick item size and the aggregation CPU rate (part 1); assumed: p50 call latencies (prices.json).
    Touched symbols per event = expected distinct symbols among the ticks of one window. The per-tick costs
    (ingestion, DataProcessor, tick writes, storage) do not depend on this and are not included.
    """
    a = p["assumptions"]
    ddb, lam = p["dynamodb_on_demand"], p["lambda"]
    seconds = float(a["trading_hours_per_day"]) * 3600
    rate = design_rate(p)
    events = seconds / window_s
    per_event_ticks = rate * window_s
    touched = symbols * (1 - (1 - 1 / symbols) ** per_event_ticks)
    window_ticks = rate / symbols * 150  # ticks of one symbol in its current 5-minute window, on average
    rru_per_query = max(1, math.ceil(window_ticks * tick_item_bytes / 4096))
    reads = events * touched * rru_per_query
    writes = events * touched * 2  # the 1m and the 5m aggregate (each < 1 KiB)
    busy_s = (
        touched
        / AGGREGATOR_CONCURRENCY
        * (call_latency_ms("dynamodb:Query", p) + call_latency_ms("dynamodb:PutItem", p))
        + touched * window_ticks / agg_ticks_per_cpu_second * 1000
    ) / 1000
    per_day = {
        "reads": reads * ddb["per_million_read_request_units"] / 1e6,
        "writes": writes * ddb["per_million_write_request_units"] / 1e6,
        "events": events * p["eventbridge"]["per_million_custom_events"] / 1e6,
        "lambda": events * (busy_s * memory_mb / 1024 * lam["gb_second"] + lam["per_million_requests"] / 1e6),
    }
    millions = float(a["ticks_per_trading_day"]) / 1e6
    out = {k: v / millions for k, v in per_day.items()}
    out["total"] = sum(out.values())
    return {
        "symbols": symbols,
        "window_s": window_s,
        "events_per_day": round(events),
        "symbols_per_event": round(touched, 1),
        "ticks_read_per_query": round(window_ticks, 1),
        **{k: round(v, 4) for k, v in out.items()},
    }


def streaming_projection(
    p: dict[str, Any], tick_item_bytes: float, agg_ticks_per_cpu_second: float, memory_mb: int
) -> list[dict[str, float]]:
    """`streaming_aggregation` over STREAM_SYMBOLS x STREAM_WINDOWS_S."""
    return [
        streaming_aggregation(p, tick_item_bytes, agg_ticks_per_cpu_second, memory_mb, s, w)
        for s in STREAM_SYMBOLS
        for w in STREAM_WINDOWS_S
    ]


def windows_per_tick(rate: float, symbols: int, zipf_s: float = 1.0) -> dict[str, float]:
    """Expected 1m and 5m windows WITH ticks per tick, for a stream of ``rate`` ticks/s spread over ``symbols`` by
    Zipf weights (rank r has weight r^-s / sum_k k^-s; each symbol's ticks a Poisson stream). A window is
    materialised once whatever its ticks (docs/design.md "Streaming"), and one item holds a 5m window with its 1m
    windows, so ``"5m"`` (the stored groups: at most 1 per tick, a tick alone in its 5m window) is what the
    aggregation's per-item work grows with, falling as symbols get busier."""
    if rate <= 0 or symbols <= 0:
        raise ValueError(
            f"windows_per_tick needs rate > 0 and symbols > 0, got rate={rate}, symbols={symbols}"
        )
    from bench.stream import zipf_weights  # the stream generator's own weights (lazy: cost.py stays light)

    weights = zipf_weights(symbols, zipf_s)

    def per_window(seconds: float) -> float:
        return sum(1 - math.exp(-rate * seconds * w) for w in weights) / (rate * seconds)

    w1, w5 = per_window(60), per_window(300)
    return {"1m": w1, "5m": w5, "total": w1 + w5}


def fit_aggregation(points: list[tuple[float, float, float]]) -> dict[str, float]:
    """Least-squares fit of measured aggregation dollars = per_window x windows + per_invocation x invocations,
    both >= 0.

    ``points``: (windows stored, DataAggregator invocations, aggregation dollars) of measured runs (part 6: the three
    symbol counts of one stream kind, so the windows per invocation differ). The per-window term is the reads and
    writes of a window (and their call time); the per-invocation term what every run costs whatever its windows
    (a request, a trace, the buffer's receive and delete, start-up CPU). With one point, or a negative solution,
    one term carries all of the cost: the one that fits best."""
    if not points:
        raise ValueError("fit_aggregation needs at least one measured run")
    sww = sum(w * w for w, _, _ in points)
    sii = sum(i * i for _, i, _ in points)
    swi = sum(w * i for w, i, _ in points)
    swd = sum(w * d for w, _, d in points)
    sid = sum(i * d for _, i, d in points)
    det = sww * sii - swi * swi
    if len(points) >= 2 and abs(det) > 1e-9 * max(1.0, sww * sii):
        a = (swd * sii - sid * swi) / det
        b = (sww * sid - swi * swd) / det
        if a >= 0 and b >= 0:
            return {"per_window": a, "per_invocation": b}

    def sse(a: float, b: float) -> float:
        return sum((a * w + b * i - d) ** 2 for w, i, d in points)

    one = [(swd / sww, 0.0)] if sww > 0 else []
    one += [(0.0, sid / sii)] if sii > 0 else []
    if not one:
        raise ValueError("fit_aggregation: no measured run stored a window or invoked the aggregator")
    a, b = min(one, key=lambda ab: sse(*ab))
    return {"per_window": a, "per_invocation": b}


def projected_aggregation_per_million(
    fit: dict[str, float], rate: float, symbols: int, invocations_per_second: float, zipf_s: float = 1.0
) -> float:
    """DERIVED: aggregation dollars per million ticks of a stream at ``rate`` ticks/s over ``symbols``
    (`fit_aggregation` of measured runs; the stored items are (symbol, 5m) GROUPS, one per 5m window with ticks,
    holding its 1m windows too: `windows_per_tick` ``"5m"`` at that rate; ``invocations_per_second`` of
    DataAggregator at that rate, which the aggregation buffer bounds by time, not by events)."""
    w = windows_per_tick(rate, symbols, zipf_s)["5m"]
    return (fit["per_window"] * w + fit["per_invocation"] * invocations_per_second / rate) * 1e6


def design_rate(p: dict[str, Any]) -> float:
    """Ticks/s of the design point: ``ticks_per_trading_day`` over ``trading_hours_per_day`` (prices.json)."""
    a = p["assumptions"]
    return float(a["ticks_per_trading_day"]) / (float(a["trading_hours_per_day"]) * 3600)
