/**
 * The TickStore over DynamoDB (docs/design.md "DynamoDB item layout", "TickStore"): the item layout (tick, aggregate,
 * `#DIRTY` / `#CURSOR` / `#FAILED` bookkeeping items) and every key and condition expression live here, nowhere else.
 * Built on the protocol helpers of `ddb.ts` (client, BatchWriteItem with retries, paginated Query).
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type QueryCommandInput,
} from "@aws-sdk/client-dynamodb";
import { NumberValueImpl as NumberValue, unmarshall } from "@aws-sdk/util-dynamodb";
import type { StoredTick } from "../core/aggregate.ts";
import { aggregatePartition, decodeTickKey, tickKeyRange } from "../core/keys.ts";
import { INTERVALS, type Interval, type Tick } from "../core/types.ts";
import { retentionDays } from "./config.ts";
import { batchWriteAll, ddbClient, type Item, queryPage, queryPages } from "./ddb.ts";
import type {
  AggregateRow,
  DirtyMarker,
  FailedWindow,
  GroupAggregates,
  Page,
  PageKey,
  PageRequest,
  PutTicksOptions,
  PutTicksResult,
  TickRow,
  TickStore,
  TickToPut,
} from "./tick-store.ts";

export const DIRTY_PARTITION = "#DIRTY";
export const CURSOR_PARTITION = "#CURSOR";
/** Partition of the records of windows the aggregator could not compute or store (issue 14). */
export const FAILED_PARTITION = "#FAILED";
/** `#DIRTY` markers live one day (their TTL): the first scheduled run looks back as far. */
export const DIRTY_MARKER_TTL_S = 86_400;

/**
 * The tick item (keys symbol S / timestamp N = `key`). `extra` is stored as its JSON text (an S attribute), not as a
 * map: the AWS SDK's JSON protocol builds maps by assignment into `{}`, which drops a field named `__proto__` both when
 * it sends an item and when it reads one (issue 14), so a map could not keep every field exactly as sent. The text
 * keeps every name and every number exactly (JSON.parse(JSON.stringify(x)) is x for the JSON values a tick carries).
 */
export function tickItem(t: Tick, key: string, expiresAt: number): Item {
  const item: Item = {
    symbol: { S: t.symbol },
    timestamp: { N: key },
    ts: { N: String(t.ts) },
    price: { N: String(t.price) },
    volume: { N: String(t.volume) },
    expiresAt: { N: String(expiresAt) },
  };
  if (t.extra && Object.keys(t.extra).length > 0) item.extra = { S: JSON.stringify(t.extra) };
  return item;
}

function num(item: Item, name: string): number {
  const n = item[name]?.N;
  if (n === undefined) throw new Error(`item ${JSON.stringify(item.symbol?.S)}/${item.timestamp?.N} has no number ${name}`);
  return Number(n);
}

/**
 * Decodes a tick item. `extra` is JSON text (see tickItem); items written before issue 14 hold a map, whose numbers
 * beyond JS precision come back as their decimal string form.
 */
export function tickRow(item: Item): TickRow {
  const key = item.timestamp?.N;
  if (key === undefined || item.symbol?.S === undefined) throw new Error("item has no symbol/timestamp key");
  const row: TickRow = {
    key,
    symbol: item.symbol.S,
    ts: item.ts?.N !== undefined ? Number(item.ts.N) : Math.trunc(Number(key)),
    price: num(item, "price"),
    volume: num(item, "volume"),
  };
  if (item.extra?.S !== undefined) {
    row.extra = JSON.parse(item.extra.S) as Record<string, unknown>;
  } else if (item.extra?.M) {
    const plain = unmarshall(item.extra.M, { wrapNumbers: true }) as Record<string, unknown>;
    row.extra = unwrapNumbers(plain) as Record<string, unknown>;
  }
  return row;
}

