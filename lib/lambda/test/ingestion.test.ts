/**
 * DataIngestion handler with mocked S3 and SQS (aws-sdk-client-mock): S3 files of every format and gzip, poison
 * files, rejects, URL-encoded keys, SQS partial failures, the API paths (202/400/413/404/405/503), logs and metrics.
 */
import "./helpers/ingestion-env.ts";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SendMessageBatchCommand, type SendMessageBatchCommandInput, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { ObjectLineWriter, PART_BYTES } from "../src/adapters/s3.ts";
import { isTransient, retryPolicy } from "../src/adapters/sqs.ts";
import type { ApiEvent, ApiResult } from "../src/core/http.ts";
import { tickItem, tickRow } from "../src/adapters/dynamodb-store.ts";
import { aggregate, aggregateProblem } from "../src/core/aggregate.ts";
import { decodeTickMessage } from "../src/core/decode.ts";
import { tickKey } from "../src/core/keys.ts";
import { extraProblem, setField } from "../src/core/tick.ts";
import type { Tick, TickMessage } from "../src/core/types.ts";
import { archiveKey, decodeS3Key, type FileResult, handler, logger, metrics, settings } from "../src/handlers/ingestion.ts";
import { capture as captureWith, metricSum } from "./helpers/capture.ts";

const capture = <T>(fn: () => Promise<T>) => captureWith(fn, { logger, metrics });
import { chunk, formatCsv, formatJsonArray, formatJsonl, sampleTick } from "./helpers/ticks.ts";

const BUCKET = "raw-bucket";
const s3 = mockClient(S3Client);
const sqs = mockClient(SQSClient);

/** objects "in S3" (key -> bytes) and their chunking */
let objects: Map<string, Buffer>;
let chunkSize: number;
/** bodies of every SQS entry accepted, in order */
let delivered: string[];
/** objects written by PutObject / multipart */
let written: Map<string, string>;

function installDefaults(): void {
  objects = new Map();
  written = new Map();
  delivered = [];
  chunkSize = 1000;
  s3.reset();
  sqs.reset();
  s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    const data = objects.get(input.Key);
    if (!data) throw Object.assign(new Error("The specified key does not exist."), { name: "NoSuchKey" });
    const parts: Buffer[] = [];
    for (let i = 0; i < data.length; i += chunkSize) parts.push(data.subarray(i, i + chunkSize));
    return { Body: Readable.from(parts), ContentLength: data.length };
  });
  s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: string | Uint8Array }) => {
    written.set(input.Key, typeof input.Body === "string" ? input.Body : Buffer.from(input.Body).toString("utf8"));
    return {};
  });
  s3.on(DeleteObjectCommand).callsFake((input: { Key: string }) => {
    written.delete(input.Key);
    return {};
  });
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
    if (written.has(input.Key) || objects.has(input.Key)) return {};
    // S3 answers 404 (not 403) because the role holds s3:ListBucket for the prefix
    throw Object.assign(new Error("Not Found"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
  });
  sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
    const entries = input.Entries ?? [];
    for (const e of entries) delivered.push(e.MessageBody as string);
    return { Successful: entries.map((e) => ({ Id: e.Id, MessageId: `id-${e.Id}`, MD5OfMessageBody: "x" })), Failed: [] };
  });
}

beforeEach(() => {
  installDefaults();
  retryPolicy.sleep = async () => undefined;
  settings.sendConcurrency = 4;
  settings.maxRejectedInResponse = 1000;
  process.env.MAX_BODY_BYTES = "4194304";
  process.env.API_ARCHIVE = "false";
});
afterEach(() => {
  s3.reset();
  sqs.reset();
});

function s3Event(key: string, eventName = "ObjectCreated:Put"): unknown {
  const encoded = encodeURIComponent(key).replace(/%20/g, "+");
  return {
    Records: [
      { eventVersion: "2.1", eventSource: "aws:s3", eventName, s3: { bucket: { name: BUCKET }, object: { key: encoded, size: 1 } } },
    ],
  };
}

async function runS3(key: string): Promise<{ file: FileResult; logs: Array<Record<string, unknown>>; emf: Array<Record<string, unknown>> }> {
  const c = await capture(() => handler(s3Event(key)));
  if (c.error) throw c.error;
  const files = (c.result as { files: FileResult[] }).files;
  assert.equal(files.length, 1);
  return { file: files[0]!, logs: c.logs, emf: c.emf };
}

function deliveredTicks(): Tick[] {
  return delivered.flatMap((b) => (JSON.parse(b) as TickMessage).ticks);
}

function rejectsOf(key: string): Array<{ line: number; reason: string; raw: string; index?: number }> {
  const body = written.get(`rejected/${key}.jsonl`);
  assert.ok(body !== undefined, `rejected/${key}.jsonl was not written`);
  return body.trimEnd().split("\n").map((l) => JSON.parse(l) as { line: number; reason: string; raw: string });
}

const ticks = (n: number, symbol = "AAPL"): Tick[] => Array.from({ length: n }, (_, i) => ({ ...sampleTick(i, symbol), extra: { tradeId: `T${i}` } }));

