"""IAM and resource policy documents (R-SEC-1, R-SEC-2, R-SEC-3) as pure functions of ARNs -> dict.

Every Allow names exact actions on exact ARNs; X-Ray's PutTraceSegments/PutTelemetryRecords are the only `*`
resource (AWS gives them no resource type). Every role also gets explicit Deny statements: destructive data- and
control-plane actions on the pipeline's bucket, table, queues, bus and rules, and any request to them without TLS.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import constants as c

Policy = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"


@dataclass(frozen=True)
class ProtectedArns:
    """The pipeline's data and control-plane ARNs every role must never damage (R-SEC-2)."""

    bucket_arn: str
    table_arn: str
    queue_arns: tuple[str, ...]
    bus_arn: str
    rule_arns: tuple[str, ...]


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str]) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": sorted(resources)}


def _deny(sid: str, actions: Sequence[str], resources: Sequence[str], **condition: Any) -> Statement:
    st: Statement = {"Sid": sid, "Effect": "Deny", "Action": sorted(actions), "Resource": sorted(resources)}
    if condition:
        st["Condition"] = condition
    return st


def _insecure() -> dict[str, Any]:
    return {"Bool": {"aws:SecureTransport": "false"}}


def assume_role_policy(service: str) -> Policy:
    """Trust policy letting one AWS service principal (e.g. lambda.amazonaws.com) assume a role."""
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def log_statements(log_group_arn: str) -> list[Statement]:
    """Writes to the function's own log group only (streams inside it), plus X-Ray (the only `*`)."""
    return [
        _allow("OwnLogGroupWrites", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
        _allow("XRayTraces", list(c.XRAY_ACTIONS), ["*"]),
    ]


def deny_statements(p: ProtectedArns, *, table_read_only: bool = False) -> list[Statement]:
    """Explicit Denies (R-SEC-2): destructive actions on our resources, and any non-TLS request to them."""
    objects = f"{p.bucket_arn}/*"
    queues = list(p.queue_arns)
    table_destructive = [
        "dynamodb:DeleteTable",
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
    ]
    if table_read_only:
        table_destructive += [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:PartiQLInsert",
            "dynamodb:PartiQLUpdate",
            "dynamodb:PartiQLDelete",
        ]
    return [
        _deny(
            "DenyBucketControlPlane",
            [
                "s3:DeleteBucket",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:PutBucketAcl",
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketNotification",
                "s3:PutBucketOwnershipControls",
            ],
            [p.bucket_arn],
        ),
        _deny(
            "DenyObjectHistoryDestruction",
            ["s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"],
            [objects],
        ),
        _deny("DenyTableDestruction", table_destructive, [p.table_arn]),
        _deny(
            "DenyQueueDestruction",
            [
                "sqs:DeleteQueue",
                "sqs:PurgeQueue",
                "sqs:SetQueueAttributes",
                "sqs:AddPermission",
                "sqs:RemovePermission",
            ],
            queues,
        ),
        _deny("DenyBusDestruction", ["events:DeleteEventBus"], [p.bus_arn]),
        _deny(
            "DenyRuleChanges",
            [
                "events:DeleteRule",
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:DisableRule",
            ],
            list(p.rule_arns),
        ),
        _deny("DenyInsecureS3", ["s3:*"], [p.bucket_arn, objects], **_insecure()),
        _deny("DenyInsecureDynamoDB", ["dynamodb:*"], [p.table_arn], **_insecure()),
        _deny("DenyInsecureSqs", ["sqs:*"], queues, **_insecure()),
        _deny("DenyInsecureEvents", ["events:*"], [p.bus_arn], **_insecure()),
    ]


def ingestion_policy(
    log_group_arn: str,
    queue_arn: str,
    failure_queue_arn: str,
    protected: ProtectedArns,
    *,
    api_archive: bool,
) -> Policy:
    """DataIngestion: read `incoming/`, write `rejected/` (multipart, so also abort; HEAD and delete when a new
    version of a key has no rejects) and, with ``api_archive`` only, `api/`; list its two read prefixes (404 for
    missing keys), send to the processing queue, and send failed async events to its on-failure destination
    (docs/design.md, "IAM used"). Without the archive no statement names `api/` (R-SEC-4: no unused permission)."""
    b = protected.bucket_arn
    writes = [f"{b}/{c.REJECTED_PREFIX}*"] + ([f"{b}/{c.API_ARCHIVE_PREFIX}*"] if api_archive else [])
    own_prefixes = [f"{c.INCOMING_PREFIX}*", f"{c.REJECTED_PREFIX}*"]
    # Without s3:ListBucket S3 answers 403 rather than 404 for a missing key (a deleted incoming/ object, a HEAD
    # of a rejected/ object that is not there): the function would retry instead of logging "missing". For that
    # check S3 evaluates ListBucket with s3:prefix = the requested key (ceph/ceph#68577 mirrors AWS here), so the
    # grant is limited to the two prefixes the function reads.
    list_own = _allow("KnowMissingKeys", ["s3:ListBucket"], [b])
    list_own["Condition"] = {"StringLike": {"s3:prefix": own_prefixes}}
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow("ReadIncoming", ["s3:GetObject"], [f"{b}/{c.INCOMING_PREFIX}*"]),
            # HEAD of rejected/<key>.jsonl before deleting it (a DeleteObject would write a delete marker)
            _allow("CheckRejects", ["s3:GetObject"], [f"{b}/{c.REJECTED_PREFIX}*"]),
            list_own,
            _allow("WriteRejectsAndArchive" if api_archive else "WriteRejects", ["s3:PutObject"], writes),
            _allow(
                "ManageRejects",
                ["s3:AbortMultipartUpload", "s3:DeleteObject"],
                [f"{b}/{c.REJECTED_PREFIX}*"],
            ),
            _allow("SendToProcessingQueue", ["sqs:SendMessage"], [queue_arn]),
            _allow("OnFailureDestination", ["sqs:SendMessage"], [failure_queue_arn]),
            *deny_statements(protected),
        ],
    }