function unwrapNumbers(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(unwrapNumbers);
  if (v instanceof Set) return [...v].map(unwrapNumbers);
  if (v instanceof NumberValue) {
    // A double comes back as a number; an integer a double cannot hold exactly stays its exact decimal string.
    const n = Number(v.value);
    if (!Number.isFinite(n)) return v.value;
    // More than 17 significant digits is more precision than any double has: keep the digits.
    const m = /^-?(\d+)$/.exec(v.value);
    if (m && !Number.isSafeInteger(n) && (m[1] as string).replace(/^0+/, "").replace(/0+$/, "").length > 17) return v.value;
    return n;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, unwrapNumbers(x)]));
}

/**
 * The fields of one 1m row inside a group item's `minutes` list, in their order: each row is a list of Numbers (vwap
 * NULL when the volume is 0). Lists without attribute names keep a group of five minutes (about 700 bytes) within one
 * write unit: "A standard write request unit can write an item up to 1 KB" (https://aws.amazon.com/dynamodb/pricing/
 * on-demand/); a PutItem of a larger item costs one unit per started KB.
 */
export const MINUTE_ROW_FIELDS = ["windowStart", "open", "high", "low", "close", "volume", "vwap", "trades"] as const;

const numOrNull = (v: number | null): AttributeValue => (v === null ? { NULL: true } : { N: String(v) });

/**
 * The group item (`<SYMBOL>#5m` / 5m window start, docs/design.md): the 5m aggregate's attributes (absent when it
 * cannot be stored), `minutes` (the 1m rows, MINUTE_ROW_FIELDS), `ticks` (what the conditional write compares),
 * `computedAt`, `expiresAt`.
 */
export function groupItem(g: GroupAggregates, computedAt: number, expiresAt: number): Item {
  const item: Item = {
    symbol: { S: aggregatePartition(g.symbol, "5m") },
    timestamp: { N: String(g.start5m) },
    windowStart: { N: String(g.start5m) },
    windowEnd: { N: String(g.start5m + INTERVALS["5m"]) },
    interval: { S: "5m" },
    ticks: { N: String(g.ticks) },
    minutes: { L: g.minutes.map((m) => ({ L: MINUTE_ROW_FIELDS.map((f) => numOrNull(m[f])) })) },
    computedAt: { N: String(computedAt) },
    expiresAt: { N: String(expiresAt) },
  };
  const f = g.five;
  if (f) {
    Object.assign(item, {
      open: { N: String(f.open) },
      high: { N: String(f.high) },
      low: { N: String(f.low) },
      close: { N: String(f.close) },
      volume: { N: String(f.volume) },
      vwap: numOrNull(f.vwap),
      trades: { N: String(f.trades) },
    });
  }
  return item;
}

/** The API rows of a group item for `interval`: its 5m aggregate (none when it was not storable), or its 1m rows. */
export function groupRows(item: Item, interval: Interval): AggregateRow[] {
  const symbol = (item.symbol?.S ?? "").split("#")[0] as string;
  const computedAt = num(item, "computedAt");
  if (interval === "5m") {
    if (item.open?.N === undefined) return [];
    return [
      {
        symbol,
        interval,
        windowStart: num(item, "windowStart"),
        windowEnd: num(item, "windowEnd"),
        open: num(item, "open"),
        high: num(item, "high"),
        low: num(item, "low"),
        close: num(item, "close"),
        volume: num(item, "volume"),
        vwap: item.vwap?.N !== undefined ? Number(item.vwap.N) : null,
        trades: num(item, "trades"),
        computedAt,
      },
    ];
  }
  return (item.minutes?.L ?? []).map((row) => {
    const v = Object.fromEntries(
      MINUTE_ROW_FIELDS.map((f, i) => {
        const n = row.L?.[i]?.N;
        return [f, n === undefined ? null : Number(n)];
      }),
    ) as Record<(typeof MINUTE_ROW_FIELDS)[number], number | null>;
    const start = v.windowStart as number;
    return {
      symbol,
      interval,
      windowStart: start,
      windowEnd: start + INTERVALS["1m"],
      open: v.open as number,
      high: v.high as number,
      low: v.low as number,
      close: v.close as number,
      volume: v.volume as number,
      vwap: v.vwap,
      trades: v.trades as number,
      computedAt,
    };
  });
}

