/**
 * DataQuery (R-API-3): read-only API over the state table (API Gateway v1 proxy events).
 * - GET /symbols/{symbol}/latest -> the newest tick (Query, ScanIndexForward=false, Limit 1); 404 when none.
 * - GET /symbols/{symbol}/ticks?from&to&limit&next -> ticks with from <= timestamp < to, oldest first.
 * - GET /symbols/{symbol}/aggregates?interval=1m|5m&from&to&limit&next -> aggregates whose window starts in range:
 *   stored ones, and the open and just-closed windows computed from the ticks at read time (aggregatesPage).
 * Answers `{"symbol", "items": [...], "next": token|null}` (latest: the tick object itself); 400 `{"message"}` with the
 * reason for bad parameters, 404 for unknown routes, 405 for other methods. Parameter rules: src/core/query.ts.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { requireEnv } from "../adapters/config.ts";
import { ddbClient } from "../adapters/ddb.ts";
import { DynamoTickStore } from "../adapters/dynamodb-store.ts";
import { powertools } from "../adapters/powertools.ts";
import { type AggregateRow, type Page, pageKeyTime, type TickRow, type TickStore } from "../adapters/tick-store.ts";
import { WindowAccumulator } from "../core/aggregate.ts";
import { encodeNextToken, parseRequest, QueryError, type QueryRequest, readTimeWindows } from "../core/query.ts";
import { apiTick } from "../core/tick.ts";
import type { Interval } from "../core/types.ts";
import { intervalStart } from "../core/windows.ts";

export const { logger, metrics, tracer } = powertools([ddbClient]);

/** DataQuery's environment (docs/design.md "Function environment"), read at init: a missing variable fails the cold
 * start, naming it. Invocations read it where they use it. */
export function environment(): { table: string } {
  return { table: requireEnv("STATE_TABLE") };
}
environment();

const HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

function reply(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: HEADERS, body: JSON.stringify(body) };
}

/** The API form of a tick (core/tick.ts `apiTick`). */
export function tickView(r: TickRow): Record<string, unknown> {
  return apiTick(r);
}

/** Tunables the tests override. */
export const settings = {
  now: (): number => Date.now(),
  /** the store of the state table */
  store: (table: string): TickStore => new DynamoTickStore(table),
};

/**
 * One page of aggregates (R-PERF-1): the stored aggregates of the page, except that windows in the read-time region
 * (the groups ending after READ_TIME_LOOKBACK_MS before now, to READ_TIME_AHEAD_MS after now) are computed from the
 * ticks instead (one paginated, strongly consistent Query over their range), because DataAggregator stores a (symbol,
 * 5m) group only once its 5m window has closed. Each
 * read-time window lands on the one page whose key interval holds its start, so a page may hold up to about 25 rows
 * more than `limit` (1m: the open group, the one that just closed, and up to 15 minutes of future-stamped ticks) and
 * pagination still returns every window exactly once, in order.
 */
async function aggregatesPage(
  store: TickStore,
  req: Extract<QueryRequest, { kind: "aggregates" | "ticks" }>,
  interval: Interval,
  page: Page<AggregateRow>,
): Promise<AggregateRow[]> {
  const now = settings.now();
  const after = req.start ? pageKeyTime(req.start) : -1;
  const upTo = page.last ? pageKeyTime(page.last) : Infinity;
  const region = readTimeWindows(interval, now, req, after, upTo);
  if (!region) return page.items;
  const accs = new Map<number, WindowAccumulator>();
  for await (const t of store.ticksBetween(req.symbol, region.first, region.end)) {
    const start = intervalStart(t.key.ts, interval);
    let acc = accs.get(start);
    if (!acc) accs.set(start, (acc = new WindowAccumulator(req.symbol, interval, start)));
    acc.add(t);
  }
  metrics.addMetric("ReadTimeWindows", MetricUnit.Count, accs.size);
  const inRegion = (start: number): boolean => start >= region.first && start < region.end;
  const rows = page.items.filter((r) => !inRegion(r.windowStart));
  for (const acc of accs.values()) {
    const a = acc.result();
    if (a) rows.push({ ...a, computedAt: now });
  }
  rows.sort((x, y) => x.windowStart - y.windowStart);
  return rows;
}

/** The Lambda handler. */
export const handler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    const req = parseRequest(event);
    const table = requireEnv("STATE_TABLE");
    metrics.addMetric(`Query_${req.kind}`, MetricUnit.Count, 1);
    const store = settings.store(table);
    if (req.kind === "latest") {
      const tick = await store.latestTick(req.symbol);
      if (!tick) return reply(404, { message: `no ticks stored for symbol ${req.symbol}` });
      return reply(200, tickView(tick));
    }
    const pageReq = { symbol: req.symbol, lo: req.lo, hi: req.hi, limit: req.limit, ...(req.start ? { start: req.start } : {}) };
    if (req.kind === "aggregates" && req.interval) {
      const page = await store.aggregatesPage({ ...pageReq, interval: req.interval });
      const rows = await aggregatesPage(store, req, req.interval, page);
      return reply(200, { symbol: req.symbol, interval: req.interval, items: rows, next: page.last ? encodeNextToken(page.last) : null });
    }
    const page = await store.ticksPage(pageReq);
    return reply(200, { symbol: req.symbol, items: page.items.map(tickView), next: page.last ? encodeNextToken(page.last) : null });
  } catch (e) {
    if (e instanceof QueryError) {
      logger.info("request rejected", { statusCode: e.statusCode, reason: e.message, path: event.path });
      return reply(e.statusCode, { message: e.message });
    }
    logger.error("query failed", { error: e as Error, path: event.path });
    return reply(500, { message: "internal error" });
  } finally {
    metrics.publishStoredMetrics();
  }
};
