// The function environment (docs/design.md "Function environment", R-FN-3..5): typed env readers accept exactly the
// values their rule allows and name the variable, the value and the rule otherwise; the one Powertools set-up takes
// the service name and namespace from the environment with the handlers' fallbacks.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { afterEach, describe, it } from "node:test";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import fc from "fast-check";
import { DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { BOOL_ENV_VALUES, boolEnv, intEnv, intRuleText, requireEnv, retentionDays, SDK_LOGGER_MIDDLEWARE, withoutSdkLogger } from "../src/adapters/config.ts";
import { ddbClient } from "../src/adapters/ddb.ts";
import { eventsClient } from "../src/adapters/events.ts";
import { s3Client } from "../src/adapters/s3.ts";
import { sqsClient } from "../src/adapters/sqs.ts";
import { powertools } from "../src/adapters/powertools.ts";
import { capture } from "./helpers/capture.ts";

const VAR = "MDP_TEST_INT";
const saved = { ...process.env };
afterEach(() => {
  for (const k of [VAR, "MDP_TEST_STR", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "DATA_RETENTION_DAYS"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe("typed env readers", () => {
  it("property: intEnv accepts exactly the whole numbers in [min, max]; unset or empty names the variable and the rule (no fallback)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 50 }),
        fc.integer({ min: 0, max: 40 }),
        fc.oneof(fc.integer({ min: -100, max: 100 }).map(String), fc.constantFrom("", "abc", "1.5", "NaN", "1e400", " 7 ", "0x10"), fc.constant(undefined)),
        (min, span, raw) => {
          const rule = { min, max: min + span, unit: "things" };
          if (raw === undefined) delete process.env[VAR];
          else process.env[VAR] = raw;
          const text = `a whole number of things from ${min} to ${min + span}`;
          if (raw === undefined || raw === "") {
            assert.throws(
              () => intEnv(VAR, rule),
              (e: Error) => e.message === `environment variable ${VAR} is not set: allowed ${text}`,
            );
            return;
          }
          // independent reading: what Number() makes of the text, whole and in bounds
          const n = Number(raw);
          const ok = Number.isSafeInteger(n) && n >= rule.min && n <= rule.max;
          if (ok) assert.equal(intEnv(VAR, rule), n);
          else assert.throws(() => intEnv(VAR, rule), (e: Error) => e.message === `${VAR}=${JSON.stringify(raw)} is not ${text}`);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("property: boolEnv accepts exactly true and false; anything else, unset and empty included, names the variable and the allowed values", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom("true", "false", "", "TRUE", "False", "1", "0", "yes", " true", "true "), fc.string({ maxLength: 6 }), fc.constant(undefined)),
        (raw) => {
          if (raw === undefined) delete process.env[VAR];
          else process.env[VAR] = raw;
          if (raw === "true" || raw === "false") assert.equal(boolEnv(VAR), raw === "true");
          else {
            const want =
              raw === undefined || raw === ""
                ? `environment variable ${VAR} is not set: allowed one of true, false`
                : `${VAR}=${JSON.stringify(raw)} is not one of true, false`;
            assert.throws(() => boolEnv(VAR), (e: Error) => e.message === want);
          }
        },
      ),
      { numRuns: 300 },
    );
    assert.deepEqual([...BOOL_ENV_VALUES], ["true", "false"]);
  });

  it("a changed value is read again (the parse is kept only while the text is the same)", () => {
    const rule = { min: 1, unit: "bytes" };
    process.env[VAR] = "10";
    assert.equal(intEnv(VAR, rule), 10);
    process.env[VAR] = "0";
    assert.throws(() => intEnv(VAR, rule), /^Error: MDP_TEST_INT="0" is not a positive whole number of bytes$/);
    delete process.env[VAR];
    assert.throws(() => intEnv(VAR, rule), /environment variable MDP_TEST_INT is not set: allowed a positive whole number of bytes/);
    process.env[VAR] = "11";
    assert.equal(intEnv(VAR, rule), 11);
    assert.equal(intRuleText({ min: 2, unit: "s" }), "a whole number of s of at least 2");
  });

  it("DATA_RETENTION_DAYS: 1..36500 days, required; a required string names the variable", () => {
    delete process.env.DATA_RETENTION_DAYS;
    assert.throws(() => retentionDays(), /environment variable DATA_RETENTION_DAYS is not set: allowed a whole number of days from 1 to 36500/);
    process.env.DATA_RETENTION_DAYS = "36500";
    assert.equal(retentionDays(), 36_500);
    process.env.DATA_RETENTION_DAYS = "36501";
    assert.throws(() => retentionDays(), /DATA_RETENTION_DAYS="36501" is not a whole number of days from 1 to 36500/);
    delete process.env.MDP_TEST_STR;
    assert.throws(() => requireEnv("MDP_TEST_STR"), /environment variable MDP_TEST_STR is not set: allowed a non-empty string/);
    process.env.MDP_TEST_STR = "";
    assert.throws(() => requireEnv("MDP_TEST_STR"), /MDP_TEST_STR is not set/);
    process.env.MDP_TEST_STR = "x";
    assert.equal(requireEnv("MDP_TEST_STR"), "x");
  });
});

/** The variables the component gives each function (docs/design.md "Function environment"), with test values. */
const FUNCTION_ENV: Record<string, Record<string, string>> = {
  ingestion: { RAW_BUCKET: "raw", PROCESSING_QUEUE_URL: "http://sqs.local/q", MAX_BODY_BYTES: "4194304", API_ARCHIVE: "false" },
  processor: { STATE_TABLE: "T", EVENT_BUS_NAME: "B", EVENT_SOURCE: "S", EVENT_DETAIL_TYPE: "D", DATA_RETENTION_DAYS: "30" },
  aggregator: { STATE_TABLE: "T", AGGREGATION_QUEUE_URL: "http://sqs.local/a", EVENT_SOURCE: "S", EVENT_DETAIL_TYPE: "D", DATA_RETENTION_DAYS: "30" },
  query: { STATE_TABLE: "T" },
};
/** Values each typed variable refuses, and what its error says is allowed. */
const BAD_VALUES: Record<string, { values: string[]; allowed: string }> = {
  MAX_BODY_BYTES: { values: ["0", "4MB", "1.5"], allowed: "a positive whole number of bytes" },
  API_ARCHIVE: { values: ["yes", "TRUE", "1"], allowed: "one of true, false" },
  DATA_RETENTION_DAYS: { values: ["0", "36501", "thirty"], allowed: "a whole number of days from 1 to 36500" },
};
const POWERTOOLS_ENV = { POWERTOOLS_METRICS_NAMESPACE: "MarketData", POWERTOOLS_LOG_LEVEL: "SILENT", POWERTOOLS_METRICS_DISABLED: "true" };

describe("a handler's environment is checked at init (no fallback of the bundle's own)", () => {
  let fresh = 0;
  /** Imports a fresh instance of handler `fn` (its module code runs again: a cold start) with exactly `env`. */
  async function coldStart(fn: string, env: Record<string, string | undefined>): Promise<{ environment(): unknown }> {
    const all = { ...POWERTOOLS_ENV, POWERTOOLS_SERVICE_NAME: fn, ...FUNCTION_ENV[fn], ...env };
    const names = new Set([...Object.keys(all), ...Object.values(FUNCTION_ENV).flatMap(Object.keys)]);
    const before = Object.fromEntries([...names].map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(all)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      return await import(`../src/handlers/${fn}.ts?cold=${fresh++}`);
    } finally {
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  for (const fn of Object.keys(FUNCTION_ENV)) {
    it(`${fn}: starts with the component's variables; each one missing, empty or bad fails the import naming it and what is allowed`, async () => {
      const started = await coldStart(fn, {});
      assert.equal(typeof started.environment, "function");
      for (const name of [...Object.keys(FUNCTION_ENV[fn] ?? {}), "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"]) {
        const allowed = BAD_VALUES[name]?.allowed ?? "a non-empty string";
        for (const unset of [undefined, ""]) {
          await assert.rejects(coldStart(fn, { [name]: unset }), (e: Error) => e.message === `environment variable ${name} is not set: allowed ${allowed}`);
        }
        for (const bad of BAD_VALUES[name]?.values ?? []) {
          await assert.rejects(coldStart(fn, { [name]: bad }), (e: Error) => e.message === `${name}=${JSON.stringify(bad)} is not ${allowed}`);
        }
      }
    });
  }

  it("environment() reads the values the component set", async () => {
    const ing = await coldStart("ingestion", { API_ARCHIVE: "true", MAX_BODY_BYTES: "1000" });
    process.env.RAW_BUCKET = "raw";
    process.env.PROCESSING_QUEUE_URL = "http://sqs.local/q";
    process.env.API_ARCHIVE = "true";
    process.env.MAX_BODY_BYTES = "1000";
    try {
      assert.deepEqual(ing.environment(), { rawBucket: "raw", queueUrl: "http://sqs.local/q", maxBodyBytes: 1000, apiArchive: true });
    } finally {
      for (const k of ["RAW_BUCKET", "PROCESSING_QUEUE_URL", "API_ARCHIVE", "MAX_BODY_BYTES"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});

describe("Powertools set-up", () => {
  /** The service and namespace one log line and one metric document of a fresh set-up carry. */
  async function identity(): Promise<{ service: unknown; namespace: unknown }> {
    const pt = powertools();
    const c = await capture(
      async () => {
        pt.logger.info("hello");
        pt.metrics.addMetric("Probe", MetricUnit.Count, 1);
        pt.metrics.publishStoredMetrics();
      },
      { logger: pt.logger, metrics: pt.metrics },
    );
    const emf = c.emf[0] as { _aws?: { CloudWatchMetrics?: Array<{ Namespace?: string }> } } | undefined;
    return { service: c.logs[0]?.service, namespace: emf?._aws?.CloudWatchMetrics?.[0]?.Namespace };
  }

  it("service name and namespace from the environment, both required (the component sets them)", async () => {
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    const disabled = process.env.POWERTOOLS_METRICS_DISABLED;
    process.env.POWERTOOLS_LOG_LEVEL = "INFO";
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    try {
      process.env.POWERTOOLS_SERVICE_NAME = "query";
      process.env.POWERTOOLS_METRICS_NAMESPACE = "Elsewhere";
      assert.deepEqual(await identity(), { service: "query", namespace: "Elsewhere" });
      delete process.env.POWERTOOLS_SERVICE_NAME;
      assert.throws(() => powertools(), /^Error: environment variable POWERTOOLS_SERVICE_NAME is not set: allowed a non-empty string$/);
      process.env.POWERTOOLS_SERVICE_NAME = "query";
      delete process.env.POWERTOOLS_METRICS_NAMESPACE;
      assert.throws(() => powertools(), /^Error: environment variable POWERTOOLS_METRICS_NAMESPACE is not set: allowed a non-empty string$/);
    } finally {
      if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = level;
      if (disabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
      else process.env.POWERTOOLS_METRICS_DISABLED = disabled;
    }
  });
});

describe("AWS SDK clients (issue 10: no per-call log record is built)", () => {
  /** A DynamoDB client whose every call is answered by a canned empty Query page, and whose `logger` counts lines. */
  function cannedClient(): { client: DynamoDBClient; lines: () => number } {
    let n = 0;
    const count = (): void => {
      n++;
    };
    const client = new DynamoDBClient({
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      logger: { debug: () => undefined, info: count, warn: count, error: count },
      requestHandler: {
        handle: async () => ({
          response: {
            statusCode: 200,
            headers: { "content-type": "application/x-amz-json-1.0" },
            body: Readable.from([Buffer.from(JSON.stringify({ Items: [], Count: 0, ScannedCount: 0 }))]),
          },
        }),
      },
    });
    return { client, lines: () => n };
  }
  const query = new QueryCommand({
    TableName: "t",
    KeyConditionExpression: "symbol = :s",
    ExpressionAttributeValues: { ":s": { S: "AAPL" } },
  });

  it("the SDK adds its logger middleware under SDK_LOGGER_MIDDLEWARE, and it builds a log record of every call", async () => {
    const { client, lines } = cannedClient();
    assert.ok(client.middlewareStack.identify().some((m) => m.startsWith(`${SDK_LOGGER_MIDDLEWARE} `)));
    await client.send(query);
    assert.equal(lines(), 1);
  });

  it("withoutSdkLogger removes it: a call builds no log record and still answers", async () => {
    const { client, lines } = cannedClient();
    const out = await withoutSdkLogger(client).send(query);
    assert.equal(out.Count, 0);
    assert.equal(lines(), 0);
  });

  it("none of the four shared clients carries the logger middleware", () => {
    for (const c of [ddbClient, eventsClient, s3Client, sqsClient]) {
      const names = c.middlewareStack.identify();
      assert.ok(names.length > 0);
      assert.ok(!names.some((m) => m.startsWith(`${SDK_LOGGER_MIDDLEWARE} `)), names.join(", "));
    }
  });
});
