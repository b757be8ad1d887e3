/**
 * An in-memory DynamoDB table behind aws-sdk-client-mock, for handler tests: BatchWriteItem (25-item limit,
 * duplicate-key rejection, injectable UnprocessedItems/errors), PutItem (with the two condition forms the store uses),
 * GetItem, and Query (the key-condition forms the store uses, ScanIndexForward, Limit, ExclusiveStartKey, a small
 * page size to force pagination). Numbers of the sort key are stored NORMALISED as DynamoDB does
 * ("1.500000000" -> "1.5") and compared exactly as decimals.
 * The same table is also a TickStore of its own (`implements TickStore`): the port's operations straight on the items,
 * without the DynamoDB protocol (the item layout comes from src/adapters/dynamodb-store.ts; ranges, order, pages and
 * conditions are computed here, independently). test/store.test.ts checks that both answer alike.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { retentionDays } from "../../src/adapters/config.ts";
import {
  CURSOR_KEY,
  DIRTY_PARTITION,
  dirtyMarkerItem,
  dirtyMarkerOf,
  expiresAtOf,
  failedWindowItem,
  groupItem,
  groupRows,
  minutePage,
  tickItem,
  tickRow,
} from "../../src/adapters/dynamodb-store.ts";
import type * as Port from "../../src/adapters/tick-store.ts";
import type { TickStore } from "../../src/adapters/tick-store.ts";
import type { StoredTick } from "../../src/core/aggregate.ts";
import { aggregatePartition, decodeTickKey } from "../../src/core/keys.ts";
import type { Interval } from "../../src/core/types.ts";

type Item = Record<string, AttributeValue>;

/** Exact decimal -> scaled BigInt (9 fraction digits), independent of the code under test. */
export function dec(n: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(n);
  if (!m) throw new Error(`fake table: unsupported number ${n}`);
  const v = BigInt(m[2] as string) * 1_000_000_000n + BigInt((m[3] ?? "").padEnd(9, "0"));
  return m[1] ? -v : v;
}

/** DynamoDB's normal form of a decimal: no trailing fraction zeros, no trailing dot. */
export function normalise(n: string): string {
  return n.includes(".") ? n.replace(/0+$/, "").replace(/\.$/, "") : n;
}

export interface FakeTableOptions {
  pageSize?: number;
  /** decide per BatchWriteItem call which items come back unprocessed (call index from 0) */
  unprocessed?: (item: Item, call: number) => boolean;
  /** throw instead of answering BatchWriteItem call `call` */
  batchError?: (call: number, items: Item[]) => Error | undefined;
  /** throw on PutItem of this item */
  putError?: (item: Item) => Error | undefined;
  /** false: a TickStore only, the DynamoDB client is not mocked (another FakeTable may mock it) */
  mock?: boolean;
}

/**
 * DynamoDB refuses a Number outside 1e-130 <= |n| <= 9.99...e125 with a ValidationException ("Number overflow" /
 * "Number underflow"), as the real service does (moto does too); checked on every Number, inside lists and maps too.
 */
function numberRangeCheck(item: Item): void {
  const numbers = function* (name: string, v: AttributeValue): Generator<[string, string]> {
    if (v.N !== undefined) yield [name, v.N];
    for (const x of v.L ?? []) yield* numbers(name, x);
    for (const x of Object.values(v.M ?? {})) yield* numbers(name, x);
  };
  for (const [name, n] of Object.entries(item).flatMap(([k, v]) => [...numbers(k, v)])) {
    const a = Math.abs(Number(n));
    if (a >= 1e126 || (a !== 0 && a < 1e-130)) {
      const what = a >= 1e126 ? "overflow. Attempting to store a number with magnitude larger than supported range" : "underflow. Attempting to store a number with magnitude smaller than supported range";
      throw new DynamoDBServiceException({ name: "ValidationException", $fault: "client", $metadata: { httpStatusCode: 400 }, message: `Number ${what} (${name})` });
    }
  }
}

