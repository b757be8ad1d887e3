"""Messaging (R-SQS, R-EVB): queues with their dead-letter queues and policies, the event bus and the rules.

The rules' targets (DataAggregator) are wired in `functions.Triggers`, once the function exists; the rules
themselves and their target DLQs live here so that every ARN the IAM policies protect is known up front.
"""

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .policies import queue_policy


def redrive_policy(dlq_arn: pulumi.Input[str], max_receive_count: int) -> pulumi.Output[str]:
    """The processing queue's redrive policy JSON naming the DLQ (R-SQS-2)."""
    return pulumi.Output.json_dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})


def ticks_event_pattern() -> dict[str, list[str]]:
    """The pattern of DataProcessor's custom events (R-EVB-1, docs/design.md)."""
    return {"source": [c.EVENT_SOURCE], "detail-type": [c.EVENT_DETAIL_TYPE]}


def _rule_queue_policy(sid: str) -> Callable[[list[Any]], str]:
    """`[queue_arn, rule_arn] -> policy JSON` admitting that rule (statement `sid`)."""
    return lambda v: json.dumps(queue_policy(v[0], v[1], sid=sid))


class Messaging(pulumi.ComponentResource):
    """ProcessingQueue and its DLQ, the aggregation buffer (the TicksStored rule's target) and its DLQ, the on-failure
    queues of the async-invoked functions, the event bus, the TicksStored rule on it, the schedule rule (on the
    default bus: schedules only run there) and one DLQ per rule target, every queue encrypted and TLS-only."""

    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue
    aggregation_queue: aws.sqs.Queue
    aggregation_dlq: aws.sqs.Queue
    ingestion_failure_queue: aws.sqs.Queue
    aggregator_failure_queue: aws.sqs.Queue
    ticks_rule_dlq: aws.sqs.Queue
    schedule_rule_dlq: aws.sqs.Queue
    bus: aws.cloudwatch.EventBus
    ticks_rule: aws.cloudwatch.EventRule
    schedule_rule: aws.cloudwatch.EventRule

    def __init__(self, name: str, cfg: PipelineConfig, opts: pulumi.ResourceOptions) -> None:
        """Create the queues, bus and rules as children."""
        super().__init__("market-data-pipeline:internal:Messaging", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        s = cfg.suffix

        def dead_letter_queue(logical: str, physical: str) -> aws.sqs.Queue:
            return aws.sqs.Queue(
                f"{name}-{logical}",
                name=physical,
                message_retention_seconds=c.DLQ_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                tags=tags,
                opts=child,
            )

        def work_queue(
            logical: str, physical: str, retention: int, visibility: int, dlq: aws.sqs.Queue
        ) -> aws.sqs.Queue:
            return aws.sqs.Queue(
                f"{name}-{logical}",
                name=physical,
                message_retention_seconds=retention,
                visibility_timeout_seconds=visibility,
                sqs_managed_sse_enabled=True,
                redrive_policy=redrive_policy(dlq.arn, cfg.max_receive_count),
                tags=tags,
                opts=child,
            )

        # R-SQS-2: the DLQ first (the redrive policy names it), kept 14 days.
        self.dlq = dead_letter_queue("processing-dlq", naming.dlq_name(s))
        # R-SQS-1
        self.queue = work_queue(
            "processing",
            naming.queue_name(s),
            cfg.queue_retention_seconds,
            cfg.queue_visibility_timeout_seconds,
            self.dlq,
        )
        # R-FN-5, R-EVB-1, R-PERF-1: the buffer coalescing TicksStored events (and DataAggregator's deferrals)
        # before DataAggregator, with its own DLQ (R-SQS-3). Visibility >= 6 x the function timeout (AWS's advice
        # for an SQS event source); a deferral's DelaySeconds is per message (<= 900 s), the queue has none.
        # SSE-SQS (not a KMS key): EventBridge can deliver to it without a key policy.
        self.aggregation_dlq = dead_letter_queue("aggregation-dlq", naming.aggregation_dlq_name(s))
        self.aggregation_queue = work_queue(
            "aggregation",
            naming.aggregation_queue_name(s),
            c.AGGREGATION_QUEUE_RETENTION_SECONDS,
            c.AGGREGATION_QUEUE_VISIBILITY_SECONDS,
            self.aggregation_dlq,
        )
        # R-SQS-3: on-failure destinations of the two async-invoked functions.
        self.ingestion_failure_queue = dead_letter_queue(
            "ingestion-failures", naming.failure_queue_name("DataIngestion", s)
        )
        self.aggregator_failure_queue = dead_letter_queue(
            "aggregator-failures", naming.failure_queue_name("DataAggregator", s)
        )
        self.ticks_rule_dlq = dead_letter_queue("ticks-rule-dlq", naming.rule_dlq_name("TicksStored", s))
        self.schedule_rule_dlq = dead_letter_queue("schedule-rule-dlq", naming.rule_dlq_name("Schedule", s))

        # R-EVB-1: our own bus and the rule for DataProcessor's events.
        self.bus = aws.cloudwatch.EventBus(
            f"{name}-bus", name=naming.event_bus_name(s), tags=tags, opts=child
        )
        self.ticks_rule = aws.cloudwatch.EventRule(
            f"{name}-ticks-stored",
            name=naming.ticks_rule_name(s),
            description="TicksStored events from DataProcessor -> aggregation buffer -> DataAggregator",
            event_bus_name=self.bus.name,
            event_pattern=json.dumps(ticks_event_pattern()),
            state="ENABLED",
            tags=tags,
            opts=child,
        )
        # R-EVB-2: schedules only fire on the default bus.
        self.schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-aggregation-schedule",
            name=naming.schedule_rule_name(s),
            description=f"Scheduled aggregation run ({cfg.aggregation_schedule}) -> DataAggregator",
            schedule_expression=cfg.aggregation_schedule,
            state="ENABLED",
            tags=tags,
            opts=child,
        )

        # R-SQS-1, R-SEC-3: TLS-only policies; the rule DLQs and the buffer also admit their rule (aws:SourceArn).
        for logical, q, rule, sid in (
            ("processing", self.queue, None, ""),
            ("processing-dlq", self.dlq, None, ""),
            ("aggregation", self.aggregation_queue, self.ticks_rule, "AllowTicksStoredRule"),
            ("aggregation-dlq", self.aggregation_dlq, None, ""),
            ("ingestion-failures", self.ingestion_failure_queue, None, ""),
            ("aggregator-failures", self.aggregator_failure_queue, None, ""),
            ("ticks-rule-dlq", self.ticks_rule_dlq, self.ticks_rule, "AllowRuleDeadLetters"),
            ("schedule-rule-dlq", self.schedule_rule_dlq, self.schedule_rule, "AllowRuleDeadLetters"),
        ):
            doc = (
                q.arn.apply(lambda arn: json.dumps(queue_policy(arn)))
                if rule is None
                else pulumi.Output.all(q.arn, rule.arn).apply(_rule_queue_policy(sid))
            )
            aws.sqs.QueuePolicy(f"{name}-{logical}-policy", queue_url=q.url, policy=doc, opts=child)

        self.register_outputs({"queue_url": self.queue.url, "dlq_url": self.dlq.url, "bus": self.bus.name})

    @property
    def queue_arns(self) -> list[pulumi.Output[str]]:
        """Every queue's ARN (the roles' Deny statements protect them)."""
        return [
            q.arn
            for q in (
                self.queue,
                self.dlq,
                self.aggregation_queue,
                self.aggregation_dlq,
                self.ingestion_failure_queue,
                self.aggregator_failure_queue,
                self.ticks_rule_dlq,
                self.schedule_rule_dlq,
            )
        ]
