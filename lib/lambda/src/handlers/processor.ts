/**
 * DataProcessor (R-FN-4, R-DATA-4, R-EVB-1): SQS batches of TickMessages -> tick items in DynamoDB -> one `#DIRTY`
 * marker and one PutEvents call per invocation naming the (symbol, 1m window) pairs touched.
 *
 * Flow per invocation:
 * 1. decode every record; a poison record (bad JSON / shape / unstorable number) fails alone;
 * 2. build tick items (key = `<ts>.<content-hash discriminator>`, TTL `expiresAt` = now + DATA_RETENTION_DAYS),
 *    collapse identical keys across the whole batch, BatchWriteItem 25 per call with bounded retries of
 *    UnprocessedItems; records whose ticks were not all written fail (and are redelivered; rewrites are idempotent);
 * 3. write ONE `#DIRTY` marker listing the pairs of all ticks written (if it cannot be written every record fails:
 *    the schedule would not see these windows otherwise);
 * 4. ONE PutEvents call (entries of <= 500 windows; more calls only above the 10-entry/256 KB API limits); failures
 *    are retried, then logged as errors (the marker guarantees the schedule catches up);
 * 5. answer the partial batch response through Powertools BatchProcessor (all failed -> FullBatchFailureError).
 */
import { BatchProcessor, EventType, FullBatchFailureError, processPartialResponse } from "@aws-lambda-powertools/batch";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { requireEnv, retentionDays, type TicksStoredEventType, ticksStoredEventType } from "../adapters/config.ts";
import { ddbClient } from "../adapters/ddb.ts";
import { DynamoTickStore } from "../adapters/dynamodb-store.ts";
import { eventsClient, putEvents } from "../adapters/events.ts";
import { powertools } from "../adapters/powertools.ts";
import type { TickStore, TickToPut } from "../adapters/tick-store.ts";
import { decodeTickMessage } from "../core/decode.ts";
import { hashDiscriminator, tickKey } from "../core/keys.ts";
import type { Tick, TicksStoredDetail } from "../core/types.ts";
import { dirtyPairs, encodePair } from "../core/windows.ts";

export const { logger, metrics, tracer } = powertools([ddbClient, eventsClient]);

/** DataProcessor's environment (docs/design.md "Function environment"), read at init: a missing or bad variable
 * fails the cold start, naming it and what is allowed. Invocations read each variable where they use it. */
export function environment(): { table: string; bus: string; event: TicksStoredEventType; retentionDays: number } {
  return { table: requireEnv("STATE_TABLE"), bus: requireEnv("EVENT_BUS_NAME"), event: ticksStoredEventType(), retentionDays: retentionDays() };
}
environment();

/** Windows per event entry: keeps every aggregator invocation's work bounded. */
export const WINDOWS_PER_ENTRY = 500;
/** Windows per `#DIRTY` marker item (stays far below the 400 KB item limit). */
export const WINDOWS_PER_MARKER = 5000;

/** Tunables the tests override (sleep without waiting, deterministic jitter). */
export const settings = {
  sleep: undefined as ((ms: number) => Promise<void>) | undefined,
  random: undefined as (() => number) | undefined,
  reserveMs: 3000,
  maxAttempts: 8,
  now: (): number => Date.now(),
  /** the store of the state table */
  store: (table: string): TickStore => new DynamoTickStore(table),
};

interface Decoded {
  record: SQSRecord;
  ticks: TickToPut[];
}

