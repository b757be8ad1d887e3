"""Messaging (R-SQS, R-EVB): queues with their dead-letter queues and policies, the event bus and the rules.

The rules' targets (DataAggregator) are wired in `functions.Triggers`, once the function exists; the rules
themselves and every dead-letter queue live here so that every ARN the IAM policies protect is known up front.
"""

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .naming import DeadLetterQueue
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
    """ProcessingQueue and the aggregation buffer (the TicksStored rule's target), the event bus, the TicksStored
    rule on it, the schedule rule (on the default bus: schedules only run there) and every dead-letter queue of
    `naming.DeadLetterQueue` (the work queues' redrive targets, the on-failure queues of the async-invoked functions
    and one per rule target), every queue encrypted and TLS-only."""

    queue: aws.sqs.Queue
    aggregation_queue: aws.sqs.Queue
    dead_letter_queues: Mapping[DeadLetterQueue, aws.sqs.Queue]
    """Every dead-letter queue, one per `naming.DeadLetterQueue` member (what Messaging created; read-only)."""
    bus: aws.cloudwatch.EventBus
    ticks_rule: aws.cloudwatch.EventRule
    schedule_rule: aws.cloudwatch.EventRule

    def __init__(self, name: str, cfg: PipelineConfig, opts: pulumi.ResourceOptions) -> None:
        """Create the queues, bus and rules as children."""
        super().__init__("market-data-pipeline:internal:Messaging", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        s = cfg.suffix

        # R-SQS-2, R-SQS-3: the DLQs first (the redrive policies and the targets name them), kept 14 days.
        dlqs = {
            d: aws.sqs.Queue(
                f"{name}-{d.logical}",
                name=naming.dead_letter_queue_name(d, s),
                message_retention_seconds=c.DLQ_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                tags=tags,
                opts=child,
            )
            for d in DeadLetterQueue
        }
        self.dead_letter_queues = MappingProxyType(dlqs)

        def work_queue(
            logical: str, physical: str, retention: int, visibility: int, dlq: DeadLetterQueue
        ) -> aws.sqs.Queue:
            return aws.sqs.Queue(
                f"{name}-{logical}",
                name=physical,
                message_retention_seconds=retention,
                visibility_timeout_seconds=visibility,
                sqs_managed_sse_enabled=True,
                redrive_policy=redrive_policy(dlqs[dlq].arn, cfg.max_receive_count),
                tags=tags,
                opts=child,
            )

        # R-SQS-1
        self.queue = work_queue(
            "processing",
            naming.queue_name(s),
            cfg.queue_retention_seconds,
            cfg.queue_visibility_timeout_seconds,
            DeadLetterQueue.PROCESSING,
        )
        # R-FN-5, R-EVB-1, R-PERF-1: the buffer coalescing TicksStored events (and DataAggregator's deferrals)
        # before DataAggregator, with its own DLQ (R-SQS-3). Visibility >= 6 x the function timeout (AWS's advice
        # for an SQS event source); a deferral's DelaySeconds is per message (<= 900 s), the queue has none.
        # SSE-SQS (not a KMS key): EventBridge can deliver to it without a key policy.
        self.aggregation_queue = work_queue(
            "aggregation",
            naming.aggregation_queue_name(s),
            c.AGGREGATION_QUEUE_RETENTION_SECONDS,
            c.AGGREGATION_QUEUE_VISIBILITY_SECONDS,
            DeadLetterQueue.AGGREGATION,
        )

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
        target_dlq_rules = {
            DeadLetterQueue.TICKS_STORED_TARGET: self.ticks_rule,
            DeadLetterQueue.SCHEDULE_TARGET: self.schedule_rule,
        }
        policies: list[tuple[str, aws.sqs.Queue, aws.cloudwatch.EventRule | None, str]] = [
            ("processing", self.queue, None, ""),
            ("aggregation", self.aggregation_queue, self.ticks_rule, "AllowTicksStoredRule"),
        ]
        policies += [
            (d.logical, q, target_dlq_rules.get(d), "AllowRuleDeadLetters" if d in target_dlq_rules else "")
            for d, q in dlqs.items()
        ]
        for logical, q, rule, sid in policies:
            doc = (
                q.arn.apply(lambda arn: json.dumps(queue_policy(arn)))
                if rule is None
                else pulumi.Output.all(q.arn, rule.arn).apply(_rule_queue_policy(sid))
            )
            aws.sqs.QueuePolicy(f"{name}-{logical}-policy", queue_url=q.url, policy=doc, opts=child)

        self.register_outputs(
            {
                "queue_url": self.queue.url,
                "dlq_url": dlqs[DeadLetterQueue.PROCESSING].url,
                "bus": self.bus.name,
            }
        )

    @property
    def queue_arns(self) -> list[pulumi.Output[str]]:
        """Every queue's ARN, the dead-letter queues included (the roles' Deny statements protect them)."""
        queues = (self.queue, self.aggregation_queue, *self.dead_letter_queues.values())
        return [q.arn for q in queues]
