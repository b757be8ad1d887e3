// DataAggregator (R-FN-5, R-DATA-5, R-EVB-3): event and schedule paths over an in-memory table, fed by the real
// DataProcessor handler (same table), with pagination, late data, cursor and idempotence.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { Context, SQSEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import type { Tick, TicksStoredDetail } from "../src/core/types.ts";
import { FakeTable } from "./fakes/ddb-table.ts";
import { lambdaContext } from "./helpers/context.ts";

process.env.AWS_REGION = "us-east-1";
process.env.STATE_TABLE = "MarketDataState-test";
process.env.EVENT_BUS_NAME = "MarketDataEvents-test";
process.env.POWERTOOLS_METRICS_DISABLED = "true";
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
const agg = await import("../src/handlers/aggregator.ts");
const proc = await import("../src/handlers/processor.ts");

const T = 1_700_000_100_000 - (1_700_000_100_000 % 300_000); // a 5m window start
let table: FakeTable;
const events = mockClient(EventBridgeClient);
let published: TicksStoredDetail[];
let remaining: number;
let clock: number;

function context(): Context {
  return lambdaContext("fn", `req-${clock}`, () => remaining);
}

/** Runs the real processor on messages of ticks; returns the TicksStored events it published. */
async function ingest(...messages: Tick[][]): Promise<TicksStoredDetail[]> {
  const before = published.length;
  const event: SQSEvent = {
    Records: messages.map((ticks, i) => ({
      messageId: `m${clock}-${i}`,
      receiptHandle: "r",
      body: JSON.stringify({ v: 1, src: "test", ticks }),
      attributes: { ApproximateReceiveCount: "1", SentTimestamp: "1", SenderId: "s", ApproximateFirstReceiveTimestamp: "1" },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:1:q",
      awsRegion: "us-east-1",
    })),
  };
  const res = await proc.handler(event, context());
  assert.deepEqual(res.batchItemFailures, []);
  return published.slice(before);
}

/** The EventBridge event as moto delivers it: no `account`. */
function ticksStored(detail: TicksStoredDetail): Record<string, unknown> {
  return { version: "0", id: "x", "detail-type": "TicksStored", source: "market-data.processor", time: "t", region: "us-east-1", resources: [], detail };
}
const scheduled = { version: "0", id: "s", "detail-type": "Scheduled Event", source: "aws.events", account: "1", time: "t", region: "us-east-1", resources: [], detail: {} };

function aggItem(symbol: string, interval: "1m" | "5m", start: number) {
  const it = table.items.get(`${symbol}#${interval}\u0000${start}`);
  if (!it) return undefined;
  return {
    open: Number(it.open?.N),
    high: Number(it.high?.N),
    low: Number(it.low?.N),
    close: Number(it.close?.N),
    volume: Number(it.volume?.N),
    vwap: it.vwap?.NULL ? null : Number(it.vwap?.N),
    trades: Number(it.trades?.N),
    windowStart: Number(it.windowStart?.N),
    windowEnd: Number(it.windowEnd?.N),
    interval: it.interval?.S,
  };
}

/** Independent reference for a set of distinct ticks in one window (plain loops). */
function ref(ticks: Tick[]) {
  if (ticks.length === 0) return undefined;
  const sorted = [...ticks].sort((a, b) => a.ts - b.ts);
  let volume = 0;
  let pv = 0;
  for (const t of ticks) {
    volume += t.volume;
    pv += t.price * t.volume;
  }
  return {
    open: sorted[0]!.price,
    high: Math.max(...ticks.map((t) => t.price)),
    low: Math.min(...ticks.map((t) => t.price)),
    close: sorted[sorted.length - 1]!.price,
    volume,
    vwap: volume > 0 ? pv / volume : null,
    trades: ticks.length,
  };
}

