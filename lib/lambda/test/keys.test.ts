// Tick sort keys: R-DATA-4 (same tick -> same item, two distinct ticks in one ms -> two items), R-DDB-1 key layout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  canonicalJson,
  canonicalKey,
  compareTickKeys,
  decodeTickKey,
  discriminator,
  encodeTickKey,
  MAX_KEY_TS,
  tickKey,
  tickKeyRange,
} from "../src/core/keys.ts";
import type { Tick } from "../src/core/types.ts";

const symbolArb = fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/);
const extraArb = fc.option(
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 3 }),
  { nil: undefined },
);
export const tickArb: fc.Arbitrary<Tick> = fc
  .record({
    symbol: fc.oneof(symbolArb, fc.constant("AAPL")),
    // Few distinct values too, so same-millisecond ticks and exact duplicates are common in a sample.
    ts: fc.oneof(fc.integer({ min: 0, max: MAX_KEY_TS }), fc.constantFrom(1_700_000_000_000, 1_700_000_000_001)),
    price: fc.oneof(
      fc.double({ min: 1e-6, max: 1e9, noNaN: true, noDefaultInfinity: true }).filter((p) => p > 0),
      fc.constantFrom(100, 100.5),
    ),
    volume: fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 10)),
    extra: extraArb,
  })
  .map((t) => (t.extra === undefined ? { symbol: t.symbol, ts: t.ts, price: t.price, volume: t.volume } : (t as Tick)));

/** Compares two decimal Number strings exactly as numbers (independent of the module under test). */
function compareDecimalStrings(a: string, b: string): number {
  const [ai, af = ""] = a.split(".") as [string, string?];
  const [bi, bf = ""] = b.split(".") as [string, string?];
  const A = BigInt(ai) * 10n ** 9n + BigInt(af.padEnd(9, "0") || "0");
  const B = BigInt(bi) * 10n ** 9n + BigInt(bf.padEnd(9, "0") || "0");
  return A < B ? -1 : A > B ? 1 : 0;
}

