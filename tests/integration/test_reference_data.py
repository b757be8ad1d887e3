"""The demo's data generator and its reference computation (tools/local/datagen.py), checked on their own.

The demo and the end-to-end tests judge the pipeline against `reference_aggregates`; these tests make sure that
yardstick is right (a hand-computed example, 1m/5m consistency) and that the generated bad records are exactly
the ones marked bad (R-DATA-1, R-DATA-3, R-DATA-5). No stack needed.
"""

import csv
import gzip
import io
import json
import math
import re

from tools.local import datagen

SYMBOL = re.compile(r"[A-Z0-9.\-^]{1,12}")


def _valid(symbol: object, ts: object, price: object, volume: object) -> bool:
    """An independent R-DATA-1 check of one record (epoch ms or ISO-8601 timestamp)."""
    try:
        p, v = float(str(price)), float(str(volume))
    except ValueError:
        return False
    if not (isinstance(symbol, str) and SYMBOL.fullmatch(symbol)):
        return False
    ok_ts = (isinstance(ts, int) or (isinstance(ts, str) and ts.isdigit())) or (
        isinstance(ts, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", ts) is not None
    )
    return ok_ts and math.isfinite(p) and p > 0 and math.isfinite(v) and v >= 0


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a, b, c = datagen.generate(seed=3), datagen.generate(seed=3), datagen.generate(seed=4)
    assert [f.body for f in a.files] == [f.body for f in b.files]
    assert [x.body for x in a.batches] == [x.body for x in b.batches]
    assert [f.body for f in a.files] != [f.body for f in c.files]


# R-DATA-1, R-DATA-2, R-DATA-3
def test_bad_records_are_exactly_the_marked_ones_in_every_format() -> None:
    ds = datagen.generate(seed=11, minutes=3, bad_per_file=4, bad_per_batch=2)
    assert {f.fmt for f in ds.files} == set(datagen.FILE_FORMATS)
    for f in ds.files:
        text = (gzip.decompress(f.body) if f.fmt.endswith(".gz") else f.body).decode()
        bad: list[int] = []
        if f.fmt.startswith("csv"):
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == ["symbol", "timestamp", "price", "volume", "exchange"]
            bad = [n + 1 for n, r in enumerate(rows) if n > 0 and not _valid(r[0], r[1], r[2], r[3])]
        elif f.fmt.startswith("jsonl"):
            for n, line in enumerate(text.splitlines(), start=1):
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    bad.append(n)
                    continue
                if not _valid(r.get("symbol"), r.get("timestamp"), r.get("price"), r.get("volume")):
                    bad.append(n)
        else:
            records = json.loads(text)
            bad = [
                i
                for i, r in enumerate(records)
                if not _valid(r.get("symbol"), r.get("timestamp"), r.get("price"), r.get("volume"))
            ]
        assert bad == sorted(b.position for b in f.bad), f.key
        assert len(bad) == 4
    for x in ds.batches:
        records = (
            [json.loads(line) for line in x.body.decode().splitlines()]
            if x.fmt == "ndjson"
            else json.loads(x.body)
        )
        records = records["ticks"] if isinstance(records, dict) else records
        bad = [
            i
            for i, r in enumerate(records)
            if not _valid(r.get("symbol"), r.get("timestamp"), r.get("price"), r.get("volume"))
        ]
        assert bad == [b.position for b in x.bad] and len(bad) == 2


def test_every_tick_sent_once_except_the_duplicate_batch() -> None:
    ds = datagen.generate(seed=5, minutes=4)
    sent = [t for f in ds.files for t in f.ticks] + [
        t for b in ds.batches if b.duplicate_of is None for t in b.ticks
    ]
    assert len(sent) == len(set(sent)) == len(ds.ticks)
    dup = [b for b in ds.batches if b.duplicate_of is not None]
    assert len(dup) == 1 and dup[0].body == ds.batches[dup[0].duplicate_of or 0].body
    assert ds.delivered_ticks == len(ds.ticks) + len(dup[0].ticks)


# R-DATA-5
def test_reference_aggregates_hand_computed() -> None:
    t0 = 1_700_000_100_000  # a 5-minute boundary (so a 1-minute one too)
    ticks = [
        datagen.Tick("AAA", t0, 10.0, 1, "X"),
        datagen.Tick("AAA", t0 + 1_000, 12.0, 3, "X"),
        datagen.Tick("AAA", t0 + 61_000, 11.0, 2, "X"),
        datagen.Tick("AAA", t0 + 62_000, 9.0, 0, "X"),
    ]
    agg = datagen.reference_aggregates(reversed(ticks))  # input order must not matter
    a = agg[("AAA", "1m", t0)]
    assert (a.open, a.high, a.low, a.close, a.volume, a.trades) == (10.0, 12.0, 10.0, 12.0, 4, 2)
    assert a.vwap is not None and math.isclose(a.vwap, 46 / 4)
    b = agg[("AAA", "1m", t0 + 60_000)]
    assert (b.open, b.high, b.low, b.close, b.volume, b.trades) == (11.0, 11.0, 9.0, 9.0, 2, 2)
    assert b.vwap is not None and math.isclose(b.vwap, 11.0)
    c = agg[("AAA", "5m", t0)]
    assert (c.open, c.high, c.low, c.close, c.volume, c.trades) == (10.0, 12.0, 9.0, 9.0, 6, 4)
    assert c.vwap is not None and math.isclose(c.vwap, 68 / 6)
    zero = datagen.reference_aggregates([datagen.Tick("ZZ", t0, 5.0, 0, "X")])[("ZZ", "1m", t0)]
    assert zero.vwap is None  # volume 0: VWAP null (docs/design.md)


# R-DATA-5
def test_5m_windows_are_the_merge_of_their_1m_windows() -> None:
    agg = datagen.reference_aggregates(datagen.generate(seed=9, minutes=11).ticks)
    for (sym, interval, start), five in agg.items():
        if interval != "5m":
            continue
        ones = sorted(
            (a for (s, i, st), a in agg.items() if s == sym and i == "1m" and start <= st < start + 300_000),
            key=lambda a: a.start,
        )
        assert ones, (sym, start)
        assert five.open == ones[0].open and five.close == ones[-1].close
        assert five.high == max(a.high for a in ones) and five.low == min(a.low for a in ones)
        assert five.trades == sum(a.trades for a in ones)
        assert math.isclose(five.volume, sum(a.volume for a in ones))
        notional = sum((a.vwap or 0) * a.volume for a in ones)
        assert five.vwap is not None and math.isclose(five.vwap, notional / five.volume, rel_tol=1e-12)
