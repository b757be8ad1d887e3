/**
 * The CSV fast lane of ingestion (issue 6: CPU throughput). Pure: no I/O, no AWS SDK.
 *
 * Most CSV rows of a market-data file are plainly valid: an upper-case symbol, epoch-ms digits, decimal prices and
 * volumes already written the way JavaScript prints them, short plain extra cells. For such a row the generic path
 * (cells -> record object -> `validateTick` -> tick object -> `tickJson`) spends most of its time converting text to
 * numbers and back. The fast lane checks the row's text directly and, when every cell is in that plain form, builds
 * the normalised tick's JSON from the cells themselves.
 *
 * Contract: for every row, `lane(row)` is either `undefined` ("not decided here": the caller takes the generic path,
 * which accepts or rejects it with a reason) or EXACTLY `tickJson(validateTick(record).tick)` of the record the generic
 * CSV path builds from that row, and only for rows the generic path accepts. The property tests in
 * `test/csvfast.test.ts` check this against the generic path on generated rows.
 *
 * A cell is "plain" when:
 * - symbol: 1-12 characters of `A-Z 0-9 . - ^` (as R-DATA-1);
 * - timestamp: epoch ms digits without a leading zero (or `0`), at most MAX_TS;
 * - price (> 0) / volume (>= 0): `0` or `[1-9][0-9]*` optionally followed by `.` and digits ending in 1-9, at most 15
 *   significant digits, value >= 1e-6 (or exactly 0 for volume). Such a decimal converts to a double and back to the
 *   same text (15 significant digits always round-trip, and JavaScript prints numbers from 1e-6 to 1e21 without an
 *   exponent), so the cell is already its own JSON number. It also lies in DynamoDB's number range.
 * - extra cells: empty (omitted, as the generic path does) or printable ASCII without `"` and `\` (JSON needs no escape).
 * Extra column names must be printable ASCII without `"` and `\`, not all digits (JavaScript orders integer-like keys
 * first) and not `__proto__`; otherwise the lane is not used for the file at all.
 */
import { MAX_TICK_BYTES, MAX_TS } from "./tick.ts";

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
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // A-Z 0-9 . - ^
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 94)) return false;
  }
  return true;
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
    if (kind === Col.Extra && (!plainAscii(name, 0, name.length) || /^\d+$/.test(name) || name === "__proto__" || name === "")) {
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
    const head = `{"symbol":"${symbol}","ts":${ts},"price":${price},"volume":${volume}`;
    const json = extra === "" ? `${head}}` : `${head},"extra":{${extra}}}`;
    return json.length > MAX_TICK_BYTES ? undefined : json; // ASCII only: length = UTF-8 bytes
  };
}
