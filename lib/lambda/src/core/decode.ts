/**
 * Decoding and validation of ProcessingQueue message bodies (docs/design.md "SQS message"). Pure.
 * A body that is not a valid TickMessage is poison: the processor fails that record only, so after the queue's
 * maxReceiveCount it reaches the DLQ with the reason in the logs.
 */
import { MAX_KEY_TS } from "./keys.ts";
import { PRICE_MAX, PRICE_MIN, SYMBOL_RE, SYMBOL_RULE, VOLUME_MAX, VOLUME_MIN } from "./tick.ts";
import type { Tick, TickMessage } from "./types.ts";

/** Validates one normalised tick; returns the reason it is invalid, or null. */
export function tickProblem(t: unknown): string | null {
  if (typeof t !== "object" || t === null || Array.isArray(t)) return "is not an object";
  const o = t as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["symbol", "ts", "price", "volume", "extra"].includes(k)) return `has unknown field "${k}" (extra fields belong in "extra")`;
  }
  if (typeof o.symbol !== "string" || !SYMBOL_RE.test(o.symbol)) return `symbol ${JSON.stringify(o.symbol)} is not ${SYMBOL_RULE}`;
  if (typeof o.ts !== "number" || !Number.isSafeInteger(o.ts) || o.ts < 0 || o.ts > MAX_KEY_TS) {
    return `ts ${JSON.stringify(o.ts)} is not an integer epoch ms from 0 to ${MAX_KEY_TS}`;
  }
  // the bounds of R-DATA-1 (core/tick.ts): outside them a window's aggregate could not be stored
  if (typeof o.price !== "number" || !(o.price >= PRICE_MIN && o.price <= PRICE_MAX)) {
    return `price ${JSON.stringify(o.price)} is not a number from ${PRICE_MIN} to ${PRICE_MAX}`;
  }
  if (typeof o.volume !== "number" || !(o.volume === 0 || (o.volume >= VOLUME_MIN && o.volume <= VOLUME_MAX))) {
    return `volume ${JSON.stringify(o.volume)} is not 0 or a number from ${VOLUME_MIN} to ${VOLUME_MAX}`;
  }
  if (o.extra !== undefined && (typeof o.extra !== "object" || o.extra === null || Array.isArray(o.extra))) return "extra is not an object";
  return null;
}

/** Parses a message body into a TickMessage, or throws an Error whose message says what is wrong. */
export function decodeTickMessage(body: string): TickMessage {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new Error(`message body is not JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("message body is not a JSON object");
  const m = v as Record<string, unknown>;
  if (m.v !== 1) throw new Error(`message version ${JSON.stringify(m.v)} is not supported (expected 1)`);
  if (typeof m.src !== "string") throw new Error('message has no "src" string');
  if (!Array.isArray(m.ticks)) throw new Error('message has no "ticks" array');
  m.ticks.forEach((t, i) => {
    const p = tickProblem(t);
    if (p) throw new Error(`ticks[${i}] ${p}`);
  });
  return { v: 1, src: m.src, ticks: m.ticks as Tick[] };
}
