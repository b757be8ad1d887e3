/**
 * Input formats of the ingestion side (R-DATA-2): CSV with a header row, JSON Lines, a JSON array; gzip detection.
 * Pure and streaming: parsers take byte chunks as they arrive and emit one record (or one rejection) at a time, so
 * an S3 object is never held whole in memory. Memory is bounded by the chunk size plus one line/element of at most
 * `maxLineBytes` (a longer line or array element is rejected with a reason; its bytes are skipped, not buffered).
 *
 * JSON arrays are parsed by a small streaming scanner: it tracks string/escape state and bracket depth, cuts the
 * top-level array into its elements and `JSON.parse`s each element on its own (bounded like a line). A broken
 * element is rejected alone; a missing `[`, data after the closing `]` or an array truncated at end of file is
 * rejected with a reason.
 *
 * CSV: one record per line (RFC 4180 quoting with `""` escapes; a quoted field may not span lines). The header row
 * names the columns; `symbol`, `timestamp`, `price`, `volume` are required (matched case-insensitively, surrounding
 * spaces ignored); other columns become `extra` string fields; an empty extra cell is omitted.
 * Line numbers are 1-based physical lines; blank lines are skipped (they hold no record). A UTF-8 BOM is ignored.
 */
import { isUtf8 } from "node:buffer";
import { type CsvFastLane, csvFastLane, jsonFastLane } from "./fastlane.ts";
import { REQUIRED_FIELDS, setField } from "./tick.ts";

/** The three record formats. */
export type Format = "csv" | "jsonl" | "json-array";

/** Default bound on one line (CSV, JSON Lines) or one JSON array element, in bytes. */
export const MAX_LINE_BYTES = 65_536;
/** Rejected records carry at most this many characters of the raw input. */
export const MAX_RAW_CHARS = 1_000;
/** Bytes of input read for a rejection's raw: enough for MAX_RAW_CHARS characters (UTF-8 takes at most 4 bytes each). */
const MAX_RAW_BYTES = MAX_RAW_CHARS * 4;

/** One parsed record (not yet validated as a tick). */
export interface ParsedRecord {
  kind: "record";
  /** 1-based line where the record starts */
  line: number;
  /** 0-based record number in the input (array element, data row, non-blank line) */
  index: number;
  /** the parsed value: an object of strings for CSV, any JSON value otherwise */
  value: unknown;
  /** the raw text of the record (for rejection reports) */
  raw: string;
}

/** A record (or a run of input) that could not be parsed. */
export interface ParseError {
  kind: "error";
  /** 1-based line where the problem starts */
  line: number;
  /** 0-based record number when the error concerns one record */
  index?: number;
  reason: string;
  /** raw input, truncated to MAX_RAW_CHARS */
  raw: string;
  /** how many input records this rejection stands for (1 unless a whole file or header is unreadable) */
  count: number;
}

export type ParseEvent = ParsedRecord | ParseError;
export type Emit = (e: ParseEvent) => void;

/**
 * A streaming parser: push byte chunks, then end() (the input is complete) or abandon() (the rest of the input cannot
 * be read, e.g. corrupt gzip). Events go to the emit callback given at creation.
 */
export interface StreamParser {
  push(chunk: Uint8Array): void;
  end(): void;
  /**
   * The input stops here and is not complete: emits the rejections already decided that wait for more input (so none
   * is lost), and drops the partial line or element, which the caller rejects with its own reason.
   */
  abandon(): void;
  /** the format in use (undefined while an auto-detecting parser has seen only whitespace) */
  readonly format: Format | undefined;
}

export interface ParserOptions {
  maxLineBytes?: number;
  /** line number of the first byte pushed (default 1) */
  firstLine?: number;
  /**
   * Receives the normalised tick JSON (exactly `tickJson(validateTick(record).tick)`, ASCII) of each record a fast lane
   * (core/fastlane.ts) could decide; such records produce no record event. Without it every record is an event.
   */
  onTickJson?: (json: string) => void;
  /** JSON array only: the array is the `ticks` member of a `{"ticks": [...]}` document (AutoParser sets it). */
  wrapped?: boolean;
}

