/**
 * DynamoDB adapter (the only module that talks to DynamoDB). Low-level client and AttributeValue maps on purpose:
 * tick sort keys have up to 24 significant digits and must travel as strings (`{N: "..."}`), never JS numbers.
 * Item layout: docs/design.md "DynamoDB item layout".
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { NumberValueImpl as NumberValue, unmarshall } from "@aws-sdk/util-dynamodb";
import type { Aggregate, StoredTick } from "../core/aggregate.ts";
import { decodeTickKey, tickKeyRange } from "../core/keys.ts";
import type { Tick } from "../core/types.ts";
import { clientConfig } from "./config.ts";

/** The shared DynamoDB client (honours AWS_ENDPOINT_URL through the SDK's own env handling). */
export const ddbClient = new DynamoDBClient(clientConfig());

export type Item = Record<string, AttributeValue>;
export const DIRTY_PARTITION = "#DIRTY";
export const CURSOR_PARTITION = "#CURSOR";
/** Partition of the records of windows the aggregator could not compute or store (issue 14). */
export const FAILED_PARTITION = "#FAILED";
/** BatchWriteItem accepts at most 25 put requests per call. */
export const BATCH_WRITE_MAX = 25;
/** Bound on pages read by one paginated Query (each page is <= 1 MB): protects every loop. */
export const MAX_QUERY_PAGES = 10_000;

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

/** A tick item read back: the key as DynamoDB returned it, plus the tick fields. */
export interface TickRow {
  key: string;
  symbol: string;
  ts: number;
  price: number;
  volume: number;
  extra?: Record<string, unknown>;
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

/** The aggregate item (`<SYMBOL>#<interval>` / window start). */
export function aggregateItem(a: Aggregate, computedAt: number, expiresAt: number): Item {
  return {
    symbol: { S: `${a.symbol}#${a.interval}` },
    timestamp: { N: String(a.windowStart) },
    open: { N: String(a.open) },
    high: { N: String(a.high) },
    low: { N: String(a.low) },
    close: { N: String(a.close) },
    volume: { N: String(a.volume) },
    vwap: a.vwap === null ? { NULL: true } : { N: String(a.vwap) },
    trades: { N: String(a.trades) },
    windowStart: { N: String(a.windowStart) },
    windowEnd: { N: String(a.windowEnd) },
    interval: { S: a.interval },
    computedAt: { N: String(computedAt) },
    expiresAt: { N: String(expiresAt) },
  };
}

/** The API form of an aggregate item. */
export function aggregateRow(item: Item): Record<string, unknown> {
  const symbol = (item.symbol?.S ?? "").split("#")[0];
  return {
    symbol,
    interval: item.interval?.S,
    windowStart: num(item, "windowStart"),
    windowEnd: num(item, "windowEnd"),
    open: num(item, "open"),
    high: num(item, "high"),
    low: num(item, "low"),
    close: num(item, "close"),
    volume: num(item, "volume"),
    vwap: item.vwap?.N !== undefined ? Number(item.vwap.N) : null,
    trades: num(item, "trades"),
    computedAt: num(item, "computedAt"),
  };
}

/** Options of `batchWriteAll`. Every retry loop is bounded by attempts AND by the invocation's remaining time. */
export interface BatchWriteOptions {
  /** ms left in the invocation (context.getRemainingTimeInMillis) */
  remainingMs: () => number;
  /** stop retrying when fewer ms than this would remain after the backoff (default 3000) */
  reserveMs?: number;
  /** attempts per chunk, first included (default 8) */
  maxAttempts?: number;
  /** backoff base and cap in ms: delay = random() * min(cap, base * 2^attempt) ("full jitter"; defaults 50 / 5000) */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** BatchWriteItem calls in flight (default 4) */
  concurrency?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  client?: DynamoDBClient;
  /** called once per retry (for metrics/logs) */
  onRetry?: (info: { attempt: number; items: number; reason: string; delayMs: number }) => void;
}

/** Result of `batchWriteAll`: ids that could not be written, with the reason. */
export interface BatchWriteResult {
  failed: Map<string, string>;
  calls: number;
  retries: number;
}

const RETRYABLE = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "TimeoutError",
]);