export class FakeTable implements TickStore {
  readonly items = new Map<string, Item>();
  readonly calls = { batchWrite: 0, put: 0, query: 0, get: 0 };
  readonly batchSizes: number[] = [];
  readonly mock: AwsClientStub<DynamoDBClient> | undefined;

  constructor(
    readonly name: string,
    readonly opts: FakeTableOptions = {},
  ) {
    this.mock = opts.mock === false ? undefined : mockClient(DynamoDBClient);
    this.install();
  }

  private id(item: Item): string {
    return `${item.symbol?.S}\u0000${normalise(item.timestamp?.N ?? "")}`;
  }

  /** Stores an item as DynamoDB would (sort key normalised). */
  put(item: Item): void {
    const stored = { ...item, timestamp: { N: normalise(item.timestamp?.N ?? "") } };
    this.items.set(this.id(item), stored);
  }

  /** Items of a partition in key order. */
  partition(pk: string): Item[] {
    return [...this.items.values()]
      .filter((i) => i.symbol?.S === pk)
      .sort((a, b) => {
        const x = dec(a.timestamp?.N ?? "0");
        const y = dec(b.timestamp?.N ?? "0");
        return x < y ? -1 : x > y ? 1 : 0;
      });
  }

  private checkTable(t: string | undefined): void {
    if (t !== this.name) throw new Error(`fake table: unexpected table ${t}`);
  }

