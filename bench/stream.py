"""The measured streaming part of `make bench` (issue 10): ticks arriving as a steady stream, not as a few big files.

Six streams run AT THE SAME TIME for a bounded duration of real time, each into its own local stack (its own moto
server, the component deployed with default args, its own local Lambda host with the real bundles, its own counting
proxies), so every AWS request is attributed to one stream by construction (the proxy a request went through names
the stack and the function), whatever the functions do: a function or queue another design adds shows up as a row.

* API stream at N symbols: ``POST /ingest`` batches of ``batch_ticks`` ticks at a steady rate;
* file stream at N symbols: one small object under ``incoming/`` every ``file_every_s`` seconds, holding the ticks of
  those seconds;
* ticks are spread over the N symbols by a Zipf law (rank r carries weight 1/r^s: a few symbols carry most of the
  volume), with real-time timestamps (strictly increasing per symbol);
* freshness: `SAMPLES_PER_REQUEST` sampled ticks per POST / file; the time from the 202 of its POST (or the end of its upload) until its
  1-minute window, read through ``GET /symbols/{s}/aggregates``, holds at least as many trades as were sent for that
  window up to and including the sample's request (see `Freshness`);
* at the end: stored ticks per symbol and every 1m/5m aggregate equal an independent computation
  (`tools/local/datagen.py` ``reference_aggregates``).

The pure pieces (Zipf spread, tick source, freshness bookkeeping, attribution of event-source calls) are unit-tested in
``tests/bench/test_stream.py``; the runner is `run_streams`.
"""

import bisect
import concurrent.futures
import json
import math
import random
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tools.local import datagen
from tools.local.calls import Call

KINDS = ("api", "file")
"""Stream kinds: ``POST /ingest`` batches, or small S3 objects."""
SAMPLES_PER_REQUEST = 3
"""Ticks of each POST / file whose freshness is measured."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream: kind, symbols, rate (ticks/s), and its request shape."""

    kind: str
    symbols: int
    ticks_per_second: float
    batch_ticks: int = 100
    """api: ticks per POST (the POSTs are spaced batch_ticks / ticks_per_second apart)"""
    file_every_s: float = 5.0
    """file: one object every this many seconds, holding ticks_per_second x file_every_s ticks"""
    zipf_s: float = 1.0
    """Zipf exponent of the spread over symbols (1.0: the r-th symbol carries 1/r of the top one's volume)"""

    def __post_init__(self) -> None:
        """Validate, naming what is wrong and what is allowed."""
        if self.kind not in KINDS:
            raise ValueError(f"StreamSpec.kind {self.kind!r}: allowed {', '.join(KINDS)}")
        if not 1 <= self.symbols <= 9999:
            raise ValueError(f"StreamSpec.symbols {self.symbols}: allowed 1 to 9999")
        if not 0 < self.ticks_per_second <= 10_000:
            raise ValueError(
                f"StreamSpec.ticks_per_second {self.ticks_per_second}: allowed above 0 up to 10,000"
            )
        if not 1 <= self.batch_ticks <= 10_000:
            raise ValueError(f"StreamSpec.batch_ticks {self.batch_ticks}: allowed 1 to 10,000")
        if not 0.5 <= self.file_every_s <= 300:
            raise ValueError(f"StreamSpec.file_every_s {self.file_every_s}: allowed 0.5 to 300")
        if not 0 <= self.zipf_s <= 3:
            raise ValueError(f"StreamSpec.zipf_s {self.zipf_s}: allowed 0 to 3")

    @property
    def label(self) -> str:
        """e.g. ``api 1,000``."""
        return f"{self.kind} {self.symbols:,}"

    @property
    def suffix(self) -> str:
        """The stack suffix (R-ORG-2: ``[a-z][a-z0-9-]*``), e.g. ``sa1000``."""
        return f"s{self.kind[0]}{self.symbols}"

    @property
    def interval_s(self) -> float:
        """Seconds between two requests (POSTs or uploads)."""
        return self.batch_ticks / self.ticks_per_second if self.kind == "api" else self.file_every_s

    @property
    def ticks_per_request(self) -> int:
        """Ticks in one POST or one file."""
        return (
            self.batch_ticks
            if self.kind == "api"
            else max(1, round(self.ticks_per_second * self.file_every_s))
        )


