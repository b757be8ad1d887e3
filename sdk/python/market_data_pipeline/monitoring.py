"""Monitoring (R-MON-2..4): error metric filters on the function log groups, alarms to an SNS topic (optional
e-mail), and a CloudWatch dashboard whose JSON body is built by a pure function.

The alarm topic is not encrypted with the AWS-managed `alias/aws/sns` key on purpose: that key's policy does not
let CloudWatch publish, so alarms would never arrive (AWS documents this); a TLS-only topic policy guards it and
alarm notifications carry no market data.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
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
            widget(
                "State table capacity and throttles",
                rows(
                    ddb,
                    ("ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits", "ThrottledRequests"),
                    [["TableName", table_name]],
                ),
                18,
                12,
            ),
            widget("Logged errors (level ERROR)", rows(c.LOG_METRICS_NAMESPACE, logged_errors, [[]]), 24),
        ]
    }


def dead_letter_queues(suffix: str) -> dict[str, str]:
    """Every dead-letter queue (alarm subject -> physical name): the processing DLQ, the on-failure queues of
    the async-invoked functions and the EventBridge target DLQs (R-MON-3)."""
    return {
        "ProcessingQueueDLQ": naming.dlq_name(suffix),
        "AggregationQueueDLQ": naming.aggregation_dlq_name(suffix),
        "DataIngestionFailureDLQ": naming.failure_queue_name("DataIngestion", suffix),
        "DataAggregatorFailureDLQ": naming.failure_queue_name("DataAggregator", suffix),
        "TicksStoredTargetDLQ": naming.rule_dlq_name("TicksStored", suffix),
        "ScheduleTargetDLQ": naming.rule_dlq_name("Schedule", suffix),
    }


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
        dlqs = dead_letter_queues(cfg.suffix)
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

        def alarm(
            logical: str,
            alarm_name: str,
            description: str,
            namespace: str,
            metric: str,
            dimensions: Mapping[str, pulumi.Input[str]] | None,
            statistic: str,
            threshold: float,
            period: int = 60,
            evaluation_periods: int = 1,
        ) -> None:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{logical}",
                name=alarm_name,
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions) if dimensions else None,
                statistic=statistic,
                period=period,
                evaluation_periods=evaluation_periods,
                threshold=threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                tags=tags,
                opts=child,
            )

        for function, lg in log_groups.items():
            fn_name = naming.function_name(function, s)
            # R-MON-2: count the handlers' Powertools error lines ({"level":"ERROR",...}).
            metric = naming.log_error_metric_name(function, s)
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{function}-log-errors",
                name=naming.metric_filter_name(function, s),
                log_group_name=lg.name,
                pattern=c.LOG_ERROR_PATTERN,
                metric_transformation={
                    "name": metric,
                    "namespace": c.LOG_METRICS_NAMESPACE,
                    "value": "1",
                    "default_value": "0",
                    "unit": "Count",
                },
                opts=child,
            )
            # R-MON-3
            alarm(
                f"{function}-log-errors-alarm",
                naming.alarm_name("LoggedErrors", function, s),
                f"{fn_name} logged errors (level ERROR)",
                c.LOG_METRICS_NAMESPACE,
                metric,
                None,
                "Sum",
                0,
                period=300,
            )
            for kind in ("Errors", "Throttles"):
                alarm(
                    f"{function}-{kind.lower()}-alarm",
                    naming.alarm_name(kind, function, s),
                    f"{fn_name} {kind.lower()} (AWS/Lambda)",
                    "AWS/Lambda",
                    kind,
                    {"FunctionName": fn_name},
                    "Sum",
                    0,
                    period=300,
                )

        alarm(
            "queue-age-alarm",
            naming.alarm_name("OldestMessageAge", "ProcessingQueue", s),
            f"Oldest message in {naming.queue_name(s)} older than {c.OLDEST_MESSAGE_AGE_ALARM_SECONDS} s",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": queue_name},
            "Maximum",
            c.OLDEST_MESSAGE_AGE_ALARM_SECONDS,
            period=60,
            evaluation_periods=5,
        )
        # The aggregation buffer holds deferrals for up to 900 s (SQS's largest delay) by design: its age alarm
        # fires above that plus the alarm margin (a stuck DataAggregator: stored aggregates of closed windows lag).
        buffer_name = naming.aggregation_queue_name(s)
        alarm(
            "aggregation-queue-age-alarm",
            naming.alarm_name("OldestMessageAge", "AggregationQueue", s),
            f"Oldest message in {buffer_name} older than {c.AGGREGATION_AGE_ALARM_SECONDS} s",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": buffer_name},
            "Maximum",
            c.AGGREGATION_AGE_ALARM_SECONDS,
            period=60,
            evaluation_periods=5,
        )
        for subject, dlq in dlqs.items():
            alarm(
                f"{subject}-not-empty-alarm",
                naming.alarm_name("NotEmpty", subject, s),
                f"Dead-letter queue {dlq} holds messages",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": dlq},
                "Maximum",
                0,
            )

        # R-MON-4
        fn_names = [naming.function_name(f, s) for f in log_groups]
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=naming.dashboard_name(s),
            dashboard_body=pulumi.Output.from_input(region).apply(
                lambda r: json.dumps(
                    dashboard_body(
                        r,
                        s,
                        fn_names,
                        queue_name,
                        list(dlqs.values()),
                        naming.table_name(s),
                        naming.api_name(s),
                        s,
                    )
                )
            ),
            opts=child,
        )
        self.register_outputs({"topic_arn": self.topic.arn})
