/**
 * DataAggregator (R-FN-5, R-DATA-5, R-EVB-3): recomputes 1-minute and 5-minute OHLCV / VWAP / trade-count
 * aggregates from the stored ticks.
 *
 * - `TicksStored` event (source `market-data.processor`), directly or through the aggregation buffer (with the
 *   buffer's deferral messages): the (symbol, 5m) groups of the named 1m windows whose 5m window has closed are
 *   computed; the others are deferred until it has (`src/core/coalesce.ts`).
 * - Schedule (`source: aws.events`, `Scheduled Event`): read the `#DIRTY` markers from the cursor's
 *   `lastRun - 120000` (overlap: markers written late in the previous run), handle every group they name (late data
 *   included: a tick for an old window makes it dirty again; groups already computed after their newest marker are
 *   skipped), then advance the cursor. If the invocation runs short of time, the cursor only advances to the first
 *   marker not yet handled.
 * Each group is one paginated, strongly consistent Query over its tick keys `[start, start+5m)`
 * (`BETWEEN start AND start+299999.999999999`); the 5m aggregate and the 1m aggregates of its minutes with ticks come
 * from that single read and are written as ONE item with a conditional PutItem (overwrite unless the stored one read
 * MORE ticks, which only a newer recompute can have), so running twice gives the same item. A group without ticks
 * gets no item (ticks are never deleted, only expired by TTL like the aggregates). No Scan anywhere.
 * Each window's compute-and-store runs inside `guardWindow` (issue 14): a window that cannot be computed or stored
 * (e.g. ticks planted outside the R-DATA-1 bounds whose sum overflows DynamoDB's Number) is logged as an ERROR with its
 * key, counted (`WindowsFailed`), recorded under `#FAILED` and skipped; the other windows and the cursor go on.
 * Moto delivers EventBridge events without `account`: nothing here reads it.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { requireEnv, retentionDays, type TicksStoredEventType, ticksStoredEventType } from "../adapters/config.ts";
import { ddbClient, isDataRejection } from "../adapters/ddb.ts";
import { DynamoTickStore } from "../adapters/dynamodb-store.ts";
import { powertools } from "../adapters/powertools.ts";
import { sendBatch } from "../adapters/sqs.ts";
import type { FailedWindow, TickStore } from "../adapters/tick-store.ts";
import { type Aggregate, aggregateProblem, type StoredTick, WindowAccumulator } from "../core/aggregate.ts";
import {
  continuationDeferrals,
  type Deferral,
  DeferralLedger,
  deferralBody,
  type NamedWindow,
  namedWindowKey,
  namedWindowProblem,
  plan,
  unitRange,
  type WorkUnit,
} from "../core/coalesce.ts";
import { hashDiscriminator } from "../core/keys.ts";
import type { WindowRef } from "../core/types.ts";
import { decodePair, encodePair, fiveMinuteStart, minuteStart } from "../core/windows.ts";

export const { logger, metrics, tracer } = powertools([ddbClient]);

/** DataAggregator's environment (docs/design.md "Function environment"), read at init: a missing or bad variable
 * fails the cold start, naming it and what is allowed. Invocations read each variable where they use it. */
export function environment(): { table: string; queueUrl: string; event: TicksStoredEventType; retentionDays: number } {
  return {
    table: requireEnv("STATE_TABLE"),
    queueUrl: requireEnv("AGGREGATION_QUEUE_URL"),
    event: ticksStoredEventType(),
    retentionDays: retentionDays(),
  };
}

/** Whether `e` is one of DataProcessor's TicksStored events (the source and detail-type the component sets). */
function isTicksStored(e: { source?: unknown; "detail-type"?: unknown }, event: TicksStoredEventType): boolean {
  return e.source === event.source && e["detail-type"] === event.detailType;
}
environment();

/** Overlap of the scheduled run's marker read (design.md). */
export const CURSOR_OVERLAP_MS = 120_000;
/** Largest clock difference assumed between two Lambda instances (marker ts vs computedAt). */
export const CLOCK_SKEW_MS = 2_000;
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
  /** the store of the state table */
  store: (table: string): TickStore => new DynamoTickStore(table),
  /** the deferrals this container has sent and that have not come due (kept while the container is warm) */
  deferrals: new DeferralLedger(),
};