def put_ticks_stored_events(bus_arn: str) -> Statement:
    """DataProcessor's one event grant: PutEvents on our bus for the TicksStored events alone, the source and
    detail-type the rule matches (R-EVB-1), so the role cannot put another kind of event on the bus.

    `events:source` and `events:detail-type` are multivalued (ArrayOfString) keys of PutEvents (Service Authorization
    Reference, Amazon EventBridge), hence `ForAllValues:StringEquals`, as in AWS's example policy
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-cross-account-custom-bus-source.html;
    conditions: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html). `ForAllValues` also
    holds when a key is absent, so `Null: false` requires both."""
    st = _allow("PutTicksStoredEvents", ["events:PutEvents"], [bus_arn])
    st["Condition"] = {
        "ForAllValues:StringEquals": {
            "events:source": [c.EVENT_SOURCE],
            "events:detail-type": [c.EVENT_DETAIL_TYPE],
        },
        "Null": {"events:source": "false", "events:detail-type": "false"},
    }
    return st


def processor_policy(log_group_arn: str, queue_arn: str, bus_arn: str, protected: ProtectedArns) -> Policy:
    """DataProcessor: consume the processing queue, write ticks and dirty markers, put events on our bus."""
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow(
                "ConsumeProcessingQueue",
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                [queue_arn],
            ),
            _allow("WriteTicks", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], [protected.table_arn]),
            put_ticks_stored_events(bus_arn),
            *deny_statements(protected),
        ],
    }


def aggregator_policy(
    log_group_arn: str, failure_queue_arn: str, buffer_queue_arn: str, protected: ProtectedArns
) -> Policy:
    """DataAggregator: consume the aggregation buffer (its event source mapping) and send its deferrals to it,
    read ticks, markers and the cursor, write aggregates and the cursor, and send failed async (schedule) events to
    its on-failure destination."""
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow(
                "ReadTicksWriteAggregates",
                ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"],
                [protected.table_arn],
            ),
            _allow(
                "ConsumeAggregationQueue",
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                [buffer_queue_arn],
            ),
            # Deferrals: a delayed message naming the windows still open (SendMessageBatch needs this action).
            _allow("DeferWindows", ["sqs:SendMessage"], [buffer_queue_arn]),
            _allow("OnFailureDestination", ["sqs:SendMessage"], [failure_queue_arn]),
            *deny_statements(protected),
        ],
    }


def query_policy(log_group_arn: str, protected: ProtectedArns) -> Policy:
    """DataQuery: read-only (Query on the table: every endpoint, `latest` included, is a Query; the IAM proof of
    R-SEC-4 records no other call), every table write denied."""
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow("ReadTable", ["dynamodb:Query"], [protected.table_arn]),
            *deny_statements(protected, table_read_only=True),
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> Policy:
    """Bucket policy denying every request without TLS (R-S3-2)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": _insecure(),
            }
        ],
    }


def queue_policy(
    queue_arn: str, event_rule_arn: str | None = None, *, sid: str = "AllowRuleDeadLetters"
) -> Policy:
    """Queue policy: TLS only (R-SQS-1); with `event_rule_arn`, also let that EventBridge rule send to the queue,
    and nothing else (condition aws:SourceArn; `sid` names the statement): its failed events (an EventBridge target
    DLQ, R-SQS-3) or its events (the aggregation buffer is the TicksStored rule's target, R-EVB-1). AWS:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions"""
    statements: list[Statement] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": _insecure(),
        }
    ]
    if event_rule_arn is not None:
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": event_rule_arn}},
            }
        )
    return {"Version": VERSION, "Statement": statements}


def alarm_topic_policy(topic_arn: str, account_id: str, alarm_arn_pattern: str) -> Policy:
    """Alarm topic policy: only our CloudWatch alarms (`alarm_arn_pattern`, e.g. `arn:aws:cloudwatch:<region>:
    <account>:alarm:*-<suffix>`) may publish; the account may manage it; nothing without TLS."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AllowCloudWatchAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": alarm_arn_pattern},
                },
            },
            {
                "Sid": "AllowAccountManagement",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Subscribe",
                    "sns:Publish",
                ],
                "Resource": topic_arn,
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": _insecure(),
            },
        ],
    }


def api_gateway_role_denies() -> Policy:
    """The API Gateway account role's inline policy next to AWS's managed one (R-SEC-2): API Gateway never
    needs to delete log groups or change their retention, so the role may not."""
    return {
        "Version": VERSION,
        "Statement": [
            _deny(
                "DenyLogGroupDestruction",
                ["logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:PutRetentionPolicy"],
                ["*"],
            ),
        ],
    }
