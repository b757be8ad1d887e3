/**
 * What one DataAggregator run does with the windows it was told about (R-FN-5, R-PERF-1). Pure: no I/O, no AWS SDK.
 *
 * The aggregator materialises a window once it is CLOSED (its end plus a settle time has passed): it reads the
 * window's ticks once and writes its aggregate once. A window that is still open is not computed: it is DEFERRED,
 * named in a delayed message to the aggregation buffer that comes back when the window has closed (an SQS delay is
 * at most 900 s, and a 5-minute window closes at most 300 s ahead). DataQuery computes open and just-closed windows
 * from the ticks at read time (docs/design.md), so readers see fresh aggregates without the aggregator rewriting the
 * open window on every event. A window ending more than MAX_DEFER_MS ahead (ticks from the future) is computed at
 * once on every event, as before (rare, and bounded by the ticks of that window).
 *
 * The unit of work is one (symbol, 5m window) GROUP: one paginated Query over its ticks gives the 5m window and every
 * 1m window inside it, stored as ONE item (docs/design.md "DynamoDB item layout"). A group is materialised once its
 * 5m window has closed; a minute that closes earlier is answered at read time until then. So a symbol that trades in
 * m of the five minutes costs one read and one write per 5 minutes, not m + 1 of each.
 */
import type { Interval, WindowRef } from "./types.ts";
import { compareWindowRefs, FIVE_MINUTES, fiveMinuteStart, windowRefProblem } from "./windows.ts";

/** A window named for aggregation: 1-minute (the processor's form) or 5-minute (a deferred 5m window). */
export interface NamedWindow extends WindowRef {
  interval: Interval;
}

/** One (symbol, 5m) group to compute now: its 5m window and every 1m window inside it that holds ticks. */
export interface WorkUnit {
  symbol: string;
  start5m: number;
}

/** Windows to name again later, with the delay after which they are closed. */
export interface Deferral {
  delaySeconds: number;
  windows: NamedWindow[];
}

export interface Plan {
  compute: WorkUnit[];
  defer: Deferral[];
}

/**
 * Time after a window's end before it is treated as closed; a tick stored later makes its window be recomputed
 * (exact, but a second read and write). Ticks reach the table some seconds after their timestamp: a producer
 * batches (the file stream of issue 10 writes one object per 5 s of ticks, an API feed one POST per batch), then
 * S3 event or API call -> DataIngestion -> SQS -> DataProcessor (batching window 1 s, event source polling). With
 * 3 s, part 6 of `make bench` rewrote about a third of the windows (in-flight ticks); 15 s covers such a
 * producer's own batching plus the pipeline. It costs readers nothing: DataQuery computes every window ending after
 * now - READ_TIME_LOOKBACK_MS (120 s) from the ticks, and a window is stored about SETTLE_MS + the buffer's batching
 * window after its end, well inside that.
 */
export const SETTLE_MS = 15_000;
/** SQS's largest DelaySeconds (SendMessage). */
export const MAX_DELAY_SECONDS = 900;
/** Windows ending further ahead than this are computed at once instead of deferred. */
export const MAX_DEFER_MS = MAX_DELAY_SECONDS * 1000 - SETTLE_MS;
/** Largest number of windows named in one deferral message (about 50 bytes each: far below 256 KB). */
export const MAX_WINDOWS_PER_DEFERRAL = 2_000;

/** Validates a named window (1m or 5m aligned); returns a reason or null. */
export function namedWindowProblem(w: unknown): string | null {
  const base = windowRefProblem(w);
  if (base) return base;
  const { interval, start } = w as { interval?: unknown; start: number };
  if (interval === undefined || interval === "1m") return null;
  if (interval !== "5m") return `window interval ${JSON.stringify(interval)} is not "1m" or "5m"`;
  return start % FIVE_MINUTES === 0 ? null : `5m window start ${start} is not a multiple of ${FIVE_MINUTES} ms`;
}

/** The key a named window is deduplicated by. */
export function namedWindowKey(w: NamedWindow): string {
  return `${w.symbol}|${w.interval}|${w.start}`;
}

type Due = { kind: "now" } | { kind: "defer"; delaySeconds: number };

function due(end: number, now: number): Due {
  const wait = end + SETTLE_MS - now;
  if (wait <= 0 || end - now > MAX_DEFER_MS) return { kind: "now" };
  return { kind: "defer", delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.ceil(wait / 1000)) };
}

/**
 * Splits named windows (any number of duplicates, any order; 1m windows from the processor's events and the
 * schedule's markers, 5m windows from deferrals) into the groups to compute now and the deferrals: a window's group
 * is computed once its 5m window has closed (or ends more than MAX_DEFER_MS ahead), and deferred as that 5m window
 * otherwise. A 1m deferral from before the group layout (a message sent by an older version) is handled like its group.
 */