/** Counts of one invocation. */
export interface Totals {
  /** windows named in deferral messages (still open; computed when they come back) */
  deferred: number;
  /** open windows not deferred again: this container's earlier deferral of them has not come due */
  alreadyDeferred: number;
  /** window groups a scheduled run found already fresh (skipped) */
  fresh: number;
  windows1m: number;
  windows5m: number;
  written: number;
  keptNewer: number;
  empty: number;
  /** windows skipped because their aggregate cannot be computed or stored (recorded under #FAILED) */
  failed: number;
  /** groups a buffer batch had no time for, handed on in a continuation message (`sendContinuation`) */
  continued: number;
}

/** Result of one invocation (returned to the caller, useful for tests and the local host). */
export interface AggregatorResult extends Totals {
  mode: "event" | "schedule";
  markers?: number;
  cursor?: number;
  complete: boolean;
}

/**
 * The guard around one window (issue 14): runs its compute-and-store `work`; when the window's own data makes it
 * impossible to compute or store (a RangeError of the accumulator, the storability check `UnstorableAggregate`, or
 * DynamoDB refusing the item: `isDataRejection`), logs an ERROR naming the window (the LoggedErrors alarm sees it),
 * counts it (`WindowsFailed`), records it under `#FAILED` and returns, so the other windows and the schedule's cursor
 * go on. Any other error (throttling, 5xx, network, unknown) fails the invocation or record as before, so it is retried.
 */
export async function guardWindow(store: TickStore, w: Omit<FailedWindow, "reason">, totals: Totals, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (!(e instanceof RangeError || (e as Error)?.name === "UnstorableAggregate" || isDataRejection(e))) throw e;
    const reason = `${(e as Error).name ?? "Error"}: ${(e as Error).message}`;
    totals.failed++;
    const window = `${w.symbol}#${w.interval}|${w.windowStart}`;
    logger.error("window skipped: its aggregate cannot be computed or stored", { window, reason });
    const now = settings.now();
    try {
      const disc = hashDiscriminator(`${w.symbol}|${w.interval}`);
      await store.putFailedWindow({ ...w, reason }, disc, now);
    } catch (e2) {
      logger.error("failed-window record not written", { window, error: e2 as Error });
    }
  }
}

/**
 * Recomputes one (symbol, 5m) group from one paginated Query over its 5m window: the 5m aggregate and every 1m window
 * holding ticks, stored as ONE item (`putGroup`, conditional on the ticks read). Each window runs inside
 * `guardWindow`: a window that cannot be computed or stored is recorded and left out of the item, the others are
 * stored; an item DynamoDB refuses as a whole is recorded under the group's 5m window.
 */
