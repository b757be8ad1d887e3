"""The component's typed args (R-PKG-5) and their validation into a frozen config.

Data flows one way: `MarketDataPipelineArgs` (a plain dict from Python, or the camelCase inputs the provider maps
back) -> `validate()` -> `PipelineConfig` (frozen, every default applied) -> resources. Every control-flow input is a
plain value, never `pulumi.Input[...]`. Invalid values raise `ConfigError` (a `ValueError`) whose message names the
arg, the value and the allowed range.
"""

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from . import constants as c
from .tags import merge_tags


class ApiAuth(enum.Enum):
    """How API callers authenticate (R-API-4)."""

    API_KEY = "API_KEY"
    """Every route requires an API key (header `x-api-key`); the component creates the key and a usage plan."""
    IAM = "IAM"
    """Every route requires SigV4-signed requests (AWS_IAM authorization)."""


class MarketDataPipelineArgs(TypedDict):
    """Arguments of the MarketDataPipeline component."""

    environment_suffix: str
    """Environment suffix in every physical name (`DataIngestion-<suffix>`, ...): 1-20 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."""
    region: NotRequired[str]
    """AWS region the component deploys to. Default: the stack's region (`aws:region` config, else AWS_REGION / AWS_DEFAULT_REGION), and `us-east-1` when the stack sets none. Only a region different from the stack's makes the component create its own aws provider, which carries over the stack's `aws:*` settings (profile, assumeRoles, allowedAccountIds, ...). Ignored when an explicit `aws` provider is passed in the resource options (that provider's region is used)."""
    api_throttle_rate_limit: NotRequired[float]
    """Stage-wide steady-state request rate limit in requests per second for every method (default 10000; 1-1000000)."""
    api_throttle_burst_limit: NotRequired[int]
    """Stage-wide burst limit in requests (default 5000; 1-1000000)."""
    data_retention_days: NotRequired[int]
    """Days raw objects and DynamoDB items are kept (default 30; 1-3650)."""
    log_retention_days: NotRequired[int]
    """Retention of the Lambda and API access log groups in days (default 7; a value CloudWatch Logs allows: 1, 3, 5, 7, 14, 30, 60, 90, ...)."""
    lambda_memory_mb: NotRequired[int]
    """Memory of every function in MB (default 3008, "3 GB", the most every AWS account accepts; 128-10240). Above 3008 is an opt-in: new AWS accounts refuse it until AWS raises their Lambda memory quota (Service Quotas)."""
    lambda_runtime: NotRequired[str]
    """Node.js runtime of the functions (default nodejs22.x: AWS accepts it for new functions and the handler tests run on it): nodejs18.x, nodejs20.x, nodejs22.x or nodejs24.x. nodejs18.x (the original request) and nodejs20.x are past their AWS deprecation: AWS refuses to create new functions on them, and the component warns at preview."""
    aggregation_schedule: NotRequired[str]
    """EventBridge schedule expression of the aggregation run (default `rate(5 minutes)`; `rate(N unit)` or `cron(6 fields)`)."""
    queue_retention_seconds: NotRequired[int]
    """Message retention of the processing queue in seconds (default 345600 = 4 days; 60-1209600)."""
    queue_visibility_timeout_seconds: NotRequired[int]
    """Visibility timeout of the processing queue in seconds (default 300; 30-43200). The DataProcessor timeout is min(50, this // 6), so the visibility timeout is at least 6 x the function timeout."""
    max_receive_count: NotRequired[int]
    """Receives before a message moves to the dead-letter queue (default 5; 1-1000)."""
    processor_batch_size: NotRequired[int]
    """Largest SQS batch handed to DataProcessor (default 10; 1-10000; above 10 needs a batching window >= 1 s)."""
    processor_batching_window_seconds: NotRequired[int]
    """Longest time the event source mapping gathers a batch for DataProcessor, in seconds (default 1; 0-300). Ticks are stored (and counted in aggregates) up to this much later; fewer, larger batches mean fewer processor runs and requests. Aggregation work does not depend on it: it grows with the ticks stored (R-PERF-1)."""
    aggregation_batching_window_seconds: NotRequired[int]
    """Longest time the aggregation buffer gathers TicksStored events before one DataAggregator run, in seconds (default 10; 1-300). DataAggregator stores each (symbol, 5-minute window) group once, after the 5-minute window has closed, and DataQuery computes every window of the groups not stored yet (the last 5-7 minutes) from the ticks, so this only delays the stored aggregates of a closed group (and of late ticks) by up to this much; a longer window means fewer DataAggregator runs while events flow (each run costs a request, a trace and the buffer's receive and delete, whatever its windows)."""
    processor_max_concurrency: NotRequired[int]
    """Largest number of concurrent DataProcessor invocations the SQS event source starts (default 100; 2-1000)."""
    tags: NotRequired[dict[str, str]]
    """Extra tags on every taggable resource, merged with Environment=Production and Project=MarketAnalytics (which cannot be overridden)."""
    alarm_email: NotRequired[str]
    """Optional e-mail address subscribed to the alarm topic."""
    api_auth: NotRequired[ApiAuth]
    """API authentication: API_KEY (default) or IAM."""
    api_archive: NotRequired[bool]
    """Keep a copy of every accepted `POST /ingest` body in the raw-data bucket, `api/<yyyy>/<mm>/<dd>/<requestId>.jsonl` (the normalised ticks, one per line), written before the ticks are sent on, for `data_retention_days` (default false). Off, the table holds every accepted tick for the same `data_retention_days` (with point-in-time recovery); on, every request costs one more S3 PUT and DataIngestion waits for it: about $0.10 per million ticks at 100 ticks per request, a tenth of the API stream's bill (bench/README.md). S3 uploads are always kept under `incoming/`."""
    manage_api_gateway_account: NotRequired[bool]
    """Manage the region's API Gateway account setting (aws.apigateway.Account) that stage access and execution logs need, with a role holding AWS's managed policy AmazonAPIGatewayPushToCloudWatchLogs (default true). The setting is one per account and region, shared by every REST API there, and is kept (with its role) when the stack is destroyed: let exactly one stack per account and region manage it and set false in the others (README, "Deploying to AWS")."""


