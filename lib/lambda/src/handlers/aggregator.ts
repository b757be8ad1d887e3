/**
 * DataAggregator (R-FN-5, R-DATA-5, R-EVB-3): recomputes 1-minute and 5-minute OHLCV / VWAP / trade-count
 * aggregates from the stored ticks.
 *
 * - `TicksStored` event (source `market-data.processor`): recompute the named 1m windows and their containing 5m
 *   windows.
 * - Schedule (`source: aws.events`, `Scheduled Event`): read the `#DIRTY` markers from the cursor's
 *   `lastRun - 120000` (overlap: markers written late in the previous run), recompute every window they name (late data
 *   included: a tick for an old window makes it dirty again), then advance the cursor. If the invocation runs short of
 *   time, the cursor only advances to the first marker not yet handled.
 * Each (symbol, 5m window) is one paginated, strongly consistent Query over its tick keys `[start, start+5m)`
 * (`BETWEEN start AND start+299999.999999999`); the 1m and 5m aggregates come from that single read. Aggregates are
 * written with a conditional PutItem (overwrite unless the stored one counts MORE trades, which only a newer
 * recompute can have), so running twice gives the same items. A window without ticks gets no item (ticks are never
 * deleted, only expired by TTL like the aggregates). No Scan anywhere.
 * Each window's compute-and-store runs inside `guardWindow` (issue 14): a window that cannot be computed or stored
 * (e.g. ticks planted outside the R-DATA-1 bounds whose sum overflows DynamoDB's Number) is logged as an ERROR with its
 * key, counted (`WindowsFailed`), recorded under `#FAILED` and skipped; the other windows and the cursor go on.
 * Moto delivers EventBridge events without `account`: nothing here reads it.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { Context } from "aws-lambda";
import { requireEnv } from "../adapters/config.ts";
import {
  aggregateItem,
  DIRTY_PARTITION,
  ddbClient,
  type FailedWindow,
  getCursor,
  isRetryable,
  type Item,
  putAggregate,
  putCursor,
  putFailedWindow,
  queryPages,
} from "../adapters/ddb.ts";
import { aggregateProblem, type StoredTick, WindowAccumulator } from "../core/aggregate.ts";
import { decodeTickKey, hashDiscriminator, tickKeyRange } from "../core/keys.ts";
import { EVENT_DETAIL_TYPE, EVENT_SOURCE, type WindowRef } from "../core/types.ts";
import {
  decodePair,
  encodePair,
  FIVE_MINUTES,
  groupByFiveMinutes,
  minuteStart,
  type WindowGroup,
  windowRefProblem,
} from "../core/windows.ts";

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "aggregator" });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "MarketData",
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "aggregator",
});
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "aggregator" });
tracer.captureAWSv3Client(ddbClient);

/** Overlap of the scheduled run's marker read (design.md). */
export const CURSOR_OVERLAP_MS = 120_000;
/** First scheduled run (no cursor yet): look back as far as markers live (their TTL). */
export const FIRST_RUN_LOOKBACK_MS = 86_400_000;

/** Tunables the tests override. */
export const settings = {
  now: (): number => Date.now(),
  /** stop starting new windows when fewer ms remain */
  reserveMs: 5000,
  concurrency: 4,
  /** distinct windows recomputed per step of a scheduled run before the next markers are taken */
  windowsPerStep: 1000,
};

/** Result of one invocation (returned to the caller, useful for tests and the local host). */
export interface AggregatorResult {
  mode: "event" | "schedule";
  windows1m: number;
  windows5m: number;
  written: number;
  keptNewer: number;
  empty: number;
  /** windows skipped because their aggregate cannot be computed or stored (recorded under #FAILED) */
  failed: number;
  markers?: number;
  cursor?: number;
  complete: boolean;
}

interface Totals {
  windows1m: number;
  windows5m: number;
  written: number;
  keptNewer: number;
  empty: number;
  failed: number;
}

function retentionDays(): number {
  const raw = process.env.DATA_RETENTION_DAYS;
  if (raw === undefined || raw === "") return 30;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 36_500) {
    throw new Error(`DATA_RETENTION_DAYS=${JSON.stringify(raw)} is not a whole number of days from 1 to 36500`);
  }
  return n;
}

/**
 * The guard around one window (issue 14): runs its compute-and-store `work`; when the window cannot be computed or
 * stored (any error but a transient one: throttling, 5xx, network, which fail the invocation as before so it is
 * retried), logs an ERROR naming the window (the LoggedErrors alarm sees it), counts it (`WindowsFailed`), records it
 * under `#FAILED` and returns, so the other windows and the schedule's cursor go on.
 */
