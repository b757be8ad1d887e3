/**
 * OHLCV / VWAP / trade count of one window from its ticks (R-DATA-5). Pure: no I/O, no AWS SDK.
 *
 * The result depends only on the SET of stored ticks, never on the order they are fed in:
 * - open / close are the prices of the ticks with the smallest / largest sort key (timestamp, then discriminator:
 *   ties inside one millisecond are broken deterministically by the key, exactly as DynamoDB orders them);
 * - high / low are max / min (order-free);
 * - volume and sum(price*volume) are summed EXACTLY (Shewchuk's algorithm, as Python's math.fsum) and rounded once,
 *   so floating-point addition order cannot change a bit of the result;
 * - vwap = sum(price*volume) / sum(volume), null when the volume is 0.
 * Duplicates are removed before this point by the storage layer (the same tick has the same key, so it is one item);
 * the accumulator itself therefore counts every tick it is given.
 */
import { compareTickKeys, type TickKey } from "./keys.ts";
import { dynamoNumberProblem } from "./tick.ts";
import { INTERVALS, type Interval } from "./types.ts";

/** A tick as read back from the table: its decoded key plus price and volume. */
export interface StoredTick {
  key: TickKey;
  price: number;
  volume: number;
}

/** The aggregate of one symbol's window (attribute names as stored, docs/design.md). */
export interface Aggregate {
  symbol: string;
  interval: Interval;
  windowStart: number;
  windowEnd: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap: number | null;
  trades: number;
}

/** Exactly rounded floating-point sum, independent of the order of `add` calls (Shewchuk / Python fsum). */
export class ExactSum {
  private partials: number[] = [];

  /** Adds a finite number. */
  add(x: number): void {
    if (!Number.isFinite(x)) throw new RangeError(`cannot sum non-finite value ${x}`);
    const p = this.partials;
    let i = 0;
    for (let j = 0; j < p.length; j++) {
      let y = p[j] as number;
      if (Math.abs(x) < Math.abs(y)) {
        const t = x;
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) p[i++] = lo;
      x = hi;
    }
    p.length = i;
    p.push(x);
  }

  /** The correctly rounded value of the exact sum so far. */
  value(): number {
    const p = this.partials;
    let n = p.length;
    if (n === 0) return 0;
    let hi = p[--n] as number;
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = p[--n] as number;
      hi = x + y;
      const yr = hi - x;
      lo = y - yr;
      if (lo !== 0) break;
    }
    // Round half-even correction, as CPython's math.fsum does.
    if (n > 0 && ((lo < 0 && (p[n - 1] as number) < 0) || (lo > 0 && (p[n - 1] as number) > 0))) {
      const y = lo * 2;
      const x = hi + y;
      const yr = x - hi;
      if (y === yr) hi = x;
    }
    return hi;
  }
}

/** Folds ticks of one window, in any order, into an aggregate. */
export class WindowAccumulator {
  private first: StoredTick | null = null;
  private last: StoredTick | null = null;
  private high = -Infinity;
  private low = Infinity;
  private readonly vol = new ExactSum();
  private readonly pv = new ExactSum();
  /** number of ticks added */
  trades = 0;

  constructor(
    readonly symbol: string,
    readonly interval: Interval,
    readonly windowStart: number,
  ) {}

  /** Adds one stored tick (its key must lie in the window; the caller guarantees it). */
  add(t: StoredTick): void {
    if (this.first === null || compareTickKeys(t.key, this.first.key) < 0) this.first = t;
    if (this.last === null || compareTickKeys(t.key, this.last.key) > 0) this.last = t;
    if (t.price > this.high) this.high = t.price;
    if (t.price < this.low) this.low = t.price;
    this.vol.add(t.volume);
    this.pv.add(t.price * t.volume);
    this.trades++;
  }

  /** The aggregate, or null when no tick was added (no aggregate item is written for an empty window). */
  result(): Aggregate | null {
    if (this.first === null || this.last === null) return null;
    const volume = this.vol.value();
    return {
      symbol: this.symbol,
      interval: this.interval,
      windowStart: this.windowStart,
      windowEnd: this.windowStart + INTERVALS[this.interval],
      open: this.first.price,
      high: this.high,
      low: this.low,
      close: this.last.price,
      volume,
      vwap: volume > 0 ? this.pv.value() / volume : null,
      trades: this.trades,
    };
  }
}

/** Aggregates the ticks of one window (convenience over WindowAccumulator). */
export function aggregate(
  symbol: string,
  interval: Interval,
  windowStart: number,
  ticks: Iterable<StoredTick>,
): Aggregate | null {
  const acc = new WindowAccumulator(symbol, interval, windowStart);
  for (const t of ticks) acc.add(t);
  return acc.result();
}

/**
 * Why an aggregate cannot be stored in DynamoDB (a number outside its range), naming the field, or null. Ticks inside
 * the R-DATA-1 bounds never give one; ticks that reached the table another way can (issue 14).
 */
export function aggregateProblem(a: Aggregate): string | null {
  for (const f of ["open", "high", "low", "close", "volume", "vwap"] as const) {
    const v = a[f];
    if (v === null) continue;
    const p = dynamoNumberProblem(v);
    if (p) return `${f} ${p}`;
  }
  return null;
}
