/**
 * DataIngestion (R-FN-3, R-DATA-1..3): S3 object-created events and API Gateway `POST /ingest` -> validated,
 * normalised ticks -> ProcessingQueue messages (SendMessageBatch).
 *
 * S3 (asynchronous invoke): the object is streamed (GetObject body -> gunzip when the bytes are gzip -> bounded
 * line/element parser -> validation -> packer), never held whole in memory. Bad records never stop good ones:
 * each goes with its line number and reason to `rejected/<key>.jsonl` (one line each, raw input truncated to 1,000
 * characters). A file that cannot be read at all (named .gz but not gzip, corrupt gzip, unreadable CSV header, not
 * a JSON array) is rejected there with the reason, logged as an error, and the invocation succeeds: retrying would
 * give the same answer. Only transient failures (S3 reads, SQS sends after retries) throw, so Lambda retries the
 * event and then sends it to the on-failure destination. Reprocessing a file sends the same messages again (same
 * ticks, same packing) and overwrites the same rejected/ object: downstream stores ticks by content (idempotent).
 * A version of a key without rejects (or empty) deletes `rejected/<key>.jsonl` when there is one (HEAD first: a
 * DeleteObject on the versioned bucket would write a delete marker per clean file), so an older version's rejects
 * never outlive it.
 *
 * API (synchronous): see core/http.ts for the accepted bodies. 202 `{accepted, rejected, rejectedCount,
 * requestId}`; 400 malformed / wrong shape / unsupported type / no valid tick; 413 too large; 404/405 other routes.
 * Accepted ticks are archived to `api/yyyy/mm/dd/<requestId>.jsonl` FIRST and then sent to SQS; if either fails the
 * answer is 503 and the client retries (a retry re-sends the same ticks: harmless, stored once downstream).
 */
import { randomUUID } from "node:crypto";
import { Readable, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { Context } from "aws-lambda";
import { requireEnv } from "../adapters/config.ts";
import { deleteIfExists, ObjectLineWriter, openObject, putObject, s3Client } from "../adapters/s3.ts";
import { sendBatch, sqsClient } from "../adapters/sqs.ts";
import {
  AutoParser,
  formatFromKey,
  hasGzSuffix,
  isGzipMagic,
  type ParseEvent,
  truncateRaw,
} from "../core/formats.ts";
import {
  type ApiEvent,
  type ApiResult,
  classifyContentType,
  decodeBody,
  errorResponse,
  getHeader,
  jsonResponse,
  parseBody,
  routeIngest,
} from "../core/http.ts";
import { BatchGrouper, MessagePacker, type PackedMessage, packTicks } from "../core/pack.ts";
import { tickJson, validateTick } from "../core/tick.ts";
import { DEFAULT_MAX_BODY_BYTES, type Tick } from "../core/types.ts";

const SERVICE = process.env.POWERTOOLS_SERVICE_NAME ?? "ingestion";
export const logger = new Logger({ serviceName: SERVICE });
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "MarketData", serviceName: SERVICE });
export const tracer = new Tracer({ serviceName: SERVICE });
tracer.captureAWSv3Client(s3Client);
tracer.captureAWSv3Client(sqsClient);

/** Tunables (tests lower them). */
export const settings = {
  /** SendMessageBatch calls in flight at once while streaming a file */
  sendConcurrency: 4,
  /** rejected records listed in an API response (all are counted in rejectedCount) */
  maxRejectedInResponse: 1_000,
};

/** Counts of the current invocation, published once as TicksAccepted / TicksRejected / MessagesSent (zeros too). */
const counts = { accepted: 0, rejected: 0, messages: 0 };

/** Prefixes this function writes to: objects there are never ingested (they would loop). */
const OWN_PREFIXES = ["rejected/", "api/"];

/** The outcome of one S3 object (returned for tests and logs). */
export interface FileResult {
  bucket: string;
  key: string;
  status: "ingested" | "empty" | "missing" | "skipped" | "unreadable";
  format?: string | undefined;
  gzip?: boolean;
  accepted: number;
  rejected: number;
  messages: number;
  batches: number;
  rejectedKey?: string;
}

