"""Realistic, deterministic market data for the demo and the integration suite, and its reference aggregates.

`generate(seed=...)` makes random-walk prices for several symbols over a span of minutes and splits the ticks
over S3 files (CSV, JSON Lines, a JSON array, gzip-compressed CSV and JSON Lines) and API batches (JSON array,
`{"ticks": [...]}` and NDJSON), sprinkling a few bad records with known positions. Everything is a pure function
of the arguments (same seed -> same bytes).

`reference_aggregates(ticks)` is an independent computation (plain Python, no code shared with the handlers)
of the 1-minute and 5-minute OHLCV/VWAP windows (R-DATA-5) that the pipeline must store.

Run `python -m tools.local.datagen --out DIR` to write the files to a directory.
"""

import argparse
import csv
import gzip
import io
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_SYMBOLS: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "TSLA", "BRK.B")
"""Symbols of the demo (one with a dot, allowed by R-DATA-1)."""

START_PRICES: dict[str, float] = {"AAPL": 189.5, "MSFT": 412.3, "NVDA": 131.2, "TSLA": 242.8, "BRK.B": 455.1}
DEFAULT_START_MS = 1_764_001_800_000
"""2025-11-24T16:30:00Z, a fixed market-hours start, so the same seed gives the same bytes."""

INTERVALS_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000}
"""Aggregate windows (R-DATA-5)."""

EXCHANGES = ("XNAS", "XNYS", "ARCX", "BATS")


@dataclass(frozen=True)
class Tick:
    """One valid trade: the normalised fields of docs/design.md ("Tick")."""

    symbol: str
    ts: int
    price: float
    volume: int
    exchange: str

    def as_json(self, iso: bool = False) -> dict[str, Any]:
        """The tick as an input record (timestamp as epoch ms or ISO-8601)."""
        stamp: int | str = iso_ms(self.ts) if iso else self.ts
        return {
            "symbol": self.symbol,
            "timestamp": stamp,
            "price": self.price,
            "volume": self.volume,
            "exchange": self.exchange,
        }


@dataclass(frozen=True)
class BadRecord:
    """A record the pipeline must reject (R-DATA-3): its position and why it is bad."""

    position: int
    """For files: the 1-based physical line number; for API batches: the 0-based record index."""
    why: str


@dataclass
class DataFile:
    """One object to upload under `incoming/`."""

    key: str
    body: bytes
    fmt: str
    """csv | jsonl | json | csv.gz | jsonl.gz"""
    ticks: list[Tick]
    bad: list[BadRecord]


@dataclass
class ApiBatch:
    """One `POST /ingest` request body."""

    body: bytes
    content_type: str
    fmt: str
    """array | object | ndjson"""
    ticks: list[Tick]
    bad: list[BadRecord]
    duplicate_of: int | None = None
    """Index of the batch this one repeats byte for byte (at-least-once delivery, R-DATA-4)."""


@dataclass
class Dataset:
    """Everything the demo sends, plus what it expects."""

    seed: int
    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    files: list[DataFile] = field(default_factory=list)
    batches: list[ApiBatch] = field(default_factory=list)
    malformed_bodies: list[bytes] = field(default_factory=list)
    """API bodies that are not data at all (expect 400)."""

    @property
    def ticks(self) -> list[Tick]:
        """Every distinct valid tick (duplicate deliveries counted once), sorted by symbol and time."""
        seen: dict[tuple[str, int], Tick] = {}
        for t in [t for f in self.files for t in f.ticks] + [t for b in self.batches for t in b.ticks]:
            seen[(t.symbol, t.ts)] = t
        return sorted(seen.values(), key=lambda t: (t.symbol, t.ts))

    @property
    def delivered_ticks(self) -> int:
        """Valid ticks sent, counting duplicate deliveries each time (what ingestion should accept)."""
        return sum(len(f.ticks) for f in self.files) + sum(len(b.ticks) for b in self.batches)

    @property
    def bad_records(self) -> int:
        """Bad records sent (what ingestion should reject), duplicates included."""
        return sum(len(f.bad) for f in self.files) + sum(len(b.bad) for b in self.batches)


