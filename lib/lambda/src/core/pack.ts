/**
 * Packs normalised ticks into ProcessingQueue message bodies and groups the bodies into SendMessageBatch calls.
 * Pure and deterministic: the same ticks in the same order always give the same messages (idempotent redelivery).
 *
 * Limits (docs/design.md "SQS message"): a body is `{"v":1,"src":...,"ticks":[...]}` of at most 262,144 UTF-8 bytes
 * and at most `maxTicksPerMessage` ticks (default 500, so one DataProcessor message stays a bounded amount of
 * DynamoDB work); a batch call holds at most 10 entries whose bodies total at most 262,144 bytes. Each tick's JSON
 * comes from core/tick.ts `tickJson`.
 */
import { type Tick, tickJson } from "./tick.ts";
import { MAX_SQS_MESSAGE_BYTES } from "./types.ts";

/** The tick JSON writer is core/tick.ts `tickJson`; re-exported for the callers that pack. */
export { tickJson };

export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 262_144;
export const DEFAULT_MAX_TICKS_PER_MESSAGE = 500;

/** One message body and its UTF-8 size. */
export interface PackedMessage {
  body: string;
  bytes: number;
  ticks: number;
}

export interface PackOptions {
  /** default MAX_SQS_MESSAGE_BYTES (262,144) */
  maxMessageBytes?: number;
  /** default DEFAULT_MAX_TICKS_PER_MESSAGE (500) */
  maxTicksPerMessage?: number;
}

/** Streams ticks into message bodies. `add` returns a finished message when the new tick did not fit. */
export class MessagePacker {
  private readonly prefix: string;
  private readonly overhead: number;
  private readonly maxBytes: number;
  private readonly maxTicks: number;
  private parts: string[] = [];
  private bytes = 0;

  constructor(src: string, opts: PackOptions = {}) {
    this.prefix = `{"v":1,"src":${JSON.stringify(src)},"ticks":[`;
    this.overhead = Buffer.byteLength(this.prefix) + 2; // + "]}"
    this.maxBytes = opts.maxMessageBytes ?? MAX_SQS_MESSAGE_BYTES;
    this.maxTicks = opts.maxTicksPerMessage ?? DEFAULT_MAX_TICKS_PER_MESSAGE;
    if (this.maxTicks < 1) throw new Error(`maxTicksPerMessage must be >= 1, got ${this.maxTicks}`);
  }

  /** Adds a tick; returns the previous message when this tick starts a new one. Throws if one tick alone cannot fit. */
  add(tick: Tick): PackedMessage | undefined {
    const json = tickJson(tick);
    const len = tick.extra === undefined ? json.length : Buffer.byteLength(json); // without extra: ASCII only
    return this.addJson(json, len);
  }

  /** Adds a tick given as its JSON (`tickJson` of the tick) and that JSON's UTF-8 size; otherwise as `add`. */
  addJson(json: string, len: number): PackedMessage | undefined {
    if (this.overhead + len > this.maxBytes) {
      throw new Error(`a tick of ${len} bytes does not fit in a message of at most ${this.maxBytes} bytes: ${json.slice(0, 100)}`);
    }
    let done: PackedMessage | undefined;
    const sep = this.parts.length > 0 ? 1 : 0;
    if (this.parts.length >= this.maxTicks || this.overhead + this.bytes + sep + len > this.maxBytes) {
      done = this.flush();
    }
    if (this.parts.length > 0) this.bytes += 1;
    this.parts.push(json);
    this.bytes += len;
    return done;
  }

  /** Returns the message being filled (undefined when empty) and starts a new one. */
  flush(): PackedMessage | undefined {
    if (this.parts.length === 0) return undefined;
    const body = `${this.prefix}${this.parts.join(",")}]}`;
    const msg = { body, bytes: this.overhead + this.bytes, ticks: this.parts.length };
    this.parts = [];
    this.bytes = 0;
    return msg;
  }
}

/** Groups messages into SendMessageBatch calls of at most 10 entries and 262,144 bytes. */
export class BatchGrouper {
  private batch: PackedMessage[] = [];
  private bytes = 0;

  constructor(
    private readonly maxEntries = MAX_BATCH_ENTRIES,
    private readonly maxBytes = MAX_BATCH_BYTES,
  ) {}

  /** Adds a message; returns the previous batch when this message does not fit into it. */
  add(msg: PackedMessage): PackedMessage[] | undefined {
    if (msg.bytes > this.maxBytes) throw new Error(`a message of ${msg.bytes} bytes exceeds the batch limit ${this.maxBytes}`);
    let done: PackedMessage[] | undefined;
    if (this.batch.length >= this.maxEntries || this.bytes + msg.bytes > this.maxBytes) done = this.flush();
    this.batch.push(msg);
    this.bytes += msg.bytes;
    return done;
  }

  /** Returns the batch being filled (undefined when empty). */
  flush(): PackedMessage[] | undefined {
    if (this.batch.length === 0) return undefined;
    const b = this.batch;
    this.batch = [];
    this.bytes = 0;
    return b;
  }
}

/** Packs ticks into batches of messages in one go (API requests, tests). */
export function packTicks(src: string, ticks: Iterable<Tick>, opts: PackOptions = {}): PackedMessage[][] {
  const packer = new MessagePacker(src, opts);
  const grouper = new BatchGrouper();
  const out: PackedMessage[][] = [];
  const take = (m: PackedMessage | undefined): void => {
    if (!m) return;
    const b = grouper.add(m);
    if (b) out.push(b);
  };
  for (const t of ticks) take(packer.add(t));
  take(packer.flush());
  const last = grouper.flush();
  if (last) out.push(last);
  return out;
}