export async function guardWindow(table: string, w: Omit<FailedWindow, "reason">, totals: Totals, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (isRetryable(e)) throw e;
    const reason = `${(e as Error).name ?? "Error"}: ${(e as Error).message}`;
    totals.failed++;
    const window = `${w.symbol}#${w.interval}|${w.windowStart}`;
    logger.error("window skipped: its aggregate cannot be computed or stored", { window, reason });
    const now = settings.now();
    try {
      const disc = hashDiscriminator(`${w.symbol}|${w.interval}`);
      await putFailedWindow(table, { ...w, reason }, disc, now, Math.floor(now / 1000) + retentionDays() * 86_400);
    } catch (e2) {
      logger.error("failed-window record not written", { window, error: e2 as Error });
    }
  }
}

/** Recomputes one (symbol, 5m) group from one paginated Query: its dirty 1m windows and the 5m window. */
export async function recomputeGroup(table: string, g: WindowGroup, totals: Totals): Promise<void> {
  const { lo, hi } = tickKeyRange(g.start5m, g.start5m + FIVE_MINUTES);
  const acc5 = new WindowAccumulator(g.symbol, "5m", g.start5m);
  const acc1 = new Map(g.minutes.map((m) => [m, new WindowAccumulator(g.symbol, "1m", m)]));
  // a tick one window cannot take (e.g. a non-number read back) fails that window only, in its guard below
  const broken = new Map<WindowAccumulator, unknown>();
  const add = (acc: WindowAccumulator | undefined, t: StoredTick): void => {
    if (acc === undefined || broken.has(acc)) return;
    try {
      acc.add(t);
    } catch (e) {
      broken.set(acc, e);
    }
  };
  const pages = queryPages({
    TableName: table,
    KeyConditionExpression: "#s = :s AND #t BETWEEN :lo AND :hi",
    // Placeholders for every name: VOLUME (and TIMESTAMP) are DynamoDB reserved words.
    ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp", "#p": "price", "#v": "volume" },
    ExpressionAttributeValues: { ":s": { S: g.symbol }, ":lo": { N: lo }, ":hi": { N: hi } },
    ProjectionExpression: "#t, #p, #v",
    ConsistentRead: true,
  });
  for await (const page of pages) {
    for (const item of page) {
      const key = decodeTickKey(item.timestamp?.N ?? "");
      const t = { key, price: Number(item.price?.N), volume: Number(item.volume?.N) };
      add(acc5, t);
      add(acc1.get(minuteStart(key.ts)), t);
    }
  }
  const now = settings.now();
  const expiresAt = Math.floor(now / 1000) + retentionDays() * 86_400;
  totals.windows1m += acc1.size;
  totals.windows5m += 1;
  await Promise.all(
    [...acc1.values(), acc5].map((acc) =>
      guardWindow(table, { symbol: g.symbol, interval: acc.interval, windowStart: acc.windowStart }, totals, async () => {
        if (broken.has(acc)) throw broken.get(acc);
        const r = acc.result();
        if (r === null) {
          totals.empty++;
          return;
        }
        const problem = aggregateProblem(r);
        if (problem) throw Object.assign(new Error(`aggregate cannot be stored: ${problem}`), { name: "UnstorableAggregate" });
        if (await putAggregate(table, aggregateItem(r, now, expiresAt))) totals.written++;
        else totals.keptNewer++;
      }),
    ),
  );
  const emptyNamed = [...acc1.entries()].filter(([, a]) => a.trades === 0).map(([m]) => m);
  if (emptyNamed.length > 0) {
    logger.warn("windows named dirty hold no ticks; no aggregate written", { symbol: g.symbol, minutes: emptyNamed });
  }
}

/** Recomputes groups with bounded concurrency until done or time runs short; returns how many were completed. */
async function recomputeAll(table: string, groups: WindowGroup[], context: Context, totals: Totals): Promise<number> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < groups.length && context.getRemainingTimeInMillis() > settings.reserveMs) {
      const g = groups[next++] as WindowGroup;
      await recomputeGroup(table, g, totals);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, settings.concurrency) }, worker));
  return done;
}

function emptyTotals(): Totals {
  return { windows1m: 0, windows5m: 0, written: 0, keptNewer: 0, empty: 0, failed: 0 };
}

async function onTicksStored(detail: unknown, context: Context): Promise<AggregatorResult> {
  const table = requireEnv("STATE_TABLE");
  const windows = (detail as { windows?: unknown } | null)?.windows;
  if (!Array.isArray(windows)) throw new Error('TicksStored event has no "windows" array in detail');
  const valid: WindowRef[] = [];
  const invalid: string[] = [];
  windows.forEach((w, i) => {
    const p = windowRefProblem(w);
    if (p) invalid.push(`windows[${i}]: ${p}`);
    else valid.push(w as WindowRef);
  });
  const groups = groupByFiveMinutes(valid);
  const totals = emptyTotals();
  const done = await recomputeAll(table, groups, context, totals);
  publish(totals);
  if (invalid.length > 0) {
    throw new Error(`TicksStored event has ${invalid.length} invalid windows (valid ones recomputed): ${invalid.slice(0, 5).join("; ")}`);
  }
  if (done < groups.length) {
    throw new Error(
      `time ran out after ${done} of ${groups.length} window groups; the rest stay dirty for the scheduled run`,
    );
  }
  return { mode: "event", ...totals, complete: true };
}