let parsedMaxBody: { raw: string | undefined; value: number } | undefined;

/** Reads MAX_BODY_BYTES (default 4,194,304): a positive whole number of bytes. Parsed once per warm container
 * (again only if the variable changes); the AWS clients, Logger, Metrics and Tracer are module-level too, so a
 * warm invocation does no setup work (issue 10: one invocation per POST at streaming rates). */
export function maxBodyBytes(): number {
  const raw = process.env.MAX_BODY_BYTES;
  if (parsedMaxBody !== undefined && parsedMaxBody.raw === raw) return parsedMaxBody.value;
  let n = DEFAULT_MAX_BODY_BYTES;
  if (raw !== undefined && raw !== "") {
    n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`MAX_BODY_BYTES=${JSON.stringify(raw)} is not a positive whole number of bytes`);
  }
  parsedMaxBody = { raw, value: n };
  return n;
}

/** S3 notification keys are URL-encoded with `+` for spaces. A key that is not valid encoding is used as it is. */
export function decodeS3Key(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    logger.warn("S3 key is not URL-encoded as expected; using it as it is", { key });
    return key;
  }
}

interface S3Ref {
  bucket: string;
  key: string;
}

type Shape = { kind: "api"; event: ApiEvent } | { kind: "s3"; refs: S3Ref[]; skipped: string[] } | { kind: "test" } | { kind: "unknown" };

function classify(event: unknown): Shape {
  if (event === null || typeof event !== "object") return { kind: "unknown" };
  const e = event as Record<string, unknown>;
  if (typeof e.httpMethod === "string") return { kind: "api", event: e as unknown as ApiEvent };
  if (e.Event === "s3:TestEvent") return { kind: "test" };
  if (Array.isArray(e.Records)) {
    const refs: S3Ref[] = [];
    const skipped: string[] = [];
    for (const r of e.Records as Array<Record<string, unknown>>) {
      const s3 = r?.s3 as { bucket?: { name?: unknown }; object?: { key?: unknown } } | undefined;
      const name = String(r?.eventName ?? "");
      if (!s3 || typeof s3.bucket?.name !== "string" || typeof s3.object?.key !== "string") {
        skipped.push(`record without s3.bucket.name/s3.object.key (eventSource ${String(r?.eventSource)})`);
        continue;
      }
      if (name !== "" && !name.startsWith("ObjectCreated:")) {
        skipped.push(`${name} s3://${s3.bucket.name}/${s3.object.key}`);
        continue;
      }
      refs.push({ bucket: s3.bucket.name, key: decodeS3Key(s3.object.key) });
    }
    if (refs.length > 0 || skipped.length > 0) return { kind: "s3", refs, skipped };
  }
  // S3 -> EventBridge "Object Created" (keys are not URL-encoded there)
  if (e.source === "aws.s3" && e["detail-type"] === "Object Created") {
    const d = e.detail as { bucket?: { name?: unknown }; object?: { key?: unknown } } | undefined;
    if (typeof d?.bucket?.name === "string" && typeof d.object?.key === "string") {
      return { kind: "s3", refs: [{ bucket: d.bucket.name, key: d.object.key }], skipped: [] };
    }
  }
  return { kind: "unknown" };
}

