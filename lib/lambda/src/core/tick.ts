/**
 * Tick validation and normalisation (R-DATA-1). Pure: no I/O, no AWS SDK.
 *
 * Input record fields (docs/design.md "Tick"):
 * - `symbol`: string of 1-12 characters from `A-Z 0-9 . - ^` with at least one letter or digit (case-sensitive: lower
 *   case is rejected, not fixed up). `.` and `..` would be dot-segments that URL normalisation removes from
 *   `/symbols/{symbol}/...` (RFC 3986 5.2.4), so a symbol without a letter or digit could never be queried.
 * - `timestamp`: epoch milliseconds (an integer number, or a string of digits as CSV carries it), or an ISO-8601
 *   date-time string WITH a zone (`Z` or `+hh:mm` / `+hhmm`). A date-time without a zone is rejected: its instant
 *   depends on the sender's local time, and guessing would silently misplace ticks. Fractions below a millisecond
 *   are truncated. Allowed range: 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z.
 * - `price`: PRICE_MIN <= price <= PRICE_MAX (a JSON number, or a decimal string such as CSV carries it).
 * - `volume`: 0, or VOLUME_MIN <= volume <= VOLUME_MAX (same encodings as price).
 *   Why these bounds (issue 14): every aggregate of a window must be storable in DynamoDB, whose Number holds
 *   1e-130 <= |n| <= 9.99...e125 (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html,
 *   "Number"). A 5-minute window holds at most MAX_TICKS_PER_WINDOW ticks (300,000 ms x 10^9 discriminators,
 *   core/keys.ts), so its volume is at most 3e14 x 1e30 = 3e44 and sum(price*volume) at most 3e74; the smallest
 *   non-zero volume is 1e-30 and the smallest price*volume 1e-60 (a normal double: no precision lost); VWAP lies
 *   between the lowest and highest price. Real markets need roughly 1e-12 (token prices in BTC) .. 1e10 (prices in
 *   hyperinflated currencies) and volumes of 1e-18 (wei) .. 1e15 (token amounts): the bounds leave a wide margin.
 * - every other field is kept, unchanged, in `extra` (omitted when there is none).
 * Everything accepted here can be stored by DataProcessor: numbers (price, volume and those inside `extra`) must lie
 * in DynamoDB's range (0, or 1e-130 <= |n| < 1e126), `extra` may nest at most 30 levels and has no empty field
 * names, and a normalised tick is at most MAX_TICK_BYTES of JSON. Otherwise one bad tick would poison the whole
 * SQS message that carries it.
 */
import { DISCRIMINATOR_DIGITS } from "./keys.ts";
import { INTERVALS, type Tick } from "./types.ts";

