/**
 * The naive per-record design the bench compares the pipeline with (issue 6, part 2). Same inputs, same parsing and
 * validation (our cores), but one AWS call per record wherever a hand-written first version would make one:
 *
 * - naive ingestion (one invocation per S3 object or API request): GetObject (whole body), parse + validate, then
 *   ONE SendMessage PER TICK (body = the normalised tick);
 * - naive processor (SQS event source mapping, batches of up to 10 messages, as Lambda's default): ONE PutItem and
 *   ONE PutEvents (one entry) PER TICK; the poller's ReceiveMessage / DeleteMessageBatch are counted like ours;
 * - naive aggregator (one invocation per event, i.e. per tick, as EventBridge -> Lambda delivers them): ONE UpdateItem
 *   per window (1m and 5m: ADD trades/volume/notional, SET close) = two per tick.
 *
 * Each "function" talks to its own endpoint (a counting proxy in front of moto), so requests are counted per
 * function exactly as for the real pipeline; `setup` (creating resources, uploading inputs) goes straight to moto and
 * is not counted. Invocation wall times are recorded per function for the cost model. The bench keeps the queue
 * shallow (moto's SQS cost grows with depth) by pausing ingestion while more than `maxInFlight` ticks wait: this
 * changes no request count.
 *
 * Usage: node naive.mjs <config.json>   (config: see NaiveConfig) -> one JSON object on stdout.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { CreateTableCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { AutoParser, formatFromKey, isGzipMagic, type ParseEvent } from "../src/core/formats.ts";
import { classifyContentType, parseBody } from "../src/core/http.ts";
import { validateTick } from "../src/core/tick.ts";
import type { Tick } from "../src/core/types.ts";

/** What the bench runner passes in. */
export interface NaiveConfig {
  region: string;
  endpoints: { setup: string; ingestion: string; processor: string; aggregator: string; esm: string };
  names: { bucket: string; queue: string; table: string; bus: string };
  files: Array<{ key: string; path: string }>;
  batches: Array<{ path: string; contentType: string }>;
  maxInFlight?: number;
}

const creds = { accessKeyId: "test", secretAccessKey: "test" };

function clients(endpoint: string, region: string): { s3: S3Client; sqs: SQSClient; ddb: DynamoDBClient; eb: EventBridgeClient } {
  const c = { endpoint, region, credentials: creds, maxAttempts: 3 };
  return {
    s3: new S3Client({ ...c, forcePathStyle: true }),
    sqs: new SQSClient(c),
    ddb: new DynamoDBClient(c),
    eb: new EventBridgeClient(c),
  };
}

