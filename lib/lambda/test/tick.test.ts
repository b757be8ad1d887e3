/** Tick validation and normalisation (R-DATA-1): examples of every rule and fast-check properties. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  MAX_TICK_BYTES,
  PRICE_MAX,
  PRICE_MIN,
  parseIsoTimestamp,
  isWellFormed,
  SYMBOL_RULE,
  VOLUME_MAX,
  VOLUME_MIN,
  validateTick,
} from "../src/core/tick.ts";
import { MAX_TICKS_PER_WINDOW } from "../src/core/keys.ts";
import { MAX_TS, tickArb, toInput } from "./helpers/ticks.ts";

const base = { symbol: "AAPL", timestamp: 1_700_000_000_123, price: 189.5, volume: 100 };

function reason(record: unknown): string {
  const r = validateTick(record);
  assert.equal(r.ok, false, `expected a rejection of ${JSON.stringify(record)}`);
  return (r as { reason: string }).reason;
}

describe("validateTick (R-DATA-1)", () => {
  it("R-DATA-1 normalises a valid tick to {symbol, ts, price, volume} and keeps other fields in extra", () => {
    assert.deepEqual(validateTick(base), { ok: true, tick: { symbol: "AAPL", ts: 1_700_000_000_123, price: 189.5, volume: 100 } });
    const r = validateTick({ ...base, tradeId: "t-1", venue: { mic: "XNAS" }, flags: [1, 2] });
    assert.deepEqual(r, {
      ok: true,
      tick: { symbol: "AAPL", ts: 1_700_000_000_123, price: 189.5, volume: 100, extra: { tradeId: "t-1", venue: { mic: "XNAS" }, flags: [1, 2] } },
    });
  });

  it("R-DATA-1 accepts the CSV encodings: numbers and epoch ms as decimal strings", () => {
    const r = validateTick({ symbol: "BRK.B", timestamp: "1700000000123", price: "412.25", volume: "0", note: "x" });
    assert.deepEqual(r, { ok: true, tick: { symbol: "BRK.B", ts: 1_700_000_000_123, price: 412.25, volume: 0, extra: { note: "x" } } });
    assert.equal((validateTick({ ...base, price: "1e2" }) as { tick: { price: number } }).tick.price, 100);
  });

  it("R-DATA-1 symbol: 1-12 of A-Z 0-9 . - ^; everything else (lower case, injection strings, empty, too long) rejected", () => {
    for (const s of ["A", "^GSPC", "BRK-B", "ES.Z24", "ABCDEFGHIJKL", "0"]) assert.equal(validateTick({ ...base, symbol: s }).ok, true, s);
    for (const s of ["", "aapl", "ABCDEFGHIJKLM", "AAPL ", "A'; DROP TABLE x;--", '{"$ne":1}', "A_B", "ÄPFEL", "A\u0000"]) {
      assert.match(reason({ ...base, symbol: s }), /symbol .* invalid: 1-12 characters of A-Z 0-9 \. - \^ with at least one letter or digit allowed/, s);
    }
    assert.match(reason({ ...base, symbol: 42 }), /symbol/);
    assert.equal(reason({ timestamp: 1, price: 1, volume: 1 }), "missing field symbol");
  });

  it("R-DATA-1 timestamp: epoch ms integers in range, ISO-8601 with a zone; no zone, fractions, garbage rejected", () => {
    const ts = (v: unknown): number => (validateTick({ ...base, timestamp: v }) as { tick: { ts: number } }).tick.ts;
    assert.equal(ts(0), 0);
    assert.equal(ts(MAX_TS), MAX_TS);
    assert.equal(ts("2023-11-14T22:13:20.123Z"), 1_700_000_000_123);
    assert.equal(ts("2023-11-14T23:13:20.123+01:00"), 1_700_000_000_123);
    assert.equal(ts("2023-11-14T17:13:20.123-0500"), 1_700_000_000_123);
    assert.equal(ts("2023-11-14 22:13:20.123456789Z"), 1_700_000_000_123, "sub-ms digits truncated");
    assert.equal(ts("2023-11-14T22:13Z"), 1_699_999_980_000);
    assert.match(reason({ ...base, timestamp: "2023-11-14T22:13:20" }), /no time zone/);
    assert.match(reason({ ...base, timestamp: "2023-11-14" }), /no time zone/);
    assert.match(reason({ ...base, timestamp: "2023-02-30T00:00:00Z" }), /not a calendar date/);
    assert.match(reason({ ...base, timestamp: "2023-13-01T00:00:00Z" }), /out of range/);
    assert.match(reason({ ...base, timestamp: "1969-12-31T23:59:59Z" }), /outside/);
    assert.match(reason({ ...base, timestamp: "yesterday" }), /neither epoch milliseconds nor an ISO-8601/);
    assert.match(reason({ ...base, timestamp: 1.5 }), /not an integer/);
    assert.match(reason({ ...base, timestamp: -1 }), /outside/);
    assert.match(reason({ ...base, timestamp: MAX_TS + 1 }), /outside/);
    assert.match(reason({ ...base, timestamp: null }), /timestamp must be/);
    assert.match(reason({ ...base, timestamp: true }), /timestamp must be/);
    assert.equal(reason({ symbol: "A", price: 1, volume: 1 }), "missing field timestamp");
  });

  it("R-DATA-1 price within PRICE_MIN..PRICE_MAX and volume 0 or VOLUME_MIN..VOLUME_MAX, reasons naming field and range", () => {
    assert.equal(reason({ ...base, price: 0 }), "price 0 is outside the allowed range 1e-30 .. 1e+30");
    assert.match(reason({ ...base, price: -1 }), /price -1 is outside the allowed range 1e-30 \.\. 1e\+30/);
    assert.match(reason({ ...base, price: "NaN" }), /price must be a number/);
    assert.match(reason({ ...base, price: "Infinity" }), /price must be a number/);
    assert.match(reason({ ...base, price: "1e999" }), /price must be finite/);
    assert.match(reason({ ...base, price: "12abc" }), /price must be a number/);
    assert.match(reason({ ...base, price: "" }), /price must be a number/);
    assert.match(reason({ ...base, price: null }), /price must be a number, got null/);
    assert.match(reason({ ...base, price: 1e-200 }), /price 1e-200 is outside the allowed range/);
    assert.match(reason({ ...base, price: 1e200 }), /price 1e\+200 is outside the allowed range/);
    assert.match(reason({ ...base, volume: -0.5 }), /volume -0.5 is outside the allowed range: 0 or 1e-30 \.\. 1e\+30/);
    assert.match(reason({ ...base, volume: [1] }), /volume must be a number, got an array/);
    assert.equal(reason({ symbol: "A", timestamp: 1, volume: 1 }), "missing field price");
    assert.equal(reason({ symbol: "A", timestamp: 1, price: 1 }), "missing field volume");
    assert.deepEqual(validateTick({ ...base, volume: -0 }), { ok: true, tick: { symbol: "AAPL", ts: base.timestamp, price: 189.5, volume: 0 } });
    // the bounds are inclusive; the next double outside is refused
    for (const [field, v] of [["price", PRICE_MIN], ["price", PRICE_MAX], ["volume", VOLUME_MIN], ["volume", VOLUME_MAX]] as const) {
      assert.equal(validateTick({ ...base, [field]: v }).ok, true, `${field} ${v}`);
      assert.equal(validateTick({ ...base, [field]: String(v) }).ok, true, `${field} "${v}"`);
    }
    assert.match(reason({ ...base, price: PRICE_MAX * (1 + Number.EPSILON) }), /price .* outside the allowed range/);
    assert.match(reason({ ...base, price: PRICE_MIN * (1 - Number.EPSILON) }), /price .* outside the allowed range/);
    assert.match(reason({ ...base, volume: VOLUME_MAX * (1 + Number.EPSILON) }), /volume .* outside the allowed range/);
    assert.match(reason({ ...base, volume: VOLUME_MIN * (1 - Number.EPSILON) }), /volume .* outside the allowed range/);
  });

  it("R-DATA-1 (issue 14 repro 1): ticks whose window aggregate DynamoDB could not store are refused at ingestion", () => {
    // each tick is inside DynamoDB's own range, but two of them make a window volume of 1.2e126 (Number overflow)
    const big = { symbol: "ZZOVF", timestamp: 1_700_000_000_000, price: 1, volume: 6e125 };
    assert.equal(reason(big), "volume 6e+125 is outside the allowed range: 0 or 1e-30 .. 1e+30");
    // and a VWAP of 9.999999999999999e-131 (underflow) from price 1e-130
    assert.equal(reason({ ...big, price: 1e-130, volume: 58.52494540022308 }), "price 1e-130 is outside the allowed range 1e-30 .. 1e+30");
  });

  it("R-DATA-1 the bounds keep every aggregate of any window storable in DynamoDB (1e-130 <= |n| < 1e126)", () => {
    // the most ticks a 5m window can hold: one per (ms, 9-digit discriminator) sort key
    assert.equal(MAX_TICKS_PER_WINDOW, 300_000 * 1e9);
    assert.ok(MAX_TICKS_PER_WINDOW * VOLUME_MAX < 1e126, "largest window volume");
    assert.ok(MAX_TICKS_PER_WINDOW * PRICE_MAX * VOLUME_MAX < Number.MAX_VALUE / 1e100, "sum(price*volume) stays finite");
    assert.ok(PRICE_MIN * VOLUME_MIN >= 2.2250738585072014e-308 * 1e100, "smallest price*volume is a normal double");
    assert.ok(VOLUME_MIN >= 1e-130 && PRICE_MIN * (1 - 4 * Number.EPSILON) >= 1e-130 && PRICE_MAX * (1 + 4 * Number.EPSILON) < 1e126);
  });

  it("R-DATA-1 isWellFormed agrees with String.prototype.isWellFormed (Node 20+) and with a UTF-8 round trip (Node 18 too)", () => {
    const native = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 8 }), fc.constantFrom("\ud800", "\udc00x", "\ud83d\ude00", "a\ud83d")), (s) => {
        assert.equal(isWellFormed(s), Buffer.from(s, "utf8").toString("utf8") === s, JSON.stringify(s));
        if (native) assert.equal(isWellFormed(s), native.call(s), JSON.stringify(s));
      }),
      { numRuns: 2000 },
    );
    assert.match(reason({ ...base, note: "\ud800" }), /note is not well-formed Unicode/);
    assert.match(reason({ ...base, n: { "\udc00": 1 } }), /field name that is not well-formed/);
    assert.equal(validateTick({ ...base, note: "😀" }).ok, true);
  });

  it("R-DATA-1 symbols: at least one letter or digit (\".\" and \"..\" cannot be addressed in a URL path)", () => {
    for (const s of [".", "..", "...", "-", "^", ".-^"]) {
      assert.equal(reason({ ...base, symbol: s }), `symbol "${s}" is invalid: ${SYMBOL_RULE} allowed`);
    }
    for (const s of ["A", "BRK.B", "^GSPC", "0", ".A", "A..", "-1"]) assert.equal(validateTick({ ...base, symbol: s }).ok, true, s);
  });

  it("R-DATA-1 extra fields must be storable; records that are not objects are rejected", () => {
    assert.match(reason({ ...base, x: { "": 1 } }), /empty field name/);
    assert.match(reason({ ...base, "": 1 }), /empty name/);
    assert.match(reason({ ...base, x: 1e300 }), /x: .*DynamoDB's number range/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    assert.match(reason({ ...base, deep }), /nested deeper than 30/);
    assert.match(reason({ ...base, blob: "x".repeat(MAX_TICK_BYTES) }), /at most 65536 allowed/);
    // the size limit is exact: find the longest accepted blob and check one more byte is refused
    const fixed = JSON.stringify({ symbol: "AAPL", ts: base.timestamp, price: 189.5, volume: 100, extra: { blob: "" } }).length;
    const fit = MAX_TICK_BYTES - fixed;
    assert.equal(validateTick({ ...base, blob: "x".repeat(fit) }).ok, true);
    assert.match(reason({ ...base, blob: "x".repeat(fit + 1) }), /tick is 65537 bytes as JSON/);
    assert.match(reason({ ...base, blob: "é".repeat(fit) }), /bytes as JSON; at most 65536/, "UTF-8 bytes are counted, not characters");
    for (const r of [null, 5, "AAPL", [base], true]) assert.match(reason(r), /a tick must be a JSON object/);
  });

  it("R-DATA-1 a __proto__ field stays data in extra (no prototype change)", () => {
    const rec = JSON.parse(`{"symbol":"A","timestamp":1,"price":1,"volume":1,"__proto__":{"polluted":true}}`) as object;
    const r = validateTick(rec);
    assert.ok(r.ok);
    assert.equal(Object.getPrototypeOf(r.tick.extra), Object.prototype);
    assert.equal(JSON.stringify(r.tick.extra), '{"__proto__":{"polluted":true}}');
    assert.deepEqual(Object.keys(r.tick.extra ?? {}), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("parseIsoTimestamp: local time + offset built independently from Date.toISOString maps back to the instant", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TS }), fc.integer({ min: -14 * 60, max: 14 * 60 }), (ts, off) => {
        const local = new Date(ts + off * 60_000).toISOString().slice(0, 23);
        const sign = off < 0 ? "-" : "+";
        const a = Math.abs(off);
        const s = `${local}${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
        const r = parseIsoTimestamp(s);
        const expected = ts;
        if (expected >= 0 && expected <= MAX_TS && /^\d{4}-/.test(local)) assert.deepEqual(r, { ok: true, ts: expected });
      }),
      { numRuns: 500 },
    );
  });
});

describe("validateTick properties (R-DATA-1)", () => {
  it("R-DATA-1 accepts every generated valid tick (epoch ms or ISO time) and returns it unchanged", () => {
    fc.assert(
      fc.property(tickArb, fc.boolean(), (t, iso) => {
        const r = validateTick(toInput(t, iso));
        assert.ok(r.ok, r.ok ? "" : r.reason);
        assert.deepEqual(r.tick, t);
      }),
      { numRuns: 1000 },
    );
  });

  const corruptions: Array<[string, fc.Arbitrary<unknown>]> = [
    ["symbol", fc.oneof(fc.constant(""), fc.string({ minLength: 13, maxLength: 20, unit: fc.constantFrom("A", "B") }), fc.string({ minLength: 1 }).filter((s) => !/^[A-Z0-9.\-^]{1,12}$/.test(s)), fc.constantFrom(".", ".."), fc.integer(), fc.constant(null))],
    ["timestamp", fc.oneof(fc.integer({ min: -1e9, max: -1 }), fc.integer({ min: MAX_TS + 1, max: Number.MAX_SAFE_INTEGER }), fc.double({ noInteger: true, noNaN: true }), fc.constant("2024-01-01T00:00:00"), fc.constant(null), fc.boolean())],
    ["price", fc.oneof(fc.double({ max: 0, noNaN: true }), fc.constant(Number.NaN), fc.constant(Number.POSITIVE_INFINITY), fc.constant("abc"), fc.constant(null), fc.constant(1e200), fc.double({ min: 1e30, noNaN: true, minExcluded: true }), fc.double({ min: Number.MIN_VALUE, max: 1e-30, maxExcluded: true }))],
    ["volume", fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.double({ min: 1e30, noNaN: true, minExcluded: true }), fc.double({ min: Number.MIN_VALUE, max: 1e-30, maxExcluded: true }), fc.constant(Number.NaN), fc.constant(Number.NEGATIVE_INFINITY), fc.constant("-"), fc.constant({}))],
  ];

  it("R-DATA-1 rejects generated invalid ticks (one corrupted or missing field) with a reason naming the field", () => {
    fc.assert(
      fc.property(tickArb, fc.constantFrom(...corruptions), fc.boolean(), fc.context(), (t, [field, bad], drop, ctx) => {
        const rec = toInput(t);
        return fc.assert(
          fc.property(bad, (v) => {
            const r2 = { ...rec } as Record<string, unknown>;
            if (drop) delete r2[field];
            else r2[field] = v;
            const r = validateTick(r2);
            ctx.log(JSON.stringify(r));
            assert.equal(r.ok, false);
            assert.match((r as { reason: string }).reason, new RegExp(field));
          }),
          { numRuns: 5 },
        ) ?? true;
      }),
      { numRuns: 200 },
    );
  });
});
