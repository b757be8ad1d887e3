/**
 * One ISO-8601 rule (R-DATA-1 timestamps, R-API-3 `from`/`to`, issue 12): a tick's `timestamp` at ingestion and the
 * query API's `from` accept exactly the same ISO-like strings, and give the same instant. The strings are generated
 * valid and near-valid: `T`/`t`/space/other separators, fractions after `.` and `,`, zones `Z`, `z`, `+hh:mm`,
 * `+hhmm`, `+hh` and none, fields out of range, days that do not exist; each side goes through its real entry point
 * (validateTick, parseRequest). An instant is checked against an independent computation (Date.UTC) too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseRequest, QueryError } from "../src/core/query.ts";
import { validateTick } from "../src/core/tick.ts";

const two = (lo: number, hi: number): fc.Arbitrary<string> => fc.integer({ min: lo, max: hi }).map((n) => String(n).padStart(2, "0"));

/** ISO-like date-time strings: mostly well-formed, each part sometimes just outside the rule. */
const isoLike = fc
  .record({
    year: fc.oneof(fc.integer({ min: 1970, max: 2100 }).map(String), fc.constantFrom("0000", "1969", "9999", "10000", "999")),
    month: fc.oneof(two(1, 12), fc.constantFrom("00", "13", "1")),
    day: fc.oneof(two(1, 28), two(29, 31), fc.constantFrom("00", "32", "7")),
    sep: fc.constantFrom("T", "t", " ", "_", "", "  "),
    hour: fc.oneof(two(0, 23), fc.constantFrom("24", "9")),
    minute: fc.oneof(two(0, 59), fc.constantFrom("60", "5")),
    second: fc.option(fc.oneof(two(0, 59), fc.constantFrom("60", "7")), { nil: undefined }),
    fraction: fc.option(
      fc.tuple(fc.constantFrom(".", ",", ":"), fc.string({ unit: fc.constantFrom(..."0123456789".split("")), minLength: 0, maxLength: 11 })),
      { nil: undefined },
    ),
    zone: fc.oneof(
      fc.constantFrom("Z", "z", "", "UTC", " Z", "+", "+1"),
      fc.tuple(fc.constantFrom("+", "-"), fc.oneof(two(0, 23), fc.constantFrom("24", "99")), fc.oneof(two(0, 59), fc.constantFrom("60")), fc.constantFrom(":", "", "::"))
        .map(([s, h, m, c]) => `${s}${h}${c}${m}`),
      fc.tuple(fc.constantFrom("+", "-"), two(0, 14)).map(([s, h]) => `${s}${h}`),
    ),
  })
  .map((p) => {
    const sec = p.second === undefined ? "" : `:${p.second}`;
    const frac = p.second === undefined || p.fraction === undefined ? "" : `${p.fraction[0]}${p.fraction[1]}`;
    return `${p.year}-${p.month}-${p.day}${p.sep}${p.hour}:${p.minute}${sec}${frac}${p.zone}`;
  });

/** Ingestion's reading of a timestamp string: the instant, or null when the tick is rejected for it. */
function ingested(s: string): number | null {
  const r = validateTick({ symbol: "AAPL", timestamp: s, price: 1, volume: 1 });
  return r.ok ? r.tick.ts : null;
}

/** The query API's reading of `from`: the instant, or null when the request is refused (400) for it. */
function queried(s: string): number | null {
  try {
    const r = parseRequest({ httpMethod: "GET", path: "/symbols/AAPL/ticks", queryStringParameters: { from: s } });
    return r.kind === "latest" ? null : r.from;
  } catch (e) {
    if (e instanceof QueryError && e.statusCode === 400) return null;
    throw e;
  }
}

/** An independent reading of a well-formed string (Date.UTC, offset in minutes), for the accepted ones. */
function independent(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d).(\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?(?:[Zz]|([+-])(\d\d):?(\d\d))$/.exec(s);
  assert.ok(m, `accepted string ${JSON.stringify(s)} has the ISO shape`);
  const [, y, mo, d, h, mi, sec, frac, sign, oh, om] = m;
  const date = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec ?? 0), Number((frac ?? "").padEnd(3, "0").slice(0, 3))));
  date.setUTCFullYear(Number(y));
  const offset = sign === undefined ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return date.getTime() - offset * 60_000;
}

describe("one ISO-8601 rule for ingestion and the query API (R-DATA-1, R-API-3)", () => {
  it("property: a tick timestamp and the query's from accept exactly the same ISO-like strings, with the same instant", () => {
    fc.assert(
      fc.property(isoLike, (s) => {
        const a = ingested(s);
        const b = queried(s);
        assert.equal(b, a, `${JSON.stringify(s)}: ingestion ${a}, query ${b}`);
        if (a !== null) assert.equal(a, independent(s), JSON.stringify(s));
      }),
      { numRuns: 3000 },
    );
  });

  it("the forms that once diverged (space separator, comma fraction, lower-case t/z, +hhmm) read the same on both sides", () => {
    const t = Date.UTC(2024, 0, 2, 15, 4, 5);
    const cases: Array<[string, number]> = [
      ["2024-01-02 15:04:05Z", t],
      ["2024-01-02T15:04:05,250Z", t + 250],
      ["2024-01-02t15:04:05z", t],
      ["2024-01-02T16:04:05+0100", t],
      ["2024-01-02T15:04Z", t - 5_000],
    ];
    for (const [s, want] of cases) {
      assert.equal(ingested(s), want, `ingestion ${s}`);
      assert.equal(queried(s), want, `query ${s}`);
    }
    for (const s of ["2024-01-02T15:04:05", "2024-01-02T15:04:05+24:00", "2024-02-30T00:00:00Z"]) {
      assert.equal(ingested(s), null, `ingestion ${s}`);
      assert.equal(queried(s), null, `query ${s}`);
    }
  });
});