describe("S3 files: formats and gzip (R-FN-3, R-DATA-2)", () => {
  const cases: Array<[string, (t: Tick[]) => string]> = [
    ["incoming/a.csv", (t) => formatCsv(t)],
    ["incoming/a.jsonl", (t) => formatJsonl(t)],
    ["incoming/a.json", (t) => formatJsonArray(t, true)],
    ["incoming/noext", (t) => formatJsonl(t)],
  ];
  for (const [key, fmt] of cases) {
    for (const gz of [false, true]) {
      const k = gz ? `${key}.gz` : key;
      it(`R-DATA-2 ${k}: every tick reaches SQS once, in messages of the pipeline format`, async () => {
        const input = ticks(1200);
        const text = fmt(input);
        objects.set(k, gz ? gzipSync(Buffer.from(text)) : Buffer.from(text));
        chunkSize = 777;
        const { file, logs, emf } = await runS3(k);
        assert.deepEqual(deliveredTicks(), input);
        for (const b of delivered) {
          const m = JSON.parse(b) as TickMessage;
          assert.equal(m.v, 1);
          assert.equal(m.src, `s3://${BUCKET}/${k}`);
          assert.ok(Buffer.byteLength(b) <= 262_144);
        }
        assert.equal(file.accepted, 1200);
        assert.equal(file.rejected, 0);
        assert.equal(file.gzip, gz);
        assert.equal(file.messages, delivered.length);
        assert.equal(written.size, 0, "no rejected/ object when nothing is rejected");
        assert.ok(logs.some((l) => l.message === "file ingested" && l.accepted === 1200 && l.level === "INFO"));
        assert.equal(metricSum(emf, "TicksAccepted"), 1200);
        assert.equal(metricSum(emf, "TicksRejected"), 0);
        assert.equal(metricSum(emf, "MessagesSent"), delivered.length);
      });
    }
  }

  it("R-DATA-2 gzip is detected by magic bytes even without a .gz suffix", async () => {
    const input = ticks(10);
    objects.set("incoming/x.csv", gzipSync(Buffer.from(formatCsv(input))));
    const { file } = await runS3("incoming/x.csv");
    assert.equal(file.gzip, true);
    assert.deepEqual(deliveredTicks(), input);
  });

  it('R-DATA-2 an S3 object holding the API\'s {"ticks": [...]} body is ingested like a JSON array (bad elements by index)', async () => {
    const input = ticks(40);
    const elems = input.map((t) => JSON.stringify({ symbol: t.symbol, timestamp: t.ts, price: t.price, volume: t.volume, ...t.extra }));
    elems.splice(3, 0, '{"symbol":"bad","timestamp":1,"price":1,"volume":1}');
    objects.set("incoming/body.json", Buffer.from(`{\n  "ticks": [\n${elems.join(",\n")}\n  ]\n}\n`));
    const { file } = await runS3("incoming/body.json");
    assert.equal(file.format, "json-array");
    assert.deepEqual(deliveredTicks(), input);
    assert.equal(file.rejected, 1);
    const rej = rejectsOf("incoming/body.json");
    assert.equal(rej[0]!.index, 3);
    assert.equal(rej[0]!.line, 6); // the element's own line in the file
  });

  it("R-DATA-2 the object is streamed: a 1-byte first chunk and tiny chunks still work", async () => {
    const input = ticks(50);
    objects.set("incoming/tiny.jsonl.gz", gzipSync(Buffer.from(formatJsonl(input))));
    chunkSize = 1;
    await runS3("incoming/tiny.jsonl.gz");
    assert.deepEqual(deliveredTicks(), input);
  });

  it("R-DATA-2 the object is streamed, not read whole: messages go out while the body is still being read", async () => {
    const input = ticks(20_000);
    const data = Buffer.from(formatJsonl(input));
    const sentWhenPulled: number[] = [];
    s3.on(GetObjectCommand).callsFake(() => {
      async function* body(): AsyncGenerator<Buffer> {
        for (let i = 0; i < data.length; i += 65_536) {
          sentWhenPulled.push(delivered.length);
          yield data.subarray(i, i + 65_536);
        }
      }
      return { Body: Readable.from(body()), ContentLength: data.length };
    });
    await runS3("incoming/stream.jsonl");
    assert.deepEqual(deliveredTicks(), input);
    assert.ok(sentWhenPulled.length > 20);
    assert.ok(sentWhenPulled[sentWhenPulled.length - 1]! > 0, "messages were sent before the last chunk was read");
    assert.ok(sentWhenPulled[sentWhenPulled.length - 1]! < delivered.length);
  });

  it("R-FN-3 URL-encoded keys (space as +, %2B for +) are decoded before GetObject and in rejected/", async () => {
    const key = "incoming/2026/ticks batch+1 ü.csv";
    objects.set(key, Buffer.from("symbol,timestamp,price,volume\nAAPL,1,2,3\nbad\n"));
    const { file } = await runS3(key);
    assert.equal(file.key, key);
    assert.equal(s3.commandCalls(GetObjectCommand)[0]!.args[0].input.Key, key);
    assert.equal(deliveredTicks().length, 1);
    assert.deepEqual(rejectsOf(key).map((r) => r.line), [3]);
    assert.equal(decodeS3Key("a+b%2Bc%2Fd"), "a b+c/d");
    assert.equal(decodeS3Key("100%zz"), "100%zz", "invalid encoding: the key as it is, no crash");
  });
});

