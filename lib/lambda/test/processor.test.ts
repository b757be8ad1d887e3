// DataProcessor (R-FN-4, R-DATA-4, R-EVB-1, R-EVB-3, R-DDB-2 TTL) against an in-memory table and a mocked EventBridge.
import "./helpers/processor-env.ts";
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { FullBatchFailureError } from "@aws-lambda-powertools/batch";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import type { Tick, TicksStoredDetail } from "../src/core/types.ts";
import { FakeTable } from "./fakes/ddb-table.ts";
import { lambdaContext } from "./helpers/context.ts";
import { putEventsAccepted, sqsRecord } from "./helpers/aws.ts";

process.env.POWERTOOLS_METRICS_DISABLED = "true"; // processor-metrics.test.ts reads the metrics
const { handler, logger, settings } = await import("../src/handlers/processor.ts");
const { retentionDays } = await import("../src/adapters/config.ts");
const { tickKey } = await import("../src/core/keys.ts");
const { chunkEntries, entrySize } = await import("../src/adapters/events.ts");

const NOW = 1_700_000_100_000;
const T = 1_700_000_040_000; // a 1m window start
let table: FakeTable;
const events = mockClient(EventBridgeClient);
let sleeps: number[];
let remaining: number;

function context(): Context {
  return lambdaContext("DataProcessor-test", "req-1", () => remaining);
}

const record = (id: string, body: unknown): SQSRecord => sqsRecord(id, body);

const msg = (ticks: unknown[]): unknown => ({ v: 1, src: "api:test", ticks });
const tick = (symbol: string, ts: number, price = 100, volume = 1, extra?: Record<string, unknown>): Tick =>
  extra ? { symbol, ts, price, volume, extra } : { symbol, ts, price, volume };
const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

function tickItems(): Array<Record<string, unknown>> {
  return [...table.items.values()].filter((i) => !String(i.symbol?.S).startsWith("#"));
}
function markers() {
  return table.partition("#DIRTY");
}
function putEventsEntries(): PutEventsRequestEntry[][] {
  return events.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries ?? []);
}
function eventWindows(): Array<{ symbol: string; start: number }> {
  return putEventsEntries().flat().flatMap((e) => (JSON.parse(e.Detail ?? "{}") as TicksStoredDetail).windows);
}

beforeEach(() => {
  table = new FakeTable("MarketDataState-test");
  events.reset();
  events.on(PutEventsCommand).callsFake(putEventsAccepted);
  sleeps = [];
  remaining = 300_000;
  settings.sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  settings.random = () => 0.5;
  settings.now = () => NOW;
});
afterEach(() => {
  table.restore();
  mock.restoreAll();
});

