// Aggregates (R-DATA-5) and duplicate-proof storage (R-DATA-4, R-EVB-3): any delivery order, any duplicates,
// same result as an independent reference computation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Aggregate, aggregate, ExactSum, type StoredTick } from "../src/core/aggregate.ts";
import { decodeTickKey, tickKey } from "../src/core/keys.ts";
import type { Interval, Tick } from "../src/core/types.ts";

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 300_000);
const tickArb: fc.Arbitrary<Tick> = fc
  .record({
    symbol: fc.constantFrom("AAPL", "MSFT", "BRK.B"),
    // 12 minutes of data, often the same millisecond
    ts: fc.oneof(fc.integer({ min: T0, max: T0 + 720_000 }), fc.constantFrom(T0, T0 + 59_999, T0 + 60_000)),
    price: fc.oneof(fc.double({ min: 0.01, max: 1e6, noNaN: true }), fc.constantFrom(100, 100.25, 0.1)),
    volume: fc.oneof(fc.double({ min: 0, max: 1e7, noNaN: true }), fc.constantFrom(0, 1, 0.1)),
    tradeId: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  })
  .map(({ tradeId, ...t }) => (tradeId === undefined ? t : { ...t, extra: { tradeId } }));

/** "The table": a Map keyed by (symbol, sort key); a redelivered tick overwrites its own item. */
function store(delivered: Tick[]): Map<string, { tick: Tick; key: string }> {
  const table = new Map<string, { tick: Tick; key: string }>();
  for (const t of delivered) {
    const key = tickKey(t);
    table.set(`${t.symbol}|${key}`, { tick: t, key });
  }
  return table;
}

