/**
 * The CSV fast lane (core/csvfast.ts) against the generic CSV path (R-DATA-1, R-DATA-2, R-DATA-3): for every row the
 * lane either declines or gives exactly the JSON the generic path would pack (and only for rows the generic path
 * accepts); plain rows are really taken by the lane; whole files parse to the same accepted ticks and the same
 * rejections with and without it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { csvFastLane } from "../src/core/csvfast.ts";
import { CsvParser, type ParseEvent } from "../src/core/formats.ts";
import { tickJson } from "../src/core/pack.ts";
import { MAX_TS, validateTick } from "../src/core/tick.ts";

const REQUIRED = ["symbol", "timestamp", "price", "volume"] as const;

/** The generic path for one data row under a header: the tick JSON it accepts, or its rejection reason. */
function generic(header: readonly string[], row: string): { json: string } | { reason: string } {
  const events: ParseEvent[] = [];
  const p = new CsvParser((e) => events.push(e));
  p.push(Buffer.from(`${header.join(",")}\n${row}\n`));
  p.end();
  assert.equal(events.length, 1, `one event for the row ${JSON.stringify(row)}`);
  const e = events[0] as ParseEvent;
  if (e.kind === "error") return { reason: e.reason };
  const v = validateTick(e.value);
  return v.ok ? { json: tickJson(v.tick) } : { reason: v.reason };
}

/** Decimal-ish cells: plain forms and the near misses that must not be taken as they are. */
const numberCell = fc.oneof(
  fc.double({ min: 1e-9, max: 1e17, noNaN: true, noDefaultInfinity: true }).map(String),
  fc.integer({ min: 0, max: 10_000_000 }).map(String),
  fc.tuple(fc.nat(99_999), fc.nat(9_999)).map(([a, b]) => `${a}.${b}`),
  fc.constantFrom("0", "0.0", "00", "01", "1.", ".5", "1.50", "+1.5", "-1", "1e3", "1E-7", " 1", "1 ", "0.000001", "0.0000001",
    "123456789012345", "1234567890123456", "0.123456789012345", "0.1234567890123456", "9.99e125", "1e126", "NaN", "Infinity", "",
    // more than 15 significant digits: these do not survive text -> double -> text
    "0.30000000000000001", "9007199254740993", "1.0000000000000001", "123456789.12345678"),
);
const tsCell = fc.oneof(
  fc.integer({ min: 0, max: MAX_TS }).map(String),
  fc.constantFrom(String(MAX_TS), String(MAX_TS + 1), "0", "00", "0123", "1700000000000.5", "-1", "2025-11-24T14:30:00Z", "1e12", ""),
);
const symbolCell = fc.oneof(
  fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/),
  fc.constantFrom("", "aapl", "TOOLONGSYMBOL1", "A B", "A,B", '"AAPL"', "ÄPL", "A\tB"),
);
const extraCell = fc.oneof(
  fc.stringMatching(/^[ -~]{0,8}$/),
  fc.constantFrom("", "XNAS", "a\\b", 'say "hi"', "é", "tab\there", "\u00a0", "x".repeat(70_000)),
);

/** A header: the four names in any order and case, plus 0-3 extra columns. */
const headerArb = fc
  .tuple(
    fc.shuffledSubarray([...REQUIRED], { minLength: 4, maxLength: 4 }),
    fc.uniqueArray(fc.constantFrom("exchange", "venue", "cond", "id", "Note", "seq"), { maxLength: 3 }),
    fc.nat(6),
  )
  .map(([req, extras, at]) => {
    const h: string[] = [...req];
    extras.forEach((x, i) => h.splice(Math.min(at + i, h.length), 0, x));
    return h;
  });

function rowArb(header: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      ...header.map((h) =>
        h === "symbol" ? symbolCell : h === "timestamp" ? tsCell : h === "price" || h === "volume" ? numberCell : extraCell,
      ),
    )
    .map((cells) => cells.join(","));
}

