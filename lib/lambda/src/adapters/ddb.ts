/**
 * DynamoDB protocol helpers (the only module that sends DynamoDB commands besides `dynamodb-store.ts`, which builds on
 * it): the shared client, BatchWriteItem with bounded retries and bisection, paginated Query, and the classification
 * of SDK errors. Low-level client and AttributeValue maps on purpose: tick sort keys have up to 24 significant digits
 * and must travel as strings (`{N: "..."}`), never JS numbers. The item layout and every key expression live in
 * `dynamodb-store.ts` (docs/design.md "DynamoDB item layout", "TickStore").
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DynamoDBClient,
  QueryCommand,
  type QueryCommandInput,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { clientConfig, withoutSdkLogger } from "./config.ts";

/** The shared DynamoDB client (honours AWS_ENDPOINT_URL through the SDK's own env handling). */
export const ddbClient = withoutSdkLogger(new DynamoDBClient(clientConfig()));

export type Item = Record<string, AttributeValue>;
/** BatchWriteItem accepts at most 25 put requests per call. */
export const BATCH_WRITE_MAX = 25;
/** Bound on pages read by one paginated Query (each page is <= 1 MB): protects every loop. */
export const MAX_QUERY_PAGES = 10_000;

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

/** One page of a Query: items and LastEvaluatedKey. */
export async function queryPage(
  input: QueryCommandInput,
  client: DynamoDBClient = ddbClient,
): Promise<{ items: Item[]; last?: Item }> {
  const out = await client.send(new QueryCommand(input));
  return { items: out.Items ?? [], ...(out.LastEvaluatedKey ? { last: out.LastEvaluatedKey } : {}) };
}

