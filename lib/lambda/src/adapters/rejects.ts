/**
 * The reject file of one S3 object version (R-DATA-3): `rejected/<key>.jsonl`, one JSON line per rejected record
 * `{line, reason, raw, ...}` (raw truncated to 1,000 characters), written with bounded memory (adapters/s3.ts
 * ObjectLineWriter). Lifecycle: `add` while the file is read, `flush` between chunks, then `finish` (writes the object
 * when anything was rejected, else removes an older version's) or, when the ingestion fails, `abort`.
 */
import { truncateRaw } from "../core/formats.ts";
import type { RejectSink } from "../core/ingest.ts";
import { deleteIfExists, ObjectLineWriter } from "./s3.ts";

/** `rejected/<key>.jsonl` of an object key. */
export function rejectedKeyOf(key: string): string {
  return `rejected/${key}.jsonl`;
}

export class RejectFile implements RejectSink {
  /** the reject file's key */
  readonly key: string;
  /** records rejected so far (a line may stand for several, e.g. the lines after an unusable CSV header) */
  rejected = 0;
  private readonly writer: ObjectLineWriter;

  constructor(
    readonly bucket: string,
    objectKey: string,
  ) {
    this.key = rejectedKeyOf(objectKey);
    this.writer = new ObjectLineWriter(bucket, this.key);
  }

  /** Records one rejected record (or `count` of them) with its line number, the reason and its raw text. */
  add(line: number, reason: string, raw: string, extra: Record<string, unknown> = {}, count = 1): void {
    this.writer.write(JSON.stringify({ line, reason, raw: truncateRaw(raw), ...extra }));
    this.rejected += count;
  }

  /** Waits while more than a part is buffered (call it between chunks). */
  async flush(): Promise<void> {
    await this.writer.flush();
  }

  /**
   * Ends the reject file of this version: completes it and returns its key when anything was rejected; otherwise
   * removes what an older version may have left, and returns undefined. Only if there is one (HEAD first): a
   * DeleteObject on the versioned bucket writes a delete marker for every clean file otherwise.
   */
  async finish(): Promise<string | undefined> {
    if (this.writer.lines > 0) {
      await this.writer.close();
      return this.key;
    }
    await deleteIfExists(this.bucket, this.key);
    return undefined;
  }

  /** Abandons the reject file (ingestion failed and will be retried); the abort's own error is returned, not thrown. */
  abort(): Promise<unknown> {
    return this.writer.abort();
  }
}