/** The four input fields a tick must have; every other field goes to `extra`. */
export const REQUIRED_FIELDS = ["symbol", "timestamp", "price", "volume"] as const;
/** 1-12 of `A-Z 0-9 . - ^`, at least one letter or digit (so `.` and `..`, which a URL path cannot carry, are out). */
export const SYMBOL_RE = /^(?=[.\-^]*[A-Z0-9])[A-Z0-9.\-^]{1,12}$/;
/** The symbol rule in words, for reasons. */
export const SYMBOL_RULE = "1-12 characters of A-Z 0-9 . - ^ with at least one letter or digit";
/** Smallest and largest accepted price (inclusive); see the module doc for why. */
export const PRICE_MIN = 1e-30;
export const PRICE_MAX = 1e30;
/** Smallest non-zero and largest accepted volume (inclusive); 0 is accepted too. */
export const VOLUME_MIN = 1e-30;
export const VOLUME_MAX = 1e30;
/** Most ticks one 5-minute window can hold: one per (millisecond, 9-digit discriminator) key (core/keys.ts). */
export const MAX_TICKS_PER_WINDOW = INTERVALS["5m"] * 10 ** DISCRIMINATOR_DIGITS;
/** Largest accepted epoch ms: 9999-12-31T23:59:59.999Z. */
export const MAX_TS = 253_402_300_799_999;
/** A normalised tick whose JSON exceeds this many UTF-8 bytes is rejected (keeps SQS packing possible). */
export const MAX_TICK_BYTES = 65_536;

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DIGITS_RE = /^\d{1,16}$/;
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** A lone surrogate: a UTF-16 code unit of a pair without its partner (JSON's `"\ud800"` makes one). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `s` is well-formed UTF-16 (no lone surrogate), i.e. has a UTF-8 form DynamoDB can store. The same test
 * as `String.prototype.isWellFormed`, which Node 18 lacks.
 */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** Why a number cannot be stored in DynamoDB (0, or 1e-130 <= |n| < 1e126), or null. Mirrors adapters/ddb.ts. */
export function dynamoNumberProblem(n: number): string | null {
  if (!Number.isFinite(n)) return `${n} is not finite`;
  const a = Math.abs(n);
  if (a !== 0 && (a < 1e-130 || a >= 1e126)) return `${n} is outside DynamoDB's number range (1e-130 .. 9.99e125)`;
  return null;
}

/**
 * Walks an `extra` value once: returns why it cannot be stored as a DynamoDB map (numbers out of range, depth > 30,
 * empty names), or an upper bound of its JSON size in UTF-8 bytes (a string of n UTF-16 units is at most 6n + 2).
 */
function checkExtra(v: unknown, path: string, depth: number): number | string {
  if (depth > 30) return `${path} is nested deeper than 30 levels`;
  if (typeof v === "string") {
    if (!isWellFormed(v)) return `${path} is not well-formed Unicode (a lone surrogate such as \\ud800); DynamoDB stores UTF-8 only`;
    return v.length * 6 + 2;
  }
  if (typeof v === "number") {
    const p = dynamoNumberProblem(v);
    return p ? `${path}: ${p}` : 25;
  }
  if (v === null || typeof v === "boolean") return 5;
  if (Array.isArray(v)) {
    let size = 2;
    for (let i = 0; i < v.length; i++) {
      const r = checkExtra(v[i], `${path}[${i}]`, depth + 1);
      if (typeof r === "string") return r;
      size += r + 1;
    }
    return size;
  }
  if (typeof v === "object") {
    let size = 2;
    for (const k of Object.keys(v as object)) {
      if (k.length === 0) return `${path} has an empty field name`;
      if (!isWellFormed(k)) return `${path} has a field name that is not well-formed Unicode (a lone surrogate)`;
      const r = checkExtra((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
      if (typeof r === "string") return r;
      size += k.length * 6 + 4 + r;
    }
    return size;
  }
  return `${path} holds a ${typeof v}, which JSON cannot carry`;
}

/** Why an `extra` value cannot be stored as a DynamoDB map (numbers out of range, depth > 30, empty names), or null. */
export function extraProblem(v: unknown, path = "extra", depth = 0): string | null {
  const r = checkExtra(v, path, depth);
  return typeof r === "string" ? r : null;
}

/**
 * Sets `o[k] = v` as an own, enumerable data property whatever `k` is: a field named `__proto__` must stay data
 * (assigning it would change the prototype and drop the field, issue 14).
 */
export function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Result of validating one record: the normalised tick, or the reason it was rejected. */
export type TickResult = { ok: true; tick: Tick } | { ok: false; reason: string };

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/**
 * Parses an ISO-8601 date-time with a zone into epoch ms, or returns a reason.
 * Exported for tests and for the query API's `from`/`to` parameters.
 */
export function parseIsoTimestamp(s: string): { ok: true; ts: number } | { ok: false; reason: string } {
  const m = ISO_RE.exec(s);
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?$/.test(s)) {
      return { ok: false, reason: `timestamp ${describe(s)} has no time zone; add "Z" or an offset like +00:00` };
    }
    return {
      ok: false,
      reason: `timestamp ${describe(s)} is neither epoch milliseconds nor an ISO-8601 date-time with a zone`,
    };
  }
  const [, y, mo, d, h, mi, sec, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = sec === undefined ? 0 : Number(sec);
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, "0").slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, reason: `timestamp ${describe(s)} has a field out of range` };
  }
  let offsetMin = 0;
  if (z === undefined) {
    const ohN = Number(oh);
    const omN = Number(om);
    if (ohN > 23 || omN > 59) return { ok: false, reason: `timestamp ${describe(s)} has an invalid zone offset` };
    offsetMin = (sign === "-" ? -1 : 1) * (ohN * 60 + omN);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) {
    return { ok: false, reason: `timestamp ${describe(s)} is not a calendar date` };
  }
  const ts = date.getTime() - offsetMin * 60_000;
  if (!(ts >= 0 && ts <= MAX_TS)) {
    return { ok: false, reason: `timestamp ${describe(s)} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z` };
  }
  return { ok: true, ts };
}