class ConfigError(ValueError):
    """An invalid arg: the message names the arg, the value and what is allowed."""


@dataclass(frozen=True)
class PipelineConfig:
    """The validated configuration, every default applied (built only by `validate`)."""

    suffix: str
    region: str | None
    """The region asked for by the `region` arg; None: the stack's (aws_provider.placement decides)."""
    api_throttle_rate_limit: float
    api_throttle_burst_limit: int
    data_retention_days: int
    log_retention_days: int
    lambda_memory_mb: int
    lambda_runtime: str
    aggregation_schedule: str
    queue_retention_seconds: int
    queue_visibility_timeout_seconds: int
    max_receive_count: int
    processor_batch_size: int
    processor_batching_window_seconds: int
    processor_max_concurrency: int
    aggregation_batching_window_seconds: int = c.DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS
    tags: Mapping[str, str] = field(default_factory=dict)
    alarm_email: str | None = None
    api_auth: ApiAuth = ApiAuth.API_KEY
    api_archive: bool = c.DEFAULT_API_ARCHIVE
    manage_api_gateway_account: bool = True

    @property
    def processor_timeout(self) -> int:
        """DataProcessor timeout in seconds: min(50, visibility // 6) (R-FN-6)."""
        return min(c.MAX_PROCESSOR_TIMEOUT_SECONDS, self.queue_visibility_timeout_seconds // 6)


SUFFIX_RE = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON_RE = re.compile(r"^cron\((\S+ ){5}\S+\)$")

KNOWN_ARGS = frozenset(MarketDataPipelineArgs.__annotations__)


def _fail(arg: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid {arg}={value!r}: allowed {allowed}")


def _int(args: Mapping[str, Any], arg: str, default: int, lo: int, hi: int) -> int:
    value = args.get(arg, default)
    # The provider hands integers over as floats (12.0); accept integral floats, refuse bools and fractions.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(arg, value, f"an integer from {lo} to {hi}")
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(arg, value, f"an integer from {lo} to {hi}")
        value = int(value)
    if not lo <= value <= hi:
        raise _fail(arg, value, f"an integer from {lo} to {hi}")
    return value


def _bool(args: Mapping[str, Any], arg: str, default: bool) -> bool:
    value = args.get(arg, default)
    if not isinstance(value, bool):
        raise _fail(arg, value, "true or false")
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _float(args: Mapping[str, Any], arg: str, default: float, lo: float, hi: float) -> float:
    value = args.get(arg, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(arg, value, f"a number from {_num(lo)} to {_num(hi)}")
    if not lo <= value <= hi:
        raise _fail(arg, value, f"a number from {_num(lo)} to {_num(hi)}")
    return float(value)


def _str(args: Mapping[str, Any], arg: str, default: str) -> str:
    value = args.get(arg, default)
    if not isinstance(value, str):
        raise _fail(arg, value, "a string")
    return value


def validate_suffix(value: Any) -> str:
    """Check an environment suffix (R-ORG-2) and return it."""
    if (
        not isinstance(value, str)
        or not (1 <= len(value) <= c.MAX_SUFFIX_LENGTH)
        or not SUFFIX_RE.match(value)
    ):
        raise _fail(
            "environment_suffix",
            value,
            f"1-{c.MAX_SUFFIX_LENGTH} characters of lowercase letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen",
        )
    return value


def validate_schedule(value: Any) -> str:
    """Check an EventBridge schedule expression: rate(N unit) with singular unit for 1, or cron(6 fields)."""
    allowed = "'rate(<n> minute(s)|hour(s)|day(s))' with n >= 1 (singular unit for 1) or 'cron(<6 fields>)'"
    if not isinstance(value, str):
        raise _fail("aggregation_schedule", value, allowed)
    m = RATE_RE.match(value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n < 1 or (n == 1) != (not unit.endswith("s")):
            raise _fail("aggregation_schedule", value, allowed)
        return value
    if CRON_RE.match(value):
        return value
    raise _fail("aggregation_schedule", value, allowed)


def validate(args: Mapping[str, Any]) -> PipelineConfig:
    """Validate the args and apply defaults; raise ConfigError naming the first bad arg."""
    if not isinstance(args, Mapping):
        raise ConfigError(f"args must be a mapping (MarketDataPipelineArgs), got {type(args).__name__}")
    unknown = sorted(set(args) - KNOWN_ARGS)
    if unknown:
        raise ConfigError(f"unknown args {unknown}: allowed {sorted(KNOWN_ARGS)}")
    if "environment_suffix" not in args:
        raise ConfigError("missing environment_suffix: required, e.g. 'prod' or 'dev'")
    suffix = validate_suffix(args["environment_suffix"])

    region = args.get("region")
    if region is not None and (
        not isinstance(region, str) or not REGION_RE.match(region) or len(region) > c.MAX_REGION_LENGTH
    ):
        raise _fail(
            "region",
            region,
            f"an AWS region name such as 'us-east-1' (at most {c.MAX_REGION_LENGTH} characters)",
        )

    log_retention = args.get("log_retention_days", c.DEFAULT_LOG_RETENTION_DAYS)
    if isinstance(log_retention, float) and log_retention.is_integer():
        log_retention = int(log_retention)
    if isinstance(log_retention, bool) or log_retention not in c.LOG_RETENTION_VALUES:
        raise _fail("log_retention_days", log_retention, f"one of {list(c.LOG_RETENTION_VALUES)}")

    runtime = _str(args, "lambda_runtime", c.DEFAULT_LAMBDA_RUNTIME)
    if runtime not in c.ALLOWED_RUNTIMES:
        raise _fail("lambda_runtime", runtime, f"one of {list(c.ALLOWED_RUNTIMES)}")

    batch_size = _int(args, "processor_batch_size", c.DEFAULT_PROCESSOR_BATCH_SIZE, 1, 10000)
    window = _int(
        args, "processor_batching_window_seconds", c.DEFAULT_PROCESSOR_BATCHING_WINDOW_SECONDS, 0, 300
    )
    if batch_size > 10 and window < 1:
        raise _fail(
            "processor_batching_window_seconds",
            window,
            "1-300 when processor_batch_size is above 10 (an SQS event source rule)",
        )

    email = args.get("alarm_email")
    if email is not None and (not isinstance(email, str) or not EMAIL_RE.match(email) or len(email) > 254):
        raise _fail("alarm_email", email, "an e-mail address like 'oncall@example.com', or leave it out")

    auth = args.get("api_auth", ApiAuth.API_KEY)
    if isinstance(auth, str) and not isinstance(auth, ApiAuth):
        try:
            auth = ApiAuth(auth)
        except ValueError:
            raise _fail("api_auth", auth, f"one of {[a.value for a in ApiAuth]}") from None
    if not isinstance(auth, ApiAuth):
        raise _fail("api_auth", auth, f"one of {[a.value for a in ApiAuth]}")

    manage = _bool(args, "manage_api_gateway_account", True)
    archive = _bool(args, "api_archive", c.DEFAULT_API_ARCHIVE)

    try:
        tags = merge_tags(args.get("tags"))
    except ValueError as e:
        raise ConfigError(str(e)) from None

    return PipelineConfig(
        suffix=suffix,
        region=region,
        api_throttle_rate_limit=_float(
            args, "api_throttle_rate_limit", c.DEFAULT_API_THROTTLE_RATE_LIMIT, 1, 1_000_000
        ),
        api_throttle_burst_limit=_int(
            args, "api_throttle_burst_limit", c.DEFAULT_API_THROTTLE_BURST_LIMIT, 1, 1_000_000
        ),
        data_retention_days=_int(args, "data_retention_days", c.DEFAULT_DATA_RETENTION_DAYS, 1, 3650),
        log_retention_days=int(log_retention),
        lambda_memory_mb=_int(
            args, "lambda_memory_mb", c.DEFAULT_LAMBDA_MEMORY_MB, 128, c.MAX_LAMBDA_MEMORY_MB
        ),
        lambda_runtime=runtime,
        aggregation_schedule=validate_schedule(
            args.get("aggregation_schedule", c.DEFAULT_AGGREGATION_SCHEDULE)
        ),
        queue_retention_seconds=_int(
            args, "queue_retention_seconds", c.DEFAULT_QUEUE_RETENTION_SECONDS, 60, 1_209_600
        ),
        queue_visibility_timeout_seconds=_int(
            args, "queue_visibility_timeout_seconds", c.DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS, 30, 43_200
        ),
        max_receive_count=_int(args, "max_receive_count", c.DEFAULT_MAX_RECEIVE_COUNT, 1, 1000),
        processor_batch_size=batch_size,
        processor_batching_window_seconds=window,
        processor_max_concurrency=_int(
            args, "processor_max_concurrency", c.DEFAULT_PROCESSOR_MAX_CONCURRENCY, 2, 1000
        ),
        # 1-300: the buffer's batch size (AGGREGATION_BATCH_SIZE) is above 10, which needs a window >= 1 s.
        aggregation_batching_window_seconds=_int(
            args,
            "aggregation_batching_window_seconds",
            c.DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS,
            1,
            300,
        ),
        tags=tags,
        alarm_email=email,
        api_auth=auth,
        api_archive=archive,
        manage_api_gateway_account=manage,
    )
