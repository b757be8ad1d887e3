/** SQS message packing (R-FN-3): size and entry limits, no tick lost or duplicated, determinism. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BatchGrouper, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MessagePacker, packTicks, tickJson } from "../src/core/pack.ts";
import { MAX_TICK_BYTES, validateTick } from "../src/core/tick.ts";
import { MAX_SQS_MESSAGE_BYTES, type Tick, type TickMessage } from "../src/core/types.ts";
import { sampleTick, tickArb } from "./helpers/ticks.ts";

function check(src: string, ticks: Tick[], batches: ReturnType<typeof packTicks>, maxTicks: number): void {
  const seen: Tick[] = [];
  for (const batch of batches) {
    assert.ok(batch.length >= 1 && batch.length <= MAX_BATCH_ENTRIES, `batch of ${batch.length} entries`);
    const total = batch.reduce((n, m) => n + Buffer.byteLength(m.body), 0);
    assert.ok(total <= MAX_BATCH_BYTES, `batch of ${total} bytes`);
    for (const m of batch) {
      const bytes = Buffer.byteLength(m.body, "utf8");
      assert.equal(m.bytes, bytes, "reported size is the real UTF-8 size");
      assert.ok(bytes <= MAX_SQS_MESSAGE_BYTES, `message of ${bytes} bytes`);
      const msg = JSON.parse(m.body) as TickMessage;
      assert.deepEqual(Object.keys(msg), ["v", "src", "ticks"]);
      assert.equal(msg.v, 1);
      assert.equal(msg.src, src);
      assert.ok(msg.ticks.length >= 1 && msg.ticks.length <= maxTicks);
      assert.equal(m.ticks, msg.ticks.length);
      seen.push(...msg.ticks);
    }
  }
  // same ticks, same order: nothing lost, nothing duplicated, content unchanged
  assert.deepEqual(seen, ticks);
}

describe("packTicks (SQS message <= 262,144 bytes, batch <= 10 entries and 262,144 bytes)", () => {
  it("R-FN-3 packs 20,000 ticks into messages of at most 500 ticks, batches within limits", () => {
    const ticks = Array.from({ length: 20_000 }, (_, i) => sampleTick(i, i % 2 ? "MSFT" : "AAPL"));
    const batches = packTicks("s3://b/incoming/x.csv", ticks);
    check("s3://b/incoming/x.csv", ticks, batches, 500);
    assert.equal(batches.flat().length, 40);
  });

  it("R-FN-3 large ticks fill messages by bytes (never over 262,144) and batches by bytes", () => {
    const pad = "x".repeat(60_000);
    const ticks = Array.from({ length: 30 }, (_, i) => ({ ...sampleTick(i), extra: { pad } }));
    const batches = packTicks("api:r1", ticks);
    check("api:r1", ticks, batches, 500);
    assert.ok(batches.flat().every((m) => m.ticks <= 4), "at most 4 ticks of ~60 KB per message");
  });

  it("multi-byte UTF-8 is measured in bytes, not characters", () => {
    const ticks = Array.from({ length: 40 }, (_, i) => ({ ...sampleTick(i), extra: { s: "€".repeat(15_000) } }));
    const batches = packTicks("api:€", ticks);
    check("api:€", ticks, batches, 500);
  });

  it("a tick that cannot fit in any message is an error, not a silent drop", () => {
    const p = new MessagePacker("api:x", { maxMessageBytes: 200 });
    assert.throws(() => p.add({ ...sampleTick(1), extra: { s: "y".repeat(300) } }), /does not fit in a message of at most 200 bytes/);
    assert.throws(() => new MessagePacker("x", { maxTicksPerMessage: 0 }), /maxTicksPerMessage must be >= 1/);
    assert.throws(() => new BatchGrouper().add({ body: "", bytes: MAX_BATCH_BYTES + 1, ticks: 1 }), /exceeds the batch limit/);
  });

  it("the largest valid tick fits in a message (validation bound < message bound)", () => {
    const big = validateTick({ symbol: "ABCDEFGHIJKL", timestamp: 1, price: 1, volume: 1, s: "z".repeat(MAX_TICK_BYTES - 120) });
    assert.ok(big.ok);
    check("s3://" + "b".repeat(63) + "/" + "k".repeat(1024), [big.tick], packTicks("s3://" + "b".repeat(63) + "/" + "k".repeat(1024), [big.tick]), 500);
  });

  it("R-EVB-3 packing is deterministic: the same ticks give the same bodies (idempotent redelivery)", () => {
    const ticks = Array.from({ length: 1234 }, (_, i) => sampleTick(i));
    assert.deepEqual(packTicks("s", ticks), packTicks("s", ticks));
  });

  it("R-FN-3 property: never over the limits, loses and duplicates no tick (count and content)", () => {
    const bigTick = fc.record({ n: fc.integer({ min: 0, max: 70_000 }), t: tickArb }).map(({ n, t }) => ({ ...t, extra: { ...(t.extra ?? {}), pad: "p".repeat(n) } }));
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 5, arbitrary: tickArb }, { weight: 1, arbitrary: bigTick }), { maxLength: 120 }),
        fc.integer({ min: 1, max: 600 }),
        fc.string({ maxLength: 300 }),
        (ticks, maxTicks, src) => {
          check(src, ticks, packTicks(src, ticks, { maxTicksPerMessage: maxTicks }), maxTicks);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("tickJson is exactly JSON.stringify of the tick (fast path and fallback)", () => {
    fc.assert(
      fc.property(tickArb, (t) => {
        assert.equal(tickJson(t), JSON.stringify(t));
      }),
      { numRuns: 1000 },
    );
    const tricky = fc.string({ unit: fc.constantFrom("a", "Z", '"', "\\", "\n", "\u0000", "\u001f", "\u2028", "é", "😀", "\ud800", "/", " "), maxLength: 6 });
    const flat = fc.dictionary(tricky, fc.oneof(tricky, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)), { maxKeys: 4, noNullPrototype: true });
    fc.assert(
      fc.property(tickArb, flat, (t, extra) => {
        const x = { ...t, extra };
        assert.equal(tickJson(x), JSON.stringify(x));
      }),
      { numRuns: 2000 },
    );
    const odd = { symbol: 'A"b', ts: 1, price: Number.NaN, volume: 1 } as Tick;
    assert.equal(tickJson(odd), JSON.stringify(odd));
  });

  it("BatchGrouper property: groups of <= 10 entries and <= 262,144 bytes, order kept", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MAX_BATCH_BYTES }), { maxLength: 60 }), (sizes) => {
        const g = new BatchGrouper();
        const out: number[][] = [];
        for (const s of sizes) {
          const b = g.add({ body: "", bytes: s, ticks: 1 });
          if (b) out.push(b.map((m) => m.bytes));
        }
        const last = g.flush();
        if (last) out.push(last.map((m) => m.bytes));
        assert.deepEqual(out.flat(), sizes);
        for (const b of out) {
          assert.ok(b.length <= 10 && b.reduce((a, x) => a + x, 0) <= MAX_BATCH_BYTES);
        }
        // greedy: a batch is only closed when the next message would not fit
        for (let i = 0; i + 1 < out.length; i++) {
          const b = out[i]!;
          const next = out[i + 1]![0]!;
          assert.ok(b.length === 10 || b.reduce((a, x) => a + x, 0) + next > MAX_BATCH_BYTES);
        }
      }),
      { numRuns: 300 },
    );
  });
});
