/**
 * The fast lanes of ingestion (issue 6: CPU throughput). Pure: no I/O, no AWS SDK.
 *
 * Most records of a market-data file are plainly valid: an upper-case symbol, epoch-ms digits, decimal prices and
 * volumes already written the way JavaScript prints them, a few short plain extra fields. For such a record the
 * generic path (cells or `JSON.parse` -> record object -> `validateTick` -> tick object -> `tickJson`) spends most of
 * its time building objects and converting text to numbers and back. A fast lane checks the record's TEXT directly
 * and, when every part is in that plain form, builds the normalised tick's JSON from the text itself.
 *
 * Contract of both lanes: for every record text, the lane returns either `undefined` ("not decided here": the caller
 * takes the generic path, which accepts or rejects it with a reason) or EXACTLY `tickJson(validateTick(record).tick)`
 * of the record the generic path builds from that text, and only for records the generic path accepts. The output is
 * ASCII, so its length is its UTF-8 size. `test/fastlane.test.ts` checks this against the generic path on generated
 * rows, lines and files.
 *
 * Plain parts:
 * - symbol: 1-12 characters of `A-Z 0-9 . - ^` with at least one letter or digit (SYMBOL_RE, R-DATA-1);
 * - timestamp: epoch ms digits without a leading zero (or `0`), at most MAX_TS;
 * - price (> 0) / volume (>= 0): `0` or `[1-9][0-9]*` optionally followed by `.` and digits ending in 1-9, at most 15
 *   significant digits, value >= 1e-6 (or exactly 0 for volume). Such a decimal converts to a double and back to the
 *   same text (15 significant digits always round-trip, and JavaScript prints numbers from 1e-6 to 1e21 without an
 *   exponent), so the text is already its own JSON number. It also lies inside the R-DATA-1 bounds
 *   (PRICE_MIN..PRICE_MAX and VOLUME_MIN..VOLUME_MAX, 1e-30..1e30, contain 1e-6..999999999999999; checked at load).
 * - extra values: printable ASCII text without `"` and `\` (JSON needs no escape); in JSON also plain numbers (as
 *   above, or their negatives), `true`, `false`, `null`. CSV: an empty extra cell is omitted, as the generic path does.
 * - extra names: printable ASCII without `"` and `\`, not empty, not all digits (JavaScript orders integer-like keys
 *   first), not `__proto__`, not a first-class optional field of core/tick.ts (OPTIONAL_FIELDS: such a record is
 *   left to the generic path), no name twice.
 * The tick JSON itself is written by core/tick.ts `writeTickJson`, the writer `tickJson` uses too.
 */
import { MAX_TICK_BYTES, MAX_TS, OPTIONAL_FIELDS, PRICE_MAX, PRICE_MIN, VOLUME_MAX, VOLUME_MIN, writeTickJson } from "./tick.ts";

/** Converts a plain CSV row to its tick JSON, or returns undefined when the generic path must decide. */
export type CsvFastLane = (row: string) => string | undefined;

const enum Col {
  Extra = 0,
  Symbol = 1,
  Timestamp = 2,
  Price = 3,
  Volume = 4,
}

const MAX_TS_TEXT = String(MAX_TS);
/** Significant digits that always survive text -> double -> text unchanged. */
const MAX_SIGNIFICANT = 15;
/** Smallest and largest plain decimal a lane accepts (>= 1e-6, at most 15 integer digits). */
const PLAIN_MIN = 1e-6;
const PLAIN_MAX = 999_999_999_999_999;
// A lane never accepts what the generic path refuses: the plain range must lie inside the tick bounds.
if (!(PLAIN_MIN >= PRICE_MIN && PLAIN_MIN >= VOLUME_MIN && PLAIN_MAX <= PRICE_MAX && PLAIN_MAX <= VOLUME_MAX)) {
  throw new Error("fastlane: plain decimals reach outside the R-DATA-1 price/volume bounds; narrow decimalOk");
}

