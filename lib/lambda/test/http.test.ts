/** API body decoding and responses (R-DATA-3, R-API-1): content types, base64, gzip, size limits, shapes, routes. */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { describe, it } from "node:test";
import {
  type ApiEvent,
  classifyContentType,
  decodeBody,
  getHeader,
  jsonResponse,
  parseBody,
  routeIngest,
} from "../src/core/http.ts";

const ev = (over: Partial<ApiEvent> = {}): ApiEvent => ({ httpMethod: "POST", path: "/ingest", resource: "/ingest", headers: {}, body: "", ...over });

function decoded(e: ApiEvent, max = 1000): Buffer {
  const r = decodeBody(e, max);
  assert.ok(r.ok, r.ok ? "" : r.response.body);
  return r.body;
}
function failure(e: ApiEvent, max = 1000): { status: number; message: string } {
  const r = decodeBody(e, max);
  assert.ok(!r.ok, "expected a failure");
  assert.equal(r.response.headers["content-type"], "application/json; charset=utf-8");
  return { status: r.response.statusCode, message: (JSON.parse(r.response.body) as { message: string }).message };
}

describe("routing (R-API-1)", () => {
  it("R-API-1 only POST /ingest is served: 404 other paths, 405 with Allow for other methods", () => {
    assert.deepEqual(routeIngest(ev()), { ok: true });
    assert.deepEqual(routeIngest(ev({ path: "/ingest/", resource: null })), { ok: true });
    const nf = routeIngest(ev({ path: "/other", resource: "/other" }));
    assert.ok(!nf.ok && nf.response.statusCode === 404);
    assert.match((JSON.parse(nf.response.body) as { message: string }).message, /use POST \/ingest/);
    const na = routeIngest(ev({ httpMethod: "GET" }));
    assert.ok(!na.ok && na.response.statusCode === 405 && na.response.headers.allow === "POST");
  });

  it("jsonResponse sets a JSON content type and serialises the body", () => {
    const r = jsonResponse(202, { a: 1 });
    assert.deepEqual(r, { statusCode: 202, headers: { "content-type": "application/json; charset=utf-8" }, body: '{"a":1}' });
  });

  it("headers are looked up case-insensitively, multiValueHeaders too", () => {
    assert.equal(getHeader(ev({ headers: { "Content-Type": "text/csv" } }), "content-type"), "text/csv");
    assert.equal(getHeader(ev({ headers: null, multiValueHeaders: { "CONTENT-ENCODING": ["gzip"] } }), "content-encoding"), "gzip");
    assert.equal(getHeader(ev(), "x"), undefined);
  });
});

describe("content types", () => {
  it("R-DATA-3 JSON, NDJSON and CSV types are accepted; none/text/plain sniff; others rejected naming the accepted ones", () => {
    const kind = (ct: string | undefined): string => {
      const r = classifyContentType(ct);
      return r.ok ? r.kind : `error: ${r.reason}`;
    };
    assert.equal(kind("application/json"), "json");
    assert.equal(kind("Application/JSON; charset=utf-8"), "json");
    assert.equal(kind("application/vnd.api+json"), "json");
    assert.equal(kind("application/x-ndjson"), "ndjson");
    assert.equal(kind("application/jsonl"), "ndjson");
    assert.equal(kind("text/csv"), "csv");
    assert.equal(kind(undefined), "sniff");
    assert.equal(kind("text/plain"), "sniff");
    // the API's binaryMediaTypes (issue 11): gzip bodies are sent with one of these and read by content
    for (const binary of ["application/gzip", "application/x-gzip", "application/octet-stream"]) assert.equal(kind(binary), "sniff");
    assert.match(kind("application/xml"), /error: unsupported content type "application\/xml"; accepted: application\/json, application\/x-ndjson, text\/csv/);
    assert.match(kind("multipart/form-data; boundary=x"), /unsupported content type "multipart\/form-data"/);
  });
});

