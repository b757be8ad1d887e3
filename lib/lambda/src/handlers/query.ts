/**
 * DataQuery (R-API-3): read-only API over the state table (API Gateway v1 proxy events).
 * - GET /symbols/{symbol}/latest -> the newest tick (Query, ScanIndexForward=false, Limit 1); 404 when none.
 * - GET /symbols/{symbol}/ticks?from&to&limit&next -> ticks with from <= timestamp < to, oldest first.
 * - GET /symbols/{symbol}/aggregates?interval=1m|5m&from&to&limit&next -> aggregates whose window starts in range.
 * Answers `{"symbol", "items": [...], "next": token|null}` (latest: the tick object itself); 400 `{"message"}` with the
 * reason for bad parameters, 404 for unknown routes, 405 for other methods. Parameter rules: src/core/query.ts.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { requireEnv } from "../adapters/config.ts";
import { aggregateRow, ddbClient, type Item, queryPage, tickRow } from "../adapters/ddb.ts";
import { encodeNextToken, type LowLevelKey, parseRequest, QueryError } from "../core/query.ts";

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

/** The API form of a tick item: `{symbol, timestamp (ms), price, volume, ...extra}` (core fields win clashes). */
export function tickView(item: Item): Record<string, unknown> {
  const r = tickRow(item);
  return { ...(r.extra ?? {}), symbol: r.symbol, timestamp: r.ts, price: r.price, volume: r.volume };
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
