"""Translate recorded resources into moto: one translator per Pulumi type token (`TRANSLATORS`), each making the
boto3 calls that create its resource in moto server.

A type without a translator must be listed in `NOT_EMULATED` with the reason; any other type fails the deploy
(no silent skipping). Where moto cannot run a trigger, the trigger is rerouted (docs/design.md, handlers-local notes
section 7):
- S3 notification -> Lambda becomes S3 notification -> SQS shim queue, polled by the local Lambda host;
- EventBridge rule target Lambda becomes target SQS shim queue (moto's PutEvents fails with HTTP 500 on a
  Lambda target) with the same retry policy and dead-letter config; the schedule is fired by the host;
- the SQS event source mapping, the Lambda functions and the REST API routes are run by the host (the functions and
  their async invoke configs are also registered in moto, configuration only, so they read back as declared);
- conditional Deny statements of the bucket policy get a principal moto does not evaluate (`UNENFORCED_PRINCIPAL`).

What the host needs (functions, event sources, routes) is collected on the `DeployContext` as the translators run;
`tools/local/host_config.py` turns it into the host config and the flat outputs.
"""

import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
import pulumi

from tools.local.mocks import ACCOUNT, REGION
from tools.local.moto_server import CREDENTIALS
from tools.local.recording import Recorded

BUNDLE_FILE = "index.mjs"

NOT_EMULATED: dict[str, str] = {
    "pulumi:providers:aws": "the provider is Pulumi's plugin, not an AWS resource",
    "market-data-pipeline:index:MarketDataPipeline": "the component itself is a grouping, not an AWS resource",
    "aws:lambda/permission:Permission": "resource policies are not enforced locally; the host invokes directly",
    "aws:apigateway/methodSettings:MethodSettings": "stage throttling is not emulated by the local host",
    "aws:apigateway/account:Account": "account-level API Gateway logging role has no local meaning",
    "aws:apigateway/stage:Stage": "the stage is served by the local host (routes under the API URL)",
    "aws:apigateway/restApiPolicy:RestApiPolicy": "API resource policies are not enforced locally",
    "aws:xray/group:Group": "X-Ray is off locally (POWERTOOLS_TRACE_ENABLED=false)",
    "aws:xray/samplingRule:SamplingRule": "X-Ray is off locally (POWERTOOLS_TRACE_ENABLED=false)",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "log resource policies are not enforced by moto",
}
"""Types deliberately not created in moto, with the reason (printed by the demo)."""

NOT_EMULATED_PREFIXES: dict[str, str] = {
    "market-data-pipeline:": "a component resource of this package: a grouping of the resources below, not an AWS resource",
}
"""Type-token prefixes not created in moto (this package's own component resources), with the reason."""


def not_emulated_reason(typ: str) -> str | None:
    """Why a type is deliberately not created in moto (None: nobody decided about it)."""
    if typ in NOT_EMULATED:
        return NOT_EMULATED[typ]
    return next((why for prefix, why in NOT_EMULATED_PREFIXES.items() if typ.startswith(prefix)), None)


class DeployError(RuntimeError):
    """The component declared something the local stack cannot translate."""


# ----------------------------------------------------------------------------------------------------------
# value helpers


