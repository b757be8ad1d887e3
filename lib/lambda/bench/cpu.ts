/**
 * CPU throughput of the handler cores (issue 6, part 1), ticks per second on one core, beside a bare baseline
 * measured in the same process on the same bytes:
 *
 * - ingestion: the exact core path of DataIngestion's S3 branch without I/O: bytes in 64 KiB chunks (as an S3 stream
 *   delivers them; gzip through a streaming gunzip as the handler does) -> core/ingest.ts FileTicks, the handler's
 *   own parse -> validate -> pack step (AutoParser with the fast lanes, validateTick, MessagePacker, BatchGrouper).
 *   Baseline: the same bytes through `toString().split("\n")` +
 *   `JSON.parse` per line (JSON Lines) or + `split(",")` per line (CSV); gzip inputs add `gunzipSync`.
 * - aggregation: DataAggregator's recompute loop over items shaped as a DynamoDB Query returns them
 *   (`timestamp`/`price`/`volume` as N strings, sorted by key, grouped by symbol and 5-minute window):
 *   decodeTickKey -> WindowAccumulator for the 1m windows and the 5m window (exact sums). Baseline: the same items
 *   folded with plain `Number()` conversions and naive float sums.
 *
 * Every run checks its own result (all ticks accepted, as many messages as expected; aggregates equal to the
 * baseline's) so a broken code path cannot produce a fast number. Output: one JSON object on stdout.
 *
 * Usage: node cpu.mjs [--ticks 1000000] [--agg-ticks 1000000] [--runs 3] [--warmup 1]
 */
import { Readable } from "node:stream";
import { createGunzip, gunzipSync, gzipSync } from "node:zlib";
import { WindowAccumulator } from "../src/core/aggregate.ts";
import { formatFromKey } from "../src/core/formats.ts";
import { FileTicks } from "../src/core/ingest.ts";
import { decodeTickKey, tickKey } from "../src/core/keys.ts";
import type { Tick } from "../src/core/types.ts";
import { FIVE_MINUTES, minuteStart } from "../src/core/windows.ts";
import { makeTicks, toCsv, toJsonl } from "./data.ts";

const CHUNK = 65_536;

/** Parsed command-line options. */
export interface CpuOptions {
  ticks: number;
  aggTicks: number;
  runs: number;
  warmup: number;
}

