// The TickStore port (docs/design.md "TickStore"): the DynamoDB implementation (its key and condition expressions, run
// against the in-memory table behind the mocked client) and the in-memory fake (the same port straight on the items)
// answer every operation alike, write the same items, and keep the conditional writes (R-DATA-4, R-DATA-5, R-EVB-2,
// R-EVB-3, R-API-3).
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import fc from "fast-check";
import type { Aggregate } from "../src/core/aggregate.ts";
import type { Tick } from "../src/core/types.ts";
import { FakeTable } from "./fakes/ddb-table.ts";

process.env.AWS_REGION = "us-east-1";
process.env.DATA_RETENTION_DAYS = "30";
const { DynamoTickStore } = await import("../src/adapters/dynamodb-store.ts");
const { tickKey, tickKeyRange } = await import("../src/core/keys.ts");
type Store = import("../src/adapters/tick-store.ts").TickStore;

const TABLE = "MarketDataState-test";
const T = 1_700_000_100_000 - (1_700_000_100_000 % 300_000); // a 5m window start
let backend: FakeTable; // the table behind the mocked DynamoDB client
let dynamo: Store;
let fake: FakeTable; // the in-memory TickStore

beforeEach(() => {
  backend = new FakeTable(TABLE, { pageSize: 3 });
  dynamo = new DynamoTickStore(TABLE);
  fake = new FakeTable(TABLE, { mock: false });
});
afterEach(() => backend.restore());