/** The Lambda handler: API Gateway proxy events, S3 notifications (and S3 EventBridge events). */
export const handler = async (event: unknown, context?: Context): Promise<ApiResult | { files: FileResult[] } | { skipped: string }> => {
  if (context) logger.addContext(context);
  counts.accepted = 0;
  counts.rejected = 0;
  counts.messages = 0;
  try {
    const shape = classify(event);
    switch (shape.kind) {
      case "api":
        return await handleApi(shape.event, context);
      case "test":
        logger.info("s3:TestEvent ignored");
        return { skipped: "s3:TestEvent" };
      case "s3": {
        for (const s of shape.skipped) logger.warn("S3 record skipped: not an object-created event", { record: s });
        const files: FileResult[] = [];
        for (const ref of shape.refs) files.push(await ingestObject(ref.bucket, ref.key));
        return { files };
      }
      default: {
        const keys = event !== null && typeof event === "object" ? Object.keys(event).slice(0, 10) : [];
        logger.error("unsupported event: expected an API Gateway proxy event or S3 object-created records", {
          eventKeys: keys,
          eventType: typeof event,
        });
        throw new Error(
          `unsupported event (top-level keys: ${keys.join(", ") || typeof event}); DataIngestion takes API Gateway proxy events and S3 notifications`,
        );
      }
    }
  } finally {
    metrics.addMetric("TicksAccepted", MetricUnit.Count, counts.accepted);
    metrics.addMetric("TicksRejected", MetricUnit.Count, counts.rejected);
    metrics.addMetric("MessagesSent", MetricUnit.Count, counts.messages);
    metrics.publishStoredMetrics();
  }
};

// ---------------------------------------------------------------------------------------------------------------
// S3 objects

async function* prepend(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first;
  for (;;) {
    const n = await rest.next();
    if (n.done) return;
    yield n.value;
  }
}

function isZlibError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("Z_");
}

/** Sends batches with bounded concurrency; remembers the first failure and rethrows it on drain(). */
class Sender {
  private readonly inflight = new Set<Promise<void>>();
  private error: unknown;
  messages = 0;
  batches = 0;

  constructor(
    private readonly queueUrl: string,
    private readonly concurrency: number,
  ) {}

  async send(batch: PackedMessage[]): Promise<void> {
    if (this.error !== undefined) throw this.error;
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    if (this.error !== undefined) throw this.error;
    const p: Promise<void> = sendBatch(
      this.queueUrl,
      batch.map((m) => m.body),
    ).then(
      () => {
        this.messages += batch.length;
        this.batches++;
        this.inflight.delete(p);
      },
      (e: unknown) => {
        if (this.error === undefined) this.error = e;
        this.inflight.delete(p);
      },
    );
    this.inflight.add(p);
  }

  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.race(this.inflight);
    if (this.error !== undefined) throw this.error;
  }
}