def symbol_names(kind: str, n: int) -> list[str]:
    """``n`` symbols of a stream, most traded first (R-DATA-1: 1-12 of ``A-Z 0-9 . - ^``), e.g. ``A0001``."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: allowed {', '.join(KINDS)}")
    return [f"{kind[0].upper()}{i:04d}" for i in range(1, n + 1)]


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    """Normalised Zipf weights of ranks 1..n: weight(r) = r^-s / sum_k k^-s."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    raw = [r**-s for r in range(1, n + 1)]
    total = math.fsum(raw)
    return [w / total for w in raw]


class TickSource:
    """Deterministic ticks of one stream: Zipf-chosen symbols, random-walk prices, real-time timestamps.

    Timestamps are strictly increasing per symbol (a tick is never an exact duplicate of another, so the reference
    computation and the pipeline's content-hash keys agree on what is distinct).
    """

    def __init__(self, symbols: Sequence[str], seed: int, zipf_s: float = 1.0) -> None:
        """``symbols`` most traded first."""
        if not symbols:
            raise ValueError("a tick source needs at least one symbol")
        self.symbols = list(symbols)
        self.rng = random.Random(seed)
        acc = 0.0
        self._cum: list[float] = []
        for w in zipf_weights(len(self.symbols), zipf_s):
            acc += w
            self._cum.append(acc)
        self._price = {s: 20.0 + self.rng.random() * 400 for s in self.symbols}
        self._last_ts: dict[str, int] = {}

    def pick(self) -> str:
        """One symbol, drawn by the Zipf weights."""
        i = bisect.bisect_left(self._cum, self.rng.random() * self._cum[-1])
        return self.symbols[min(i, len(self.symbols) - 1)]

    def take(self, n: int, from_ms: int, to_ms: int) -> list[datagen.Tick]:
        """``n`` ticks with timestamps spread over ``[from_ms, to_ms)``, in time order."""
        if n < 0 or to_ms <= from_ms:
            raise ValueError(f"need n >= 0 and from_ms < to_ms, got {n}, {from_ms}, {to_ms}")
        stamps = sorted(self.rng.randrange(from_ms, to_ms) for _ in range(n))
        out: list[datagen.Tick] = []
        for ts in stamps:
            sym = self.pick()
            ts = max(ts, self._last_ts.get(sym, -1) + 1)
            self._last_ts[sym] = ts
            p = self._price[sym] = round(
                max(0.01, self._price[sym] * math.exp(self.rng.gauss(0.0, 0.0008))), 4
            )
            out.append(datagen.Tick(sym, ts, p, self.rng.choice((1, 10, 50, 100, 100, 200, 500)), "XNAS"))
        return out


def window_1m(ts: int) -> int:
    """Start (ms) of the 1-minute window holding ``ts``."""
    size = datagen.INTERVALS_MS["1m"]
    return ts - ts % size


@dataclass
class Sample:
    """One sampled tick: its window, how many trades the window must hold to include it, and when it was sent."""

    symbol: str
    window: int
    trades_needed: int
    sent_at: float
    fresh_at: float | None = None


