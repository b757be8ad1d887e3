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
 * With API_ARCHIVE=true (the component's `api_archive` arg, default false), accepted ticks are archived to
 * `api/yyyy/mm/dd/<requestId>.jsonl` FIRST and then sent to SQS; if either fails the answer is 503 and the client
 * retries (a retry re-sends the same ticks: harmless, stored once downstream). Without it they are only sent.
 */
import { randomUUID } from "node:crypto";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { boolEnv, intEnv, requireEnv } from "../adapters/config.ts";
import { powertools } from "../adapters/powertools.ts";
import { RejectFile } from "../adapters/rejects.ts";
import { openObject, putObject, s3Client } from "../adapters/s3.ts";
import { BatchSender, sqsClient } from "../adapters/sqs.ts";
import { formatFromKey } from "../core/formats.ts";
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
import { FileTicks, ObjectBytes } from "../core/ingest.ts";
import { packTicks } from "../core/pack.ts";
import { type Tick, tickJson, validateTick } from "../core/tick.ts";

export const { logger, metrics, tracer } = powertools([s3Client, sqsClient]);

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

/** Reads MAX_BODY_BYTES (required: the component sets its API body limit): a positive whole number of bytes. Parsed
 * once per warm container (again only if the variable changes); the AWS clients, Logger, Metrics and Tracer are
 * module-level too, so a warm invocation does no setup work (issue 10: one invocation per POST at streaming rates). */
export function maxBodyBytes(): number {
  return intEnv("MAX_BODY_BYTES", { min: 1, unit: "bytes" });
}

/** Reads API_ARCHIVE (required, `true` or `false`: the component's `api_archive`): whether accepted API bodies are
 * archived under `api/`. */
export function apiArchive(): boolean {
  return boolEnv("API_ARCHIVE");
}

/** DataIngestion's environment (docs/design.md "Function environment"), read at init: a missing or bad variable
 * fails the cold start, naming it and what is allowed. Invocations read each variable where they use it. */
export function environment(): { rawBucket: string; queueUrl: string; maxBodyBytes: number; apiArchive: boolean } {
  return {
    rawBucket: requireEnv("RAW_BUCKET"),
    queueUrl: requireEnv("PROCESSING_QUEUE_URL"),
    maxBodyBytes: maxBodyBytes(),
    apiArchive: apiArchive(),
  };
}
environment();

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

/**
 * Streams one object into the queue (exported for tests). The steps, in order: source (S3 GetObject, the first bytes
 * sniffed for gzip), decode (gunzip) -> parse -> pack (core/ingest.ts FileTicks) -> send (adapters/sqs.ts
 * BatchSender), and the reject file's lifecycle (adapters/rejects.ts RejectFile).
 */
export async function ingestObject(bucket: string, key: string): Promise<FileResult> {
  const result: FileResult = { bucket, key, status: "ingested", accepted: 0, rejected: 0, messages: 0, batches: 0 };
  if (OWN_PREFIXES.some((p) => key.startsWith(p))) {
    logger.warn("object under an output prefix of DataIngestion skipped (ingesting it would loop)", { bucket, key });
    return { ...result, status: "skipped" };
  }
  const queueUrl = requireEnv("PROCESSING_QUEUE_URL");
  const obj = await openObject(bucket, key);
  if (!obj) {
    logger.warn("object no longer exists; nothing to ingest", { bucket, key });
    return { ...result, status: "missing" };
  }
  const bytes = await ObjectBytes.open(obj.body);
  const rejects = new RejectFile(bucket, key);
  if (bytes.empty) {
    await rejects.finish(); // an older version's rejects do not describe this one
    logger.info("empty object: nothing to ingest", { bucket, key });
    return { ...result, status: "empty" };
  }
  result.gzip = bytes.gzip;
  const mislabelled = bytes.mislabelled(key);
  if (mislabelled !== undefined) return await rejectWholeFile(result, bytes, rejects, mislabelled);

  const ticks = new FileTicks(`s3://${bucket}/${key}`, formatFromKey(key), rejects);
  const sender = new BatchSender(queueUrl, settings.sendConcurrency);
  try {
    await streamFile(bytes, ticks, sender, rejects);
    result.rejectedKey = await rejects.finish();
  } catch (e) {
    await failFile(result, bytes, ticks, sender, rejects, e);
    throw e;
  }
  result.accepted = ticks.accepted;
  result.rejected = rejects.rejected;
  result.messages = sender.messages;
  result.batches = sender.batches;
  result.format = ticks.format;
  return reportFile(result, ticks.fileProblem);
}

/** A file that cannot be read at all (named .gz but not gzip): one reject line; the invocation succeeds. */
async function rejectWholeFile(result: FileResult, bytes: ObjectBytes, rejects: RejectFile, reason: string): Promise<FileResult> {
  rejects.add(0, reason, bytes.head.subarray(0, 64).toString("latin1"));
  await bytes.stop(); // stop reading the object
  result.rejectedKey = await rejects.finish();
  result.rejected = rejects.rejected;
  result.status = "unreadable";
  logger.error("file rejected: not gzip", { bucket: result.bucket, key: result.key, rejectedKey: result.rejectedKey, reason });
  emitFileMetrics(result);
  return result;
}

/**
 * decode -> parse -> pack -> send, chunk by chunk: batches go out while the object is still being read, and the
 * reject file is flushed between chunks. Corrupt gzip ends the file early (the rest is rejected with the reason).
 */
async function streamFile(bytes: ObjectBytes, ticks: FileTicks, sender: BatchSender, rejects: RejectFile): Promise<void> {
  const send = async (): Promise<void> => {
    for (const batch of ticks.takeBatches()) await sender.send(batch.map((m) => m.body));
    await rejects.flush();
  };
  let corrupt: unknown;
  try {
    for await (const chunk of bytes.chunks()) {
      ticks.push(chunk);
      await send();
    }
  } catch (e) {
    if (!bytes.isCorrupt(e)) throw e;
    corrupt = e;
    await bytes.stop();
  }
  if (corrupt === undefined) ticks.end();
  else ticks.cut(`gzip data is corrupt or truncated (${(corrupt as Error).message}); the rest of the file was not read`);
  await send();
  await sender.drain();
}

/**
 * A transient failure (S3 read, SQS send, the reject file's upload): batches in flight settle, the reject file is
 * abandoned, logged. The invocation is retried and the attempt that completes the file counts its ticks, so this one
 * counts no tick as accepted (most were never sent) nor rejected (no rejected/ object was written): a file's ticks
 * are counted once, not once per attempt. Only the messages that really reached the queue are counted. The progress
 * of the failed attempt goes to the log.
 */
async function failFile(
  result: FileResult,
  bytes: ObjectBytes,
  ticks: FileTicks,
  sender: BatchSender,
  rejects: RejectFile,
  error: unknown,
): Promise<void> {
  await sender.drain().catch(() => undefined); // let batches in flight settle (their count is reported)
  await bytes.stop();
  const abortError = await rejects.abort();
  result.messages = sender.messages;
  logger.error("ingestion of the object failed; the invocation fails so that it is retried", {
    bucket: result.bucket,
    key: result.key,
    error: error as Error,
    acceptedSoFar: ticks.accepted,
    rejectedSoFar: rejects.rejected,
    messagesSent: sender.messages,
    ...(abortError ? { abortError: String(abortError) } : {}),
  });
  emitFileMetrics(result);
}

/** The file's status from its counts, logged (an unreadable part is an error, rejects a warning) and counted. */
function reportFile(result: FileResult, fileProblem: string | undefined): FileResult {
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
    // a body that cannot be read is counted like the same bytes as an S3 file (core/http.ts ParsedBody: a bad CSV
    // header counts its data lines, malformed JSON one record); the 400 says how many, like the "no valid tick" one
    counts.rejected += parsed.count;
    logger.warn("request rejected", { requestId, status: 400, reason: parsed.message, rejectedCount: parsed.count });
    return errorResponse(400, parsed.message, { rejectedCount: parsed.count, requestId });
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
  // The rejections are counted on the answers that list them (this 400, the 202), never before the send: a 503
  // lists none and the client's retry sends the same records, whose answer counts them.
  if (ticks.length === 0) {
    counts.rejected += rejectedCount;
    const message =
      parsed.records.length === 0
        ? "the body holds no tick"
        : `no valid tick in the body: ${rejectedCount} record(s) rejected (first: index ${rejected[0]?.index}: ${rejected[0]?.reason})`;
    logger.warn("request rejected", { requestId, status: 400, reason: message });
    return errorResponse(400, message, { rejected, rejectedCount, requestId });
  }
  const queueUrl = requireEnv("PROCESSING_QUEUE_URL");
  const key = apiArchive() ? archiveKey(requestId, event.requestContext?.requestTimeEpoch ?? Date.now()) : undefined;
  const sender = new BatchSender(queueUrl, settings.sendConcurrency);
  try {
    if (key !== undefined) {
      await putObject(requireEnv("RAW_BUCKET"), key, `${ticks.map(tickJson).join("\n")}\n`, "application/x-ndjson");
    }
    for (const batch of packTicks(`api:${requestId}`, ticks)) await sender.send(batch.map((m) => m.body));
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
  counts.rejected += rejectedCount;
  counts.messages += messages;
  logger.info("API request ingested", {
    requestId,
    accepted: ticks.length,
    rejected: rejectedCount,
    messages,
    ...(key !== undefined ? { archive: key } : {}),
  });
  return jsonResponse(202, { accepted: ticks.length, rejected, rejectedCount, requestId });
}