/** The system under test: group the stored items by window and aggregate them (in table iteration order). */
function systemAggregates(table: Map<string, { tick: Tick; key: string }>): Map<string, Aggregate> {
  const groups = new Map<string, { symbol: string; interval: Interval; start: number; ticks: StoredTick[] }>();
  for (const { tick, key } of table.values()) {
    for (const [interval, size] of [["1m", 60_000], ["5m", 300_000]] as const) {
      const start = tick.ts - (tick.ts % size);
      const id = `${tick.symbol}|${interval}|${start}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { symbol: tick.symbol, interval, start, ticks: [] }));
      g.ticks.push({ key: decodeTickKey(key), price: tick.price, volume: tick.volume });
    }
  }
  const out = new Map<string, Aggregate>();
  for (const [id, g] of groups) {
    const a = aggregate(g.symbol, g.interval, g.start, g.ticks);
    if (a) out.set(id, a);
  }
  return out;
}

/**
 * Independent reference: distinct ticks by content (a JSON of the fields with sorted extra), windows by integer
 * division, plain loops over ticks sorted by (ts, key), naive sums.
 */
function reference(delivered: Tick[]): Map<string, Omit<Aggregate, "windowEnd"> & { windowEnd: number }> {
  const distinct = new Map<string, Tick>();
  for (const t of delivered) {
    const extra = t.extra ? Object.keys(t.extra).sort().map((k) => [k, (t.extra as Record<string, unknown>)[k]]) : [];
    distinct.set(JSON.stringify([t.symbol, t.ts, t.price, t.volume, extra]), t);
  }
  const all = [...distinct.values()].map((t) => ({ t, k: tickKey(t) }));
  all.sort((a, b) => (a.t.ts !== b.t.ts ? a.t.ts - b.t.ts : a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  const out = new Map<string, Aggregate>();
  for (const size of [60_000, 300_000]) {
    const interval: Interval = size === 60_000 ? "1m" : "5m";
    const buckets = new Map<string, Tick[]>();
    for (const { t } of all) {
      const start = Math.floor(t.ts / size) * size;
      const id = `${t.symbol}|${interval}|${start}`;
      const list = buckets.get(id) ?? [];
      list.push(t);
      buckets.set(id, list);
    }
    for (const [id, list] of buckets) {
      let high = list[0]!.price;
      let low = list[0]!.price;
      let volume = 0;
      let pv = 0;
      for (const t of list) {
        if (t.price > high) high = t.price;
        if (t.price < low) low = t.price;
        volume += t.volume;
        pv += t.price * t.volume;
      }
      const start = Math.floor(list[0]!.ts / size) * size;
      out.set(id, {
        symbol: list[0]!.symbol,
        interval,
        windowStart: start,
        windowEnd: start + size,
        open: list[0]!.price,
        high,
        low,
        close: list[list.length - 1]!.price,
        volume,
        vwap: volume > 0 ? pv / volume : null,
        trades: list.length,
      });
    }
  }
  return out;
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

describe("aggregates (R-DATA-5)", () => {
  it("R-DATA-5: OHLCV, VWAP and trades of a small known window", () => {
    const k = (ts: number, d: string) => decodeTickKey(`${ts}.${d}`);
    const a = aggregate("AAPL", "1m", 60_000, [
      { key: k(60_500, "000000002"), price: 11, volume: 3 },
      { key: k(60_000, "000000009"), price: 10, volume: 1 },
      { key: k(119_999, "000000001"), price: 9, volume: 1 },
      { key: k(60_500, "000000001"), price: 12, volume: 0 },
    ]);
    assert.deepEqual(a, {
      symbol: "AAPL",
      interval: "1m",
      windowStart: 60_000,
      windowEnd: 120_000,
      open: 10,
      high: 12,
      low: 9,
      close: 9,
      volume: 5, // != trades, so a VWAP divided by the trade count (or a mean price) cannot pass
      vwap: (10 * 1 + 11 * 3 + 9 * 1) / 5,
      trades: 4,
    });
  });

  it("R-DATA-5: same-millisecond ties are broken by the sort key (deterministic open/close)", () => {
    const k = (d: string) => decodeTickKey(`60000.${d}`);
    const ticks = [
      { key: k("500000000"), price: 2, volume: 1 },
      { key: k("100000000"), price: 1, volume: 1 },
      { key: k("900000000"), price: 3, volume: 1 },
    ];
    for (const order of [ticks, [...ticks].reverse(), [ticks[2]!, ticks[0]!, ticks[1]!]]) {
      const a = aggregate("X", "1m", 60_000, order);
      assert.equal(a?.open, 1);
      assert.equal(a?.close, 3);
    }
  });

  it("zero volume gives vwap null; no ticks gives no aggregate", () => {
    const a = aggregate("X", "5m", 0, [{ key: decodeTickKey("5.1"), price: 3, volume: 0 }]);
    assert.equal(a?.vwap, null);
    assert.equal(a?.volume, 0);
    assert.equal(aggregate("X", "5m", 0, []), null);
  });

  it("ExactSum is exact and order-independent", () => {
    const s = new ExactSum();
    for (const x of [1e16, 1, -1e16]) s.add(x);
    assert.equal(s.value(), 1);
    const t = new ExactSum();
    for (let i = 0; i < 10; i++) t.add(0.1);
    assert.equal(t.value(), 1);
    assert.throws(() => t.add(Number.NaN), /non-finite/);
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true })), fc.integer(), (xs, seed) => {
        const a = new ExactSum();
        const b = new ExactSum();
        xs.forEach((x) => a.add(x));
        const shuffled = xs.map((x, i) => ({ x, r: Math.sin(seed + i) })).sort((p, q) => p.r - q.r);
        shuffled.forEach(({ x }) => b.add(x));
        assert.ok(Object.is(a.value(), b.value()) || (a.value() === 0 && b.value() === 0));
      }),
    );
  });

  it("property (R-DATA-5, R-DATA-4): any tick sequence, any delivery order, duplicates -> reference aggregates", () => {
    fc.assert(
      fc.property(
        fc.array(tickArb, { minLength: 1, maxLength: 80 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true })),
        (ticks, dupIdx, order) => {
          const withDups = [...ticks, ...dupIdx.map((i) => ticks[i % ticks.length]!)];
          const shuffled = withDups
            .map((t, i) => ({ t, r: order[i % Math.max(1, order.length)] ?? 0, i }))
            .sort((a, b) => a.r - b.r || b.i - a.i)
            .map((x) => x.t);
          const sys = systemAggregates(store(shuffled));
          const sysInOrder = systemAggregates(store(ticks));
          const ref = reference(shuffled);
          assert.deepEqual([...sys.keys()].sort(), [...ref.keys()].sort());
          for (const [id, r] of ref) {
            const s = sys.get(id)!;
            // Exact fields: identical.
            for (const f of ["symbol", "interval", "windowStart", "windowEnd", "open", "high", "low", "close", "trades"] as const) {
              assert.equal(s[f], r[f], `${id} ${f}`);
            }
            // Sums: the reference adds naively, so compare with a relative tolerance.
            assert.ok(close(s.volume, r.volume), `${id} volume ${s.volume} vs ${r.volume}`);
            if (r.vwap === null || s.vwap === null) assert.equal(s.vwap, r.vwap, `${id} vwap`);
            else assert.ok(close(s.vwap, r.vwap), `${id} vwap ${s.vwap} vs ${r.vwap}`);
            // Delivery order and duplicates change nothing, to the bit.
            assert.deepEqual(s, sysInOrder.get(id));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
