/**
 * Window maths for the 1-minute and 5-minute aggregates (R-DATA-5). Pure: no I/O, no AWS SDK.
 *
 * Windows are half-open, aligned to the epoch: a 1m window is `[k*60000, (k+1)*60000)`, a 5m window
 * `[k*300000, (k+1)*300000)`. Every 1m window lies in exactly one 5m window. A "dirty pair" is
 * `(symbol, 1m window start)`; it is written `SYMBOL|start` in `#DIRTY` markers (docs/design.md).
 */
import { SYMBOL_RE, SYMBOL_RULE } from "./tick.ts";
import { INTERVALS, type Interval, type WindowRef } from "./types.ts";

export const ONE_MINUTE = INTERVALS["1m"];
export const FIVE_MINUTES = INTERVALS["5m"];

/** Start of the window of `size` ms containing `ts` (ts >= 0). */
export function windowStart(ts: number, size: number): number {
  if (!Number.isSafeInteger(ts) || ts < 0) throw new RangeError(`timestamp ${String(ts)} is not a non-negative integer`);
  return ts - (ts % size);
}

/** Start of the 1m window containing `ts`. */
export function minuteStart(ts: number): number {
  return windowStart(ts, ONE_MINUTE);
}

/** Start of the 5m window containing `ts` (or containing the 1m window starting at `ts`). */
export function fiveMinuteStart(ts: number): number {
  return windowStart(ts, FIVE_MINUTES);
}

/** Start of the `interval` window containing `ts`. */
export function intervalStart(ts: number, interval: Interval): number {
  return windowStart(ts, INTERVALS[interval]);
}

/** The five 1m window starts inside the 5m window starting at `start5m`. */
export function minutesOf(start5m: number): number[] {
  if (start5m % FIVE_MINUTES !== 0) throw new RangeError(`${start5m} is not a 5-minute window start`);
  return [0, 1, 2, 3, 4].map((i) => start5m + i * ONE_MINUTE);
}

/** Encodes a dirty pair as `SYMBOL|start` (the `#DIRTY` marker format). */
export function encodePair(w: WindowRef): string {
  return `${w.symbol}|${w.start}`;
}

/** Validates a window reference (symbol syntax, 1m-aligned non-negative start); returns a reason or null. */
export function windowRefProblem(w: unknown): string | null {
  if (typeof w !== "object" || w === null) return "window is not an object";
  const { symbol, start } = w as { symbol?: unknown; start?: unknown };
  if (typeof symbol !== "string" || !SYMBOL_RE.test(symbol)) {
    return `window symbol ${JSON.stringify(symbol)} is not ${SYMBOL_RULE}`;
  }
  if (typeof start !== "number" || !Number.isSafeInteger(start) || start < 0 || start % ONE_MINUTE !== 0) {
    return `window start ${JSON.stringify(start)} is not a non-negative multiple of ${ONE_MINUTE} ms`;
  }
  return null;
}

/** Decodes `SYMBOL|start`; throws RangeError naming the value when malformed. */
export function decodePair(s: string): WindowRef {
  const i = s.lastIndexOf("|");
  const w = { symbol: s.slice(0, i), start: /^\d{1,16}$/.test(s.slice(i + 1)) ? Number(s.slice(i + 1)) : Number.NaN };
  const problem = i < 0 ? "missing '|'" : windowRefProblem(w);
  if (problem) throw new RangeError(`dirty pair "${s}" is malformed: ${problem}`);
  return w;
}

/**
 * The distinct (symbol, 1m start) pairs touched by ticks, sorted by symbol then start, with the number of ticks
 * per pair.
 */
export function dirtyPairs(ticks: Iterable<{ symbol: string; ts: number }>): Array<WindowRef & { ticks: number }> {
  const m = new Map<string, WindowRef & { ticks: number }>();
  for (const t of ticks) {
    const start = minuteStart(t.ts);
    const k = `${t.symbol}|${start}`;
    const cur = m.get(k);
    if (cur) cur.ticks++;
    else m.set(k, { symbol: t.symbol, start, ticks: 1 });
  }
  return [...m.values()].sort(compareWindowRefs);
}

/** Orders window references by symbol, then start. */
export function compareWindowRefs(a: WindowRef, b: WindowRef): number {
  if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
  return a.start - b.start;
}