  private install(): void {
    const mock = this.mock;
    if (!mock) return;
    mock.on(BatchWriteItemCommand).callsFake((input) => {
      const call = this.calls.batchWrite++;
      const entries = Object.entries(input.RequestItems ?? {});
      if (entries.length !== 1) throw new Error("fake table: one table per batch expected");
      const [table, reqs] = entries[0] as [string, Array<{ PutRequest?: { Item?: Item } }>];
      this.checkTable(table);
      if (reqs.length < 1 || reqs.length > 25) {
        throw new DynamoDBServiceException({ name: "ValidationException", $fault: "client", $metadata: {}, message: "1..25 requests" });
      }
      const items = reqs.map((r) => r.PutRequest?.Item as Item);
      const ids = new Set(items.map((i) => this.id(i)));
      if (ids.size !== items.length) {
        throw new DynamoDBServiceException({
          name: "ValidationException",
          $fault: "client",
          $metadata: {},
          message: "Provided list of item keys contains duplicates",
        });
      }
      this.batchSizes.push(items.length);
      // moto answers 500 to a string it cannot encode as UTF-8 (a lone surrogate): the SDK sees a server error
      // (JSON.stringify writes exactly the lone surrogates as \udXXX escapes)
      if (items.some((i) => /(?<!\\)\\ud[89a-f]/.test(JSON.stringify(i)))) {
        throw new DynamoDBServiceException({ name: "InternalServerError", $fault: "server", $metadata: { httpStatusCode: 500 }, message: "Internal Server Error" });
      }
      const err = this.opts.batchError?.(call, items);
      if (err) throw err;
      const left: Item[] = [];
      for (const it of items) {
        if (this.opts.unprocessed?.(it, call)) left.push(it);
        else this.put(it);
      }
      return { UnprocessedItems: left.length ? { [table]: left.map((Item) => ({ PutRequest: { Item } })) } : {} };
    });

    mock.on(PutItemCommand).callsFake((input) => {
      this.calls.put++;
      this.checkTable(input.TableName);
      const item = input.Item as Item;
      numberRangeCheck(item);
      const err = this.opts.putError?.(item);
      if (err) throw err;
      if (input.ConditionExpression) {
        const m = /^attribute_not_exists\((#\w+)\) OR (#\w+) (<=|<) (:\w+)$/.exec(input.ConditionExpression);
        if (!m || m[1] !== m[2]) throw new Error(`fake table: unsupported condition ${input.ConditionExpression}`);
        const attr = input.ExpressionAttributeNames?.[m[1] as string] as string;
        const value = dec(input.ExpressionAttributeValues?.[m[4] as string]?.N ?? "");
        const cur = this.items.get(this.id(item))?.[attr]?.N;
        const ok = cur === undefined || (m[3] === "<=" ? dec(cur) <= value : dec(cur) < value);
        if (!ok) throw new ConditionalCheckFailedException({ $metadata: {}, message: "The conditional request failed" });
      }
      this.put(item);
      return {};
    });

    mock.on(GetItemCommand).callsFake((input) => {
      this.calls.get++;
      this.checkTable(input.TableName);
      const key = input.Key as Item;
      const it = this.items.get(this.id(key));
      return it ? { Item: it } : {};
    });

    mock.on(QueryCommand).callsFake((input) => {
      this.calls.query++;
      this.checkTable(input.TableName);
      const names = input.ExpressionAttributeNames ?? {};
      const vals = input.ExpressionAttributeValues ?? {};
      const kce = input.KeyConditionExpression ?? "";
      let m = /^(#\w+) = (:\w+)(?: AND (#\w+) (BETWEEN (:\w+) AND (:\w+)|>= (:\w+)))?$/.exec(kce);
      if (!m) throw new Error(`fake table: unsupported key condition ${kce}`);
      if (names[m[1] as string] !== "symbol") throw new Error("fake table: partition key is symbol");
      if (m[3] && names[m[3]] !== "timestamp") throw new Error("fake table: sort key is timestamp");
      const pk = vals[m[2] as string]?.S as string;
      let rows = this.partition(pk);
      if (m[5] && m[6]) {
        const lo = dec(vals[m[5]]?.N as string);
        const hi = dec(vals[m[6]]?.N as string);
        rows = rows.filter((r) => dec(r.timestamp?.N as string) >= lo && dec(r.timestamp?.N as string) <= hi);
      } else if (m[7]) {
        const lo = dec(vals[m[7]]?.N as string);
        rows = rows.filter((r) => dec(r.timestamp?.N as string) >= lo);
      }
      if (input.ScanIndexForward === false) rows.reverse();
      if (input.ExclusiveStartKey) {
        const s = input.ExclusiveStartKey;
        if (s.symbol?.S !== pk) throw new DynamoDBServiceException({ name: "ValidationException", $fault: "client", $metadata: {}, message: "start key partition" });
        const sk = dec(s.timestamp?.N as string);
        rows = rows.filter((r) => (input.ScanIndexForward === false ? dec(r.timestamp?.N as string) < sk : dec(r.timestamp?.N as string) > sk));
      }
      m = null;
      const n = Math.min(input.Limit ?? Number.POSITIVE_INFINITY, this.opts.pageSize ?? 7);
      const page = rows.slice(0, n);
      const last = page[page.length - 1];
      const more = rows.length > n || (input.Limit !== undefined && page.length === input.Limit);
      return {
        Items: page,
        Count: page.length,
        ...(more && last ? { LastEvaluatedKey: { symbol: last.symbol as AttributeValue, timestamp: last.timestamp as AttributeValue } } : {}),
      };
    });
  }

  /** Restores the real client. */
  restore(): void {
    this.mock?.restore();
  }

  // ---- TickStore: the port's operations straight on the items ----

  /** The items of a partition with sort keys in [lo, hi] after `start`, at most `limit` (DynamoDB's Limit semantics). */
  private pageOf(pk: string, req: Port.PageRequest): { items: Item[]; last?: Port.PageKey } {
    const lo = dec(req.lo);
    const hi = dec(req.hi);
    const after = req.start ? dec(req.start.timestamp.N) : undefined;
    const rows = this.partition(pk).filter((r) => {
      const k = dec(r.timestamp?.N as string);
      return k >= lo && k <= hi && (after === undefined || k > after);
    });
    const items = rows.slice(0, req.limit);
    const last = items[items.length - 1];
    return items.length === req.limit && last ? { items, last: { symbol: { S: pk }, timestamp: { N: last.timestamp?.N as string } } } : { items };
  }

  async latestTick(symbol: string): Promise<Port.TickRow | undefined> {
    const rows = this.partition(symbol);
    const newest = rows[rows.length - 1];
    return newest ? tickRow(newest) : undefined;
  }

  async ticksPage(req: Port.PageRequest): Promise<Port.Page<Port.TickRow>> {
    const p = this.pageOf(req.symbol, req);
    return { ...p, items: p.items.map(tickRow) };
  }

  async aggregatesPage(req: Port.PageRequest & { interval: Interval }): Promise<Port.Page<Port.AggregateRow>> {
    const pk = aggregatePartition(req.symbol, "5m");
    if (req.interval === "1m") {
      return minutePage(req, async (groups) => this.pageOf(pk, groups));
    }
    const p = this.pageOf(pk, req);
    return { ...p, items: p.items.flatMap((it) => groupRows(it, "5m")) };
  }

  async *ticksBetween(symbol: string, from: number, to: number): AsyncGenerator<StoredTick> {
    for (const r of this.partition(symbol)) {
      const key = decodeTickKey(r.timestamp?.N as string);
      if (key.ts >= from && key.ts < to) yield { key, price: Number(r.price?.N), volume: Number(r.volume?.N) };
    }
  }

  async groupComputedAt(symbol: string, start5m: number): Promise<number | undefined> {
    const v = this.items.get(`${aggregatePartition(symbol, "5m")}\u0000${start5m}`)?.computedAt?.N;
    return v === undefined ? undefined : Number(v);
  }

  async putTicks(ticks: Iterable<Port.TickToPut>, opts: Port.PutTicksOptions): Promise<Port.PutTicksResult> {
    const expiresAt = expiresAtOf(opts.now, retentionDays());
    const failed = new Map<string, string>();
    for (const t of ticks) {
      const item = tickItem(t.tick, t.key, expiresAt);
      const err = this.opts.putError?.(item);
      if (err) failed.set(t.id, `${err.name}: ${err.message}`);
      else this.put(item);
    }
    return { failed };
  }

  async putGroup(g: Port.GroupAggregates, computedAt: number): Promise<boolean> {
    const item = groupItem(g, computedAt, expiresAtOf(computedAt, retentionDays()));
    numberRangeCheck(item);
    const err = this.opts.putError?.(item);
    if (err) throw err;
    const cur = this.items.get(this.id(item))?.ticks?.N;
    if (cur !== undefined && dec(cur) > dec(String(g.ticks))) return false;
    this.put(item);
    return true;
  }

  async putDirtyMarker(now: number, disc: string, windows: readonly string[]): Promise<void> {
    this.put(dirtyMarkerItem(now, disc, windows));
  }

  async *dirtyMarkers(from: number): AsyncGenerator<Port.DirtyMarker> {
    for (const it of this.partition(DIRTY_PARTITION)) if (dec(it.timestamp?.N as string) >= dec(String(from))) yield dirtyMarkerOf(it);
  }

  async getCursor(): Promise<number | undefined> {
    const v = this.items.get(this.id(CURSOR_KEY))?.lastRun?.N;
    return v === undefined ? undefined : Number(v);
  }

  async putCursor(lastRun: number): Promise<boolean> {
    const cur = this.items.get(this.id(CURSOR_KEY))?.lastRun?.N;
    if (cur !== undefined && !(Number(cur) < lastRun)) return false;
    this.put({ ...CURSOR_KEY, lastRun: { N: String(lastRun) } });
    return true;
  }

  async putFailedWindow(w: Port.FailedWindow, disc: string, failedAt: number): Promise<void> {
    this.put(failedWindowItem(w, disc, failedAt, expiresAtOf(failedAt, retentionDays())));
  }
}