class Freshness:
    """Freshness bookkeeping of one stream (thread-safe).

    `sent` records a request's ticks (and samples one of them); `pending_windows` lists the windows to read; `seen`
    resolves the samples of a window once it holds enough trades. The criterion: a window that holds at least as many
    trades as were sent for it up to and including the sample's request includes the sample when ticks are stored in
    the order they were sent (one request's ticks travel in one SQS message); the exact check at the end of the run
    covers every tick.
    """

    def __init__(self, seed: int, per_request: int = 1) -> None:
        """Empty; ``seed`` chooses the ``per_request`` sampled ticks of each request."""
        if per_request < 1:
            raise ValueError(f"per_request must be >= 1, got {per_request}")
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.per_request = per_request
        self._count: dict[tuple[str, int], int] = {}
        self.samples: list[Sample] = []

    def sent(self, ticks: Sequence[datagen.Tick], at: float) -> list[Sample]:
        """Count a request's ticks per (symbol, 1m window) and sample ``per_request`` of them."""
        with self._lock:
            for t in ticks:
                k = (t.symbol, window_1m(t.ts))
                self._count[k] = self._count.get(k, 0) + 1
            picked = self._rng.sample(range(len(ticks)), min(self.per_request, len(ticks)))
            out = []
            for i in sorted(picked):
                t = ticks[i]
                k = (t.symbol, window_1m(t.ts))
                out.append(Sample(t.symbol, k[1], self._count[k], at))
            self.samples += out
            return out

    def pending_windows(self) -> list[tuple[str, int]]:
        """Distinct (symbol, window) of the samples not yet fresh."""
        with self._lock:
            return sorted({(s.symbol, s.window) for s in self.samples if s.fresh_at is None})

    def seen(self, symbol: str, window: int, trades: int, at: float) -> int:
        """The window held ``trades`` trades at time ``at``: resolve its samples; returns how many were resolved."""
        n = 0
        with self._lock:
            for s in self.samples:
                if (
                    s.fresh_at is None
                    and s.symbol == symbol
                    and s.window == window
                    and trades >= s.trades_needed
                ):
                    s.fresh_at = at
                    n += 1
        return n

    def summary(self) -> dict[str, Any]:
        """p50 / p95 / max seconds over the resolved samples, and how many never became fresh."""
        with self._lock:
            lat = sorted(s.fresh_at - s.sent_at for s in self.samples if s.fresh_at is not None)
            missing = sum(1 for s in self.samples if s.fresh_at is None)
        out: dict[str, Any] = {"samples": len(lat) + missing, "never_fresh": missing}
        if lat:
            out.update(
                {
                    "p50_s": round(statistics.median(lat), 2),
                    "p95_s": round(percentile(lat, 0.95), 2),
                    "max_s": round(lat[-1], 2),
                }
            )
        return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (q in [0, 1])."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within [0, 1], got {q}")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


def exactness(
    sent: Sequence[datagen.Tick],
    stored_counts: Mapping[str, int],
    got: Mapping[tuple[str, str], dict[int, dict[str, float | None]]],
) -> list[str]:
    """Problems (empty = exact): stored ticks per symbol and every 1m/5m aggregate vs an independent computation."""
    from tools.local import demo

    want: dict[str, int] = {}
    for t in sent:
        want[t.symbol] = want.get(t.symbol, 0) + 1
    problems = [
        f"{s}: {stored_counts.get(s, 0)} ticks stored, {n} sent"
        for s, n in sorted(want.items())
        if stored_counts.get(s, 0) != n
    ]
    problems += [
        f"{s}: {n} ticks stored, none sent" for s, n in sorted(stored_counts.items()) if n and s not in want
    ]
    return problems + demo.compare(datagen.reference_aggregates(sent), got)


@dataclass(frozen=True)
class EventSourceQueues:
    """How the calls of the host's event-source pollers are attributed (from the host config, whatever it holds).

    ``work``: queue name -> row (``<role>_esm``) for SQS event-source mappings (billed on AWS: non-empty receives,
    deletes); ``shims``: queue names the local stack adds to emulate S3 notifications / EventBridge Lambda targets
    (not billed on AWS: excluded).
    """

    work: dict[str, str]
    shims: frozenset[str]

    @staticmethod
    def from_host_config(cfg: Mapping[str, Any], role_of: Callable[[str], str]) -> "EventSourceQueues":
        """Read the ``eventSources`` of a host config."""
        work: dict[str, str] = {}
        shims: set[str] = set()
        for src in cfg.get("eventSources", []):
            url = src.get("queueUrl")
            if not url:
                continue
            name = str(url).rsplit("/", 1)[-1]
            if src.get("type") == "sqs":
                work[name] = f"{role_of(str(src['function']))}_esm"
            else:
                shims.add(name)
        return EventSourceQueues(work, frozenset(shims))

    def split(self, calls: Sequence[Call]) -> tuple[dict[str, list[Call]], list[Call], list[Call]]:
        """(work calls per row, idle empty receives on work queues, emulation calls)."""
        work: dict[str, list[Call]] = {row: [] for row in self.work.values()}
        idle: list[Call] = []
        emulation: list[Call] = []
        for c in calls:
            queue, _, flag = c.tag.partition("|")
            row = self.work.get(queue)
            if row is None or c.action == "GetQueueAttributes":
                emulation.append(c)
            elif flag == "empty":
                idle.append(c)
            else:
                work[row].append(c)
        return work, idle, emulation