def _int(v: Any) -> Any:
    """Pulumi sends numbers as floats (30.0): back to int where integral, recursively."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _int(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_int(x) for x in v]
    return v


_PASCAL_SPECIAL = {
    "id": "ID",
    "sseAlgorithm": "SSEAlgorithm",
    "kmsMasterKeyId": "KMSMasterKeyID",
}


def _pascal(v: Any) -> Any:
    """camelCase keys (Pulumi wire form) -> PascalCase keys (S3 API), recursively."""
    if isinstance(v, dict):
        return {
            _PASCAL_SPECIAL.get(k, k[:1].upper() + k[1:]): _pascal(x) for k, x in v.items() if x is not None
        }
    if isinstance(v, list):
        return [_pascal(x) for x in v]
    return _int(v)


def _json(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _tags(rec: Recorded) -> dict[str, str]:
    tags = rec.inputs.get("tags") or {}
    return {str(k): str(v) for k, v in tags.items()}


def _tag_list(rec: Recorded, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in _tags(rec).items()]


def _phys(rec: Recorded) -> str:
    name = rec.inputs.get("name") or rec.outputs.get("name") or rec.name
    return str(name)


def _last(arn: str) -> str:
    return re.split(r"[:/]", arn)[-1]


# ----------------------------------------------------------------------------------------------------------
# the translation


class DeployContext:
    """The boto3 clients for moto, the mock -> local value map, and what the translators collect for the host."""

    def __init__(self, endpoint_url: str) -> None:
        """Clients for the moto server at `endpoint_url`."""
        self.endpoint_url = endpoint_url
        kw: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": REGION, **CREDENTIALS}
        self.s3 = boto3.client("s3", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.ddb = boto3.client("dynamodb", **kw)
        self.events = boto3.client("events", **kw)
        self.logs = boto3.client("logs", **kw)
        self.cw = boto3.client("cloudwatch", **kw)
        self.iam = boto3.client("iam", **kw)
        self.sns = boto3.client("sns", **kw)
        self.apigw = boto3.client("apigateway", **kw)
        self.lam = boto3.client("lambda", **kw)
        self.mock_to_local: dict[str, str] = {}
        """mock-fabricated values (queue URLs, ids) -> their local equivalents"""
        self.functions: dict[str, dict[str, Any]] = {}
        """function ARN -> host function entry"""
        self.fn_by_logical: dict[str, str] = {}
        self.event_sources: list[dict[str, Any]] = []
        self.routes: list[dict[str, Any]] = []
        self.api_keys: list[dict[str, Any]] = []
        self.rule_targets: dict[str, list[Recorded]] = {}
        self.rules: dict[str, Recorded] = {}
        self.async_config: dict[str, dict[str, Any]] = {}
        self.emulated: list[tuple[str, str, str]] = []
        self.not_emulated: list[tuple[str, str, str]] = []
        self.outputs: dict[str, str] = {}
        self.rest_api_id: str | None = None
        self.stage_name = "stage"
        self.binary_media_types: list[str] = []
        self.missing_route: dict[str, Any] = {}

    def api_key(self) -> dict[str, Any] | None:
        """The first enabled API key created (id, name, value), if any."""
        return next((k for k in self.api_keys if k["enabled"]), None)

    def local(self, v: Any) -> Any:
        """Rewrite mock-fabricated values to local ones, recursively."""
        if isinstance(v, str):
            return self.mock_to_local.get(v, v)
        if isinstance(v, dict):
            return {k: self.local(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.local(x) for x in v]
        return v

    def queue_url(self, url_or_arn: str) -> str:
        if url_or_arn in self.mock_to_local:
            return self.mock_to_local[url_or_arn]
        return str(self.sqs.get_queue_url(QueueName=_last(url_or_arn))["QueueUrl"])

    def done(self, rec: Recorded, name: str, how: str) -> None:
        self.emulated.append((rec.typ, name, how))

    def shim_queue(self, purpose: str) -> tuple[str, str]:
        """A local-only SQS queue that stands in for a Lambda trigger; returns (url, arn)."""
        name = f"local-{purpose}"[:80]
        url = str(self.sqs.create_queue(QueueName=name, tags={"local-shim": "true"})["QueueUrl"])
        arn = str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )
        return url, arn


def _iam_role(c: DeployContext, r: Recorded) -> None:
    name = _phys(r)
    kw: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": _json(r.inputs["assumeRolePolicy"])}
    if r.inputs.get("description"):
        kw["Description"] = r.inputs["description"]
    if r.inputs.get("maxSessionDuration"):
        kw["MaxSessionDuration"] = int(r.inputs["maxSessionDuration"])
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    c.iam.create_role(**kw)
    for p in r.inputs.get("inlinePolicies") or []:
        if p.get("policy"):
            c.iam.put_role_policy(RoleName=name, PolicyName=p["name"], PolicyDocument=_json(p["policy"]))
    c.mock_to_local[str(r.rid)] = name
    c.done(r, name, "IAM role (moto does not enforce it)")


def _iam_role_policy(c: DeployContext, r: Recorded) -> None:
    role = _last(str(c.local(r.inputs["role"])))
    c.iam.put_role_policy(RoleName=role, PolicyName=_phys(r), PolicyDocument=_json(r.inputs["policy"]))
    c.done(r, f"{role}/{_phys(r)}", "inline role policy")


def _iam_policy(c: DeployContext, r: Recorded) -> None:
    kw: dict[str, Any] = {"PolicyName": _phys(r), "PolicyDocument": _json(r.inputs["policy"])}
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    c.iam.create_policy(**kw)
    c.done(r, _phys(r), "managed policy")


def _iam_attach(c: DeployContext, r: Recorded) -> None:
    role = _last(str(c.local(r.inputs["role"])))
    if str(r.inputs["policyArn"]).split(":")[4:5] == ["aws"]:
        # An AWS-managed policy (the API Gateway account role's): moto server does not load those by default, and
        # the account setting they serve is not emulated either.
        c.done(r, f"{role} <- {r.inputs['policyArn']}", "AWS-managed policy attachment (not loaded in moto)")
        return
    c.iam.attach_role_policy(RoleName=role, PolicyArn=r.inputs["policyArn"])
    c.done(r, f"{role} <- {r.inputs['policyArn']}", "policy attachment")


def _create_named(
    c: DeployContext, r: Recorded, create: Callable[..., dict[str, Any]], arn_key: str, what: str
) -> None:
    """Create the resource `Name=<physical name>` (with its tags, if any) and map its mock ARN to moto's."""
    kw: dict[str, Any] = {"Name": _phys(r)}
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    arn = create(**kw)[arn_key]
    c.mock_to_local[str(r.outputs.get("arn"))] = arn
    c.done(r, _phys(r), what)


def _sns_topic(c: DeployContext, r: Recorded) -> None:
    _create_named(c, r, c.sns.create_topic, "TopicArn", "SNS topic")


def _sns_topic_policy(c: DeployContext, r: Recorded) -> None:
    arn = str(c.local(r.inputs["arn"]))
    c.sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=_json(r.inputs["policy"]))
    c.done(r, _last(arn), "topic policy")