/** The Lambda handler. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  try {
    return await processBatch(event, context);
  } catch (e) {
    // An all-failed batch was logged record by record; anything else (configuration, SDK) is logged here.
    if (!(e instanceof FullBatchFailureError)) logger.error("batch processing failed", { error: e as Error });
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
};

async function processBatch(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  const store = settings.store(requireEnv("STATE_TABLE"));
  const bus = requireEnv("EVENT_BUS_NAME");
  const now = settings.now();
  retentionDays(); // a bad DATA_RETENTION_DAYS fails the invocation before any record is read
  const records = event.Records ?? [];
  const failures = new Map<string, string>(); // messageId -> reason
  const decoded: Decoded[] = [];

  // 1-2. decode and build items
  for (const record of records) {
    try {
      const msg = decodeTickMessage(record.body); // checks each tick against core/tick.ts, storability included
      const ticks = msg.ticks.map((tick) => {
        const key = tickKey(tick);
        return { tick, id: `${tick.symbol}\u0000${key}`, key };
      });
      decoded.push({ record, ticks });
    } catch (e) {
      failures.set(record.messageId, `poison message: ${(e as Error).message}`);
      logger.error("poison message rejected", {
        messageId: record.messageId,
        reason: (e as Error).message,
        receiveCount: record.attributes?.ApproximateReceiveCount,
      });
      metrics.addMetric("PoisonMessages", MetricUnit.Count, 1);
    }
  }

  const entries = decoded.flatMap((d) => d.ticks);
  const distinct = new Set(entries.map((e) => e.id)).size;
  if (entries.length > distinct) metrics.addMetric("DuplicateTicksInBatch", MetricUnit.Count, entries.length - distinct);
  const written = await store.putTicks(entries, {
    now,
    remainingMs: () => context.getRemainingTimeInMillis(),
    reserveMs: settings.reserveMs,
    maxAttempts: settings.maxAttempts,
    ...(settings.sleep ? { sleep: settings.sleep } : {}),
    ...(settings.random ? { random: settings.random } : {}),
    onRetry: (r) => {
      metrics.addMetric("WriteRetries", MetricUnit.Count, 1);
      logger.warn("retrying BatchWriteItem", r);
    },
  });

  const writtenTicks: Tick[] = [];
  const writtenIds = new Set<string>();
  for (const d of decoded) {
    const notWritten = d.ticks.filter((t) => written.failed.has(t.id));
    for (const t of d.ticks) {
      if (written.failed.has(t.id) || writtenIds.has(t.id)) continue;
      writtenTicks.push(t.tick);
      writtenIds.add(t.id);
    }
    if (notWritten.length > 0) {
      const reason = `${notWritten.length} of ${d.ticks.length} ticks not written: ${written.failed.get(notWritten[0]?.id ?? "")}`;
      failures.set(d.record.messageId, reason);
      logger.error("ticks not written; message will be redelivered", { messageId: d.record.messageId, reason });
    }
  }

  // 3-4. one marker and one PutEvents naming the windows of every tick written
  const pairs = dirtyPairs(writtenTicks);
  if (pairs.length > 0) {
    try {
      for (let i = 0; i < pairs.length; i += WINDOWS_PER_MARKER) {
        const part = pairs.slice(i, i + WINDOWS_PER_MARKER).map(encodePair);
        // Two markers in one ms must not overwrite each other unless they carry the same windows.
        const disc = hashDiscriminator(`${context.awsRequestId}|${i}|${part.join(",")}`);
        await store.putDirtyMarker(settings.now(), disc, part);
      }
    } catch (e) {
      // Without the marker a lost event would leave windows stale forever: let SQS redeliver the whole batch.
      logger.error("dirty marker not written; failing the batch for redelivery", { error: e as Error });
      for (const r of records) if (!failures.has(r.messageId)) failures.set(r.messageId, "dirty marker not written");
    }
    await emitEvents(bus, pairs, context);
  }

  metrics.addMetric("TicksStored", MetricUnit.Count, ticksStored(decoded, failures));
  metrics.addMetric("MessagesFailed", MetricUnit.Count, failures.size);
  return processPartialResponse(
    event,
    (record: SQSRecord) => {
      const reason = failures.get(record.messageId);
      if (reason !== undefined) throw new Error(reason);
    },
    new BatchProcessor(EventType.SQS),
    { context },
  );
}

/**
 * TicksStored: the distinct ticks (the same tick twice in one batch is one item) of the records that succeed, decided
 * after the marker (its failure fails every record). A failed record's ticks are not counted even when some were
 * written: SQS redelivers the record and the invocation that completes it counts them, so a tick is counted once
 * per record delivered successfully, not once per attempt.
 */
function ticksStored(decoded: Decoded[], failures: Map<string, string>): number {
  const ids = new Set<string>();
  for (const d of decoded) if (!failures.has(d.record.messageId)) for (const t of d.ticks) ids.add(t.id);
  return ids.size;
}

async function emitEvents(
  bus: string,
  pairs: Array<{ symbol: string; start: number; ticks: number }>,
  context: Context,
): Promise<void> {
  const event = ticksStoredEventType();
  const entries = [];
  for (let i = 0; i < pairs.length; i += WINDOWS_PER_ENTRY) {
    const part = pairs.slice(i, i + WINDOWS_PER_ENTRY);
    const detail: TicksStoredDetail = {
      windows: part.map((p) => ({ symbol: p.symbol, start: p.start })),
      ticks: part.reduce((n, p) => n + p.ticks, 0),
    };
    entries.push({ Source: event.source, DetailType: event.detailType, EventBusName: bus, Detail: JSON.stringify(detail) });
  }
  const res = await putEvents(entries, {
    remainingMs: () => context.getRemainingTimeInMillis(),
    ...(settings.sleep ? { sleep: settings.sleep } : {}),
    ...(settings.random ? { random: settings.random } : {}),
  });
  metrics.addMetric("EventsPublished", MetricUnit.Count, entries.length - res.failed.length);
  if (res.failed.length > 0) {
    metrics.addMetric("EventsFailed", MetricUnit.Count, res.failed.length);
    logger.error("TicksStored events not delivered; the scheduled aggregation will pick the windows up from #DIRTY", {
      failed: res.failed.length,
      errors: res.failed.map((f) => f.error).slice(0, 10),
    });
  }
}