/** Truncates raw text for rejection reports. */
export function truncateRaw(s: string): string {
  return s.length > MAX_RAW_CHARS ? s.slice(0, MAX_RAW_CHARS) : s;
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzipMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the key ends with `.gz` (any case). */
export function hasGzSuffix(key: string): boolean {
  return /\.gz$/i.test(key);
}

/**
 * Format named by a key's suffix (a trailing `.gz` is ignored): `.csv` -> csv; `.jsonl`, `.ndjson`,
 * `.jsonlines` -> jsonl; `.json` -> "json" (array or lines, decided by content); anything else -> undefined
 * (decided by content).
 */
export function formatFromKey(key: string): Format | "json" | undefined {
  const k = key.replace(/\.gz$/i, "").toLowerCase();
  if (k.endsWith(".csv")) return "csv";
  if (k.endsWith(".jsonl") || k.endsWith(".ndjson") || k.endsWith(".jsonlines")) return "jsonl";
  if (k.endsWith(".json")) return "json";
  return undefined;
}

function toBuffer(c: Uint8Array): Buffer {
  return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const NO_BYTES = Buffer.alloc(0);

/**
 * Skips a UTF-8 byte order mark at the start of a stream of chunks, wherever the chunks were cut: the first bytes are
 * held (at most 2) while they could still be the start of one.
 */
export class BomSkipper {
  /** bytes held while undecided; undefined once decided */
  private held: Buffer | undefined = NO_BYTES;

  /** The bytes of `buf` to parse, without the BOM; empty while undecided. */
  push(buf: Buffer): Buffer {
    if (this.held === undefined) return buf;
    const all = this.held.length === 0 ? buf : Buffer.concat([this.held, buf]);
    const n = Math.min(all.length, UTF8_BOM.length);
    if (!all.subarray(0, n).equals(UTF8_BOM.subarray(0, n))) {
      this.held = undefined;
      return all;
    }
    if (n < UTF8_BOM.length) {
      this.held = Buffer.from(all); // a copy: the caller may reuse its chunk
      return NO_BYTES;
    }
    this.held = undefined;
    return all.subarray(UTF8_BOM.length);
  }

  /** The input ended: bytes held as a possible BOM that never completed are content. */
  end(): Buffer {
    const rest = this.held ?? NO_BYTES;
    this.held = undefined;
    return rest;
  }
}

/** The first MAX_RAW_CHARS characters of `buf` (a rejection's raw when its line or element is too long to keep). */
function rawHead(buf: Buffer): string {
  return buf.toString("utf8", 0, Math.min(buf.length, MAX_RAW_BYTES)).slice(0, MAX_RAW_CHARS);
}

function decodeUtf8(buf: Buffer, start: number, end: number): string | undefined {
  const s = buf.toString("utf8", start, end);
  if (s.includes("\uFFFD") && !isUtf8(buf.subarray(start, end))) return undefined;
  return s;
}

/**
 * Hands a record's text to a fast lane (core/fastlane.ts) and, when the lane decides it, its tick JSON to `sink`.
 * Returns true when the record is done; false when the generic path must read it (no sink, no lane, or declined).
 */
function takeFast(sink: ((json: string) => void) | undefined, lane: CsvFastLane | undefined, text: string): boolean {
  if (sink === undefined || lane === undefined) return false;
  const json = lane(text);
  if (json === undefined) return false;
  sink(json);
  return true;
}

/** What LineSplitter hands out: a line of text, or a line that was too long or not UTF-8. */
export type Line =
  | { ok: true; lineNo: number; text: string }
  | { ok: false; lineNo: number; reason: string; raw: string };

/**
 * Splits a byte stream into lines (LF or CRLF), bounded: a line longer than maxLineBytes is reported as too long
 * and its bytes are dropped as they arrive (only the first MAX_RAW_CHARS are kept for the report).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partsLen = 0;
  private skipping = false;
  private skippedLen = 0;
  /** the last byte of the skipped line so far was CR (not counted: a CRLF line's size excludes it, as for short lines) */
  private skippedCR = false;
  private head = "";
  private lineNo: number;
  private first = true;

  constructor(
    private readonly onLine: (l: Line) => void,
    private readonly maxLineBytes: number = MAX_LINE_BYTES,
    firstLine = 1,
  ) {
    this.lineNo = firstLine - 1;
  }

  push(chunk: Uint8Array): void {
    const buf = toBuffer(chunk);
    let start = 0;
    if (this.partsLen > 0 || this.skipping) {
      // finish the line carried over from the previous chunk
      const nl = buf.indexOf(10);
      if (nl === -1) {
        this.carry(buf, 0, buf.length);
        return;
      }
      this.pushLines(buf, 0, nl + 1);
      start = nl + 1;
    }
    // The complete lines of the chunk are decoded in one go when they are valid UTF-8 (the usual case); otherwise
    // line by line, so that each bad line is reported on its own.
    const lastNl = buf.lastIndexOf(10);
    if (lastNl >= start) {
      if (isUtf8(buf.subarray(start, lastNl))) this.emitDecoded(buf.toString("utf8", start, lastNl));
      else this.pushLines(buf, start, lastNl + 1);
      start = lastNl + 1;
    }
    if (start < buf.length) this.carry(buf, start, buf.length);
  }

  private tooLongReason(bytes: number): string {
    return `line is longer than ${this.maxLineBytes} bytes (${bytes} bytes); lines are limited to ${this.maxLineBytes} bytes`;
  }

  /** Emits the lines of valid UTF-8 text (newline-separated, no trailing newline). */
  private emitDecoded(text: string): void {
    const max = this.maxLineBytes;
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      const to = nl === -1 ? text.length : nl;
      let line = text.slice(from, to > from && text.charCodeAt(to - 1) === 13 ? to - 1 : to);
      this.lineNo++;
      const first = this.first;
      this.first = false;
      // chars <= bytes <= 3 * chars (UTF-16 units): measure bytes only when the cheap bound cannot decide
      const bytes = line.length * 3 <= max ? 0 : Buffer.byteLength(line);
      if (bytes > max) {
        this.onLine({
          ok: false,
          lineNo: this.lineNo,
          reason: this.tooLongReason(bytes),
          raw: truncateRaw(line),
        });
      } else {
        if (first && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
        this.onLine({ ok: true, lineNo: this.lineNo, text: line });
      }
      if (nl === -1) return;
      from = nl + 1;
    }
  }

  /** The line-by-line path over bytes [start, end) that end with a newline. */
  private pushLines(buf: Buffer, start: number, end: number): void {
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1 || nl >= end) return;
      if (this.skipping) {
        this.skippedLen += nl - start;
        if (nl > start) this.skippedCR = buf[nl - 1] === 13;
        this.emitTooLong();
      } else if (this.partsLen === 0) {
        this.emitText(buf, start, nl);
      } else {
        this.carry(buf, start, nl);
        if (this.skipping) this.emitTooLong();
        else {
          const joined = Buffer.concat(this.parts, this.partsLen);
          this.parts = [];
          this.partsLen = 0;
          this.emitText(joined, 0, joined.length);
        }
      }
      start = nl + 1;
    }
  }

  end(): void {
    if (this.skipping) this.emitTooLong();
    else if (this.partsLen > 0) {
      const joined = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
      this.emitText(joined, 0, joined.length);
    }
  }

  private carry(buf: Buffer, start: number, end: number): void {
    if (this.skipping) {
      this.skippedLen += end - start;
      if (end > start) this.skippedCR = buf[end - 1] === 13;
      return;
    }
    if (end <= start) return;
    const held = this.partsLen + (end - start);
    // one byte over is allowed when it is a CR: a CRLF line of exactly maxLineBytes is not too long
    if (held > this.maxLineBytes && !(held === this.maxLineBytes + 1 && buf[end - 1] === 13)) {
      const all = Buffer.concat([...this.parts, buf.subarray(start, end)]);
      this.head = rawHead(all);
      this.skipping = true;
      this.skippedLen = all.length;
      this.skippedCR = all[all.length - 1] === 13;
      this.parts = [];
      this.partsLen = 0;
      return;
    }
    // copy: the caller may reuse its chunk buffer
    this.parts.push(Buffer.from(buf.subarray(start, end)));
    this.partsLen += end - start;
  }

  private emitTooLong(): void {
    this.lineNo++;
    this.first = false;
    const len = this.skippedLen - (this.skippedCR ? 1 : 0);
    this.skippedCR = false;
    this.skipping = false;
    this.skippedLen = 0;
    const raw = this.head;
    this.head = "";
    this.onLine({
      ok: false,
      lineNo: this.lineNo,
      reason: this.tooLongReason(len),
      raw,
    });
  }

  private emitText(buf: Buffer, start: number, end: number): void {
    this.lineNo++;
    const first = this.first;
    this.first = false;
    if (end > start && buf[end - 1] === 13) end--;
    if (end - start > this.maxLineBytes) {
      this.onLine({
        ok: false,
        lineNo: this.lineNo,
        reason: this.tooLongReason(end - start),
        raw: truncateRaw(buf.toString("utf8", start, Math.min(end, start + MAX_RAW_BYTES))),
      });
      return;
    }
    let text = decodeUtf8(buf, start, end);
    if (text === undefined) {
      this.onLine({
        ok: false,
        lineNo: this.lineNo,
        reason: "line is not valid UTF-8 text",
        raw: truncateRaw(buf.toString("utf8", start, end)),
      });
      return;
    }
    if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    this.onLine({ ok: true, lineNo: this.lineNo, text });
  }
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** JSON Lines: one JSON value per non-blank line. */
export class JsonLinesParser implements StreamParser {
  readonly format = "jsonl" as const;
  private readonly splitter: LineSplitter;
  private index = 0;
  private readonly onTickJson: ((json: string) => void) | undefined;

