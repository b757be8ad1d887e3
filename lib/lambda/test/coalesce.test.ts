// What one DataAggregator run computes and defers (R-FN-5, R-PERF-1): src/core/coalesce.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  continuationDeferrals,
  DeferralLedger,
  MAX_DEFER_MS,
  MAX_WINDOWS_PER_DEFERRAL,
  MAX_DELAY_SECONDS,
  type NamedWindow,
  namedWindowKey,
  namedWindowProblem,
  plan,
  SETTLE_MS,
  unitRange,
} from "../src/core/coalesce.ts";

const T = 1_700_000_100_000 - (1_700_000_100_000 % 300_000);
const SIZE = { "1m": 60_000, "5m": 300_000 } as const;

const windowArb: fc.Arbitrary<NamedWindow> = fc.oneof(
  fc.record({ symbol: fc.constantFrom("A", "B"), start: fc.integer({ min: 0, max: 40 }).map((k) => T + k * 60_000), interval: fc.constant("1m" as const) }),
  fc.record({ symbol: fc.constantFrom("A", "B"), start: fc.integer({ min: 0, max: 8 }).map((k) => T + k * 300_000), interval: fc.constant("5m" as const) }),
);

describe("coalesce.plan", () => {
  it("property (R-PERF-1): every named window's (symbol, 5m) group is computed once if its 5m window has closed, else deferred once as that 5m window until it has", () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 60 }), fc.integer({ min: T - 100_000, max: T + 3_000_000 }), (named, now) => {
        const p = plan([...named, ...named], now); // duplicates collapse
        const closed = (start5m: number) => start5m + SIZE["5m"] + SETTLE_MS <= now || start5m + SIZE["5m"] - now > MAX_DEFER_MS;
        const computed = new Set<string>();
        for (const u of p.compute) {
          const k = `${u.symbol}|${u.start5m}`;
          assert.ok(!computed.has(k), "one unit per (symbol, 5m window)");
          computed.add(k);
          assert.ok(closed(u.start5m), "only a closed group is computed");
          assert.deepEqual(unitRange(u), { from: u.start5m, to: u.start5m + 300_000 }, "the read covers the whole 5m window");
        }
        const deferred = new Map<string, number>();
        for (const d of p.defer) {
          assert.ok(d.delaySeconds >= 1 && d.delaySeconds <= MAX_DELAY_SECONDS);
          for (const w of d.windows) {
            assert.equal(w.interval, "5m", "a group is deferred as its 5m window");
            const k = `${w.symbol}|${w.start}`;
            assert.ok(!deferred.has(k), "deferred once");
            deferred.set(k, d.delaySeconds);
            assert.ok(!closed(w.start), "only open groups are deferred");
            assert.ok(now + d.delaySeconds * 1000 >= w.start + SIZE["5m"] + SETTLE_MS, "it comes back once closed");
          }
        }
        for (const w of named) {
          const k = `${w.symbol}|${w.start - (w.start % 300_000)}`;
          assert.ok(computed.has(k) !== deferred.has(k), `${k} is computed or deferred, not both, not neither`);
        }
        assert.equal(computed.size + deferred.size, new Set(named.map((w) => `${w.symbol}|${w.start - (w.start % 300_000)}`)).size, "nothing else");
      }),
    );
  });

  it("property: a continuation names each unit once as its 5m window, due at once, at most MAX_WINDOWS_PER_DEFERRAL per message; planned after the units were due, it computes exactly them", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ symbol: fc.constantFrom("A", "B", "C"), k: fc.integer({ min: 0, max: 2_000 }) }), { selector: (u) => `${u.symbol}|${u.k}`, maxLength: 300 }),
        fc.integer({ min: 1, max: 7 }),
        (picked, chunk) => {
          const units = picked.map((u) => ({ symbol: u.symbol, start5m: T + u.k * 300_000 }));
          const max = MAX_WINDOWS_PER_DEFERRAL;
          const ds = continuationDeferrals(units);
          assert.equal(ds.length, Math.ceil(units.length / max));
          assert.ok(ds.every((d) => d.delaySeconds === 0 && d.windows.length <= max && d.windows.length > 0));
          const named = ds.flatMap((d) => d.windows);
          assert.deepEqual(named, units.map((u) => ({ symbol: u.symbol, start: u.start5m, interval: "5m" })));
          assert.ok(named.every((w) => namedWindowProblem(w) === null));
          // when it comes back, every group has closed (they were computed, so they were due): all computed, none deferred
          const now = T + 2_001 * 300_000 + SETTLE_MS;
          const p = plan(named.slice(0, chunk * 50), now);
          assert.deepEqual(p.defer, []);
          const key = (u: { symbol: string; start5m: number }): string => `${u.symbol}|${u.start5m}`;
          assert.deepEqual(p.compute.map(key).sort(), units.slice(0, chunk * 50).map(key).sort());
        },
      ),
    );
    // chunking at the limit
    const many = Array.from({ length: MAX_WINDOWS_PER_DEFERRAL + 1 }, (_, i) => ({ symbol: "A", start5m: T + i * 300_000 }));
    assert.deepEqual(continuationDeferrals(many).map((d) => d.windows.length), [MAX_WINDOWS_PER_DEFERRAL, 1]);
  });

  it("validates named windows", () => {
    assert.equal(namedWindowProblem({ symbol: "A", start: T, interval: "5m" }), null);
    assert.match(String(namedWindowProblem({ symbol: "A", start: T + 60_000, interval: "5m" })), /not a multiple of 300000/);
    assert.match(String(namedWindowProblem({ symbol: "A", start: T, interval: "1h" })), /not "1m" or "5m"/);
    assert.match(String(namedWindowProblem({ symbol: "a", start: T })), /symbol/);
  });
});

