/**
 * DataQuery request parsing and validation (R-API-3). Pure: no I/O, no AWS SDK.
 *
 * Routes (GET only): `/symbols/{symbol}/latest`, `/symbols/{symbol}/ticks`, `/symbols/{symbol}/aggregates`.
 * Query parameters:
 * - `from`, `to`: epoch ms (digits) or ISO-8601 date-time with a zone, read as ingestion reads a tick's timestamp
 *   (core/tick.ts `parseIsoTimestamp`); the range is half-open `[from, to)`;
 *   `from` defaults to 0, `to` to the largest timestamp + 1; `from < to` is required.
 * - `limit`: integer 1..1000, default 100.
 * - `interval` (aggregates only): `1m` or `5m`, default `1m`.
 * - `next`: the opaque token of the previous page (base64url of the DynamoDB LastEvaluatedKey JSON). It must belong
 *   to the same partition and lie inside the requested key range.
 * Every problem is a QueryError (HTTP 400, or 404 for an unknown route) whose message names the parameter and what
 * is allowed.
 */
import { aggregatePartition, MAX_KEY_TS, tickKeyRange } from "./keys.ts";
import { EPOCH_MS_RE, parseIsoTimestamp, SYMBOL_RE, SYMBOL_RULE } from "./tick.ts";
import { INTERVALS, type Interval } from "./types.ts";

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const KEY_N_RE = /^(0|[1-9]\d{0,14})(\.\d{1,9})?$/;

/** A request problem with the HTTP status to answer. */
export class QueryError extends Error {
  constructor(
    readonly statusCode: 400 | 404 | 405,
    message: string,
  ) {
    super(message);
    this.name = "QueryError";
  }
}

/** The low-level DynamoDB key of a table item, as LastEvaluatedKey / ExclusiveStartKey carry it. */
export interface LowLevelKey {
  symbol: { S: string };
  timestamp: { N: string };
}

export type RouteKind = "latest" | "ticks" | "aggregates";

/** A validated request. `partition` is the DynamoDB partition key value to query. */
export type QueryRequest =
  | { kind: "latest"; symbol: string; partition: string }
  | {
      kind: "ticks" | "aggregates";
      symbol: string;
      partition: string;
      interval?: Interval;
      from: number;
      to: number;
      limit: number;
      /** inclusive Number bounds of the sort key */
      lo: string;
      hi: string;
      start?: LowLevelKey;
    };

/** The subset of an API Gateway v1 proxy event the router reads. */
export interface ApiRequestLike {
  httpMethod?: string | null;
  resource?: string | null;
  path?: string | null;
  pathParameters?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
}

const ROUTE_RESOURCES: Record<string, RouteKind> = {
  "/symbols/{symbol}/latest": "latest",
  "/symbols/{symbol}/ticks": "ticks",
  "/symbols/{symbol}/aggregates": "aggregates",
};
// The local host sends the path only; a real API may prefix the stage when called through a custom domain.
const PATH_RE = /^(?:\/[^/]+)?\/symbols\/([^/]+)\/(latest|ticks|aggregates)\/?$/;

function decodeSymbol(raw: string): string {
  let s: string;
  try {
    s = raw.includes("%") ? decodeURIComponent(raw) : raw;
  } catch {
    throw new QueryError(400, `symbol "${raw}" is not valid URL encoding`);
  }
  if (!SYMBOL_RE.test(s)) {
    throw new QueryError(400, `symbol ${JSON.stringify(s.slice(0, 40))} is not ${SYMBOL_RULE}`);
  }
  return s;
}

