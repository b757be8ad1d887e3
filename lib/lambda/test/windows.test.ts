// Window maths for the aggregates (R-DATA-5) and the dirty pairs of #DIRTY markers / TicksStored events (R-FN-5).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodePair,
  dirtyPairs,
  encodePair,
  fiveMinuteStart,
  intervalStart,
  minutesOf,
  minuteStart,
  windowRefProblem,
} from "../src/core/windows.ts";

describe("windows (R-DATA-5)", () => {
  it("R-DATA-5: 1m and 5m starts are epoch-aligned half-open windows", () => {
    assert.equal(minuteStart(1_700_000_040_000), 1_700_000_040_000);
    assert.equal(minuteStart(1_700_000_099_999), 1_700_000_040_000);
    assert.equal(minuteStart(1_700_000_100_000), 1_700_000_100_000);
    assert.equal(fiveMinuteStart(1_700_000_040_000), 1_699_999_800_000);
    assert.equal(intervalStart(299_999, "5m"), 0);
    assert.equal(intervalStart(300_000, "5m"), 300_000);
    assert.deepEqual(minutesOf(300_000), [300_000, 360_000, 420_000, 480_000, 540_000]);
    assert.throws(() => minutesOf(60_000), /not a 5-minute window start/);
    assert.throws(() => minuteStart(-1), /non-negative integer/);
  });

  it("property: every ts lies in its 1m window, which lies in its 5m window", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ts) => {
        const m = minuteStart(ts);
        const f = fiveMinuteStart(ts);
        assert.ok(m <= ts && ts < m + 60_000 && m % 60_000 === 0);
        assert.ok(f <= m && m + 60_000 <= f + 300_000 && f % 300_000 === 0);
        assert.equal(fiveMinuteStart(m), f);
        assert.ok(minutesOf(f).includes(m));
      }),
    );
  });

  it("dirty pairs are distinct (symbol, 1m start) with tick counts, in a deterministic order", () => {
    const pairs = dirtyPairs([
      { symbol: "MSFT", ts: 61_000 },
      { symbol: "AAPL", ts: 60_500 },
      { symbol: "AAPL", ts: 119_999 },
      { symbol: "AAPL", ts: 1_000 },
    ]);
    assert.deepEqual(pairs, [
      { symbol: "AAPL", start: 0, ticks: 1 },
      { symbol: "AAPL", start: 60_000, ticks: 2 },
      { symbol: "MSFT", start: 60_000, ticks: 1 },
    ]);
  });

  it("pairs round-trip through the #DIRTY string form; malformed ones are rejected with the reason", () => {
    assert.deepEqual(decodePair(encodePair({ symbol: "BRK.B", start: 120_000 })), { symbol: "BRK.B", start: 120_000 });
    assert.deepEqual(decodePair("^GSPC|0"), { symbol: "^GSPC", start: 0 });
    for (const bad of ["AAPL", "AAPL|", "AAPL|61000", "aapl|60000", "|60000", "AAPL|-60000", "AAPL|6e4"]) {
      assert.throws(() => decodePair(bad), (e: Error) => e.message.includes(`"${bad}"`));
    }
    assert.equal(windowRefProblem({ symbol: "AAPL", start: 60_000 }), null);
    assert.match(windowRefProblem({ symbol: "AAPL", start: 1 }) ?? "", /multiple of 60000/);
    assert.match(windowRefProblem({ symbol: "#DIRTY", start: 0 }) ?? "", /symbol/);
    assert.match(windowRefProblem(null) ?? "", /not an object/);
  });
});
