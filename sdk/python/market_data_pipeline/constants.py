"""Values the specification fixes, in one place (SPEC sections 1-9)."""

import json
from pathlib import Path

PACKAGE_NAME = "market-data-pipeline"
"""The Pulumi package name (type-token prefix)."""

PACKAGE_VERSION = "0.1.0"
"""The package version: the one place it is written (the wheel, the sdist, the schema and the plugin take it from here)."""

COMPONENT_TOKEN = f"{PACKAGE_NAME}:index:MarketDataPipeline"
"""Type token of the component."""

REGION = "us-east-1"  # R-ORG-3
REQUIRED_TAGS = {"Environment": "Production", "Project": "MarketAnalytics"}  # R-ORG-1

# Defaults of the args (R-PKG-5).
DEFAULT_API_THROTTLE_RATE_LIMIT = 10_000.0  # R-API-2
DEFAULT_API_THROTTLE_BURST_LIMIT = 5_000
DEFAULT_DATA_RETENTION_DAYS = 30  # R-S3-4
DEFAULT_LOG_RETENTION_DAYS = 7  # R-MON-1
DEFAULT_LAMBDA_MEMORY_MB = 3008  # R-FN-2: "3 GB" that every account accepts (see MAX_DEFAULT_QUOTA_MEMORY_MB)
DEFAULT_LAMBDA_RUNTIME = (
    "nodejs22.x"  # R-FN-2: a runtime AWS accepts for new functions (RUNTIME_DEPRECATIONS)
)
DEFAULT_AGGREGATION_SCHEDULE = "rate(5 minutes)"  # R-EVB-2
DEFAULT_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # R-SQS-1
DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS = 300  # R-SQS-1
DEFAULT_MAX_RECEIVE_COUNT = 5  # R-SQS-2
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # R-SQS-2

FUNCTIONS_FILE = Path(__file__).resolve().parent / "data" / "functions.json"
"""The one list of the four functions (package data), read by this module, lib/lambda/build.mjs, the Makefile, the
local host and the bench."""
HANDLER_DIRS: dict[str, str] = json.loads(FUNCTIONS_FILE.read_text(encoding="utf-8"))["functions"]
"""Function name -> handler: its source lib/lambda/src/handlers/<handler>.ts, its bundle directory under
market_data_pipeline/handlers/ (R-FN-1)."""
FUNCTION_NAMES = tuple(HANDLER_DIRS)  # R-FN-1: DataIngestion, DataProcessor, DataAggregator, DataQuery

INCOMING_PREFIX = "incoming/"  # R-FN-3
TABLE_HASH_KEY = "symbol"
"""MarketDataState's partition key (R-DDB-1): a tick's symbol, or a symbol's group partition (`<symbol>#5m`)."""
TABLE_RANGE_KEY = "timestamp"
"""MarketDataState's sort key (R-DDB-1): a tick's timestamp, or a group's window start (epoch ms)."""
REJECTED_PREFIX = "rejected/"  # R-DATA-3
API_ARCHIVE_PREFIX = "api/"
DEFAULT_API_ARCHIVE = False
"""`api_archive`'s default: the table holds every accepted tick for `data_retention_days`, as the archive would
(issue 10: the archive's PUT and DataIngestion's wait for it are a tenth of the API stream's bill)."""

EVENT_SOURCE = "market-data.processor"  # R-EVB-1
EVENT_DETAIL_TYPE = "TicksStored"
METRICS_NAMESPACE = "MarketData"

# Limits and fixed choices of the component (not args).
MAX_SUFFIX_LENGTH = 20
"""Longest environment suffix: keeps every physical name within its AWS limit (naming.NAME_LIMITS)."""
MAX_REGION_LENGTH = 16
"""Longest region name the names leave room for (AWS's longest today, e.g. ap-southeast-1, has 14 characters)."""

