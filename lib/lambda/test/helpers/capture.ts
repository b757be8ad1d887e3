/**
 * Captures what a handler's Powertools Logger and Metrics write (JSON log lines and EMF metric documents) while a
 * promise runs, by swapping their Console for one writing into memory. process.stdout is left alone: the node test
 * runner uses it for its own protocol.
 */
import { Console } from "node:console";
import { Writable } from "node:stream";

export interface Captured<T> {
  result: T | undefined;
  error: unknown;
  logs: Array<Record<string, unknown>>;
  /** EMF metric documents (lines with an `_aws` key) */
  emf: Array<Record<string, unknown>>;
}

type HasConsole = { console: Console };

export async function capture<T>(fn: () => Promise<T>, targets: { logger: object; metrics: object }): Promise<Captured<T>> {
  const logs: Array<Record<string, unknown>> = [];
  const emf: Array<Record<string, unknown>> = [];
  const other: string[] = [];
  let pending = "";
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb): void {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if ("_aws" in obj) emf.push(obj);
          else logs.push(obj);
        } catch {
          other.push(line);
        }
      }
      cb();
    },
  });
  const fake = new Console({ stdout: sink, stderr: sink });
  const saved = [targets.logger, targets.metrics].map((t) => [t, (t as HasConsole).console] as const);
  for (const [t] of saved) (t as HasConsole).console = fake;
  let result: T | undefined;
  let error: unknown;
  try {
    result = await fn();
  } catch (e) {
    error = e;
  } finally {
    for (const [t, c] of saved) (t as HasConsole).console = c;
  }
  await new Promise<void>((r) => setImmediate(r));
  return { result, error, logs, emf };
}

/** Sums a metric over EMF documents (Powertools may write a value or an array of values). */
export function metricSum(emf: Array<Record<string, unknown>>, name: string): number {
  let n = 0;
  for (const d of emf) {
    const v = d[name];
    if (typeof v === "number") n += v;
    else if (Array.isArray(v)) n += v.reduce((a: number, x) => a + Number(x), 0);
  }
  return n;
}