  constructor(
    private readonly emit: Emit,
    opts: ParserOptions = {},
  ) {
    this.splitter = new LineSplitter((l) => this.onLine(l), opts.maxLineBytes ?? MAX_LINE_BYTES, opts.firstLine ?? 1);
    this.onTickJson = opts.onTickJson;
  }

  push(chunk: Uint8Array): void {
    this.splitter.push(chunk);
  }

  end(): void {
    this.splitter.end();
  }

  abandon(): void {
    // nothing decided waits for more input: only the partial last line, which is dropped
  }

  private onLine(l: Line): void {
    if (!l.ok) {
      this.emit({ kind: "error", line: l.lineNo, index: this.index++, reason: l.reason, raw: l.raw, count: 1 });
      return;
    }
    if (isBlank(l.text)) return;
    const index = this.index++;
    if (takeFast(this.onTickJson, jsonFastLane, l.text)) return;
    let value: unknown;
    try {
      value = JSON.parse(l.text);
    } catch (e) {
      this.emit({
        kind: "error",
        line: l.lineNo,
        index,
        reason: `invalid JSON: ${(e as Error).message}`,
        raw: truncateRaw(l.text),
        count: 1,
      });
      return;
    }
    this.emit({ kind: "record", line: l.lineNo, index, value, raw: l.text });
  }
}