ALLOWED_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")  # R-FN-2
RUNTIME_DEPRECATIONS = {
    "nodejs18.x": "deprecated 2025-09-01; AWS blocks creating functions from 2025-10-01 and updating them from "
    "2025-11-11",
    "nodejs20.x": "deprecated 2026-04-30; AWS blocks creating functions from 2026-08-31",
}
"""Runtimes of ALLOWED_RUNTIMES past their AWS deprecation, with the dates of the AWS Lambda runtimes table
(docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html, "Deprecated runtimes"; AWS may move the block dates:
re-check there). Selecting one warns at preview (R-FN-2): a new stack cannot create such functions."""
MAX_DEFAULT_QUOTA_MEMORY_MB = 3008
"""Largest Lambda memory every account accepts. "New AWS accounts have reduced concurrency and memory quotas. AWS
raises these quotas automatically based on your usage" (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
such an account refuses more than 3,008 MB ("Member must have value less than or equal to 3008"). Lambda's own
limit is MAX_LAMBDA_MEMORY_MB."""
MAX_LAMBDA_MEMORY_MB = 10240
LOG_RETENTION_VALUES = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""Retention values CloudWatch Logs accepts (days)."""

DEFAULT_PROCESSOR_BATCH_SIZE = 10
DEFAULT_PROCESSOR_BATCHING_WINDOW_SECONDS = 1
DEFAULT_PROCESSOR_MAX_CONCURRENCY = 100
# R-PERF-1: a closed window is stored within about this window + the settle time (SETTLE_MS in
# lib/lambda/src/core/coalesce.ts) of its end, well inside DataQuery's read-time look-back (READ_TIME_LOOKBACK_MS,
# 120 s, lib/lambda/src/core/query.ts), so readers of the API never wait for it. While events flow, DataAggregator
# runs about once per window per poller: 10 s instead of 2 s cut its runs (and their fixed cost) fivefold.
DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS = 10
AGGREGATION_BATCH_SIZE = 1000
"""Largest batch of buffered events/deferrals handed to DataAggregator (windows are deduplicated per batch; above 10
needs a batching window >= 1 s; Lambda also cuts a batch at its 6 MB invocation payload)."""
AGGREGATION_MAX_CONCURRENCY = 2
"""Concurrent DataAggregator invocations the buffer's event source starts (2 is the smallest value SQS allows)."""
AGGREGATION_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
MAX_PROCESSOR_TIMEOUT_SECONDS = 50  # R-FN-6: processor timeout = min(50, visibility // 6)
INGESTION_TIMEOUT_SECONDS = 300  # S3 objects are streamed; API Gateway itself cuts the API path at 29 s
AGGREGATOR_TIMEOUT_SECONDS = 120
AGGREGATION_QUEUE_VISIBILITY_SECONDS = 6 * AGGREGATOR_TIMEOUT_SECONDS
"""Visibility timeout of the aggregation buffer: at least 6 x the function timeout, as AWS recommends for an SQS
event source (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html)."""
QUERY_TIMEOUT_SECONDS = 28  # below API Gateway's 29 s integration limit
ASYNC_MAX_RETRY_ATTEMPTS = 2  # R-SQS-3: Lambda async retries (0-2)
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
EVENT_TARGET_MAX_RETRY_ATTEMPTS = 8  # R-SQS-3: EventBridge target retry policy
EVENT_TARGET_MAX_EVENT_AGE_SECONDS = 3600
NONCURRENT_VERSION_DAYS = 1  # R-S3-4: noncurrent versions go one day after they stop being current
ABORT_MULTIPART_DAYS = 1  # R-S3-4
OLDEST_MESSAGE_AGE_ALARM_SECONDS = 900  # R-MON-3
AGGREGATION_AGE_ALARM_SECONDS = 900 + OLDEST_MESSAGE_AGE_ALARM_SECONDS  # deferrals wait up to 900 s by design
MAX_BODY_BYTES = 4 * 1024 * 1024  # API body limit passed to DataIngestion (docs/design.md)
TTL_ATTRIBUTE = "expiresAt"  # R-DDB-2
LOG_ERROR_PATTERN = '{ $.level = "ERROR" }'  # R-MON-2: Powertools Logger JSON error lines
LOG_METRICS_NAMESPACE = "MarketData/Logs"
API_PATHS = {
    "ingest": "/ingest",
    "latest": "/symbols/{symbol}/latest",
    "ticks": "/symbols/{symbol}/ticks",
    "aggregates": "/symbols/{symbol}/aggregates",
}  # R-API-1, R-API-3
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
API_GATEWAY_LOGS_MANAGED_POLICY = (
    "arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)
"""AWS's managed policy for the API Gateway account's CloudWatch role (docs.aws.amazon.com/apigateway/latest/
developerguide/set-up-logging.html): lets API Gateway create and write the log groups of every API in the region."""

API_KEY_OUTPUT = "ApiKeyId"
"""The stack-output key of the API key's id: exported exactly when the API uses API keys (`component.stack_outputs`)."""
