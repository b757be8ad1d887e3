// DataQuery (R-API-3): routes, every 400 path, pagination with opaque next tokens, over an in-memory table.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import fc from "fast-check";
import { FakeTable } from "./fakes/ddb-table.ts";

process.env.AWS_REGION = "us-east-1";
process.env.STATE_TABLE = "MarketDataState-test";
process.env.POWERTOOLS_SERVICE_NAME = "query";
process.env.POWERTOOLS_METRICS_NAMESPACE = "MarketData";
process.env.POWERTOOLS_METRICS_DISABLED = "true";
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
const { handler, settings } = await import("../src/handlers/query.ts");
const { decodeNextToken, encodeNextToken, parseRequest, parseTime, QueryError } = await import("../src/core/query.ts");
const { tickItem, groupItem } = await import("../src/adapters/dynamodb-store.ts");
const { tickKey, tickKeyRange } = await import("../src/core/keys.ts");

const T = 1_700_000_040_000;
/** The (aligned) 5m window holding T: the stored group of the fixture. */
const G = T - (T % 300_000);
let table: FakeTable;
const ctx = { awsRequestId: "r", functionName: "DataQuery-test", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

/** An API Gateway v1 event as the deployed API sends it (resource + pathParameters) or as the local host does (path only). */
function apiEvent(path: string, query: Record<string, string> | null = null, opts: { resource?: boolean; method?: string } = {}): APIGatewayProxyEvent {
  const m = /^\/symbols\/([^/]+)\/(\w+)$/.exec(path);
  const byResource = opts.resource && m;
  return {
    resource: byResource ? `/symbols/{symbol}/${m[2]}` : path,
    path,
    httpMethod: opts.method ?? "GET",
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: null,
    pathParameters: byResource ? { symbol: decodeURIComponent(m[1] as string) } : null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent["requestContext"],
    body: null,
    isBase64Encoded: false,
  };
}

async function get(path: string, query: Record<string, string> | null = null, opts: { resource?: boolean; method?: string } = {}) {
  const r = await handler(apiEvent(path, query, opts), ctx);
  return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown> & { items: Array<Record<string, unknown>>; next: string | null; message: string } };
}

beforeEach(() => {
  table = new FakeTable("MarketDataState-test", { pageSize: 1000 });
  // 25 AAPL ticks one second apart (two in the same ms at i=3), one MSFT tick, aggregates for AAPL.
  for (let i = 0; i < 25; i++) {
    const t = { symbol: "AAPL", ts: T + i * 1000, price: 100 + i, volume: i, ...(i === 0 ? { extra: { venue: "XNAS", seq: 1 } } : {}) };
    table.put(tickItem(t, tickKey(t), 1));
  }
  const twin = { symbol: "AAPL", ts: T + 3000, price: 1, volume: 1 };
  table.put(tickItem(twin, tickKey(twin), 1));
  const m = { symbol: "MSFT", ts: T, price: 5, volume: 1 };
  table.put(tickItem(m, tickKey(m), 1));
  // one stored group (values made up: the API must answer what is stored): minutes G, G+1m, G+2m and the 5m window G
  const minutes = [0, 1, 2].map((i) => {
    const start = G + i * 60_000;
    return { symbol: "AAPL", interval: "1m" as const, windowStart: start, windowEnd: start + 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: i, vwap: i ? 1.25 : null, trades: i + 1 };
  });
  const five = { symbol: "AAPL", interval: "5m" as const, windowStart: G, windowEnd: G + 300_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, vwap: 1.25, trades: 6 };
  table.put(groupItem({ symbol: "AAPL", start5m: G, five, minutes, ticks: 6 }, 7, 8));
});
afterEach(() => table.restore());