describe("S3 files: rejects and poison input (R-DATA-3)", () => {
  it("R-DATA-3 bad CSV lines go to rejected/<key>.jsonl with line number, reason and raw; good lines are sent", async () => {
    const good = ticks(5);
    const lines = formatCsv(good).trimEnd().split("\n");
    lines.splice(2, 0, "AAPL,1700000000000,-3,10,T");
    lines.splice(4, 0, "not a symbol,1700000000000,1,1,T");
    lines.splice(5, 0, "MSFT,1,2");
    lines.push("MSFT,yesterday,1,1,T");
    const key = "incoming/bad.csv";
    objects.set(key, Buffer.from(`${lines.join("\n")}\n`));
    const { file, logs, emf } = await runS3(key);
    assert.deepEqual(deliveredTicks(), good);
    const rej = rejectsOf(key);
    assert.deepEqual(rej.map((r) => r.line), [3, 5, 6, 10]);
    assert.match(rej[0]!.reason, /price -?[0-9.]+ is outside the allowed range 1e-30 \.\. 1e\+30/);
    assert.match(rej[1]!.reason, /symbol .* invalid/);
    assert.match(rej[2]!.reason, /expected 5 fields/);
    assert.match(rej[3]!.reason, /timestamp/);
    assert.equal(rej[0]!.raw, "AAPL,1700000000000,-3,10,T");
    assert.equal(file.rejected, 4);
    assert.equal(file.rejectedKey, `rejected/${key}.jsonl`);
    assert.ok(logs.some((l) => l.level === "WARN" && l.rejected === 4));
    assert.equal(metricSum(emf, "TicksRejected"), 4);
    assert.equal(metricSum(emf, "TicksAccepted"), 5);
  });

  it("R-DATA-3 JSON array rejects carry the element index too; raw input is truncated to 1,000 characters", async () => {
    const key = "incoming/arr.json";
    const big = { symbol: "lower", timestamp: 1, price: 1, volume: 1, note: "n".repeat(5000) };
    objects.set(key, Buffer.from(JSON.stringify([sampleTick(1), big, { symbol: "A" }, sampleTick(2)].map((t) => ("ts" in t ? { symbol: t.symbol, timestamp: t.ts, price: t.price, volume: t.volume } : t)))));
    await runS3(key);
    assert.equal(deliveredTicks().length, 2);
    const rej = rejectsOf(key);
    assert.deepEqual(rej.map((r) => r.index), [1, 2]);
    assert.equal(rej[0]!.raw.length, 1000);
    assert.match(rej[1]!.reason, /missing field timestamp/);
  });

  it("R-DATA-3 a file named .gz that is not gzip is rejected with a reason; the invocation succeeds (no retry loop)", async () => {
    const key = "incoming/fake.csv.gz";
    objects.set(key, Buffer.from("symbol,timestamp,price,volume\nAAPL,1,2,3\n"));
    const { file, logs, emf } = await runS3(key);
    assert.equal(file.status, "unreadable");
    assert.equal(delivered.length, 0);
    const rej = rejectsOf(key);
    assert.equal(rej.length, 1);
    assert.match(rej[0]!.reason, /named \.gz but is not gzip data \(first bytes 73796d62\)/);
    assert.ok(logs.some((l) => l.level === "ERROR" && String(l.message).includes("not gzip")));
    assert.equal(metricSum(emf, "TicksRejected"), 1);
  });

  it("R-DATA-3 a truncated gzip keeps the ticks before the damage and rejects the rest with a reason", async () => {
    const key = "incoming/cut.jsonl.gz";
    const input = ticks(3000);
    const gz = gzipSync(Buffer.from(formatJsonl(input)));
    objects.set(key, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const { file, logs } = await runS3(key);
    const got = deliveredTicks();
    assert.ok(got.length > 0 && got.length < 3000);
    assert.deepEqual(got, input.slice(0, got.length), "a prefix of the file, nothing invented");
    const rej = rejectsOf(key);
    assert.match(rej.at(-1)!.reason, /gzip data is corrupt or truncated/);
    assert.equal(file.accepted, got.length);
    assert.ok(logs.some((l) => l.level === "ERROR" && l.message === "file partly or wholly unreadable"));
  });

  it("R-DATA-3 a rejection the parser had decided before corrupt gzip cut the file is kept (nothing dropped)", async () => {
    // gzip whose trailer is missing: every byte of the data decompresses, then the stream fails
    const truncatedGzip = (text: string): Buffer => {
      const gz = gzipSync(Buffer.from(text));
      return gz.subarray(0, gz.length - 8);
    };
    // a JSON array with data after its closing ]: that rejection waits for its raw bytes when the gzip fails
    const arrayKey = "incoming/tail.json.gz";
    objects.set(arrayKey, truncatedGzip(`${formatJsonArray([sampleTick(1)])} trailing data`));
    const { file: arrayFile } = await runS3(arrayKey);
    assert.equal(arrayFile.accepted, 1);
    const arrayRej = rejectsOf(arrayKey);
    assert.deepEqual(arrayRej.map((r) => r.reason.split(";")[0]), ["unexpected data after the closing ] of the JSON array", `gzip data is corrupt or truncated (unexpected end of file)`]);
    assert.equal(arrayRej[0]!.raw, "trailing data");
    // a CSV whose header is bad: its rejection, counting the data lines it made unreadable, is emitted at the end
    delivered.length = 0;
    const csvKey = "incoming/badheader.csv.gz";
    objects.set(csvKey, truncatedGzip("sym,timestamp,price,volume\nAAPL,1,2,3\nMSFT,1,2,3\n"));
    const { file: csvFile } = await runS3(csvKey);
    assert.equal(csvFile.accepted, 0);
    const csvRej = rejectsOf(csvKey);
    assert.equal(csvRej.length, 2);
    assert.match(csvRej[0]!.reason, /invalid CSV header: .*the 2 data line\(s\) after it were not read/);
    assert.match(csvRej[1]!.reason, /gzip data is corrupt or truncated/);
    assert.equal(csvFile.rejected, 3, "the header's rejection counts the 2 lines it made unreadable, plus the cut");
    // a short JSON Lines file named .json: its lines wait while the format is undecided (JSON Lines or
    // {"ticks": [...]}); the complete ones are kept when the gzip fails (found in review: they were lost)
    delivered.length = 0;
    const linesKey = "incoming/short.json.gz";
    const two = [sampleTick(1, "AAPL"), sampleTick(2, "MSFT")];
    objects.set(linesKey, truncatedGzip(formatJsonl(two)));
    const { file: linesFile } = await runS3(linesKey);
    assert.deepEqual(deliveredTicks(), two);
    assert.equal(linesFile.accepted, 2);
    assert.deepEqual(rejectsOf(linesKey).map((r) => r.reason), ["gzip data is corrupt or truncated (unexpected end of file); the rest of the file was not read"]);
  });

  it("R-DATA-3 binary garbage: every line rejected, nothing sent, no crash", async () => {
    const key = "incoming/garbage.jsonl";
    const junk = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 256));
    objects.set(key, junk);
    const { file } = await runS3(key);
    assert.equal(delivered.length, 0);
    assert.equal(file.accepted, 0);
    assert.ok(file.rejected >= 1);
    assert.equal(rejectsOf(key).length, file.rejected);
  });

  it("R-DATA-3 a CSV with an unusable header is rejected once, counting the lines not read", async () => {
    const key = "incoming/nohdr.csv";
    objects.set(key, Buffer.from("AAPL,1,2,3\nAAPL,1,2,3\nAAPL,1,2,3\n"));
    const { file } = await runS3(key);
    assert.equal(file.status, "unreadable");
    assert.equal(file.rejected, 2);
    const rej = rejectsOf(key);
    assert.equal(rej.length, 1);
    assert.match(rej[0]!.reason, /invalid CSV header: missing column/);
  });

  it("R-DATA-3 a huge line is rejected with a reason and the lines after it are read", async () => {
    const key = "incoming/huge.jsonl";
    const t = ticks(3);
    const huge = JSON.stringify({ ...{ symbol: "A", timestamp: 1, price: 1, volume: 1 }, pad: "p".repeat(300_000) });
    objects.set(key, Buffer.from(`${formatJsonl([t[0]!]).trimEnd()}\n${huge}\n${formatJsonl(t.slice(1))}`));
    chunkSize = 16_384;
    await runS3(key);
    assert.deepEqual(deliveredTicks(), t);
    const rej = rejectsOf(key);
    assert.equal(rej[0]!.line, 2);
    assert.match(rej[0]!.reason, /line is longer than 65536 bytes \(300\d+ bytes\)/);
  });

  it("R-DATA-3 an empty file: no message, no rejected/ object, no error, logged", async () => {
    objects.set("incoming/empty.csv", Buffer.alloc(0));
    const { file, logs } = await runS3("incoming/empty.csv");
    assert.equal(file.status, "empty");
    assert.equal(delivered.length, 0);
    assert.equal(written.size, 0);
    assert.ok(logs.some((l) => l.message === "empty object: nothing to ingest"));
    objects.set("incoming/headeronly.csv", Buffer.from("symbol,timestamp,price,volume\n"));
    const r2 = await runS3("incoming/headeronly.csv");
    assert.equal(r2.file.status, "empty");
    assert.equal(delivered.length, 0);
  });

  it("R-DATA-3 a new version of a key: its rejects replace the old ones; without rejects (or empty) the old ones go", async () => {
    const key = "incoming/fixed.csv";
    const rejectedKey = `rejected/${key}.jsonl`;
    const good = "symbol,timestamp,price,volume\nAAPL,1700000000000,1.5,10\n";
    objects.set(key, Buffer.from(`${good}aapl,1700000000001,1.5,10\n`));
    assert.equal((await runS3(key)).file.rejectedKey, rejectedKey);
    assert.equal(rejectsOf(key).length, 1);
    objects.set(key, Buffer.from(good)); // the sender fixes the file and uploads it again
    const fixed = await runS3(key);
    assert.equal(fixed.file.rejected, 0);
    assert.equal(fixed.file.rejectedKey, undefined);
    assert.equal(written.has(rejectedKey), false, "the old rejects are deleted");
    assert.deepEqual(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input), [{ Bucket: BUCKET, Key: rejectedKey }]);
    await runS3(key); // clean again, no rejected/ object left: no DeleteObject (a delete marker on the versioned bucket)
    assert.equal(s3.commandCalls(DeleteObjectCommand).length, 1);
    objects.set(key, Buffer.from(`${good}AAPL,x,1.5,10\n`));
    await runS3(key);
    objects.set(key, Buffer.alloc(0));
    assert.equal((await runS3(key)).file.status, "empty");
    assert.equal(written.has(rejectedKey), false, "an empty version deletes the old rejects too");
  });

  it("skips s3:TestEvent, non-create records, its own output prefixes and vanished objects", async () => {
    const t = await capture(() => handler({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: BUCKET }));
    assert.deepEqual(t.result, { skipped: "s3:TestEvent" });
    const removed = await capture(() => handler(s3Event("incoming/x.csv", "ObjectRemoved:Delete")));
    assert.deepEqual(removed.result, { files: [] });
    assert.ok(removed.logs.some((l) => l.level === "WARN"));
    objects.set("rejected/incoming/x.csv.jsonl", Buffer.from("{}"));
    assert.equal((await runS3("rejected/incoming/x.csv.jsonl")).file.status, "skipped");
    assert.equal((await runS3("incoming/gone.csv")).file.status, "missing");
    assert.equal(delivered.length, 0);
  });

  it("S3 -> EventBridge 'Object Created' events are ingested too (key not URL-encoded there)", async () => {
    objects.set("incoming/eb file.csv", Buffer.from(formatCsv(ticks(3))));
    const c = await capture(() =>
      handler({ source: "aws.s3", "detail-type": "Object Created", detail: { bucket: { name: BUCKET }, object: { key: "incoming/eb file.csv" } } }),
    );
    assert.equal(c.error, undefined);
    assert.equal(deliveredTicks().length, 3);
  });

  it("an unsupported event fails loudly with an ERROR log", async () => {
    const c = await capture(() => handler({ hello: "world" }));
    assert.match(String(c.error), /unsupported event \(top-level keys: hello\)/);
    assert.ok(c.logs.some((l) => l.level === "ERROR"));
  });

  it("S3 read errors other than NoSuchKey propagate (the async invoke is retried)", async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error("Access Denied"), { name: "AccessDenied" }));
    await assert.rejects(() => capture(() => handler(s3Event("incoming/a.csv"))).then((c) => Promise.reject(c.error ?? new Error("no error"))), /Access Denied/);
  });
});