/**
 * Splits one CSV line into cells (RFC 4180 quoting, no multi-line fields). Returns a reason string when the
 * quoting is malformed.
 */
export function splitCsvLine(line: string): string[] | string {
  if (!line.includes('"')) return line.split(",");
  const cells: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let cell = "";
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q === -1) return "unterminated quoted field (a quoted CSV field cannot span lines)";
        cell += line.slice(i, q);
        if (line.charCodeAt(q + 1) === 34) {
          cell += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      cells.push(cell);
      if (i === n) return cells;
      if (line.charCodeAt(i) !== 44) return `unexpected character after a closing quote at column ${i + 1}`;
      i++;
    } else {
      const c = line.indexOf(",", i);
      const cell = c === -1 ? line.slice(i) : line.slice(i, c);
      if (cell.includes('"')) return `a quote inside an unquoted field at column ${i + 1}`;
      cells.push(cell);
      if (c === -1) return cells;
      i = c + 1;
    }
    if (i === n) {
      cells.push("");
      return cells;
    }
  }
}

/** The required tick fields (core/tick.ts), matched case-insensitively in a CSV header. */
const REQUIRED: readonly string[] = REQUIRED_FIELDS;

/** CSV with a header row. Records are objects of strings keyed by the header names. */
export class CsvParser implements StreamParser {
  readonly format = "csv" as const;
  private readonly splitter: LineSplitter;
  private header: string[] | undefined;
  private headerError: { line: number; reason: string; raw: string } | undefined;
  private requiredMask: boolean[] = [];
  private skipped = 0;
  private index = 0;
  private readonly onTickJson: ((json: string) => void) | undefined;
  private fast: CsvFastLane | undefined;

  constructor(
    private readonly emit: Emit,
    opts: ParserOptions = {},
  ) {
    this.splitter = new LineSplitter((l) => this.onLine(l), opts.maxLineBytes ?? MAX_LINE_BYTES, opts.firstLine ?? 1);
    this.onTickJson = opts.onTickJson;
  }

  push(chunk: Uint8Array): void {
    this.splitter.push(chunk);
  }

  end(): void {
    this.splitter.end();
    this.emitHeaderError();
  }

  abandon(): void {
    this.emitHeaderError(); // the data lines counted so far; the partial last one is dropped
  }

  /** A bad header rejects the file's data lines: one rejection, emitted once the count is known. */
  private emitHeaderError(): void {
    const h = this.headerError;
    if (h === undefined) return;
    this.headerError = undefined;
    this.emit({
      kind: "error",
      line: h.line,
      reason: `${h.reason}; the ${this.skipped} data line(s) after it were not read`,
      raw: h.raw,
      count: Math.max(1, this.skipped),
    });
  }

