/**
 * EventBridge adapter: PutEvents with chunking to the API limits and bounded retry of failed entries.
 * Event format: docs/design.md "Event (processor -> EventBridge -> aggregator)".
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { clientConfig, withoutSdkLogger } from "./config.ts";
import { defaultSleep } from "./ddb.ts";

/** The shared EventBridge client (honours AWS_ENDPOINT_URL through the SDK's own env handling). */
export const eventsClient = withoutSdkLogger(new EventBridgeClient(clientConfig()));

/** PutEvents limits: 10 entries and 256 KB per call. */
export const MAX_ENTRIES_PER_CALL = 10;
export const MAX_BYTES_PER_CALL = 256 * 1024;

/** Size of an entry as EventBridge counts it (Time 14 bytes + Source + DetailType + Detail + Resources). */
export function entrySize(e: PutEventsRequestEntry): number {
  let n = 14;
  for (const s of [e.Source, e.DetailType, e.Detail]) if (s) n += Buffer.byteLength(s, "utf8");
  for (const r of e.Resources ?? []) n += Buffer.byteLength(r, "utf8");
  return n;
}

/** Splits entries into PutEvents calls of at most 10 entries and 256 KB (one call in every normal case). */
export function chunkEntries(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const calls: PutEventsRequestEntry[][] = [];
  let cur: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = entrySize(e);
    if (size > MAX_BYTES_PER_CALL) throw new RangeError(`event entry of ${size} bytes exceeds ${MAX_BYTES_PER_CALL}`);
    if (cur.length === MAX_ENTRIES_PER_CALL || bytes + size > MAX_BYTES_PER_CALL) {
      calls.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += size;
  }
  if (cur.length) calls.push(cur);
  return calls;
}

/** Options of `putEvents`. */
export interface PutEventsOptions {
  /** attempts per call including the first (default 3) */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  remainingMs?: () => number;
  reserveMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  client?: EventBridgeClient;
}

/** Outcome of `putEvents`: calls made and the entries still failed at the end, with their error codes. */
export interface PutEventsResult {
  calls: number;
  failed: Array<{ entry: PutEventsRequestEntry; error: string }>;
}

/**
 * Sends the entries (chunked only when above the API limits). Entries reported failed (FailedEntryCount > 0) and
 * calls that throw are retried with full-jitter backoff, bounded by attempts and remaining time. Never throws:
 * what still failed is returned for the caller to log.
 */
export async function putEvents(entries: PutEventsRequestEntry[], opts: PutEventsOptions = {}): Promise<PutEventsResult> {
  const client = opts.client ?? eventsClient;
  const maxAttempts = opts.maxAttempts ?? 3;
  const base = opts.baseDelayMs ?? 100;
  const cap = opts.maxDelayMs ?? 2000;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const remaining = opts.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const reserve = opts.reserveMs ?? 1000;
  const result: PutEventsResult = { calls: 0, failed: [] };
  for (const call of chunkEntries(entries)) {
    let pending = call;
    let errors: string[] = [];
    for (let attempt = 1; pending.length > 0; attempt++) {
      try {
        result.calls++;
        const out = await client.send(new PutEventsCommand({ Entries: pending }));
        const next: PutEventsRequestEntry[] = [];
        errors = [];
        if ((out.FailedEntryCount ?? 0) > 0) {
          (out.Entries ?? []).forEach((r, i) => {
            const e = pending[i];
            if (r.ErrorCode && e) {
              next.push(e);
              errors.push(`${r.ErrorCode}: ${r.ErrorMessage ?? ""}`);
            }
          });
        }
        pending = next;
      } catch (e) {
        errors = pending.map(() => `${(e as Error).name}: ${(e as Error).message}`);
      }
      if (pending.length === 0) break;
      const delay = Math.floor(random() * Math.min(cap, base * 2 ** attempt));
      if (attempt >= maxAttempts || remaining() - delay < reserve) {
        pending.forEach((entry, i) => result.failed.push({ entry, error: errors[i] ?? "failed" }));
        break;
      }
      await sleep(delay);
    }
  }
  return result;
}