/** The integer part of an inclusive decimal bound, rounded toward the inside of the range. */
function boundInt(bound: string, lower: boolean): number {
  const [int = "0", frac = ""] = bound.split(".");
  return Number(int) + (lower && /[1-9]/.test(frac) ? 1 : 0);
}

/**
 * One page of 1m rows, unpacked from the group items of `<SYMBOL>#5m` (the one owner of 1m paging, used by the
 * DynamoDB store and the tests' in-memory store alike). The page holds the first `limit` minutes with
 * `lo <= start <= hi` after `req.start` (a minute start); `last` is set only when more minutes follow, and names the
 * page's last minute in the virtual partition `<SYMBOL>#1m` (what the API's next token carries). `fetch` reads one
 * page of group items; they are paged through from the group holding the first minute.
 */
export async function minutePage(
  req: PageRequest,
  fetch: (groups: PageRequest) => Promise<{ items: Item[]; last?: PageKey }>,
): Promise<Page<AggregateRow>> {
  const after = req.start ? boundInt(req.start.timestamp.N, false) : -1;
  const first = Math.max(boundInt(req.lo, true), after + 1);
  const lastStart = boundInt(req.hi, false);
  const rows: AggregateRow[] = [];
  if (first > lastStart) return { items: rows };
  const groupLo = String(first - (first % INTERVALS["5m"]));
  let start: PageKey | undefined;
  do {
    const page = await fetch({ symbol: req.symbol, lo: groupLo, hi: req.hi, limit: req.limit + 1, ...(start ? { start } : {}) });
    for (const item of page.items) {
      for (const r of groupRows(item, "1m")) if (r.windowStart >= first && r.windowStart <= lastStart) rows.push(r);
    }
    start = page.last;
  } while (start && rows.length <= req.limit);
  if (rows.length <= req.limit) return { items: rows };
  const items = rows.slice(0, req.limit);
  const lastRow = items[items.length - 1] as AggregateRow;
  return { items, last: { symbol: { S: aggregatePartition(lastRow.symbol, "1m") }, timestamp: { N: String(lastRow.windowStart) } } };
}

/** The TTL attribute `expiresAt` (epoch seconds) of an item written at `nowMs` that lives `days` days. */
export function expiresAtOf(nowMs: number, days: number): number {
  return Math.floor(nowMs / 1000) + days * 86_400;
}

/** A `#DIRTY` marker item: `timestamp` = `<now>.<disc>`, `windows` = list of `SYMBOL|start` strings, TTL one day. */
export function dirtyMarkerItem(now: number, disc: string, windows: readonly string[]): Item {
  return {
    symbol: { S: DIRTY_PARTITION },
    timestamp: { N: `${now}.${disc}` },
    windows: { L: windows.map((S) => ({ S })) },
    expiresAt: { N: String(Math.floor(now / 1000) + DIRTY_MARKER_TTL_S) },
  };
}

/** A `#DIRTY` marker item read back (a missing entry reads as "", which no pair decodes from). */
export function dirtyMarkerOf(item: Item): DirtyMarker {
  const id = item.timestamp?.N ?? "";
  return { ts: Math.trunc(Number(id)), id, windows: (item.windows?.L ?? []).map((v) => v.S ?? "") };
}

/** The key of the scheduler cursor item (`#CURSOR` / 0, attribute `lastRun`). */
export const CURSOR_KEY: Item = { symbol: { S: CURSOR_PARTITION }, timestamp: { N: "0" } };

