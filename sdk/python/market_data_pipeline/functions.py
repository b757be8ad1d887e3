"""Functions (R-FN, R-MON-1): log groups, roles, the four Lambda functions and their triggers.

The code of each function is the esbuild bundle shipped inside this package
(`market_data_pipeline/handlers/<fn>/index.mjs`, built by `make build` from lib/lambda and committed, so every install
path has them). `HANDLERS_DIR` is read at call time, so tests may point it at placeholder bundles.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .messaging import Messaging
from .naming import DeadLetterQueue
from .security import function_role

HANDLERS_DIR = Path(__file__).resolve().parent / "handlers"
"""Where the handler bundles are (package data)."""

BUNDLE_FILE = "index.mjs"
HANDLER = "index.handler"

V = TypeVar("V")
"""A resource identity: `pulumi.Input[str]` in the component, `str` locally."""


class MissingBundleError(FileNotFoundError):
    """A handler bundle is not in the package (R-FN-7)."""


def bundle_path(function: str) -> Path:
    """The bundle of a function (one of FUNCTION_NAMES)."""
    return HANDLERS_DIR / c.HANDLER_DIRS[function] / BUNDLE_FILE


def check_bundles() -> dict[str, Path]:
    """Every function's bundle path; raise MissingBundleError naming the missing ones (R-FN-7)."""
    paths = {f: bundle_path(f) for f in c.FUNCTION_NAMES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise MissingBundleError(
            f"handler bundle(s) missing: {', '.join(missing)}. The Lambda code ships inside the package (the "
            "bundles are committed in the repository): reinstall the package, or in a checkout run `make build`."
        )
    return paths


def function_code(function: str) -> pulumi.AssetArchive:
    """The deployment package of a function: its bundle as `index.mjs` (handler `index.handler`)."""
    path = bundle_path(function)
    if not path.is_file():
        check_bundles()
    return pulumi.AssetArchive({BUNDLE_FILE: pulumi.FileAsset(str(path))})


def base_environment(service: str) -> dict[str, str]:
    """Powertools settings every function gets (docs/design.md)."""
    return {
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


@dataclass(frozen=True)
class EnvironmentResources(Generic[V]):
    """The resources a function's environment names: Pulumi outputs in the component, plain strings (moto's names
    and URLs) in the local host (`tools/local/host.py`)."""

    raw_bucket: V
    """The raw-data bucket's name (RAW_BUCKET)."""
    processing_queue_url: V
    """The ProcessingQueue's URL (PROCESSING_QUEUE_URL)."""
    state_table: V
    """The MarketDataState table's name (STATE_TABLE)."""
    event_bus_name: V
    """The pipeline's event bus name (EVENT_BUS_NAME)."""
    aggregation_queue_url: V
    """The aggregation buffer's URL (AGGREGATION_QUEUE_URL)."""


def function_environment(
    function: str, cfg: PipelineConfig, res: EnvironmentResources[V]
) -> dict[str, V | str]:
    """The whole environment of function `function` (one of FUNCTION_NAMES), the one owner of the contract of
    docs/design.md "Function environment": the component deploys it and the local host (`tools/local/host.py`) runs
    the bundles with it. The bundles require every variable (a missing or bad one fails the function at init)."""
    table: dict[str, V | str] = {"STATE_TABLE": res.state_table}
    retention: dict[str, V | str] = {"DATA_RETENTION_DAYS": str(cfg.data_retention_days)}
    # the TicksStored events DataProcessor emits and DataAggregator accepts: the values the rule matches (R-EVB-1)
    ticks_stored: dict[str, V | str] = {
        "EVENT_SOURCE": c.EVENT_SOURCE,
        "EVENT_DETAIL_TYPE": c.EVENT_DETAIL_TYPE,
    }
    own: dict[str, dict[str, V | str]] = {
        "DataIngestion": {
            "RAW_BUCKET": res.raw_bucket,
            "PROCESSING_QUEUE_URL": res.processing_queue_url,
            "MAX_BODY_BYTES": str(c.MAX_BODY_BYTES),
            "API_ARCHIVE": "true" if cfg.api_archive else "false",
        },
        "DataProcessor": {**table, **retention, **ticks_stored, "EVENT_BUS_NAME": res.event_bus_name},
        "DataAggregator": {
            **table,
            **retention,
            **ticks_stored,
            "AGGREGATION_QUEUE_URL": res.aggregation_queue_url,
        },
        "DataQuery": dict(table),
    }
    if function not in own:
        raise ValueError(f"unknown function {function!r}; allowed: {', '.join(c.FUNCTION_NAMES)}")
    return {**base_environment(c.HANDLER_DIRS[function]), **own[function]}


def function_timeout(function: str, cfg: PipelineConfig) -> int:
    """The timeout in seconds of function `function` (one of FUNCTION_NAMES); DataProcessor's follows the
    processing queue's visibility timeout (R-FN-6)."""
    timeouts = {
        "DataIngestion": c.INGESTION_TIMEOUT_SECONDS,
        "DataProcessor": cfg.processor_timeout,
        "DataAggregator": c.AGGREGATOR_TIMEOUT_SECONDS,
        "DataQuery": c.QUERY_TIMEOUT_SECONDS,
    }
    if function not in timeouts:
        raise ValueError(f"unknown function {function!r}; allowed: {', '.join(c.FUNCTION_NAMES)}")
    return timeouts[function]


class PipelineFunction(pulumi.ComponentResource):
    """One function: its own log group (created first, R-MON-1), its own role and inline policy (R-SEC-1) and the
    function (runtime and memory from the args, X-Ray Active, JSON logs into the log group; R-FN-2)."""

    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    function: aws.lambda_.Function

    def __init__(
        self,
        name: str,
        function: str,
        cfg: PipelineConfig,
        *,
        region: pulumi.Input[str],
        environment: Mapping[str, pulumi.Input[str]],
        policy: Callable[[pulumi.Output[str]], pulumi.Output[str]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Create the function's log group, role and function; `environment` is its whole environment
        (`function_environment`), `policy(log_group_arn)` gives the policy JSON and `region` goes into the role's
        (account-wide) name."""
        super().__init__("market-data-pipeline:internal:PipelineFunction", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        fn_name = naming.function_name(function, cfg.suffix)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=naming.log_group_name(function, cfg.suffix),
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=child,
        )
        self.role, inline = function_role(name, function, cfg, policy(self.log_group.arn), region, child)
        service = c.HANDLER_DIRS[function]
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=fn_name,
            description=f"Market data pipeline: {service}",
            role=self.role.arn,
            runtime=cfg.lambda_runtime,
            handler=HANDLER,
            code=function_code(function),
            architectures=["arm64"],
            memory_size=cfg.lambda_memory_mb,
            timeout=function_timeout(function, cfg),
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "log_group": self.log_group.name,
                "application_log_level": "INFO",
                "system_log_level": "WARN",
            },
            environment={"variables": dict(environment)},
            tags=tags,
            # The log group exists before the function (else Lambda creates an unmanaged one), and the role's
            # permissions before triggers that AWS validates against them (the SQS event source mapping).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, inline]),
        )
        self.register_outputs({"name": self.function.name, "arn": self.function.arn})


class Triggers(pulumi.ComponentResource):
    """How each function is invoked: S3 `incoming/` -> DataIngestion (R-FN-3), ProcessingQueue -> DataProcessor
    with partial-batch failures (R-FN-4), the TicksStored rule -> aggregation buffer -> DataAggregator (batches,
    partial-batch failures) and the schedule rule -> DataAggregator, each rule target with a retry policy and a DLQ
    (R-FN-5, R-EVB-1, R-SQS-3), and on-failure destinations of the two async-invoked functions (R-SQS-3)."""

    def __init__(
        self,
        name: str,
        cfg: PipelineConfig,
        *,
        bucket: aws.s3.Bucket,
        account_id: pulumi.Input[str],
        messaging: Messaging,
        ingestion: aws.lambda_.Function,
        processor: aws.lambda_.Function,
        aggregator: aws.lambda_.Function,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Create the permissions, notification, event source mapping, targets and invoke configs."""
        super().__init__("market-data-pipeline:internal:Triggers", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        dlqs = messaging.dead_letter_queues

        # R-FN-3: S3 object-created events under incoming/ (the permission first, else S3 rejects the config).
        s3_permission = aws.lambda_.Permission(
            f"{name}-s3-invoke-ingestion",
            action="lambda:InvokeFunction",
            function=ingestion.name,
            principal="s3.amazonaws.com",
            source_arn=bucket.arn,
            source_account=account_id,
            opts=child,
        )
        aws.s3.BucketNotification(
            f"{name}-incoming-notification",
            bucket=bucket.id,
            lambda_functions=[
                {
                    "lambda_function_arn": ingestion.arn,
                    "events": ["s3:ObjectCreated:*"],
                    "filter_prefix": c.INCOMING_PREFIX,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[s3_permission]),
        )

        def sqs_source(
            logical: str,
            queue: aws.sqs.Queue,
            fn: aws.lambda_.Function,
            batch_size: int,
            window_seconds: int,
            max_concurrency: int,
        ) -> None:
            """An SQS event source mapping with partial-batch failure reporting."""
            aws.lambda_.EventSourceMapping(
                f"{name}-{logical}",
                event_source_arn=queue.arn,
                function_name=fn.arn,
                batch_size=batch_size,
                maximum_batching_window_in_seconds=window_seconds,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config={"maximum_concurrency": max_concurrency},
                enabled=True,
                tags=dict(cfg.tags),
                opts=child,
            )

        # R-FN-4: SQS batches with partial-batch failure reporting; the queue's visibility timeout is >= 6 x
        # the function timeout (R-FN-6).
        sqs_source(
            "processing-queue-to-processor",
            messaging.queue,
            processor,
            cfg.processor_batch_size,
            cfg.processor_batching_window_seconds,
            cfg.processor_max_concurrency,
        )

        def target(
            logical: str,
            rule: aws.cloudwatch.EventRule,
            target_id: str,
            arn: pulumi.Input[str],
            dlq: aws.sqs.Queue,
            opts: pulumi.ResourceOptions,
        ) -> None:
            """A rule's target with the retry policy and its own DLQ (R-SQS-3)."""
            aws.cloudwatch.EventTarget(
                f"{name}-{logical}-target",
                rule=rule.name,
                event_bus_name=rule.event_bus_name,
                target_id=target_id,
                arn=arn,
                retry_policy={
                    "maximum_retry_attempts": c.EVENT_TARGET_MAX_RETRY_ATTEMPTS,
                    "maximum_event_age_in_seconds": c.EVENT_TARGET_MAX_EVENT_AGE_SECONDS,
                },
                dead_letter_config={"arn": dlq.arn},
                opts=opts,
            )

        # R-EVB-1, R-SQS-3, R-PERF-1: TicksStored -> the aggregation buffer (the queue policy admits this rule by
        # aws:SourceArn), with retries and its own DLQ like every target.
        target(
            "ticks-stored",
            messaging.ticks_rule,
            "AggregationQueue",
            messaging.aggregation_queue.arn,
            dlqs[DeadLetterQueue.TICKS_STORED_TARGET],
            child,
        )
        # R-FN-5, R-PERF-1: the buffer -> DataAggregator in batches gathered for up to the batching window (a
        # batch size above 10 needs a window >= 1 s), windows deduplicated per batch, partial-batch failures
        # reported (redelivered, then the buffer's DLQ after max_receive_count). AWS:
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html (batch size up to 10,000,
        # batching window; a batch size above 10 needs MaximumBatchingWindowInSeconds >= 1),
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (ReportBatchItemFailures),
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html (maximum concurrency 2-1000).
        sqs_source(
            "aggregation-queue-to-aggregator",
            messaging.aggregation_queue,
            aggregator,
            c.AGGREGATION_BATCH_SIZE,
            cfg.aggregation_batching_window_seconds,
            c.AGGREGATION_MAX_CONCURRENCY,
        )

        # R-EVB-2, R-SQS-3: the schedule -> DataAggregator directly, with retries and its own DLQ.
        permission = aws.lambda_.Permission(
            f"{name}-schedule-invoke-aggregator",
            action="lambda:InvokeFunction",
            function=aggregator.name,
            principal="events.amazonaws.com",
            source_arn=messaging.schedule_rule.arn,
            opts=child,
        )
        target(
            "schedule",
            messaging.schedule_rule,
            "DataAggregator",
            aggregator.arn,
            dlqs[DeadLetterQueue.SCHEDULE_TARGET],
            pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

        # R-SQS-3: async invocations (S3 -> DataIngestion, EventBridge -> DataAggregator) retry, then land in
        # an on-failure destination queue.
        for logical, fn, queue in (
            ("ingestion", ingestion, dlqs[DeadLetterQueue.INGESTION_FAILURES]),
            ("aggregator", aggregator, dlqs[DeadLetterQueue.AGGREGATOR_FAILURES]),
        ):
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{logical}-async",
                function_name=fn.name,
                maximum_retry_attempts=c.ASYNC_MAX_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=c.ASYNC_MAX_EVENT_AGE_SECONDS,
                destination_config={"on_failure": {"destination": queue.arn}},
                opts=child,
            )
        self.register_outputs({})