  private onLine(l: Line): void {
    if (this.headerError) {
      if (!l.ok || !isBlank(l.text)) this.skipped++;
      return;
    }
    if (this.header === undefined) {
      if (!l.ok) {
        this.headerError = { line: l.lineNo, reason: `invalid CSV header: ${l.reason}`, raw: l.raw };
        return;
      }
      if (isBlank(l.text)) return;
      this.parseHeader(l.lineNo, l.text);
      return;
    }
    if (!l.ok) {
      this.emit({ kind: "error", line: l.lineNo, index: this.index++, reason: l.reason, raw: l.raw, count: 1 });
      return;
    }
    if (isBlank(l.text)) return;
    const index = this.index++;
    if (takeFast(this.onTickJson, this.fast, l.text)) return;
    const cells = splitCsvLine(l.text);
    if (typeof cells === "string") {
      this.emit({ kind: "error", line: l.lineNo, index, reason: cells, raw: truncateRaw(l.text), count: 1 });
      return;
    }
    const header = this.header;
    if (cells.length !== header.length) {
      this.emit({
        kind: "error",
        line: l.lineNo,
        index,
        reason: `expected ${header.length} fields (as in the header), got ${cells.length}`,
        raw: truncateRaw(l.text),
        count: 1,
      });
      return;
    }
    const rec: Record<string, string> = {};
    for (let i = 0; i < header.length; i++) {
      const v = cells[i] as string;
      if (v === "" && !this.requiredMask[i]) continue; // empty extra cell: no value
      setField(rec, header[i] as string, v); // a column named __proto__ is a field like any other (issue 14)
    }
    this.emit({ kind: "record", line: l.lineNo, index, value: rec, raw: l.text });
  }

  /** Validates the header; required names are stored lower case, other names as written (trimmed). */
  private parseHeader(lineNo: number, text: string): void {
    const cells = splitCsvLine(text);
    const fail = (reason: string): void => {
      this.headerError = { line: lineNo, reason: `invalid CSV header: ${reason}`, raw: truncateRaw(text) };
    };
    if (typeof cells === "string") return fail(cells);
    const names = cells.map((c) => c.trim());
    const lower = names.map((c) => c.toLowerCase());
    const seen = new Set<string>();
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      if (name === "") return fail(`column ${i + 1} has no name`);
      const key = REQUIRED.includes(lower[i] as string) ? (lower[i] as string) : name;
      if (seen.has(key)) return fail(`column "${name}" appears twice`);
      seen.add(key);
    }
    const missing = REQUIRED.filter((r) => !seen.has(r));
    if (missing.length > 0) {
      return fail(
        `missing column(s) ${missing.join(", ")}; the header must name symbol, timestamp, price, volume (other columns are kept as extra fields)`,
      );
    }
    const header = names.map((n, i) => (REQUIRED.includes(lower[i] as string) ? (lower[i] as string) : n));
    this.header = header;
    this.requiredMask = header.map((_, i) => REQUIRED.includes(lower[i] as string));
    if (this.onTickJson !== undefined) this.fast = csvFastLane(header);
  }
}

