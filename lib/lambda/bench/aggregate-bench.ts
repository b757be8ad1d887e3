/**
 * Throughput of the in-process aggregation path (R-DATA-5): N ticks (default 1,000,000) -> sort keys -> 1m and 5m
 * OHLCV/VWAP accumulators, as the aggregator folds Query pages. Run: `node --import tsx bench/aggregate-bench.ts [N]`.
 * Prints figures; asserts nothing about speed (benchmarks are not tests). Verifies the totals (trades, volume).
 */
import { WindowAccumulator, type StoredTick } from "../src/core/aggregate.ts";
import { decodeTickKey, tickKey } from "../src/core/keys.ts";
import type { Tick } from "../src/core/types.ts";
import { fiveMinuteStart, minuteStart } from "../src/core/windows.ts";

const n = Number(process.argv[2] ?? 1_000_000);
const symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "BRK.B", "JPM", "^GSPC"];
const T0 = 1_700_000_000_000;
let seed = 42;
const rnd = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const ticks: Tick[] = new Array(n);
for (let i = 0; i < n; i++) {
  ticks[i] = { symbol: symbols[i % symbols.length] as string, ts: T0 + Math.floor((i / n) * 6.5 * 3_600_000), price: 100 + rnd() * 10, volume: Math.floor(rnd() * 1000) };
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;
let t0 = performance.now();
let c0 = process.cpuUsage();
const stored: Array<{ symbol: string; st: StoredTick }> = new Array(n);
for (let i = 0; i < n; i++) {
  const t = ticks[i] as Tick;
  stored[i] = { symbol: t.symbol, st: { key: decodeTickKey(tickKey(t)), price: t.price, volume: t.volume } };
}
const keyMs = performance.now() - t0;
const keyCpu = cpuMs(process.cpuUsage(c0));

// DynamoDB returns a (symbol, 5m) range sorted by key: order the input that way (not timed), then fold exactly as
// the aggregator's recomputeGroup does: one 5m accumulator and up to five 1m accumulators per group.
stored.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.st.key.ts - b.st.key.ts));
t0 = performance.now();
c0 = process.cpuUsage();
const results = [];
let i = 0;
while (i < stored.length) {
  const first = stored[i] as { symbol: string; st: StoredTick };
  const symbol = first.symbol;
  const f = fiveMinuteStart(first.st.key.ts);
  const a5 = new WindowAccumulator(symbol, "5m", f);
  const a1 = [0, 1, 2, 3, 4].map((k) => new WindowAccumulator(symbol, "1m", f + k * 60_000));
  for (; i < stored.length; i++) {
    const s = stored[i] as { symbol: string; st: StoredTick };
    if (s.symbol !== symbol || s.st.key.ts >= f + 300_000) break;
    a5.add(s.st);
    (a1[(minuteStart(s.st.key.ts) - f) / 60_000] as WindowAccumulator).add(s.st);
  }
  results.push(a5.result(), ...a1.map((a) => a.result()));
}
let trades1 = 0;
let trades5 = 0;
let windows = 0;
for (const r of results) {
  if (!r) continue;
  windows++;
  if (r.interval === "1m") trades1 += r.trades;
  else trades5 += r.trades;
}
const aggMs = performance.now() - t0;
const aggCpu = cpuMs(process.cpuUsage(c0));
if (trades1 !== n || trades5 !== n) throw new Error(`lost ticks: ${trades1} / ${trades5} of ${n}`);
const rate = (ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString("en-US")} ticks/s`;
console.log(`node ${process.version}: ${n.toLocaleString("en-US")} ticks, ${symbols.length} symbols, ${windows} windows (1m+5m)`);
// Wall time suffers from other processes on a shared machine; CPU time of this process is the steadier figure.
console.log(`  sort keys (sha256 discriminator + decode): wall ${keyMs.toFixed(0)} ms = ${rate(keyMs)}; cpu ${keyCpu.toFixed(0)} ms = ${rate(keyCpu)}`);
console.log(`  aggregation into 1m and 5m windows:        wall ${aggMs.toFixed(0)} ms = ${rate(aggMs)}; cpu ${aggCpu.toFixed(0)} ms = ${rate(aggCpu)}`);
console.log(`  load average at the end: ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);