/** Printable ASCII without `"` and `\\`: JSON carries it between quotes unchanged. */
function plainAscii(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function symbolOk(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > 12) return false;
  let alnum = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // A-Z 0-9 . - ^, at least one letter or digit (SYMBOL_RE)
    if ((c >= 65 && c <= 90) || (c >= 48 && c <= 57)) alnum = true;
    else if (!(c === 46 || c === 45 || c === 94)) return false;
  }
  return alnum;
}

function timestampOk(s: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 1 || n > MAX_TS_TEXT.length) return false;
  if (n > 1 && s.charCodeAt(from) === 48) return false; // leading zero: the number prints differently
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return n < MAX_TS_TEXT.length || s.slice(from, to) <= MAX_TS_TEXT;
}

/** A plain decimal (see the module doc); `zero` allows exactly "0". */
function decimalOk(s: string, from: number, to: number, zero: boolean): boolean {
  if (to <= from) return false;
  let i = from;
  let significant = 0;
  const c0 = s.charCodeAt(i);
  if (c0 === 48) {
    i++;
    if (i === to) return zero;
    if (s.charCodeAt(i) !== 46) return false; // "01"
    i++;
    let zeros = 0;
    while (i < to && s.charCodeAt(i) === 48) {
      zeros++;
      i++;
    }
    if (zeros > 5 || i === to) return false; // below 1e-6 prints with an exponent; "0.000" is not plain
  } else if (c0 >= 49 && c0 <= 57) {
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      significant++;
      i++;
    }
    if (i === to) return significant <= MAX_SIGNIFICANT;
    if (s.charCodeAt(i) !== 46) return false;
    i++;
    if (i === to) return false; // "1." prints as "1"
  } else {
    return false;
  }
  // fraction digits, the last one not 0
  for (; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    significant++;
  }
  return s.charCodeAt(to - 1) !== 48 && significant <= MAX_SIGNIFICANT;
}

/** First-class optional tick fields: the lanes do not build them (the generic path does). */
const OPTIONAL: ReadonlySet<string> = new Set(OPTIONAL_FIELDS);

/** An extra field name the lanes can carry (see the module doc). */
function plainName(name: string): boolean {
  if (name === "" || name === "__proto__" || (OPTIONAL.size > 0 && OPTIONAL.has(name))) return false;
  let digits = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
    if (c < 48 || c > 57) digits = false;
  }
  return !digits;
}

/**
 * The fast lane for a CSV file with this header (names as CsvParser stores them: the four required names lower case,
 * other names as written), or undefined when the header itself rules it out.
 */
export function csvFastLane(header: readonly string[]): CsvFastLane | undefined {
  const kinds: Col[] = [];
  const keys: string[] = [];
  for (const name of header) {
    const kind =
      name === "symbol" ? Col.Symbol : name === "timestamp" ? Col.Timestamp : name === "price" ? Col.Price : name === "volume" ? Col.Volume : Col.Extra;
    if (kind === Col.Extra && !plainName(name)) {
      return undefined;
    }
    kinds.push(kind);
    keys.push(`"${name}":"`);
  }
  if (new Set(kinds.filter((k) => k !== Col.Extra)).size !== 4) return undefined;
  const n = kinds.length;
  return (row: string): string | undefined => {
    let symbol = "";
    let ts = "";
    let price = "";
    let volume = "";
    let extra = "";
    let from = 0;
    for (let i = 0; i < n; i++) {
      let to = row.indexOf(",", from);
      if (i === n - 1) {
        if (to !== -1) return undefined; // more cells than the header: the generic path reports it
        to = row.length;
      } else if (to === -1) {
        return undefined;
      }
      switch (kinds[i]) {
        case Col.Symbol:
          if (!symbolOk(row, from, to)) return undefined;
          symbol = row.slice(from, to);
          break;
        case Col.Timestamp:
          if (!timestampOk(row, from, to)) return undefined;
          ts = row.slice(from, to);
          break;
        case Col.Price:
          if (!decimalOk(row, from, to, false)) return undefined;
          price = row.slice(from, to);
          break;
        case Col.Volume:
          if (!decimalOk(row, from, to, true)) return undefined;
          volume = row.slice(from, to);
          break;
        default:
          if (to > from) {
            if (!plainAscii(row, from, to)) return undefined;
            extra = `${extra === "" ? "" : `${extra},`}${keys[i] as string}${row.slice(from, to)}"`;
          }
      }
      from = to + 1;
    }
    const json = writeTickJson(symbol, ts, price, volume, extra === "" ? undefined : extra);
    return json.length > MAX_TICK_BYTES ? undefined : json; // ASCII only: length = UTF-8 bytes
  };
}

