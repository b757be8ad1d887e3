// DataAggregator (R-FN-5, R-DATA-5, R-EVB-3): event and schedule paths over an in-memory table, fed by the real
// DataProcessor handler (same table), with pagination, late data, cursor and idempotence.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { Context, SQSEvent } from "aws-lambda";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { DeferralLedger, SETTLE_MS } from "../src/core/coalesce.ts";
import type { Tick, TicksStoredDetail } from "../src/core/types.ts";
import type { AggregatorResult } from "../src/handlers/aggregator.ts";
import { groupRows } from "../src/adapters/dynamodb-store.ts";
import { FakeTable } from "./fakes/ddb-table.ts";
import { lambdaContext } from "./helpers/context.ts";
import { putEventsAccepted, sqsRecord } from "./helpers/aws.ts";

const AGGREGATION_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:AggregationQueue-test";

process.env.AWS_REGION = "us-east-1";
process.env.STATE_TABLE = "MarketDataState-test";
process.env.EVENT_BUS_NAME = "MarketDataEvents-test";
process.env.EVENT_SOURCE = "market-data.processor";
process.env.EVENT_DETAIL_TYPE = "TicksStored";
process.env.AGGREGATION_QUEUE_URL = "http://sqs.local/000000000000/AggregationQueue-test";
process.env.DATA_RETENTION_DAYS = "30";
process.env.POWERTOOLS_SERVICE_NAME = "aggregator";
process.env.POWERTOOLS_METRICS_NAMESPACE = "MarketData";
process.env.POWERTOOLS_METRICS_DISABLED = "true";
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
const agg = await import("../src/handlers/aggregator.ts");
const proc = await import("../src/handlers/processor.ts");

const T = 1_700_000_100_000 - (1_700_000_100_000 % 300_000); // a 5m window start
let table: FakeTable;
const events = mockClient(EventBridgeClient);
const sqs = mockClient(SQSClient);
let published: TicksStoredDetail[];
/** deferral messages the aggregator sent to its buffer: body and delay */
let deferrals: Array<{ body: string; delaySeconds: number }>;
let remaining: number;
let clock: number;

/** The aggregator on a direct event (its result, not an SQS batch response). */
function run(event: unknown, ctx: Context): Promise<AggregatorResult> {
  return agg.handler(event, ctx) as Promise<AggregatorResult>;
}

function context(): Context {
  return lambdaContext("fn", `req-${clock}`, () => remaining);
}