describe("coalesce.DeferralLedger (R-PERF-1: a container defers an open window once)", () => {
  const w = (symbol: string, start: number, interval: "1m" | "5m" = "1m"): NamedWindow => ({ symbol, start, interval });

  it("a window deferred here is left out until its deferral comes due, then handled again", () => {
    const l = new DeferralLedger();
    const now = T + 10_000;
    const p1 = plan([w("A", T)], now);
    assert.equal(l.unsent(p1.defer, now).skipped, 0, "nothing remembered yet");
    const d = p1.defer[0]!;
    assert.deepEqual(d.windows.map(namedWindowKey), [`A|5m|${T}`], "a minute's group is deferred as its 5m window");
    l.remember(d.windows, now, d.delaySeconds);
    const dueAt = now + d.delaySeconds * 1000;
    const later = plan([w("A", T + 60_000), w("B", T)], now + 20_000);
    const u = l.unsent(later.defer, now + 20_000);
    assert.deepEqual(u.send.flatMap((x) => x.windows.map(namedWindowKey)), [`B|5m|${T}`]);
    assert.equal(u.skipped, 1, "A's group (another of its minutes): deferred here already");
    assert.equal(l.pending(w("A", T, "5m"), dueAt - 1), true);
    assert.equal(l.pending(w("A", T, "5m"), dueAt), false, "due: forgotten");
    assert.equal(l.size(dueAt), 0);
  });

  it("keeps the deferral coming due LAST, and stops remembering at its capacity (it then just sends)", () => {
    const l = new DeferralLedger(2);
    l.remember([w("A", T)], T, 100);
    l.remember([w("A", T)], T, 50); // an earlier-due one does not shorten the cover
    assert.equal(l.pending(w("A", T), T + 99_999), true);
    l.remember([w("B", T), w("C", T)], T, 100);
    assert.equal(l.size(T), 2, "capacity 2");
    assert.equal(l.pending(w("C", T), T), false);
    const p = plan([w("C", T)], T + 1000);
    assert.equal(l.unsent(p.defer, T + 1000).skipped, 0, "not remembered: sent again");
  });

  it("property: unsent leaves out exactly the windows with a remembered deferral not yet due, and nothing else", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ windows: fc.array(windowArb, { minLength: 1, maxLength: 5 }), at: fc.integer({ min: 0, max: 600 }), delay: fc.integer({ min: 1, max: 900 }) }), { maxLength: 20 }),
        fc.array(windowArb, { maxLength: 30 }),
        fc.integer({ min: 0, max: 1_000 }),
        (sends, named, nowS) => {
          const l = new DeferralLedger();
          const due = new Map<string, number>();
          for (const s of [...sends].sort((a, b) => a.at - b.at)) {
            l.remember(s.windows, T + s.at * 1000, s.delay);
            for (const x of s.windows) due.set(namedWindowKey(x), Math.max(due.get(namedWindowKey(x)) ?? 0, T + (s.at + s.delay) * 1000));
          }
          const now = T + (Math.max(0, ...sends.map((x) => x.at)) + nowS) * 1000; // a container's clock goes forward
          const p = plan(named, now);
          const u = l.unsent(p.defer, now);
          const sent = new Set(u.send.flatMap((d) => d.windows.map(namedWindowKey)));
          for (const d of p.defer) {
            for (const x of d.windows) {
              const k = namedWindowKey(x);
              const covered = (due.get(k) ?? 0) > now;
              assert.equal(sent.has(k), !covered, `${k}: sent iff no pending deferral here`);
            }
          }
          assert.equal(u.skipped, p.defer.reduce((n, d) => n + d.windows.length, 0) - sent.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
