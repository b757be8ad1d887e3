/**
 * The fast lanes (core/fastlane.ts) against the generic paths (R-DATA-1, R-DATA-2, R-DATA-3): for every CSV row and
 * every JSON record the lane either declines or gives exactly the JSON the generic path would pack (and only for
 * records the generic path accepts); plain records are really taken by the lane; whole files (CSV, JSON Lines, JSON
 * arrays, any chunking) parse to the same accepted ticks and the same rejections with and without the lanes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { csvFastLane, jsonFastLane } from "../src/core/fastlane.ts";
import { CsvParser, JsonArrayParser, JsonLinesParser, type ParseEvent, type ParserOptions } from "../src/core/formats.ts";
import { tickJson } from "../src/core/pack.ts";
import { MAX_TS, SYMBOL_RE, validateTick } from "../src/core/tick.ts";

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
      symbol: fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/).filter((s) => SYMBOL_RE.test(s)),
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

/** The generic path for one JSON record text: JSON.parse -> validateTick -> tickJson, or the rejection reason. */
function genericJson(text: string): { json: string } | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { reason: `invalid JSON: ${(e as Error).message}` };
  }
  const v = validateTick(value);
  return v.ok ? { json: tickJson(v.tick) } : { reason: v.reason };
}

/** JSON values for extras: plain ones and near misses (strings needing escapes, nesting, odd numbers, ...). */
const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -0, -1.5, 1e-7, 1e21, 1.5e300, true, false, null, "", "XNAS", 'a"b', "a\\b", "é", "\u0001", [], {}, [1], { a: 1 }),
  fc.stringMatching(/^[ -~]{0,6}$/),
  fc.double({ min: -1e16, max: 1e16, noNaN: true }),
);
/** Raw value texts as a sender may write them (valid JSON or not): the lane sees text, not values. */
const oddText = fc.oneof(
  numberCell, // raw spellings: "1.50", "+1.5", "1e3", "01", ".5", "NaN", "" ...
  fc.constantFrom('"\\u0041"', '"\\/"', '"a\\"b"', '"\\\\"', '"\\t"', '"AAPL"', "tru", "nul", "truex", '"1700000000000"', "[]", "{}", '{"a":1}'),
  jsonValue.map((v) => JSON.stringify(v) ?? "null"),
);
const goodText = {
  symbol: fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/).filter((s) => SYMBOL_RE.test(s)).map((x) => JSON.stringify(x)),
  timestamp: fc.integer({ min: 0, max: MAX_TS }).map(String),
  price: fc.oneof(fc.integer({ min: 1, max: 99_999_999 }).map((c) => String(c / 100)), fc.double({ min: 1e-6, max: 1e14, noNaN: true }).map(String)),
  volume: fc.oneof(fc.constant("0"), fc.integer({ min: 1, max: 1_000_000 }).map(String), fc.double({ min: 0, max: 1e9, noNaN: true }).map(String)),
};
const EXTRA_NAMES = ["exchange", "venue", "cond", "id", "7", "__proto__", "", "a b", 'q\\"', "é", "symbol", "sym\\u0062ol"];
/** A JSON record text: the four fields mostly plain, one sometimes odd or missing, extras, duplicates, any order and whitespace. */
const jsonRecordText = fc
  .tuple(
    fc.tuple(
      ...(["symbol", "timestamp", "price", "volume"] as const).map((k) =>
        fc.oneof({ weight: 8, arbitrary: goodText[k] }, { weight: 1, arbitrary: oddText }, { weight: 1, arbitrary: fc.constant(undefined) }),
      ),
    ),
    fc.array(fc.tuple(fc.constantFrom(...EXTRA_NAMES), fc.oneof({ weight: 2, arbitrary: fc.stringMatching(/^[A-Z]{0,4}$/).map((x) => JSON.stringify(x)) }, { weight: 1, arbitrary: oddText })), { maxLength: 3 }),
    fc.boolean(),
    fc.array(fc.constantFrom("", " ", "\t", "\r", "\n"), { minLength: 4, maxLength: 4 }),
    fc.constantFrom("", "", "", " ", "x", ",", "}", "\t"),
    fc.nat(),
  )
  .map(([four, extras, dup, ws, tail, seed]) => {
    const [a, b, c, d] = ws as [string, string, string, string];
    const members: string[] = [];
    (["symbol", "timestamp", "price", "volume"] as const).forEach((k, i) => {
      const v = four[i];
      if (v !== undefined) members.push(`"${k}"${a}:${b}${v}`);
    });
    for (const [k, v] of extras) members.push(`"${k}"${b}:${v}`);
    if (dup && members.length > 0) members.push(members[seed % members.length] as string);
    // a deterministic shuffle from the seed
    for (let i = members.length - 1; i > 0; i--) {
      const j = (seed + i * 7919) % (i + 1);
      [members[i], members[j]] = [members[j] as string, members[i] as string];
    }
    return `${c}{${members.join(`${d},${c}`)}${d}}${tail}`;
  });