/**
 * A `#FAILED` record: `timestamp` = `<window start>.<disc of symbol|interval>` (one item per window: a rerun
 * overwrites it), attributes `window` (`SYMBOL#interval|start`), `reason`, `failedAt`, `expiresAt`.
 */
export function failedWindowItem(w: FailedWindow, disc: string, failedAt: number, expiresAt: number): Item {
  return {
    symbol: { S: FAILED_PARTITION },
    timestamp: { N: `${w.windowStart}.${disc}` },
    window: { S: `${aggregatePartition(w.symbol, w.interval)}|${w.windowStart}` },
    reason: { S: w.reason.slice(0, 1000) },
    failedAt: { N: String(failedAt) },
    expiresAt: { N: String(expiresAt) },
  };
}

/** Options of a DynamoTickStore. */
export interface DynamoTickStoreOptions {
  client?: DynamoDBClient;
  /** days items live (their TTL `expiresAt`), read when an item is written (default: DATA_RETENTION_DAYS) */
  retentionDays?: () => number;
}

/** The TickStore of one table. Cheap to build: one per invocation (the table name comes from the environment). */
export class DynamoTickStore implements TickStore {
  private readonly client: DynamoDBClient;
  private readonly retentionDays: () => number;

  constructor(
    readonly table: string,
    opts: DynamoTickStoreOptions = {},
  ) {
    this.client = opts.client ?? ddbClient;
    this.retentionDays = opts.retentionDays ?? retentionDays;
  }

  /** The TTL attribute value (epoch seconds) of an item written at `nowMs`. */
  private expiresAt(nowMs: number): number {
    return expiresAtOf(nowMs, this.retentionDays());
  }

  /**
   * A Query of `partition`'s sort keys in `[lo, hi]` (inclusive Numbers), oldest first; `projection` names the
   * attributes to read (placeholders for every name: VOLUME and TIMESTAMP are DynamoDB reserved words).
   */
  private rangeQuery(partition: string, lo: string, hi: string, projection: Record<string, string> = {}): QueryCommandInput {
    const names = Object.keys(projection);
    return {
      TableName: this.table,
      KeyConditionExpression: "#s = :s AND #t BETWEEN :lo AND :hi",
      ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp", ...projection },
      ExpressionAttributeValues: { ":s": { S: partition }, ":lo": { N: lo }, ":hi": { N: hi } },
      ...(names.length > 0 ? { ProjectionExpression: ["#t", ...names].join(", ") } : {}),
    };
  }

  async latestTick(symbol: string): Promise<TickRow | undefined> {
    const { items } = await queryPage(
      {
        TableName: this.table,
        KeyConditionExpression: "#s = :s",
        ExpressionAttributeNames: { "#s": "symbol" },
        ExpressionAttributeValues: { ":s": { S: symbol } },
        ScanIndexForward: false,
        Limit: 1,
      },
      this.client,
    );
    const item = items[0];
    return item ? tickRow(item) : undefined;
  }

  /** One page of a partition's sort keys in `[lo, hi]`. */
  private async page(partition: string, req: PageRequest): Promise<{ items: Item[]; last?: PageKey }> {
    const { items, last } = await queryPage(
      {
        ...this.rangeQuery(partition, req.lo, req.hi),
        Limit: req.limit,
        ...(req.start ? { ExclusiveStartKey: req.start as unknown as Item } : {}),
      },
      this.client,
    );
    return { items, ...(last ? { last: last as unknown as PageKey } : {}) };
  }

  async ticksPage(req: PageRequest): Promise<Page<TickRow>> {
    const { items, last } = await this.page(req.symbol, req);
    return { items: items.map(tickRow), ...(last ? { last } : {}) };
  }

  async aggregatesPage(req: PageRequest & { interval: Interval }): Promise<Page<AggregateRow>> {
    const partition = aggregatePartition(req.symbol, "5m");
    if (req.interval === "1m") {
      return minutePage(req, (groups) => this.page(partition, groups));
    }
    const { items, last } = await this.page(partition, req);
    return { items: items.flatMap((it) => groupRows(it, "5m")), ...(last ? { last } : {}) };
  }