# ---------------------------------------------------------------------------------------------------------------
# The runner


@dataclass
class StreamRun:
    """What one stream did while it ran (filled by its sender and its freshness poller)."""

    spec: StreamSpec
    ticks: list[datagen.Tick] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    late_s: float = 0.0
    """summed lateness of requests behind their schedule (the stack could not keep up with the sender)"""
    first_send: float = 0.0
    last_send: float = 0.0
    probes: int = 0
    freshness: Freshness = field(default_factory=lambda: Freshness(0))
    """sampled ticks and when each became visible in its aggregate"""


def _send_loop(st: Any, run: StreamRun, seconds: float, stop: threading.Event, seed: int) -> None:
    """Send the stream's requests on a steady schedule for ``seconds`` (bounded count and time)."""
    spec = run.spec
    src = TickSource(symbol_names(spec.kind, spec.symbols), seed, spec.zipf_s)
    n_requests = max(1, int(seconds / spec.interval_s))
    t0 = time.monotonic()
    run.first_send = t0
    prev_ms = int(time.time() * 1000)
    for i in range(n_requests):
        due = t0 + (i + 1) * spec.interval_s
        wait = due - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        run.late_s += max(0.0, -wait)
        now_ms = int(time.time() * 1000)
        ticks = src.take(spec.ticks_per_request, prev_ms, max(now_ms, prev_ms + 1))
        prev_ms = max(now_ms, prev_ms + 1)
        if spec.kind == "api":
            body = json.dumps([t.as_json() for t in ticks]).encode()
            status = 0
            for attempt in range(5):  # a well-behaved client: bounded retries on 5xx
                status, _h, _b = st.client.api("POST", "/ingest", body, {"content-type": "application/json"})
                if status < 500:
                    break
                time.sleep(0.2 * 2**attempt)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status != 202:
                continue
        else:
            lines = ["symbol,timestamp,price,volume,exchange"]
            lines += [f"{t.symbol},{t.ts},{t.price},{t.volume},{t.exchange}" for t in ticks]
            st.s3.put_object(
                Bucket=st.bucket,
                Key=f"incoming/stream/{spec.suffix}-{i:06d}.csv",
                Body="\n".join(lines) + "\n",
            )
            run.statuses[200] = run.statuses.get(200, 0) + 1
        at = time.monotonic()
        run.ticks += ticks
        run.requests += 1
        run.last_send = at
        run.freshness.sent(ticks, at)


def _probe_loop(st: Any, run: StreamRun, stop: threading.Event, poll_s: float, max_probes: int) -> None:
    """Read the sampled windows through ``GET /symbols/{s}/aggregates`` every ``poll_s`` until ``stop`` (bounded)."""
    size = datagen.INTERVALS_MS["1m"]
    for _ in range(max_probes):
        if stop.is_set() and not run.freshness.pending_windows():
            return
        t_round = time.monotonic()
        for sym, w in run.freshness.pending_windows():
            q = urllib.parse.urlencode({"interval": "1m", "from": w, "to": w + size})
            try:
                status, _h, body = st.client.api(
                    "GET", f"/symbols/{urllib.parse.quote(sym)}/aggregates?{q}", timeout=30
                )
            except OSError:
                continue
            run.probes += 1
            at = time.monotonic()
            if status != 200:
                continue
            items = json.loads(body).get("items", [])
            trades = sum(int(x["trades"]) for x in items if int(x["windowStart"]) == w)
            run.freshness.seen(sym, w, trades, at)
        if stop.wait(max(0.0, poll_s - (time.monotonic() - t_round))) and not run.freshness.pending_windows():
            return


