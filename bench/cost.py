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
    """per function (and per event-source row, e.g. ``processor_esm``): counted AWS calls by ``service:Action``, for
    the modeled Lambda time (functions only) and `decompose_rest`"""
    call_overlap: dict[str, float] = field(default_factory=dict)
    """per function: measured overlap of its AWS calls (`call_overlap`, >= 1); a function without one counts its
    calls as sequential (1.0)"""
    fn_log_bytes: dict[str, float] = field(default_factory=dict)
    """per function: its share of ``log_bytes`` (for `decompose_rest`; empty: not split)"""
    ddb_window_bytes_per_tick: float = 0.0
    """the part of ``ddb_stored_bytes_per_tick`` that is aggregate items (with their overhead), for `decompose_rest`"""
    xray_share: dict[str, float] = field(default_factory=dict)
    """per trace counter (each function of ``invocations``, and `XRAY_API` for API requests that invoked none): the
    share of its traces X-Ray records, from the WHOLE measured stream's entry-point rates (`xray_shares`), so that a
    slice of the stream (its aggregation rows, DataIngestion alone) prices each entry point at the stream's rate, not
    at the slice's own count; empty: every trace at prices.json ``xray_traced_share_of_invocations`` (no duration)"""


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
    lines["xray"] = xray_recorded(u, p) * p["xray"]["per_million_traces_recorded"] / 1e6 * scale
    d = p["dynamodb_on_demand"]
    months = a["data_retention_days"] / a["days_per_month"]
    ddb_gb = u.ddb_stored_bytes_per_tick * 1e6 / GIB
    lines["dynamodb_storage_and_pitr"] = ddb_gb * (d["storage_gb_month"] + d["pitr_gb_month"]) * months
    lines["s3_storage"] = (
        u.s3_stored_bytes_per_tick * 1e6 / GIB * p["s3_standard"]["storage_gb_month"] * months
    )
    lines["total"] = sum(lines.values())
    return {k: round(v, 6) for k, v in lines.items()}


XRAY_API = "api"
"""The trace entry point (and trace counter) of the API stage in `xray_entry_points`."""


def xray_entry_points(u: Usage) -> dict[str, dict[str, float]]:
    """Traces a run records at a traced share of 1, by trace ENTRY POINT (where X-Ray takes the sampling decision),
    each split by the counter of ``u`` that counts them (a function's invocations, or `XRAY_API`: API requests).

    An API request and the DataIngestion invocation it makes are ONE trace (API Gateway takes the sampling decision
    and passes it in the trace header; the downstream segment joins that trace: "X-Ray sampling is parent-based",
    https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html): entry point `XRAY_API`, counted by
    the ``ingestion`` invocations it joined and by the requests that invoked no function (none in the bench). A
    function invoked from S3, SQS or EventBridge starts its own trace (linked, not joined:
    https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html): entry point = the function, once per invocation
    (DataIngestion: those beyond the API requests, i.e. from S3 objects)."""
    joined = min(u.api_requests, u.invocations.get("ingestion", 0))
    out: dict[str, dict[str, float]] = {}
    if u.api_requests:
        api = {"ingestion": float(joined), XRAY_API: float(u.api_requests - joined)}
        out[XRAY_API] = {c: n for c, n in api.items() if n}
    for f, n in u.invocations.items():
        own = n - (joined if f == "ingestion" else 0)
        if own > 0:
            out[f] = {f: float(own)}
    return out


def xray_traces(u: Usage) -> int:
    """Traces a run records at a traced share of 1 (`xray_entry_points`, summed)."""
    return int(sum(_xray_counts(u).values()))


def _xray_counts(u: Usage) -> dict[str, float]:
    """Traces at a traced share of 1 by counter (`xray_entry_points`, summed over the entry points)."""
    counts: dict[str, float] = defaultdict(float)
    for by in xray_entry_points(u).values():
        for c, n in by.items():
            counts[c] += n
    return dict(counts)