  /** One paginated, strongly consistent Query over the tick keys of `[from, to)` (key, price and volume only). */
  async *ticksBetween(symbol: string, from: number, to: number): AsyncGenerator<StoredTick> {
    const { lo, hi } = tickKeyRange(from, to);
    for await (const page of queryPages(
      { ...this.rangeQuery(symbol, lo, hi, { "#p": "price", "#v": "volume" }), ConsistentRead: true },
      { client: this.client },
    )) {
      for (const item of page) {
        yield { key: decodeTickKey(item.timestamp?.N ?? ""), price: Number(item.price?.N), volume: Number(item.volume?.N) };
      }
    }
  }

  async groupComputedAt(symbol: string, start5m: number): Promise<number | undefined> {
    const res = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { symbol: { S: aggregatePartition(symbol, "5m") }, timestamp: { N: String(start5m) } },
        ProjectionExpression: "#c",
        ExpressionAttributeNames: { "#c": "computedAt" },
        ConsistentRead: true,
      }),
    );
    return res.Item?.computedAt?.N === undefined ? undefined : Number(res.Item.computedAt.N);
  }

  async putTicks(ticks: Iterable<TickToPut>, opts: PutTicksOptions): Promise<PutTicksResult> {
    const expiresAt = this.expiresAt(opts.now);
    const entries = [...ticks].map((t) => ({ id: t.id, item: tickItem(t.tick, t.key, expiresAt) }));
    const { now: _now, ...write } = opts;
    const res = await batchWriteAll(this.table, entries, { ...write, client: this.client });
    return { failed: res.failed };
  }

  async putGroup(g: GroupAggregates, computedAt: number): Promise<boolean> {
    const item = groupItem(g, computedAt, this.expiresAt(computedAt));
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: "attribute_not_exists(#n) OR #n <= :n",
          ExpressionAttributeNames: { "#n": "ticks" },
          ExpressionAttributeValues: { ":n": item.ticks as AttributeValue },
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === "ConditionalCheckFailedException") return false;
      throw e;
    }
  }

  async putDirtyMarker(now: number, disc: string, windows: readonly string[]): Promise<void> {
    await this.client.send(new PutItemCommand({ TableName: this.table, Item: dirtyMarkerItem(now, disc, windows) }));
  }

  async *dirtyMarkers(from: number): AsyncGenerator<DirtyMarker> {
    for await (const page of queryPages(
      {
        TableName: this.table,
        KeyConditionExpression: "#s = :d AND #t >= :from",
        ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp" },
        ExpressionAttributeValues: { ":d": { S: DIRTY_PARTITION }, ":from": { N: String(from) } },
        ConsistentRead: true,
      },
      { client: this.client },
    )) {
      for (const item of page) yield dirtyMarkerOf(item);
    }
  }

  async getCursor(): Promise<number | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: CURSOR_KEY, ConsistentRead: true }),
    );
    const v = out.Item?.lastRun?.N;
    return v === undefined ? undefined : Number(v);
  }

  async putCursor(lastRun: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...CURSOR_KEY, lastRun: { N: String(lastRun) } },
          ConditionExpression: "attribute_not_exists(#lr) OR #lr < :lr",
          ExpressionAttributeNames: { "#lr": "lastRun" },
          ExpressionAttributeValues: { ":lr": { N: String(lastRun) } },
        }),
      );
      return true;
    } catch (e) {
      if ((e as Error).name === "ConditionalCheckFailedException") return false;
      throw e;
    }
  }

  async putFailedWindow(w: FailedWindow, disc: string, failedAt: number): Promise<void> {
    const item = failedWindowItem(w, disc, failedAt, this.expiresAt(failedAt));
    await this.client.send(new PutItemCommand({ TableName: this.table, Item: item }));
  }
}
