/**
 * The TickStore port (docs/design.md "TickStore"): everything the handlers read from and write to the state table,
 * in domain terms. The handlers depend on this interface only; `dynamodb-store.ts` implements it over DynamoDB (and
 * owns every key expression and the item layout), `test/fakes/ddb-table.ts` implements it in memory for the tests.
 * Model: aws-samples/serverless-typescript-demo `store/product-store.ts` + `store/dynamodb/`.
 */
import type { Aggregate, StoredTick } from "../core/aggregate.ts";
import type { LowLevelKey } from "../core/query.ts";
import type { Interval, Tick } from "../core/types.ts";

/** A tick read back: the tick fields (core/tick.ts owns them) plus its sort key as the store returned it. */
export interface TickRow extends Tick {
  key: string;
}

/** A stored aggregate as the API answers it: the aggregate plus the time it was computed (epoch ms). */
export interface AggregateRow extends Aggregate {
  computedAt: number;
}

/**
 * The aggregates of one (symbol, 5m) group, computed from one read of its ticks and stored as ONE item
 * (docs/design.md "DynamoDB item layout"): the 5m window and every 1m window inside it that holds ticks.
 */
export interface GroupAggregates {
  symbol: string;
  start5m: number;
  /** the 5m window's aggregate; null when it cannot be stored (the aggregator records it under `#FAILED`) */
  five: Aggregate | null;
  /** the 1m windows holding ticks, ascending by start (one that cannot be stored is left out and recorded) */
  minutes: Aggregate[];
  /**
   * ticks read for the group (unreadable ones included): ticks are only ever added, so a computation that read MORE
   * ticks is the newer one (the conditional write keeps it)
   */
  ticks: number;
}

/** The continuation key of a page (opaque to the handlers; core/query.ts turns it into the `next` token). */
export type PageKey = LowLevelKey;

/** One page request: sort keys in `[lo, hi]` (inclusive Number bounds, core/keys.ts `tickKeyRange`), oldest first. */
export interface PageRequest {
  symbol: string;
  lo: string;
  hi: string;
  limit: number;
  /** the key the page starts after (the previous page's `last`) */
  start?: PageKey;
}

/** One page: its rows and, when more may follow, the key to continue after. */
export interface Page<T> {
  items: T[];
  last?: PageKey;
}

/** The window start (epoch ms) a page key stands for: a tick key's millisecond or an aggregate's window start. */
export function pageKeyTime(k: PageKey): number {
  return Math.trunc(Number(k.timestamp.N));
}

/** A tick to write: `id` names it in the failures, `key` is its sort key (core/keys.ts `tickKey`). */
export interface TickToPut {
  id: string;
  tick: Tick;
  key: string;
}

/** Options of `putTicks`. Every retry loop is bounded by attempts AND by the invocation's remaining time. */
export interface PutTicksOptions {
  /** epoch ms of the write (the TTL counts from it) */
  now: number;
  /** ms left in the invocation (context.getRemainingTimeInMillis) */
  remainingMs: () => number;
  /** stop retrying when fewer ms than this would remain after the backoff (default 3000) */
  reserveMs?: number;
  /** attempts per chunk, first included (default 8) */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** called once per retry (for metrics/logs) */
  onRetry?: (info: { attempt: number; items: number; reason: string; delayMs: number }) => void;
}

/** Result of `putTicks`: ids that could not be written, with the reason (never thrown). */
export interface PutTicksResult {
  failed: Map<string, string>;
}

/** A `#DIRTY` marker read back: its time, its id (for logs) and the encoded `SYMBOL|start` pairs it names. */
export interface DirtyMarker {
  ts: number;
  id: string;
  windows: string[];
}

/** One window the aggregator skipped because its aggregate cannot be computed or stored. */
export interface FailedWindow {
  symbol: string;
  interval: string;
  windowStart: number;
  reason: string;
}

/** The state table as the handlers see it. */
export interface TickStore {
  /** The newest tick of `symbol`, or undefined when it has none. */
  latestTick(symbol: string): Promise<TickRow | undefined>;
  /** One page of the ticks of `symbol` (DataQuery `/ticks`). */
  ticksPage(req: PageRequest): Promise<Page<TickRow>>;
  /**
   * One page of the stored aggregates of `symbol` for `interval` (DataQuery `/aggregates`): 5m rows, or the 1m rows
   * unpacked from the group items (a 1m page's `last` names its last minute, not an item).
   */
  aggregatesPage(req: PageRequest & { interval: Interval }): Promise<Page<AggregateRow>>;
  /** The ticks of `symbol` with `from <= ts < to` (a 5-minute window, named minutes), oldest first, strongly consistent. */
  ticksBetween(symbol: string, from: number, to: number): AsyncIterable<StoredTick>;
  /** `computedAt` of the stored group of `symbol` at `start5m`, or undefined when none is stored. */
  groupComputedAt(symbol: string, start5m: number): Promise<number | undefined>;
  /** Writes ticks (the same key twice is one item); never throws for write failures: they come back in `failed`. */
  putTicks(ticks: Iterable<TickToPut>, opts: PutTicksOptions): Promise<PutTicksResult>;
  /**
   * Puts a group computed at `computedAt` unless the stored one read MORE ticks (ticks are only ever added, so a
   * smaller count means a stale read racing a newer recompute). Returns false when the newer one was kept.
   */
  putGroup(g: GroupAggregates, computedAt: number): Promise<boolean>;
  /** Writes one `#DIRTY` marker at `now` naming the encoded `windows`; `disc` keeps two markers of one ms apart. */
  putDirtyMarker(now: number, disc: string, windows: readonly string[]): Promise<void>;
  /** The `#DIRTY` markers written at or after `from` (epoch ms), in time order, strongly consistent. */
  dirtyMarkers(from: number): AsyncIterable<DirtyMarker>;
  /** The scheduler cursor's `lastRun` (epoch ms), or undefined when there is none yet. */
  getCursor(): Promise<number | undefined>;
  /** Advances the scheduler cursor to `lastRun` (never backwards). Returns false when it was already later. */
  putCursor(lastRun: number): Promise<boolean>;
  /** Records a skipped window under `#FAILED` (one record per window: a rerun overwrites it). */
  putFailedWindow(w: FailedWindow, disc: string, failedAt: number): Promise<void>;
}