describe("tick keys (R-DATA-4)", () => {
  it("R-DATA-4: the same tick delivered twice gets the same key, whatever the field order of extra", () => {
    const a: Tick = { symbol: "AAPL", ts: 1_700_000_000_123, price: 189.5, volume: 100, extra: { venue: "X", id: 7 } };
    const b: Tick = { volume: 100, price: 189.5, ts: 1_700_000_000_123, symbol: "AAPL", extra: { id: 7, venue: "X" } };
    assert.equal(tickKey(a), tickKey(b));
    assert.match(tickKey(a), /^1700000000123\.\d{9}$/);
  });

  it("R-DATA-4: two distinct ticks of one symbol in the same millisecond get two keys", () => {
    const base: Tick = { symbol: "AAPL", ts: 1_700_000_000_123, price: 189.5, volume: 100 };
    const keys = new Set([
      tickKey(base),
      tickKey({ ...base, price: 189.51 }),
      tickKey({ ...base, volume: 101 }),
      tickKey({ ...base, extra: { tradeId: "t-1" } }),
      tickKey({ ...base, extra: { tradeId: "t-2" } }),
    ]);
    assert.equal(keys.size, 5);
    for (const k of keys) assert.equal(decodeTickKey(k).ts, base.ts);
  });

  it("an empty extra is the same tick as no extra; undefined fields do not count", () => {
    const t: Tick = { symbol: "MSFT", ts: 5, price: 1, volume: 0 };
    assert.equal(tickKey(t), tickKey({ ...t, extra: {} }));
    assert.equal(canonicalJson({ b: 1, a: undefined, c: [undefined] }), '{"b":1,"c":[null]}');
  });

  it("decodes DynamoDB-normalised keys (trailing zeros dropped) back to the 9-digit form", () => {
    assert.deepEqual(decodeTickKey("1700000000123.12"), { ts: 1_700_000_000_123, disc: "120000000" });
    assert.deepEqual(decodeTickKey("1700000000123"), { ts: 1_700_000_000_123, disc: "000000000" });
    assert.equal(canonicalKey("0.5"), "0.500000000");
    assert.equal(encodeTickKey(42, "000000001"), "42.000000001");
  });

  it("rejects what is not a key or a storable timestamp, naming the value", () => {
    for (const bad of ["", "abc", "-1.5", "1.1234567890", "01.5", "1e5", "1.5.6"]) {
      assert.throws(() => decodeTickKey(bad), (e: Error) => e instanceof RangeError && e.message.includes(bad));
    }
    assert.throws(() => tickKey({ symbol: "A", ts: -1, price: 1, volume: 1 }), /between 0 and/);
    assert.throws(() => tickKey({ symbol: "A", ts: 1.5, price: 1, volume: 1 }), /integer epoch ms/);
    assert.throws(() => encodeTickKey(1, "12"), /9 decimal digits/);
    assert.throws(() => tickKeyRange(10, 10), /empty time range/);
  });

  it("key ranges cover exactly the keys of [from, to)", () => {
    const { lo, hi } = tickKeyRange(60_000, 120_000);
    assert.equal(lo, "60000");
    assert.equal(hi, "119999.999999999");
    const inside = [encodeTickKey(60_000, "000000000"), encodeTickKey(119_999, "999999999")];
    const outside = [encodeTickKey(59_999, "999999999"), encodeTickKey(120_000, "000000000")];
    for (const k of inside) assert.ok(compareDecimalStrings(k, lo) >= 0 && compareDecimalStrings(k, hi) <= 0, k);
    for (const k of outside) assert.ok(compareDecimalStrings(k, lo) < 0 || compareDecimalStrings(k, hi) > 0, k);
  });

  it("property (R-DATA-4): same tick -> same key; different ticks -> different keys; key order respects time order", () => {
    fc.assert(
      fc.property(fc.array(tickArb, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 20 }), (uniq, dupIdx) => {
        const ticks = [...uniq, ...dupIdx.map((i) => uniq[i % uniq.length] as Tick)];
        const byContent = new Map<string, string>();
        const byKey = new Map<string, string>();
        for (const t of ticks) {
          // Re-build the tick from scratch (new object, shuffled field order) to prove content, not identity, counts.
          const copy = JSON.parse(JSON.stringify({ volume: t.volume, extra: t.extra, price: t.price, ts: t.ts, symbol: t.symbol }));
          const k = tickKey(t);
          assert.equal(tickKey(copy), k);
          assert.equal(k, `${t.ts}.${discriminator(t)}`);
          const content = canonicalJson([t.symbol, t.ts, t.price, t.volume, t.extra ?? {}]);
          const id = `${t.symbol}|${k}`;
          if (byContent.has(content)) assert.equal(byContent.get(content), id);
          byContent.set(content, id);
          if (byKey.has(id)) assert.equal(byKey.get(id), content, "two different ticks share a key");
          byKey.set(id, content);
        }
        // Ordering: numeric order of the key strings (computed with BigInt here) never contradicts ts order,
        // and compareTickKeys agrees with the numeric order.
        const keys = ticks.map(tickKey);
        for (let i = 0; i < keys.length; i++) {
          for (let j = 0; j < keys.length; j++) {
            const a = keys[i] as string;
            const b = keys[j] as string;
            const ta = (ticks[i] as Tick).ts;
            const tb = (ticks[j] as Tick).ts;
            const num = compareDecimalStrings(a, b);
            if (ta < tb) assert.equal(num, -1);
            assert.equal(Math.sign(compareTickKeys(decodeTickKey(a), decodeTickKey(b))), num);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("property: decode(encode(ts, disc)) round-trips, also through DynamoDB's normalisation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_KEY_TS }), fc.integer({ min: 0, max: 999_999_999 }), (ts, d) => {
        const disc = String(d).padStart(9, "0");
        const key = encodeTickKey(ts, disc);
        const normalised = key.replace(/0+$/, "").replace(/\.$/, "");
        assert.deepEqual(decodeTickKey(key), { ts, disc });
        assert.deepEqual(decodeTickKey(normalised), { ts, disc });
        assert.equal(canonicalKey(normalised), key);
      }),
      { numRuns: 500 },
    );
  });
});