/** JSON whitespace. */
function isJsonWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Index of the closing quote of a plain string starting after `from`, or -1 when the string is not plain. */
function plainStringEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return i;
    if (c < 0x20 || c > 0x7e || c === 0x5c) return -1;
  }
  return -1;
}

/** End of a JSON number-ish token (digits, sign, dot, exponent) starting at `from`. */
function tokenEnd(s: string, from: number): number {
  let i = from;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69)) break;
  }
  return i;
}

/**
 * The fast lane for one JSON object record (a JSON Lines line or a JSON array element): a flat object of plain
 * members (see the module doc) becomes its tick JSON; anything else (nesting, escapes, ISO or string timestamps,
 * numbers written another way, duplicate or odd names, invalid JSON) returns undefined.
 */
export function jsonFastLane(text: string): string | undefined {
  const n = text.length;
  let i = 0;
  while (i < n && isJsonWs(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x7b) return undefined; // {
  i++;
  let symbol: string | undefined;
  let ts: string | undefined;
  let price: string | undefined;
  let volume: string | undefined;
  let extra = "";
  let names: string[] | undefined;
  for (;;) {
    while (i < n && isJsonWs(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 0x22) return undefined; // an empty object or a bad member: the generic path decides
    const nameEnd = plainStringEnd(text, i + 1);
    if (nameEnd === -1) return undefined;
    const name = text.slice(i + 1, nameEnd);
    i = nameEnd + 1;
    while (i < n && isJsonWs(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 0x3a) return undefined; // :
    i++;
    while (i < n && isJsonWs(text.charCodeAt(i))) i++;
    const c = text.charCodeAt(i);
    let value: string;
    let isString = false;
    if (c === 0x22) {
      const end = plainStringEnd(text, i + 1);
      if (end === -1) return undefined;
      value = text.slice(i + 1, end);
      isString = true;
      i = end + 1;
    } else {
      const end = c === 116 || c === 102 || c === 110 ? i + (c === 102 ? 5 : 4) : tokenEnd(text, i);
      if (end === i) return undefined;
      value = text.slice(i, end);
      i = end;
    }
    switch (name) {
      case "symbol":
        if (symbol !== undefined || !isString || !symbolOk(value, 0, value.length)) return undefined;
        symbol = value;
        break;
      case "timestamp":
        if (ts !== undefined || isString || !timestampOk(value, 0, value.length)) return undefined;
        ts = value;
        break;
      case "price":
        if (price !== undefined || isString || !decimalOk(value, 0, value.length, false)) return undefined;
        price = value;
        break;
      case "volume":
        if (volume !== undefined || isString || !decimalOk(value, 0, value.length, true)) return undefined;
        volume = value;
        break;
      default: {
        if (!plainName(name)) return undefined;
        if (names === undefined) names = [name];
        else if (names.includes(name)) return undefined;
        else names.push(name);
        let json: string;
        if (isString) json = `"${value}"`;
        else if (value === "true" || value === "false" || value === "null") json = value;
        else if (value.charCodeAt(0) === 45 ? decimalOk(value, 1, value.length, false) : decimalOk(value, 0, value.length, true)) json = value;
        else return undefined;
        extra = `${extra === "" ? "" : `${extra},`}"${name}":${json}`;
      }
    }
    while (i < n && isJsonWs(text.charCodeAt(i))) i++;
    const sep = text.charCodeAt(i);
    i++;
    if (sep === 0x2c) continue; // ,
    if (sep !== 0x7d) return undefined; // }
    break;
  }
  while (i < n && isJsonWs(text.charCodeAt(i))) i++;
  if (i !== n || symbol === undefined || ts === undefined || price === undefined || volume === undefined) return undefined;
  const json = writeTickJson(symbol, ts, price, volume, extra === "" ? undefined : extra);
  return json.length > MAX_TICK_BYTES ? undefined : json;
}