/** Finds the route: by `resource` + `pathParameters` when API Gateway provides them, else by parsing `path`. */
export function matchRoute(ev: ApiRequestLike): { kind: RouteKind; symbol: string } {
  let kind: RouteKind | undefined;
  let rawSymbol: string | undefined;
  const byResource = ev.resource ? ROUTE_RESOURCES[ev.resource] : undefined;
  if (byResource && ev.pathParameters?.symbol !== undefined) {
    kind = byResource;
    rawSymbol = ev.pathParameters.symbol;
  } else {
    const m = PATH_RE.exec(ev.path ?? ev.resource ?? "");
    if (m) {
      kind = m[2] as RouteKind;
      rawSymbol = m[1];
    }
  }
  if (kind === undefined || rawSymbol === undefined) {
    throw new QueryError(
      404,
      `no route for ${ev.httpMethod ?? "?"} ${ev.path ?? ev.resource ?? "?"}; routes are GET /symbols/{symbol}/latest, /ticks, /aggregates`,
    );
  }
  const method = (ev.httpMethod ?? "GET").toUpperCase();
  if (method !== "GET") throw new QueryError(405, `method ${method} not allowed on ${kind}; use GET`);
  return { kind, symbol: decodeSymbol(rawSymbol) };
}

/**
 * Parses `from`/`to`: epoch ms digits (0 .. MAX_KEY_TS + 1, the exclusive end of everything) or an ISO-8601 date-time
 * with a zone, read by core/tick.ts `parseIsoTimestamp`: the same rule, range and instants as ingested timestamps.
 */
export function parseTime(name: string, raw: string): number {
  const subject = `${name}=${JSON.stringify(raw.slice(0, 40))}`;
  if (!EPOCH_MS_RE.test(raw)) {
    const iso = parseIsoTimestamp(raw, subject);
    if (!iso.ok) throw new QueryError(400, iso.reason);
    return iso.ts;
  }
  const ts = Number(raw);
  if (!(ts <= MAX_KEY_TS + 1)) {
    throw new QueryError(400, `${subject} is outside 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z`);
  }
  return ts;
}