/** Streams one object into the queue. Exported for tests. */
export async function ingestObject(bucket: string, key: string): Promise<FileResult> {
  const result: FileResult = { bucket, key, status: "ingested", accepted: 0, rejected: 0, messages: 0, batches: 0 };
  if (OWN_PREFIXES.some((p) => key.startsWith(p))) {
    logger.warn("object under an output prefix of DataIngestion skipped (ingesting it would loop)", { bucket, key });
    return { ...result, status: "skipped" };
  }
  const queueUrl = requireEnv("PROCESSING_QUEUE_URL");
  const src = `s3://${bucket}/${key}`;
  const obj = await openObject(bucket, key);
  if (!obj) {
    logger.warn("object no longer exists; nothing to ingest", { bucket, key });
    return { ...result, status: "missing" };
  }
  const it = obj.body[Symbol.asyncIterator]();
  // first bytes: enough to see the gzip magic number
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 2) {
    const n = await it.next();
    if (n.done) {
      ended = true;
      break;
    }
    head = head.length === 0 ? Buffer.from(n.value) : Buffer.concat([head, n.value]);
  }
  const rejectedKey = `rejected/${key}.jsonl`;
  if (head.length === 0) {
    await deleteIfExists(bucket, rejectedKey); // an older version's rejects do not describe this one
    logger.info("empty object: nothing to ingest", { bucket, key });
    return { ...result, status: "empty" };
  }
  const gzip = isGzipMagic(head);
  result.gzip = gzip;
  const rejects = new ObjectLineWriter(bucket, rejectedKey);
  const reject = (line: number, reason: string, raw: string, extra: Record<string, unknown> = {}, count = 1): void => {
    rejects.write(JSON.stringify({ line, reason, raw: truncateRaw(raw), ...extra }));
    result.rejected += count;
  };

  if (hasGzSuffix(key) && !gzip) {
    const reason = `object is named .gz but is not gzip data (first bytes ${head.subarray(0, 4).toString("hex")}); the file was not read`;
    reject(0, reason, head.subarray(0, 64).toString("latin1"));
    await it.return?.().catch(() => undefined); // stop reading the object
    await rejects.close();
    logger.error("file rejected: not gzip", { bucket, key, rejectedKey, reason });
    result.status = "unreadable";
    result.rejectedKey = rejectedKey;
    emitFileMetrics(result);
    return result;
  }

  const sender = new Sender(queueUrl, settings.sendConcurrency);
  const packer = new MessagePacker(src);
  const grouper = new BatchGrouper();
  const ready: PackedMessage[][] = [];
  const takeMessage = (m: PackedMessage | undefined): void => {
    if (!m) return;
    const b = grouper.add(m);
    if (b) ready.push(b);
  };
  let fileProblem: string | undefined;
  const onEvent = (e: ParseEvent): void => {
    const jsonArray = parser.format === "json-array";
    if (e.kind === "error") {
      reject(e.line, e.reason, e.raw, jsonArray && e.index !== undefined ? { index: e.index } : {}, e.count);
      if (e.index === undefined) fileProblem = e.reason;
      return;
    }
    const v = validateTick(e.value);
    if (!v.ok) {
      reject(e.line, v.reason, e.raw, jsonArray ? { index: e.index } : {});
      return;
    }
    result.accepted++;
    takeMessage(packer.add(v.tick));
  };
  // Plain records come already validated and normalised (core/fastlane.ts); the rest come as records.
  const onTickJson = (json: string): void => {
    result.accepted++;
    takeMessage(packer.addJson(json, json.length));
  };
  const parser = new AutoParser(formatFromKey(key), (e) => onEvent(e), { onTickJson });
  const drain = async (): Promise<void> => {
    while (ready.length > 0) await sender.send(ready.shift() as PackedMessage[]);
    await rejects.flush();
  };

  const raw = ended ? (async function* () { yield head; })() : prepend(head, it);
  const stream: AsyncIterable<Uint8Array> = gzip
    ? pipeline(Readable.from(raw, { objectMode: false }), createGunzip(), () => undefined)
    : raw;
  let gzipError: unknown;
  try {
    try {
      for await (const chunk of stream) {
        parser.push(chunk);
        await drain();
      }
    } catch (e) {
      if (!(gzip && isZlibError(e))) throw e;
      gzipError = e;
      await it.return?.().catch(() => undefined);
    }
    if (gzipError === undefined) {
      parser.end();
    } else {
      // the rest of the file cannot be read; the partial last line is not trusted either
      const reason = `gzip data is corrupt or truncated (${(gzipError as Error).message}); the rest of the file was not read`;
      reject(0, reason, "");
      fileProblem = reason;
    }
    takeMessage(packer.flush());
    const last = grouper.flush();
    if (last) ready.push(last);
    await drain();
    await sender.drain();
    result.messages = sender.messages;
    result.batches = sender.batches;
    if (rejects.lines > 0) {
      await rejects.close();
      result.rejectedKey = rejectedKey;
    } else {
      // nothing rejected in this version of the object: remove what an older version may have left; only if there
      // is one, since a DeleteObject on the versioned bucket writes a delete marker for every clean file otherwise
      await deleteIfExists(bucket, rejectedKey);
    }
  } catch (e) {
    await sender.drain().catch(() => undefined); // let batches in flight settle (their count is reported)
    await it.return?.().catch(() => undefined);
    const abortError = await rejects.abort();
    result.messages = sender.messages;
    logger.error("ingestion of the object failed; the invocation fails so that it is retried", {
      bucket,
      key,
      error: e as Error,
      acceptedSoFar: result.accepted,
      messagesSent: sender.messages,
      ...(abortError ? { abortError: String(abortError) } : {}),
    });
    emitFileMetrics(result);
    throw e;
  }
  result.format = parser.format;
  if (fileProblem !== undefined && result.accepted === 0) result.status = "unreadable";
  else if (result.accepted === 0 && result.rejected === 0) result.status = "empty";
  const summary = { ...result };
  if (fileProblem !== undefined) logger.error("file partly or wholly unreadable", { ...summary, reason: fileProblem });
  else if (result.rejected > 0) logger.warn("file ingested with rejected records", summary);
  else logger.info(result.status === "empty" ? "file holds no records" : "file ingested", summary);
  emitFileMetrics(result);
  return result;
}