export function plan(windows: Iterable<NamedWindow>, now: number): Plan {
  const groups = new Map<string, WorkUnit>();
  const deferred = new Map<number, Map<string, NamedWindow>>();
  for (const w of windows) {
    const start5m = fiveMinuteStart(w.start);
    const d = due(start5m + FIVE_MINUTES, now);
    if (d.kind === "now") {
      groups.set(`${w.symbol}|${start5m}`, { symbol: w.symbol, start5m });
      continue;
    }
    const g: NamedWindow = { symbol: w.symbol, start: start5m, interval: "5m" };
    let m = deferred.get(d.delaySeconds);
    if (!m) deferred.set(d.delaySeconds, (m = new Map()));
    m.set(namedWindowKey(g), g);
  }
  const compute = [...groups.values()].sort((a, b) =>
    compareWindowRefs({ symbol: a.symbol, start: a.start5m }, { symbol: b.symbol, start: b.start5m }),
  );
  const deferList: Deferral[] = [];
  for (const [delaySeconds, m] of [...deferred.entries()].sort((a, b) => a[0] - b[0])) {
    const all = [...m.values()].sort(compareWindowRefs);
    for (let i = 0; i < all.length; i += MAX_WINDOWS_PER_DEFERRAL) {
      deferList.push({ delaySeconds, windows: all.slice(i, i + MAX_WINDOWS_PER_DEFERRAL) });
    }
  }
  return { compute, defer: deferList };
}

/**
 * Deferrals due at once naming `units` as their 5m windows, at most MAX_WINDOWS_PER_DEFERRAL per message: the
 * continuation of a run that had no time left for them (their windows have closed, so `plan` computes them at once
 * when the message comes back; computing a group again is idempotent).
 */
export function continuationDeferrals(units: readonly WorkUnit[]): Deferral[] {
  const out: Deferral[] = [];
  for (let i = 0; i < units.length; i += MAX_WINDOWS_PER_DEFERRAL) {
    const windows = units.slice(i, i + MAX_WINDOWS_PER_DEFERRAL).map((u): NamedWindow => ({ symbol: u.symbol, start: u.start5m, interval: "5m" }));
    out.push({ delaySeconds: 0, windows });
  }
  return out;
}

/** The tick time range `[from, to)` one work unit reads: its whole 5m window. */
export function unitRange(u: WorkUnit): { from: number; to: number } {
  return { from: u.start5m, to: u.start5m + FIVE_MINUTES };
}

/** Body of a deferral message (docs/design.md): `{"v": 1, "deferred": [{"symbol", "start", "interval"}]}`. */
export function deferralBody(windows: NamedWindow[]): string {
  return JSON.stringify({ v: 1, deferred: windows.map((w) => ({ symbol: w.symbol, start: w.start, interval: w.interval })) });
}

/** Most windows one container remembers as deferred (about 100 bytes each); beyond it, deferrals are just sent. */
export const MAX_REMEMBERED_DEFERRALS = 100_000;

/**
 * The windows this container has already deferred and whose deferral has not come due yet (R-PERF-1). A stream names
 * an open window in every run until it closes; each run used to send its own deferral, the deferrals came due in the
 * same second, and the buffer's two pollers could split them over two batches, so the window was read and written
 * twice (part 6 of `make bench`: 1.25-2.25 aggregate writes per stored window). A run now leaves out a window this
 * container has deferred already.
 *
 * Why skipping is exact: a deferral is sent only for an open window and comes due at or after the window's end plus
 * SETTLE_MS; the message stays invisible until `sentAt + delay`. A later run that names the window while `now <
 * dueAt` (the same container's clock) handles ticks stored before `now`, so the pending deferral's read, which
 * happens after it becomes visible, already sees them. Once `now >= dueAt` the entry is forgotten and the window is
 * handled as usual. Only deferrals whose message was accepted by SQS are remembered (`remember` after the send).
 * State lives in the warm container (one per concurrent instance); a cold start simply forgets, which costs a
 * repeat, never a loss.
 */
export class DeferralLedger {
  private readonly due = new Map<string, number>();
  private readonly byDue = new Map<number, string[]>();

  constructor(readonly capacity: number = MAX_REMEMBERED_DEFERRALS) {}

  /** Windows remembered now (after forgetting the due ones). */
  size(now: number): number {
    this.forget(now);
    return this.due.size;
  }

  /** True when this container deferred `w` and that deferral has not come due at `now`. */
  pending(w: NamedWindow, now: number): boolean {
    const at = this.due.get(namedWindowKey(w));
    return at !== undefined && now < at;
  }

  /** Remembers windows whose deferral was sent at `sentAt` with `delaySeconds`. */
  remember(windows: NamedWindow[], sentAt: number, delaySeconds: number): void {
    this.forget(sentAt);
    const at = sentAt + delaySeconds * 1000;
    for (const w of windows) {
      const k = namedWindowKey(w);
      const old = this.due.get(k);
      if (old !== undefined && old >= at) continue; // a deferral coming due later covers the window already
      if (old === undefined && this.due.size >= this.capacity) continue; // full: this one is just not remembered
      this.due.set(k, at);
      let list = this.byDue.get(at);
      if (!list) this.byDue.set(at, (list = []));
      list.push(k);
    }
  }

  /** Leaves out of a plan's deferrals the windows already pending here (`now`: the plan's clock). */
  unsent(deferrals: Deferral[], now: number): { send: Deferral[]; skipped: number } {
    this.forget(now);
    let skipped = 0;
    const send: Deferral[] = [];
    for (const d of deferrals) {
      const windows = d.windows.filter((w) => !this.pending(w, now));
      skipped += d.windows.length - windows.length;
      if (windows.length > 0) send.push({ delaySeconds: d.delaySeconds, windows });
    }
    return { send, skipped };
  }

  private forget(now: number): void {
    for (const [at, keys] of this.byDue) {
      if (at > now) continue;
      for (const k of keys) if (this.due.get(k) === at) this.due.delete(k);
      this.byDue.delete(at);
    }
  }
}