export async function recomputeGroup(store: TickStore, g: WorkUnit, totals: Totals): Promise<void> {
  // computedAt is taken BEFORE the strongly consistent read: every tick stored before it is in the aggregate.
  const now = settings.now();
  const range = unitRange(g);
  const acc5 = new WindowAccumulator(g.symbol, "5m", g.start5m);
  const acc1 = new Map<number, WindowAccumulator>();
  // a tick one window cannot take (e.g. a non-number read back) fails that window only, in its guard below
  const broken = new Map<WindowAccumulator, unknown>();
  const add = (acc: WindowAccumulator, t: StoredTick): void => {
    if (broken.has(acc)) return;
    try {
      acc.add(t);
    } catch (e) {
      broken.set(acc, e);
    }
  };
  let ticks = 0;
  for await (const t of store.ticksBetween(g.symbol, range.from, range.to)) {
    ticks++;
    add(acc5, t);
    const m = minuteStart(t.key.ts);
    let acc = acc1.get(m);
    if (!acc) acc1.set(m, (acc = new WindowAccumulator(g.symbol, "1m", m)));
    add(acc, t);
  }
  if (ticks === 0) {
    totals.empty++;
    logger.warn("window group named dirty holds no ticks; nothing written", { symbol: g.symbol, start5m: g.start5m });
    return;
  }
  totals.windows1m += acc1.size;
  totals.windows5m++;
  const storable = async (acc: WindowAccumulator): Promise<Aggregate | null> => {
    let r: Aggregate | null = null;
    await guardWindow(store, { symbol: g.symbol, interval: acc.interval, windowStart: acc.windowStart }, totals, async () => {
      if (broken.has(acc)) throw broken.get(acc);
      const a = acc.result();
      const problem = a && aggregateProblem(a);
      if (problem) throw Object.assign(new Error(`aggregate cannot be stored: ${problem}`), { name: "UnstorableAggregate" });
      r = a;
    });
    return r;
  };
  const minutes: Aggregate[] = [];
  for (const acc of [...acc1.values()].sort((x, y) => x.windowStart - y.windowStart)) {
    const r = await storable(acc);
    if (r) minutes.push(r);
  }
  const five = await storable(acc5);
  await guardWindow(store, { symbol: g.symbol, interval: "5m", windowStart: g.start5m }, totals, async () => {
    if (await store.putGroup({ symbol: g.symbol, start5m: g.start5m, five, minutes, ticks }, now)) totals.written++;
    else totals.keptNewer++;
  });
}

/** Key of a work unit (one per symbol and 5m window). */
function unitKey(u: { symbol: string; start5m: number }): string {
  return `${u.symbol}|${u.start5m}`;
}

interface RunOutcome {
  /** units finished */
  done: Set<string>;
  /** units that threw, with the error */
  failed: Map<string, Error>;
}

/**
 * The newest marker naming a minute of each (symbol, 5m) group (`newest`: encoded 1m pair -> marker ts), keyed like
 * the work units (`unitKey`).
 */
export function newestByGroup(newest: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, ts] of newest) {
    const w = decodePair(k);
    const g = unitKey({ symbol: w.symbol, start5m: fiveMinuteStart(w.start) });
    out.set(g, Math.max(out.get(g) ?? -Infinity, ts));
  }
  return out;
}

/**
 * True when the unit's stored group was computed at least CLOCK_SKEW_MS after the newest marker naming one of its
 * minutes (`newest`: `newestByGroup`). A marker is written after its ticks, and computedAt is taken before the
 * group's strongly consistent read, so such a group already counts those ticks: the scheduled run skips it instead
 * of computing it a second time (one small GetItem instead of a tick read and a write).
 */
export async function alreadyFresh(store: TickStore, u: WorkUnit, newest: ReadonlyMap<string, number>): Promise<boolean> {
  const marker = newest.get(unitKey(u));
  if (marker === undefined) return false;
  const computedAt = await store.groupComputedAt(u.symbol, u.start5m);
  return computedAt !== undefined && computedAt >= marker + CLOCK_SKEW_MS;
}

/** Computes units with bounded concurrency until done or time runs short; one unit's failure does not stop others.
 * With `newest` (the scheduled run), units whose stored aggregates are already fresh are skipped. */
async function recomputeAll(
  store: TickStore,
  units: WorkUnit[],
  context: Context,
  totals: Totals,
  newest?: ReadonlyMap<string, number>,
): Promise<RunOutcome> {
  let next = 0;
  const out: RunOutcome = { done: new Set(), failed: new Map() };
  const groups = newest && newestByGroup(newest);
  const worker = async (): Promise<void> => {
    while (next < units.length && context.getRemainingTimeInMillis() > settings.reserveMs) {
      const u = units[next++] as WorkUnit;
      try {
        if (groups && (await alreadyFresh(store, u, groups))) totals.fresh++;
        else await recomputeGroup(store, u, totals);
        out.done.add(unitKey(u));
      } catch (e) {
        out.failed.set(unitKey(u), e as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, settings.concurrency) }, worker));
  return out;
}