/** True when an SDK error may succeed on retry (throttling, 5xx, network). */
export function isRetryable(e: unknown): boolean {
  const err = e as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string };
  if (err?.name && RETRYABLE.has(err.name)) return true;
  if (err?.$retryable) return true;
  const status = err?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  return ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(err?.code ?? "");
}

/**
 * True when DynamoDB refused a request because of the data it carries (ValidationException: e.g. "Number overflow",
 * item too large; SerializationException): retrying the same item cannot help.
 */
export function isDataRejection(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === "ValidationException" || name === "SerializationException";
}

const THROTTLING = new Set(["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]);

/**
 * True when a failed BatchWriteItem call of several items should be split rather than retried whole: any error but
 * throttling and network trouble. A server error (5xx) that one item's content causes (moto answers 500 to a string
 * it cannot encode, issue 14) would otherwise repeat on every retry of the chunk and fail its healthy neighbours; split,
 * the halves without that item succeed and the item ends alone (then retried with backoff like any single item).
 */
export function shouldBisect(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $retryable?: { throttling?: boolean } };
  if (err?.name && THROTTLING.has(err.name)) return false;
  if (err?.$retryable?.throttling) return false;
  return !["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(err?.code ?? "") && err?.name !== "TimeoutError";
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Writes items with BatchWriteItem (PutRequest), 25 per call, duplicates by `id` collapsed (DynamoDB rejects two
 * requests for one key in a call). UnprocessedItems and retryable errors are retried with exponential backoff and full
 * jitter, bounded by `maxAttempts` and by the remaining invocation time; any other error on a multi-item chunk (a
 * non-retryable one, or a server error that may be caused by one item: `shouldBisect`) splits the chunk in halves to
 * isolate the offending item, so only its record fails. Never throws for write failures: they are returned in `failed`.
 */
export async function batchWriteAll(
  table: string,
  entries: Iterable<{ id: string; item: Item }>,
  opts: BatchWriteOptions,
): Promise<BatchWriteResult> {
  const client = opts.client ?? ddbClient;
  const reserveMs = opts.reserveMs ?? 3000;
  const maxAttempts = opts.maxAttempts ?? 8;
  const base = opts.baseDelayMs ?? 50;
  const cap = opts.maxDelayMs ?? 5000;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const unique = new Map<string, Item>();
  for (const e of entries) unique.set(e.id, e.item);
  const keyOf = (it: Item): string => `${it.symbol?.S}\u0000${it.timestamp?.N}`;
  const idByKey = new Map<string, string>();
  for (const [id, it] of unique) idByKey.set(keyOf(it), id);
  const failed = new Map<string, string>();
  const result: BatchWriteResult = { failed, calls: 0, retries: 0 };
  const queue: Item[][] = [];
  const all = [...unique.values()];
  for (let i = 0; i < all.length; i += BATCH_WRITE_MAX) queue.push(all.slice(i, i + BATCH_WRITE_MAX));

  const failAll = (items: Item[], reason: string): void => {
    for (const it of items) failed.set(idByKey.get(keyOf(it)) ?? keyOf(it), reason);
  };

  const writeChunk = async (chunk: Item[]): Promise<void> => {
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      let reason: string;
      try {
        result.calls++;
        const out = await client.send(
          new BatchWriteItemCommand({ RequestItems: { [table]: pending.map((Item) => ({ PutRequest: { Item } })) } }),
        );
        const left: WriteRequest[] = out.UnprocessedItems?.[table] ?? [];
        pending = left.map((w) => w.PutRequest?.Item).filter((x): x is Item => x !== undefined);
        if (pending.length === 0) return;
        reason = "UnprocessedItems";
      } catch (e) {
        if (pending.length > 1 && shouldBisect(e)) {
          const mid = Math.ceil(pending.length / 2);
          queue.push(pending.slice(0, mid), pending.slice(mid));
          return;
        }
        if (!isRetryable(e)) {
          const msg = `${(e as Error).name ?? "Error"}: ${(e as Error).message}`;
          failAll(pending, `BatchWriteItem rejected the item (${msg})`);
          return;
        }
        reason = (e as Error).name ?? "retryable error";
      }
      if (attempt >= maxAttempts) {
        failAll(pending, `not written after ${attempt} BatchWriteItem attempts (${reason})`);
        return;
      }
      const delayMs = Math.floor(random() * Math.min(cap, base * 2 ** attempt));
      if (opts.remainingMs() - delayMs < reserveMs) {
        failAll(pending, `not written: invocation time running out after ${attempt} attempts (${reason})`);
        return;
      }
      result.retries++;
      opts.onRetry?.({ attempt, items: pending.length, reason, delayMs });
      await sleep(delayMs);
    }
  };

  const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, async () => {
    for (let chunk = queue.shift(); chunk !== undefined; chunk = queue.shift()) await writeChunk(chunk);
  });
  await Promise.all(workers);
  return result;
}

/** Yields the pages of a Query (LastEvaluatedKey pagination), at most `maxPages` pages. */
export async function* queryPages(
  input: QueryCommandInput,
  opts: { client?: DynamoDBClient; maxPages?: number } = {},
): AsyncGenerator<Item[]> {
  const client = opts.client ?? ddbClient;
  const maxPages = opts.maxPages ?? MAX_QUERY_PAGES;
  let start: Item | undefined = input.ExclusiveStartKey;
  for (let page = 0; page < maxPages; page++) {
    const out = await client.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
    yield out.Items ?? [];
    start = out.LastEvaluatedKey;
    if (!start) return;
  }
  throw new Error(`Query on ${input.TableName} exceeded ${maxPages} pages; narrow the range`);
}

/**
 * The stored ticks of `symbol` with `from <= ts < to` (key, price, volume only), oldest first: one paginated, strongly
 * consistent Query over the tick keys (DataAggregator's windows, DataQuery's read-time windows).
 */
export async function* storedTicks(
  table: string,
  symbol: string,
  from: number,
  to: number,
  client: DynamoDBClient = ddbClient,
): AsyncGenerator<StoredTick> {
  const { lo, hi } = tickKeyRange(from, to);
  for await (const page of queryPages(
    {
      TableName: table,
      KeyConditionExpression: "#s = :s AND #t BETWEEN :lo AND :hi",
      // Placeholders for every name: VOLUME (and TIMESTAMP) are DynamoDB reserved words.
      ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp", "#p": "price", "#v": "volume" },
      ExpressionAttributeValues: { ":s": { S: symbol }, ":lo": { N: lo }, ":hi": { N: hi } },
      ProjectionExpression: "#t, #p, #v",
      ConsistentRead: true,
    },
    { client },
  )) {
    for (const item of page) {
      yield { key: decodeTickKey(item.timestamp?.N ?? ""), price: Number(item.price?.N), volume: Number(item.volume?.N) };
    }
  }
}

/** One page of a Query: items and LastEvaluatedKey. */
export async function queryPage(
  input: QueryCommandInput,
  client: DynamoDBClient = ddbClient,
): Promise<{ items: Item[]; last?: Item }> {
  const out = await client.send(new QueryCommand(input));
  return { items: out.Items ?? [], ...(out.LastEvaluatedKey ? { last: out.LastEvaluatedKey } : {}) };
}

/** Puts one bookkeeping item of a `#...` partition (`#DIRTY`, `#FAILED`): `timestamp` = `sortKey`, plus `attrs`. */
async function putBookkeeping(table: string, partition: string, sortKey: string, attrs: Item, client: DynamoDBClient): Promise<void> {
  await client.send(
    new PutItemCommand({ TableName: table, Item: { symbol: { S: partition }, timestamp: { N: sortKey }, ...attrs } }),
  );
}

/** Writes one `#DIRTY` marker: `timestamp` = `<nowMs>.<disc>`, `windows` = `SYMBOL|start` strings, TTL 1 day. */
export async function putDirtyMarker(
  table: string,
  nowMs: number,
  disc: string,
  windows: string[],
  client: DynamoDBClient = ddbClient,
): Promise<void> {
  await putBookkeeping(
    table,
    DIRTY_PARTITION,
    `${nowMs}.${disc}`,
    { windows: { L: windows.map((S) => ({ S })) }, expiresAt: { N: String(Math.floor(nowMs / 1000) + 86_400) } },
    client,
  );
}

/**
 * Puts an aggregate unless the stored one was computed from MORE ticks (ticks are only ever added, so a smaller
 * count means a stale read racing a newer recompute). Returns false when the condition kept the newer item.
 */
export async function putAggregate(table: string, item: Item, client: DynamoDBClient = ddbClient): Promise<boolean> {
  try {
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: item,
        ConditionExpression: "attribute_not_exists(#tr) OR #tr <= :tr",
        ExpressionAttributeNames: { "#tr": "trades" },
        ExpressionAttributeValues: { ":tr": item.trades as AttributeValue },
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name === "ConditionalCheckFailedException") return false;
    throw e;
  }
}