describe("idempotency (R-EVB-3)", () => {
  it("R-EVB-3 the same file processed twice sends the same message bodies and writes the same rejected/ object", async () => {
    const key = "incoming/again.csv";
    objects.set(key, Buffer.from(`${formatCsv(ticks(2000))}bad line\n`));
    await runS3(key);
    const first = [...delivered];
    const rej1 = written.get(`rejected/${key}.jsonl`);
    delivered = [];
    written.clear();
    await runS3(key);
    assert.deepEqual(delivered, first);
    assert.equal(written.get(`rejected/${key}.jsonl`), rej1);
  });
});

describe("SQS sending (partial failures, retries)", () => {
  it("partial SendMessageBatch failures are retried until every entry is accepted; no tick lost or doubled", async () => {
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      call++;
      const entries = input.Entries ?? [];
      // every other call fails its first entry (a transient, non-sender fault)
      const failFirst = call % 2 === 1 && entries.length > 0;
      const ok = failFirst ? entries.slice(1) : entries;
      for (const e of ok) delivered.push(e.MessageBody as string);
      return {
        Successful: ok.map((e) => ({ Id: e.Id, MessageId: "m", MD5OfMessageBody: "x" })),
        Failed: failFirst ? [{ Id: entries[0]!.Id, SenderFault: false, Code: "InternalError", Message: "try again" }] : [],
      };
    });
    const input = ticks(6000);
    objects.set("incoming/p.jsonl", Buffer.from(formatJsonl(input)));
    settings.sendConcurrency = 1;
    const { file } = await runS3("incoming/p.jsonl");
    const got = deliveredTicks();
    assert.equal(got.length, 6000);
    assert.deepEqual([...got].sort((a, b) => a.ts - b.ts || a.symbol.localeCompare(b.symbol)), input);
    assert.ok(call > file.batches, "retries happened");
    // retried calls carry only the failed entries
    const retried = sqs.commandCalls(SendMessageBatchCommand).filter((_, i) => i % 2 === 1);
    assert.ok(retried.every((c) => (c.args[0].input.Entries ?? []).length === 1));
  });

  it("entries still failing after every attempt fail the invocation (ERROR log), the rejected/ upload is not left behind", async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: "m0", SenderFault: false, Code: "InternalError", Message: "down" }] });
    objects.set("incoming/f.csv", Buffer.from(`${formatCsv(ticks(3))}bad\n`));
    const c = await capture(() => handler(s3Event("incoming/f.csv")));
    assert.match(String(c.error), /still failing after 6 attempts/);
    assert.equal(sqs.commandCalls(SendMessageBatchCommand).length, 6);
    assert.ok(c.logs.some((l) => l.level === "ERROR" && String(l.message).includes("ingestion of the object failed")));
    assert.equal(written.size, 0, "rejected/ is written only when the file succeeded");
  });

  it("R-FN-3 a partly failed SendMessageBatch counts the entries SQS accepted: MessagesSent is what reached the queue", async () => {
    // SQS takes entries 2..n of every call and refuses entry 1 as a sender fault: the batch fails, its others are sent
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      const entries = input.Entries ?? [];
      const ok = entries.slice(1);
      for (const e of ok) delivered.push(e.MessageBody as string);
      return {
        Successful: ok.map((e) => ({ Id: e.Id, MessageId: "m", MD5OfMessageBody: "x" })),
        Failed: [{ Id: entries[0]!.Id, SenderFault: true, Code: "InvalidParameterValue", Message: "bad" }],
      };
    });
    settings.sendConcurrency = 1;
    objects.set("incoming/p.jsonl", Buffer.from(formatJsonl(ticks(1200))));
    const c = await capture(() => handler(s3Event("incoming/p.jsonl")));
    assert.match(String(c.error), /sender fault/);
    assert.ok(delivered.length > 0, "some entries of the failed batch reached the queue");
    assert.equal(metricSum(c.emf, "MessagesSent"), delivered.length);
    const failed = c.logs.find((l) => l.message === "ingestion of the object failed; the invocation fails so that it is retried");
    assert.equal(failed?.messagesSent, delivered.length);
  });

  it("R-FN-3 entries sent by an earlier attempt are still counted when a later attempt fails for good (the error keeps its cause)", async () => {
    let call = 0;
    const denied = Object.assign(new Error("denied"), { name: "AccessDenied", $fault: "client", $metadata: { httpStatusCode: 403 } });
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      if (++call > 1) throw denied;
      // the first call takes every entry but one (a transient failure, retried), the retry is refused for good
      const entries = input.Entries ?? [];
      for (const e of entries.slice(1)) delivered.push(e.MessageBody as string);
      return { Successful: [], Failed: [{ Id: entries[0]!.Id, SenderFault: false, Code: "InternalError", Message: "try again" }] };
    });
    settings.sendConcurrency = 1;
    objects.set("incoming/q.jsonl", Buffer.from(formatJsonl(ticks(1200))));
    const c = await capture(() => handler(s3Event("incoming/q.jsonl")));
    assert.match(String(c.error), /SendMessageBatch failed after 2 of 3 entries were sent: AccessDenied: denied/);
    assert.equal((c.error as Error).cause, denied);
    assert.equal(delivered.length, 2);
    assert.equal(metricSum(c.emf, "MessagesSent"), 2);
  });

  it("R-FN-3 a failed attempt counts no tick as accepted or rejected, only the messages sent; its retry counts the file once", async () => {
    const key = "incoming/f.jsonl";
    objects.set(key, Buffer.from(`${formatJsonl(ticks(1200))}bad line\n`));
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied", $fault: "client", $metadata: { httpStatusCode: 403 } }));
    const a1 = await capture(() => handler(s3Event(key)));
    assert.match(String(a1.error), /denied/);
    assert.equal(delivered.length, 0);
    assert.equal(written.size, 0, "no rejected/ object: the upload was aborted");
    assert.deepEqual([metricSum(a1.emf, "TicksAccepted"), metricSum(a1.emf, "TicksRejected"), metricSum(a1.emf, "MessagesSent")], [0, 0, 0]);
    const failed = a1.logs.find((l) => l.message === "ingestion of the object failed; the invocation fails so that it is retried");
    assert.equal(failed?.rejectedSoFar, 1, "the failed attempt's progress is logged");
    // Lambda retries the event, SQS is back
    installDefaults();
    objects.set(key, Buffer.from(`${formatJsonl(ticks(1200))}bad line\n`));
    const a2 = await runS3(key);
    assert.equal(deliveredTicks().length, 1200);
    const total = (name: string): number => metricSum(a1.emf, name) + metricSum(a2.emf, name);
    assert.deepEqual([total("TicksAccepted"), total("TicksRejected"), total("MessagesSent")], [1200, 1, delivered.length]);
  });

  it("sender faults are not retried", async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: "m0", SenderFault: true, Code: "InvalidParameterValue", Message: "bad" }] });
    objects.set("incoming/s.csv", Buffer.from(formatCsv(ticks(3))));
    const c = await capture(() => handler(s3Event("incoming/s.csv")));
    assert.match(String(c.error), /sender fault/);
    assert.equal(sqs.commandCalls(SendMessageBatchCommand).length, 1);
  });

  it("transient whole-call errors (5xx, throttling) are retried; client errors are not", async () => {
    const e500 = Object.assign(new Error("boom"), { name: "InternalError", $fault: "server", $metadata: { httpStatusCode: 500 } });
    sqs.on(SendMessageBatchCommand).rejectsOnce(e500).callsFake((input: SendMessageBatchCommandInput) => {
      for (const e of input.Entries ?? []) delivered.push(e.MessageBody as string);
      return { Successful: [], Failed: [] };
    });
    objects.set("incoming/t.csv", Buffer.from(formatCsv(ticks(3))));
    await runS3("incoming/t.csv");
    assert.equal(deliveredTicks().length, 3);
    assert.ok(isTransient(e500));
    assert.ok(isTransient({ name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }));
    assert.ok(isTransient({ code: "ECONNRESET" }));
    assert.ok(!isTransient({ name: "AccessDenied", $fault: "client", $metadata: { httpStatusCode: 403 } }));
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("no queue"), { name: "QueueDoesNotExist", $fault: "client", $metadata: { httpStatusCode: 400 } }));
    const c = await capture(() => handler(s3Event("incoming/t.csv")));
    assert.match(String(c.error), /no queue/);
  });
});