export function parseArgs(argv: readonly string[]): CpuOptions {
  const o: CpuOptions = { ticks: 1_000_000, aggTicks: 1_000_000, runs: 3, warmup: 1 };
  const names: Record<string, keyof CpuOptions> = { "--ticks": "ticks", "--agg-ticks": "aggTicks", "--runs": "runs", "--warmup": "warmup" };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i] as string;
    const key = names[name];
    const v = Number(argv[i + 1]);
    if (key === undefined) throw new Error(`unknown option ${name}; allowed: ${Object.keys(names).join(", ")}`);
    const min = key === "warmup" ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${String(argv[i + 1])}`);
    o[key] = v;
  }
  return o;
}

interface IngestResult {
  accepted: number;
  rejected: number;
  messages: number;
  batches: number;
}

/** The ingestion core over one object's bytes (already decompressed chunks): DataIngestion's own FileTicks. */
class IngestCore {
  readonly r: IngestResult = { accepted: 0, rejected: 0, messages: 0, batches: 0 };
  private readonly ticks: FileTicks;

  constructor(key: string) {
    const r = this.r;
    this.ticks = new FileTicks("s3://bench/incoming/ticks", formatFromKey(key), {
      add: (_line, _reason, _raw, _extra, count = 1) => {
        r.rejected += count;
      },
    });
  }

  /** Counts (and drops) the batches ready, as the handler sends them after each chunk. */
  private take(): void {
    for (const b of this.ticks.takeBatches()) {
      this.r.batches++;
      this.r.messages += b.length;
    }
  }

  push(chunk: Uint8Array): void {
    this.ticks.push(chunk);
    this.take();
  }

  end(): IngestResult {
    this.ticks.end();
    this.take();
    this.r.accepted = this.ticks.accepted;
    return this.r;
  }
}

function ingestPlain(bytes: Buffer, key: string): IngestResult {
  const core = new IngestCore(key);
  for (let i = 0; i < bytes.length; i += CHUNK) core.push(bytes.subarray(i, i + CHUNK));
  return core.end();
}

async function ingestGzip(gz: Buffer, key: string): Promise<IngestResult> {
  const core = new IngestCore(key);
  const chunks: Buffer[] = [];
  for (let i = 0; i < gz.length; i += CHUNK) chunks.push(gz.subarray(i, i + CHUNK));
  const stream = Readable.from(chunks, { objectMode: false }).pipe(createGunzip());
  for await (const c of stream) core.push(c as Buffer);
  return core.end();
}

/** Bare baseline: split lines + JSON.parse (jsonl) or split lines + split(",") (csv). Returns records seen. */
function baseline(text: string, csv: boolean): number {
  const lines = text.split("\n");
  let n = 0;
  let check = 0;
  if (csv) {
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      if (l.length === 0) continue;
      check += l.split(",").length;
      n++;
    }
  } else {
    for (const l of lines) {
      if (l.length === 0) continue;
      const v = JSON.parse(l) as { price: number };
      check += v.price > 0 ? 1 : 0;
      n++;
    }
  }
  if (check === 0 && n > 0) throw new Error("baseline check failed");
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Wall time and CPU time (user + system, all threads of the process) of one call, in ms. */
async function timeIt(fn: () => unknown | Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/**
 * Per-implementation measurement. `ticksPerSec` is per core: ticks / median CPU time of the process (user + system),
 * which a busy machine disturbs far less than wall time; `wallTicksPerSec` is the same from the median wall time.
 */
export interface Measured {
  cpuMs: number[];
  wallMs: number[];
  medianCpuMs: number;
  ticksPerSec: number;
  wallTicksPerSec: number;
}

function measured(runs: Array<{ wall: number; cpu: number }>, ticks: number): Measured {
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  const cpu = median(runs.map((r) => r.cpu));
  const wall = median(runs.map((r) => r.wall));
  return {
    cpuMs: runs.map((r) => r1(r.cpu)),
    wallMs: runs.map((r) => r1(r.wall)),
    medianCpuMs: r1(cpu),
    ticksPerSec: Math.round(ticks / (Math.max(cpu, 0.001) / 1000)),
    wallTicksPerSec: Math.round(ticks / (Math.max(wall, 0.001) / 1000)),
  };
}

/** Runs `ours` and `base` alternately (warmup excluded) and returns both measurements and ours/base. */
async function pair(
  ticks: number,
  opts: CpuOptions,
  ours: () => unknown | Promise<unknown>,
  base: () => unknown | Promise<unknown>,
): Promise<{ ours: Measured; baseline: Measured; ratio: number }> {
  const a: Array<{ wall: number; cpu: number }> = [];
  const b: Array<{ wall: number; cpu: number }> = [];
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    const ta = await timeIt(ours);
    const tb = await timeIt(base);
    if (i >= opts.warmup) {
      a.push(ta);
      b.push(tb);
    }
  }
  const mo = measured(a, ticks);
  const mb = measured(b, ticks);
  return { ours: mo, baseline: mb, ratio: Math.round((mo.ticksPerSec / mb.ticksPerSec) * 1000) / 1000 };
}

function expectIngest(r: IngestResult, n: number, what: string): void {
  if (r.accepted !== n || r.rejected !== 0 || r.messages < Math.ceil(n / 500) || r.batches < Math.ceil(r.messages / 10)) {
    throw new Error(`${what}: unexpected ingestion result ${JSON.stringify(r)} for ${n} ticks`);
  }
}

interface DdbItem {
  timestamp: { N: string };
  price: { N: string };
  volume: { N: string };
}

interface Group {
  symbol: string;
  start5m: number;
  items: DdbItem[];
}

/** Items as a strongly consistent Query per (symbol, 5m window) returns them: sorted by key. */
function makeGroups(ticks: readonly Tick[]): Group[] {
  const keyed = ticks.map((t) => ({ t, key: tickKey(t), k: decodeTickKey(tickKey(t)) }));
  keyed.sort((x, y) => (x.t.symbol < y.t.symbol ? -1 : x.t.symbol > y.t.symbol ? 1 : x.k.ts - y.k.ts || (x.k.disc < y.k.disc ? -1 : 1)));
  const groups = new Map<string, Group>();
  for (const { t, key } of keyed) {
    const start5m = t.ts - (t.ts % FIVE_MINUTES);
    const id = `${t.symbol}|${start5m}`;
    let g = groups.get(id);
    if (!g) {
      g = { symbol: t.symbol, start5m, items: [] };
      groups.set(id, g);
    }
    g.items.push({ timestamp: { N: key }, price: { N: String(t.price) }, volume: { N: String(t.volume) } });
  }
  return [...groups.values()];
}

/** Summary of one aggregation pass, used to check ours against the baseline. */
interface AggSummary {
  windows: number;
  trades: number;
  volume: number;
  highSum: number;
}

function aggregateOurs(groups: readonly Group[]): AggSummary {
  const s: AggSummary = { windows: 0, trades: 0, volume: 0, highSum: 0 };
  for (const g of groups) {
    const acc5 = new WindowAccumulator(g.symbol, "5m", g.start5m);
    const acc1 = new Map<number, WindowAccumulator>();
    for (const item of g.items) {
      const key = decodeTickKey(item.timestamp.N);
      const t = { key, price: Number(item.price.N), volume: Number(item.volume.N) };
      acc5.add(t);
      const m = minuteStart(key.ts);
      let a = acc1.get(m);
      if (!a) {
        a = new WindowAccumulator(g.symbol, "1m", m);
        acc1.set(m, a);
      }
      a.add(t);
    }
    for (const a of [...acc1.values(), acc5]) {
      const r = a.result();
      if (!r) continue;
      s.windows++;
      s.trades += r.trades;
      s.volume += r.volume;
      s.highSum += r.high;
    }
  }
  return s;
}

interface PlainWin {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  pv: number;
  trades: number;
}

function aggregateBaseline(groups: readonly Group[]): AggSummary {
  const s: AggSummary = { windows: 0, trades: 0, volume: 0, highSum: 0 };
  const fold = (w: PlainWin | undefined, price: number, volume: number): PlainWin => {
    if (!w) return { open: price, high: price, low: price, close: price, volume, pv: price * volume, trades: 1 };
    if (price > w.high) w.high = price;
    if (price < w.low) w.low = price;
    w.close = price;
    w.volume += volume;
    w.pv += price * volume;
    w.trades++;
    return w;
  };
  for (const g of groups) {
    let w5: PlainWin | undefined;
    const w1 = new Map<number, PlainWin>();
    for (const item of g.items) {
      const ts = Math.trunc(Number(item.timestamp.N));
      const price = Number(item.price.N);
      const volume = Number(item.volume.N);
      w5 = fold(w5, price, volume);
      const m = ts - (ts % 60_000);
      w1.set(m, fold(w1.get(m), price, volume));
    }
    for (const w of [...w1.values(), ...(w5 ? [w5] : [])]) {
      s.windows++;
      s.trades += w.trades;
      s.volume += w.volume;
      s.highSum += w.high;
      if (w.volume > 0 && !(w.pv / w.volume > 0)) throw new Error("baseline vwap check failed");
    }
  }
  return s;
}

function sameSummary(a: AggSummary, b: AggSummary): boolean {
  const close = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  return a.windows === b.windows && a.trades === b.trades && close(a.volume, b.volume) && close(a.highSum, b.highSum);
}

/** Runs the whole CPU benchmark and returns the result object (also printed by the CLI). */
export async function runCpuBench(opts: CpuOptions): Promise<Record<string, unknown>> {
  const ticks = makeTicks(opts.ticks);
  const csv = toCsv(ticks);
  const jsonl = toJsonl(ticks);
  const inputs = {
    csv: { key: "incoming/t.csv", bytes: csv, gzip: false },
    jsonl: { key: "incoming/t.jsonl", bytes: jsonl, gzip: false },
    "csv.gz": { key: "incoming/t.csv.gz", bytes: gzipSync(csv), gzip: true },
    "jsonl.gz": { key: "incoming/t.jsonl.gz", bytes: gzipSync(jsonl), gzip: true },
  };
  const ingestion: Record<string, unknown> = {};
  for (const [name, inp] of Object.entries(inputs)) {
    const isCsv = name.startsWith("csv");
    const n = opts.ticks;
    const ours = inp.gzip
      ? async () => expectIngest(await ingestGzip(inp.bytes, inp.key), n, name)
      : () => expectIngest(ingestPlain(inp.bytes, inp.key), n, name);
    const base = (): void => {
      const text = (inp.gzip ? gunzipSync(inp.bytes) : inp.bytes).toString("utf8");
      const seen = baseline(text, isCsv);
      if (seen !== n) throw new Error(`${name} baseline saw ${seen} records, expected ${n}`);
    };
    const r = await pair(n, opts, ours, base);
    ingestion[name] = { bytes: inp.bytes.length, ...r };
  }
  const aggTicks = opts.aggTicks === opts.ticks ? ticks : makeTicks(opts.aggTicks, 9);
  const groups = makeGroups(aggTicks);
  const so = aggregateOurs(groups);
  const sb = aggregateBaseline(groups);
  if (so.trades !== 2 * opts.aggTicks || !sameSummary(so, sb)) {
    throw new Error(`aggregation check failed: ours ${JSON.stringify(so)} baseline ${JSON.stringify(sb)}`);
  }
  const agg = await pair(opts.aggTicks, opts, () => aggregateOurs(groups), () => aggregateBaseline(groups));
  return {
    node: process.version,
    ticks: opts.ticks,
    runs: opts.runs,
    warmup: opts.warmup,
    ingestion,
    aggregation: { ticks: opts.aggTicks, groups5m: groups.length, windows: so.windows, ...agg },
  };
}

const isMain = process.argv[1] !== undefined && /cpu\.(mjs|ts|js)$/.test(process.argv[1]);
if (isMain) {
  const opts = parseArgs(process.argv.slice(2));
  runCpuBench(opts).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`cpu bench failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
