/**
 * The tick contract (R-DATA-1), one owner: the field names, the symbol, number-range, extra-field and ISO-8601 rules,
 * the normalised `Tick` type, its one JSON writer (`writeTickJson`, used by `tickJson` and the fast lanes), the check
 * of an already-normalised tick (`tickProblem`, for SQS messages) and the API form of a stored tick (`apiTick`).
 * Every other module imports these; docs/design.md "Adding a first-class tick field" says what to change where.
 * Pure: no I/O, no AWS SDK.
 *
 * Input record fields (docs/design.md "Tick"):
 * - `symbol`: string of 1-12 characters from `A-Z 0-9 . - ^` with at least one letter or digit (case-sensitive: lower
 *   case is rejected, not fixed up). `.` and `..` would be dot-segments that URL normalisation removes from
 *   `/symbols/{symbol}/...` (RFC 3986 5.2.4), so a symbol without a letter or digit could never be queried.
 * - `timestamp`: epoch milliseconds (an integer number, or a string of digits as CSV carries it), or an ISO-8601
 *   date-time string WITH a zone (`parseIsoTimestamp`, also the query API's reader). A date-time without a zone is
 *   rejected: its instant depends on the sender's local time, and guessing would silently misplace ticks. Fractions
 *   below a millisecond are truncated. Allowed range: 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z.
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

/** A validated, normalised tick (R-DATA-1) as it travels through SQS; `TICK_FIELDS` names its fields in JSON order. */
export interface Tick {
  /** 1-12 characters of A-Z 0-9 . - ^ (SYMBOL_RE) */
  symbol: string;
  /** epoch milliseconds (integer, 0..MAX_TS) */
  ts: number;
  /** PRICE_MIN..PRICE_MAX */
  price: number;
  /** 0 or VOLUME_MIN..VOLUME_MAX */
  volume: number;
  /** optional fields of the input record, kept as they came */
  extra?: Record<string, unknown>;
}

/** The four input fields a tick must have; every other field goes to `extra`. */
export const REQUIRED_FIELDS = ["symbol", "timestamp", "price", "volume"] as const;
/**
 * First-class optional input fields (none yet). `validateTick` keeps them out of `extra`; the fast lanes
 * (core/fastlane.ts) leave a record that has one to the generic path, so they need no change for a new field.
 */
export const OPTIONAL_FIELDS: readonly string[] = [];
/** Input field names that are not extra fields. */
const INPUT_FIELDS: ReadonlySet<string> = new Set<string>([...REQUIRED_FIELDS, ...OPTIONAL_FIELDS]);
/** The fields of a normalised tick, in the order of its JSON (`writeTickJson`). */
export const TICK_FIELDS = ["symbol", "ts", "price", "volume", "extra"] as const;
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
/** Largest accepted epoch ms: 9999-12-31T23:59:59.999Z. */
export const MAX_TS = 253_402_300_799_999;
/** A normalised tick whose JSON exceeds this many UTF-8 bytes is rejected (keeps SQS packing possible). */
export const MAX_TICK_BYTES = 65_536;

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** A timestamp written as epoch ms digits (ingestion's CSV/string timestamps and the query API's `from`/`to`). */
export const EPOCH_MS_RE = /^\d{1,16}$/;
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

/** Why a number cannot be stored in DynamoDB (0, or 1e-130 <= |n| < 1e126), or null: the one owner of this rule. */
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
 * Parses an ISO-8601 date-time with a zone into epoch ms, or returns a reason: THE ISO rule of the pipeline, for
 * ingested timestamps and the query API's `from`/`to` alike. Accepted: `YYYY-MM-DD`, a `T`, `t` or space, `hh:mm`,
 * optionally `:ss` and a fraction after `.` or `,` (1-9 digits, truncated to ms), then `Z`, `z`, `+hh:mm` or `+hhmm`
 * (or `-`). Range: MAX_TS. `subject` names the value in reasons (default `timestamp "<s>"`).
 */
export function parseIsoTimestamp(
  s: string,
  subject = `timestamp ${describe(s)}`,
): { ok: true; ts: number } | { ok: false; reason: string } {
  const m = ISO_RE.exec(s);
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?$/.test(s)) {
      return { ok: false, reason: `${subject} has no time zone; add "Z" or an offset like +00:00` };
    }
    return {
      ok: false,
      reason: `${subject} is neither epoch milliseconds nor an ISO-8601 date-time with a zone (e.g. 2024-01-02T15:04:05Z)`,
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
    return { ok: false, reason: `${subject} has a field out of range` };
  }
  let offsetMin = 0;
  if (z === undefined) {
    const ohN = Number(oh);
    const omN = Number(om);
    if (ohN > 23 || omN > 59) return { ok: false, reason: `${subject} has an invalid zone offset` };
    offsetMin = (sign === "-" ? -1 : 1) * (ohN * 60 + omN);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) {
    return { ok: false, reason: `${subject} is not a calendar date` };
  }
  const ts = date.getTime() - offsetMin * 60_000;
  if (!(ts >= 0 && ts <= MAX_TS)) {
    return { ok: false, reason: `${subject} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z` };
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
    if (EPOCH_MS_RE.test(v)) return timestampOf(Number(v));
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
    if (INPUT_FIELDS.has(k) || !Object.hasOwn(r, k)) continue;
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
    const bytes = Buffer.byteLength(tickJson(tick));
    if (bytes > MAX_TICK_BYTES) {
      return { ok: false, reason: `tick is ${bytes} bytes as JSON; at most ${MAX_TICK_BYTES} allowed` };
    }
  }
  return { ok: true, tick };
}