beforeEach(() => {
  table = new FakeTable("MarketDataState-test", { pageSize: 7 });
  published = [];
  events.reset();
  events.on(PutEventsCommand).callsFake((input) => {
    for (const e of input.Entries ?? []) published.push(JSON.parse(e.Detail ?? "{}"));
    return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map(() => ({ EventId: "e" })) };
  });
  remaining = 300_000;
  clock = T + 600_000;
  proc.settings.now = () => clock;
  proc.settings.sleep = async () => undefined;
  agg.settings.now = () => clock;
});
afterEach(() => {
  table.restore();
  mock.restoreAll();
});

describe("DataAggregator", () => {
  it("R-FN-5/R-DATA-5: a TicksStored event recomputes the named 1m windows and their 5m window (paginated Query)", async () => {
    // 20 ticks in minute 0, 3 in minute 2 of the same 5m window: prices/volumes chosen to be exact in binary.
    const m0 = Array.from({ length: 20 }, (_, i) => ({ symbol: "AAPL", ts: T + i * 1000, price: 100 + (i % 5), volume: i + 1 }));
    const m2 = [
      { symbol: "AAPL", ts: T + 120_000, price: 90, volume: 2 },
      { symbol: "AAPL", ts: T + 150_000, price: 120, volume: 0 },
      { symbol: "AAPL", ts: T + 179_999, price: 95, volume: 4 },
    ];
    const [detail] = await ingest(m0.slice(0, 10), m0.slice(10), m2);
    assert.ok(detail);
    const res = await agg.handler(ticksStored(detail), context());
    assert.equal(res.complete, true);
    assert.deepEqual(aggItem("AAPL", "1m", T), { ...ref(m0), windowStart: T, windowEnd: T + 60_000, interval: "1m" });
    assert.deepEqual(aggItem("AAPL", "1m", T + 120_000), { ...ref(m2), windowStart: T + 120_000, windowEnd: T + 180_000, interval: "1m" });
    assert.deepEqual(aggItem("AAPL", "5m", T), { ...ref([...m0, ...m2]), windowStart: T, windowEnd: T + 300_000, interval: "5m" });
    assert.equal(aggItem("AAPL", "1m", T + 60_000), undefined, "no ticks, no aggregate");
    assert.ok(table.calls.query >= 4, "23 ticks at 7 per page: the 5m range needs several pages");
    // Aggregate items carry computedAt and a TTL.
    const it = table.items.get(`AAPL#1m\u0000${T}`);
    assert.equal(it?.computedAt?.N, String(clock));
    assert.equal(it?.expiresAt?.N, String(Math.floor(clock / 1000) + 30 * 86_400));
  });

  it("R-EVB-3: running the same event twice gives the same items", async () => {
    const [detail] = await ingest([{ symbol: "MSFT", ts: T + 5, price: 10, volume: 1 }, { symbol: "MSFT", ts: T + 6, price: 11, volume: 3 }]);
    await agg.handler(ticksStored(detail!), context());
    // the first run wrote the aggregates (so the snapshot below holds more than the ingested ticks)
    const expected = { open: 10, high: 11, low: 10, close: 11, volume: 4, vwap: 43 / 4, trades: 2 };
    assert.deepEqual(aggItem("MSFT", "1m", T), { ...expected, windowStart: T, windowEnd: T + 60_000, interval: "1m" });
    assert.deepEqual(aggItem("MSFT", "5m", T), { ...expected, windowStart: T, windowEnd: T + 300_000, interval: "5m" });
    const first = JSON.stringify([...table.items.entries()].sort());
    await agg.handler(ticksStored(detail!), context());
    assert.equal(JSON.stringify([...table.items.entries()].sort()), first);
  });

  it("R-DATA-5: late data for an old window makes it dirty again and it is recomputed", async () => {
    const old = T - 3 * 86_400_000;
    const [d1] = await ingest([{ symbol: "AAPL", ts: old + 1, price: 10, volume: 1 }]);
    await agg.handler(ticksStored(d1!), context());
    assert.equal(aggItem("AAPL", "1m", old)?.trades, 1);
    clock += 3_600_000; // an hour later a late tick arrives for that old minute
    const [d2] = await ingest([{ symbol: "AAPL", ts: old + 59_000, price: 12, volume: 3 }]);
    assert.deepEqual(d2?.windows, [{ symbol: "AAPL", start: old }]);
    await agg.handler(ticksStored(d2!), context());
    assert.deepEqual(aggItem("AAPL", "1m", old), { open: 10, high: 12, low: 10, close: 12, volume: 4, vwap: 46 / 4, trades: 2, windowStart: old, windowEnd: old + 60_000, interval: "1m" });
    assert.equal(aggItem("AAPL", "5m", old)?.trades, 2);
  });

  it("R-EVB-2: the schedule reads #DIRTY markers since the cursor (with overlap, paginated) and advances it", async () => {
    // 12 processor invocations -> 12 markers (more than a page); their events are "lost".
    for (let i = 0; i < 12; i++) {
      clock = T + 300_000 + i * 1000;
      await ingest([{ symbol: "IBM", ts: T + i * 60_000, price: 100 + i, volume: 1 }]);
    }
    clock = T + 700_000;
    const r1 = await agg.handler(scheduled, context());
    assert.equal(r1.markers, 12);
    assert.equal(r1.cursor, clock);
    assert.equal(r1.complete, true);
    for (let i = 0; i < 12; i++) assert.equal(aggItem("IBM", "1m", T + i * 60_000)?.close, 100 + i);
    assert.deepEqual(aggItem("IBM", "5m", T + 300_000), { ...ref([5, 6, 7, 8, 9].map((i) => ({ symbol: "IBM", ts: T + i * 60_000, price: 100 + i, volume: 1 }))), windowStart: T + 300_000, windowEnd: T + 600_000, interval: "5m" });
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 700_000));

    // A marker written 100 s before the cursor (inside the 120 s overlap) and one after; the 12 old ones are not re-read.
    clock = T + 600_000;
    await ingest([{ symbol: "IBM", ts: T + 1, price: 50, volume: 1 }]);
    clock = T + 800_000;
    await ingest([{ symbol: "IBM", ts: T + 2, price: 60, volume: 1 }]);
    clock = T + 900_000;
    const r2 = await agg.handler(scheduled, context());
    assert.equal(r2.markers, 2, "markers from lastRun - 120000 only");
    assert.equal(aggItem("IBM", "1m", T)?.trades, 3);
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 900_000));
  });

  it("a scheduled run recomputes a window named by many markers once", async () => {
    for (let i = 0; i < 6; i++) {
      clock = T + 600_000 + i;
      await ingest([{ symbol: "IBM", ts: T + i, price: 1 + i, volume: 1 }]);
    }
    agg.settings.windowsPerStep = 1;
    try {
      const r = await agg.handler({ ...scheduled }, context());
      assert.equal(r.markers, 6);
      assert.equal(r.windows5m, 1, "one (symbol, 5m) group recomputed, not one per marker");
      assert.equal(aggItem("IBM", "1m", T)?.trades, 6);
    } finally {
      agg.settings.windowsPerStep = 1000;
    }
  });

  it("the cursor never moves backwards", async () => {
    clock = T + 1_000_000;
    await agg.handler(scheduled, context());
    clock = T + 500_000;
    await agg.handler(scheduled, context());
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 1_000_000));
  });

  it("a scheduled run short of time keeps the cursor at the first marker it did not finish", async () => {
    clock = T + 600_000;
    await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    remaining = 1000; // below the 5 s reserve: no window is started
    clock = T + 700_000;
    const r = await agg.handler(scheduled, context());
    assert.equal(r.complete, false);
    assert.equal(r.cursor, T + 600_000);
    remaining = 300_000;
    clock = T + 800_000;
    const r2 = await agg.handler(scheduled, context());
    assert.equal(r2.complete, true);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
  });

  it("an event that cannot be finished in time fails (EventBridge retries; the schedule has the marker)", async () => {
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    remaining = 1000;
    await assert.rejects(agg.handler(ticksStored(detail!), context()), /time ran out after 0 of 1 window groups/);
  });

  it("a stored aggregate counting MORE trades (a newer recompute) is not overwritten by a stale one", async () => {
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    table.put({ symbol: { S: "IBM#1m" }, timestamp: { N: String(T) }, trades: { N: "5" }, open: { N: "7" } });
    const r = await agg.handler(ticksStored(detail!), context());
    assert.equal(r.keptNewer, 1);
    assert.equal(table.items.get(`IBM#1m\u0000${T}`)?.open?.N, "7");
    assert.equal(aggItem("IBM", "5m", T)?.trades, 1);
  });

  it("bad events: unknown source fails loudly; invalid windows are named, valid ones still recomputed", async () => {
    const err = mock.method(agg.logger, "error");
    await assert.rejects(agg.handler({ source: "x", "detail-type": "y" }, context()), /unsupported event/);
    assert.equal(err.mock.callCount(), 1);
    await assert.rejects(agg.handler(ticksStored({ ticks: 0 } as unknown as TicksStoredDetail), context()), /no "windows" array/);
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    const bad = { windows: [...detail!.windows, { symbol: "IBM", start: T + 1 }], ticks: 1 };
    await assert.rejects(agg.handler(ticksStored(bad), context()), /windows\[1\]: window start 1\d+ is not a non-negative multiple of 60000/);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
  });

  it("property (R-DATA-5, R-EVB-3): random ticks, redelivered and shuffled across batches -> reference aggregates", async () => {
    // Half of the timestamps sit on a 1m/5m boundary or 1 ms either side of one (window bounds are where bugs hide).
    const boundary = fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.constantFrom(-1, 0, 1))
      .map(([m, d]) => T + m * 60_000 + d)
      .filter((ts) => ts >= T && ts < T + 900_000);
    const tickArb = fc.record({
      symbol: fc.constantFrom("AAPL", "MSFT"),
      ts: fc.oneof(fc.integer({ min: T, max: T + 899_999 }), boundary),
      price: fc.integer({ min: 1, max: 2000 }).map((p) => p / 4),
      volume: fc.integer({ min: 0, max: 1000 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(tickArb, { minLength: 1, maxLength: 40, selector: (t) => `${t.symbol}|${t.ts}` }), fc.array(fc.nat()), async (ticks, picks) => {
        table.items.clear();
        // Deliver every tick once, plus redeliveries, in batches of up to 3 messages, in a shuffled order.
        const deliveries = [...ticks, ...picks.map((p) => ticks[p % ticks.length]!)];
        const order = deliveries.map((t, i) => ({ t, k: (picks[i % Math.max(1, picks.length)] ?? i) * 31 + i })).sort((a, b) => a.k - b.k).map((x) => x.t);
        for (let i = 0; i < order.length; i += 3) await ingest(...order.slice(i, i + 3).map((t) => [t]));
        clock += 1000;
        await agg.handler(scheduled, context());
        for (const symbol of ["AAPL", "MSFT"]) {
          for (const [interval, size] of [["1m", 60_000], ["5m", 300_000]] as const) {
            for (let start = T; start < T + 900_000; start += size) {
              const inWindow = ticks.filter((t) => t.symbol === symbol && t.ts >= start && t.ts < start + size);
              const expected = ref(inWindow);
              const got = aggItem(symbol, interval, start);
              if (!expected) assert.equal(got, undefined);
              else assert.deepEqual(got, { ...expected, windowStart: start, windowEnd: start + size, interval });
            }
          }
        }
      }),
      { numRuns: 25 },
    );
  });
});