/** Parses `limit`: integer 1..1000 (default 100). */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_LIMIT) {
    throw new QueryError(400, `limit=${JSON.stringify(raw.slice(0, 20))} must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return Number(raw);
}

/** Parses `interval`: 1m or 5m (default 1m). */
export function parseInterval(raw: string | undefined): Interval {
  if (raw === undefined) return "1m";
  if (raw in INTERVALS) return raw as Interval;
  throw new QueryError(400, `interval=${JSON.stringify(raw.slice(0, 20))} is not allowed; use 1m or 5m`);
}

/** Encodes a LastEvaluatedKey as an opaque next token (base64url of its JSON). */
export function encodeNextToken(key: LowLevelKey): string {
  return Buffer.from(JSON.stringify({ symbol: { S: key.symbol.S }, timestamp: { N: key.timestamp.N } }), "utf8")
    .toString("base64url");
}

function compareDecimal(a: string, b: string): number {
  const [ai = "", af = ""] = a.split(".");
  const [bi = "", bf = ""] = b.split(".");
  if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
  if (ai !== bi) return ai < bi ? -1 : 1;
  const fa = af.padEnd(9, "0");
  const fb = bf.padEnd(9, "0");
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/**
 * Decodes and validates a next token: well-formed, for `partition`, with a sort key inside `[lo, hi]`.
 * Throws QueryError(400) naming the problem.
 */
export function decodeNextToken(token: string, partition: string, lo: string, hi: string): LowLevelKey {
  const bad = (why: string): QueryError => new QueryError(400, `next token is invalid: ${why}; pass the "next" value of the previous page unchanged`);
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(token)) throw bad("not base64url");
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad("not a token");
  }
  const o = v as { symbol?: { S?: unknown }; timestamp?: { N?: unknown } } | null;
  if (typeof o !== "object" || o === null || Array.isArray(o) || Object.keys(o).length !== 2) throw bad("not a token");
  const s = o.symbol?.S;
  const n = o.timestamp?.N;
  if (typeof s !== "string" || typeof n !== "string" || !KEY_N_RE.test(n)) throw bad("not a token");
  if (s !== partition) throw bad("it belongs to another symbol or interval");
  if (compareDecimal(n, lo) < 0 || compareDecimal(n, hi) > 0) throw bad("it lies outside the requested from/to range");
  return { symbol: { S: s }, timestamp: { N: n } };
}

/** Validates a whole request into a QueryRequest. */
export function parseRequest(ev: ApiRequestLike): QueryRequest {
  const { kind, symbol } = matchRoute(ev);
  const q = ev.queryStringParameters ?? {};
  const allowed =
    kind === "latest" ? [] : kind === "ticks" ? ["from", "to", "limit", "next"] : ["interval", "from", "to", "limit", "next"];
  for (const k of Object.keys(q)) {
    if (!allowed.includes(k)) {
      throw new QueryError(
        400,
        `unknown query parameter "${k.slice(0, 40)}"; ${kind} accepts ${allowed.length ? allowed.join(", ") : "none"}`,
      );
    }
  }
  if (kind === "latest") return { kind, symbol, partition: symbol };
  const interval = kind === "aggregates" ? parseInterval(q.interval) : undefined;
  const from = q.from === undefined ? 0 : parseTime("from", q.from);
  const to = q.to === undefined ? MAX_KEY_TS + 1 : parseTime("to", q.to);
  if (!(from < to)) throw new QueryError(400, `from (${from}) must be earlier than to (${to})`);
  const limit = parseLimit(q.limit);
  const partition = interval ? aggregatePartition(symbol, interval) : symbol;
  // Tick keys carry a discriminator fraction; aggregate keys are integer window starts: one range serves both.
  const { lo, hi } = tickKeyRange(from, to);
  const start = q.next === undefined ? undefined : decodeNextToken(q.next, partition, lo, hi);
  return { kind, symbol, partition, ...(interval ? { interval } : {}), from, to, limit, lo, hi, ...(start ? { start } : {}) };
}

/**
 * Windows DataQuery computes from the ticks at read time (R-PERF-1, docs/design.md): those whose (symbol, 5m) GROUP
 * ends after `now - READ_TIME_LOOKBACK_MS`, and starting before `now + READ_TIME_AHEAD_MS`. DataAggregator stores a
 * group (the 5m window and its minutes) only once its 5m window has closed (within seconds after its end, through the
 * aggregation buffer), so the open group and the one that just closed are answered fresh from the ticks (up to about
 * 7 minutes of one symbol's ticks); older windows come from their stored group.
 */
export const READ_TIME_LOOKBACK_MS = 120_000;
/** How far ahead (ticks stamped in the future) windows are still computed at read time: an SQS delay's maximum. */
export const READ_TIME_AHEAD_MS = 900_000;

/**
 * The window starts `[first, end)` (multiples of the interval) computed at read time for one page of an aggregates
 * request: inside the read-time region, inside the request's `[from, to)`, and inside the page's key interval
 * `(after, upTo]` (`after`: the key the page starts after, or -1; `upTo`: the page's last key, or Infinity when it is
 * the last page), so that each such window lands on exactly one page. Null when there is none.
 */
export function readTimeWindows(
  interval: Interval,
  now: number,
  req: { from: number; to: number },
  after: number,
  upTo: number,
): { first: number; end: number } | null {
  const size = INTERVALS[interval];
  const group = INTERVALS["5m"];
  const regionFirst = Math.max(0, now - READ_TIME_LOOKBACK_MS) - (Math.max(0, now - READ_TIME_LOOKBACK_MS) % group);
  const regionEnd = now + READ_TIME_AHEAD_MS;
  const lo = Math.max(regionFirst, req.from, after + 1);
  const first = Math.ceil(lo / size) * size;
  const hi = Math.min(regionEnd, req.to, upTo === Infinity ? Infinity : upTo + 1);
  return first < hi ? { first, end: Math.ceil(hi / size) * size } : null;
}
