/**
 * The one Powertools set-up of the four handlers (docs/design.md "Powertools set-up"). Model: Powertools for AWS Lambda
 * (TypeScript) `examples/app/functions/commons/powertools/` (one place builds Logger, Metrics and Tracer with the same
 * configuration). Each handler calls `powertools()` once at module level, so a warm invocation builds nothing.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";

/** CloudWatch namespace of the metrics when POWERTOOLS_METRICS_NAMESPACE is unset (the component sets it). */
export const DEFAULT_METRICS_NAMESPACE = "MarketData";

/** Logger, Metrics and Tracer of one function. */
export interface Powertools {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}

/**
 * Builds the Powertools of a function: service name POWERTOOLS_SERVICE_NAME (the component sets the function's key),
 * else `fallbackService`; metrics namespace POWERTOOLS_METRICS_NAMESPACE, else "MarketData"; the tracer captures the
 * AWS SDK v3 `clients` the function uses.
 */
export function powertools(fallbackService: string, clients: readonly object[] = []): Powertools {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? fallbackService;
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE, serviceName });
  const tracer = new Tracer({ serviceName });
  for (const client of clients) tracer.captureAWSv3Client(client);
  return { logger, metrics, tracer };
}
