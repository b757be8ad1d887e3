/**
 * S3 adapter (the only module that talks to S3): streaming reads of raw objects, small writes (API archives) and
 * a bounded-memory JSON Lines writer (rejects) that switches to a multipart upload when the data outgrows one part.
 * Permissions used: s3:GetObject (incoming/*), s3:PutObject (rejected/*, api/*), s3:AbortMultipartUpload and
 * s3:DeleteObject (rejected/*).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { clientConfig } from "./config.ts";

/** The shared S3 client (honours AWS_ENDPOINT_URL, path-style addressing when it is set). */
export const s3Client = new S3Client(clientConfig());

/** An object opened for streaming. */
export interface ObjectStream {
  body: AsyncIterable<Uint8Array>;
  contentLength: number | undefined;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array> {
  return v !== null && typeof v === "object" && Symbol.asyncIterator in v;
}

/**
 * Opens an object for streaming (GetObject; Body is a Node Readable in Lambda). Returns undefined when the object
 * no longer exists (NoSuchKey): deleted between the event and now, nothing to ingest. Other errors propagate.
 */
export async function openObject(bucket: string, key: string): Promise<ObjectStream | undefined> {
  try {
    const out = await s3Client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!isAsyncIterable(out.Body)) {
      throw new Error(`GetObject s3://${bucket}/${key} returned a body that is not a Node stream`);
    }
    return { body: out.Body, contentLength: out.ContentLength };
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === "NoSuchKey" || name === "NotFound") return undefined;
    throw e;
  }
}

/** Writes a small object in one PutObject. */
export async function putObject(bucket: string, key: string, body: string | Uint8Array, contentType: string): Promise<void> {
  await s3Client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}

/** Deletes an object; a key that does not exist is fine (S3 answers 204 either way). */
export async function deleteObject(bucket: string, key: string): Promise<void> {
  await s3Client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** Multipart parts must be >= 5 MiB (but the last); parts of 8 MiB keep memory bounded. */
export const PART_BYTES = 8 * 1024 * 1024;

/**
 * Writes an object line by line with bounded memory: lines are buffered up to PART_BYTES; the first full part
 * starts a multipart upload, smaller totals end in one PutObject. Call close() to finish, abort() on failure.
 * `write` is synchronous; `flush()` awaits the part upload it may have started (call it between chunks).
 */
export class ObjectLineWriter {
  private parts: string[] = [];
  private bytes = 0;
  private uploadId: string | undefined;
  private readonly etags: { PartNumber: number; ETag: string }[] = [];
  private pending: Promise<void> | undefined;
  private closed = false;
  /** lines written */
  lines = 0;

  constructor(
    readonly bucket: string,
    readonly key: string,
    private readonly contentType = "application/x-ndjson",
    private readonly partBytes = PART_BYTES,
  ) {}

  /** Buffers one line (a newline is appended). */
  write(line: string): void {
    if (this.closed) throw new Error(`writer for s3://${this.bucket}/${this.key} is closed`);
    this.parts.push(line, "\n");
    this.bytes += Buffer.byteLength(line) + 1;
    this.lines++;
  }

  /** Uploads a part when enough data is buffered; waits for it. */
  async flush(): Promise<void> {
    if (this.pending) await this.pending;
    if (this.bytes >= this.partBytes) {
      const body = Buffer.from(this.parts.join(""), "utf8");
      this.parts = [];
      this.bytes = 0;
      this.pending = this.uploadPart(body);
      await this.pending;
      this.pending = undefined;
    }
  }

  private async uploadPart(body: Buffer): Promise<void> {
    if (this.uploadId === undefined) {
      const out = await s3Client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, ContentType: this.contentType }),
      );
      if (!out.UploadId) throw new Error(`CreateMultipartUpload s3://${this.bucket}/${this.key} returned no UploadId`);
      this.uploadId = out.UploadId;
    }
    const PartNumber = this.etags.length + 1;
    const out = await s3Client.send(
      new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: body }),
    );
    this.etags.push({ PartNumber, ETag: out.ETag ?? "" });
  }

  /** Writes what is buffered and completes the object (no-op when nothing was written). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pending) await this.pending;
    const rest = Buffer.from(this.parts.join(""), "utf8");
    this.parts = [];
    this.bytes = 0;
    if (this.uploadId === undefined) {
      if (this.lines > 0) await putObject(this.bucket, this.key, rest, this.contentType);
      return;
    }
    if (rest.length > 0) await this.uploadPart(rest);
    await s3Client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.etags },
      }),
    );
  }

  /** Abandons the object (aborts a started multipart upload; errors are returned, not thrown). */
  async abort(): Promise<unknown> {
    this.closed = true;
    this.parts = [];
    if (this.pending) await this.pending.catch(() => undefined);
    if (this.uploadId === undefined) return undefined;
    try {
      await s3Client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }));
      return undefined;
    } catch (e) {
      return e;
    }
  }
}