def xray_shares(u: Usage, seconds: float, p: dict[str, Any]) -> dict[str, float]:
    """Per trace counter of ``u`` (each function, and `XRAY_API`), the share of its traces X-Ray's default sampling
    rule records: each entry point's traces (`xray_entry_points`) at `xray_sampled_share` of that entry point's
    MEASURED rate (its traces over ``seconds``, the time the stream ran); a counter with traces at several entry
    points (DataIngestion of a usage with both API requests and S3 objects) at their weighted mean. Give it a WHOLE
    stream's usage and set the answer as ``Usage.xray_share`` of the stream and of its slices."""
    entry = xray_entry_sampling(u, seconds, p)
    recorded: dict[str, float] = defaultdict(float)
    traces: dict[str, float] = defaultdict(float)
    for e, by in xray_entry_points(u).items():
        share = entry[e][1]
        for c, n in by.items():
            recorded[c] += n * share
            traces[c] += n
    return {c: recorded[c] / traces[c] for c in traces}


def xray_entry_sampling(u: Usage, seconds: float, p: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per trace entry point of ``u`` (`xray_entry_points`): its MEASURED rate (its traces over ``seconds``, the time
    the stream ran) and the share of it X-Ray's default sampling rule records (`xray_sampled_share`)."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"xray_shares needs the stream's duration in seconds > 0, got {seconds!r}")
    rates = {e: sum(by.values()) / seconds for e, by in xray_entry_points(u).items()}
    return {e: (r, xray_sampled_share(r, p)) for e, r in rates.items()}


def xray_recorded(u: Usage, p: dict[str, Any]) -> float:
    """Traces X-Ray records of ``u``: each counter's traces (`xray_entry_points`) times its ``Usage.xray_share``
    (the sampled share of its entry point's rate in the whole stream), or all of them times prices.json
    ``xray_traced_share_of_invocations`` for a usage without shares (no measured duration)."""
    counts = _xray_counts(u)
    if not u.xray_share:
        return sum(counts.values()) * float(p["assumptions"]["xray_traced_share_of_invocations"])
    missing = sorted(c for c, n in counts.items() if n and c not in u.xray_share)
    if missing:
        raise ValueError(
            f"Usage.xray_share has no share for the trace counters {missing}; it has {sorted(u.xray_share)} "
            "(set it from the whole stream's usage with xray_shares)"
        )
    bad = {c: v for c, v in u.xray_share.items() if not (isinstance(v, (int, float)) and 0 < v <= 1)}
    if bad:
        raise ValueError(f"Usage.xray_share values must be within (0, 1], got {bad}")
    return sum(n * float(u.xray_share[c]) for c, n in counts.items())


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


# ---------------------------------------------------------------------------------------------------------------
# The rest of the all-in cost (everything but the aggregation) by what drives it (issue 10)

REST_DRIVERS = ("request", "message", "run", "tick", "window")
"""What each piece of a stream's non-aggregation cost grows with: ``request`` = one producer request (an API POST or
one uploaded S3 object); ``message`` = one ProcessingQueue message; ``run`` = one DataProcessor invocation (one
event-source batch); ``tick`` = one tick stored; ``window`` = one stored 1m/5m aggregate item. The fixed monthly
costs (``idle_month``) are the fifth part of the all-in cost, the same at every rate."""

FUNCTION_DRIVERS = {"ingestion": "request", "processor": "run"}
"""What invokes each non-aggregation function: DataIngestion once per POST /ingest or per S3 object (README,
"Architecture"), DataProcessor once per batch its SQS event source hands it. A function not named here is counted
per tick (never scaled down) and listed in `RestDecomposition.unmapped`."""

CALL_DRIVERS = {
    "s3:PutObject": "request",  # DataIngestion archives the API body under api/ (one object per POST)
    "s3:GetObject": "request",  # DataIngestion streams the uploaded object
    "s3:HeadObject": "request",  # ... and looks for an earlier rejects object of that key
    "sqs:SendMessageBatch": "request",  # DataIngestion's one batch call per request (<= 10 messages, 256 KB)
    "sqs:ReceiveMessage": "message",  # the processor's event source: one receive per message (an upper bound)
    "sqs:DeleteMessageBatch": "run",  # ... and one delete call per batch it handed over
    "dynamodb:BatchWriteItem": "tick",  # DataProcessor writes the tick items, 25 per call
    "dynamodb:PutItem": "run",  # DataProcessor's one #DIRTY marker per invocation (lib/lambda/src/handlers/processor.ts)
    "events:PutEvents": "run",  # ... and its one TicksStored PutEvents call
}
"""What each AWS call of the non-aggregation rows grows with (its Lambda call time; for the actions named in
`_split_units` also its billing units). A call not named here is counted per tick (never scaled down) and listed in
`RestDecomposition.unmapped`."""


@dataclass(frozen=True)
class Drivers:
    """Counts of the drivers of a stream's non-aggregation cost, per tick, at ``ticks_per_second``.

    ``per_tick``: ``request``, ``message``, ``run`` and ``window`` counts per tick (`REST_DRIVERS`; ``tick`` is 1 by
    definition). The rate turns them into counts per second, which the X-Ray sampling rule needs."""

    ticks_per_second: float
    per_tick: dict[str, float]

    def __post_init__(self) -> None:
        """Validate, naming what is wrong and what is allowed."""
        if not (isinstance(self.ticks_per_second, (int, float)) and self.ticks_per_second > 0):
            raise ValueError(f"Drivers.ticks_per_second must be > 0, got {self.ticks_per_second!r}")
        allowed = [d for d in REST_DRIVERS if d != "tick"]
        unknown = sorted(set(self.per_tick) - set(allowed))
        if unknown:
            raise ValueError(f"Drivers.per_tick has unknown drivers {unknown}; allowed: {allowed}")
        bad = {k: v for k, v in self.per_tick.items() if not (isinstance(v, (int, float)) and v >= 0)}
        if bad:
            raise ValueError(f"Drivers.per_tick counts must be >= 0, got {bad}")

    def count(self, driver: str) -> float:
        """Count of ``driver`` per tick (``tick``: 1)."""
        return 1.0 if driver == "tick" else float(self.per_tick.get(driver, 0.0))


@dataclass(frozen=True)
class RestDecomposition:
    """A measured stream's non-aggregation cost split by driver (`decompose_rest`).

    ``per_driver``: per driver, USD per ONE unit of that driver, by cost line (X-Ray excluded: it depends on the
    rate, see ``traces``); ``traces``: per driver, X-Ray traces per unit at a traced share of 1; ``measured``: the
    drivers of the measured run; ``unmapped``: functions and calls that no table names, counted per tick."""

    measured: Drivers
    per_driver: dict[str, dict[str, float]]
    traces: dict[str, float]
    unmapped: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RestDecomposition":
        """The inverse of ``dataclasses.asdict`` (a decomposition kept in a results JSON)."""
        m = d["measured"]
        return cls(
            measured=Drivers(float(m["ticks_per_second"]), {k: float(v) for k, v in m["per_tick"].items()}),
            per_driver={k: {ln: float(v) for ln, v in lines.items()} for k, lines in d["per_driver"].items()},
            traces={k: float(v) for k, v in d["traces"].items()},
            unmapped=tuple(d.get("unmapped", ())),
        )


def xray_sampled_share(per_second: float, p: dict[str, Any]) -> float:
    """Share of the requests of one entry point that X-Ray records under the default sampling rule, at a steady
    ``per_second`` (prices.json ``xray.default_sampling_rule``: the first request each second, the reservoir, and a
    fixed rate of the rest). For arrivals that are not even the reservoir goes unused in some seconds, so this is an
    upper bound; 1.0 at one request per second or less."""
    rule = p["xray"]["default_sampling_rule"]
    reservoir, rate = float(rule["reservoir_per_second"]), float(rule["fixed_rate"])
    if per_second <= 0:
        return 1.0
    return (min(per_second, reservoir) + rate * max(0.0, per_second - reservoir)) / per_second


def processor_runs_per_second(
    messages_per_second: float, batching_window_s: float, batch_size: int, pollers: float
) -> float:
    """UPPER bound of DataProcessor invocations per second for ``messages_per_second`` arriving on its queue.

    The SQS event source reads with several pollers at once ("Lambda starts processing five batches at a time with
    five concurrent invocations ... When traffic is low, Lambda scales back the processing to five concurrent
    invokes": https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html), and each gathers a batch until
    "it has gathered a full batch, the batching window expires, or the batch reaches the payload limit of 6 MB"
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html, "Batching behavior"). So each
    poller hands over at most one batch per window plus one per ``batch_size`` messages it got: at most
    ``pollers / window + messages / batch_size`` runs per second, and never more runs than messages (assumes
    ``batch_size`` messages stay below 6 MB: the default 10 DataIngestion messages of at most 500 ticks are about
    0.5 MB; a batch size whose messages pass 6 MB would be cut by the payload limit first). Pessimistic (errs towards MORE runs): a window usually
    gathers several messages; the optimistic floor is ``messages / batch_size`` (full batches). A window of 0 gives
    one run per message."""
    if messages_per_second < 0 or batch_size < 1 or pollers <= 0 or batching_window_s < 0:
        raise ValueError(
            "processor_runs_per_second needs messages_per_second >= 0, batching_window_s >= 0, batch_size >= 1 and "
            f"pollers > 0, got {messages_per_second}, {batching_window_s}, {batch_size}, {pollers}"
        )
    if batching_window_s == 0:
        return messages_per_second
    return min(messages_per_second, pollers / batching_window_s + messages_per_second / batch_size)


def _split_units(u: Usage, calls: dict[str, int]) -> dict[str, dict[str, float]]:
    """Billing units of a non-aggregation usage by driver: S3 requests per producer request; SQS requests one per
    DeleteMessageBatch call per run (a delete of at most 10 receipt handles is far below 64 KiB), the rest (sends and
    receives, per 64 KiB chunk) per message; DynamoDB write units one per ``dynamodb:PutItem`` (the #DIRTY marker,
    at least 1 WRU) per run, the rest (the tick items, and marker bytes beyond the first KiB: they grow with the
    windows a run touches, slower than its ticks) per tick; EventBridge events per run; anything else per tick."""
    out: dict[str, dict[str, float]] = {d: {} for d in REST_DRIVERS}

    def add(driver: str, key: str, v: float) -> None:
        if v:
            out[driver][key] = out[driver].get(key, 0.0) + v

    for key, v in u.units.items():
        v = float(v)
        if key in ("s3_tier1", "s3_tier2"):
            add("request", key, v)
        elif key == "sqs_requests":
            deletes = min(v, float(calls.get("sqs:DeleteMessageBatch", 0)))
            add("run", key, deletes)
            add("message", key, v - deletes)
        elif key == "ddb_wru":
            markers = min(v, float(calls.get("dynamodb:PutItem", 0)))
            add("run", key, markers)
            add("tick", key, v - markers)
        elif key == "events":
            add("run", key, v)
        else:
            add("tick", key, v)
    return out


def decompose_rest(
    u: Usage, measured: Drivers, p: dict[str, Any], lambda_basis: str = "modeled"
) -> RestDecomposition:
    """PURE: split the per-million cost of a measured stream's NON-aggregation usage ``u`` (`per_million`'s lines)
    into what each driver unit costs, so that it can be re-priced at another rate (`project_rest`).

    ``u``: the usage of the rows that are not the aggregation's (bench/run.py: ingestion, processor and its event
    source, with their per-action call counts in ``aws_calls``, the per-function log bytes in ``fn_log_bytes``);
    ``measured``: its drivers per tick (requests, messages, runs, stored windows) at its measured rate. Where each
    line goes, all derived from the measured usage:

    * Lambda requests: per invocation of the function (`FUNCTION_DRIVERS`); Lambda time (``lambda_basis``; the
      wall basis cannot be split by call, so it is counted per tick): each counted call's assumed latency over the
      function's measured overlap per `CALL_DRIVERS`, the measured CPU time and the cold starts per tick (an upper
      bound: part of the CPU is per invocation, and a faster stream reuses its environments more);
    * billing units: `_split_units`; API Gateway requests and their access log bytes: per request;
    * logs: each function's measured log bytes and the platform's per-invocation bytes per invocation of that
      function (the handlers log a fixed set of lines per invocation); log bytes no function claims, per tick;
    * X-Ray: one trace per invocation (`xray_traces`: an API request and the DataIngestion invocation it makes are
      one trace) per the function's driver, priced later at the sampled share of that driver's rate;
    * storage: the aggregate items' bytes (with the per-item overhead) per stored window, the rest of the stored
      bytes (tick items, S3 objects) per tick.

    Reproduces ``per_million(u, p, lambda_basis)`` when projected at ``measured``: exactly when ``u.xray_share``
    comes from the same rates (`xray_shares` over the duration that gives ``measured.ticks_per_second``, with one
    DataIngestion invocation per producer request: bench/run.py ``analyse_streaming``), or when every entry point runs
    at one trace per second or less (the sampling rule then records every trace, as a usage without shares counts).
    """
    if u.ticks <= 0:
        raise ValueError(f"decompose_rest needs a usage with ticks > 0, got {u.ticks}")
    if lambda_basis not in LAMBDA_BASES:
        raise ValueError(f"lambda_basis must be one of {LAMBDA_BASES}, got {lambda_basis!r}")
    a, cw = p["assumptions"], p["cloudwatch"]
    unmapped: list[str] = []

    def fn_driver(f: str) -> str:
        if f not in FUNCTION_DRIVERS:
            unmapped.append(f"function {f}")
        return FUNCTION_DRIVERS.get(f, "tick")

    calls: dict[str, int] = defaultdict(int)
    for by_action in u.aws_calls.values():
        for action, n in by_action.items():
            calls[action] += int(n)
    totals = _split_units(u, calls)
    lines: dict[str, dict[str, float]] = {d: defaultdict(float) for d in REST_DRIVERS}
    for d, units in totals.items():
        for k, v in _units_cost(units, p).items():
            if v:
                lines[d][k] += v
    # Lambda: requests per invocation, time per call / CPU per tick
    lam = p["lambda"]
    gb = u.memory_mb / 1024
    for f, n in u.invocations.items():
        lines[fn_driver(f)]["lambda"] += n * lam["per_million_requests"] / 1e6
    if lambda_basis == "modeled":
        modeled_busy_ms(u, p)  # the same validation (CPU measured, overlap >= 1)
        for f in u.invocations:
            overlap = float(u.call_overlap.get(f, 1.0))
            lines["tick"]["lambda"] += gb * float(u.cpu_ms.get(f, 0.0)) / 1000 * lam["gb_second"]
            for action, n in u.aws_calls.get(f, {}).items():
                if action not in CALL_DRIVERS:
                    unmapped.append(f"call {action} ({f})")
                ms = n * call_latency_ms(action, p) / overlap
                lines[CALL_DRIVERS.get(action, "tick")]["lambda"] += gb * ms / 1000 * lam["gb_second"]
    else:
        lines["tick"]["lambda"] += gb * sum(u.busy_ms.values()) / 1000 * lam["gb_second"]
    init = sum(u.cold_starts.get(f, 0) * u.init_ms.get(f, 0.0) for f in u.cold_starts)
    lines["tick"]["lambda"] += gb * init / 1000 * lam["gb_second"]
    # API Gateway and logs
    lines["request"]["api_gateway"] += u.api_requests * p["api_gateway_rest"]["per_million_requests"] / 1e6
    per_log_byte = (
        cw["logs_ingestion_gb"] + cw["logs_storage_gb_month"] * a["log_retention_days"] / a["days_per_month"]
    ) / GIB
    for f, n in u.invocations.items():
        own = float(u.fn_log_bytes.get(f, 0.0)) + n * a["lambda_platform_log_bytes_per_invocation"]
        lines[fn_driver(f)]["logs"] += own * per_log_byte
    lines["tick"]["logs"] += max(0.0, u.log_bytes - sum(u.fn_log_bytes.values())) * per_log_byte
    lines["request"]["logs"] += u.api_requests * a["api_access_log_bytes_per_request"] * per_log_byte
    # X-Ray traces by driver (xray_entry_points' counters: API requests that invoked nothing count per request)
    traces: dict[str, float] = defaultdict(float)
    for counter, n_traces in _xray_counts(u).items():
        traces["request" if counter == XRAY_API else fn_driver(counter)] += n_traces
    # storage: aggregate items per stored window, the rest per tick
    d = p["dynamodb_on_demand"]
    months = a["data_retention_days"] / a["days_per_month"]
    ddb_per_byte = (d["storage_gb_month"] + d["pitr_gb_month"]) * months / GIB
    if not 0 <= u.ddb_window_bytes_per_tick <= u.ddb_stored_bytes_per_tick:
        raise ValueError(
            f"Usage.ddb_window_bytes_per_tick must be within 0 and ddb_stored_bytes_per_tick "
            f"({u.ddb_stored_bytes_per_tick}), got {u.ddb_window_bytes_per_tick}"
        )
    window_bytes = u.ddb_window_bytes_per_tick * u.ticks
    lines["window"]["dynamodb_storage_and_pitr"] += window_bytes * ddb_per_byte
    tick_bytes = u.ddb_stored_bytes_per_tick * u.ticks - window_bytes
    lines["tick"]["dynamodb_storage_and_pitr"] += tick_bytes * ddb_per_byte
    lines["tick"]["s3_storage"] += (
        u.s3_stored_bytes_per_tick * u.ticks * p["s3_standard"]["storage_gb_month"] * months / GIB
    )
    per_driver: dict[str, dict[str, float]] = {}
    per_traces: dict[str, float] = {}
    for drv in REST_DRIVERS:
        count = measured.count(drv) * u.ticks
        cost_d = {k: v for k, v in lines[drv].items() if v}
        if (cost_d or traces.get(drv)) and count <= 0:
            raise ValueError(
                f"decompose_rest: the usage has {drv} costs {sorted(cost_d) or ['xray']} but the measured drivers "
                f"count no {drv} (Drivers.per_tick[{drv!r}] = {measured.count(drv)})"
            )
        per_driver[drv] = {k: v / count for k, v in cost_d.items()} if count > 0 else {}
        per_traces[drv] = traces.get(drv, 0.0) / count if count > 0 else 0.0
    return RestDecomposition(
        measured=measured, per_driver=per_driver, traces=per_traces, unmapped=tuple(sorted(set(unmapped)))
    )


def fixed_per_million(idle: dict[str, float], p: dict[str, Any]) -> float:
    """The fixed monthly costs (`idle_month` total) per million ticks of a month at the design volume (`monthly`)."""
    a = p["assumptions"]
    return float(idle["total"]) / float(a["ticks_per_trading_day"] * a["trading_days_per_month"] / 1e6)


def project_rest(
    dec: RestDecomposition, target: Drivers, p: dict[str, Any], fixed: float = 0.0
) -> dict[str, Any]:
    """DERIVED: the non-aggregation cost per million ticks at ``target``'s driver counts and rate: each driver's
    measured cost per unit times its count, X-Ray at the default sampling rule's share of each driver's rate
    (`xray_sampled_share`), plus ``fixed`` (`fixed_per_million`). Returns ``by_driver`` (USD per million ticks per
    `REST_DRIVERS` and ``month``), ``lines`` (per driver, by cost line), ``xray_share`` per driver and ``total``."""
    if fixed < 0:
        raise ValueError(f"project_rest: fixed must be >= 0, got {fixed}")
    per_trace = p["xray"]["per_million_traces_recorded"] / 1e6
    lines: dict[str, dict[str, float]] = {}
    shares: dict[str, float] = {}
    for drv in REST_DRIVERS:
        n = target.count(drv) * 1e6
        ln = {k: v * n for k, v in dec.per_driver.get(drv, {}).items()}
        if dec.traces.get(drv):
            shares[drv] = xray_sampled_share(target.count(drv) * target.ticks_per_second, p)
            ln["xray"] = dec.traces[drv] * shares[drv] * per_trace * n
        lines[drv] = ln
    by_driver = {drv: sum(ln.values()) for drv, ln in lines.items()}
    by_driver["month"] = fixed
    return {
        "by_driver": by_driver,
        "lines": lines,
        "xray_share": shares,
        "total": sum(by_driver.values()),
    }


def stream_drivers(
    ticks_per_second: float,
    ticks_per_request: float,
    max_ticks_per_message: int,
    windows_per_tick: float,
    batching_window_s: float,
    batch_size: int,
    pollers: float,
) -> Drivers:
    """The drivers a stream implies at ``ticks_per_second``: ``ticks_per_request`` per POST or object, each split
    into ceil(ticks / ``max_ticks_per_message``) queue messages (DataIngestion's packing cap,
    lib/lambda/src/core/pack.ts), processor runs at the `processor_runs_per_second` bound, and
    ``windows_per_tick`` stored windows (`scaled_windows_per_tick`)."""
    if ticks_per_request <= 0 or max_ticks_per_message < 1:
        raise ValueError(
            f"stream_drivers needs ticks_per_request > 0 and max_ticks_per_message >= 1, got {ticks_per_request}, "
            f"{max_ticks_per_message}"
        )
    requests = 1 / ticks_per_request
    messages = math.ceil(ticks_per_request / max_ticks_per_message) * requests
    runs = processor_runs_per_second(messages * ticks_per_second, batching_window_s, batch_size, pollers)
    return Drivers(
        ticks_per_second,
        {
            "request": requests,
            "message": messages,
            "run": runs / ticks_per_second,
            "window": windows_per_tick,
        },
    )


def scaled_windows_per_tick(
    stored_per_tick: float, measured_rate: float, target_rate: float, symbols: int, zipf_s: float = 1.0
) -> float:
    """Stored aggregate items per tick at ``target_rate``: the measured ``stored_per_tick`` times the ratio of the
    expected items per tick at the two rates (`windows_per_tick` ``"5m"``: one item per symbol and 5m window with
    ticks, holding its 1m windows), so that at the measured rate it is the measured count.
    It keeps the measured run's deviation from the all-day expectation (a 3-minute run covers part of a 5-minute
    window per symbol, and its draws are one sample: bench/README.md part 6 measured 0.55 at 10 ticks/s over 1,000
    symbols against 0.60 expected, 0.19 at 100 ticks/s against 0.17), in either direction; the stored windows cost
    about $0.01 per million ticks at the design rate."""
    ratio = (
        windows_per_tick(target_rate, symbols, zipf_s)["5m"]
        / windows_per_tick(measured_rate, symbols, zipf_s)["5m"]
    )
    return stored_per_tick * ratio