def _sns_sub(c: DeployContext, r: Recorded) -> None:
    c.sns.subscribe(
        TopicArn=c.local(r.inputs["topic"]), Protocol=r.inputs["protocol"], Endpoint=r.inputs["endpoint"]
    )
    c.done(r, f"{r.inputs['protocol']}:{r.inputs['endpoint']}", "SNS subscription (nothing is sent locally)")


_QUEUE_ATTRS = {
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "policy": "Policy",
}


def _sqs_queue(c: DeployContext, r: Recorded) -> None:
    name = _phys(r)
    attrs: dict[str, str] = {}
    for k, aws_k in _QUEUE_ATTRS.items():
        v = r.inputs.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            attrs[aws_k] = "true" if v else "false"
        elif isinstance(v, (dict, list)):
            attrs[aws_k] = json.dumps(_int(v))
        elif k == "redrivePolicy":
            attrs[aws_k] = json.dumps(_int(json.loads(v)))
        else:
            attrs[aws_k] = str(_int(v))
    url = c.sqs.create_queue(QueueName=name, Attributes=attrs, tags=_tags(r))["QueueUrl"]
    for mock in (r.rid, r.outputs.get("url"), r.outputs.get("id")):
        if mock:
            c.mock_to_local[str(mock)] = url
    c.done(r, name, "SQS queue: " + ", ".join(f"{k}={v}" for k, v in attrs.items() if k != "Policy"))


def _sqs_queue_policy(c: DeployContext, r: Recorded) -> None:
    url = c.queue_url(str(r.inputs["queueUrl"]))
    c.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _json(r.inputs["policy"])})
    c.done(r, url.rsplit("/", 1)[-1], "queue policy")


def _sqs_redrive(c: DeployContext, r: Recorded) -> None:
    url = c.queue_url(str(r.inputs["queueUrl"]))
    key = "RedrivePolicy" if r.typ.endswith(":RedrivePolicy") else "RedriveAllowPolicy"
    field_ = "redrivePolicy" if key == "RedrivePolicy" else "redriveAllowPolicy"
    c.sqs.set_queue_attributes(QueueUrl=url, Attributes={key: _json(_int(r.inputs[field_]))})
    c.done(r, url.rsplit("/", 1)[-1], key)


def _bucket_of(c: DeployContext, r: Recorded) -> str:
    return str(c.local(r.inputs["bucket"]))


def _s3_bucket(c: DeployContext, r: Recorded) -> None:
    bucket = str(r.outputs.get("bucket") or r.inputs.get("bucket"))
    c.s3.create_bucket(Bucket=bucket)
    if _tags(r):
        c.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(r)})
    how = "bucket" + (" (forceDestroy: a Pulumi-side setting)" if r.inputs.get("forceDestroy") else "")
    c.done(r, bucket, how)


def _s3_versioning(c: DeployContext, r: Recorded) -> None:
    cfg = r.inputs["versioningConfiguration"]
    c.s3.put_bucket_versioning(Bucket=_bucket_of(c, r), VersioningConfiguration={"Status": cfg["status"]})
    c.done(r, _bucket_of(c, r), f"versioning {cfg['status']}")


def _s3_sse(c: DeployContext, r: Recorded) -> None:
    rules = _pascal(r.inputs["rules"])
    c.s3.put_bucket_encryption(Bucket=_bucket_of(c, r), ServerSideEncryptionConfiguration={"Rules": rules})
    c.done(r, _bucket_of(c, r), f"encryption {json.dumps(rules)}")


def _s3_lifecycle(c: DeployContext, r: Recorded) -> None:
    rules = _pascal(r.inputs["rules"])
    for rule in rules:
        f = rule.get("Filter")
        if f is not None and not f:
            rule["Filter"] = {"Prefix": ""}
        if isinstance(f, dict) and "And" in f and "Tags" in f["And"]:
            f["And"]["Tags"] = [{"Key": k, "Value": v} for k, v in f["And"]["Tags"].items()]
    c.s3.put_bucket_lifecycle_configuration(Bucket=_bucket_of(c, r), LifecycleConfiguration={"Rules": rules})
    c.done(r, _bucket_of(c, r), f"lifecycle {len(rules)} rules")


def _s3_pab(c: DeployContext, r: Recorded) -> None:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    cfg = {k[:1].upper() + k[1:]: bool(r.inputs.get(k, False)) for k in keys}
    c.s3.put_public_access_block(Bucket=_bucket_of(c, r), PublicAccessBlockConfiguration=cfg)
    c.done(r, _bucket_of(c, r), f"public access block {cfg}")


UNENFORCED_PRINCIPAL = "local-stack:condition-not-evaluated-by-moto"
"""moto ignores IAM conditions (only StringEquals), so `Deny s3:* if aws:SecureTransport=false` would deny every request;
conditional Deny statements get this principal, which moto treats as unknown (not evaluated). The endpoint is plain
HTTP anyway: the TLS-only rule cannot hold locally. Everything else is stored as declared."""


