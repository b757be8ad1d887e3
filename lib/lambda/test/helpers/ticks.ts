/**
 * Test helpers for the ingestion side: fast-check arbitraries of valid and invalid ticks, and small independent
 * formatters (normalised tick -> CSV / JSON Lines / JSON array input) used by the round-trip properties.
 */
import fc from "fast-check";
import { PRICE_MAX, PRICE_MIN, VOLUME_MAX, VOLUME_MIN } from "../../src/core/tick.ts";
import type { Tick } from "../../src/core/types.ts";

export const SYMBOL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^".split("");
export const MAX_TS = 253_402_300_799_999;

/** R-DATA-1 symbols: at least one letter or digit (a symbol of dots alone cannot be addressed in a URL path). */
export const symbolArb = fc
  .string({ unit: fc.constantFrom(...SYMBOL_CHARS), minLength: 1, maxLength: 12 })
  .filter((s) => /[A-Z0-9]/.test(s));
export const tsArb = fc.integer({ min: 0, max: MAX_TS });
/** R-DATA-1 prices: PRICE_MIN .. PRICE_MAX (the bounds themselves included) */
export const priceArb = fc.oneof(
  fc.double({ min: PRICE_MIN, max: PRICE_MAX, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(PRICE_MIN, PRICE_MAX),
);
/** R-DATA-1 volumes: 0 or VOLUME_MIN .. VOLUME_MAX */
export const volumeArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 1_000_000_000 }),
  fc.double({ min: VOLUME_MIN, max: VOLUME_MAX, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(VOLUME_MIN, VOLUME_MAX),
);
const RESERVED = new Set(["symbol", "timestamp", "price", "volume"]);
/** Names that mean something to a plain JavaScript object: stored as data all the same (issue 14). */
export const PROTOTYPE_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "prototype"] as const;
/** extra field names: non-empty, not one of the four tick fields (any case, CSV headers match case-insensitively) */
export const extraKeyArb = fc.oneof(
  { weight: 9, arbitrary: fc
    .string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCXYZ_0123456789".split("")), minLength: 1, maxLength: 10 })
    .filter((k) => !RESERVED.has(k.toLowerCase())) },
  { weight: 1, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
);

/** JSON values storable in DynamoDB (no numbers outside its range, no empty keys). */
export const extraValueArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ unit: "grapheme", maxLength: 8 }),
    fc.boolean(),
    fc.constant(null),
    fc.integer(),
    fc
      .double({ min: -1e100, max: 1e100, noNaN: true, noDefaultInfinity: true })
      .filter((d) => d === 0 || Math.abs(d) >= 1e-100)
      .map((d) => (d === 0 ? 0 : d)), // JSON has no -0
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(extraKeyArb, tie("value"), { maxKeys: 3, noNullPrototype: true }),
  ),
})).value;

function tickArbWith(extraValue: fc.Arbitrary<unknown>, allowExtra = true): fc.Arbitrary<Tick> {
  return fc
    .record({
      symbol: symbolArb,
      ts: tsArb,
      price: priceArb,
      volume: volumeArb,
      extra: allowExtra ? fc.dictionary(extraKeyArb, extraValue, { maxKeys: 3, noNullPrototype: true }) : fc.constant({}),
    })
    .map(({ extra, ...t }) => (Object.keys(extra).length > 0 ? { ...t, extra } : { ...t }));
}

/** Valid normalised ticks with JSON extra fields. */
export const tickArb = tickArbWith(extraValueArb);
/** Valid normalised ticks whose extra fields are non-empty strings without line breaks (what CSV can carry). */
export const csvTickArb = tickArbWith(
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }).filter((s) => !/[\r\n]/.test(s)),
);

/** The input record of a normalised tick (the field names of the input formats). */
export function toInput(t: Tick, isoTime = false): Record<string, unknown> {
  return {
    symbol: t.symbol,
    timestamp: isoTime ? new Date(t.ts).toISOString() : t.ts,
    price: t.price,
    volume: t.volume,
    ...(t.extra ?? {}),
  };
}

function csvCell(v: string): string {
  return /[",\r\n]/.test(v) || v.trim() !== v ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV with a header row: the four fields plus the union of extra names; missing extras are empty cells. */
export function formatCsv(ticks: Tick[], opts: { isoTime?: boolean; crlf?: boolean; shuffleHeader?: boolean } = {}): string {
  const extras: string[] = [];
  for (const t of ticks) for (const k of Object.keys(t.extra ?? {})) if (!extras.includes(k)) extras.push(k);
  const cols = opts.shuffleHeader ? [...extras, "volume", "price", "symbol", "timestamp"] : ["symbol", "timestamp", "price", "volume", ...extras];
  const nl = opts.crlf ? "\r\n" : "\n";
  const rows = ticks.map((t) => {
    const rec = toInput(t, opts.isoTime);
    return cols.map((c) => (!Object.hasOwn(rec, c) || rec[c] === undefined ? "" : csvCell(String(rec[c])))).join(",");
  });
  return [cols.join(","), ...rows].join(nl) + nl;
}

export function formatJsonl(ticks: Tick[], isoTime = false): string {
  return ticks.map((t) => JSON.stringify(toInput(t, isoTime))).join("\n") + (ticks.length ? "\n" : "");
}

export function formatJsonArray(ticks: Tick[], pretty = false): string {
  const recs = ticks.map((t) => toInput(t));
  return pretty ? JSON.stringify(recs, null, 2) : JSON.stringify(recs);
}

/** Splits a buffer into chunks at the given cut points (to exercise chunk boundaries). */
export function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = p;
  }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

/** A reasonably realistic tick for example-based tests. */
export function sampleTick(i: number, symbol = "AAPL"): Tick {
  return { symbol, ts: 1_700_000_000_000 + i * 250, price: 150 + (i % 100) / 4, volume: 100 + i };
}