const enum Phase {
  Start,
  Between,
  Element,
  Done,
  Dead,
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/**
 * A JSON array of records, scanned as a stream: each top-level element is cut out (string/escape aware, bracket
 * depth counted) and parsed on its own, bounded by maxLineBytes.
 */
export class JsonArrayParser implements StreamParser {
  readonly format = "json-array" as const;
  private phase = Phase.Start;
  private depth = 0;
  private inString = false;
  private escape = false;
  private line = 1;
  private expectElement = false;
  private sawComma = false;
  private index = 0;
  private elemLine = 0;
  private parts: Buffer[] = [];
  private partsLen = 0;
  private tooLong = false;
  private tooLongLen = 0;
  private head = "";
  private readonly maxBytes: number;
  private readonly bom = new BomSkipper();
  private readonly onTickJson: ((json: string) => void) | undefined;
  /** the array sits in `{"ticks": [...]}`: one `}` must follow it */
  private readonly wrapped: boolean;
  private closed = false;
  /** the scan stopped (die): the rejection waits here until its raw bytes are collected */
  private dying: { line: number; reason: string; parts: Buffer[]; len: number } | undefined;

  constructor(
    private readonly emit: Emit,
    opts: ParserOptions = {},
  ) {
    this.maxBytes = opts.maxLineBytes ?? MAX_LINE_BYTES;
    this.line = opts.firstLine ?? 1;
    this.onTickJson = opts.onTickJson;
    this.wrapped = opts.wrapped ?? false;
  }

  push(chunk: Uint8Array): void {
    this.scan(this.bom.push(toBuffer(chunk)));
  }

  private scan(buf: Buffer): void {
    if (this.phase === Phase.Dead) {
      this.collectDeathRaw(buf);
      return;
    }
    const n = buf.length;
    let elemStart = this.phase === Phase.Element ? 0 : -1;
    for (let i = 0; i < n; i++) {
      const c = buf[i] as number;
      if (c === 10) this.line++;
      switch (this.phase) {
        case Phase.Element:
          if (this.inString) {
            if (this.escape) this.escape = false;
            else if (c === 92) this.escape = true;
            else if (c === 34) this.inString = false;
          } else if (c === 34) this.inString = true;
          else if (c === 123 || c === 91) this.depth++;
          else if (c === 125 || c === 93) {
            if (this.depth > 0) this.depth--;
            else if (c === 93) {
              this.finishElement(buf, elemStart, i);
              this.phase = Phase.Done;
            }
          } else if (c === 44 && this.depth === 0) {
            this.finishElement(buf, elemStart, i);
            this.phase = Phase.Between;
            this.expectElement = true;
            this.sawComma = true;
          }
          break;
        case Phase.Between:
          if (isWs(c)) break;
          if (c === 93) {
            if (this.expectElement && this.sawComma) this.emptyElement("a trailing comma before ]");
            this.phase = Phase.Done;
          } else if (c === 44) {
            if (this.expectElement) this.emptyElement("an empty element (two commas or a comma after [)");
            this.expectElement = true;
            this.sawComma = true;
          } else {
            this.phase = Phase.Element;
            this.expectElement = false;
            this.depth = 0;
            this.inString = false;
            this.escape = false;
            this.elemLine = this.line;
            elemStart = i;
            i--; // re-scan this byte as part of the element
            if (c === 10) this.line--;
          }
          break;
        case Phase.Start:
          if (isWs(c)) break;
          if (c === 91) {
            this.phase = Phase.Between;
            this.expectElement = true;
            break;
          }
          this.die("a JSON array file must start with [", buf, i);
          return;
        case Phase.Done:
          if (isWs(c)) break;
          if (this.wrapped && !this.closed && c === 125) {
            this.closed = true;
            break;
          }
          this.die(
            this.wrapped
              ? 'unexpected data after the ticks array: a {"ticks": [...]} file holds no other field'
              : "unexpected data after the closing ] of the JSON array",
            buf,
            i,
          );
          return; // die() stopped the scan: later chunks only feed its raw (the check at the top of push)
      }
    }
    if (this.phase === Phase.Element) this.carry(buf, elemStart, n);
  }

  end(): void {
    const rest = this.bom.end();
    if (rest.length > 0) this.scan(rest);
    this.emitDeath();
    if (this.phase === Phase.Element) {
      this.emitElementError(
        "the file ends inside this array element (truncated file?)",
        this.tooLong ? this.head : Buffer.concat(this.parts, this.partsLen).toString("utf8"),
      );
    } else if (this.phase === Phase.Between) {
      this.emit({
        kind: "error",
        line: this.line,
        reason: "the file ends before the closing ] of the JSON array (truncated file?)",
        raw: "",
        count: 1,
      });
    } else if (this.phase === Phase.Done && this.wrapped && !this.closed) {
      this.emit({
        kind: "error",
        line: this.line,
        reason: 'the file ends before the closing } of the {"ticks": [...]} document (truncated file?)',
        raw: "",
        count: 1,
      });
    }
    this.phase = Phase.Dead;
  }

  abandon(): void {
    this.emitDeath(); // a partial element is dropped
    this.phase = Phase.Dead;
  }

  /**
   * Stops the scan: the rejection's `raw` is the first MAX_RAW_BYTES bytes from byte `i` on, collected across
   * later chunks, so it does not depend on where the chunks were cut. It is emitted once they are collected or at
   * end().
   */
  private die(reason: string, buf: Buffer, i: number): void {
    this.phase = Phase.Dead;
    this.dying = { line: this.line, reason: `${reason}; the rest of the file was not read`, parts: [], len: 0 };
    this.collectDeathRaw(buf.subarray(i));
  }

  private collectDeathRaw(bytes: Buffer): void {
    const d = this.dying;
    if (d === undefined) return;
    const take = Math.min(bytes.length, MAX_RAW_BYTES - d.len);
    if (take > 0) {
      d.parts.push(Buffer.from(bytes.subarray(0, take)));
      d.len += take;
    }
    if (d.len >= MAX_RAW_BYTES) this.emitDeath();
  }

  private emitDeath(): void {
    const d = this.dying;
    if (d === undefined) return;
    this.dying = undefined;
    const raw = truncateRaw(Buffer.concat(d.parts, d.len).toString("utf8"));
    this.emit({ kind: "error", line: d.line, reason: d.reason, raw, count: 1 });
  }

  private emptyElement(what: string): void {
    this.emit({
      kind: "error",
      line: this.line,
      index: this.index++,
      reason: `invalid JSON array: ${what}`,
      raw: "",
      count: 1,
    });
  }

  private carry(buf: Buffer, start: number, end: number): void {
    if (start >= end) return;
    if (this.tooLong) {
      this.tooLongLen += end - start;
      return;
    }
    if (this.partsLen + (end - start) > this.maxBytes) {
      const all = Buffer.concat([...this.parts, buf.subarray(start, end)]);
      this.head = rawHead(all);
      this.tooLong = true;
      this.tooLongLen = all.length;
      this.parts = [];
      this.partsLen = 0;
      return;
    }
    this.parts.push(Buffer.from(buf.subarray(start, end)));
    this.partsLen += end - start;
  }

  private emitElementError(reason: string, raw: string): void {
    this.emit({ kind: "error", line: this.elemLine, index: this.index++, reason, raw: truncateRaw(raw), count: 1 });
    this.parts = [];
    this.partsLen = 0;
    this.tooLong = false;
    this.tooLongLen = 0;
    this.head = "";
  }

  private finishElement(buf: Buffer, start: number, end: number): void {
    this.carry(buf, start, end);
    if (this.tooLong) {
      const len = this.tooLongLen;
      this.emitElementError(
        `array element is longer than ${this.maxBytes} bytes (${len} bytes); elements are limited to ${this.maxBytes} bytes`,
        this.head,
      );
      return;
    }
    const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    const text = decodeUtf8(bytes, 0, bytes.length);
    if (text === undefined) {
      this.emitElementError("array element is not valid UTF-8 text", bytes.toString("utf8"));
      return;
    }
    const index = this.index++;
    if (takeFast(this.onTickJson, jsonFastLane, text)) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      this.emit({
        kind: "error",
        line: this.elemLine,
        index,
        reason: `invalid JSON: ${(e as Error).message}`,
        raw: truncateRaw(text.trim()),
        count: 1,
      });
      return;
    }
    this.emit({ kind: "record", line: this.elemLine, index, value, raw: text.trim() });
  }
}