/** Runs the real processor on messages of ticks; returns the TicksStored events it published. */
async function ingest(...messages: Tick[][]): Promise<TicksStoredDetail[]> {
  const before = published.length;
  const event: SQSEvent = {
    Records: messages.map((ticks, i) => sqsRecord(`m${clock}-${i}`, { v: 1, src: "test", ticks })),
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

/** The stored aggregate of one window, read from its group item (`<SYMBOL>#5m` / 5m start), or undefined. */
function aggItem(symbol: string, interval: "1m" | "5m", start: number) {
  const it = table.items.get(`${symbol}#5m\u0000${start - (start % 300_000)}`);
  if (!it) return undefined;
  const row = groupRows(it, interval).find((r) => r.windowStart === start);
  if (!row) return undefined;
  const { symbol: _s, computedAt: _c, ...rest } = row;
  return rest;
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
    return putEventsAccepted(input);
  });
  deferrals = [];
  sqs.reset();
  sqs.on(SendMessageBatchCommand).callsFake((input) => {
    for (const e of input.Entries ?? []) deferrals.push({ body: e.MessageBody ?? "", delaySeconds: e.DelaySeconds ?? 0 });
    return { Successful: (input.Entries ?? []).map((e: { Id?: string }) => ({ Id: e.Id, MessageId: "x", MD5OfMessageBody: "" })), Failed: [] };
  });
  remaining = 300_000;
  clock = T + 600_000;
  proc.settings.now = () => clock;
  proc.settings.sleep = async () => undefined;
  agg.settings.now = () => clock;
  agg.settings.deferrals = new DeferralLedger(); // a fresh container per test
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
    const res = await run(ticksStored(detail), context());
    assert.equal(res.complete, true);
    assert.deepEqual(aggItem("AAPL", "1m", T), { ...ref(m0), windowStart: T, windowEnd: T + 60_000, interval: "1m" });
    assert.deepEqual(aggItem("AAPL", "1m", T + 120_000), { ...ref(m2), windowStart: T + 120_000, windowEnd: T + 180_000, interval: "1m" });
    assert.deepEqual(aggItem("AAPL", "5m", T), { ...ref([...m0, ...m2]), windowStart: T, windowEnd: T + 300_000, interval: "5m" });
    assert.equal(aggItem("AAPL", "1m", T + 60_000), undefined, "no ticks, no aggregate");
    assert.ok(table.calls.query >= 4, "23 ticks at 7 per page: the 5m range needs several pages");
    // One group item holds the 5m window and its minutes; it carries computedAt and a TTL.
    assert.deepEqual([...table.items.keys()].filter((k) => k.startsWith("AAPL#")), [`AAPL#5m\u0000${T}`]);
    const it = table.items.get(`AAPL#5m\u0000${T}`);
    assert.equal(it?.computedAt?.N, String(clock));
    assert.equal(it?.expiresAt?.N, String(Math.floor(clock / 1000) + 30 * 86_400));
  });

  it("R-EVB-3: running the same event twice gives the same items", async () => {
    const [detail] = await ingest([{ symbol: "MSFT", ts: T + 5, price: 10, volume: 1 }, { symbol: "MSFT", ts: T + 6, price: 11, volume: 3 }]);
    await run(ticksStored(detail!), context());
    // the first run wrote the aggregates (so the snapshot below holds more than the ingested ticks)
    const expected = { open: 10, high: 11, low: 10, close: 11, volume: 4, vwap: 43 / 4, trades: 2 };
    assert.deepEqual(aggItem("MSFT", "1m", T), { ...expected, windowStart: T, windowEnd: T + 60_000, interval: "1m" });
    assert.deepEqual(aggItem("MSFT", "5m", T), { ...expected, windowStart: T, windowEnd: T + 300_000, interval: "5m" });
    const first = JSON.stringify([...table.items.entries()].sort());
    await run(ticksStored(detail!), context());
    assert.equal(JSON.stringify([...table.items.entries()].sort()), first);
  });

  it("R-DATA-5: late data for an old window makes it dirty again and it is recomputed", async () => {
    const old = T - 3 * 86_400_000;
    const [d1] = await ingest([{ symbol: "AAPL", ts: old + 1, price: 10, volume: 1 }]);
    await run(ticksStored(d1!), context());
    assert.equal(aggItem("AAPL", "1m", old)?.trades, 1);
    clock += 3_600_000; // an hour later a late tick arrives for that old minute
    const [d2] = await ingest([{ symbol: "AAPL", ts: old + 59_000, price: 12, volume: 3 }]);
    assert.deepEqual(d2?.windows, [{ symbol: "AAPL", start: old }]);
    await run(ticksStored(d2!), context());
    assert.deepEqual(aggItem("AAPL", "1m", old), { open: 10, high: 12, low: 10, close: 12, volume: 4, vwap: 46 / 4, trades: 2, windowStart: old, windowEnd: old + 60_000, interval: "1m" });
    assert.equal(aggItem("AAPL", "5m", old)?.trades, 2);
  });

  it("R-EVB-2: the schedule reads #DIRTY markers since the cursor (with overlap, paginated) and advances it", async () => {
    // 11 processor invocations -> 11 markers (more than a page); their events are "lost". Every window is closed
    // at the run (open ones are deferred: see the buffer tests).
    for (let i = 0; i < 11; i++) {
      clock = T + 300_000 + i * 1000;
      await ingest([{ symbol: "IBM", ts: T + i * 60_000, price: 100 + i, volume: 1 }]);
    }
    clock = T + 700_000;
    const r1 = await run(scheduled, context());
    assert.equal(r1.markers, 11);
    assert.equal(r1.cursor, clock);
    assert.equal(r1.complete, true);
    for (let i = 0; i < 10; i++) assert.equal(aggItem("IBM", "1m", T + i * 60_000)?.close, 100 + i);
    assert.equal(aggItem("IBM", "1m", T + 600_000), undefined, "its group is still open: deferred, not stored");
    assert.deepEqual(aggItem("IBM", "5m", T + 300_000), { ...ref([5, 6, 7, 8, 9].map((i) => ({ symbol: "IBM", ts: T + i * 60_000, price: 100 + i, volume: 1 }))), windowStart: T + 300_000, windowEnd: T + 600_000, interval: "5m" });
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 700_000));

    // A marker written 100 s before the cursor (inside the 120 s overlap) and one after; the 11 old ones are not re-read.
    // (The first one names a window the first run did not compute: a processor whose marker became visible late.)
    clock = T + 600_000;
    await ingest([{ symbol: "IBM", ts: T + 660_001, price: 50, volume: 1 }]);
    clock = T + 800_000;
    await ingest([{ symbol: "IBM", ts: T + 2, price: 60, volume: 1 }]);
    clock = T + 920_000; // the group T+600000 has closed (and settled)
    const r2 = await run(scheduled, context());
    assert.equal(r2.markers, 2, "markers from lastRun - 120000 only");
    assert.equal(aggItem("IBM", "1m", T + 600_000)?.trades, 1);
    assert.equal(aggItem("IBM", "1m", T + 660_000)?.trades, 1);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 2);
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 920_000));
  });

  it("a scheduled run recomputes a window named by many markers once", async () => {
    for (let i = 0; i < 6; i++) {
      clock = T + 600_000 + i;
      await ingest([{ symbol: "IBM", ts: T + i, price: 1 + i, volume: 1 }]);
    }
    agg.settings.windowsPerStep = 1;
    try {
      const r = await run({ ...scheduled }, context());
      assert.equal(r.markers, 6);
      assert.equal(r.windows5m, 1, "one (symbol, 5m) group recomputed, not one per marker");
      assert.equal(aggItem("IBM", "1m", T)?.trades, 6);
    } finally {
      agg.settings.windowsPerStep = 1000;
    }
  });

  it("the cursor never moves backwards", async () => {
    clock = T + 1_000_000;
    await run(scheduled, context());
    clock = T + 500_000;
    await run(scheduled, context());
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 1_000_000));
  });

  it("a scheduled run short of time keeps the cursor at the first marker it did not finish", async () => {
    clock = T + 600_000;
    await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    remaining = 1000; // below the 5 s reserve: no window is started
    clock = T + 700_000;
    const r = await run(scheduled, context());
    assert.equal(r.complete, false);
    assert.equal(r.cursor, T + 600_000);
    remaining = 300_000;
    clock = T + 800_000;
    const r2 = await run(scheduled, context());
    assert.equal(r2.complete, true);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
  });

  /** Plants ticks straight into the table (bypassing ingestion and its bounds) and a #DIRTY marker naming them. */
  function plant(symbol: string, ticks: Array<{ ts: number; price: string; volume: string }>): void {
    ticks.forEach((t, i) => {
      table.put({ symbol: { S: symbol }, timestamp: { N: `${t.ts}.${String(i + 1).padStart(9, "0")}` }, ts: { N: String(t.ts) }, price: { N: t.price }, volume: { N: t.volume } });
    });
    const windows = [...new Set(ticks.map((t) => t.ts - (t.ts % 60_000)))].map((m) => ({ S: `${symbol}|${m}` }));
    table.put({ symbol: { S: "#DIRTY" }, timestamp: { N: `${clock}.000000007` }, windows: { L: windows } });
  }
  const failedItems = () => table.partition("#FAILED");

  it("issue 14 repro 1: a window whose aggregate cannot be stored is logged, counted, recorded and skipped; the other windows and the cursor move on", async () => {
    const err = mock.method(agg.logger, "error", () => undefined);
    clock = T + 600_000;
    await ingest([{ symbol: "AAPL", ts: T + 1000, price: 10, volume: 2 }]);
    // each volume is a valid DynamoDB number, their sum (1.2e126) is not: DynamoDB answers "Number overflow"
    plant("ZZOVF", [{ ts: T, price: "1", volume: "6e125" }, { ts: T + 1, price: "1", volume: "6e125" }]);
    clock = T + 700_000;
    const r = await run(scheduled, context());
    assert.equal(r.complete, true);
    assert.equal(r.failed, 2, "the 1m and the 5m window of ZZOVF");
    assert.equal(r.cursor, T + 700_000);
    assert.equal(table.items.get("#CURSOR\u00000")?.lastRun?.N, String(T + 700_000), "the cursor advanced");
    assert.equal(aggItem("AAPL", "1m", T)?.volume, 2, "the healthy window is aggregated");
    assert.equal(aggItem("AAPL", "5m", T)?.trades, 1);
    assert.equal(aggItem("ZZOVF", "1m", T), undefined);
    const failed = failedItems();
    assert.deepEqual(failed.map((f) => f.window?.S).sort(), [`ZZOVF#1m|${T}`, `ZZOVF#5m|${T}`]);
    assert.match(failed[0]?.reason?.S ?? "", /volume 1\.2e\+126 is outside DynamoDB's number range/);
    const logged = err.mock.calls.map((c) => JSON.stringify(c.arguments));
    assert.ok(logged.some((l) => l.includes("window skipped") && l.includes(`ZZOVF#1m|${T}`)), logged.join("\n"));
    // the next scheduled run is not held either
    clock = T + 800_000;
    await ingest([{ symbol: "AAPL", ts: T + 2000, price: 20, volume: 2 }]);
    clock = T + 900_000;
    const r2 = await run(scheduled, context());
    assert.equal(r2.cursor, T + 900_000);
    assert.equal(aggItem("AAPL", "1m", T)?.vwap, 15);
  });

  it("issue 14: the same guard on the event path (underflow), and for a put DynamoDB refuses; a transient error still fails the run", async () => {
    mock.method(agg.logger, "error", () => undefined);
    clock = T + 600_000;
    const [detail] = await ingest([{ symbol: "AAPL", ts: T, price: 10, volume: 2 }]);
    // price 1e-130 (DynamoDB's smallest) with this volume gives a VWAP of 9.999999999999999e-131: not storable
    plant("ZZUNF", [{ ts: T, price: "1e-130", volume: "58.52494540022308" }]);
    const r = await run(ticksStored({ windows: [...detail!.windows, { symbol: "ZZUNF", start: T }], ticks: 2 }), context());
    assert.equal(r.failed, 2);
    assert.equal(aggItem("AAPL", "1m", T)?.trades, 1);
    assert.match(failedItems()[0]?.reason?.S ?? "", /vwap 9\.999999999999999e-131 is outside/);
    // a put DynamoDB itself refuses (a rule not checked before): skipped and recorded the same way
    table.restore();
    const refusing = new FakeTable("MarketDataState-test", {
      putError: (it) =>
        it.symbol?.S === "AAPL#5m" ? new DynamoDBServiceException({ name: "ValidationException", $fault: "client", $metadata: {}, message: "Item size has exceeded the maximum allowed size" }) : undefined,
    });
    for (const [k, v] of table.items) refusing.items.set(k, v);
    table = refusing;
    const r2 = await run(ticksStored(detail!), context());
    assert.equal(r2.failed, 1, "the group item is refused as a whole: recorded once, under its 5m window");
    assert.equal(r2.written, 0);
    assert.ok(failedItems().some((f) => f.window?.S === `AAPL#5m|${T}` && /Item size has exceeded/.test(f.reason?.S ?? "")));
    // a throttled put is not the data's fault: the invocation fails (and is retried), as before
    table.restore();
    table = new FakeTable("MarketDataState-test", {
      putError: (it) =>
        it.symbol?.S?.startsWith("AAPL#") ? new DynamoDBServiceException({ name: "ThrottlingException", $fault: "client", $metadata: {}, message: "slow down" }) : undefined,
    });
    for (const [k, v] of refusing.items) table.items.set(k, v);
    await assert.rejects(agg.handler(ticksStored(detail!), context()), /slow down/);
  });

  it("an event that cannot be finished in time fails (EventBridge retries; the schedule has the marker)", async () => {
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    remaining = 1000;
    await assert.rejects(run(ticksStored(detail!), context()), /time ran out after 0 of 1 window groups/);
  });

  it("a stored group that read MORE ticks (a newer recompute) is not overwritten by a stale one", async () => {
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    table.put({ symbol: { S: "IBM#5m" }, timestamp: { N: String(T) }, ticks: { N: "5" }, open: { N: "7" } });
    const r = await run(ticksStored(detail!), context());
    assert.equal(r.keptNewer, 1);
    assert.equal(table.items.get(`IBM#5m\u0000${T}`)?.open?.N, "7", "the group that read 5 ticks is kept");
  });

  it("bad events: unknown source fails loudly; invalid windows are named, valid ones still recomputed", async () => {
    const err = mock.method(agg.logger, "error");
    await assert.rejects(run({ source: "x", "detail-type": "y" }, context()), /unsupported event/);
    assert.equal(err.mock.callCount(), 1);
    await assert.rejects(run(ticksStored({ ticks: 0 } as unknown as TicksStoredDetail), context()), /no "windows" array/);
    const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    const bad = { windows: [...detail!.windows, { symbol: "IBM", start: T + 1 }], ticks: 1 };
    await assert.rejects(run(ticksStored(bad), context()), /windows\[1\]: window start 1\d+ is not a non-negative multiple of 60000/);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
  });

  it("R-EVB-1: source and detail-type are the component's EVENT_SOURCE / EVENT_DETAIL_TYPE: the processor emits them, the aggregator accepts only them", async () => {
    const saved = { EVENT_SOURCE: process.env.EVENT_SOURCE, EVENT_DETAIL_TYPE: process.env.EVENT_DETAIL_TYPE };
    process.env.EVENT_SOURCE = "acme.ticks";
    process.env.EVENT_DETAIL_TYPE = "Stored";
    try {
      const [detail] = await ingest([{ symbol: "IBM", ts: T, price: 2, volume: 3 }]);
      const entry = events.commandCalls(PutEventsCommand).at(-1)?.args[0].input.Entries?.[0];
      assert.equal(entry?.Source, "acme.ticks");
      assert.equal(entry?.DetailType, "Stored");
      mock.method(agg.logger, "error", () => undefined);
      await assert.rejects(run(ticksStored(detail!), context()), /unsupported event .*expected acme\.ticks\/Stored or aws\.events/);
      assert.equal(aggItem("IBM", "1m", T), undefined);
      await run({ ...ticksStored(detail!), source: "acme.ticks", "detail-type": "Stored" }, context());
      assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
      assert.deepEqual(agg.windowsOf(ticksStored(detail!)).valid, [], "a buffered message of another source names no window");
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  /** Random ticks, redelivered and shuffled across batches, through the processor and a scheduled run -> reference. */
  async function referenceProperty(numRuns: number): Promise<void> {
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
        clock = T + 2_000_000; // every window closed: the schedule computes them all
        await run(scheduled, context());
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
      { numRuns },
    );
  }

  it("property (R-DATA-5, R-EVB-3): random ticks, redelivered and shuffled across batches -> reference aggregates", async () => {
    await referenceProperty(25);
  });

  it("the same property with both handlers on the in-memory TickStore (the port alone, no DynamoDB protocol)", async () => {
    const [procStore, aggStore] = [proc.settings.store, agg.settings.store];
    proc.settings.store = () => table;
    agg.settings.store = () => table;
    const calls = { ...table.calls };
    try {
      await referenceProperty(10);
      assert.deepEqual(table.calls, calls, "no DynamoDB command was sent");
    } finally {
      proc.settings.store = procStore;
      agg.settings.store = aggStore;
    }
  });
});

describe("DataAggregator behind the aggregation buffer (R-FN-5, R-EVB-1, R-PERF-1)", () => {
  async function runBatch(bodies: Array<{ id: string; body: string }>) {
    return (await agg.handler({ Records: bodies.map((b) => sqsRecord(b.id, b.body, AGGREGATION_QUEUE_ARN)) }, context())) as {
      batchItemFailures: Array<{ itemIdentifier: string }>;
    };
  }

  it("R-PERF-1: a batch of events for open windows writes nothing and defers each window once; it is computed once after it closes", async () => {
    clock = T + 10_000; // minute T and 5m window T are open
    const bodies: Array<{ id: string; body: string }> = [];
    for (let i = 0; i < 20; i++) {
      const [d] = await ingest([{ symbol: "AAPL", ts: T + i * 100, price: 10 + i, volume: 1 }]);
      bodies.push({ id: `e${i}`, body: JSON.stringify(ticksStored(d!)) });
    }
    const puts = table.calls.put;
    const queries = table.calls.query;
    const r = await runBatch(bodies);
    assert.deepEqual(r.batchItemFailures, []);
    assert.equal(table.calls.put, puts, "no aggregate written for an open window");
    assert.equal(table.calls.query, queries, "no tick read for an open window");
    assert.equal(deferrals.length, 1, "20 events, one window: one deferral");
    assert.deepEqual(JSON.parse(deferrals[0]!.body), { v: 1, deferred: [{ symbol: "AAPL", start: T, interval: "5m" }] }, "deferred as its group");
    assert.equal(deferrals[0]!.delaySeconds, 290 + SETTLE_MS / 1000, "until the 5m window's end plus the settle time");
    // The deferral comes back after the 5m window closed: the whole group (1m and 5m) computed from one read, once.
    clock = T + 300_000 + SETTLE_MS;
    const q = table.calls.query;
    await runBatch(deferrals.splice(0).map((d, i) => ({ id: `f${i}`, body: d.body })));
    assert.equal(aggItem("AAPL", "1m", T)?.trades, 20);
    assert.equal(aggItem("AAPL", "5m", T)?.trades, 20);
    assert.equal(table.calls.put - puts, 1, "one item for the group");
    assert.ok(table.calls.query - q <= 3, "one paginated read of the 5m window (20 ticks at 7 per page)");
    assert.equal(deferrals.length, 0);
  });

  it("R-PERF-1: a later run in the same container does not defer an open window again; a deferral SQS refused is not remembered", async () => {
    clock = T + 10_000;
    const [a] = await ingest([{ symbol: "AAPL", ts: T, price: 1, volume: 1 }]);
    await runBatch([{ id: "a", body: JSON.stringify(ticksStored(a!)) }]);
    assert.equal(deferrals.length, 1);
    clock = T + 30_000;
    const [b] = await ingest([{ symbol: "AAPL", ts: T + 1, price: 2, volume: 1 }, { symbol: "MSFT", ts: T, price: 3, volume: 1 }]);
    await runBatch([{ id: "b", body: JSON.stringify(ticksStored(b!)) }]);
    assert.deepEqual(
      deferrals.slice(1).flatMap((d) => JSON.parse(d.body).deferred),
      [{ symbol: "MSFT", start: T, interval: "5m" }],
      "AAPL's group has a pending deferral from this container: only MSFT's is sent",
    );
    // another container (a cold start) knows nothing and defers it again: a repeat, never a loss
    agg.settings.deferrals = new DeferralLedger();
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied" }));
    const failed = await runBatch([{ id: "c", body: JSON.stringify(ticksStored(b!)) }]);
    assert.deepEqual(failed.batchItemFailures, [{ itemIdentifier: "c" }], "the deferral was not sent: the record fails");
    sqs.on(SendMessageBatchCommand).callsFake((input) => {
      for (const e of input.Entries ?? []) deferrals.push({ body: e.MessageBody ?? "", delaySeconds: e.DelaySeconds ?? 0 });
      return { Successful: (input.Entries ?? []).map((e: { Id?: string }) => ({ Id: e.Id, MessageId: "x", MD5OfMessageBody: "" })), Failed: [] };
    });
    const before = deferrals.length;
    assert.deepEqual((await runBatch([{ id: "c", body: JSON.stringify(ticksStored(b!)) }])).batchItemFailures, []);
    assert.equal(deferrals.length - before, 1, "the redelivered record defers both windows again (nothing was remembered)");
    assert.equal(JSON.parse(deferrals[before]!.body).deferred.length, 2);
    // the pending deferrals come back: both groups are computed with every tick
    clock = T + 300_000 + SETTLE_MS + 1000;
    await runBatch(deferrals.splice(0).map((d, i) => ({ id: `d${i}`, body: d.body })));
    assert.equal(aggItem("AAPL", "1m", T)?.trades, 2);
    assert.equal(aggItem("MSFT", "1m", T)?.trades, 1);
  });

  it("R-PERF-1/R-EVB-3: the schedule skips a window already computed after its newest marker, and recomputes one that is not", async () => {
    clock = T + 400_000;
    const [d] = await ingest([{ symbol: "AAPL", ts: T, price: 1, volume: 1 }], [{ symbol: "MSFT", ts: T, price: 1, volume: 1 }]);
    clock = T + 405_000;
    await runBatch([{ id: "e", body: JSON.stringify(ticksStored(d!)) }]); // both computed at T+405000
    clock = T + 410_000;
    await ingest([{ symbol: "MSFT", ts: T + 1, price: 3, volume: 1 }]); // its event is lost: only the marker tells
    clock = T + 500_000;
    const puts = table.calls.put;
    const r = await run(scheduled, context());
    assert.equal(r.fresh, 1, "AAPL's group was computed after its marker: skipped");
    assert.equal(table.calls.put - puts, 2, "MSFT's group rewritten, plus the cursor");
    assert.equal(aggItem("MSFT", "1m", T)?.trades, 2);
    assert.equal(aggItem("MSFT", "5m", T)?.close, 3);
    assert.equal(aggItem("AAPL", "5m", T)?.trades, 1);
  });

  it("R-SQS-3: a record naming an invalid window or an unknown message is a batch item failure; the others succeed", async () => {
    const [d] = await ingest([{ symbol: "IBM", ts: T, price: 1, volume: 1 }]);
    const r = await runBatch([
      { id: "good", body: JSON.stringify(ticksStored(d!)) },
      { id: "notjson", body: "{" },
      { id: "alien", body: JSON.stringify({ source: "x" }) },
      { id: "badwin", body: JSON.stringify({ v: 1, deferred: [{ symbol: "IBM", start: T + 1, interval: "1m" }] }) },
    ]);
    assert.deepEqual(r.batchItemFailures.map((f) => f.itemIdentifier).sort(), ["alien", "badwin", "notjson"]);
    assert.equal(aggItem("IBM", "1m", T)?.trades, 1);
  });

  it("R-SQS-3: a window group that fails fails only the records naming it", async () => {
    const [a] = await ingest([{ symbol: "AAPL", ts: T, price: 1, volume: 1 }]);
    const [b] = await ingest([{ symbol: "MSFT", ts: T, price: 2, volume: 1 }]);
    const orig = table.opts.putError;
    table.opts.putError = (item) => (item.symbol?.S?.startsWith("MSFT") ? new Error("boom") : undefined);
    const r = await runBatch([
      { id: "a", body: JSON.stringify(ticksStored(a!)) },
      { id: "b", body: JSON.stringify(ticksStored(b!)) },
    ]);
    table.opts.putError = orig;
    assert.deepEqual(r.batchItemFailures, [{ itemIdentifier: "b" }]);
    assert.equal(aggItem("AAPL", "1m", T)?.trades, 1);
  });

  it("R-PERF-1/R-SQS-3: a batch that runs short of time hands the groups it had no time for on in a continuation due at once, instead of failing and being computed again whole; the continuation finishes them", async () => {
    // 12 symbols trading in the 5m window T, whose deferral comes back after it closed
    const syms = Array.from({ length: 12 }, (_, i) => `S${i}`);
    clock = T + 10_000;
    const ds = await ingest(syms.map((symbol, i) => ({ symbol, ts: T + i, price: 10 + i, volume: i + 1 })));
    await runBatch(ds.map((d, i) => ({ id: `e${i}`, body: JSON.stringify(ticksStored(d)) })));
    assert.equal(deferrals.length, 1);
    clock = T + 300_000 + SETTLE_MS;
    const back = deferrals.splice(0);
    // time runs short after the first few groups were read (the 5 s reserve is crossed)
    const q0 = table.calls.query;
    const short = lambdaContext("fn", "short", () => (table.calls.query - q0 >= 4 ? 1_000 : 300_000));
    const puts = table.calls.put;
    const r = (await agg.handler({ Records: back.map((d, i) => sqsRecord(`d${i}`, d.body)) }, short)) as { batchItemFailures: unknown[] };
    assert.deepEqual(r.batchItemFailures, [], "the record is not redelivered: its unfinished groups went on");
    const done = table.calls.put - puts;
    assert.ok(done >= 4 && done < syms.length, `some groups done (${done}), not all`);
    assert.equal(deferrals.length, 1, "one continuation message");
    assert.equal(deferrals[0]!.delaySeconds, 0, "due at once");
    const cont = JSON.parse(deferrals[0]!.body).deferred as Array<{ symbol: string; start: number; interval: string }>;
    const stored = syms.filter((sym) => aggItem(sym, "5m", T) !== undefined);
    assert.deepEqual(cont.map((w) => w.symbol).sort(), syms.filter((sym) => !stored.includes(sym)).sort(), "exactly the groups not done");
    assert.ok(cont.every((w) => w.start === T && w.interval === "5m"));
    // the continuation computes the rest, each group once
    const puts2 = table.calls.put;
    assert.deepEqual((await runBatch(deferrals.splice(0).map((d, i) => ({ id: `c${i}`, body: d.body })))).batchItemFailures, []);
    assert.equal(table.calls.put - puts2, cont.length);
    for (const [i, sym] of syms.entries()) {
      const want = ref([{ symbol: sym, ts: T + i, price: 10 + i, volume: i + 1 }])!;
      const got = aggItem(sym, "5m", T) as Record<string, unknown>;
      assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, got[k]])), want, sym);
    }
    // a continuation SQS refuses leaves the records failing, as before (redelivered, then the buffer's DLQ)
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied" }));
    table.items.clear();
    const q1 = table.calls.query;
    const short2 = lambdaContext("fn", "short2", () => (table.calls.query - q1 >= 2 ? 1_000 : 300_000));
    const r2 = (await agg.handler({ Records: back.map((d, i) => sqsRecord(`d${i}`, d.body)) }, short2)) as { batchItemFailures: Array<{ itemIdentifier: string }> };
    assert.deepEqual(r2.batchItemFailures.map((f) => f.itemIdentifier), back.map((_d, i) => `d${i}`));
  });

  it("property (R-PERF-1, R-EVB-3): any interleaving, duplication and redelivery of ticks, events and deferrals -> stored aggregates equal a recompute from the ticks", async () => {
    const tickArb = fc.record({
      symbol: fc.constantFrom("AAPL", "MSFT"),
      ts: fc.integer({ min: T, max: T + 599_999 }),
      price: fc.integer({ min: 1, max: 2000 }).map((p) => p / 4),
      volume: fc.integer({ min: 0, max: 1000 }),
    });
    const stepArb = fc.oneof(
      // `lost`: the processor's PutEvents failed (only its #DIRTY marker tells the schedule)
      fc.record({ kind: fc.constant("ingest" as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), lost: fc.boolean() }),
      fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 150_000 }) }),
      // consume some visible buffer messages (any order); `keep` leaves them in the queue (a redelivery later)
      // `container`: which of two warm instances runs the batch (each remembers its own deferrals; `cold` forgets them)
      fc.record({
        kind: fc.constant("consume" as const),
        picks: fc.array(fc.nat(), { maxLength: 6 }),
        keep: fc.boolean(),
        container: fc.nat(1),
        cold: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("schedule" as const), container: fc.nat(1) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(tickArb, { minLength: 1, maxLength: 30, selector: (t) => `${t.symbol}|${t.ts}` }),
        fc.array(stepArb, { maxLength: 40 }),
        // false: no event is lost and no schedule runs, so the buffer and its deferrals alone must be exact
        fc.boolean(),
        async (ticks, steps, safetyNet) => {
          table.items.clear();
          deferrals = [];
          clock = T;
          const containers = [new DeferralLedger(), new DeferralLedger()];
          const on = (c: number, cold = false) => {
            if (cold) containers[c] = new DeferralLedger();
            agg.settings.deferrals = containers[c]!;
          };
          const buffer: Array<{ id: string; body: string; visibleAt: number }> = [];
          let n = 0;
          const pending = new Set(ticks);
          const takeDeferrals = () => {
            for (const d of deferrals.splice(0)) buffer.push({ id: `q${n++}`, body: d.body, visibleAt: clock + d.delaySeconds * 1000 });
          };
          const consume = async (picks: number[], keep: boolean) => {
            const visible = buffer.filter((m) => m.visibleAt <= clock);
            const chosen = [...new Set(picks.map((p) => visible[p % Math.max(1, visible.length)]).filter((m) => m !== undefined))];
            if (chosen.length === 0) return;
            const r = await runBatch(chosen);
            assert.deepEqual(r.batchItemFailures, []);
            if (!keep) for (const m of chosen) buffer.splice(buffer.indexOf(m), 1);
            takeDeferrals();
          };
          for (const s of steps) {
            if (s.kind === "ingest") {
              const batch = s.picks.map((p) => ticks[p % ticks.length]!);
              for (const t of batch) pending.delete(t);
              const events = await ingest(batch);
              if (!s.lost || !safetyNet) for (const d of events) buffer.push({ id: `q${n++}`, body: JSON.stringify(ticksStored(d)), visibleAt: clock });
            } else if (s.kind === "advance") clock += s.ms;
            else if (s.kind === "consume") {
              on(s.container, s.cold);
              await consume(s.picks, s.keep);
            } else if (safetyNet) {
              on(s.container);
              await run(scheduled, context());
              takeDeferrals();
            }
          }
          // The ticks not sent yet arrive, then the buffer drains as time goes on.
          if (pending.size > 0) {
            for (const d of await ingest(...[...pending].map((t) => [t]))) buffer.push({ id: `q${n++}`, body: JSON.stringify(ticksStored(d)), visibleAt: clock });
          }
          // Later, the schedule catches up with lost events (its deferrals go through the buffer too).
          clock += 1000;
          if (safetyNet) {
            await run(scheduled, context());
            takeDeferrals();
          }
          for (let guard = 0; buffer.length > 0; guard++) {
            assert.ok(guard < 100, "the buffer drains");
            clock = Math.max(clock, Math.min(...buffer.map((m) => m.visibleAt)));
            await consume(buffer.filter((m) => m.visibleAt <= clock).map((_, i) => i), false);
          }
          for (const symbol of ["AAPL", "MSFT"]) {
            for (const [interval, size] of [["1m", 60_000], ["5m", 300_000]] as const) {
              for (let start = T; start < T + 600_000; start += size) {
                const expected = ref(ticks.filter((t) => t.symbol === symbol && t.ts >= start && t.ts < start + size));
                const got = aggItem(symbol, interval, start);
                if (!expected) assert.equal(got, undefined);
                else assert.deepEqual(got, { ...expected, windowStart: start, windowEnd: start + size, interval }, `${symbol} ${interval} ${start}`);
              }
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