describe("decodeBody (size limit 413, base64, gzip)", () => {
  it("R-DATA-3 plain bodies pass; raw size over the limit is 413 before decoding", () => {
    assert.equal(decoded(ev({ body: "[1]" })).toString(), "[1]");
    assert.equal(decoded(ev({ body: null })).length, 0);
    const big = failure(ev({ body: "x".repeat(1001) }));
    assert.equal(big.status, 413);
    assert.match(big.message, /too large .* limit is 1000 bytes/);
    // multi-byte characters: measured in bytes after encoding
    assert.equal(failure(ev({ body: "é".repeat(501) })).status, 413);
    assert.equal(decoded(ev({ body: "é".repeat(500) })).length, 1000);
  });

  it("R-DATA-3 base64 bodies are decoded; the decoded size is what counts; invalid base64 is 400", () => {
    const payload = Buffer.from('[{"symbol":"A"}]');
    assert.deepEqual(decoded(ev({ body: payload.toString("base64"), isBase64Encoded: true })), payload);
    const exact = Buffer.alloc(1000, 0x41);
    assert.equal(decoded(ev({ body: exact.toString("base64"), isBase64Encoded: true })).length, 1000, "1000 bytes = limit: ok even though base64 is longer");
    assert.equal(failure(ev({ body: Buffer.alloc(1001, 0x41).toString("base64"), isBase64Encoded: true })).status, 413);
    assert.equal(failure(ev({ body: Buffer.alloc(100_000, 0x41).toString("base64"), isBase64Encoded: true })).status, 413);
    const bad = failure(ev({ body: "!!!not base64!!!", isBase64Encoded: true }));
    assert.equal(bad.status, 400);
    assert.match(bad.message, /not valid base64/);
  });

  it("R-DATA-3 gzip bodies (header or magic bytes) are decompressed with the limit applied after decompression", () => {
    const payload = Buffer.from('{"ticks":[]}');
    const gz = gzipSync(payload);
    assert.deepEqual(decoded(ev({ body: gz.toString("base64"), isBase64Encoded: true, headers: { "Content-Encoding": "gzip" } })), payload);
    assert.deepEqual(decoded(ev({ body: gz.toString("base64"), isBase64Encoded: true })), payload, "magic bytes without a header");
    const bomb = gzipSync(Buffer.alloc(10_000_000, 0x20)); // ~10 KB compressed, 10 MB inflated
    const r = failure(ev({ body: bomb.toString("base64"), isBase64Encoded: true, headers: { "content-encoding": "gzip" } }), 100_000);
    assert.equal(r.status, 413);
    assert.match(r.message, /after gzip decompression/);
    // The limit applies to the decompressed size exactly: the limit itself passes, one byte over is 413.
    const atLimit = gzipSync(Buffer.alloc(1000, 0x20));
    assert.equal(decoded(ev({ body: atLimit.toString("base64"), isBase64Encoded: true })).length, 1000, "1000 bytes inflated = limit: ok");
    const overByOne = failure(ev({ body: gzipSync(Buffer.alloc(1001, 0x20)).toString("base64"), isBase64Encoded: true }));
    assert.equal(overByOne.status, 413, "1001 bytes inflated: one byte over the limit");
    assert.match(overByOne.message, /after gzip decompression/);
    const notGz = failure(ev({ body: Buffer.from("plain").toString("base64"), isBase64Encoded: true, headers: { "content-encoding": "gzip" } }));
    assert.equal(notGz.status, 400);
    assert.match(notGz.message, /not valid gzip/);
    const br = failure(ev({ body: "x", headers: { "content-encoding": "br" } }));
    assert.equal(br.status, 400);
    assert.match(br.message, /unsupported content-encoding "br"/);
  });

  it("R-DATA-3 a body that is not UTF-8 is 400", () => {
    const r = failure(ev({ body: Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString("base64"), isBase64Encoded: true }));
    assert.equal(r.status, 400);
    assert.match(r.message, /not valid UTF-8/);
  });
});

describe("parseBody (shapes)", () => {
  const p = (body: string, kind: "json" | "ndjson" | "csv" | "sniff" = "json"): ReturnType<typeof parseBody> => parseBody(Buffer.from(body), kind);

  it("R-DATA-3 a JSON array and {\"ticks\": [...]} give indexed records", () => {
    assert.deepEqual(p('[{"a":1}, 2]'), { ok: true, format: "json-array", records: [{ index: 0, value: { a: 1 } }, { index: 1, value: 2 }] });
    assert.deepEqual(p('{"ticks": [{"a":1}]}'), { ok: true, format: "json-object", records: [{ index: 0, value: { a: 1 } }] });
    assert.deepEqual(p('{"a":1}'), { ok: true, format: "jsonl", records: [{ index: 0, line: 1, value: { a: 1 } }] }, "one object = one tick");
  });

  it("R-DATA-3 malformed JSON and wrong shapes are 400 reasons", () => {
    for (const [body, why] of [
      ["{definitely not json", /^malformed JSON: /],
      ["[1,2", /^malformed JSON/],
      ['{"ticks": 5}', /"ticks" must be an array/],
      ['{"ticks": [], "source": "x"}', /unexpected top-level field\(s\) source/],
      ["null", /got a JSON null/],
      ["42", /got a JSON number/],
      ['"str"', /got a JSON string/],
      ["   ", /the body is empty/],
    ] as const) {
      const r = p(body);
      assert.ok(!r.ok, body);
      assert.match(r.message, why, body);
    }
  });

  it("R-DATA-3 NDJSON by content type, and NDJSON sent as application/json, with per-line reasons", () => {
    const nd = '{"a":1}\n{bad\n\n{"a":2}\n';
    const r = p(nd, "ndjson");
    assert.ok(r.ok);
    assert.deepEqual(r.records.map((x) => [x.index, x.line, "value" in x]), [[0, 1, true], [1, 2, false], [2, 4, true]]);
    const r2 = p(nd, "json");
    assert.ok(r2.ok && r2.format === "jsonl" && r2.records.length === 3);
    const r3 = p(nd, "sniff");
    assert.ok(r3.ok && r3.format === "jsonl");
  });

  it("R-DATA-3 CSV bodies (by type or by content); an unusable header is 400", () => {
    const csv = "symbol,timestamp,price,volume\nAAPL,1,2,3\n";
    for (const kind of ["csv", "sniff"] as const) {
      const r = p(csv, kind);
      assert.ok(r.ok && r.format === "csv");
      assert.deepEqual(r.records, [{ index: 0, line: 2, value: { symbol: "AAPL", timestamp: "1", price: "2", volume: "3" } }]);
    }
    const bad = p("a,b\n1,2\n", "csv");
    assert.ok(!bad.ok);
    assert.match(bad.message, /line 1: invalid CSV header: missing column/);
    assert.equal(bad.count, 1, "the rejection stands for the data line after the header");
  });
});
