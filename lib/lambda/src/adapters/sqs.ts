/**
 * SQS adapter (the only module that talks to SQS): SendMessageBatch with retries of failed entries.
 * Permissions used: sqs:SendMessage on the ProcessingQueue (DataIngestion) and on the AggregationQueue
 * (DataAggregator's deferrals).
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from "@aws-sdk/client-sqs";
import { clientConfig, withoutSdkLogger } from "./config.ts";

/** The shared SQS client (honours AWS_ENDPOINT_URL). */
export const sqsClient = withoutSdkLogger(new SQSClient(clientConfig()));

/** Retry policy of sendBatch (mutable so tests can make the backoff instant). */
export const retryPolicy = {
  /** attempts per batch, the first included (the SDK's own retries happen inside each attempt) */
  maxAttempts: 6,
  /** backoff: full jitter over min(maxDelayMs, baseDelayMs * 2^attempt) */
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  sleep: (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms)),
  random: Math.random,
};

/**
 * A batch whose entries could not be sent after every attempt. `sent` counts the entries SQS acknowledged in any
 * attempt (a partial failure still delivers the other entries): they are on the queue, so MessagesSent must count them.
 */
export class SendBatchError extends Error {
  constructor(
    message: string,
    readonly failed: { id: string; code: string | undefined; message: string | undefined; senderFault: boolean }[],
    readonly sent = 0,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "SendBatchError";
  }
}

const TRANSIENT_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ServiceUnavailable",
  "InternalError",
  "InternalFailure",
  "KmsThrottled",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);

/** True for errors worth another attempt: throttling, 5xx, network and timeouts. */
export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (err.$retryable) return true;
  if (err.$fault === "server") return true;
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (err.name !== undefined && TRANSIENT_NAMES.has(err.name)) return true;
  // network errors carry no HTTP status
  if (status === undefined && err.code !== undefined && /^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|UND_ERR)/.test(err.code)) {
    return true;
  }
  return false;
}

function backoff(attempt: number): number {
  const cap = Math.min(retryPolicy.maxDelayMs, retryPolicy.baseDelayMs * 2 ** attempt);
  return Math.floor(retryPolicy.random() * cap);
}

/**
 * Sends up to 10 message bodies in one SendMessageBatch; entries that fail (partial failure) are sent again with
 * exponential backoff and full jitter; transient whole-call errors too. Throws SendBatchError when entries still
 * fail after retryPolicy.maxAttempts, or at once for a sender fault (a request that can never succeed); the error
 * says how many entries were sent all the same. Returns the number of attempts used. `delaySeconds` (0-900) delays every entry (DataAggregator's deferrals).
 */
export async function sendBatch(queueUrl: string, bodies: string[], delaySeconds?: number): Promise<number> {
  if (bodies.length === 0) return 0;
  if (bodies.length > 10) throw new Error(`SendMessageBatch takes at most 10 entries, got ${bodies.length}`);
  let entries: SendMessageBatchRequestEntry[] = bodies.map((MessageBody, i) => ({
    Id: `m${i}`,
    MessageBody,
    ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}),
  }));
  let lastFailed: SendBatchError["failed"] = [];
  let lastError: unknown;
  /** entries acknowledged so far (each attempt carries only the entries still failing) */
  let sent = 0;
  for (let attempt = 0; attempt < retryPolicy.maxAttempts; attempt++) {
    if (attempt > 0) await retryPolicy.sleep(backoff(attempt));
    let out;
    try {
      out = await sqsClient.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    } catch (e) {
      if (!isTransient(e)) throw sent > 0 ? afterPartialSend(e, sent, bodies.length) : e;
      lastError = e;
      continue;
    }
    lastError = undefined;
    const failed = out.Failed ?? [];
    sent += entries.length - failed.length;
    if (failed.length === 0) return attempt + 1;
    lastFailed = failed.map((f) => ({ id: f.Id ?? "?", code: f.Code, message: f.Message, senderFault: f.SenderFault === true }));
    const fatal = lastFailed.filter((f) => f.senderFault);
    if (fatal.length > 0) {
      throw new SendBatchError(
        `SendMessageBatch rejected ${fatal.length} entr(y/ies) as a sender fault: ${fatal.map((f) => `${f.id} ${f.code}: ${f.message}`).join("; ")}`,
        lastFailed,
        sent,
      );
    }
    const ids = new Set(lastFailed.map((f) => f.id));
    entries = entries.filter((e) => ids.has(e.Id as string));
  }
  if (lastError !== undefined) {
    const err = lastError as Error;
    throw new SendBatchError(`SendMessageBatch failed ${retryPolicy.maxAttempts} times: ${err.name}: ${err.message}`, [], sent);
  }
  throw new SendBatchError(
    `SendMessageBatch: ${lastFailed.length} entr(y/ies) still failing after ${retryPolicy.maxAttempts} attempts: ${lastFailed.map((f) => `${f.code}: ${f.message}`).join("; ")}`,
    lastFailed,
    sent,
  );
}

/** A call that can never succeed, after an earlier attempt delivered some entries: the error keeps that count (the
 * original error, its name and message, stay visible in the message and as `cause`). */
function afterPartialSend(e: unknown, sent: number, total: number): SendBatchError {
  const err = e as Error;
  return new SendBatchError(`SendMessageBatch failed after ${sent} of ${total} entries were sent: ${err.name}: ${err.message}`, [], sent, {
    cause: e,
  });
}

/**
 * Sends batches (sendBatch) with at most `concurrency` calls in flight; remembers the first failure and throws it on
 * the next send() or on drain(). Counts the messages and batches sent: a failed batch's messages that SQS accepted
 * all the same (SendBatchError.sent) are on the queue and counted too.
 */
export class BatchSender {
  private readonly inflight = new Set<Promise<void>>();
  private error: unknown;
  /** messages sent so far */
  messages = 0;
  /** SendMessageBatch calls that succeeded so far */
  batches = 0;

  constructor(
    private readonly queueUrl: string,
    private readonly concurrency: number,
  ) {}

  /** Starts sending one batch of bodies, waiting first while `concurrency` calls are in flight. */
  async send(bodies: readonly string[]): Promise<void> {
    if (this.error !== undefined) throw this.error;
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    if (this.error !== undefined) throw this.error;
    const p: Promise<void> = sendBatch(this.queueUrl, [...bodies]).then(
      () => {
        this.messages += bodies.length;
        this.batches++;
        this.inflight.delete(p);
      },
      (e: unknown) => {
        if (e instanceof SendBatchError) this.messages += e.sent;
        if (this.error === undefined) this.error = e;
        this.inflight.delete(p);
      },
    );
    this.inflight.add(p);
  }

  /** Waits for every call in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.race(this.inflight);
    if (this.error !== undefined) throw this.error;
  }
}