/** Creates the parser of one format. */
export function createFormatParser(format: Format, emit: Emit, opts: ParserOptions = {}): StreamParser {
  switch (format) {
    case "csv":
      return new CsvParser(emit, opts);
    case "jsonl":
      return new JsonLinesParser(emit, opts);
    case "json-array":
      return new JsonArrayParser(emit, opts);
  }
}

/**
 * A parser that picks the format from a hint (usually the key suffix, see formatFromKey) and the content:
 * - hint csv / jsonl: that format;
 * - hint "json" or none: the first non-whitespace byte decides: `[` -> JSON array, `{` -> JSON Lines, or, when the
 *   document starts `{"ticks": [` (the API's wrapped form), the JSON array inside it (a `}` must close it, nothing
 *   else may follow); anything else -> CSV for no hint (its header check rejects what is not CSV) or JSON Lines for
 *   "json".
 * Leading whitespace is handed on to the chosen parser, so line numbers stay right.
 */
export class AutoParser implements StreamParser {
  private inner: StreamParser | undefined;
  /** newlines seen in the whitespace-only prefix (its blank lines are not kept: memory stays bounded) */
  private newlines = 0;
  /**
   * the whitespace of the current line of that prefix, handed on with the line: exactly up to one byte more than a
   * line may hold (then the line is too long whatever follows), beyond that only counted (`lineWsExtra`)
   */
  private lineWs: Buffer[] = [];
  private lineWsLen = 0;
  private lineWsExtra = 0;
  private readonly bom = new BomSkipper();
  /** bytes from the line of the first `{` while deciding between JSON Lines and `{"ticks": [...]}` (bounded) */
  private pending: Buffer | undefined;

  constructor(
    private readonly hint: Format | "json" | undefined,
    private readonly emit: Emit,
    private readonly opts: ParserOptions = {},
  ) {
    if (hint === "csv" || hint === "jsonl" || hint === "json-array") this.inner = createFormatParser(hint, emit, opts);
  }

  get format(): Format | undefined {
    return this.inner?.format;
  }

  push(chunk: Uint8Array): void {
    if (this.inner) {
      this.inner.push(chunk);
      return;
    }
    if (this.pending !== undefined) {
      const joined = Buffer.concat([this.pending, toBuffer(chunk)]);
      this.pending = undefined;
      this.decideBrace(joined, false);
      return;
    }
    this.scan(this.bom.push(toBuffer(chunk)));
  }