/** Wall-time of invocations per function, minus the time the bench itself paused them (backpressure). */
class Invocations {
  readonly ms: Record<string, number[]> = { ingestion: [], processor: [], aggregator: [] };
  pausedMs = 0;
  async run<T>(fn: string, body: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const p0 = this.pausedMs;
    try {
      return await body();
    } finally {
      (this.ms[fn] as number[]).push(performance.now() - t0 - (this.pausedMs - p0));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs the naive design over the inputs; returns counts and invocation durations. */
export async function runNaive(cfg: NaiveConfig): Promise<Record<string, unknown>> {
  const setup = clients(cfg.endpoints.setup, cfg.region);
  const ing = clients(cfg.endpoints.ingestion, cfg.region);
  const proc = clients(cfg.endpoints.processor, cfg.region);
  const agg = clients(cfg.endpoints.aggregator, cfg.region);
  const esm = clients(cfg.endpoints.esm, cfg.region);
  const { bucket, table, bus } = cfg.names;
  const maxInFlight = cfg.maxInFlight ?? 400;

  await setup.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const { QueueUrl } = await setup.sqs.send(new CreateQueueCommand({ QueueName: cfg.names.queue, Attributes: { VisibilityTimeout: "300" } }));
  const queueUrl = QueueUrl as string;
  await setup.ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: "symbol", KeyType: "HASH" },
        { AttributeName: "timestamp", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "symbol", AttributeType: "S" },
        { AttributeName: "timestamp", AttributeType: "N" },
      ],
    }),
  );
  await setup.eb.send(new CreateEventBusCommand({ Name: bus }));
  for (const f of cfg.files) {
    await setup.s3.send(new PutObjectCommand({ Bucket: bucket, Key: f.key, Body: readFileSync(f.path) }));
  }

  const inv = new Invocations();
  const counts = { accepted: 0, rejected: 0, sent: 0, processed: 0, stored: 0, events: 0, aggregated: 0 };
  let ingestionDone = false;

  const sendTick = async (t: Tick): Promise<void> => {
    if (counts.sent - counts.processed > maxInFlight) {
      const w0 = performance.now();
      while (counts.sent - counts.processed > maxInFlight) await sleep(5); // bench backpressure, no requests
      inv.pausedMs += performance.now() - w0;
    }
    await ing.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(t) }));
    counts.sent++;
  };

  const ingestion = async (): Promise<void> => {
    for (const f of cfg.files) {
      await inv.run("ingestion", async () => {
        const obj = await ing.s3.send(new GetObjectCommand({ Bucket: bucket, Key: f.key }));
        let bytes: Buffer = Buffer.from(await (obj.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
        if (isGzipMagic(bytes)) bytes = gunzipSync(bytes);
        const ticks: Tick[] = [];
        const p = new AutoParser(formatFromKey(f.key), (e: ParseEvent) => {
          if (e.kind === "error") {
            counts.rejected += e.count;
            return;
          }
          const v = validateTick(e.value);
          if (v.ok) ticks.push(v.tick);
          else counts.rejected++;
        });
        p.push(bytes);
        p.end();
        counts.accepted += ticks.length;
        for (const t of ticks) await sendTick(t);
      });
    }
    for (const b of cfg.batches) {
      await inv.run("ingestion", async () => {
        const ct = classifyContentType(b.contentType);
        if (!ct.ok) throw new Error(ct.reason);
        const parsed = parseBody(readFileSync(b.path), ct.kind);
        if (!parsed.ok) return; // a malformed body: 400, nothing sent (as ours)
        for (const r of parsed.records) {
          const v = "value" in r ? validateTick(r.value) : undefined;
          if (v?.ok) {
            counts.accepted++;
            await sendTick(v.tick);
          } else counts.rejected++;
        }
      });
    }
    ingestionDone = true;
  };

  const aggQueue: Tick[] = [];
  const aggregator = async (t: Tick): Promise<void> => {
    await inv.run("aggregator", async () => {
      for (const size of [60_000, 300_000]) {
        await agg.ddb.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { symbol: { S: `${t.symbol}#${size === 60_000 ? "1m" : "5m"}` }, timestamp: { N: String(t.ts - (t.ts % size)) } },
            UpdateExpression: "ADD trades :one, volume :v, notional :pv SET #c = :p, #o = if_not_exists(#o, :p)",
            ExpressionAttributeNames: { "#c": "close", "#o": "open" },
            ExpressionAttributeValues: { ":one": { N: "1" }, ":v": { N: String(t.volume) }, ":pv": { N: String(t.price * t.volume) }, ":p": { N: String(t.price) } },
          }),
        );
      }
      counts.aggregated++;
    });
  };

  const processor = async (): Promise<void> => {
    for (let idle = 0; idle < 2_000; ) {
      if (ingestionDone && counts.processed >= counts.sent) return;
      const r = await esm.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      const msgs: Message[] = r.Messages ?? [];
      if (msgs.length === 0) {
        idle++;
        await sleep(20);
        continue;
      }
      idle = 0;
      await inv.run("processor", async () => {
        for (const m of msgs) {
          const t = JSON.parse(m.Body ?? "") as Tick;
          await proc.ddb.send(
            new PutItemCommand({
              TableName: table,
              Item: {
                symbol: { S: t.symbol },
                timestamp: { N: String(t.ts) },
                price: { N: String(t.price) },
                volume: { N: String(t.volume) },
                ...(t.extra ? { extra: { S: JSON.stringify(t.extra) } } : {}),
              },
            }),
          );
          counts.stored++;
          await proc.eb.send(
            new PutEventsCommand({
              Entries: [{ Source: "market-data.naive", DetailType: "TickStored", EventBusName: bus, Detail: JSON.stringify(t) }],
            }),
          );
          counts.events++;
          aggQueue.push(t);
        }
      });
      await esm.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })) }),
      );
      counts.processed += msgs.length;
    }
    throw new Error(`naive processor starved: ${counts.processed} of ${counts.sent} processed`);
  };

  let processorsDone = false;
  const aggWorker = async (): Promise<void> => {
    for (;;) {
      const t = aggQueue.shift();
      if (t) {
        await aggregator(t);
        continue;
      }
      if (processorsDone) return;
      await sleep(5);
    }
  };

  const t0 = performance.now();
  const aggWorkers = [aggWorker(), aggWorker()];
  await Promise.all([ingestion(), Promise.all([processor(), processor()]).finally(() => (processorsDone = true))]);
  await Promise.all(aggWorkers);
  const wallMs = performance.now() - t0;
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return {
    node: process.version,
    counts,
    wallMs: Math.round(wallMs),
    invocations: Object.fromEntries(Object.entries(inv.ms).map(([k, v]) => [k, { count: v.length, totalMs: Math.round(sum(v)) }])),
  };
}

const isMain = process.argv[1] !== undefined && /naive\.(mjs|ts|js)$/.test(process.argv[1]);
if (isMain) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write("usage: node naive.mjs <config.json>\n");
    process.exit(2);
  }
  runNaive(JSON.parse(readFileSync(path, "utf8")) as NaiveConfig).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`naive bench failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