it("issue 11: a clean file where no rejects ever were writes no DeleteObject (no delete marker per ingest)", async () => {
  objects.set("incoming/clean.csv", Buffer.from("symbol,timestamp,price,volume\nAAPL,1700000000000,1.5,10\n"));
  objects.set("incoming/empty.csv", Buffer.alloc(0));
  assert.equal((await runS3("incoming/clean.csv")).file.rejected, 0);
  assert.equal((await runS3("incoming/empty.csv")).file.status, "empty");
  assert.equal(s3.commandCalls(DeleteObjectCommand).length, 0);
  assert.deepEqual(
    s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.Key),
    ["rejected/incoming/clean.csv.jsonl", "rejected/incoming/empty.csv.jsonl"],
  );
});

it("issue 11: a HEAD refused (403: no s3:ListBucket) fails the invocation rather than guessing", async () => {
  objects.set("incoming/clean2.csv", Buffer.from("symbol,timestamp,price,volume\nAAPL,1700000000000,1.5,10\n"));
  s3.on(HeadObjectCommand).rejects(Object.assign(new Error("Forbidden"), { name: "403", $metadata: { httpStatusCode: 403 } }));
  const c = await capture(() => handler(s3Event("incoming/clean2.csv")));
  assert.match(String(c.error), /Forbidden/);
});

