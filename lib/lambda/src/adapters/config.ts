/**
 * Function configuration: the AWS client settings and typed readers of the environment variables the component sets
 * (docs/design.md "Function environment"). Model: Powertools for AWS Lambda (TypeScript)
 * `examples/app/functions/commons/helpers/utils.ts` (`getStringFromEnv`). A bad value fails with an error naming the
 * variable, the value and what is allowed.
 */

/** Client configuration shared by the adapters: honours AWS_ENDPOINT_URL (local stack, moto). */
export function clientConfig(): { forcePathStyle?: boolean } {
  return process.env.AWS_ENDPOINT_URL ? { forcePathStyle: true } : {};
}

/** Name under which the AWS SDK adds its logger middleware to every client (`@aws-sdk/middleware-logger`). */
export const SDK_LOGGER_MIDDLEWARE = "loggerMiddleware";

/**
 * Removes the AWS SDK's logger middleware from `client` and returns it. Our clients configure no `logger`, so the SDK's
 * NoOpLogger drops every line, but the middleware builds each call's log record anyway: it runs the sensitive-data
 * filter over the whole input and output of every call (a BatchWriteItem's 25 items, a Query page's items). In a CPU
 * profile of DataProcessor on the local stack that was about 7% of its CPU time (issue 10). The handlers log through
 * Powertools; the SDK's errors still reach them (the middleware only logs and rethrows).
 */
export function withoutSdkLogger<T extends { middlewareStack: { remove(name: string): boolean } }>(client: T): T {
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  return client;
}

/**
 * The variables below are all set by the component (sdk/python/market_data_pipeline/functions.py
 * `function_environment`, the one owner of their values and defaults): the bundles have no fallback of their own. A
 * missing or bad one fails with `environment variable NAME is not set: allowed <what>` or `NAME="value" is not
 * <what>`, and each handler reads its variables once at init (`environment()` at module level), so such a function
 * fails its cold start.
 */

/** Reads a required environment variable (a non-empty string), failing with a clear message. */
export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${notSet(name)}: allowed a non-empty string`);
  return v;
}

/**
 * The source and detail-type of DataProcessor's TicksStored events: `EVENT_SOURCE` and `EVENT_DETAIL_TYPE`, set on
 * DataProcessor (which emits them) and DataAggregator (which accepts them) by the component, the owner of both
 * (sdk/python/market_data_pipeline/constants.py), whose EventBridge rule matches them (R-EVB-1).
 */
export interface TicksStoredEventType {
  source: string;
  detailType: string;
}

/** Reads `EVENT_SOURCE` and `EVENT_DETAIL_TYPE` (both required non-empty strings). */
export function ticksStoredEventType(): TicksStoredEventType {
  return { source: requireEnv("EVENT_SOURCE"), detailType: requireEnv("EVENT_DETAIL_TYPE") };
}

function notSet(name: string): string {
  return `environment variable ${name} is not set`;
}

/** The rule of an integer environment variable: whole numbers `min..max` of `unit`. */
export interface IntEnvRule {
  min: number;
  /** no upper bound but the largest safe integer when absent */
  max?: number;
  /** what the number counts, for the error message ("days", "bytes") */
  unit: string;
}

/** Parsed values by variable and rule, kept while the text is unchanged: a warm invocation parses nothing (issue 10). */
const parsed = new Map<string, { raw: string; value: number }>();

/** What `rule` allows, in words: "a positive whole number of bytes", "a whole number of days from 1 to 36500". */
export function intRuleText(rule: IntEnvRule): string {
  if (rule.max === undefined) {
    return rule.min === 1 ? `a positive whole number of ${rule.unit}` : `a whole number of ${rule.unit} of at least ${rule.min}`;
  }
  return `a whole number of ${rule.unit} from ${rule.min} to ${rule.max}`;
}

/**
 * Reads a required integer environment variable: a whole number within the bounds (written as JavaScript's Number()
 * reads it: digits, or e.g. `3e1`). Throws `environment variable NAME is not set: allowed <what is allowed>` when it
 * is unset or empty, `NAME="value" is not <what is allowed>` when it is out of the rule.
 */
export function intEnv(name: string, rule: IntEnvRule): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") throw new Error(`${notSet(name)}: allowed ${intRuleText(rule)}`);
  const memo = `${name}|${rule.min}|${rule.max}`;
  const known = parsed.get(memo);
  if (known !== undefined && known.raw === raw) return known.value;
  const value = Number(raw);
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < rule.min || value > max) {
    throw new Error(`${name}=${JSON.stringify(raw)} is not ${intRuleText(rule)}`);
  }
  parsed.set(memo, { raw, value });
  return value;
}

/** The values a boolean environment variable may hold (the component writes `true` or `false`). */
export const BOOL_ENV_VALUES = ["true", "false"] as const;

/** Reads a required boolean environment variable: `true` or `false`, nothing else (unset or empty included). */
export function boolEnv(name: string): boolean {
  const raw = process.env[name];
  const allowed = `one of ${BOOL_ENV_VALUES.join(", ")}`;
  if (raw === undefined || raw === "") throw new Error(`${notSet(name)}: allowed ${allowed}`);
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new Error(`${name}=${JSON.stringify(raw)} is not ${allowed}`);
}

/** DATA_RETENTION_DAYS: the TTL of every stored item, a whole number of days from 1 to 36500 (required). */
export function retentionDays(): number {
  return intEnv("DATA_RETENTION_DAYS", { min: 1, max: 36_500, unit: "days" });
}