  /** The whitespace-only prefix, chunk by chunk: the first other byte decides the format. */
  private scan(buf: Buffer): void {
    let i = 0;
    let lineStart = 0;
    for (; i < buf.length; i++) {
      const c = buf[i] as number;
      if (c === 10) {
        this.newlines++;
        lineStart = i + 1;
        this.resetLineWs(); // a blank line: not kept
      } else if (!isWs(c)) break;
    }
    if (i === buf.length) {
      this.keepLineWs(buf.subarray(lineStart));
      return;
    }
    const c = buf[i];
    const rest = buf.subarray(lineStart);
    if (c === 123 && this.lineWsExtra === 0) {
      // the line with its whitespace from earlier chunks (at most a line's bound)
      const line = this.lineWsLen === 0 ? rest : Buffer.concat([...this.lineWs, rest]);
      this.resetLineWs();
      this.decideBrace(line, false);
      return;
    }
    // a `{` after more whitespace than a line may hold: too far for `{"ticks": [` (WRAPPER_LOOKAHEAD), JSON Lines
    const format: Format = c === 123 ? "jsonl" : c === 91 ? "json-array" : this.hint === "json" ? "jsonl" : "csv";
    this.inner = createFormatParser(format, this.emit, { ...this.opts, firstLine: 1 + this.newlines });
    this.handOnLineWs(this.inner);
    this.inner.push(rest);
  }

  private keepLineWs(ws: Buffer): void {
    const room = (this.opts.maxLineBytes ?? MAX_LINE_BYTES) + 1 - this.lineWsLen;
    const keep = Math.min(room, ws.length);
    if (keep > 0) {
      this.lineWs.push(Buffer.from(ws.subarray(0, keep)));
      this.lineWsLen += keep;
    }
    this.lineWsExtra += ws.length - keep;
  }

  /** The current line's whitespace from earlier chunks; what was only counted goes on as spaces, in bounded pieces. */
  private handOnLineWs(inner: StreamParser): void {
    for (const b of this.lineWs) inner.push(b);
    for (let left = this.lineWsExtra; left > 0; left -= WS_PIECE.length) inner.push(WS_PIECE.subarray(0, Math.min(left, WS_PIECE.length)));
    this.resetLineWs();
  }

  private resetLineWs(): void {
    this.lineWs = [];
    this.lineWsLen = 0;
    this.lineWsExtra = 0;
  }

  /**
   * `buf` starts at the line of the first non-blank byte, a `{`: a document starting `{"ticks": [` (whitespace
   * allowed) is the API's wrapped array, read as a JSON array of ticks; anything else is JSON Lines. Undecided until
   * WRAPPER_LOOKAHEAD bytes (or the end) are there.
   */
  private decideBrace(buf: Buffer, final: boolean): void {
    const m = WRAPPER_RE.exec(buf.toString("latin1", 0, Math.min(buf.length, WRAPPER_LOOKAHEAD)));
    if (m === null && !final && buf.length < WRAPPER_LOOKAHEAD) {
      this.pending = Buffer.from(buf); // a copy: the caller may reuse its chunk
      return;
    }
    if (m === null) {
      this.inner = createFormatParser("jsonl", this.emit, { ...this.opts, firstLine: 1 + this.newlines });
      this.inner.push(buf);
      return;
    }
    const open = m[0].length - 1; // the [
    let newlines = 0;
    for (let k = 0; k < open; k++) if (buf[k] === 10) newlines++;
    this.inner = new JsonArrayParser(this.emit, { ...this.opts, firstLine: 1 + this.newlines + newlines, wrapped: true });
    this.inner.push(buf.subarray(open));
  }

  end(): void {
    const rest = this.bom.end(); // a possible BOM that never completed is content
    if (rest.length > 0) this.push(rest);
    this.decidePending();
    if (this.inner) this.inner.end();
  }

  abandon(): void {
    // the undecided lines may hold complete records: decided and handed on; the inner parser drops the partial one
    this.decidePending();
    this.inner?.abandon();
  }

  private decidePending(): void {
    if (this.pending === undefined) return;
    const p = this.pending;
    this.pending = undefined;
    this.decideBrace(p, true);
  }
}

/** Spaces handed on for whitespace that was only counted (`AutoParser.lineWsExtra`). */
const WS_PIECE = Buffer.alloc(64 * 1024, 0x20);

/** How far AutoParser looks for `{"ticks": [` before settling on JSON Lines. */
const WRAPPER_LOOKAHEAD = 256;
const WRAPPER_RE = /^[ \t\r\n]*\{[ \t\r\n]*"ticks"[ \t\r\n]*:[ \t\r\n]*\[/;

/** Parses a whole in-memory text or buffer (API bodies, tests). Returns the events in order. */
export function parseAll(format: Format | "json" | undefined, data: string | Uint8Array, opts: ParserOptions = {}): ParseEvent[] {
  const out: ParseEvent[] = [];
  const p = new AutoParser(format, (e) => out.push(e), opts);
  p.push(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  p.end();
  return out;
}
