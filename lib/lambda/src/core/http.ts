/**
 * API Gateway (REST v1 proxy) request decoding and response helpers for `POST /ingest` (R-DATA-3).
 * Pure: no AWS SDK. Node's zlib is used for gzip request bodies.
 *
 * Accepted bodies (decided here, documented in docs/design.md):
 * - `application/json` (also `text/json`, `application/*+json`): a JSON array of ticks or `{"ticks": [...]}`;
 *   a body that is not one JSON document but several JSON objects on separate lines is read as NDJSON.
 * - `application/x-ndjson` (also `application/ndjson`, `application/jsonl`, `application/x-jsonlines`,
 *   `application/jsonlines`, `application/json-lines`, `application/json-seq` is NOT accepted): one tick per line.
 * - `text/csv` (also `application/csv`): CSV with a header row, as for S3 files.
 * - no content type, `text/plain`, `application/octet-stream` or `application/gzip`: decided by content (`[` JSON array; `{` one JSON
 *   document or NDJSON; otherwise CSV).
 * - anything else: 400 naming the accepted types.
 * `Content-Encoding: gzip` (or a body starting with the gzip magic bytes) is decompressed; other encodings -> 400.
 * Size: 413 when the body exceeds maxBytes - checked on the raw size before decoding (base64 size estimated
 * from its length) and on the decoded and decompressed size.
 */
import { gunzipSync } from "node:zlib";
import { isUtf8 } from "node:buffer";
import { type Format, isGzipMagic, parseAll, type ParseEvent } from "./formats.ts";

/** The subset of an API Gateway REST v1 proxy event the ingestion handler reads. */
export interface ApiEvent {
  httpMethod: string;
  path?: string | null;
  resource?: string | null;
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, (string | undefined)[] | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean | null;
  requestContext?: { requestId?: string; requestTimeEpoch?: number } | null;
}

/** An API Gateway proxy result. */
export interface ApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A JSON response with a content-type header. */
export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: JSON.stringify(body),
  };
}

/** A `{"message": ...}` error response. */
export function errorResponse(statusCode: number, message: string, extra: Record<string, unknown> = {}): ApiResult {
  return jsonResponse(statusCode, { message, ...extra });
}

/** Case-insensitive header lookup (headers, then multiValueHeaders). */
export function getHeader(event: ApiEvent, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === want && v !== undefined) return v;
  }
  for (const [k, v] of Object.entries(event.multiValueHeaders ?? {})) {
    if (k.toLowerCase() === want && v && v.length > 0 && v[0] !== undefined) return v.join(",");
  }
  return undefined;
}

/** Result of routing: handle it, or answer right away (404/405). */
export type Route = { ok: true } | { ok: false; response: ApiResult };

/** Only `POST /ingest` is served by DataIngestion: 404 for other paths, 405 (with Allow) for other methods. */
export function routeIngest(event: ApiEvent): Route {
  const norm = (p: string | null | undefined): string => (p ?? "").replace(/\/+$/, "");
  const isIngest = norm(event.resource) === "/ingest" || norm(event.path) === "/ingest";
  if (!isIngest) {
    return { ok: false, response: errorResponse(404, `no route for ${event.httpMethod} ${event.path ?? ""}; use POST /ingest`) };
  }
  if (event.httpMethod !== "POST") {
    return {
      ok: false,
      response: jsonResponse(405, { message: `method ${event.httpMethod} not allowed on /ingest; use POST` }, { allow: "POST" }),
    };
  }
  return { ok: true };
}

export type BodyKind = "json" | "ndjson" | "csv" | "sniff";

const JSON_TYPES = new Set(["application/json", "text/json"]);
const NDJSON_TYPES = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/x-jsonl",
  "application/x-jsonlines",
  "application/jsonlines",
  "application/json-lines",
]);
const CSV_TYPES = new Set(["text/csv", "application/csv"]);
/**
 * Read by content. The binary ones are the API's binaryMediaTypes (the component's api.BINARY_MEDIA_TYPES): API
 * Gateway base64-encodes only bodies of those types, so gzip bodies must be sent with one of them.
 */
const SNIFF_TYPES = new Set(["", "text/plain", "application/octet-stream", "application/gzip", "application/x-gzip"]);
export const ACCEPTED_CONTENT_TYPES =
  "application/json, application/x-ndjson, text/csv (or none/text/plain: by content; gzip bodies as application/gzip or application/octet-stream)";

/** Maps a Content-Type header to the body kind, or a reason when it is not accepted. */
export function classifyContentType(contentType: string | undefined): { ok: true; kind: BodyKind } | { ok: false; reason: string } {
  const base = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (JSON_TYPES.has(base) || /^application\/[a-z0-9.+-]+\+json$/.test(base)) return { ok: true, kind: "json" };
  if (NDJSON_TYPES.has(base)) return { ok: true, kind: "ndjson" };
  if (CSV_TYPES.has(base)) return { ok: true, kind: "csv" };
  if (SNIFF_TYPES.has(base)) return { ok: true, kind: "sniff" };
  return { ok: false, reason: `unsupported content type "${base}"; accepted: ${ACCEPTED_CONTENT_TYPES}` };
}

/** The decoded request body or an error response (400/413). */
export type DecodedBody = { ok: true; body: Buffer } | { ok: false; response: ApiResult };

const BASE64_RE = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;

/**
 * Decodes the body: base64 (isBase64Encoded), gzip (Content-Encoding or magic bytes), UTF-8 check,
 * size limit maxBytes (413) on the raw, decoded and decompressed sizes.
 */