async function onSchedule(context: Context): Promise<AggregatorResult> {
  const table = requireEnv("STATE_TABLE");
  const runStart = settings.now();
  const lastRun = await getCursor(table);
  const from = Math.max(0, (lastRun ?? runStart - FIRST_RUN_LOOKBACK_MS) - CURSOR_OVERLAP_MS);
  // Markers in timestamp order (the sort key), each with its list of dirty pairs.
  const markers: Array<{ ts: number; pairs: WindowRef[] }> = [];
  let badPairs = 0;
  for await (const page of queryPages({
    TableName: table,
    KeyConditionExpression: "#s = :d AND #t >= :from",
    ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp" },
    ExpressionAttributeValues: { ":d": { S: DIRTY_PARTITION }, ":from": { N: String(from) } },
    ConsistentRead: true,
  })) {
    for (const item of page) {
      const pairs: WindowRef[] = [];
      for (const v of item.windows?.L ?? []) {
        try {
          pairs.push(decodePair(v.S ?? ""));
        } catch (e) {
          badPairs++;
          logger.error("malformed #DIRTY entry skipped", { marker: item.timestamp?.N, reason: (e as Error).message });
        }
      }
      markers.push({ ts: Math.trunc(Number(item.timestamp?.N)), pairs });
    }
  }
  const totals = emptyTotals();
  let cursor = runStart;
  let complete = true;
  // Every marker read was written after its ticks, so one recompute of a window during this run covers all the
  // markers naming it: windows already done are skipped in later steps.
  const done = new Set<string>();
  for (let i = 0; i < markers.length; ) {
    // Take markers until the step holds enough new windows; recompute; repeat.
    const stepStart = i;
    const refs = new Map<string, WindowRef>();
    while (i < markers.length && refs.size < settings.windowsPerStep) {
      for (const p of markers[i++]?.pairs ?? []) {
        const k = encodePair(p);
        if (!done.has(k)) refs.set(k, p);
      }
    }
    const groups = groupByFiveMinutes(refs.values());
    const finished = await recomputeAll(table, groups, context, totals);
    if (finished < groups.length) {
      complete = false;
      cursor = Math.min(runStart, markers[stepStart]?.ts ?? runStart);
      break;
    }
    for (const k of refs.keys()) done.add(k);
  }
  await putCursor(table, cursor);
  publish(totals);
  metrics.addMetric("DirtyMarkersRead", MetricUnit.Count, markers.length);
  if (badPairs) metrics.addMetric("MalformedDirtyEntries", MetricUnit.Count, badPairs);
  if (!complete) {
    logger.warn("scheduled run stopped early; the next run resumes from the cursor", { cursor, markers: markers.length });
  }
  logger.info("scheduled aggregation done", { from, markers: markers.length, cursor, ...totals });
  return { mode: "schedule", ...totals, markers: markers.length, cursor, complete };
}

function publish(t: Totals): void {
  metrics.addMetric("AggregatesWritten", MetricUnit.Count, t.written);
  metrics.addMetric("WindowsRecomputed", MetricUnit.Count, t.windows1m + t.windows5m);
  if (t.keptNewer) metrics.addMetric("AggregatesKeptNewer", MetricUnit.Count, t.keptNewer);
  metrics.addMetric("WindowsFailed", MetricUnit.Count, t.failed);
}

/** The Lambda handler: a TicksStored event or the scheduled event. */
export const handler = async (event: unknown, context: Context): Promise<AggregatorResult> => {
  logger.addContext(context);
  try {
    const e = (event ?? {}) as { source?: unknown; "detail-type"?: unknown; detail?: unknown };
    if (e.source === "aws.events" && e["detail-type"] === "Scheduled Event") return await onSchedule(context);
    if (e.source === EVENT_SOURCE && e["detail-type"] === EVENT_DETAIL_TYPE) return await onTicksStored(e.detail, context);
    throw new Error(
      `unsupported event (source ${JSON.stringify(e.source)}, detail-type ${JSON.stringify(e["detail-type"])}); expected ${EVENT_SOURCE}/${EVENT_DETAIL_TYPE} or aws.events/Scheduled Event`,
    );
  } catch (err) {
    logger.error("aggregation failed", { error: err as Error });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
