// What one DataAggregator run computes and defers (R-FN-5, R-PERF-1): src/core/coalesce.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_DEFER_MS, MAX_DELAY_SECONDS, type NamedWindow, namedWindowProblem, plan, SETTLE_MS, unitRange } from "../src/core/coalesce.ts";

const T = 1_700_000_100_000 - (1_700_000_100_000 % 300_000);
const SIZE = { "1m": 60_000, "5m": 300_000 } as const;

const windowArb: fc.Arbitrary<NamedWindow> = fc.oneof(
  fc.record({ symbol: fc.constantFrom("A", "B"), start: fc.integer({ min: 0, max: 40 }).map((k) => T + k * 60_000), interval: fc.constant("1m" as const) }),
  fc.record({ symbol: fc.constantFrom("A", "B"), start: fc.integer({ min: 0, max: 8 }).map((k) => T + k * 300_000), interval: fc.constant("5m" as const) }),
);

describe("coalesce.plan", () => {
  it("property (R-PERF-1): every named window (and the 5m window of a due minute) is computed once if due, else deferred until it is", () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 60 }), fc.integer({ min: T - 100_000, max: T + 3_000_000 }), (named, now) => {
        const p = plan([...named, ...named], now); // duplicates collapse
        const due = (start: number, size: number) => start + size + SETTLE_MS <= now || start + size - now > MAX_DEFER_MS;
        const computed = new Set<string>();
        const units = new Set<string>();
        for (const u of p.compute) {
          const k = `${u.symbol}|${u.start5m}`;
          assert.ok(!units.has(k), "one unit per (symbol, 5m window)");
          units.add(k);
          for (const m of u.minutes) {
            assert.ok(due(m, SIZE["1m"]), "only due minutes are computed");
            computed.add(`${u.symbol}|1m|${m}`);
          }
          if (u.with5m) {
            assert.ok(due(u.start5m, SIZE["5m"]), "only a due 5m window is computed");
            computed.add(`${u.symbol}|5m|${u.start5m}`);
          }
          const r = unitRange(u);
          for (const m of u.minutes) assert.ok(r.from <= m && m + 60_000 <= r.to, "the read covers the minutes");
          if (u.with5m) assert.deepEqual(r, { from: u.start5m, to: u.start5m + 300_000 });
        }
        const deferred = new Map<string, number>();
        for (const d of p.defer) {
          assert.ok(d.delaySeconds >= 1 && d.delaySeconds <= MAX_DELAY_SECONDS);
          for (const w of d.windows) {
            const k = `${w.symbol}|${w.interval}|${w.start}`;
            assert.ok(!deferred.has(k), "deferred once");
            deferred.set(k, d.delaySeconds);
            assert.ok(!due(w.start, SIZE[w.interval]), "only open windows are deferred");
            assert.ok(now + d.delaySeconds * 1000 >= w.start + SIZE[w.interval] + SETTLE_MS, "it comes back once closed");
          }
        }
        for (const w of named) {
          const k = `${w.symbol}|${w.interval}|${w.start}`;
          assert.ok(computed.has(k) !== deferred.has(k), `${k} is computed or deferred, not both, not neither`);
          if (w.interval === "1m" && computed.has(k)) {
            const k5 = `${w.symbol}|5m|${w.start - (w.start % 300_000)}`;
            assert.ok(computed.has(k5) !== deferred.has(k5), "a due minute's 5m window is handled too");
          }
        }
      }),
    );
  });

  it("validates named windows", () => {
    assert.equal(namedWindowProblem({ symbol: "A", start: T, interval: "5m" }), null);
    assert.match(String(namedWindowProblem({ symbol: "A", start: T + 60_000, interval: "5m" })), /not a multiple of 300000/);
    assert.match(String(namedWindowProblem({ symbol: "A", start: T, interval: "1h" })), /not "1m" or "5m"/);
    assert.match(String(namedWindowProblem({ symbol: "a", start: T })), /symbol/);
  });
});