describe("DataQuery (R-API-3)", () => {
  it("R-API-3: latest returns the newest tick (by resource+pathParameters and by path only); 404 when none", async () => {
    for (const resource of [true, false]) {
      const r = await get("/symbols/AAPL/latest", null, { resource });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { symbol: "AAPL", timestamp: T + 24_000, price: 124, volume: 24 });
    }
    const none = await get("/symbols/ZZZ/latest");
    assert.equal(none.status, 404);
    assert.match(none.body.message, /no ticks stored for symbol ZZZ/);
  });

  it("R-API-3: ticks in [from, to) with extra fields spread, same-ms ticks both returned", async () => {
    const r = await get("/symbols/AAPL/ticks", { from: String(T), to: String(T + 4000) });
    assert.equal(r.status, 200);
    assert.equal(r.body.symbol, "AAPL");
    assert.deepEqual(r.body.items.map((i) => i.timestamp), [T, T + 1000, T + 2000, T + 3000, T + 3000]);
    assert.deepEqual(r.body.items[0], { venue: "XNAS", seq: 1, symbol: "AAPL", timestamp: T, price: 100, volume: 0 });
    assert.equal(r.body.next, null);
    const iso = await get("/symbols/AAPL/ticks", { from: new Date(T).toISOString(), to: "2023-11-14T22:14:01.000+00:00" });
    assert.deepEqual(iso.body.items.map((i) => i.timestamp), [T]);
  });

  it("R-API-3: ticks paginate with an opaque next token until every tick was returned exactly once", async () => {
    const seen: number[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const q: Record<string, string> = { limit: "4", from: String(T) };
      if (next) q.next = next;
      const r = await get("/symbols/AAPL/ticks", q);
      assert.equal(r.status, 200);
      assert.ok(r.body.items.length <= 4);
      seen.push(...r.body.items.map((i) => i.timestamp as number));
      next = r.body.next;
      assert.ok(++pages < 20, "bounded");
    } while (next);
    assert.equal(seen.length, 26);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  });

  it("R-API-3: aggregates by interval and range, with pagination", async () => {
    const r = await get("/symbols/AAPL/aggregates", { interval: "1m", from: String(G), to: String(G + 180_000), limit: "2" }, { resource: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.interval, "1m");
    assert.deepEqual(r.body.items[0], { symbol: "AAPL", interval: "1m", windowStart: G, windowEnd: G + 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 0, vwap: null, trades: 1, computedAt: 7 });
    assert.equal(r.body.items.length, 2);
    const r2 = await get("/symbols/AAPL/aggregates", { interval: "1m", from: String(G), to: String(G + 180_000), limit: "2", next: r.body.next as string });
    assert.deepEqual(r2.body.items.map((i) => i.windowStart), [G + 120_000]);
    assert.equal(r2.body.next, null, "no page after the last minute");
    const mid = await get("/symbols/AAPL/aggregates", { interval: "1m", from: String(G + 60_000), to: String(G + 120_000) });
    assert.deepEqual(mid.body.items.map((i) => i.windowStart), [G + 60_000], "a 1m range inside a stored group");
    const five = await get("/symbols/AAPL/aggregates", { interval: "5m" });
    assert.deepEqual(five.body.items.map((i) => i.trades), [6]);
    const dflt = await get("/symbols/AAPL/aggregates");
    assert.equal(dflt.body.items.length, 3, "interval defaults to 1m");
  });

  it("R-PERF-1: the groups not stored yet (open or just closed) are computed from the ticks at read time; pages still hold every window once", async () => {
    // The stored group G is closed and older than the read-time region; the next group G+5m holds "now" (open): its
    // minutes and its 5m window come from the ticks.
    const more = [
      { symbol: "AAPL", ts: G + 480_000 + 5, price: 7, volume: 2 },
      { symbol: "AAPL", ts: G + 481_000, price: 9, volume: 1 },
      { symbol: "AAPL", ts: G + 540_000, price: 3, volume: 4 },
    ];
    for (const t of more) table.put(tickItem(t, tickKey(t), 1));
    const saved = settings.now;
    const now = G + 550_000; // read-time region: groups ending after now - 120 s = G+430000, i.e. from G+300000
    settings.now = () => now;
    try {
      const all: Array<Record<string, unknown>> = [];
      let next: string | null = null;
      let pages = 0;
      do {
        const r = await get("/symbols/AAPL/aggregates", { interval: "1m", limit: "1", ...(next ? { next } : {}) });
        assert.equal(r.status, 200);
        all.push(...r.body.items);
        next = r.body.next;
        pages++;
      } while (next && pages < 20);
      assert.deepEqual(all.map((a) => a.windowStart), [G, G + 60_000, G + 120_000, G + 480_000, G + 540_000], "stored rows of G, then the open group's minutes");
      assert.deepEqual(all.slice(0, 3).map((a) => a.computedAt), [7, 7, 7], "stored rows as stored");
      assert.deepEqual(
        all.slice(3).map((a) => [a.open, a.high, a.low, a.close, a.volume, a.vwap, a.trades]),
        [
          [7, 9, 7, 9, 3, 23 / 3, 2],
          [3, 3, 3, 3, 4, 3, 1],
        ],
      );
      assert.equal(all[4]?.computedAt, now);
      const five = await get("/symbols/AAPL/aggregates", { interval: "5m" });
      assert.deepEqual(five.body.items.map((a) => [a.windowStart, a.trades]), [[G, 6], [G + 300_000, 3]]);
      // A minute that closed 3 minutes ago but whose group is still open is computed too (not stored until the 5m closes).
      settings.now = () => G + 599_000;
      const late = await get("/symbols/AAPL/aggregates", { interval: "1m", from: String(G + 300_000) });
      assert.deepEqual(late.body.items.map((a) => a.windowStart), [G + 480_000, G + 540_000]);
    } finally {
      settings.now = saved;
    }
  });

  it("400 with the reason for every bad parameter; 404 unknown route; 405 other methods", async () => {
    const cases: Array<[string, Record<string, string> | null, RegExp]> = [
      ["/symbols/aapl/latest", null, /symbol "aapl" is not 1-12 characters/],
      ["/symbols/TOOLONGSYMBOL1/ticks", null, /symbol "TOOLONGSYMBOL1"/],
      ["/symbols/%23CURSOR/ticks", null, /symbol "#CURSOR"/],
      ["/symbols/%E0%A4%A/ticks", null, /not valid URL encoding/],
      ["/symbols/AAPL/ticks", { from: "yesterday" }, /from="yesterday" is neither epoch milliseconds nor an ISO-8601/],
      ["/symbols/AAPL/ticks", { to: "2024-01-01T00:00:00" }, /to="2024-01-01T00:00:00" has no time zone/],
      ["/symbols/AAPL/ticks", { to: "2024-02-30T00:00:00Z" }, /not a calendar date/],
      ["/symbols/AAPL/ticks", { from: "99999999999999999" }, /from="99999999999999999" is neither/],
      ["/symbols/AAPL/ticks", { from: "9999999999999999" }, /outside 1970/],
      ["/symbols/AAPL/ticks", { from: "10", to: "10" }, /from \(10\) must be earlier than to \(10\)/],
      ["/symbols/AAPL/ticks", { limit: "0" }, /limit="0" must be an integer from 1 to 1000/],
      ["/symbols/AAPL/ticks", { limit: "1001" }, /limit="1001"/],
      ["/symbols/AAPL/ticks", { limit: "2.5" }, /limit="2.5"/],
      ["/symbols/AAPL/aggregates", { interval: "1h" }, /interval="1h" is not allowed; use 1m or 5m/],
      ["/symbols/AAPL/ticks", { interval: "1m" }, /unknown query parameter "interval"; ticks accepts from, to, limit, next/],
      ["/symbols/AAPL/latest", { limit: "1" }, /unknown query parameter "limit"; latest accepts none/],
      ["/symbols/AAPL/ticks", { next: "not a token!" }, /next token is invalid: not base64url/],
      ["/symbols/AAPL/ticks", { next: Buffer.from("[1]").toString("base64url") }, /next token is invalid: not a token/],
    ];
    for (const [path, q, re] of cases) {
      const r = await get(path, q);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(q)} -> ${r.status} ${r.body.message}`);
      assert.match(r.body.message, re);
    }
    // A token of another symbol, another interval, or outside the range is refused.
    const msftToken = encodeNextToken({ symbol: { S: "MSFT" }, timestamp: { N: `${T}.5` } });
    assert.match((await get("/symbols/AAPL/ticks", { next: msftToken })).body.message, /belongs to another symbol or interval/);
    const tickToken = encodeNextToken({ symbol: { S: "AAPL" }, timestamp: { N: `${T}` } });
    assert.match((await get("/symbols/AAPL/aggregates", { interval: "5m", next: tickToken })).body.message, /another symbol or interval/);
    assert.match((await get("/symbols/AAPL/ticks", { from: String(T + 1), next: tickToken })).body.message, /outside the requested from\/to range/);
    for (const path of ["/symbols/AAPL", "/symbols/AAPL/candles", "/ingest", "/", "/symbols//latest"]) {
      assert.equal((await get(path)).status, 404, path);
    }
    assert.equal((await get("/symbols/AAPL/latest", null, { method: "POST" })).status, 405);
    // A stage prefix in the path (custom domain base path) is tolerated.
    assert.equal((await get("/prod/symbols/AAPL/latest")).status, 200);
  });

  it("a DynamoDB failure answers 500 without details", async () => {
    process.env.STATE_TABLE = "OtherTable"; // the fake refuses it
    try {
      const r = await get("/symbols/AAPL/latest");
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, { message: "internal error" });
    } finally {
      process.env.STATE_TABLE = "MarketDataState-test";
    }
  });

  it("property: next tokens round-trip for any key of the partition inside the range", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/),
        fc.constantFrom("", "#1m", "#5m"),
        fc.integer({ min: 0, max: 253_402_300_799_999 }),
        fc.integer({ min: 0, max: 999_999_999 }),
        (symbol, suffix, ts, d) => {
          const partition = `${symbol}${suffix}`;
          const n = suffix ? String(ts) : `${ts}.${String(d).padStart(9, "0")}`.replace(/0+$/, "").replace(/\.$/, "");
          const key = { symbol: { S: partition }, timestamp: { N: n } };
          const token = encodeNextToken(key);
          assert.match(token, /^[A-Za-z0-9_-]+$/);
          const { lo, hi } = tickKeyRange(ts, ts + 1);
          assert.deepEqual(decodeNextToken(token, partition, lo, hi), key);
          assert.throws(() => decodeNextToken(token, `${partition}X`, lo, hi), QueryError);
          if (ts > 0) {
            const below = tickKeyRange(0, ts);
            assert.throws(() => decodeNextToken(token, partition, below.lo, below.hi), /outside/);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("parses times: epoch ms, ISO with Z or offsets", () => {
    assert.equal(parseTime("from", "0"), 0);
    assert.equal(parseTime("from", "2023-11-14T22:14:00Z"), 1_700_000_040_000);
    assert.equal(parseTime("from", "2023-11-14T23:14:00+01:00"), 1_700_000_040_000);
    assert.equal(parseTime("from", "2023-11-14T22:14:00.5Z"), 1_700_000_040_500);
    assert.throws(() => parseTime("to", "2023-11-14T22:14:00+25:00"), /invalid zone offset/);
    const req = parseRequest({ httpMethod: "GET", path: "/symbols/BRK.B/ticks", queryStringParameters: null });
    assert.equal(req.kind, "ticks");
    assert.equal(req.partition, "BRK.B");
  });

  it("extra numbers come back as numbers; integers beyond double precision keep their exact digits", async () => {
    const { tickRow } = await import("../src/adapters/dynamodb-store.ts");
    const extra = { big: 2 ** 60, huge: 1.5e300, frac: 0.1, n: -3, tiny: 1e-7, nested: { a: [true, null, "s", 12345678901234567890] } };
    const t = { symbol: "AAPL", ts: 1, price: 1, volume: 1, extra };
    const item = tickItem(t, tickKey(t), 1);
    assert.deepEqual(tickRow(item).extra, extra);
    item.extra = { M: { exact: { N: "12345678901234567891" }, list: { L: [{ N: "7" }, { S: "x" }] } } };
    assert.deepEqual(tickRow(item).extra, { exact: "12345678901234567891", list: [7, "x"] });
  });
});