export function decodeBody(event: ApiEvent, maxBytes: number): DecodedBody {
  const raw = event.body ?? "";
  const tooLarge = (size: string): DecodedBody => ({
    ok: false,
    response: errorResponse(413, `request body is too large (${size}); the limit is ${maxBytes} bytes`),
  });
  // Early rejection on the raw size, before any decoding work.
  if (event.isBase64Encoded) {
    const pad = raw.endsWith("==") ? 2 : raw.endsWith("=") ? 1 : 0;
    const estimate = Math.floor((raw.length * 3) / 4) - pad;
    if (estimate > maxBytes + 3) return tooLarge(`about ${estimate} bytes`);
  } else if (raw.length > maxBytes) {
    // each character is at least one UTF-8 byte
    return tooLarge(`more than ${maxBytes} bytes`);
  }
  let body: Buffer;
  if (event.isBase64Encoded) {
    if (!BASE64_RE.test(raw)) {
      return { ok: false, response: errorResponse(400, "body is flagged base64 (isBase64Encoded) but is not valid base64") };
    }
    body = Buffer.from(raw, "base64");
  } else {
    body = Buffer.from(raw, "utf8");
  }
  if (body.length > maxBytes) return tooLarge(`${body.length} bytes`);
  const encoding = (getHeader(event, "content-encoding") ?? "").trim().toLowerCase();
  if (encoding !== "" && encoding !== "identity" && encoding !== "gzip" && encoding !== "x-gzip") {
    return { ok: false, response: errorResponse(400, `unsupported content-encoding "${encoding}"; accepted: gzip, identity`) };
  }
  if (encoding === "gzip" || encoding === "x-gzip" || isGzipMagic(body)) {
    try {
      body = gunzipSync(body, { maxOutputLength: maxBytes });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
        return tooLarge(`more than ${maxBytes} bytes after gzip decompression`);
      }
      return { ok: false, response: errorResponse(400, `body is not valid gzip data: ${err.message}`) };
    }
  }
  if (!isUtf8(body)) return { ok: false, response: errorResponse(400, "body is not valid UTF-8 text") };
  return { ok: true, body };
}

/** One record of a request body: a value to validate, or a reason it could not be read. */
export type BodyRecord =
  | { index: number; line?: number; value: unknown }
  | { index: number; line?: number; reason: string };

/**
 * The records of a body, or a 400 reason (malformed, wrong shape) with `count`, the records that rejection stands for
 * (TicksRejected and the 400's `rejectedCount`), counted as the S3 path counts the same bytes: a CSV header that cannot
 * be read counts the data lines after it (the parser's count); a body that cannot be read at all (malformed JSON, a
 * JSON value that is not a tick list) is ONE rejected record, as an S3 file of those bytes is one rejection; an empty
 * body holds no record and counts 0.
 */
export type ParsedBody = { ok: true; format: Format | "json-object"; records: BodyRecord[] } | { ok: false; message: string; count: number };

/** A body that cannot be read at all: one rejected record (see ParsedBody). */
function unreadable(message: string): ParsedBody {
  return { ok: false, message, count: 1 };
}

function fromEvents(events: ParseEvent[]): BodyRecord[] | { message: string; count: number } {
  const out: BodyRecord[] = [];
  for (const e of events) {
    if (e.kind === "record") out.push({ index: e.index, line: e.line, value: e.value });
    // the body as a whole is unreadable: the rejection stands for `count` records (a bad CSV header: its data lines)
    else if (e.index === undefined) return { message: `line ${e.line}: ${e.reason}`, count: e.count };
    else out.push({ index: e.index, line: e.line, reason: e.reason });
  }
  return out;
}

const SHAPE = 'the body must be a JSON array of ticks, {"ticks": [...]}, NDJSON (one tick per line) or CSV with a header';

function fromJsonDocument(doc: unknown): ParsedBody {
  if (Array.isArray(doc)) return { ok: true, format: "json-array", records: doc.map((value, index) => ({ index, value })) };
  if (doc !== null && typeof doc === "object") {
    const o = doc as Record<string, unknown>;
    if ("ticks" in o) {
      const other = Object.keys(o).filter((k) => k !== "ticks");
      if (other.length > 0) return unreadable(`unexpected top-level field(s) ${other.join(", ")}; ${SHAPE}`);
      if (!Array.isArray(o.ticks)) return unreadable(`"ticks" must be an array; ${SHAPE}`);
      return { ok: true, format: "json-object", records: o.ticks.map((value, index) => ({ index, value })) };
    }
    // a single JSON object is a one-line NDJSON body: one tick
    return { ok: true, format: "jsonl", records: [{ index: 0, line: 1, value: doc }] };
  }
  return unreadable(`got a JSON ${doc === null ? "null" : typeof doc}; ${SHAPE}`);
}

function firstNonWs(s: string): string | undefined {
  const m = /\S/.exec(s);
  return m?.[0];
}

/** Parses a decoded body of the given kind into records. */
export function parseBody(body: Buffer, kind: BodyKind): ParsedBody {
  const text = body.toString("utf8");
  const first = firstNonWs(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (first === undefined) return { ok: false, message: `the body is empty; ${SHAPE}`, count: 0 };
  const lines = (format: "jsonl" | "csv"): ParsedBody => {
    const r = fromEvents(parseAll(format, body));
    return Array.isArray(r) ? { ok: true, format, records: r } : { ok: false, ...r };
  };
  if (kind === "ndjson") return lines("jsonl");
  if (kind === "csv") return lines("csv");
  if (kind === "sniff" && first !== "[" && first !== "{") return lines("csv");
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    // several JSON objects on separate lines: NDJSON sent as application/json
    if (first === "{" && /\}\s*\r?\n\s*\{/.test(text)) return lines("jsonl");
    return unreadable(`malformed JSON: ${(e as Error).message}`);
  }
  return fromJsonDocument(doc);
}
