/**
 * DataQuery (R-API-3): read-only API over the state table (API Gateway v1 proxy events).
 * - GET /symbols/{symbol}/latest -> the newest tick (Query, ScanIndexForward=false, Limit 1); 404 when none.
 * - GET /symbols/{symbol}/ticks?from&to&limit&next -> ticks with from <= timestamp < to, oldest first.
 * - GET /symbols/{symbol}/aggregates?interval=1m|5m&from&to&limit&next -> aggregates whose window starts in range:
 *   stored ones, and the open and just-closed windows computed from the ticks at read time (aggregatesPage).
 * Answers `{"symbol", "items": [...], "next": token|null}` (latest: the tick object itself); 400 `{"message"}` with the
 * reason for bad parameters, 404 for unknown routes, 405 for other methods. Parameter rules: src/core/query.ts.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { requireEnv } from "../adapters/config.ts";
import { aggregateItem, aggregateRow, ddbClient, type Item, queryPage, storedTicks, tickRow } from "../adapters/ddb.ts";
import { WindowAccumulator } from "../core/aggregate.ts";
import {
  encodeNextToken,
  type LowLevelKey,
  parseRequest,
  QueryError,
  type QueryRequest,
  readTimeWindows,
} from "../core/query.ts";
import { apiTick } from "../core/tick.ts";
import type { Interval } from "../core/types.ts";
import { intervalStart } from "../core/windows.ts";

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "query" });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "MarketData",
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "query",
});
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "query" });
tracer.captureAWSv3Client(ddbClient);

const HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

function reply(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: HEADERS, body: JSON.stringify(body) };
}

/** The API form of a tick item (core/tick.ts `apiTick`). */
export function tickView(item: Item): Record<string, unknown> {
  return apiTick(tickRow(item));
}

/** Tunables the tests override. */
export const settings = { now: (): number => Date.now() };

/**
 * One page of aggregates (R-PERF-1): the stored aggregates of the page, except that windows in the read-time region
 * (READ_TIME_LOOKBACK_MS before now to READ_TIME_AHEAD_MS after) are computed from the ticks instead (one paginated,
 * strongly consistent Query over their range), because DataAggregator stores a window only once it has closed. Each
 * read-time window lands on the one page whose key interval holds its start, so a page may hold up to about 20 rows
 * more than `limit` (1m) and pagination still returns every window exactly once, in order.
 */
async function aggregatesPage(
  table: string,
  req: Extract<QueryRequest, { kind: "aggregates" | "ticks" }>,
  interval: Interval,
  stored: Item[],
  last: Item | undefined,
): Promise<Record<string, unknown>[]> {
  const now = settings.now();
  const after = req.start ? Math.trunc(Number(req.start.timestamp.N)) : -1;
  const upTo = last ? Math.trunc(Number(last.timestamp?.N)) : Infinity;
  const region = readTimeWindows(interval, now, req, after, upTo);
  if (!region) return stored.map(aggregateRow);
  const accs = new Map<number, WindowAccumulator>();
  for await (const t of storedTicks(table, req.symbol, region.first, region.end)) {
    const start = intervalStart(t.key.ts, interval);
    let acc = accs.get(start);
    if (!acc) accs.set(start, (acc = new WindowAccumulator(req.symbol, interval, start)));
    acc.add(t);
  }
  metrics.addMetric("ReadTimeWindows", MetricUnit.Count, accs.size);
  const inRegion = (start: number): boolean => start >= region.first && start < region.end;
  const rows = stored.filter((it) => !inRegion(Number(it.timestamp?.N)));
  for (const acc of accs.values()) {
    const a = acc.result();
    if (a) rows.push(aggregateItem(a, now, 0));
  }
  rows.sort((x, y) => Number(x.timestamp?.N) - Number(y.timestamp?.N));
  return rows.map(aggregateRow);
}

/** The Lambda handler. */
export const handler = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    const req = parseRequest(event);
    const table = requireEnv("STATE_TABLE");
    metrics.addMetric(`Query_${req.kind}`, MetricUnit.Count, 1);
    if (req.kind === "latest") {
      const { items } = await queryPage({
        TableName: table,
        KeyConditionExpression: "#s = :s",
        ExpressionAttributeNames: { "#s": "symbol" },
        ExpressionAttributeValues: { ":s": { S: req.partition } },
        ScanIndexForward: false,
        Limit: 1,
      });
      const item = items[0];
      if (!item) return reply(404, { message: `no ticks stored for symbol ${req.symbol}` });
      return reply(200, tickView(item));
    }
    const { items, last } = await queryPage({
      TableName: table,
      KeyConditionExpression: "#s = :s AND #t BETWEEN :lo AND :hi",
      ExpressionAttributeNames: { "#s": "symbol", "#t": "timestamp" },
      ExpressionAttributeValues: { ":s": { S: req.partition }, ":lo": { N: req.lo }, ":hi": { N: req.hi } },
      Limit: req.limit,
      ...(req.start ? { ExclusiveStartKey: req.start as unknown as Item } : {}),
    });
    const next = last ? encodeNextToken(last as unknown as LowLevelKey) : null;
    if (req.kind === "aggregates" && req.interval) {
      const rows = await aggregatesPage(table, req, req.interval, items, last);
      return reply(200, { symbol: req.symbol, interval: req.interval, items: rows, next });
    }
    const rows = req.kind === "ticks" ? items.map(tickView) : items.map(aggregateRow);
    return reply(200, { symbol: req.symbol, ...(req.interval ? { interval: req.interval } : {}), items: rows, next });
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