function emitFileMetrics(r: FileResult): void {
  counts.accepted += r.accepted;
  counts.rejected += r.rejected;
  counts.messages += r.messages;
}

// ---------------------------------------------------------------------------------------------------------------
// API

function safeRequestId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 128) || randomUUID();
}

/** `api/yyyy/mm/dd/<requestId>.jsonl` (UTC date of the request). */
export function archiveKey(requestId: string, epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `api/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${requestId}.jsonl`;
}

async function handleApi(event: ApiEvent, context?: Context): Promise<ApiResult> {
  const route = routeIngest(event);
  if (!route.ok) return route.response;
  const requestId = safeRequestId(event.requestContext?.requestId ?? context?.awsRequestId ?? randomUUID());
  const ct = classifyContentType(getHeader(event, "content-type"));
  if (!ct.ok) return errorResponse(400, ct.reason);
  const decoded = decodeBody(event, maxBodyBytes());
  if (!decoded.ok) {
    logger.warn("request rejected", { requestId, status: decoded.response.statusCode, body: decoded.response.body });
    return decoded.response;
  }
  const parsed = parseBody(decoded.body, ct.kind);
  if (!parsed.ok) {
    logger.warn("request rejected", { requestId, status: 400, reason: parsed.message });
    return errorResponse(400, parsed.message);
  }
  const ticks: Tick[] = [];
  const rejected: Array<{ index: number; reason: string; line?: number }> = [];
  let rejectedCount = 0;
  for (const r of parsed.records) {
    const reason = "reason" in r ? r.reason : undefined;
    const v = reason === undefined && "value" in r ? validateTick(r.value) : undefined;
    if (v?.ok) {
      ticks.push(v.tick);
      continue;
    }
    rejectedCount++;
    if (rejected.length < settings.maxRejectedInResponse) {
      const why = reason ?? (v && !v.ok ? v.reason : "unreadable record");
      rejected.push(r.line !== undefined ? { index: r.index, line: r.line, reason: why } : { index: r.index, reason: why });
    }
  }
  counts.rejected += rejectedCount;
  if (ticks.length === 0) {
    const message =
      parsed.records.length === 0
        ? "the body holds no tick"
        : `no valid tick in the body: ${rejectedCount} record(s) rejected (first: index ${rejected[0]?.index}: ${rejected[0]?.reason})`;
    logger.warn("request rejected", { requestId, status: 400, reason: message });
    return errorResponse(400, message, { rejected, rejectedCount, requestId });
  }
  const bucket = requireEnv("RAW_BUCKET");
  const queueUrl = requireEnv("PROCESSING_QUEUE_URL");
  const key = archiveKey(requestId, event.requestContext?.requestTimeEpoch ?? Date.now());
  const sender = new Sender(queueUrl, settings.sendConcurrency);
  try {
    await putObject(bucket, key, `${ticks.map(tickJson).join("\n")}\n`, "application/x-ndjson");
    for (const batch of packTicks(`api:${requestId}`, ticks)) await sender.send(batch);
    await sender.drain();
  } catch (e) {
    // Sender.send may have thrown with batches in flight: wait for them so the count is right
    await sender.drain().catch(() => undefined);
    logger.error("API ingestion failed; answering 503 so that the client retries", {
      requestId,
      error: e as Error,
      messagesSent: sender.messages,
    });
    counts.messages += sender.messages;
    return errorResponse(503, "the ticks could not be stored right now; retry the request", { requestId });
  }
  const messages = sender.messages;
  counts.accepted += ticks.length;
  counts.messages += messages;
  logger.info("API request ingested", { requestId, accepted: ticks.length, rejected: rejectedCount, messages, archive: key });
  return jsonResponse(202, { accepted: ticks.length, rejected, rejectedCount, requestId });
}
