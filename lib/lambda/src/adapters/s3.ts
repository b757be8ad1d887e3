/**
 * S3 adapter (the only module that talks to S3): streaming reads of raw objects, small writes (API archives) and
 * a bounded-memory JSON Lines writer (rejects, `@aws-sdk/lib-storage`: one PutObject or a multipart upload).
 * Permissions used: s3:GetObject (incoming/*, and HEAD of rejected/*), s3:ListBucket on the bucket for those
 * prefixes (a missing key is then a 404, not a 403), s3:PutObject (rejected/*, api/*; the multipart calls),
 * s3:AbortMultipartUpload and s3:DeleteObject (rejected/*).
 */
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { clientConfig, withoutSdkLogger } from "./config.ts";

/** The shared S3 client (honours AWS_ENDPOINT_URL, path-style addressing when it is set). */
export const s3Client = withoutSdkLogger(new S3Client(clientConfig()));

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

/**
 * Whether an object exists (HeadObject). A missing key is a 404 only with s3:ListBucket on the bucket (else S3
 * answers 403, which is thrown here): the ingestion role holds it for `rejected/*` and `incoming/*` keys.
 */
export async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await s3Client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (e) {
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (err.name === "NotFound" || err.name === "NoSuchKey" || err.$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

/**
 * Deletes an object if it exists. On a versioned bucket every DeleteObject of a key writes a delete marker, even
 * when the key has no current version; checking first (a HEAD) writes one only when there was an object.
 */
export async function deleteIfExists(bucket: string, key: string): Promise<boolean> {
  if (!(await objectExists(bucket, key))) return false;
  await s3Client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return true;
}

/** Parts of 8 MiB (S3's minimum is 5 MiB but for the last part) keep memory bounded. */
export const PART_BYTES = 8 * 1024 * 1024;

/**
 * Writes an object line by line with bounded memory through `@aws-sdk/lib-storage`'s Upload: a total under one
 * part is one PutObject, a larger one a multipart upload (part checksums, the completion and the abort done by the
 * library). Nothing is written for zero lines. `write` is synchronous; `flush()` waits while more than a part is
 * buffered (call it between chunks); `close()` finishes; `abort()` abandons the object.
 */
export class ObjectLineWriter {
  private stream: PassThrough | undefined;
  private upload: Upload | undefined;
  private finished: Promise<unknown> | undefined;
  private closed = false;
  /** lines written */
  lines = 0;

  constructor(
    readonly bucket: string,
    readonly key: string,
    private readonly contentType = "application/x-ndjson",
    private readonly partBytes = PART_BYTES,
  ) {}

  /** Buffers one line (a newline is appended); the upload starts with the first line. */
  write(line: string): void {
    if (this.closed) throw new Error(`writer for s3://${this.bucket}/${this.key} is closed`);
    if (this.stream === undefined) this.start();
    this.stream!.write(`${line}\n`);
    this.lines++;
  }

  private start(): void {
    this.stream = new PassThrough({ highWaterMark: this.partBytes });
    this.upload = new Upload({
      client: s3Client,
      params: { Bucket: this.bucket, Key: this.key, Body: this.stream, ContentType: this.contentType },
      partSize: this.partBytes,
      queueSize: 1, // one part in flight: memory stays near two parts
    });
    this.finished = this.upload.done();
    this.finished.catch(() => undefined); // awaited by close() / flush() / abort()
  }

  /** Waits while the upload drains what is buffered (its failure is thrown here). */
  async flush(): Promise<void> {
    const stream = this.stream;
    if (stream?.writableNeedDrain) await Promise.race([once(stream, "drain"), this.finished]);
  }

  /** Completes the object (no-op when nothing was written). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.stream === undefined) return;
    this.stream.end();
    await this.finished;
  }

  /**
   * Abandons the object: the body stream fails, so the library aborts a started multipart upload
   * (AbortMultipartUpload) before its done() settles. Errors of the abort are returned, not thrown.
   */
  async abort(): Promise<unknown> {
    this.closed = true;
    if (this.stream === undefined) return undefined;
    const reason = new Error(`upload of s3://${this.bucket}/${this.key} abandoned`);
    this.stream.destroy(reason);
    try {
      await this.finished;
      return undefined;
    } catch (e) {
      return e === reason ? undefined : e;
    }
  }
}