/** Both stores' answers to one operation must be equal (deep). */
async function same<T>(what: string, op: (s: Store) => Promise<T>): Promise<T> {
  const a = await op(dynamo);
  const b = await op(fake);
  assert.deepEqual(a, b, what);
  return a;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The items of a table in key order (what each store wrote). */
function dump(t: FakeTable): string {
  return JSON.stringify([...t.items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const tickArb = fc.record({
  symbol: fc.constantFrom("AAPL", "MSFT"),
  // window bounds and the same millisecond twice are where range and order bugs hide
  ts: fc.oneof(fc.integer({ min: T, max: T + 599_999 }), fc.constantFrom(T, T + 59_999, T + 60_000, T + 299_999, T + 300_000)),
  price: fc.integer({ min: 1, max: 2000 }).map((p) => p / 4),
  volume: fc.integer({ min: 0, max: 1000 }),
});

describe("TickStore: DynamoDB implementation and in-memory fake agree", () => {
  it("property (R-DATA-4, R-API-3): ticks written by both are read back alike: latest, pages of any size, ranges", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(tickArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 3 }), // at most the backend's page size: both then fill every page to the limit
        fc.tuple(fc.integer({ min: 0, max: 600_000 }), fc.integer({ min: 1, max: 600_000 })),
        async (ticks, limit, [a, b]) => {
          backend.items.clear();
          fake.items.clear();
          const entries = ticks.map((tick: Tick) => ({ id: `${tick.symbol}\u0000${tickKey(tick)}`, tick, key: tickKey(tick) }));
          const put = await same("putTicks", (s) => s.putTicks(entries, { now: T, remainingMs: () => 60_000 }));
          assert.equal(put.failed.size, 0);
          assert.equal(dump(backend), dump(fake), "the same items");
          for (const symbol of ["AAPL", "MSFT", "IBM"]) {
            await same(`latest ${symbol}`, (s) => s.latestTick(symbol));
            const from = T + Math.min(a, b);
            const to = T + Math.max(a, b) + 1;
            const got = await same(`ticksBetween ${symbol}`, (s) => collect(s.ticksBetween(symbol, from, to)));
            const expected = new Set(ticks.filter((t) => t.symbol === symbol && t.ts >= from && t.ts < to).map((t) => tickKey(t)));
            assert.equal(got.length, expected.size, "each distinct tick in [from, to) once");
            // every page, following `last`, until the end
            const { lo, hi } = tickKeyRange(from, to);
            let start: import("../src/adapters/tick-store.ts").PageKey | undefined;
            const seen: string[] = [];
            for (let page = 0; ; page++) {
              assert.ok(page < 40, "pages end");
              const p = await same(`ticksPage ${symbol}`, (s) => s.ticksPage({ symbol, lo, hi, limit, ...(start ? { start } : {}) }));
              seen.push(...p.items.map((r) => r.key));
              if (!p.last) break;
              start = p.last;
            }
            assert.equal(seen.length, expected.size);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("property (R-DATA-5, R-EVB-3, R-API-3): putGroup keeps the group that read more ticks; 1m and 5m pages of any size return each stored window once, in order", async () => {
    const groupArb = fc.record({
      symbol: fc.constantFrom("AAPL", "MSFT"),
      slot: fc.integer({ min: 0, max: 9 }),
      ticks: fc.integer({ min: 1, max: 5 }),
      minutes: fc.subarray([0, 1, 2, 3, 4], { minLength: 1 }),
      fiveStorable: fc.boolean(),
      computedAt: fc.integer({ min: T, max: T + 1_000_000 }),
    });
    const agg = (symbol: string, interval: "1m" | "5m", start: number, trades: number): Aggregate => ({
      symbol,
      interval,
      windowStart: start,
      windowEnd: start + (interval === "1m" ? 60_000 : 300_000),
      open: 1,
      high: 2,
      low: 0.5,
      close: trades + start / 1e13,
      volume: trades,
      vwap: trades % 2 ? null : 1.25,
      trades,
    });
    await fc.assert(
      fc.asyncProperty(fc.array(groupArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 3 }), async (puts, limit) => {
        backend.items.clear();
        fake.items.clear();
        const kept = new Map<string, { ticks: number; rows: Map<string, Array<[number, number]>>; computedAt: number }>();
        for (const p of puts) {
          const start5m = T + p.slot * 300_000;
          const g = {
            symbol: p.symbol,
            start5m,
            five: p.fiveStorable ? agg(p.symbol, "5m", start5m, p.ticks) : null,
            minutes: p.minutes.map((m) => agg(p.symbol, "1m", start5m + m * 60_000, p.ticks)),
            ticks: p.ticks,
          };
          const k = `${p.symbol}|${start5m}`;
          const wrote = await same(`putGroup ${k}`, (s) => s.putGroup(g, p.computedAt));
          assert.equal(wrote, !(kept.get(k)!?.ticks > p.ticks), "written unless the stored group read more ticks");
          if (wrote) {
            const rows = new Map<string, Array<[number, number]>>([
              ["5m", g.five ? [[start5m, p.computedAt]] : []],
              ["1m", g.minutes.map((m) => [m.windowStart, p.computedAt])],
            ]);
            kept.set(k, { ticks: p.ticks, rows, computedAt: p.computedAt });
          }
        }
        assert.equal(dump(backend), dump(fake), "the same items");
        for (const symbol of ["AAPL", "MSFT"]) {
          for (const interval of ["1m", "5m"] as const) {
            // from/to inside groups too: a 1m range need not start or end on a 5m boundary
            for (const [from, to] of [[T, T + 3_000_000], [T + 120_000, T + 1_260_000]] as const) {
              const { lo, hi } = tickKeyRange(from, to);
              let start: import("../src/adapters/tick-store.ts").PageKey | undefined;
              const rows: Array<[number, number]> = [];
              for (let page = 0; ; page++) {
                assert.ok(page < 80, "pages end");
                const pg = await same(`aggregatesPage ${symbol} ${interval} ${from}`, (s) =>
                  s.aggregatesPage({ symbol, interval, lo, hi, limit, ...(start ? { start } : {}) }),
                );
                assert.ok(pg.items.length <= limit, "a page holds at most limit rows");
                assert.ok(pg.items.every((r) => r.symbol === symbol && r.interval === interval));
                rows.push(...pg.items.map((r): [number, number] => [r.windowStart, r.computedAt]));
                if (!pg.last) break;
                start = pg.last;
              }
              const expected = [...kept]
                .filter(([k]) => k.startsWith(`${symbol}|`))
                .flatMap(([, v]) => v.rows.get(interval) ?? [])
                .filter(([w]) => w >= from && w < to)
                .sort((x, y) => x[0] - y[0]);
              assert.deepEqual(rows, expected, `every stored ${interval} window of ${symbol} once, in order`);
            }
          }
          for (const slot of [0, 4, 9]) {
            const start5m = T + slot * 300_000;
            const got = await same(`groupComputedAt ${symbol} ${slot}`, (s) => s.groupComputedAt(symbol, start5m));
            assert.equal(got, kept.get(`${symbol}|${start5m}`)?.computedAt);
          }
        }
      }),
      { numRuns: 60, includeErrorInReport: true },
    );
  });

  it("R-EVB-2: markers are read from a time on, in order; the cursor never moves backwards; failed windows are recorded", async () => {
    for (const [now, disc, windows] of [
      [T + 5, "000000002", ["AAPL|" + T]],
      [T + 1, "000000001", ["MSFT|" + T, "AAPL|" + (T + 60_000)]],
      [T + 9, "000000003", []],
    ] as const) {
      await same("putDirtyMarker", (s) => s.putDirtyMarker(now, disc, windows));
    }
    for (const from of [0, T + 1, T + 2, T + 9, T + 10]) await same(`dirtyMarkers ${from}`, (s) => collect(s.dirtyMarkers(from)));
    assert.deepEqual((await collect(dynamo.dirtyMarkers(T + 2))).map((m) => m.ts), [T + 5, T + 9]);
    assert.equal(await same("no cursor", (s) => s.getCursor()), undefined);
    for (const [lastRun, moved] of [[T, true], [T - 1, false], [T, false], [T + 1, true]] as const) {
      assert.equal(await same(`putCursor ${lastRun}`, (s) => s.putCursor(lastRun)), moved);
    }
    assert.equal(await same("cursor", (s) => s.getCursor()), T + 1);
    const w = { symbol: "ZZOVF", interval: "1m", windowStart: T, reason: "x".repeat(1200) };
    await same("putFailedWindow", (s) => s.putFailedWindow(w, "000000042", T + 7));
    assert.equal(dump(backend), dump(fake), "the same items");
    const failed = backend.partition("#FAILED")[0];
    assert.equal(failed?.window?.S, `ZZOVF#1m|${T}`);
    assert.equal(failed?.reason?.S?.length, 1000, "the reason is cut to 1,000 characters");
  });
});