describe("DataProcessor", () => {
  it("R-FN-4/R-DATA-4: stores each distinct tick once (TTL set), one marker, ONE PutEvents naming the touched windows", async () => {
    const a = tick("AAPL", T + 1, 189.5, 100, { tradeId: "1" });
    const res = await handler(
      sqsEvent(
        record("m1", msg([a, tick("AAPL", T + 1, 189.5, 100, { tradeId: "2" }), tick("MSFT", T + 61_000, 400, 5)])),
        record("m2", msg([a, tick("AAPL", T + 60_000, 190, 10)])), // `a` again: a redelivery of the same tick
      ),
      context(),
    );
    assert.deepEqual(res, { batchItemFailures: [] });
    const items = tickItems();
    assert.equal(items.length, 4, "the duplicate tick is one item; same-ms distinct ticks are two");
    const stored = table.items.get(`AAPL\u0000${tickKey(a).replace(/0+$/, "").replace(/\.$/, "")}`);
    assert.ok(stored, "the tick is stored under its content key");
    assert.equal(stored.price?.N, "189.5");
    assert.equal(stored.ts?.N, String(T + 1));
    assert.deepEqual(stored.extra, { S: '{"tradeId":"1"}' }, "extra is stored as its JSON text (issue 14)");
    assert.equal(stored.expiresAt?.N, String(Math.floor(NOW / 1000) + 30 * 86_400), "R-DDB-2 TTL from DATA_RETENTION_DAYS");
    // One PutEvents call with one entry (R-EVB-1), naming each (symbol, 1m window) pair once.
    assert.equal(events.commandCalls(PutEventsCommand).length, 1);
    const entries = putEventsEntries()[0] ?? [];
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.Source, "market-data.processor");
    assert.equal(entries[0]?.DetailType, "TicksStored");
    assert.equal(entries[0]?.EventBusName, "MarketDataEvents-test");
    const detail = JSON.parse(entries[0]?.Detail ?? "{}") as TicksStoredDetail;
    assert.deepEqual(detail.windows, [
      { symbol: "AAPL", start: T },
      { symbol: "AAPL", start: T + 60_000 },
      { symbol: "MSFT", start: T + 60_000 },
    ]);
    assert.equal(detail.ticks, 4, "distinct ticks written (the redelivered one counts once)");
    // One #DIRTY marker per invocation with the same pairs.
    const ms = markers();
    assert.equal(ms.length, 1);
    assert.deepEqual(
      ms[0]?.windows?.L?.map((v) => v.S),
      [`AAPL|${T}`, `AAPL|${T + 60_000}`, `MSFT|${T + 60_000}`],
    );
    assert.equal(Math.trunc(Number(ms[0]?.timestamp?.N)), NOW);
    assert.equal(ms[0]?.expiresAt?.N, String(Math.floor(NOW / 1000) + 86_400));
  });

  it("writes 25 items per BatchWriteItem call", async () => {
    const ticks = Array.from({ length: 60 }, (_, i) => tick("AAPL", T + i));
    await handler(sqsEvent(record("m1", msg(ticks.slice(0, 30))), record("m2", msg(ticks.slice(30)))), context());
    assert.deepEqual(table.batchSizes.sort((a, b) => b - a), [25, 25, 10]);
    assert.equal(tickItems().length, 60);
  });

  it("R-FN-4: a poison message fails only itself (partial batch response) and is logged as an error", async () => {
    const err = mock.method(logger, "error");
    const res = await handler(
      sqsEvent(
        // A large integer field is valid data (marshall would throw above 2^53): it must be stored, not poison.
        record("good", msg([tick("AAPL", T, 1, 1, { tradeId: 12345678901234567890 })])),
        record("notjson", "{oops"),
        record("badprice", msg([tick("AAPL", T), { symbol: "AAPL", ts: T, price: -1, volume: 1 }])),
        record("badversion", { v: 2, src: "x", ticks: [] }),
        record("huge", msg([tick("AAPL", T, 1e200)])),
        record("badsymbol", msg([tick("aapl", T)])),
        record("badextra", msg([tick("AAPL", T, 1, 1, { n: 1e-200 })])),
      ),
      context(),
    );
    assert.deepEqual(
      res.batchItemFailures.map((f) => f.itemIdentifier).sort(),
      ["badextra", "badprice", "badsymbol", "badversion", "huge", "notjson"],
    );
    assert.equal(tickItems().length, 1, "the good message is stored");
    assert.deepEqual(tickItems()[0]?.extra, { S: '{"tradeId":12345678901234567000}' });
    const reasons = err.mock.calls.map((c) => JSON.stringify(c.arguments));
    assert.ok(reasons.some((r) => r.includes("ticks[1] price -1")), reasons.join("\n"));
    assert.ok(reasons.some((r) => r.includes("not JSON")));
    assert.ok(reasons.some((r) => r.includes("outside DynamoDB's number range")));
    assert.ok(reasons.some((r) => r.includes("price 1e+200 is not a number from 1e-30 to 1e+30")), reasons.join("\n"));
    assert.equal(eventWindows().length, 1);
  });

  it("an all-poison batch throws FullBatchFailureError (the whole batch goes back to the queue)", async () => {
    await assert.rejects(handler(sqsEvent(record("a", "[]"), record("b", "null")), context()), FullBatchFailureError);
    assert.equal(events.commandCalls(PutEventsCommand).length, 0, "nothing written, no event");
  });

  it("UnprocessedItems are retried with exponential backoff and full jitter, then succeed", async () => {
    table.opts.unprocessed = (_item, call) => call < 2; // the first two calls write nothing
    const res = await handler(sqsEvent(record("m1", msg([tick("AAPL", T), tick("AAPL", T + 1)]))), context());
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal(tickItems().length, 2);
    assert.equal(table.calls.batchWrite, 3);
    // random() = 0.5 -> delay = 0.5 * min(5000, 50 * 2^attempt)
    assert.deepEqual(sleeps, [50, 100]);
  });

  it("UnprocessedItems exhaustion fails exactly the messages whose ticks were not written", async () => {
    const err = mock.method(logger, "error");
    table.opts.unprocessed = (item) => item.symbol?.S === "MSFT";
    const res = await handler(
      sqsEvent(
        record("aapl", msg([tick("AAPL", T)])),
        record("mixed", msg([tick("AAPL", T + 5), tick("MSFT", T)])),
        record("msft", msg([tick("MSFT", T + 1)])),
      ),
      context(),
    );
    assert.deepEqual(res.batchItemFailures.map((f) => f.itemIdentifier).sort(), ["mixed", "msft"]);
    assert.equal(sleeps.length, settings.maxAttempts - 1, "bounded attempts");
    // The written AAPL ticks are named; the unwritten MSFT ones are not (their redelivery will name them).
    assert.deepEqual(eventWindows(), [{ symbol: "AAPL", start: T }]);
    assert.ok(err.mock.calls.some((c) => JSON.stringify(c.arguments).includes("not written after 8 BatchWriteItem attempts")));
  });

  it("retries stop when the invocation's remaining time runs short", async () => {
    table.opts.unprocessed = () => true;
    remaining = 3_040; // reserve is 3000 ms: the 50 ms backoff would cross it
    await assert.rejects(handler(sqsEvent(record("m1", msg([tick("AAPL", T)]))), context()), FullBatchFailureError);
    assert.equal(table.calls.batchWrite, 1);
    assert.deepEqual(sleeps, []);
  });

  it("a throttling error is retried; a non-retryable error is bisected down to the offending item", async () => {
    const bad = tick("AAPL", T + 7, 7);
    const badKey = tickKey(bad);
    table.opts.batchError = (call, items) => {
      if (call === 0) return new DynamoDBServiceException({ name: "ProvisionedThroughputExceededException", $fault: "client", $metadata: {}, message: "slow down" });
      if (items.some((i) => i.timestamp?.N === badKey)) {
        return new DynamoDBServiceException({ name: "ValidationException", $fault: "client", $metadata: {}, message: "item too large" });
      }
      return undefined;
    };
    const others = Array.from({ length: 10 }, (_, i) => tick("AAPL", T + 100 + i));
    const res = await handler(sqsEvent(record("good", msg(others)), record("bad", msg([bad]))), context());
    assert.deepEqual(res.batchItemFailures, [{ itemIdentifier: "bad" }]);
    assert.equal(tickItems().length, 10);
    assert.equal(sleeps.length, 1, "one backoff after the throttling error");
  });

  it("issue 14 repro 3: a lone surrogate in the middle of a batch fails only its own message (poison), healthy ones are stored", async () => {
    const healthy = (i: number) => record(`ok${i}`, msg(Array.from({ length: 10 }, (_, j) => tick("AAPL", T + i * 100 + j, 1 + j, 1, { note: "fine" }))));
    const poison = record("poison", `{"v":1,"src":"api:test","ticks":[{"symbol":"AAPL","ts":${T + 999},"price":1,"volume":1,"extra":{"note":"\\ud800"}}]}`);
    const res = await handler(sqsEvent(healthy(0), healthy(1), poison, healthy(2), healthy(3)), context());
    assert.deepEqual(res.batchItemFailures, [{ itemIdentifier: "poison" }]);
    assert.equal(tickItems().length, 40, "every healthy tick is stored");
  });

  it("issue 14 repro 3: a server error one item causes (moto's 500 for a string it cannot encode) is bisected, not retried whole", async () => {
    const err = mock.method(logger, "error");
    const bad = tick("AAPL", T + 999, 1, 1, { note: "the item this store cannot take" });
    const badKey = tickKey(bad);
    table.opts.batchError = (_call, items) =>
      items.some((i) => i.timestamp?.N === badKey)
        ? new DynamoDBServiceException({ name: "InternalServerError", $fault: "server", $metadata: { httpStatusCode: 500 }, message: "Internal Server Error" })
        : undefined;
    const healthy = (i: number) => record(`ok${i}`, msg(Array.from({ length: 10 }, (_, j) => tick("AAPL", T + i * 100 + j))));
    const res = await handler(sqsEvent(healthy(0), healthy(1), record("poison", msg([bad])), healthy(2), healthy(3)), context());
    assert.deepEqual(res.batchItemFailures, [{ itemIdentifier: "poison" }], "healthy neighbours never fail (nor reach the DLQ) for it");
    assert.equal(tickItems().length, 40);
    assert.equal(sleeps.length, settings.maxAttempts - 1, "only the lone bad item is retried, with backoff, a bounded number of times");
    assert.ok(err.mock.calls.some((c) => JSON.stringify(c.arguments).includes("InternalServerError")));
  });

  it("R-EVB-3: PutEvents FailedEntryCount > 0 is retried for the failed entries only", async () => {
    let call = 0;
    events.on(PutEventsCommand).callsFake((input) => {
      call++;
      return call === 1
        ? { FailedEntryCount: 1, Entries: [{ ErrorCode: "ThrottlingException", ErrorMessage: "x" }] }
        : { FailedEntryCount: 0, Entries: (input.Entries ?? []).map(() => ({ EventId: "e" })) };
    });
    const res = await handler(sqsEvent(record("m1", msg([tick("AAPL", T)]))), context());
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal(putEventsEntries().length, 2);
    assert.deepEqual(putEventsEntries()[1], putEventsEntries()[0]);
  });

  it("PutEvents failing for good is logged as an error; records still succeed (the #DIRTY marker covers them)", async () => {
    const err = mock.method(logger, "error");
    events.on(PutEventsCommand).rejects(new Error("EventBridge down"));
    const res = await handler(sqsEvent(record("m1", msg([tick("AAPL", T)]))), context());
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal(markers().length, 1);
    assert.equal(events.commandCalls(PutEventsCommand).length, 3, "bounded retries");
    assert.ok(err.mock.calls.some((c) => String(c.arguments[0]).includes("TicksStored events not delivered")));
  });

  it("a #DIRTY marker that cannot be written fails every record (redelivery re-writes idempotently)", async () => {
    table.opts.putError = (item) => (item.symbol?.S === "#DIRTY" ? new Error("boom") : undefined);
    await assert.rejects(
      handler(sqsEvent(record("m1", msg([tick("AAPL", T)])), record("m2", msg([tick("MSFT", T)]))), context()),
      FullBatchFailureError,
    );
  });

  it("late data: a tick for an old window names that old window in the marker and the event", async () => {
    const old = T - 7 * 86_400_000;
    await handler(sqsEvent(record("late", msg([tick("AAPL", old + 5)]))), context());
    assert.deepEqual(eventWindows(), [{ symbol: "AAPL", start: old }]);
    assert.deepEqual(markers()[0]?.windows?.L?.map((v) => v.S), [`AAPL|${old}`]);
  });

  it("many windows: still ONE PutEvents call, several entries of <= 500 windows", async () => {
    const ticks = Array.from({ length: 1200 }, (_, i) => tick("AAPL", T + i * 60_000));
    await handler(sqsEvent(record("m1", msg(ticks))), context());
    assert.equal(events.commandCalls(PutEventsCommand).length, 1);
    assert.deepEqual(putEventsEntries()[0]?.map((e) => (JSON.parse(e.Detail ?? "") as TicksStoredDetail).windows.length), [500, 500, 200]);
    assert.equal(eventWindows().length, 1200);
    assert.equal(markers().length, 1);
  });

  it("an empty message stores nothing and emits no event; DATA_RETENTION_DAYS is validated", async () => {
    const res = await handler(sqsEvent(record("m1", msg([]))), context());
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal(events.commandCalls(PutEventsCommand).length, 0);
    process.env.DATA_RETENTION_DAYS = "0";
    const err = mock.method(logger, "error");
    try {
      assert.throws(() => retentionDays(), /DATA_RETENTION_DAYS="0" is not a whole number of days from 1 to 36500/);
      await assert.rejects(handler(sqsEvent(record("m1", msg([tick("AAPL", T)]))), context()), /DATA_RETENTION_DAYS/);
      assert.equal(err.mock.callCount(), 1, "a configuration error is logged as ERROR");
    } finally {
      process.env.DATA_RETENTION_DAYS = "30";
    }
  });

  it("PutEvents entries are chunked to the API limits only when needed (10 entries, 256 KB per call)", () => {
    const small = { Source: "market-data.processor", DetailType: "TicksStored", Detail: "{}" };
    assert.deepEqual(chunkEntries(Array(25).fill(small)).map((c) => c.length), [10, 10, 5]);
    assert.deepEqual(chunkEntries([small]).map((c) => c.length), [1]);
    const big = { ...small, Detail: "x".repeat(100_000) };
    assert.equal(entrySize(big), 14 + 21 + 11 + 100_000);
    assert.deepEqual(chunkEntries([big, big, big, small]).map((c) => c.length), [2, 2]);
    assert.throws(() => chunkEntries([{ ...small, Detail: "x".repeat(300_000) }]), /exceeds 262144/);
  });
});
