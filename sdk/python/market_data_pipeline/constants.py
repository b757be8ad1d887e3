"""Values the specification fixes, in one place (SPEC sections 1-9)."""

PACKAGE_NAME = "market-data-pipeline"
"""The Pulumi package name (type-token prefix)."""

PACKAGE_VERSION = "0.1.0"
"""The package version reported in the schema."""

COMPONENT_TOKEN = f"{PACKAGE_NAME}:index:MarketDataPipeline"
"""Type token of the component."""

REGION = "us-east-1"  # R-ORG-3
REQUIRED_TAGS = {"Environment": "Production", "Project": "MarketAnalytics"}  # R-ORG-1

# Defaults of the args (R-PKG-5).
DEFAULT_API_THROTTLE_RATE_LIMIT = 10_000.0  # R-API-2
DEFAULT_API_THROTTLE_BURST_LIMIT = 5_000
DEFAULT_DATA_RETENTION_DAYS = 30  # R-S3-4
DEFAULT_LOG_RETENTION_DAYS = 7  # R-MON-1
DEFAULT_LAMBDA_MEMORY_MB = 3072  # R-FN-2
DEFAULT_LAMBDA_RUNTIME = "nodejs18.x"  # R-FN-2
DEFAULT_AGGREGATION_SCHEDULE = "rate(5 minutes)"  # R-EVB-2
DEFAULT_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # R-SQS-1
DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS = 300  # R-SQS-1
DEFAULT_MAX_RECEIVE_COUNT = 5  # R-SQS-2
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # R-SQS-2

FUNCTION_NAMES = ("DataIngestion", "DataProcessor", "DataAggregator", "DataQuery")  # R-FN-1
HANDLER_DIRS = {
    "DataIngestion": "ingestion",
    "DataProcessor": "processor",
    "DataAggregator": "aggregator",
    "DataQuery": "query",
}
"""Function name -> bundle directory under market_data_pipeline/handlers/."""

INCOMING_PREFIX = "incoming/"  # R-FN-3
REJECTED_PREFIX = "rejected/"  # R-DATA-3
API_ARCHIVE_PREFIX = "api/"

EVENT_SOURCE = "market-data.processor"  # R-EVB-1
EVENT_DETAIL_TYPE = "TicksStored"
METRICS_NAMESPACE = "MarketData"