function timestampOf(v: unknown): { ok: true; ts: number } | { ok: false; reason: string } {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) {
      return { ok: false, reason: `timestamp ${describe(v)} is not an integer number of epoch milliseconds` };
    }
    if (v < 0 || v > MAX_TS) {
      return { ok: false, reason: `timestamp ${v} is outside the epoch ms range 0..${MAX_TS}` };
    }
    return { ok: true, ts: v };
  }
  if (typeof v === "string") {
    if (DIGITS_RE.test(v)) return timestampOf(Number(v));
    return parseIsoTimestamp(v);
  }
  if (v === undefined) return { ok: false, reason: "missing field timestamp" };
  return {
    ok: false,
    reason: `timestamp must be epoch milliseconds or an ISO-8601 string with a zone, got ${describe(v)}`,
  };
}

function numberOf(name: string, v: unknown): { ok: true; n: number } | { ok: false; reason: string } {
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && DECIMAL_RE.test(v)) n = Number(v);
  else if (v === undefined) return { ok: false, reason: `missing field ${name}` };
  else return { ok: false, reason: `${name} must be a number, got ${describe(v)}` };
  if (!Number.isFinite(n)) return { ok: false, reason: `${name} must be finite, got ${describe(v)}` };
  return { ok: true, n };
}

/**
 * Validates one input record and returns the normalised tick (R-DATA-1) or the reason it is invalid.
 * Never throws. The record is not modified. Other fields are copied into `extra` as they are
 * (JSON values; CSV gives strings).
 */
export function validateTick(record: unknown): TickResult {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    return { ok: false, reason: `a tick must be a JSON object, got ${describe(record)}` };
  }
  const r = record as Record<string, unknown>;
  const symbol = r.symbol;
  if (symbol === undefined) return { ok: false, reason: "missing field symbol" };
  if (typeof symbol !== "string" || !SYMBOL_RE.test(symbol)) {
    return {
      ok: false,
      reason: `symbol ${describe(symbol)} is invalid: ${SYMBOL_RULE} allowed`,
    };
  }
  const ts = timestampOf(r.timestamp);
  if (!ts.ok) return ts;
  const price = numberOf("price", r.price);
  if (!price.ok) return price;
  if (!(price.n >= PRICE_MIN && price.n <= PRICE_MAX)) {
    return { ok: false, reason: `price ${price.n} is outside the allowed range ${PRICE_MIN} .. ${PRICE_MAX}` };
  }
  const volume = numberOf("volume", r.volume);
  if (!volume.ok) return volume;
  if (!(volume.n === 0 || (volume.n >= VOLUME_MIN && volume.n <= VOLUME_MAX))) {
    return { ok: false, reason: `volume ${volume.n} is outside the allowed range: 0 or ${VOLUME_MIN} .. ${VOLUME_MAX}` };
  }
  const vol = volume.n === 0 ? 0 : volume.n; // -0 -> 0
  let extra: Record<string, unknown> | undefined;
  let bound = 160; // the four fields and the "extra" wrapper, generously
  for (const k in r) {
    if (k === "symbol" || k === "timestamp" || k === "price" || k === "volume" || !Object.hasOwn(r, k)) continue;
    const v = r[k];
    if (v === undefined) continue;
    if (k.length === 0) return { ok: false, reason: "a field has an empty name" };
    if (!isWellFormed(k)) return { ok: false, reason: "a field name is not well-formed Unicode (a lone surrogate); DynamoDB stores UTF-8 only" };
    const c = checkExtra(v, k, 1);
    if (typeof c === "string") return { ok: false, reason: c };
    bound += k.length * 6 + 4 + c;
    extra ??= {};
    setField(extra, k, v);
  }
  const tick: Tick =
    extra === undefined ? { symbol, ts: ts.ts, price: price.n, volume: vol } : { symbol, ts: ts.ts, price: price.n, volume: vol, extra };
  if (bound > MAX_TICK_BYTES) {
    // the cheap bound is over the limit: measure exactly
    const bytes = Buffer.byteLength(JSON.stringify(tick));
    if (bytes > MAX_TICK_BYTES) {
      return { ok: false, reason: `tick is ${bytes} bytes as JSON; at most ${MAX_TICK_BYTES} allowed` };
    }
  }
  return { ok: true, tick };
}