/**
 * Why an already-normalised tick (an element of a TickMessage's `ticks`, core/decode.ts) breaks the contract, or
 * null: exactly the fields of TICK_FIELDS, the R-DATA-1 symbol and bounds, and an `extra` DynamoDB can store. Checked
 * before anything is written, so one bad tick fails its own SQS record only (poison), never its neighbours.
 */
export function tickProblem(t: unknown): string | null {
  if (typeof t !== "object" || t === null || Array.isArray(t)) return "is not an object";
  const o = t as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(TICK_FIELDS as readonly string[]).includes(k)) return `has unknown field "${k}" (extra fields belong in "extra")`;
  }
  if (typeof o.symbol !== "string" || !SYMBOL_RE.test(o.symbol)) return `symbol ${JSON.stringify(o.symbol)} is not ${SYMBOL_RULE}`;
  if (typeof o.ts !== "number" || !Number.isSafeInteger(o.ts) || o.ts < 0 || o.ts > MAX_TS) {
    return `ts ${JSON.stringify(o.ts)} is not an integer epoch ms from 0 to ${MAX_TS}`;
  }
  // the bounds of R-DATA-1: outside them a window's aggregate could not be stored
  if (typeof o.price !== "number" || !(o.price >= PRICE_MIN && o.price <= PRICE_MAX)) {
    return `price ${JSON.stringify(o.price)} is not a number from ${PRICE_MIN} to ${PRICE_MAX}`;
  }
  if (typeof o.volume !== "number" || !(o.volume === 0 || (o.volume >= VOLUME_MIN && o.volume <= VOLUME_MAX))) {
    return `volume ${JSON.stringify(o.volume)} is not 0 or a number from ${VOLUME_MIN} to ${VOLUME_MAX}`;
  }
  if (o.extra === undefined) return null;
  if (typeof o.extra !== "object" || o.extra === null || Array.isArray(o.extra)) return "extra is not an object";
  const p = extraProblem(o.extra);
  return p === null ? null : `cannot be stored: ${p}`;
}

/**
 * THE tick JSON writer: the one place that knows the field names and order of a tick's JSON (TICK_FIELDS). Every tick
 * JSON the pipeline sends comes from here, through `tickJson` or the fast lanes (core/fastlane.ts), which pass text
 * they have checked to be JSON as it is. `symbol`: the symbol as JSON string content (escaped, without quotes); `ts`,
 * `price`, `volume`: JSON numbers; `extra`: the members of the extra object (`"a":1,"b":"x"`, without braces; "" for
 * an empty object), or undefined when the tick has no `extra`.
 */
export function writeTickJson(symbol: string, ts: string, price: string, volume: string, extra: string | undefined): string {
  return extra === undefined
    ? `{"symbol":"${symbol}","ts":${ts},"price":${price},"volume":${volume}}`
    : `{"symbol":"${symbol}","ts":${ts},"price":${price},"volume":${volume},"extra":{${extra}}}`;
}

/** Strings JSON.stringify writes unchanged between quotes (no quote, backslash, control character or surrogate). */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** A number as JSON.stringify writes it (finite numbers print the same through String()). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/**
 * JSON of a normalised tick: the same text as JSON.stringify(tick) (same key order), built faster through
 * `writeTickJson` (a validated symbol and plain extra values need no escaping).
 */
export function tickJson(t: Tick): string {
  const symbol = PLAIN.test(t.symbol) ? t.symbol : JSON.stringify(t.symbol).slice(1, -1);
  const extra = t.extra === undefined ? undefined : (flatMembers(t.extra) ?? JSON.stringify(t.extra).slice(1, -1));
  return writeTickJson(symbol, jsonNumber(t.ts), jsonNumber(t.price), jsonNumber(t.volume), extra);
}

/** JSON members (no braces) of a flat object of plain strings, finite numbers, booleans and nulls; else undefined. */
function flatMembers(o: Record<string, unknown>): string | undefined {
  let out = "";
  let first = true;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    const v = o[k];
    if (!PLAIN.test(k)) return undefined;
    let js: string;
    if (typeof v === "string") {
      if (!PLAIN.test(v)) return undefined;
      js = `"${v}"`;
    } else if (typeof v === "number" && Number.isFinite(v)) js = String(v);
    else if (typeof v === "boolean") js = v ? "true" : "false";
    else if (v === null) js = "null";
    else return undefined;
    out += `${first ? "" : ","}"${k}":${js}`;
    first = false;
  }
  return out;
}

/**
 * What decides "the same tick" (hashed into its sort key by core/keys.ts `canonicalTick`): every field of the tick,
 * an empty `extra` equal to none. A new optional field is appended only when present, so existing keys stay.
 */
export function tickContent(t: Tick): unknown[] {
  return [t.symbol, t.ts, t.price, t.volume, t.extra ?? {}];
}

/**
 * The API form of a stored tick (DataQuery, docs/openapi.yaml `Tick`): an input record (validateTick of it gives the
 * tick back): `{...extra, symbol, timestamp, price, volume}`, the tick's own fields winning name clashes.
 */
export function apiTick(t: Tick): Record<string, unknown> {
  return { ...(t.extra ?? {}), symbol: t.symbol, timestamp: t.ts, price: t.price, volume: t.volume };
}
