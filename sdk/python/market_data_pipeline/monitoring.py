"""Monitoring (R-MON-2..4): error metric filters on the function log groups, alarms to an SNS topic (optional
e-mail), and a CloudWatch dashboard whose JSON body is built by a pure function.

The alarm topic is not encrypted with the AWS-managed `alias/aws/sns` key on purpose: that key's policy does not
let CloudWatch publish, so alarms would never arrive (AWS documents this); a TLS-only topic policy guards it and
alarm notifications carry no market data.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .naming import DeadLetterQueue
from .policies import alarm_topic_policy


def dashboard_body(
    region: str,
    suffix: str,
    function_names: Sequence[str],
    queue_name: str,
    dlq_names: Sequence[str],
    table_name: str,
    api_name: str,
    stage: str,
) -> dict[str, Any]:
    """The pipeline dashboard (R-MON-4): one row per concern (API, functions, queues, table, log errors)."""

    def widget(title: str, metrics: list[list[Any]], y: int, x: int = 0, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    def rows(namespace: str, metrics: Sequence[str], dimension_sets: Sequence[list[str]]) -> list[list[Any]]:
        """One metric row per dimension set (outer) and metric name (inner): [namespace, metric, *dimensions]."""
        return [[namespace, m, *dims] for dims in dimension_sets for m in metrics]

    api = [["ApiName", api_name, "Stage", stage]]
    functions = [["FunctionName", f] for f in function_names]
    logged_errors = [
        naming.log_error_metric_name(f.rsplit("-", 1)[0], suffix)
        for f in function_names
        if f.rsplit("-", 1)[0] in c.FUNCTION_NAMES
    ]
    sqs, ddb = "AWS/SQS", "AWS/DynamoDB"
    return {
        "widgets": [
            widget(
                "API requests and errors", rows("AWS/ApiGateway", ("Count", "4XXError", "5XXError"), api), 0
            ),
            widget("API latency (p99)", rows("AWS/ApiGateway", ("Latency",), api), 0, 12, stat="p99"),
            widget("Function invocations", rows("AWS/Lambda", ("Invocations",), functions), 6),
            widget(
                "Function errors and throttles", rows("AWS/Lambda", ("Errors", "Throttles"), functions), 6, 12
            ),
            widget("Function duration (p99)", rows("AWS/Lambda", ("Duration",), functions), 12, stat="p99"),
            widget(
                "Processing queue",
                rows(
                    sqs,
                    (
                        "ApproximateNumberOfMessagesVisible",
                        "ApproximateAgeOfOldestMessage",
                        "NumberOfMessagesDeleted",
                    ),
                    [["QueueName", queue_name]],
                ),
                12,
                12,
                stat="Maximum",
            ),
            widget(
                "Dead-letter queues (visible messages)",
                rows(sqs, ("ApproximateNumberOfMessagesVisible",), [["QueueName", q] for q in dlq_names]),
                18,
                stat="Maximum",
            ),
            # Table-level throttle metrics: ThrottledRequests exists only per (TableName, Operation), so a TableName
            # row of it stays empty, and for BatchWriteItem (DataProcessor) it counts only batches throttled as a
            # whole; Read/WriteThrottleEvents count every throttled event per TableName (docs.aws.amazon.com/
            # amazondynamodb/latest/developerguide/TroubleshootingThrottling-cloudwatch.html, metrics-dimensions.html).
            widget(
                "State table capacity and throttles",
                rows(
                    ddb,
                    (
                        "ConsumedWriteCapacityUnits",
                        "ConsumedReadCapacityUnits",
                        "WriteThrottleEvents",
                        "ReadThrottleEvents",
                    ),
                    [["TableName", table_name]],
                ),
                18,
                12,
            ),
            widget("Logged errors (level ERROR)", rows(c.LOG_METRICS_NAMESPACE, logged_errors, [[]]), 24),
        ]
    }


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm (R-MON-3) but its actions (the alarm topic) and tags: it fires when `statistic` of
    `namespace`/`metric` (with `dimensions`) over `period` seconds is greater than `threshold` in
    `evaluation_periods` consecutive periods; missing data is not breaching."""

    logical: str
    """The alarm's resource name under Monitoring (`<monitoring>-<logical>`)."""
    name: str
    """Physical name (`naming.alarm_name`)."""
    description: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    """(name, value) pairs; empty for a metric without dimensions (the log-error metrics)."""
    statistic: str
    threshold: float
    period: int = 60
    evaluation_periods: int = 1


