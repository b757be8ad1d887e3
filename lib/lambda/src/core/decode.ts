/**
 * Decoding and validation of ProcessingQueue message bodies (docs/design.md "SQS message"). Pure.
 * A body that is not a valid TickMessage (each tick checked by core/tick.ts `tickProblem`, storability included) is
 * poison: the processor fails that record only, so after the queue's maxReceiveCount it reaches the DLQ with the
 * reason in the logs.
 */
import { type Tick, tickProblem } from "./tick.ts";
import type { TickMessage } from "./types.ts";

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