/** Sends the deferrals of a plan to the aggregation buffer (delayed messages); returns the windows not deferred. */
async function sendDeferrals(deferrals: Deferral[]): Promise<{ sent: number; failed: Map<string, Error> }> {
  const failed = new Map<string, Error>();
  let sent = 0;
  if (deferrals.length === 0) return { sent, failed };
  const queueUrl = requireEnv("AGGREGATION_QUEUE_URL");
  // One SendMessageBatch per delay (all windows closing at the same time), chunked to 10 entries.
  for (const d of deferrals) {
    try {
      const sentAt = settings.now();
      await sendBatch(queueUrl, [deferralBody(d.windows)], d.delaySeconds);
      settings.deferrals.remember(d.windows, sentAt, d.delaySeconds);
      sent += d.windows.length;
    } catch (e) {
      for (const w of d.windows) failed.set(namedWindowKey(w), e as Error);
    }
  }
  return { sent, failed };
}

function emptyTotals(): Totals {
  return { windows1m: 0, windows5m: 0, written: 0, keptNewer: 0, empty: 0, deferred: 0, alreadyDeferred: 0, fresh: 0, failed: 0, continued: 0 };
}

/** Windows named by one message or event: valid ones, and reasons for invalid ones. */
interface Named {
  valid: NamedWindow[];
  invalid: string[];
}

function namedFrom(list: unknown, what: string, interval: "1m" | undefined): Named {
  const out: Named = { valid: [], invalid: [] };
  if (!Array.isArray(list)) {
    out.invalid.push(`${what} has no "windows" array`);
    return out;
  }
  list.forEach((w, i) => {
    const p = namedWindowProblem(interval ? { ...(w as object), interval: undefined } : w);
    if (p) out.invalid.push(`windows[${i}]: ${p}`);
    else {
      const r = w as NamedWindow;
      out.valid.push({ symbol: r.symbol, start: r.start, interval: interval ?? r.interval ?? "1m" });
    }
  });
  return out;
}

/** The windows a TicksStored event or a deferral message names. */
export function windowsOf(message: unknown): Named {
  const e = (message ?? {}) as { source?: unknown; "detail-type"?: unknown; detail?: unknown; deferred?: unknown };
  const event = ticksStoredEventType();
  if (isTicksStored(e, event)) {
    const detail = e.detail as { windows?: unknown } | null;
    return namedFrom(detail?.windows, "TicksStored event detail", "1m");
  }
  if (Array.isArray(e.deferred)) return namedFrom(e.deferred, "deferral message", undefined);
  return {
    valid: [],
    invalid: [
      `unsupported message (source ${JSON.stringify(e.source)}, detail-type ${JSON.stringify(e["detail-type"])}); expected a ${event.source}/${event.detailType} event or a deferral {"deferred": [...]}`,
    ],
  };
}

/**
 * Sends the groups a run had no time for back to the aggregation buffer, due at once (`continuationDeferrals`), so
 * that the next run goes on from them instead of the whole batch being redelivered and computed again; returns the
 * groups whose continuation was sent (the others keep their time-out).
 */
async function sendContinuation(units: WorkUnit[]): Promise<Set<string>> {
  const sent = new Set<string>();
  if (units.length === 0) return sent;
  const queueUrl = requireEnv("AGGREGATION_QUEUE_URL");
  for (const d of continuationDeferrals(units)) {
    try {
      await sendBatch(queueUrl, [deferralBody(d.windows)], d.delaySeconds);
      for (const w of d.windows) sent.add(unitKey({ symbol: w.symbol, start5m: w.start }));
    } catch (e) {
      logger.error("continuation not sent; the records naming these groups are retried", { groups: d.windows.length, error: e as Error });
    }
  }
  return sent;
}

/**
 * Computes the due windows of `named` and defers the open ones; returns, per named window key, the error that kept
 * it from being handled (absent = handled). With `continueUnfinished` (the buffer's batches), groups the run had no
 * time for are handed on in a continuation message (`sendContinuation`) and count as handled once it is sent.
 */
