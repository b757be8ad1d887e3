/**
 * Tick sort keys (docs/design.md "DynamoDB item layout", R-DATA-4). Pure: no I/O, no AWS SDK.
 *
 * A tick item's sort key `timestamp` is the decimal Number `<ts ms>.<9-digit discriminator>`. The discriminator is
 * derived from a SHA-256 hash of the tick's canonical content (symbol, ts, price, volume, extra with keys sorted
 * recursively), reduced modulo 10^9. Consequences:
 * - the same tick delivered twice gets the same key, so the second write overwrites the first (stored once);
 * - two distinct ticks in the same millisecond get different keys (both kept), except with probability ~1e-9 per
 *   pair (a hash collision), in which case the later write wins; identical content in the same millisecond is by
 *   definition a redelivery and is stored once;
 * - numeric order of keys is (ts, discriminator) order, so a key range `[start, end)` in ms is the Number range
 *   `start .. (end-1).999999999`, and ties inside one millisecond are broken deterministically by the discriminator.
 *
 * Precision: keys have up to 15 + 9 = 24 significant digits (DynamoDB N allows 38) but a JS number only ~16, so a key
 * is ALWAYS carried as a string (`{N: "..."}` in the low-level API), never as a JS number.
 * DynamoDB normalises numbers it returns (`1700000000123.120000000` comes back as `1700000000123.12`, and
 * `...000.000000000` as `...000`); `decodeTickKey` accepts both forms and `canonicalKey` restores the 9-digit form.
 */
import { createHash } from "node:crypto";
import { MAX_TS, type Tick, tickContent } from "./tick.ts";
import { INTERVALS } from "./types.ts";

/** Number of decimal digits of the discriminator. */
export const DISCRIMINATOR_DIGITS = 9;
const DISC_MOD = 1_000_000_000n;
/** Largest timestamp a key may carry: the ingestion limit MAX_TS (9999-12-31T23:59:59.999Z). */
export const MAX_KEY_TS = MAX_TS;
/**
 * Most ticks one 5-minute window can hold: one per (millisecond, 9-digit discriminator) key; the R-DATA-1 bounds
 * (core/tick.ts) are chosen so that even this many keep every aggregate storable.
 */
export const MAX_TICKS_PER_WINDOW = INTERVALS["5m"] * 10 ** DISCRIMINATOR_DIGITS;
const KEY_RE = /^(0|[1-9]\d{0,14})(?:\.(\d{1,9}))?$/;

/** A decoded tick sort key. */
export interface TickKey {
  /** epoch ms */
  ts: number;
  /** the 9-digit discriminator, zero-padded */
  disc: string;
}

/** Serialises a JSON-like value with object keys sorted at every depth (the canonical form hashed for keys). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const s = JSON.stringify(value);
    // JSON.stringify(undefined) is undefined; canonical form of "absent" inside arrays is null, as JSON does.
    return s === undefined ? "null" : s;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  }
  return `{${parts.join(",")}}`;
}

/** The canonical content string of a tick: what decides "same tick" (an empty `extra` equals no `extra`). */
export function canonicalTick(t: Tick): string {
  return canonicalJson(tickContent(t));
}

/** A 9-digit discriminator of any string: SHA-256, first 64 bits mod 10^9, zero-padded. */
export function hashDiscriminator(s: string): string {
  const digest = createHash("sha256").update(s, "utf8").digest();
  return (digest.readBigUInt64BE(0) % DISC_MOD).toString().padStart(DISCRIMINATOR_DIGITS, "0");
}

/** The 9-digit discriminator of a tick: the hash discriminator of its canonical content. */
export function discriminator(t: Tick): string {
  return hashDiscriminator(canonicalTick(t));
}

function checkTs(ts: number): void {
  if (!Number.isSafeInteger(ts) || ts < 0 || ts > MAX_KEY_TS) {
    throw new RangeError(`timestamp ${String(ts)} is not an integer epoch ms between 0 and ${MAX_KEY_TS}`);
  }
}

/** Encodes `(ts, disc)` as the canonical sort key string `<ts>.<9 digits>`. */
export function encodeTickKey(ts: number, disc: string): string {
  checkTs(ts);
  if (!/^\d{9}$/.test(disc)) throw new RangeError(`discriminator "${disc}" is not 9 decimal digits`);
  return `${ts}.${disc}`;
}

/** The sort key of a tick (same content -> same key). Throws RangeError on a timestamp a key cannot carry. */
export function tickKey(t: Tick): string {
  checkTs(t.ts);
  return `${t.ts}.${discriminator(t)}`;
}

/**
 * Decodes a sort key as written by `encodeTickKey` or as DynamoDB returns it (trailing fraction zeros dropped).
 * Throws RangeError naming the value when it is not a tick key.
 */
export function decodeTickKey(key: string): TickKey {
  const m = KEY_RE.exec(key);
  if (!m) throw new RangeError(`"${key}" is not a tick sort key (<epoch ms>.<up to 9 digits>)`);
  const ts = Number(m[1]);
  checkTs(ts);
  return { ts, disc: (m[2] ?? "").padEnd(DISCRIMINATOR_DIGITS, "0") };
}

/** Returns the canonical 9-digit form of a (possibly DynamoDB-normalised) tick key. */
export function canonicalKey(key: string): string {
  const k = decodeTickKey(key);
  return `${k.ts}.${k.disc}`;
}

/** Orders decoded keys exactly as DynamoDB orders the Numbers: by ts, then by discriminator. */
export function compareTickKeys(a: TickKey, b: TickKey): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return a.disc < b.disc ? -1 : a.disc > b.disc ? 1 : 0;
}

/**
 * The inclusive Number bounds of all tick keys with `from <= ts < to` (for `BETWEEN :lo AND :hi`).
 * Requires `0 <= from < to`; `to` may be at most MAX_KEY_TS + 1.
 */
export function tickKeyRange(from: number, to: number): { lo: string; hi: string } {
  checkTs(from);
  checkTs(to - 1);
  if (!(from < to)) throw new RangeError(`empty time range [${from}, ${to})`);
  return { lo: String(from), hi: `${to - 1}.${"9".repeat(DISCRIMINATOR_DIGITS)}` };
}
