"""Physical names of every named resource (R-ORG-2): `{resource-type}-{suffix}`, pure functions.

Names in an account-wide (IAM roles, CloudWatch dashboards) or global (S3 buckets) namespace also hold the region,
so the same suffix can be deployed to two regions of one account.

`NAME_LIMITS` records AWS's length limit of each kind; `all_names` lists every name the component gives, so a
test can check that the longest allowed suffix keeps all of them within their limits.
"""

import enum
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
    "api_role_prefix": 38,
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


def bucket_name(suffix: str, account_id: str, region: str) -> str:
    """Raw-data bucket: lowercase and globally unique (R-S3-1): the account and the region make it so."""
    return f"market-data-{suffix}-{account_id}-{region}"


def role_name(function: str, suffix: str, region: str) -> str:
    """The execution role of a function (R-SEC-1); IAM names are account-wide, so the region is part of it."""
    return f"{function}Role-{suffix}-{region}"


def api_cloudwatch_role_prefix(suffix: str) -> str:
    """Name prefix of the role API Gateway uses to write logs (the region's account setting). A prefix, so IAM
    adds a unique ending: the role outlives a destroy (it is retained with the setting), and a later deploy then
    creates a new one instead of colliding with it."""
    return f"ApiGwLogs-{suffix}-"


def dashboard_name(suffix: str, region: str) -> str:
    """The CloudWatch dashboard (R-MON-4); dashboards are account-wide (their ARN has no region)."""
    return f"MarketDataPipeline-{suffix}-{region}"


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


# `(function, suffix)` builders: f"{function}<kind>-{suffix}".
role_policy_name = _per_subject("Policy", "The inline policy of a function's role.")
metric_filter_name = _per_subject(
    "LogErrors", "The error-count metric filter of a function's log group (R-MON-2)."
)
log_error_metric_name = _per_subject("Errors", "The metric the error filter of a function writes.")

# `suffix` builders: f"<prefix>-{suffix}".
table_name = _suffixed("MarketDataState", "The state table (R-DDB-1).")
queue_name = _suffixed("ProcessingQueue", "The processing queue (R-SQS-1).")
aggregation_queue_name = _suffixed(
    "AggregationQueue", "The buffer coalescing TicksStored events before DataAggregator (R-FN-5, R-EVB-1)."
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
topic_name = _suffixed("MarketDataAlarms", "The alarm topic (R-MON-3).")


class DeadLetterQueue(enum.Enum):
    """Every dead-letter queue of the pipeline (R-SQS-2, R-SQS-3): the one list of them. `Messaging` creates one
    queue per member and exposes them as `Messaging.dead_letter_queues` (member -> queue), which the roles' Deny
    statements and the queue policies read; the NotEmpty alarms, the dashboard and `all_names` read this list.

    A member's value is `(subject, logical)`: `subject` is the physical name without the suffix and the subject
    of its alarm; `logical` is the queue's resource name under Messaging (`<messaging>-<logical>`), kept stable
    because a new logical name would replace the queue."""

    PROCESSING = ("ProcessingQueueDLQ", "processing-dlq")
    """ProcessingQueue's redrive target (R-SQS-2)."""
    AGGREGATION = ("AggregationQueueDLQ", "aggregation-dlq")
    """The aggregation buffer's redrive target (R-SQS-3)."""
    INGESTION_FAILURES = ("DataIngestionFailureDLQ", "ingestion-failures")
    """DataIngestion's on-failure destination (asynchronous invocations by S3, R-SQS-3)."""
    AGGREGATOR_FAILURES = ("DataAggregatorFailureDLQ", "aggregator-failures")
    """DataAggregator's on-failure destination (asynchronous invocations by the schedule rule, R-SQS-3)."""
    TICKS_STORED_TARGET = ("TicksStoredTargetDLQ", "ticks-rule-dlq")
    """The TicksStored rule target's dead-letter queue (R-SQS-3)."""
    SCHEDULE_TARGET = ("ScheduleTargetDLQ", "schedule-rule-dlq")
    """The schedule rule target's dead-letter queue (R-SQS-3)."""

    @property
    def subject(self) -> str:
        """The physical name without the suffix; also the subject of the queue's NotEmpty alarm."""
        return str(self.value[0])

    @property
    def logical(self) -> str:
        """The queue's resource name under Messaging."""
        return str(self.value[1])


def dead_letter_queue_name(dlq: DeadLetterQueue, suffix: str) -> str:
    """A dead-letter queue, e.g. `ProcessingQueueDLQ-<suffix>` (R-SQS-2, R-SQS-3)."""
    return f"{dlq.subject}-{suffix}"


def api_access_log_group_name(suffix: str) -> str:
    """The stage's access log group (R-API-5)."""
    return f"/aws/apigateway/{api_name(suffix)}/access"


def api_execution_log_group_name(rest_api_id: str, stage: str) -> str:
    """The stage's execution log group: its name is fixed by API Gateway."""
    return f"API-Gateway-Execution-Logs_{rest_api_id}/{stage}"


def all_names(
    suffix: str, account_id: str = "123456789012", region: str = "us-east-1"
) -> dict[str, list[str]]:
    """Every physical name the component gives, by kind of NAME_LIMITS."""
    fns = list(FUNCTION_NAMES)
    return {
        "bucket": [bucket_name(suffix, account_id, region)],
        "table": [table_name(suffix)],
        "function": [function_name(f, suffix) for f in fns],
        "role": [role_name(f, suffix, region) for f in fns],
        "role_policy": [role_policy_name(f, suffix) for f in fns],
        "queue": [queue_name(suffix), aggregation_queue_name(suffix)]
        + [dead_letter_queue_name(d, suffix) for d in DeadLetterQueue],
        "event_bus": [event_bus_name(suffix)],
        "event_rule": [ticks_rule_name(suffix), schedule_rule_name(suffix)],
        "log_group": [log_group_name(f, suffix) for f in fns]
        + [api_access_log_group_name(suffix), api_execution_log_group_name("a1b2c3d4e5", stage_name(suffix))],
        "metric_filter": [metric_filter_name(f, suffix) for f in fns],
        "alarm": [
            alarm_name("ApproximateAgeOfOldestMessage", DeadLetterQueue.PROCESSING.subject, suffix),
            *(alarm_name("NotEmpty", d.subject, suffix) for d in DeadLetterQueue),
        ],
        "topic": [topic_name(suffix)],
        "dashboard": [dashboard_name(suffix, region)],
        "api": [api_name(suffix)],
        "api_key": [api_key_name(suffix)],
        "usage_plan": [usage_plan_name(suffix)],
        "stage": [stage_name(suffix)],
        "api_role_prefix": [api_cloudwatch_role_prefix(suffix)],
    }