async function handleWindows(
  store: TickStore,
  named: Iterable<NamedWindow>,
  context: Context,
  totals: Totals,
  newest?: ReadonlyMap<string, number>,
  continueUnfinished = false,
): Promise<{ problems: (w: NamedWindow) => Error | undefined; unfinished: number; units: number }> {
  const now = settings.now();
  const p = plan(named, now);
  const outcome = await recomputeAll(store, p.compute, context, totals, newest);
  const toSend = settings.deferrals.unsent(p.defer, now);
  const deferred = await sendDeferrals(toSend.send);
  totals.deferred += deferred.sent;
  totals.alreadyDeferred += toSend.skipped;
  const left = p.compute.filter((u) => !outcome.done.has(unitKey(u)) && !outcome.failed.has(unitKey(u)));
  const continued = continueUnfinished ? await sendContinuation(left) : new Set<string>();
  totals.continued += continued.size;
  const unfinished = left.length - continued.size;
  for (const [k, e] of outcome.failed) logger.error("window group failed", { group: k, error: e });
  for (const [k, e] of deferred.failed) logger.error("deferral not sent", { window: k, error: e });
  const timeOut = new Error("time ran out before this window group was computed");
  const planned = new Set(p.compute.map(unitKey)); // one lookup per named window, not a scan of the plan
  const problems = (w: NamedWindow): Error | undefined => {
    const d = deferred.failed.get(namedWindowKey(w));
    if (d) return d;
    const k = unitKey({ symbol: w.symbol, start5m: fiveMinuteStart(w.start) });
    const f = outcome.failed.get(k);
    if (f) return f;
    const inPlan = planned.has(k);
    if (inPlan && !outcome.done.has(k) && !continued.has(k)) return timeOut;
    // A 5m window deferred by a due minute: its deferral's failure.
    return deferred.failed.get(namedWindowKey({ symbol: w.symbol, start: fiveMinuteStart(w.start), interval: "5m" }));
  };
  return { problems, unfinished, units: p.compute.length };
}

async function onTicksStored(event: unknown, context: Context): Promise<AggregatorResult> {
  const store = settings.store(requireEnv("STATE_TABLE"));
  const named = windowsOf(event);
  const totals = emptyTotals();
  const r = await handleWindows(store, named.valid, context, totals);
  publish(totals);
  if (named.invalid.length > 0) {
    throw new Error(
      `TicksStored event has ${named.invalid.length} invalid windows (valid ones handled): ${named.invalid.slice(0, 5).join("; ")}`,
    );
  }
  const first = named.valid.map(r.problems).find((e) => e !== undefined);
  if (r.unfinished > 0) {
    throw new Error(
      `time ran out after ${r.units - r.unfinished} of ${r.units} window groups; the rest stay dirty for the scheduled run`,
    );
  }
  if (first) throw first;
  return { mode: "event", ...totals, complete: true };
}

/**
 * A batch from the aggregation buffer (R-FN-5, R-PERF-1): TicksStored events (delivered by the rule's SQS target) and
 * deferral messages. Windows are deduplicated over the whole batch, so a stream of events costs one read and one
 * write per window once it has closed. Records that name an invalid window, or a window that could not be computed
 * or deferred, are reported as batch item failures (redelivered, then the buffer's DLQ); the others are deleted.
 */
async function onBuffer(records: SQSRecord[], context: Context): Promise<SQSBatchResponse> {
  const store = settings.store(requireEnv("STATE_TABLE"));
  const perRecord: Array<{ id: string; named: Named }> = records.map((rec) => {
    let body: unknown;
    try {
      body = JSON.parse(rec.body);
    } catch {
      return { id: rec.messageId, named: { valid: [], invalid: ["body is not JSON"] } };
    }
    return { id: rec.messageId, named: windowsOf(body) };
  });
  const totals = emptyTotals();
  const all = perRecord.flatMap((r) => r.named.valid);
  const r = await handleWindows(store, all, context, totals, undefined, true);
  publish(totals);
  metrics.addMetric("BufferedMessages", MetricUnit.Count, records.length);
  const failures: SQSBatchItemFailure[] = [];
  for (const rec of perRecord) {
    const problem = rec.named.invalid[0] ?? rec.named.valid.map(r.problems).find((e) => e !== undefined)?.message;
    if (problem !== undefined) {
      logger.error("buffered message failed", { messageId: rec.id, reason: problem });
      failures.push({ itemIdentifier: rec.id });
    }
  }
  logger.info("buffered batch aggregated", { messages: records.length, windows: all.length, ...totals, failed: failures.length });
  return { batchItemFailures: failures };
}