/** Reads the scheduler cursor's `lastRun` (ms), or undefined when there is none yet. */
/** One item by key (strongly consistent), or undefined. */
export async function getItem(
  table: string,
  symbol: string,
  timestamp: number,
  client: DynamoDBClient = ddbClient,
): Promise<Item | undefined> {
  const out = await client.send(
    new GetItemCommand({ TableName: table, Key: { symbol: { S: symbol }, timestamp: { N: String(timestamp) } }, ConsistentRead: true }),
  );
  return out.Item;
}

export async function getCursor(table: string, client: DynamoDBClient = ddbClient): Promise<number | undefined> {
  const out = await client.send(
    new GetItemCommand({
      TableName: table,
      Key: { symbol: { S: CURSOR_PARTITION }, timestamp: { N: "0" } },
      ConsistentRead: true,
    }),
  );
  const v = out.Item?.lastRun?.N;
  return v === undefined ? undefined : Number(v);
}

/** Advances the scheduler cursor to `lastRun` (never moves it backwards). Returns false when it was already later. */
export async function putCursor(table: string, lastRun: number, client: DynamoDBClient = ddbClient): Promise<boolean> {
  try {
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: { symbol: { S: CURSOR_PARTITION }, timestamp: { N: "0" }, lastRun: { N: String(lastRun) } },
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

/** One window the aggregator skipped because its aggregate cannot be computed or stored. */
export interface FailedWindow {
  symbol: string;
  interval: string;
  windowStart: number;
  reason: string;
}

/**
 * Records a skipped window: `symbol` = `#FAILED`, `timestamp` = `<window start>.<disc of symbol|interval>` (one item per
 * window: a rerun overwrites it), attributes `window` (`SYMBOL#interval|start`), `reason`, `failedAt`, `expiresAt`.
 */
export async function putFailedWindow(
  table: string,
  w: FailedWindow,
  disc: string,
  failedAt: number,
  expiresAt: number,
  client: DynamoDBClient = ddbClient,
): Promise<void> {
  await putBookkeeping(
    table,
    FAILED_PARTITION,
    `${w.windowStart}.${disc}`,
    {
      window: { S: `${w.symbol}#${w.interval}|${w.windowStart}` },
      reason: { S: w.reason.slice(0, 1000) },
      failedAt: { N: String(failedAt) },
      expiresAt: { N: String(expiresAt) },
    },
    client,
  );
}
