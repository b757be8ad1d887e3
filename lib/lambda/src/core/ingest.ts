/**
 * The steps of ingesting one S3 object between the adapters (handlers/ingestion.ts `ingestObject` runs them in order):
 * - source and decode: `ObjectBytes` looks at the first bytes of the object's body and gunzips it when they are gzip
 *   (by content, whatever the name);
 * - parse and pack: `FileTicks` parses the bytes (core/formats.ts, with the fast lanes), validates each record
 *   (core/tick.ts) and packs the ticks into SendMessageBatch batches (core/pack.ts); bad records go to a `RejectSink`.
 * No AWS SDK: the body comes from adapters/s3.ts, the batches go to adapters/sqs.ts, the rejects to adapters/rejects.ts.
 */
import { Readable, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { AutoParser, type Format, hasGzSuffix, isGzipMagic, type ParseEvent } from "./formats.ts";
import { BatchGrouper, MessagePacker, type PackedMessage } from "./pack.ts";
import { validateTick } from "./tick.ts";

/** Where rejected records go (R-DATA-3): the record's line, the reason, its raw text, extra fields, records counted. */
export interface RejectSink {
  add(line: number, reason: string, raw: string, extra?: Record<string, unknown>, count?: number): void;
}

function isZlibError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("Z_");
}

/** An object body opened for parsing: its first bytes read (enough for the gzip magic number), gunzipped if gzip. */
export class ObjectBytes {
  private constructor(
    private readonly it: AsyncIterator<Uint8Array>,
    /** the first bytes (empty for an empty object) */
    readonly head: Buffer,
    private readonly ended: boolean,
  ) {}

  /** Reads the first bytes of `body`. */
  static async open(body: AsyncIterable<Uint8Array>): Promise<ObjectBytes> {
    const it = body[Symbol.asyncIterator]();
    let head = Buffer.alloc(0);
    while (head.length < 2) {
      const n = await it.next();
      if (n.done) return new ObjectBytes(it, head, true);
      head = head.length === 0 ? Buffer.from(n.value) : Buffer.concat([head, n.value]);
    }
    return new ObjectBytes(it, head, false);
  }

  /** True for an object of zero bytes. */
  get empty(): boolean {
    return this.head.length === 0;
  }

  /** True when the bytes are gzip (magic number 1f 8b). */
  get gzip(): boolean {
    return isGzipMagic(this.head);
  }

  /** Why the object cannot be read when its key names gzip (`.gz`) but its bytes are not gzip; else undefined. */
  mislabelled(key: string): string | undefined {
    if (!hasGzSuffix(key) || this.gzip) return undefined;
    return `object is named .gz but is not gzip data (first bytes ${this.head.subarray(0, 4).toString("hex")}); the file was not read`;
  }

  /** The object's bytes from the first one on, gunzipped when gzip (streamed: never held whole). */
  chunks(): AsyncIterable<Uint8Array> {
    const head = this.head;
    const it = this.it;
    const raw: AsyncIterable<Uint8Array> = this.ended
      ? (async function* () {
          yield head;
        })()
      : (async function* () {
          yield head;
          for (;;) {
            const n = await it.next();
            if (n.done) return;
            yield n.value;
          }
        })();
    return this.gzip ? pipeline(Readable.from(raw, { objectMode: false }), createGunzip(), () => undefined) : raw;
  }

  /** True when `e`, thrown while reading `chunks()`, says the gzip data is corrupt: the file's fault, not a transient one. */
  isCorrupt(e: unknown): boolean {
    return this.gzip && isZlibError(e);
  }

  /** Stops reading the object (errors of the stop are ignored). */
  async stop(): Promise<void> {
    await this.it.return?.().catch(() => undefined);
  }
}

/**
 * Parse -> validate -> pack for one file: bytes in, SendMessageBatch batches out (`takeBatches`), bad records to the
 * RejectSink. Deterministic: the same bytes give the same batches (idempotent reprocessing, R-EVB-3).
 */
export class FileTicks {
  /** ticks accepted so far */
  accepted = 0;
  /** why the file (or its rest) could not be read at all, when that happened */
  fileProblem: string | undefined;
  private readonly parser: AutoParser;
  private readonly packer: MessagePacker;
  private readonly grouper = new BatchGrouper();
  private ready: PackedMessage[][] = [];

  constructor(
    src: string,
    format: Format | "json" | undefined,
    private readonly rejects: RejectSink,
  ) {
    this.packer = new MessagePacker(src);
    // Plain records come already validated and normalised as tick JSON (core/fastlane.ts); the rest come as records.
    this.parser = new AutoParser(format, (e) => this.onEvent(e), { onTickJson: (json) => this.onTickJson(json) });
  }

  /** The format the parser settled on. */
  get format(): Format | undefined {
    return this.parser.format;
  }

  /** Parses the next bytes of the file. */
  push(chunk: Uint8Array): void {
    this.parser.push(chunk);
  }

  /** The file ended: parses the last line and packs what is left. */
  end(): void {
    this.parser.end();
    this.flush();
  }

  /** The rest of the file cannot be read (`reason`): the partial last line is not trusted; packs what is left. */
  cut(reason: string): void {
    this.parser.abandon(); // the rejections it already decided come first
    this.rejects.add(0, reason, "");
    this.fileProblem = reason;
    this.flush();
  }

  /** The batches complete so far (each at most once). */
  takeBatches(): PackedMessage[][] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  private onEvent(e: ParseEvent): void {
    const jsonArray = this.parser.format === "json-array";
    if (e.kind === "error") {
      this.rejects.add(e.line, e.reason, e.raw, jsonArray && e.index !== undefined ? { index: e.index } : {}, e.count);
      if (e.index === undefined) this.fileProblem = e.reason;
      return;
    }
    const v = validateTick(e.value);
    if (!v.ok) {
      this.rejects.add(e.line, v.reason, e.raw, jsonArray ? { index: e.index } : {});
      return;
    }
    this.accepted++;
    this.take(this.packer.add(v.tick));
  }

  private onTickJson(json: string): void {
    this.accepted++;
    this.take(this.packer.addJson(json, json.length));
  }

  private take(m: PackedMessage | undefined): void {
    if (!m) return;
    const b = this.grouper.add(m);
    if (b) this.ready.push(b);
  }

  private flush(): void {
    this.take(this.packer.flush());
    const last = this.grouper.flush();
    if (last) this.ready.push(last);
  }
}
