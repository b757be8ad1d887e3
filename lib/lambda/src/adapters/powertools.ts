/**
 * The one Powertools set-up of the four handlers (docs/design.md "Powertools set-up"). Model: Powertools for AWS Lambda
 * (TypeScript) `examples/app/functions/commons/powertools/` (one place builds Logger, Metrics and Tracer with the same
 * configuration). Each handler calls `powertools()` once at module level, so a warm invocation builds nothing.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { requireEnv } from "./config.ts";

/** Logger, Metrics and Tracer of one function. */
export interface Powertools {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}

/**
 * Builds the Powertools of a function: service name POWERTOOLS_SERVICE_NAME (the function's key), metrics namespace
 * POWERTOOLS_METRICS_NAMESPACE, both required (the component sets them: no second default here; a missing one fails
 * the function's init, naming it); the tracer captures the AWS SDK v3 `clients` the function uses.
 */
export function powertools(clients: readonly object[] = []): Powertools {
  const serviceName = requireEnv("POWERTOOLS_SERVICE_NAME");
  const namespace = requireEnv("POWERTOOLS_METRICS_NAMESPACE");
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace, serviceName });
  const tracer = new Tracer({ serviceName });
  for (const client of clients) tracer.captureAWSv3Client(client);
  return { logger, metrics, tracer };
}