def _moto_safe_policy(policy: Any) -> tuple[str, int]:
    doc = json.loads(policy) if isinstance(policy, str) else dict(policy)
    statements = doc.get("Statement", [])
    changed = 0
    for st in statements if isinstance(statements, list) else [statements]:
        conds = st.get("Condition") or {}
        if st.get("Effect") == "Deny" and conds and any(op != "StringEquals" for op in conds):
            st["Principal"] = UNENFORCED_PRINCIPAL
            changed += 1
    return json.dumps(doc), changed


def _s3_policy(c: DeployContext, r: Recorded) -> None:
    policy, changed = _moto_safe_policy(r.inputs["policy"])
    c.s3.put_bucket_policy(Bucket=_bucket_of(c, r), Policy=policy)
    how = "bucket policy" + (
        f" ({changed} conditional Deny statement(s) stored with principal {UNENFORCED_PRINCIPAL!r}: moto would "
        "ignore their condition and deny every request)"
        if changed
        else ""
    )
    c.done(r, _bucket_of(c, r), how)


def _s3_ownership(c: DeployContext, r: Recorded) -> None:
    rule = _pascal(r.inputs["rule"])
    c.s3.put_bucket_ownership_controls(Bucket=_bucket_of(c, r), OwnershipControls={"Rules": [rule]})
    c.done(r, _bucket_of(c, r), "ownership controls")


def _s3_notification(c: DeployContext, r: Recorded) -> None:
    bucket = _bucket_of(c, r)
    queues: list[dict[str, Any]] = []

    def filt(n: Mapping[str, Any]) -> dict[str, Any]:
        rules = [
            {"Name": k, "Value": n[f"filter{k.title()}"]}
            for k in ("prefix", "suffix")
            if n.get(f"filter{k.title()}")
        ]
        return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}

    for n in r.inputs.get("lambdaFunctions") or []:
        fn_arn = str(n["lambdaFunctionArn"])
        url, arn = c.shim_queue(f"s3-{_last(fn_arn)}")
        queues.append({"QueueArn": arn, "Events": n["events"], **filt(n)})
        c.event_sources.append(
            {"type": "s3-notification", "queueUrl": url, "function": _last(fn_arn), "bucket": bucket}
        )
    for n in r.inputs.get("queues") or []:
        queues.append({"QueueArn": n["queueArn"], "Events": n["events"], **filt(n)})
    if r.inputs.get("topics") or r.inputs.get("eventbridge"):
        raise DeployError(f"{r.typ} {r.name}: topic/EventBridge notifications are not translated yet")
    c.s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
    )
    c.done(r, bucket, "notification -> SQS shim queue (host invokes the function)")


def _ddb_table(c: DeployContext, r: Recorded) -> None:
    i = _int(r.inputs)
    name = _phys(r)
    keys = [{"AttributeName": i["hashKey"], "KeyType": "HASH"}]
    if i.get("rangeKey"):
        keys.append({"AttributeName": i["rangeKey"], "KeyType": "RANGE"})
    kw: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in i["attributes"]
        ],
        "KeySchema": keys,
        "BillingMode": i.get("billingMode", "PROVISIONED"),
    }
    if kw["BillingMode"] == "PROVISIONED":
        kw["ProvisionedThroughput"] = {
            "ReadCapacityUnits": i["readCapacity"],
            "WriteCapacityUnits": i["writeCapacity"],
        }
    sse = i.get("serverSideEncryption") or {}
    if sse.get("enabled"):
        kw["SSESpecification"] = {
            "Enabled": True,
            "SSEType": "KMS",
            **({"KMSMasterKeyId": sse["kmsKeyArn"]} if sse.get("kmsKeyArn") else {}),
        }
    if i.get("streamEnabled"):
        kw["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": i["streamViewType"]}
    if "deletionProtectionEnabled" in i:
        kw["DeletionProtectionEnabled"] = bool(i["deletionProtectionEnabled"])
    if i.get("globalSecondaryIndexes"):
        raise DeployError(f"{r.typ} {name}: global secondary indexes are not translated yet")
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    arn = c.ddb.create_table(**kw)["TableDescription"]["TableArn"]
    c.mock_to_local[str(r.outputs.get("arn"))] = arn
    pitr = i.get("pointInTimeRecovery") or {}
    if pitr.get("enabled"):
        c.ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    ttl = i.get("ttl") or {}
    if ttl.get("enabled"):
        c.ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]}
        )
    c.done(
        r,
        name,
        f"table {kw['BillingMode']}, PITR={bool(pitr.get('enabled'))}, TTL={ttl.get('attributeName')}",
    )


def _log_group(c: DeployContext, r: Recorded) -> None:
    name = _phys(r)
    kw: dict[str, Any] = {"logGroupName": name}
    if _tags(r):
        kw["tags"] = _tags(r)
    c.logs.create_log_group(**kw)
    if r.inputs.get("retentionInDays"):
        c.logs.put_retention_policy(logGroupName=name, retentionInDays=int(r.inputs["retentionInDays"]))
    c.done(r, name, f"log group, retention {_int(r.inputs.get('retentionInDays'))} days")