describe("ObjectLineWriter (rejected/ objects of any size with bounded memory, @aws-sdk/lib-storage)", () => {
  it("nothing written: no request; small outputs: one PutObject", async () => {
    const none = new ObjectLineWriter(BUCKET, "rejected/n.jsonl");
    await none.close();
    assert.equal(s3.calls().length, 0);
    const small = new ObjectLineWriter(BUCKET, "rejected/s.jsonl");
    small.write('{"line":1}');
    await small.flush();
    await small.close();
    assert.equal(written.get("rejected/s.jsonl"), '{"line":1}\n');
    assert.equal(s3.commandCalls(CreateMultipartUploadCommand).length, 0);
  });

  it("large outputs: a multipart upload of bounded parts with CRC32 part checksums, bytes in order", async () => {
    const parts: Array<{ n: number; body: Buffer }> = [];
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u1" });
    s3.on(UploadPartCommand).callsFake(async (input: { PartNumber: number; Body: AsyncIterable<Uint8Array> | Uint8Array }) => {
      const chunks: Buffer[] = [];
      if (input.Body instanceof Uint8Array) chunks.push(Buffer.from(input.Body));
      else for await (const c of input.Body) chunks.push(Buffer.from(c));
      parts.push({ n: input.PartNumber, body: Buffer.concat(chunks) });
      return { ETag: `e${input.PartNumber}`, ChecksumCRC32: `crc${input.PartNumber}` };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const partBytes = 5 * 1024 * 1024; // S3's smallest part
    const w = new ObjectLineWriter(BUCKET, "rejected/big.jsonl", "application/x-ndjson", partBytes);
    const line = JSON.stringify({ line: 1, reason: "r".repeat(1000) });
    const count = Math.ceil((2.5 * partBytes) / (line.length + 1));
    for (let i = 0; i < count; i++) {
      w.write(line);
      if (i % 1000 === 0) await w.flush();
    }
    await w.close();
    assert.equal(parts.length, 3);
    assert.equal(Buffer.concat(parts.sort((a, b) => a.n - b.n).map((p) => p.body)).toString(), `${line}\n`.repeat(count));
    assert.ok(parts.slice(0, -1).every((p) => p.body.length === partBytes));
    const create = s3.commandCalls(CreateMultipartUploadCommand)[0]!.args[0].input;
    assert.equal(create.ChecksumAlgorithm, "CRC32"); // what the hand-written upload did not do (SDK 3.967 checksums)
    assert.equal(create.ContentType, "application/x-ndjson");
    const complete = s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input;
    assert.deepEqual(
      complete.MultipartUpload?.Parts?.map((p) => [p.PartNumber, p.ETag, p.ChecksumCRC32]),
      [[1, "e1", "crc1"], [2, "e2", "crc2"], [3, "e3", "crc3"]],
    );
    assert.equal(PART_BYTES, 8 * 1024 * 1024);
  });

  it("abort() aborts a started multipart upload", async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u2" });
    s3.on(UploadPartCommand).resolves({ ETag: "e" });
    s3.on(AbortMultipartUploadCommand).resolves({});
    const partBytes = 5 * 1024 * 1024;
    const w = new ObjectLineWriter(BUCKET, "rejected/a.jsonl", "application/x-ndjson", partBytes);
    w.write("x".repeat(partBytes + 10));
    await w.flush();
    for (let i = 0; i < 100 && s3.commandCalls(UploadPartCommand).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await w.abort(), undefined);
    assert.equal(s3.commandCalls(AbortMultipartUploadCommand)[0]!.args[0].input.UploadId, "u2");
    assert.throws(() => w.write("y"), /closed/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// API

function api(body: string | null, over: Partial<ApiEvent> = {}): ApiEvent {
  return {
    httpMethod: "POST",
    path: "/ingest",
    resource: "/ingest",
    headers: { "Content-Type": "application/json" },
    body,
    isBase64Encoded: false,
    requestContext: { requestId: "req-1", requestTimeEpoch: Date.UTC(2026, 10, 25, 18, 0, 0) },
    ...over,
  };
}

async function call(e: ApiEvent): Promise<{ status: number; body: Record<string, unknown>; res: ApiResult; logs: Array<Record<string, unknown>>; emf: Array<Record<string, unknown>> }> {
  const c = await capture(() => handler(e));
  if (c.error) throw c.error;
  const res = c.result as ApiResult;
  assert.match(res.headers["content-type"] ?? "", /^application\/json/);
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown>, res, logs: c.logs, emf: c.emf };
}

const rec = (t: Tick): Record<string, unknown> => ({ symbol: t.symbol, timestamp: t.ts, price: t.price, volume: t.volume, ...(t.extra ?? {}) });

describe("API POST /ingest (R-API-1, R-DATA-3)", () => {
  it("issue 14 property (handler level): whatever the numbers, strings and field names, every accepted tick is one the processor stores and whose windows aggregate into storable items; extra fields arrive exactly as sent", async () => {
    const oddString = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.string({ unit: "binary", maxLength: 6 }), // any code unit, lone surrogates included
      fc.constantFrom("\ud800", "x\udc00", "\u0000", "\u2028", "😀"),
    );
    const oddNumber = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(1e-30, 1e30, 1e-31, 1.0000000000000002e30, 6e125, 9.99e125, 1e-130, 1e-200, 5e-324, -1e30, -0, 0),
    );
    const name = fc.oneof(
      fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "note", ""),
      fc.string({ unit: "binary", minLength: 1, maxLength: 4 }),
    );
    const record = fc.record({
      symbol: fc.oneof(fc.constantFrom("AAPL", ".", "..", "^GSPC", "a"), fc.string({ unit: fc.constantFrom(..."A.^-"), minLength: 1, maxLength: 3 })),
      timestamp: fc.integer({ min: 0, max: 253_402_300_799_999 }),
      price: oddNumber,
      volume: oddNumber,
      extra: fc.dictionary(name, fc.oneof(oddString, oddNumber, fc.boolean()), { maxKeys: 3, noNullPrototype: true }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 8 }), async (recs) => {
        delivered.length = 0;
        const inputs = recs.map(({ extra, ...r }) => {
          const o: Record<string, unknown> = { ...r };
          for (const k of Object.keys(extra)) if (!["symbol", "timestamp", "price", "volume"].includes(k)) setField(o, k, extra[k]);
          return o;
        });
        const r = await call(api(JSON.stringify(inputs)));
        const rejected = (r.body.rejected as Array<{ index: number; reason: string }> | undefined) ?? [];
        assert.ok(r.status === 202 || r.status === 400, `status ${r.status}`);
        const accepted = new Set(inputs.keys());
        for (const x of rejected) {
          assert.ok(x.reason.length > 0);
          accepted.delete(x.index);
        }
        const ticksOut = deliveredTicks();
        assert.equal(ticksOut.length, accepted.size);
        // the processor's own check (poison otherwise), then the item and its read-back
        decodeTickMessage(JSON.stringify({ v: 1, src: "t", ticks: ticksOut }));
        [...accepted].forEach((i, j) => {
          const t = ticksOut[j] as Tick;
          assert.equal(t.extra ? extraProblem(t.extra) : null, null);
          // an independent well-formedness check: every accepted string has a UTF-8 form (DynamoDB stores UTF-8)
          for (const x of [...Object.keys(t.extra ?? {}), ...Object.values(t.extra ?? {})]) {
            if (typeof x === "string") assert.equal(Buffer.from(x, "utf8").toString("utf8"), x, `accepted ${JSON.stringify(x)}`);
          }
          const { symbol, timestamp, price, volume, ...others } = inputs[i] as Record<string, unknown>;
          assert.deepEqual([t.symbol, t.ts, t.price, t.volume], [symbol, timestamp, price, volume === 0 ? 0 : volume]);
          assert.deepEqual(Object.keys(t.extra ?? {}), Object.keys(others), "every field name kept, none dropped");
          const row = tickRow(tickItem(t, tickKey(t), 1));
          assert.deepEqual(JSON.stringify(row.extra ?? {}), JSON.stringify(others), "stored and read back exactly as sent");
        });
        // every window of the accepted ticks aggregates into storable numbers
        const acc = aggregate("X", "5m", 0, ticksOut.map((t) => ({ key: { ts: t.ts, disc: "000000000" }, price: t.price, volume: t.volume })));
        if (acc) assert.equal(aggregateProblem(acc), null);
      }),
      { numRuns: 300 },
    );
  });

  it("R-DATA-3 202 with accepted count and rejected index+reason; with API_ARCHIVE=true ticks archived under api/yyyy/mm/dd/<requestId>.jsonl and sent to SQS", async () => {
    process.env.API_ARCHIVE = "true";
    const good = ticks(5);
    const body = [rec(good[0]!), rec(good[1]!), { ...rec(good[2]!), price: 0 }, rec(good[2]!), { symbol: "AAPL'; DROP TABLE--", timestamp: 1, price: 1, volume: 1 }, rec(good[3]!), rec(good[4]!)];
    const r = await call(api(JSON.stringify(body)));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body.accepted, 5);
    assert.deepEqual((r.body.rejected as Array<{ index: number }>).map((x) => x.index), [2, 4]);
    assert.match((r.body.rejected as Array<{ reason: string }>)[0]!.reason, /price -?[0-9.]+ is outside the allowed range 1e-30 \.\. 1e\+30/);
    assert.equal(r.body.rejectedCount, 2);
    assert.equal(r.body.requestId, "req-1");
    assert.deepEqual(deliveredTicks(), good);
    assert.ok(delivered.every((b) => (JSON.parse(b) as TickMessage).src === "api:req-1"));
    const key = "api/2026/11/25/req-1.jsonl";
    assert.equal(archiveKey("req-1", Date.UTC(2026, 10, 25, 18)), key);
    assert.deepEqual(written.get(key)!.trimEnd().split("\n").map((l) => JSON.parse(l)), good);
    assert.equal(metricSum(r.emf, "TicksAccepted"), 5);
    assert.equal(metricSum(r.emf, "TicksRejected"), 2);
    assert.equal(metricSum(r.emf, "MessagesSent"), 1);
    const doc = r.emf[0] as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> }; service: string };
    assert.equal(doc._aws.CloudWatchMetrics[0]!.Namespace, "MarketData");
    assert.deepEqual(doc._aws.CloudWatchMetrics[0]!.Dimensions, [["service"]]);
    assert.equal(doc.service, "ingestion");
  });

  it("issue 10: with API_ARCHIVE=false (the component's default) the ticks are only sent: no S3 call, the same 202; unset or empty it is refused, naming the variable", async () => {
    for (const value of [undefined, ""]) {
      if (value === undefined) delete process.env.API_ARCHIVE;
      else process.env.API_ARCHIVE = value;
      delivered = [];
      const c = await capture(() => handler(api(JSON.stringify([rec(sampleTick(1))]))));
      assert.match(String(c.error), /environment variable API_ARCHIVE is not set: allowed one of true, false/);
      assert.equal(delivered.length, 0);
    }
    for (const value of ["false"]) {
      process.env.API_ARCHIVE = value;
      delivered = [];
      const good = ticks(3);
      const r = await call(api(JSON.stringify([rec(good[0]!), { symbol: "" }, rec(good[1]!), rec(good[2]!)])));
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.accepted, 3);
      assert.equal(r.body.rejectedCount, 1);
      assert.deepEqual(deliveredTicks(), good);
      assert.equal(s3.commandCalls(PutObjectCommand).length, 0, `API_ARCHIVE=${String(value)}`);
      const ingested = r.logs.find((l) => l.message === "API request ingested");
      assert.ok(ingested && !("archive" in ingested), JSON.stringify(ingested));
    }
    process.env.API_ARCHIVE = "true";
    delivered = [];
    const r = await call(api(JSON.stringify([rec(sampleTick(1))])));
    assert.equal(r.status, 202);
    assert.equal(s3.commandCalls(PutObjectCommand).length, 1);
    assert.match(String(r.logs.find((l) => l.message === "API request ingested")?.archive), /^api\/\d{4}\/\d\d\/\d\d\/req-1\.jsonl$/);
  });

  it('R-DATA-3 {"ticks": [...]}, NDJSON (by type and by content), CSV and base64 + gzip bodies', async () => {
    const t = ticks(4);
    const bodies: ApiEvent[] = [
      api(JSON.stringify({ ticks: t.map(rec) })),
      api(t.map((x) => JSON.stringify(rec(x))).join("\n"), { headers: { "content-type": "application/x-ndjson" } }),
      api(t.map((x) => JSON.stringify(rec(x))).join("\n")),
      api(formatCsv(t), { headers: { "content-type": "text/csv" } }),
      api(Buffer.from(JSON.stringify(t.map(rec))).toString("base64"), { isBase64Encoded: true }),
      api(gzipSync(Buffer.from(JSON.stringify(t.map(rec)))).toString("base64"), { isBase64Encoded: true, headers: { "content-type": "application/json", "content-encoding": "gzip" } }),
      api(JSON.stringify(t.map(rec)), { headers: {} }),
      // as API Gateway delivers gzip under the API's binaryMediaTypes (issue 11): base64, a gzip content type
      api(gzipSync(Buffer.from(JSON.stringify(t.map(rec)))).toString("base64"), { isBase64Encoded: true, headers: { "content-type": "application/gzip" } }),
      api(gzipSync(Buffer.from(t.map((x) => JSON.stringify(rec(x))).join("\n"))).toString("base64"), { isBase64Encoded: true, headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" } }),
    ];
    for (const e of bodies) {
      delivered = [];
      const r = await call(e);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.accepted, 4);
      // CSV extras are strings; the others keep JSON types
      const expect = e.headers?.["content-type"] === "text/csv" ? t : t;
      assert.deepEqual(deliveredTicks(), expect);
    }
  });

  it("R-DATA-3 NDJSON rejects carry index and line", async () => {
    const r = await call(api(`${JSON.stringify(rec(sampleTick(1)))}\n{oops\n\n${JSON.stringify({ symbol: "a" })}\n`, { headers: { "content-type": "application/x-ndjson" } }));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body.rejected, [
      { index: 1, line: 2, reason: (r.body.rejected as Array<{ reason: string }>)[0]!.reason },
      { index: 2, line: 4, reason: 'symbol "a" is invalid: 1-12 characters of A-Z 0-9 . - ^ with at least one letter or digit allowed' },
    ]);
  });

  it("R-DATA-3 400: malformed JSON, wrong shape, unsupported content type, no valid tick, empty body", async () => {
    const cases: Array<[ApiEvent, RegExp]> = [
      [api("{definitely not json"), /malformed JSON/],
      [api('{"ticks": {}}'), /"ticks" must be an array/],
      [api("42"), /got a JSON number/],
      [api("<xml/>", { headers: { "content-type": "application/xml" } }), /unsupported content type "application\/xml"/],
      [api(JSON.stringify([{ symbol: "AAPL", price: 1 }])), /no valid tick in the body: 1 record\(s\) rejected \(first: index 0: missing field timestamp\)/],
      [api(JSON.stringify([{ symbol: '{"$ne":null}', timestamp: 1, price: 1, volume: 1 }])), /no valid tick.*symbol/],
      [api("[]"), /the body holds no tick/],
      [api(null), /the body is empty/],
    ];
    for (const [e, why] of cases) {
      const r = await call(e);
      assert.equal(r.status, 400, e.body ?? "null");
      assert.match(String(r.body.message), why);
      assert.equal(r.emf.length, 1, "metrics are published on every invocation, zeros included");
      assert.equal(metricSum(r.emf, "TicksAccepted"), 0);
    }
    assert.equal(delivered.length, 0);
    assert.equal(written.size, 0);
  });

  it("R-DATA-3 a CSV body whose header cannot be read counts its data lines as rejected (400 rejectedCount), like the same S3 file; malformed JSON counts 1", async () => {
    const csv = "sym,timestamp,price,volume\nAAPL,1,2,3\nMSFT,1,2,3\n";
    const r = await call(api(csv, { headers: { "content-type": "text/csv" } }));
    assert.equal(r.status, 400);
    assert.match(String(r.body.message), /line 1: invalid CSV header: .*the 2 data line\(s\) after it were not read/);
    assert.equal(metricSum(r.emf, "TicksRejected"), 2);
    assert.equal(r.body.rejectedCount, 2);
    assert.equal(r.body.requestId, "req-1");
    objects.set("incoming/h.csv", Buffer.from(csv));
    const { file, emf } = await runS3("incoming/h.csv");
    assert.equal(file.rejected, 2);
    assert.equal(metricSum(emf, "TicksRejected"), metricSum(r.emf, "TicksRejected"), "the same bytes count the same by S3 and by the API");
    // a body that cannot be read at all is one rejected record (an S3 file of these bytes is one rejection); empty: none
    for (const [body, n] of [["{definitely not json", 1], ["42", 1], ["   ", 0]] as const) {
      const m = await call(api(body));
      assert.equal(m.status, 400, body);
      assert.equal(m.body.rejectedCount, n, body);
      assert.equal(metricSum(m.emf, "TicksRejected"), n, body);
    }
  });

  it("R-DATA-3 413 above MAX_BODY_BYTES (raw and decoded size), e.g. the component's 4,194,304; unset or bad it is refused", async () => {
    process.env.MAX_BODY_BYTES = "1000";
    const big = JSON.stringify(ticks(30).map(rec));
    assert.ok(big.length > 1000);
    assert.equal((await call(api(big))).status, 413);
    assert.equal((await call(api(Buffer.from(big).toString("base64"), { isBase64Encoded: true }))).status, 413);
    process.env.MAX_BODY_BYTES = "4194304";
    assert.equal((await call(api(big))).status, 202);
    const huge = `[${"1,".repeat(2_100_000)}1]`; // 4.2 MB
    const r = await call(api(huge));
    assert.equal(r.status, 413);
    assert.match(String(r.body.message), /limit is 4194304 bytes/);
    process.env.MAX_BODY_BYTES = "abc";
    const c = await capture(() => handler(api("[]")));
    assert.match(String(c.error), /MAX_BODY_BYTES="abc" is not a positive whole number/);
    delete process.env.MAX_BODY_BYTES;
    const unset = await capture(() => handler(api("[]")));
    assert.match(String(unset.error), /environment variable MAX_BODY_BYTES is not set: allowed a positive whole number of bytes/);
  });

  it("R-API-1 404 for other paths, 405 for other methods", async () => {
    assert.equal((await call(api(null, { path: "/nope", resource: "/nope" }))).status, 404);
    const r = await call(api(null, { httpMethod: "GET" }));
    assert.equal(r.status, 405);
    assert.equal(r.res.headers.allow, "POST");
  });

  it("10,000 ticks in one request: all accepted, packed within the SQS limits", async () => {
    const t = ticks(10_000);
    const r = await call(api(JSON.stringify(t.map(rec))));
    assert.equal(r.status, 202);
    assert.equal(r.body.accepted, 10_000);
    assert.deepEqual(deliveredTicks(), t);
    for (const c of sqs.commandCalls(SendMessageBatchCommand)) {
      const entries = c.args[0].input.Entries ?? [];
      assert.ok(entries.length <= 10);
      assert.ok(entries.reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ""), 0) <= 262_144);
    }
  });

  it("the rejected list is capped; rejectedCount counts them all", async () => {
    settings.maxRejectedInResponse = 3;
    const body = [rec(sampleTick(0)), ...Array.from({ length: 10 }, () => ({ symbol: "x" }))];
    const r = await call(api(JSON.stringify(body)));
    assert.equal(r.status, 202);
    assert.equal((r.body.rejected as unknown[]).length, 3);
    assert.equal(r.body.rejectedCount, 10);
  });

  it("R-DATA-3 a 503 counts no rejection (it lists none); the client's retry, answered 202 with the rejection, counts it once", async () => {
    const body = JSON.stringify([rec(sampleTick(1)), { symbol: "bad" }]);
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied", $fault: "client", $metadata: { httpStatusCode: 403 } }));
    const r1 = await call(api(body));
    assert.equal(r1.status, 503);
    assert.equal(r1.body.rejected, undefined);
    assert.deepEqual([metricSum(r1.emf, "TicksAccepted"), metricSum(r1.emf, "TicksRejected"), metricSum(r1.emf, "MessagesSent")], [0, 0, 0]);
    installDefaults();
    const r2 = await call(api(body));
    assert.equal(r2.status, 202);
    assert.equal(r2.body.rejectedCount, 1);
    assert.equal(metricSum(r1.emf, "TicksRejected") + metricSum(r2.emf, "TicksRejected"), 1);
    assert.equal(metricSum(r2.emf, "TicksAccepted"), 1);
    // the 400 that lists its rejections counts them
    const r3 = await call(api(JSON.stringify([{ symbol: "bad" }, { symbol: "AAPL" }])));
    assert.equal(r3.status, 400);
    assert.equal(r3.body.rejectedCount, 2);
    assert.equal(metricSum(r3.emf, "TicksRejected"), 2);
  });

  it("503 (and an ERROR log) when SQS or the archive fails: the client retries; nothing sent when the archive failed", async () => {
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDenied", $fault: "client", $metadata: { httpStatusCode: 403 } }));
    const r = await call(api(JSON.stringify([rec(sampleTick(1))])));
    assert.equal(r.status, 503);
    assert.match(String(r.body.message), /retry/);
    assert.ok(r.logs.some((l) => l.level === "ERROR"));
    installDefaults();
    process.env.API_ARCHIVE = "true";
    s3.on(PutObjectCommand).rejects(new Error("s3 down"));
    const r2 = await call(api(JSON.stringify([rec(sampleTick(1))])));
    assert.equal(r2.status, 503);
    assert.equal(sqs.commandCalls(SendMessageBatchCommand).length, 0);
  });
});