@dataclass(frozen=True)
class Aggregate:
    """One window of one symbol (R-DATA-5)."""

    symbol: str
    interval: str
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    trades: int


def iso_ms(ts: int) -> str:
    """Epoch ms -> ISO-8601 UTC with milliseconds (`2025-11-24T16:30:00.123Z`)."""
    dt = datetime.fromtimestamp(ts / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


def _walk(rng: random.Random, symbol: str, start_ms: int, end_ms: int, mean_gap_ms: float) -> list[Tick]:
    """A geometric random walk of trades with exponential inter-arrival gaps (strictly increasing ts)."""
    price = START_PRICES.get(symbol, 50.0 + rng.random() * 200)
    ts = start_ms + rng.randrange(0, 1000)
    out: list[Tick] = []
    while ts < end_ms:
        price *= math.exp(rng.gauss(0.0, 0.0008))
        volume = rng.choice((1, 5, 10, 25, 50, 100, 100, 100, 200, 300, 500, 1000))
        if rng.random() < 0.02:
            volume *= 10  # an occasional block trade
        out.append(Tick(symbol, ts, round(max(price, 0.01), 2), volume, rng.choice(EXCHANGES)))
        ts += max(1, int(rng.expovariate(1.0 / mean_gap_ms)))
    return out


def _csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue().encode()


_BAD_CSV: tuple[tuple[list[str], str], ...] = (
    (["AAPL", "1764001800000", "-5", "100", "XNAS"], "price <= 0"),
    (["MSFT", "not-a-time", "410.5", "100", "XNAS"], "bad timestamp"),
    (["lower_case!", "1764001800000", "10", "1", "XNAS"], "bad symbol"),
    (["NVDA", "1764001800000", "abc", "10", "XNAS"], "price not a number"),
    (["TSLA", "1764001800000", "240.1", "-3", "XNAS"], "volume < 0"),
)
_BAD_JSON: tuple[tuple[str, str], ...] = (
    ('{"symbol": "AAPL", "timestamp": 1764001800000, "price": 0, "volume": 1}', "price <= 0"),
    ('{"symbol": "AAPL", "price": 10.5, "volume": 1}', "missing timestamp"),
    (
        '{"symbol": "THIS-SYMBOL-IS-TOO-LONG", "timestamp": 1764001800000, "price": 1, "volume": 1}',
        "bad symbol",
    ),
    ('{"symbol": "MSFT", "timestamp": 1764001800000, "price": "cheap", "volume": 1}', "price not a number"),
    ('{"symbol": "NVDA", "timestamp": 1764001800000, "price": 12', "truncated JSON"),
    ('{"symbol": "TSLA", "timestamp": 1764001800000, "price": 5, "volume": -1}', "volume < 0"),
)


def _file(rng: random.Random, key: str, fmt: str, ticks: list[Tick], n_bad: int) -> DataFile:
    """Serialise ticks in one format, inserting `n_bad` bad records at random lines."""
    ticks = sorted(ticks, key=lambda t: (t.ts, t.symbol))
    base = fmt.removesuffix(".gz")
    bad: list[BadRecord] = []
    if base == "csv":
        rows: list[list[str]] = [["symbol", "timestamp", "price", "volume", "exchange"]]
        rows += [[t.symbol, str(t.ts), f"{t.price:.2f}", str(t.volume), t.exchange] for t in ticks]
        for _ in range(n_bad):
            pos = rng.randrange(1, len(rows) + 1)  # never before the header
            record, _why = rng.choice(_BAD_CSV)
            rows.insert(pos, record)
        body = _csv_bytes(rows)
        for i, row in enumerate(rows):
            if any(row == r for r, _ in _BAD_CSV):
                bad.append(BadRecord(i + 1, next(w for r, w in _BAD_CSV if r == row)))
    elif base == "jsonl":
        lines = [json.dumps(t.as_json(iso=i % 7 == 3)) for i, t in enumerate(ticks)]
        for _ in range(n_bad):
            line, _why = rng.choice(_BAD_JSON)
            lines.insert(rng.randrange(0, len(lines) + 1), line)
        body = ("\n".join(lines) + "\n").encode()
        bad_lines = dict(_BAD_JSON)
        bad = [BadRecord(i + 1, bad_lines[ln]) for i, ln in enumerate(lines) if ln in bad_lines]
    elif base == "json":
        records: list[Any] = [t.as_json(iso=True) for t in ticks]
        for _ in range(n_bad):
            line, _why = rng.choice([b for b in _BAD_JSON if b[1] != "truncated JSON"])
            records.insert(rng.randrange(0, len(records) + 1), json.loads(line))
        body = json.dumps(records).encode()
        bad_json = {ln: why for ln, why in _BAD_JSON if why != "truncated JSON"}
        bad = [
            BadRecord(i, bad_json[json.dumps(r)]) for i, r in enumerate(records) if json.dumps(r) in bad_json
        ]
    else:
        raise ValueError(f"unknown format {fmt!r}: allowed csv, jsonl, json, csv.gz, jsonl.gz")
    if fmt.endswith(".gz"):
        body = gzip.compress(body, mtime=0)
    return DataFile(key, body, fmt, ticks, bad)


def _batch(rng: random.Random, fmt: str, ticks: list[Tick], n_bad: int) -> ApiBatch:
    records: list[Any] = [t.as_json(iso=fmt == "object" and i % 5 == 0) for i, t in enumerate(ticks)]
    bad_pool = [b for b in _BAD_JSON if b[1] != "truncated JSON"]
    for _ in range(n_bad):
        line, _why = rng.choice(bad_pool)
        records.insert(rng.randrange(0, len(records) + 1), json.loads(line))
    bad_map = dict(bad_pool)
    bad = [BadRecord(i, bad_map[json.dumps(r)]) for i, r in enumerate(records) if json.dumps(r) in bad_map]
    if fmt == "array":
        return ApiBatch(json.dumps(records).encode(), "application/json", fmt, ticks, bad)
    if fmt == "object":
        return ApiBatch(json.dumps({"ticks": records}).encode(), "application/json", fmt, ticks, bad)
    if fmt == "ndjson":
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        return ApiBatch(body, "application/x-ndjson", fmt, ticks, bad)
    raise ValueError(f"unknown API body format {fmt!r}: allowed array, object, ndjson")


FILE_FORMATS = ("csv", "jsonl", "json", "csv.gz", "jsonl.gz")
BATCH_FORMATS = ("array", "object", "ndjson")


def generate(
    seed: int = 7,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    minutes: int = 12,
    ticks_per_minute: float = 40.0,
    start_ms: int = DEFAULT_START_MS,
    api_share: float = 0.25,
    batch_size: int = 200,
    files_per_format: int = 1,
    bad_per_file: int = 3,
    bad_per_batch: int = 1,
    key_prefix: str = "incoming/",
) -> Dataset:
    """Make a deterministic dataset: every tick goes to exactly one file or API batch.

    `minutes` x `ticks_per_minute` ticks per symbol; `api_share` of them go through the API in batches of
    `batch_size`; the rest into `files_per_format` files of each format. One API batch is repeated byte for
    byte (a duplicate delivery) and one malformed body is added (expect 400).
    """
    if minutes < 1 or ticks_per_minute <= 0:
        raise ValueError(f"minutes must be >= 1 and ticks_per_minute > 0, got {minutes}, {ticks_per_minute}")
    if not 0 <= api_share <= 1:
        raise ValueError(f"api_share must be within [0, 1], got {api_share}")
    if batch_size < 1 or files_per_format < 1:
        raise ValueError(
            f"batch_size and files_per_format must be >= 1, got {batch_size}, {files_per_format}"
        )
    rng = random.Random(seed)
    end_ms = start_ms + minutes * 60_000
    all_ticks: list[Tick] = []
    for sym in symbols:
        all_ticks += _walk(rng, sym, start_ms, end_ms, 60_000 / ticks_per_minute)
    rng.shuffle(all_ticks)
    n_api = int(len(all_ticks) * api_share)
    api_ticks, file_ticks = all_ticks[:n_api], all_ticks[n_api:]

    ds = Dataset(seed, tuple(symbols), start_ms, end_ms)
    day = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc).strftime("%Y/%m/%d")
    n_files = len(FILE_FORMATS) * files_per_format
    for i in range(n_files):
        fmt = FILE_FORMATS[i % len(FILE_FORMATS)]
        part = file_ticks[i::n_files]
        # a space and '=' in one key: S3 notifications URL-encode keys (moto: quote_plus, even '/')
        name = f"trades part={i}.{fmt}" if i == 0 else f"trades-{i:03d}.{fmt}"
        ds.files.append(_file(rng, f"{key_prefix}{day}/{name}", fmt, part, bad_per_file))
    for j in range(0, len(api_ticks), batch_size):
        fmt = BATCH_FORMATS[(j // batch_size) % len(BATCH_FORMATS)]
        ds.batches.append(_batch(rng, fmt, api_ticks[j : j + batch_size], bad_per_batch))
    if ds.batches:
        first = ds.batches[0]
        ds.batches.append(
            ApiBatch(
                first.body, first.content_type, first.fmt, list(first.ticks), list(first.bad), duplicate_of=0
            )
        )
    ds.malformed_bodies.append(b'{"ticks": [ {"symbol": "AAPL", ')
    return ds


def reference_aggregates(ticks: Iterable[Tick]) -> dict[tuple[str, str, int], Aggregate]:
    """Independent computation of the 1m and 5m windows: key (symbol, interval, window start ms).

    open/close are the first/last trade by time, VWAP = sum(price x volume) / sum(volume) (None when the
    volume is 0), trades = number of distinct ticks.
    """
    groups: dict[tuple[str, str, int], list[Tick]] = {}
    for t in ticks:
        for interval, size in INTERVALS_MS.items():
            groups.setdefault((t.symbol, interval, t.ts - t.ts % size), []).append(t)
    out: dict[tuple[str, str, int], Aggregate] = {}
    for (sym, interval, start), group in groups.items():
        group.sort(key=lambda t: t.ts)
        vol = math.fsum(t.volume for t in group)
        notional = math.fsum(t.price * t.volume for t in group)
        out[(sym, interval, start)] = Aggregate(
            symbol=sym,
            interval=interval,
            start=start,
            open=group[0].price,
            high=max(t.price for t in group),
            low=min(t.price for t in group),
            close=group[-1].price,
            volume=vol,
            vwap=notional / vol if vol else None,
            trades=len(group),
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the generated files and API bodies into a directory and print the counts."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--minutes", type=int, default=12)
    p.add_argument("--ticks-per-minute", type=float, default=40.0)
    a = p.parse_args(argv)
    ds = generate(seed=a.seed, minutes=a.minutes, ticks_per_minute=a.ticks_per_minute)
    for f in ds.files:
        path = a.out / f.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.body)
    for i, b in enumerate(ds.batches):
        (a.out / "api").mkdir(parents=True, exist_ok=True)
        (a.out / "api" / f"batch-{i:03d}.{'ndjson' if b.fmt == 'ndjson' else 'json'}").write_bytes(b.body)
    aggs = reference_aggregates(ds.ticks)
    print(
        f"{len(ds.files)} files, {len(ds.batches)} API batches, {len(ds.ticks)} distinct ticks, "
        f"{ds.bad_records} bad records, {len(aggs)} aggregate windows -> {a.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