def _metric_filter(c: DeployContext, r: Recorded) -> None:
    t = _int(r.inputs["metricTransformation"])
    mt: dict[str, Any] = {
        "metricName": t["name"],
        "metricNamespace": t["namespace"],
        "metricValue": str(t["value"]),
    }
    if t.get("defaultValue") is not None:
        mt["defaultValue"] = float(t["defaultValue"])
    if t.get("dimensions"):
        mt["dimensions"] = t["dimensions"]
    if t.get("unit"):
        mt["unit"] = t["unit"]
    c.logs.put_metric_filter(
        logGroupName=r.inputs["logGroupName"], filterName=_phys(r), filterPattern=r.inputs["pattern"],
        metricTransformations=[mt],
    )  # fmt: skip
    c.done(r, _phys(r), f"metric filter {r.inputs['pattern']!r} -> {t['name']}")


_ALARM_KEYS = {
    "comparisonOperator": "ComparisonOperator",
    "evaluationPeriods": "EvaluationPeriods",
    "metricName": "MetricName",
    "namespace": "Namespace",
    "period": "Period",
    "statistic": "Statistic",
    "extendedStatistic": "ExtendedStatistic",
    "threshold": "Threshold",
    "alarmDescription": "AlarmDescription",
    "datapointsToAlarm": "DatapointsToAlarm",
    "treatMissingData": "TreatMissingData",
    "unit": "Unit",
    "actionsEnabled": "ActionsEnabled",
}


