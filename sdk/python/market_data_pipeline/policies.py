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
    log_group_arn: str, queue_arn: str, failure_queue_arn: str, protected: ProtectedArns
) -> Policy:
    """DataIngestion: read `incoming/`, write `rejected/` (multipart, so also abort; delete when a new version of a
    key has no rejects) and `api/`, send to the processing queue, and send failed async events to its on-failure
    destination (docs/design.md, "IAM used")."""
    b = protected.bucket_arn
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow("ReadIncoming", ["s3:GetObject"], [f"{b}/{c.INCOMING_PREFIX}*"]),
            _allow(
                "WriteRejectsAndArchive",
                ["s3:PutObject"],
                [f"{b}/{c.REJECTED_PREFIX}*", f"{b}/{c.API_ARCHIVE_PREFIX}*"],
            ),
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
            _allow("PutTicksStoredEvents", ["events:PutEvents"], [bus_arn]),
            *deny_statements(protected),
        ],
    }


def aggregator_policy(log_group_arn: str, failure_queue_arn: str, protected: ProtectedArns) -> Policy:
    """DataAggregator: read ticks, markers and the cursor, write aggregates and the cursor, and send failed
    async events to its on-failure destination."""
    return {
        "Version": VERSION,
        "Statement": [
            *log_statements(log_group_arn),
            _allow(
                "ReadTicksWriteAggregates",
                ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"],
                [protected.table_arn],
            ),
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


def queue_policy(queue_arn: str, event_rule_arn: str | None = None) -> Policy:
    """Queue policy: TLS only (R-SQS-1); with `event_rule_arn`, also let that EventBridge rule deliver its
    failed events (an EventBridge target DLQ, R-SQS-3)."""
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
                "Sid": "AllowRuleDeadLetters",
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


def api_gateway_logs_policy(access_log_group_arn: str) -> Policy:
    """The API Gateway account role's policy: write the stage's access log group only (R-API-5)."""
    return {
        "Version": VERSION,
        "Statement": [
            _allow(
                "WriteAccessLogs",
                [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                [access_log_group_arn, f"{access_log_group_arn}:*"],
            ),
            _deny(
                "DenyLogGroupDestruction",
                ["logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:PutRetentionPolicy"],
                [access_log_group_arn],
            ),
        ],
    }
