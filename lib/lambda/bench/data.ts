/**
 * Deterministic market data for the benchmarks (issue 6): the same seed always gives the same bytes.
 * Ticks are random walks per symbol with an `exchange` extra field (as the demo data has), interleaved in time order.
 */
import type { Tick } from "../src/core/types.ts";

export const BENCH_SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "BRK.B", "AMZN", "GOOG", "META"] as const;
const EXCHANGES = ["XNAS", "XNYS", "ARCX", "BATS"] as const;
/** 2025-11-24T14:30:00Z: a fixed market-hours start. */
export const BENCH_START_MS = 1_763_994_600_000;

/** A small, fast, seedable PRNG (mulberry32). Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `n` valid ticks, time-ordered across symbols, about 20 ms apart, prices on a cent grid. */
export function makeTicks(n: number, seed = 6): Tick[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`tick count must be a positive integer, got ${n}`);
  const rnd = prng(seed);
  const prices = BENCH_SYMBOLS.map((_, i) => 100 + 50 * i);
  const out: Tick[] = new Array(n);
  let ts = BENCH_START_MS;
  for (let i = 0; i < n; i++) {
    ts += 1 + Math.floor(rnd() * 40);
    const s = Math.floor(rnd() * BENCH_SYMBOLS.length);
    const p = Math.max(0.01, Math.round(((prices[s] as number) * (1 + (rnd() - 0.5) * 0.002)) * 100) / 100);
    prices[s] = p;
    out[i] = {
      symbol: BENCH_SYMBOLS[s] as string,
      ts,
      price: p,
      volume: 1 + Math.floor(rnd() * 1000),
      extra: { exchange: EXCHANGES[Math.floor(rnd() * EXCHANGES.length)] as string },
    };
  }
  return out;
}

/** CSV with a header row (`symbol,timestamp,price,volume,exchange`). */
export function toCsv(ticks: readonly Tick[]): Buffer {
  const lines = ["symbol,timestamp,price,volume,exchange"];
  for (const t of ticks) lines.push(`${t.symbol},${t.ts},${t.price},${t.volume},${String(t.extra?.exchange ?? "")}`);
  return Buffer.from(`${lines.join("\n")}\n`, "utf8");
}

/** JSON Lines: one input record per line (`timestamp` as epoch ms). */
export function toJsonl(ticks: readonly Tick[]): Buffer {
  const parts: string[] = [];
  for (const t of ticks) {
    parts.push(JSON.stringify({ symbol: t.symbol, timestamp: t.ts, price: t.price, volume: t.volume, ...t.extra }));
  }
  return Buffer.from(`${parts.join("\n")}\n`, "utf8");
}
