"""Physical names of every named resource (R-ORG-2): `{resource-type}-{suffix}`, pure functions.

`NAME_LIMITS` records AWS's length limit of each kind; `all_names` lists every name the component gives, so a
test can check that the longest allowed suffix keeps all of them within their limits.
"""

from collections.abc import Callable

from .constants import FUNCTION_NAMES

NAME_LIMITS: dict[str, int] = {
    "bucket": 63,
    "table": 255,
    "function": 64,
    "role": 64,
    "role_policy": 128,
    "queue": 80,
    "event_bus": 256,
    "event_rule": 64,
    "log_group": 512,
    "metric_filter": 512,
    "alarm": 255,
    "topic": 256,
    "dashboard": 255,
    "api": 1024,
    "api_key": 1024,
    "usage_plan": 1024,
    "stage": 128,
    "api_role": 64,
}
"""AWS's longest physical name per kind."""


def _suffixed(prefix: str, doc: str) -> Callable[[str], str]:
    """A name builder `suffix -> "{prefix}-{suffix}"`, documented by `doc`."""

    def name(suffix: str) -> str:
        return f"{prefix}-{suffix}"

    name.__doc__ = doc
    return name


def _per_subject(kind: str, doc: str) -> Callable[[str, str], str]:
    """A name builder `(subject, suffix) -> "{subject}{kind}-{suffix}"` (subject: a function or a rule kind),
    documented by `doc`."""

    def name(subject: str, suffix: str) -> str:
        return f"{subject}{kind}-{suffix}"

    name.__doc__ = doc
    return name


def bucket_name(suffix: str, account_id: str) -> str:
    """Raw-data bucket: lowercase and globally unique (R-S3-1)."""
    return f"market-data-raw-{suffix}-{account_id}"


def function_name(function: str, suffix: str) -> str:
    """A Lambda function, `function` one of FUNCTION_NAMES (R-FN-1)."""
    if function not in FUNCTION_NAMES:
        raise ValueError(f"unknown function {function!r}: allowed {list(FUNCTION_NAMES)}")
    return f"{function}-{suffix}"


def log_group_name(function: str, suffix: str) -> str:
    """A function's own log group (R-MON-1)."""
    return f"/aws/lambda/{function_name(function, suffix)}"


def stage_name(suffix: str) -> str:
    """The API stage: the suffix itself, so the URL ends with `/<suffix>/`."""
    return suffix


def alarm_name(kind: str, subject: str, suffix: str) -> str:
    """An alarm, e.g. alarm_name("Errors", "DataIngestion", "prod") -> "DataIngestion-Errors-prod"."""
    return f"{subject}-{kind}-{suffix}"


# `(function, suffix)` builders: f"{function}<kind>-{suffix}" (rule_dlq_name: `rule` is a short rule kind).
role_name = _per_subject("Role", "The execution role of a function (R-SEC-1).")
role_policy_name = _per_subject("Policy", "The inline policy of a function's role.")
failure_queue_name = _per_subject(
    "FailureDLQ", "The on-failure destination of an asynchronously invoked function (R-SQS-3)."
)
rule_dlq_name = _per_subject(
    "TargetDLQ",
    "The dead-letter queue of an EventBridge rule's target (R-SQS-3); `rule` is a short rule kind.",
)
metric_filter_name = _per_subject(
    "LogErrors", "The error-count metric filter of a function's log group (R-MON-2)."
)
log_error_metric_name = _per_subject("Errors", "The metric the error filter of a function writes.")

# `suffix` builders: f"<prefix>-{suffix}".
table_name = _suffixed("MarketDataState", "The state table (R-DDB-1).")
queue_name = _suffixed("ProcessingQueue", "The processing queue (R-SQS-1).")
dlq_name = _suffixed("ProcessingQueueDLQ", "The processing queue's dead-letter queue (R-SQS-2).")
aggregation_queue_name = _suffixed(
    "AggregationQueue", "The buffer coalescing TicksStored events before DataAggregator (R-FN-5, R-EVB-1)."
)
aggregation_dlq_name = _suffixed(
    "AggregationQueueDLQ", "The aggregation buffer's dead-letter queue (R-SQS-3)."
)
event_bus_name = _suffixed("MarketDataEvents", "The pipeline's own event bus (R-EVB-1).")
ticks_rule_name = _suffixed(
    "TicksStoredRule", "The rule routing TicksStored events to DataAggregator (R-EVB-1)."
)
schedule_rule_name = _suffixed(
    "AggregationSchedule", "The aggregation schedule rule on the default bus (R-EVB-2)."
)
api_name = _suffixed("MarketDataApi", "The REST API (R-API-1).")
api_key_name = _suffixed("MarketDataApiKey", "The API key (R-API-4, API_KEY auth).")
usage_plan_name = _suffixed("MarketDataUsagePlan", "The usage plan binding the API key to the stage.")
api_cloudwatch_role_name = _suffixed(
    "ApiGatewayLogsRole", "The role API Gateway uses to write access logs (account setting)."
)
topic_name = _suffixed("MarketDataAlarms", "The alarm topic (R-MON-3).")
dashboard_name = _suffixed("MarketDataPipeline", "The CloudWatch dashboard (R-MON-4).")


def api_access_log_group_name(suffix: str) -> str:
    """The stage's access log group (R-API-5)."""
    return f"/aws/apigateway/{api_name(suffix)}/access"


def all_names(suffix: str, account_id: str = "123456789012") -> dict[str, list[str]]:
    """Every physical name the component gives, by kind of NAME_LIMITS."""
    fns = list(FUNCTION_NAMES)
    return {
        "bucket": [bucket_name(suffix, account_id)],
        "table": [table_name(suffix)],
        "function": [function_name(f, suffix) for f in fns],
        "role": [role_name(f, suffix) for f in fns],
        "role_policy": [role_policy_name(f, suffix) for f in fns],
        "queue": [queue_name(suffix), dlq_name(suffix)]
        + [aggregation_queue_name(suffix), aggregation_dlq_name(suffix)]
        + [failure_queue_name(f, suffix) for f in ("DataIngestion", "DataAggregator")]
        + [rule_dlq_name(r, suffix) for r in ("TicksStored", "Schedule")],
        "event_bus": [event_bus_name(suffix)],
        "event_rule": [ticks_rule_name(suffix), schedule_rule_name(suffix)],
        "log_group": [log_group_name(f, suffix) for f in fns] + [api_access_log_group_name(suffix)],
        "metric_filter": [metric_filter_name(f, suffix) for f in fns],
        "alarm": [
            alarm_name("ApproximateAgeOfOldestMessage", "ProcessingQueueDLQ", suffix),
            alarm_name("NotEmpty", "AggregationQueueDLQ", suffix),
        ],
        "topic": [topic_name(suffix)],
        "dashboard": [dashboard_name(suffix)],
        "api": [api_name(suffix)],
        "api_key": [api_key_name(suffix)],
        "usage_plan": [usage_plan_name(suffix)],
        "stage": [stage_name(suffix)],
        "api_role": [api_cloudwatch_role_name(suffix)],
    }