def next_group_start(now_s: float, margin_s: float = 1.0) -> float:
    """The wall-clock second (epoch) of the next (symbol, 5-minute) group boundary at least ``margin_s`` after
    ``now_s``. A stream that starts there and runs for 300 s fills each symbol's group with exactly the ticks a
    continuous feed at that rate puts in it; a 3-minute stream started anywhere puts its ticks in fewer-tick groups
    (one or two per symbol, depending on whether it straddles a boundary), so it overstates the aggregation's
    groups per tick by 1.7-3.3x at 1,000 symbols."""
    size = datagen.INTERVALS_MS["5m"] / 1000
    return (math.floor((now_s + margin_s) / size) + 1) * size


def crosses_group_boundary(start_s: float, seconds: float) -> bool:
    """Whether a (symbol, 5-minute) group boundary lies in the ``seconds`` after the wall-clock second ``start_s``
    (epoch), i.e. in (start_s, start_s + seconds]."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    size = datagen.INTERVALS_MS["5m"] / 1000
    return math.floor((start_s + seconds) / size) > math.floor(start_s / size)


def drive(
    stacks: Mapping[StreamSpec, Any],
    seconds: float,
    settle_s: float,
    poll_s: float,
    seed: int,
    log: Callable[[str], None],
    start_at_epoch_s: float | None = None,
) -> dict[StreamSpec, StreamRun]:
    """Run every stream at once for ``seconds``; keep probing freshness up to ``settle_s`` more (all bounded).
    ``start_at_epoch_s``: first wait (at most 10 minutes) until the wall clock reaches it (`next_group_start`)."""
    if start_at_epoch_s is not None:
        wait = start_at_epoch_s - time.time()
        if not 0 <= wait <= 600:
            raise ValueError(
                f"drive: start_at_epoch_s must be within the next 600 s, it is {wait:.0f} s away"
            )
        log(f"  waiting {wait:.0f} s for the streams to start at a 5-minute boundary ...")
        time.sleep(wait)
    runs = {
        spec: StreamRun(spec, freshness=Freshness(seed + i, SAMPLES_PER_REQUEST))
        for i, spec in enumerate(stacks)
    }
    stop_send = threading.Event()
    stop_probe = threading.Event()
    max_probes = int((seconds + settle_s) / poll_s) + 10
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=2 * len(stacks), thread_name_prefix="stream"
    ) as pool:
        senders = [
            pool.submit(_send_loop, stacks[spec], runs[spec], seconds, stop_send, seed + 100 + i)
            for i, spec in enumerate(stacks)
        ]
        probes = [
            pool.submit(_probe_loop, stacks[spec], runs[spec], stop_probe, poll_s, max_probes)
            for spec in stacks
        ]
        t0 = time.monotonic()
        for _ in range(int(seconds) + 60):
            if all(f.done() for f in senders) or time.monotonic() - t0 > seconds + 30:
                break
            time.sleep(1.0)
            if int(time.monotonic() - t0) % 30 == 0:
                log(
                    f"  [{time.monotonic() - t0:5.0f}s] "
                    + ", ".join(f"{s.label}: {len(r.ticks):,} ticks" for s, r in runs.items())
                )
        stop_send.set()
        for f in senders:
            f.result(timeout=120)
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and any(r.freshness.pending_windows() for r in runs.values()):
            time.sleep(0.5)
        stop_probe.set()
        for f in probes:
            f.result(timeout=120)
    return runs


def run_summary(run: StreamRun) -> dict[str, Any]:
    """The JSON-able part of a run (no tick list)."""
    return {
        "spec": asdict(run.spec),
        "ticks": len(run.ticks),
        "requests": run.requests,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "seconds_sending": round(run.last_send - run.first_send, 1),
        "late_s_total": round(run.late_s, 1),
        "freshness": run.freshness.summary(),
        "freshness_probes": run.probes,
    }


__all__ = [
    "EventSourceQueues",
    "Freshness",
    "Sample",
    "StreamRun",
    "StreamSpec",
    "TickSource",
    "drive",
    "exactness",
    "percentile",
    "run_summary",
    "symbol_names",
    "window_1m",
    "zipf_weights",
]