describe("JSON fast lane (issue 6) equals the generic path (R-DATA-1, R-DATA-2, R-DATA-3)", () => {
  it("declines, or gives exactly the generic path's tick JSON for records the generic path accepts", () => {
    fc.assert(
      fc.property(fc.array(jsonRecordText, { minLength: 1, maxLength: 20 }), (texts) => {
        for (const text of texts) {
          const fast = jsonFastLane(text);
          if (fast === undefined) continue;
          const g = genericJson(text);
          assert.ok("json" in g, `lane accepted ${text} but the generic path rejects it: ${"reason" in g ? g.reason : ""}`);
          assert.equal(fast, g.json, text);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("declines duplicate names (JSON.parse keeps the last) and anything after the object", () => {
    for (const text of [
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,"symbol":"B"}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,"x":"1","x":"2"}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1}x',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,"n":{"a":1}}',
      '{"symbol":"A","timestamp":"1","price":1,"volume":1}',
      '{"symbol":"A","timestamp":1,"price":1.50,"volume":1}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,"x":"\\u0041"}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1,"x":"\\/"}',
      '{"symbol" "A","timestamp":1,"price":1,"volume":1}',
      '{"symbol"x"A","timestamp":1,"price":1,"volume":1}',
      '{"symbol":"A","timestamp":1,"price":1,"volume":1 "x":1}',
    ]) {
      assert.equal(jsonFastLane(text), undefined, text);
    }
    assert.equal(
      jsonFastLane(' { "symbol" : "A" , "timestamp":1, "price":0.5,"volume":0,"n":-2.25,"b":true,"z":null,"s":"x y"} '),
      '{"symbol":"A","ts":1,"price":0.5,"volume":0,"extra":{"n":-2.25,"b":true,"z":null,"s":"x y"}}',
    );
  });

  it("takes plain records (the shape JSON.stringify writes for ticks with plain extras), so the lane is really used", () => {
    const plain = fc.record({
      symbol: fc.stringMatching(/^[A-Z0-9.\-^]{1,12}$/).filter((s) => SYMBOL_RE.test(s)),
      timestamp: fc.integer({ min: 0, max: MAX_TS }),
      price: fc.integer({ min: 1, max: 99_999_999 }).map((c) => c / 100),
      volume: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000_000 })),
      exchange: fc.stringMatching(/^[A-Z]{0,4}$/),
      seq: fc.integer({ min: -1_000_000, max: 1_000_000 }),
      odd: fc.boolean(),
    });
    fc.assert(
      fc.property(plain, (r) => {
        const text = JSON.stringify(r);
        const fast = jsonFastLane(text);
        assert.notEqual(fast, undefined, `plain record declined: ${text}`);
        assert.equal(fast, (genericJson(text) as { json: string }).json);
      }),
      { numRuns: 500 },
    );
  });

  for (const kind of ["jsonl", "json-array"] as const) {
    it(`a whole ${kind} file: the same accepted ticks in the same order and the same rejections with and without the lane`, () => {
      fc.assert(
        fc.property(fc.array(jsonRecordText, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (texts, chunkSize) => {
          const body = kind === "jsonl" ? `${texts.join("\n")}\n` : `[\n${texts.join(",\n")}\n]\n`;
          const buf = Buffer.from(body);
          const run = (lane: boolean): string[] => {
            const out: string[] = [];
            const emit = (e: ParseEvent): void => {
              if (e.kind === "error") out.push(`error ${e.line} ${e.index} ${e.reason}`);
              else {
                const v = validateTick(e.value);
                out.push(v.ok ? `tick ${tickJson(v.tick)}` : `invalid ${e.line} ${e.index} ${v.reason}`);
              }
            };
            const opts: ParserOptions = lane ? { onTickJson: (json) => out.push(`tick ${json}`) } : {};
            const p = kind === "jsonl" ? new JsonLinesParser(emit, opts) : new JsonArrayParser(emit, opts);
            for (let i = 0; i < buf.length; i += chunkSize) p.push(buf.subarray(i, i + chunkSize));
            p.end();
            return out;
          };
          assert.deepEqual(run(true), run(false));
        }),
        { numRuns: 200 },
      );
    });
  }
});