describe("CSV fast lane (issue 6) equals the generic path (R-DATA-1, R-DATA-2, R-DATA-3)", () => {
  it("declines, or gives exactly the generic path's tick JSON for rows the generic path accepts", () => {
    fc.assert(
      fc.property(
        headerArb.chain((h) => fc.tuple(fc.constant(h), fc.array(rowArb(h), { minLength: 1, maxLength: 20 }))),
        ([header, rows]) => {
          const lane = csvFastLane(header);
          assert.ok(lane, `the lane exists for the header ${header.join(",")}`);
          for (const row of rows) {
            const fast = lane(row);
            if (fast === undefined) continue;
            const g = generic(header, row);
            assert.ok("json" in g, `lane accepted ${JSON.stringify(row)} but the generic path rejects it: ${"reason" in g ? g.reason : ""}`);
            assert.equal(fast, g.json, `row ${JSON.stringify(row)}`);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("takes plain rows (prices as JavaScript prints them, epoch ms, plain extras), so the lane is really used", () => {
    const plain = fc.record({
      symbol: fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/),
      ts: fc.integer({ min: 0, max: MAX_TS }),
      price: fc.oneof(
        fc.integer({ min: 1, max: 99_999_999 }).map((c) => c / 100),
        fc.double({ min: 1e-6, max: 1e14, noNaN: true }).filter((x) => String(x).replace(/^0\.0*|\./g, "").length <= 15),
      ),
      volume: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000_000 }), fc.integer({ min: 1, max: 99_999 }).map((v) => v / 1000)),
      exchange: fc.stringMatching(/^[A-Z]{0,4}$/),
    });
    const header = ["symbol", "timestamp", "price", "volume", "exchange"];
    const lane = csvFastLane(header);
    assert.ok(lane);
    fc.assert(
      fc.property(plain, (t) => {
        const row = `${t.symbol},${t.ts},${t.price},${t.volume},${t.exchange}`;
        const fast = lane(row);
        assert.notEqual(fast, undefined, `plain row declined: ${row}`);
        assert.equal(fast, (generic(header, row) as { json: string }).json);
      }),
      { numRuns: 500 },
    );
  });

  it("is off for headers whose extra names JSON or JavaScript objects would treat specially", () => {
    for (const extra of ["1", "42", "__proto__", 'a"b', "a\\b", "é", "tab\tname"]) {
      assert.equal(csvFastLane(["symbol", "timestamp", "price", "volume", extra]), undefined, extra);
    }
    assert.ok(csvFastLane(["symbol", "timestamp", "price", "volume", "a1"]));
  });

  it("a whole file: the same accepted ticks in the same order and the same rejections with and without the lane", () => {
    fc.assert(
      fc.property(
        headerArb.chain((h) => fc.tuple(fc.constant(h), fc.array(rowArb(h), { maxLength: 40 }), fc.integer({ min: 1, max: 64 }))),
        ([header, rows, chunkSize]) => {
          const text = Buffer.from(`${header.join(",")}\n${rows.join("\n")}\n`);
          const run = (lane: boolean): string[] => {
            const out: string[] = [];
            const p = new CsvParser(
              (e) => {
                if (e.kind === "error") out.push(`error ${e.line} ${e.index} ${e.reason}`);
                else {
                  const v = validateTick(e.value);
                  out.push(v.ok ? `tick ${tickJson(v.tick)}` : `invalid ${e.line} ${e.index} ${v.reason}`);
                }
              },
              lane ? { onTickJson: (json) => out.push(`tick ${json}`) } : {},
            );
            for (let i = 0; i < text.length; i += chunkSize) p.push(text.subarray(i, i + chunkSize));
            p.end();
            return out;
          };
          assert.deepEqual(run(true), run(false));
        },
      ),
      { numRuns: 200 },
    );
  });
});
