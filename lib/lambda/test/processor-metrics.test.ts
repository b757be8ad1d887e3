/**
 * DataProcessor's published metrics (EMF), across failed records and their redelivery. A file of its own because
 * processor.test.ts runs with POWERTOOLS_METRICS_DISABLED (no EMF is written there).
 */
import "./helpers/processor-env.ts";
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { FakeTable } from "./fakes/ddb-table.ts";
import { capture as captureWith, metricSum } from "./helpers/capture.ts";
import { lambdaContext } from "./helpers/context.ts";
import { putEventsAccepted, sqsRecord } from "./helpers/aws.ts";

const { handler, logger, metrics, settings } = await import("../src/handlers/processor.ts");

const T = 1_700_000_040_000; // a 1m window start
const events = mockClient(EventBridgeClient);
let table: FakeTable;
const capture = <T>(fn: () => Promise<T>) => captureWith(fn, { logger, metrics });
const context = () => lambdaContext("DataProcessor-test", "req-1", () => 300_000);

const record = (id: string, ticks: unknown[]): SQSRecord => sqsRecord(id, { v: 1, src: "api:test", ticks });
const tick = (symbol: string, ts = T) => ({ symbol, ts, price: 100, volume: 1 });

beforeEach(() => {
  table = new FakeTable("MarketDataState-test");
  events.reset();
  events.on(PutEventsCommand).callsFake(putEventsAccepted);
  settings.sleep = async () => undefined;
  settings.random = () => 0.5;
  settings.now = () => T + 60_000;
});
afterEach(() => table.restore());

describe("DataProcessor metrics", () => {
  it("R-FN-4 TicksStored counts the ticks of records that succeed: a failed record's written ticks are counted once, by its redelivery", async () => {
    const ev: SQSEvent = { Records: [record("m1", [tick("AAPL"), tick("MSFT")])] };
    table.opts.unprocessed = (item) => item.symbol?.S === "MSFT";
    const a1 = await capture(() => handler(ev, context()));
    assert.ok(a1.error, "the record fails (MSFT not written): SQS redelivers it");
    assert.equal(metricSum(a1.emf, "TicksStored"), 0);
    assert.equal(metricSum(a1.emf, "MessagesFailed"), 1);
    table.opts.unprocessed = undefined;
    const a2 = await capture(() => handler(ev, context()));
    assert.deepEqual(a2.result, { batchItemFailures: [] });
    assert.equal(metricSum(a1.emf, "TicksStored") + metricSum(a2.emf, "TicksStored"), 2, "2 distinct ticks, counted once");
  });

  it("R-FN-4 TicksStored counts only the succeeding records of a partial batch, and nothing when the #DIRTY marker fails them all", async () => {
    table.opts.unprocessed = (item) => item.symbol?.S === "MSFT";
    const partial = await capture(() =>
      handler({ Records: [record("ok", [tick("AAPL"), tick("AAPL", T + 1)]), record("bad", [tick("IBM"), tick("MSFT")])] }, context()),
    );
    assert.deepEqual(partial.result, { batchItemFailures: [{ itemIdentifier: "bad" }] });
    assert.equal(metricSum(partial.emf, "TicksStored"), 2);
    table.opts.unprocessed = undefined;
    table.opts.putError = (item) => (item.symbol?.S === "#DIRTY" ? new Error("boom") : undefined);
    const marker = await capture(() => handler({ Records: [record("m1", [tick("AAPL")]), record("m2", [tick("MSFT")])] }, context()));
    assert.ok(marker.error, "every record fails for redelivery");
    assert.equal(metricSum(marker.emf, "TicksStored"), 0);
  });
});