def alarm_specs(suffix: str, functions: Sequence[str] = c.FUNCTION_NAMES) -> list[AlarmSpec]:
    """Every alarm of the pipeline with this suffix and these functions (of FUNCTION_NAMES), a pure function
    (R-MON-3): per function its logged errors (the metric of its log filter, R-MON-2), Lambda Errors and
    Throttles; the age of the oldest message in ProcessingQueue and in the aggregation buffer; and each
    dead-letter queue of `naming.DeadLetterQueue` holding messages."""
    specs: list[AlarmSpec] = []
    for function in functions:
        fn_name = naming.function_name(function, suffix)
        specs.append(
            AlarmSpec(
                logical=f"{function}-log-errors-alarm",
                name=naming.alarm_name("LoggedErrors", function, suffix),
                description=f"{fn_name} logged errors (level ERROR)",
                namespace=c.LOG_METRICS_NAMESPACE,
                metric=naming.log_error_metric_name(function, suffix),
                dimensions=(),
                statistic="Sum",
                threshold=0,
                period=300,
            )
        )
        specs += [
            AlarmSpec(
                logical=f"{function}-{kind.lower()}-alarm",
                name=naming.alarm_name(kind, function, suffix),
                description=f"{fn_name} {kind.lower()} (AWS/Lambda)",
                namespace="AWS/Lambda",
                metric=kind,
                dimensions=(("FunctionName", fn_name),),
                statistic="Sum",
                threshold=0,
                period=300,
            )
            for kind in ("Errors", "Throttles")
        ]
    # The aggregation buffer holds deferrals for up to 900 s (SQS's largest delay) by design: its age alarm
    # fires above that plus the alarm margin (a stuck DataAggregator: stored aggregates of closed windows lag).
    for logical, subject, queue, threshold in (
        ("queue-age-alarm", "ProcessingQueue", naming.queue_name(suffix), c.OLDEST_MESSAGE_AGE_ALARM_SECONDS),
        (
            "aggregation-queue-age-alarm",
            "AggregationQueue",
            naming.aggregation_queue_name(suffix),
            c.AGGREGATION_AGE_ALARM_SECONDS,
        ),
    ):
        specs.append(
            AlarmSpec(
                logical=logical,
                name=naming.alarm_name("OldestMessageAge", subject, suffix),
                description=f"Oldest message in {queue} older than {threshold} s",
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions=(("QueueName", queue),),
                statistic="Maximum",
                threshold=threshold,
                period=60,
                evaluation_periods=5,
            )
        )
    for dlq in DeadLetterQueue:
        queue = naming.dead_letter_queue_name(dlq, suffix)
        specs.append(
            AlarmSpec(
                logical=f"{dlq.subject}-not-empty-alarm",
                name=naming.alarm_name("NotEmpty", dlq.subject, suffix),
                description=f"Dead-letter queue {queue} holds messages",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions=(("QueueName", queue),),
                statistic="Maximum",
                threshold=0,
            )
        )
    return specs


class Monitoring(pulumi.ComponentResource):
    """Metric filters, alarms, the alarm topic (with an optional e-mail subscription) and the dashboard."""

    topic: aws.sns.Topic

    def __init__(
        self,
        name: str,
        cfg: PipelineConfig,
        *,
        account_id: pulumi.Input[str],
        region: pulumi.Input[str],
        log_groups: Mapping[str, aws.cloudwatch.LogGroup],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Create the monitoring of the functions in `log_groups` (keyed by FUNCTION_NAMES) and the queues."""
        queue_name = naming.queue_name(cfg.suffix)
        super().__init__("market-data-pipeline:internal:Monitoring", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        s = cfg.suffix

        self.topic = aws.sns.Topic(f"{name}-alarms", name=naming.topic_name(s), tags=tags, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, account_id, region).apply(
                lambda v: json.dumps(
                    alarm_topic_policy(v[0], v[1], f"arn:aws:cloudwatch:{v[2]}:{v[1]}:alarm:*-{s}")
                )
            ),
            opts=child,
        )
        if cfg.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=cfg.alarm_email,
                opts=child,
            )
        actions = [self.topic.arn]

        # R-MON-2: count the handlers' Powertools error lines ({"level":"ERROR",...}) of each function.
        for function, lg in log_groups.items():
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{function}-log-errors",
                name=naming.metric_filter_name(function, s),
                log_group_name=lg.name,
                pattern=c.LOG_ERROR_PATTERN,
                metric_transformation={
                    "name": naming.log_error_metric_name(function, s),
                    "namespace": c.LOG_METRICS_NAMESPACE,
                    "value": "1",
                    "default_value": "0",
                    "unit": "Count",
                },
                opts=child,
            )
        # R-MON-3
        for spec in alarm_specs(s, tuple(log_groups)):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.logical}",
                name=spec.name,
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dict(spec.dimensions) or None,
                statistic=spec.statistic,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                threshold=spec.threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                tags=tags,
                opts=child,
            )

        # R-MON-4
        fn_names = [naming.function_name(f, s) for f in log_groups]
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=pulumi.Output.from_input(region).apply(lambda r: naming.dashboard_name(s, r)),
            dashboard_body=pulumi.Output.from_input(region).apply(
                lambda r: json.dumps(
                    dashboard_body(
                        r,
                        s,
                        fn_names,
                        queue_name,
                        [naming.dead_letter_queue_name(d, s) for d in DeadLetterQueue],
                        naming.table_name(s),
                        naming.api_name(s),
                        s,
                    )
                )
            ),
            opts=child,
        )
        self.register_outputs({"topic_arn": self.topic.arn})
