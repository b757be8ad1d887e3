"""A small stream through the deployment (issue 10 acceptance 3; R-PERF-1, R-FN-5, R-EVB-1, R-EVB-3, R-DATA-5).

20 symbols (uneven: a few carry most of the volume) stream in for 30 s as small `POST /ingest` batches stamped with
the time they are sent, as a feed handler does. One batch is delivered twice (the client retried); one tick arrives
late, for a window that closed minutes ago and whose aggregate was already stored. At the end: every tick is stored
once, the stored 1m aggregates of every window the stream touched (materialised by DataAggregator once each window's
5-minute group has closed) and of the late window equal an independent computation, and the API answers every 1m and 5m window
(stored ones, and the open ones computed from the ticks at read time) exactly. All loops are bounded in count and time.
"""

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Env, poll
from tests.integration.test_end_to_end import _aggregates_match, _delete_items, _keys, _symbol
from tools.local import datagen
from tools.local.client import Rows, aggregate_rows, group_partition

SYMBOLS = 20
STREAM_SECONDS = 30.0
BATCH_TICKS = 25
BATCH_EVERY_S = 0.5
WAIT_S = 240.0  # upper bound of every wait below (the 2-core machine is shared)


@pytest.fixture
def symbols(env: Env) -> Iterator[list[str]]:
    """20 fresh symbols; their items are deleted afterwards."""
    syms = [_symbol()[:10] + f"{i:02d}" for i in range(SYMBOLS)]
    yield syms
    for s in syms:
        _delete_items(env, s)


def _post(env: Env, ticks: list[datagen.Tick]) -> None:
    status, body = env.api_json("POST", "/ingest", [t.as_json() for t in ticks])
    assert status == 202 and body["accepted"] == len(ticks), (status, body)


def _stored_1m(env: Env, symbol: str) -> Rows:
    """The stored (materialised) 1m aggregates of `symbol`: the 1m rows of its group items."""
    ddb = env.client("dynamodb")
    items = ddb.query(
        TableName=env.outputs["TableName"],
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "symbol"},
        ExpressionAttributeValues={":s": {"S": group_partition(symbol)}},
        ConsistentRead=True,
    )["Items"]
    return aggregate_rows(items, "1m")


def _stored_matches(
    env: Env, ref: dict[tuple[str, str, int], datagen.Aggregate], keys: list[Any]
) -> list[str]:
    """Differences between stored 1m aggregates and the reference for `keys` (empty = equal)."""
    problems = []
    by_symbol: dict[str, Rows] = {}
    for sym, _interval, start in keys:
        stored = by_symbol.setdefault(sym, _stored_1m(env, sym)).get(start)
        want = ref[(sym, "1m", start)]
        if stored is None:
            problems.append(f"{sym} 1m {start}: not stored")
            continue
        for f in ("open", "high", "low", "close", "volume", "trades"):
            if stored[f] != float(getattr(want, f)):
                problems.append(f"{sym} 1m {start} {f}: {stored[f]} != {getattr(want, f)}")
        vwap = stored["vwap"]
        if (vwap is None) != (want.vwap is None) or (
            want.vwap is not None and vwap is not None and abs(vwap - want.vwap) > 1e-9 * abs(want.vwap)
        ):
            problems.append(f"{sym} 1m {start} vwap: {vwap} != {want.vwap}")
    return problems


# proves R-PERF-1, R-FN-5, R-EVB-1, R-EVB-3, R-DATA-5
def test_stream_of_small_batches_is_aggregated_exactly(env: Env, symbols: list[str]) -> None:
    rng = random.Random(20261206)
    weights = [1 / (i + 1) ** 1.2 for i in range(SYMBOLS)]  # a few symbols carry most of the volume
    price = {s: 50.0 + 10 * i for i, s in enumerate(symbols)}
    last_ts = {s: 0 for s in symbols}

    def tick(symbol: str, ts: int) -> datagen.Tick:
        price[symbol] = max(1.0, round(price[symbol] * (1 + rng.gauss(0, 0.002)), 2))
        return datagen.Tick(symbol, ts, price[symbol], rng.randrange(0, 500), "XNAS")

    # A window that closed ten minutes ago, aggregated before the stream starts.
    now = int(time.time() * 1000)
    old = now - now % 60_000 - 600_000
    late_symbol = symbols[0]
    history = [tick(late_symbol, old + 1000 * (i + 1)) for i in range(3)]
    _post(env, history)
    poll(
        "the old window's aggregate",
        lambda: (_stored_1m(env, late_symbol).get(old) or {}).get("trades") == 3,
        WAIT_S,
    )

    # The stream: small batches of ticks stamped with their send time; one batch twice, one late tick.
    sent: list[datagen.Tick] = list(history)
    duplicated = late = False
    started = time.monotonic()
    for n in range(int(STREAM_SECONDS / BATCH_EVERY_S) + 1):
        if time.monotonic() - started > STREAM_SECONDS:
            break
        batch = []
        for sym in rng.choices(symbols, weights, k=BATCH_TICKS):
            ts = max(int(time.time() * 1000), last_ts[sym] + 1)  # distinct per symbol: open/close unambiguous
            last_ts[sym] = ts
            batch.append(tick(sym, ts))
        _post(env, batch)
        sent += batch
        if n == 10:
            _post(env, batch)  # the same batch again: stored once (R-DATA-4)
            duplicated = True
        if n == 20:
            t = tick(late_symbol, old + 30_000)  # late, for the closed (and already aggregated) window
            _post(env, [t])
            sent.append(t)
            late = True
        time.sleep(max(0.0, BATCH_EVERY_S - (time.monotonic() - started) % BATCH_EVERY_S))
    assert duplicated and late
    ref = datagen.reference_aggregates(sent)
    expected_ticks = {s: sum(1 for t in sent if t.symbol == s) for s in symbols}

    # Every tick stored exactly once.
    poll(
        "every streamed tick to be stored once",
        lambda: all(len(_keys(env, s)) == n for s, n in expected_ticks.items()),
        WAIT_S,
    )
    # The late tick's window: recomputed (it was already stored with 3 trades).
    late_key = [(late_symbol, "1m", old)]
    poll("the late tick's window to be recomputed", lambda: not _stored_matches(env, ref, late_key), WAIT_S)

    # Every 1m window the stream touched is stored once its 5-minute group has closed (DataAggregator's deferrals).
    stream_keys = [k for k in ref if k[1] == "1m" and k[2] != old]
    last_start = max(k[2] for k in stream_keys)
    last_end = last_start - last_start % 300_000 + 300_000
    poll(
        "the stream's last 5-minute group to close", lambda: time.time() * 1000 > last_end, 330, interval=1.0
    )
    poll("the stream's 1m windows to be stored", lambda: not _stored_matches(env, ref, stream_keys), WAIT_S)
    assert _stored_matches(env, ref, stream_keys + late_key) == []

    # Through the API: every 1m and 5m window (stored, or computed at read time while recent) equals the reference.
    frm = old - old % 300_000
    to = int(time.time() * 1000) + 600_000
    for s in symbols:
        want = {k: a for k, a in ref.items() if k[0] == s}
        assert _aggregates_match(env, s, want, frm, to) == [], s