def _alarm(c: DeployContext, r: Recorded) -> None:
    i = _int(c.local(r.inputs))
    kw: dict[str, Any] = {"AlarmName": _phys(r)}
    for k, aws_k in _ALARM_KEYS.items():
        if i.get(k) is not None:
            kw[aws_k] = i[k]
    for k, aws_k in (
        ("alarmActions", "AlarmActions"),
        ("okActions", "OKActions"),
        ("insufficientDataActions", "InsufficientDataActions"),
    ):
        if i.get(k):
            kw[aws_k] = i[k]
    if i.get("dimensions"):
        kw["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in i["dimensions"].items()]
    if i.get("metricQueries"):
        kw["Metrics"] = [_alarm_query(q) for q in i["metricQueries"]]
    if "Threshold" in kw:
        kw["Threshold"] = float(kw["Threshold"])
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    c.cw.put_metric_alarm(**kw)
    c.done(r, _phys(r), "alarm (metrics from the local host are not published)")


def _alarm_query(q: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": q["id"], "ReturnData": bool(q.get("returnData", False))}
    for k in ("expression", "label", "period", "accountId"):
        if q.get(k) is not None:
            out[k[:1].upper() + k[1:]] = q[k]
    m = q.get("metric")
    if m:
        out["MetricStat"] = {
            "Metric": {
                "Namespace": m.get("namespace"),
                "MetricName": m["metricName"],
                "Dimensions": [{"Name": k, "Value": str(v)} for k, v in (m.get("dimensions") or {}).items()],
            },
            "Period": m["period"],
            "Stat": m["stat"],
            **({"Unit": m["unit"]} if m.get("unit") else {}),
        }
    return out


def _dashboard(c: DeployContext, r: Recorded) -> None:
    name = str(r.inputs["dashboardName"])
    c.cw.put_dashboard(DashboardName=name, DashboardBody=_json(r.inputs["dashboardBody"]))
    c.done(r, name, "dashboard")


def _event_bus(c: DeployContext, r: Recorded) -> None:
    _create_named(c, r, c.events.create_event_bus, "EventBusArn", "event bus")


def _event_rule(c: DeployContext, r: Recorded) -> None:
    i = r.inputs
    kw: dict[str, Any] = {"Name": _phys(r), "State": i.get("state", "ENABLED")}
    for k, aws_k in (
        ("eventPattern", "EventPattern"),
        ("scheduleExpression", "ScheduleExpression"),
        ("description", "Description"),
    ):
        if i.get(k):
            kw[aws_k] = _json(i[k]) if k == "eventPattern" else i[k]
    if i.get("eventBusName"):
        kw["EventBusName"] = i["eventBusName"]
    if _tags(r):
        kw["Tags"] = _tag_list(r)
    c.events.put_rule(**kw)
    c.rules[_phys(r)] = r
    c.done(r, _phys(r), "rule " + (kw.get("EventPattern") or kw.get("ScheduleExpression", "")))


def _event_target(c: DeployContext, r: Recorded) -> None:
    i = _int(c.local(r.inputs))
    rule_name = str(i["rule"])
    rule = c.rules.get(rule_name)
    if rule is None:
        raise DeployError(f"{r.typ} {r.name}: its rule {rule_name!r} was not deployed")
    arn = str(i["arn"])
    target: dict[str, Any] = {"Id": i.get("targetId") or r.name[:64], "Arn": arn}
    how = "target"
    if ":lambda:" in arn and ":function:" in arn:
        fn = _last(arn)
        url, shim_arn = c.shim_queue(f"rule-{rule_name}")
        target["Arn"] = shim_arn
        if rule.inputs.get("scheduleExpression"):
            c.event_sources.append(
                {
                    "type": "schedule",
                    "function": fn,
                    "ruleName": rule_name,
                    "expression": rule.inputs["scheduleExpression"],
                }
            )
            how = f"Lambda target -> SQS shim (never fires in moto); the host runs the schedule for {fn}"
        else:
            c.event_sources.append(
                {"type": "eventbridge-rule", "queueUrl": url, "function": fn, "ruleName": rule_name}
            )
            how = f"Lambda target -> SQS shim queue polled by the host for {fn}"
    for k, aws_k in (("input", "Input"), ("inputPath", "InputPath")):
        if i.get(k):
            target[aws_k] = i[k]
    if i.get("inputTransformer"):
        target["InputTransformer"] = _pascal(i["inputTransformer"])
    if i.get("retryPolicy"):
        rp = i["retryPolicy"]
        target["RetryPolicy"] = {
            k2: rp[k1]
            for k1, k2 in (
                ("maximumEventAgeInSeconds", "MaximumEventAgeInSeconds"),
                ("maximumRetryAttempts", "MaximumRetryAttempts"),
            )
            if rp.get(k1) is not None
        }
    if i.get("deadLetterConfig", {}).get("arn"):
        target["DeadLetterConfig"] = {"Arn": i["deadLetterConfig"]["arn"]}
    kw: dict[str, Any] = {"Rule": rule_name, "Targets": [target]}
    if rule.inputs.get("eventBusName"):
        kw["EventBusName"] = rule.inputs["eventBusName"]
    res = c.events.put_targets(**kw)
    if res.get("FailedEntryCount"):
        raise DeployError(f"put_targets {rule_name}: {res['FailedEntries']}")
    c.done(r, f"{rule_name}/{target['Id']}", how)


def _lambda_function(c: DeployContext, r: Recorded) -> None:
    i = _int(r.inputs)
    name = _phys(r)
    arn = str(r.outputs.get("arn") or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    env = dict((i.get("environment") or {}).get("variables") or {})
    c.functions[arn] = {
        "name": name,
        "file": str(_bundle_path(r)),
        "timeout": i.get("timeout", 3),
        "memory": i.get("memorySize", 128),
        "runtime": i.get("runtime"),
        "env": env,  # rewritten to local values once every resource exists
        "deadLetterTarget": (i.get("deadLetterConfig") or {}).get("targetArn"),
        "reservedConcurrency": i.get("reservedConcurrentExecutions"),
    }
    c.fn_by_logical[r.name] = arn
    # Also registered in moto (configuration only: moto cannot run it without Docker; nothing points moto at it),
    # so runtime, memory, timeout, tracing and environment read back as declared.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(c.functions[arn]["file"], BUNDLE_FILE)
    kw: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": i.get("runtime", "nodejs22.x"),
        "Role": str(c.local(i["role"])),
        "Handler": i.get("handler", "index.handler"),
        "Code": {"ZipFile": buf.getvalue()},
        "MemorySize": i.get("memorySize", 128),
        "Timeout": i.get("timeout", 3),
        "Environment": {"Variables": {k: str(c.local(v)) for k, v in env.items()}},
    }
    if (i.get("tracingConfig") or {}).get("mode"):
        kw["TracingConfig"] = {"Mode": i["tracingConfig"]["mode"]}
    if (i.get("deadLetterConfig") or {}).get("targetArn"):
        kw["DeadLetterConfig"] = {"TargetArn": c.local(i["deadLetterConfig"]["targetArn"])}
    if i.get("loggingConfig"):
        kw["LoggingConfig"] = _pascal(i["loggingConfig"])
    if _tags(r):
        kw["Tags"] = _tags(r)
    c.lam.create_function(**kw)
    c.done(r, name, "function run by the local host (moto stores its configuration; it cannot run it)")


def _bundle_path(r: Recorded) -> Path:
    """The handler bundle the Function's code archive points at (`<dir>/index.mjs`)."""

    def paths(v: Any) -> list[str]:
        if isinstance(v, (pulumi.FileArchive, pulumi.FileAsset)):
            return [str(v.path)]
        if isinstance(v, pulumi.AssetArchive):
            return [p for x in v.assets.values() for p in paths(x)]
        if isinstance(v, dict):
            found = [str(v["path"])] if isinstance(v.get("path"), str) else []
            return found + [p for x in v.values() for p in paths(x)]
        if isinstance(v, list):
            return [p for x in v for p in paths(x)]
        return []

    for p in paths(r.inputs.get("code")):
        path = Path(p)
        cand = path / BUNDLE_FILE if path.is_dir() or not path.suffix else path
        if cand.name == BUNDLE_FILE:
            return cand
    raise DeployError(
        f"{r.typ} {r.name}: cannot find the handler bundle in its code input {r.inputs.get('code')!r}"
    )


def _esm(c: DeployContext, r: Recorded) -> None:
    i = _int(r.inputs)
    fn = _last(str(i["functionName"]))
    src: dict[str, Any] = {
        "type": "sqs",
        "queueUrl": c.queue_url(str(i["eventSourceArn"])),
        "function": fn,
        "batchSize": i.get("batchSize", 10),
        "maximumBatchingWindowSeconds": i.get("maximumBatchingWindowInSeconds", 0),
        "reportBatchItemFailures": "ReportBatchItemFailures" in (i.get("functionResponseTypes") or []),
    }
    if (i.get("scalingConfig") or {}).get("maximumConcurrency"):
        src["maximumConcurrency"] = i["scalingConfig"]["maximumConcurrency"]
    c.event_sources.append(src)
    c.done(r, fn, "SQS event source mapping run by the host (never created in moto: it would try Docker)")


def _invoke_config(c: DeployContext, r: Recorded) -> None:
    i = _int(c.local(r.inputs))
    fn = _last(str(i["functionName"]))
    dest = ((i.get("destinationConfig") or {}).get("onFailure") or {}).get("destination")
    c.async_config[fn] = {
        "maximumRetryAttempts": i.get("maximumRetryAttempts"),
        "maximumEventAgeInSeconds": i.get("maximumEventAgeInSeconds"),
        "onFailure": dest,
    }
    kw: dict[str, Any] = {"FunctionName": fn}
    if i.get("maximumRetryAttempts") is not None:
        kw["MaximumRetryAttempts"] = i["maximumRetryAttempts"]
    if i.get("maximumEventAgeInSeconds") is not None:
        kw["MaximumEventAgeInSeconds"] = i["maximumEventAgeInSeconds"]
    if dest:
        kw["DestinationConfig"] = {"OnFailure": {"Destination": dest}}
    c.lam.put_function_event_invoke_config(**kw)
    c.done(r, fn, f"async invoke config (host: retries {i.get('maximumRetryAttempts')}, on failure {dest})")


LIBRARY_MISSING_TOKEN: dict[str, Any] = {
    "statusCode": 404,
    "responseTemplates": {"application/json": '{"message": "404 Not found" }'},
}
"""pulumi-aws-apigateway's default MISSING_AUTHENTICATION_TOKEN gateway response (api.ts generateGatewayResponses)."""


def missing_route_response(gateway_responses: dict[str, Any]) -> dict[str, Any]:
    """What API Gateway answers a path or method that is not a route (MISSING_AUTHENTICATION_TOKEN): the API's own
    gateway response, else the library's 404. `$context.error.messageString` renders as API Gateway renders it."""
    spec = gateway_responses.get("MISSING_AUTHENTICATION_TOKEN") or LIBRARY_MISSING_TOKEN
    template = str(
        (spec.get("responseTemplates") or {}).get(
            "application/json", '{"message": "Missing Authentication Token"}'
        )
    )
    body = template.replace("$context.error.messageString", json.dumps("Missing Authentication Token"))
    return {"status": int(spec.get("statusCode", 403)), "body": json.loads(body)}


def _rest_api(c: DeployContext, r: Recorded) -> None:
    i = r.inputs
    c.stage_name = str(i.get("stageName") or "stage")
    # pulumi-aws-apigateway defaults binaryMediaTypes to */* (every body reaches the function base64-encoded)
    c.binary_media_types = list(i.get("binaryMediaTypes") or ["*/*"])
    c.missing_route = missing_route_response(i.get("gatewayResponses") or {})
    name = _rest_api_name(r)
    api = c.apigw.create_rest_api(name=name, tags={"local": "served-by-host"})
    c.rest_api_id = api["id"]
    for route in i.get("routes") or []:
        handler = route.get("eventHandler")
        fn_arn = _resource_arn(c, handler)
        c.routes.append(
            {
                "method": str(route.get("method", "ANY")).upper(),
                "path": route["path"] if str(route["path"]).startswith("/") else "/" + str(route["path"]),
                "function": _last(fn_arn),
                "apiKeyRequired": bool(route.get("apiKeyRequired", False)),
                # pulumi-aws-apigateway RouteArgs.iam_auth_enabled: "By default, the route method auth type is set
                # to `NONE`. If true, the auth type will be set to `AWS_IAM`."
                "authorization": "AWS_IAM" if route.get("iamAuthEnabled") else "NONE",
            }
        )
    if any(rt["authorization"] == "AWS_IAM" for rt in c.routes):
        c.not_emulated.append(
            (
                r.typ,
                r.name,
                "SigV4 signatures of the AWS_IAM routes are not verified by the host (an unsigned request is refused)",
            )
        )
    c.done(r, name, f"REST API with {len(c.routes)} routes served by the host")


REST_API_TYPE = "aws:apigateway/restApi:RestApi"
"""The child of `aws-apigateway:index:RestAPI` that is the API itself."""


def _rest_api_name(r: Recorded) -> str:
    """The physical name of the RestAPI component's RestApi: what the component's transforms set (they run on the
    children, which the mocks never see: apply them here), else the recorded logical name."""
    props: dict[str, Any] = {}
    for transform in r.transforms:
        args = pulumi.ResourceTransformArgs(
            custom=True, type_=REST_API_TYPE, name=r.name, props=props, opts=pulumi.ResourceOptions()
        )
        result = transform(args)
        if result is not None and not hasattr(result, "__await__"):
            props = dict(result.props)  # type: ignore[union-attr]
    return str(props.get("name") or r.name)


def _resource_arn(c: DeployContext, handler: Any) -> str:
    """A route's event handler (a Function object, a resource reference or an ARN) -> the function ARN."""
    if isinstance(handler, str):
        return handler
    name = getattr(handler, "_name", None)
    if name and name in c.fn_by_logical:
        return c.fn_by_logical[name]
    if isinstance(handler, dict) and handler.get("urn"):
        logical = str(handler["urn"]).rsplit("::", 1)[-1]
        if logical in c.fn_by_logical:
            return c.fn_by_logical[logical]
    raise DeployError(f"RestAPI route handler {handler!r} is not a recorded Lambda function")


def _api_key(c: DeployContext, r: Recorded) -> None:
    i = r.inputs
    kw: dict[str, Any] = {"name": _phys(r), "enabled": bool(i.get("enabled", True))}
    if i.get("value"):
        kw["value"] = i["value"]
    if i.get("description"):
        kw["description"] = i["description"]
    if _tags(r):
        kw["tags"] = _tags(r)
    key = c.apigw.create_api_key(**kw)
    c.mock_to_local[str(r.rid)] = key["id"]
    c.api_keys.append(
        {"id": key["id"], "name": key["name"], "value": key["value"], "enabled": key["enabled"]}
    )
    c.done(r, _phys(r), "API key (the host checks x-api-key)")


def _usage_plan(c: DeployContext, r: Recorded) -> None:
    i = _int(r.inputs)
    kw: dict[str, Any] = {"name": _phys(r)}
    if i.get("throttleSettings"):
        kw["throttle"] = {
            "rateLimit": float(i["throttleSettings"].get("rateLimit", 0)),
            "burstLimit": i["throttleSettings"].get("burstLimit", 0),
        }
    if i.get("quotaSettings"):
        kw["quota"] = {k: v for k, v in i["quotaSettings"].items() if k in ("limit", "offset", "period")}
    if c.rest_api_id:
        kw["apiStages"] = [{"apiId": c.rest_api_id, "stage": c.stage_name}]
    if _tags(r):
        kw["tags"] = _tags(r)
    plan = c.apigw.create_usage_plan(**kw)
    c.mock_to_local[str(r.rid)] = plan["id"]
    c.done(r, _phys(r), "usage plan (throttling not emulated)")


def _usage_plan_key(c: DeployContext, r: Recorded) -> None:
    plan = c.local(r.inputs["usagePlanId"])
    key = c.local(r.inputs["keyId"])
    c.apigw.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType=r.inputs.get("keyType", "API_KEY"))
    c.done(r, f"{plan}/{key}", "usage plan key")


Translator = Callable[[DeployContext, Recorded], None]

TRANSLATORS: dict[str, Translator] = {
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/rolePolicy:RolePolicy": _iam_role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _iam_attach,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicPolicy:TopicPolicy": _sns_topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _sns_sub,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:sqs/queuePolicy:QueuePolicy": _sqs_queue_policy,
    "aws:sqs/redrivePolicy:RedrivePolicy": _sqs_redrive,
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": _sqs_redrive,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketVersioning:BucketVersioning": _s3_versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _s3_sse,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _s3_lifecycle,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _s3_pab,
    "aws:s3/bucketPolicy:BucketPolicy": _s3_policy,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _s3_ownership,
    "aws:dynamodb/table:Table": _ddb_table,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": _metric_filter,
    "aws:cloudwatch/eventBus:EventBus": _event_bus,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:lambda/function:Function": _lambda_function,
    "aws:lambda/eventSourceMapping:EventSourceMapping": _esm,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": _invoke_config,
    "aws:s3/bucketNotification:BucketNotification": _s3_notification,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws-apigateway:index:RestAPI": _rest_api,
    "aws:apigateway/apiKey:ApiKey": _api_key,
    "aws:apigateway/usagePlan:UsagePlan": _usage_plan,
    "aws:apigateway/usagePlanKey:UsagePlanKey": _usage_plan_key,
}
"""Pulumi type token -> translator. The dict order is the deploy order (dependencies first)."""

_ORDER = {t: n for n, t in enumerate(TRANSLATORS)}


def _sort_key(r: Recorded) -> tuple[int, int]:
    # DLQs before the queues that redrive into them (moto needs the target to exist)
    sub = 1 if r.typ == "aws:sqs/queue:Queue" and r.inputs.get("redrivePolicy") else 0
    return (_ORDER.get(r.typ, len(_ORDER)), sub)


def check_types(recorded: list[Recorded]) -> None:
    """Fail loudly when the component declares a type nobody decided about."""
    unknown = sorted(
        {r.typ for r in recorded if r.typ not in TRANSLATORS and not_emulated_reason(r.typ) is None}
    )
    if unknown:
        raise DeployError(
            "the component declares resource types the local stack neither translates nor lists as not "
            f"emulated: {unknown}. Add a translator to TRANSLATORS or a reason to NOT_EMULATED in "
            f"{Path(__file__).name}."
        )


def translate(endpoint_url: str, recorded: list[Recorded]) -> DeployContext:
    """Create every recorded resource in moto (at `endpoint_url`), dependencies first; returns what was collected."""
    check_types(recorded)
    c = DeployContext(endpoint_url)
    for r in sorted(recorded, key=_sort_key):
        tr = TRANSLATORS.get(r.typ)
        if tr is None:
            c.not_emulated.append((r.typ, r.name, not_emulated_reason(r.typ) or ""))
            continue
        try:
            tr(c, r)
        except DeployError:
            raise
        except Exception as e:  # a boto3 or shape error: say which resource it was
            raise DeployError(f"deploying {r.typ} {r.name!r} failed: {type(e).__name__}: {e}") from e
    return c