async function onSchedule(context: Context): Promise<AggregatorResult> {
  const store = settings.store(requireEnv("STATE_TABLE"));
  const runStart = settings.now();
  const lastRun = await store.getCursor();
  const from = Math.max(0, (lastRun ?? runStart - FIRST_RUN_LOOKBACK_MS) - CURSOR_OVERLAP_MS);
  // Markers in timestamp order (the sort key), each with its list of dirty pairs.
  const markers: Array<{ ts: number; pairs: WindowRef[] }> = [];
  let badPairs = 0;
  for await (const marker of store.dirtyMarkers(from)) {
    const pairs: WindowRef[] = [];
    for (const entry of marker.windows) {
      try {
        pairs.push(decodePair(entry));
      } catch (e) {
        badPairs++;
        logger.error("malformed #DIRTY entry skipped", { marker: marker.id, reason: (e as Error).message });
      }
    }
    markers.push({ ts: marker.ts, pairs });
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
    const newest = new Map<string, number>();
    while (i < markers.length && refs.size < settings.windowsPerStep) {
      const m = markers[i++];
      for (const p of m?.pairs ?? []) {
        const k = encodePair(p);
        if (!done.has(k)) {
          refs.set(k, p);
          newest.set(k, m?.ts ?? Infinity); // markers come in ts order: the last one is the newest
        }
      }
    }
    const named = [...refs.values()].map((w): NamedWindow => ({ ...w, interval: "1m" }));
    const r = await handleWindows(store, named, context, totals, newest);
    const failed = named.map(r.problems).find((e) => e !== undefined);
    if (r.unfinished > 0 || failed) {
      if (failed) logger.error("scheduled run could not handle a window; it resumes from there", { error: failed });
      complete = false;
      cursor = Math.min(runStart, markers[stepStart]?.ts ?? runStart);
      break;
    }
    for (const k of refs.keys()) done.add(k);
  }
  await store.putCursor(cursor);
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
  metrics.addMetric("WindowsDeferred", MetricUnit.Count, t.deferred);
  if (t.keptNewer) metrics.addMetric("AggregatesKeptNewer", MetricUnit.Count, t.keptNewer);
  metrics.addMetric("WindowsFailed", MetricUnit.Count, t.failed);
  if (t.continued) metrics.addMetric("GroupsContinued", MetricUnit.Count, t.continued);
}

/** True for an SQS event source mapping batch. */
function isSqsBatch(e: unknown): e is SQSEvent {
  const recs = (e as { Records?: unknown } | null)?.Records;
  return Array.isArray(recs) && recs.length > 0 && (recs[0] as { eventSource?: unknown })?.eventSource === "aws:sqs";
}

/** The Lambda handler: a batch from the aggregation buffer, a TicksStored event (direct) or the scheduled event. */
export const handler = async (event: unknown, context: Context): Promise<AggregatorResult | SQSBatchResponse> => {
  logger.addContext(context);
  try {
    if (isSqsBatch(event)) return await onBuffer(event.Records, context);
    const e = (event ?? {}) as { source?: unknown; "detail-type"?: unknown; detail?: unknown };
    if (e.source === "aws.events" && e["detail-type"] === "Scheduled Event") return await onSchedule(context);
    const ticksStored = ticksStoredEventType();
    if (isTicksStored(e, ticksStored)) return await onTicksStored(e, context);
    throw new Error(
      `unsupported event (source ${JSON.stringify(e.source)}, detail-type ${JSON.stringify(e["detail-type"])}); expected ${ticksStored.source}/${ticksStored.detailType} or aws.events/Scheduled Event`,
    );
  } catch (err) {
    logger.error("aggregation failed", { error: err as Error });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
