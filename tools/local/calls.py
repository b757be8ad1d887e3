"""What one AWS call means: the authorizations AWS makes for it and its billing units.

A call is classified by the proxy in front of moto (``tools/local/proxy.py``: service, action) and kept as a `Call`:

* IAM authorizations (``Call.iam``, the IAM proof of R-SEC-4, ``tests/iam/proof.py``): each call becomes the
  (IAM action, resource ARN, request context) requests AWS authorizes for it (``iam_requests``), e.g. HeadObject ->
  ``s3:GetObject`` on the object ARN, ListObjectsV2 -> ``s3:ListBucket`` on the bucket with ``s3:prefix``,
  BatchWriteItem -> ``dynamodb:BatchWriteItem`` on each table, SendMessageBatch -> ``sqs:SendMessage`` on the queue,
  PutEvents -> ``events:PutEvents`` on each entry's bus. A call it cannot map keeps ``Call.unclassified`` (the proof
  fails on it rather than skipping it).
* Billing units (the bench, ``billing_units``) follow the AWS price-list definitions (see ``bench/prices.json``): SQS
  requests per started 64 KiB of payload, EventBridge events per entry and 64 KiB chunk, DynamoDB write units per
  started KiB of each item written and read units per started 4 KiB of items read (strongly consistent; half for
  eventually consistent reads).
"""

import json
import math
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tools.local.mocks import ACCOUNT

KIB64 = 65_536


def ddb_value_size(v: Any) -> int:
    """Size in bytes of one DynamoDB attribute value (low-level JSON form), per the DynamoDB item-size rules."""
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {v!r}")
    ((t, x),) = v.items()
    if t == "S":
        return len(str(x).encode())
    if t == "N":
        digits = str(x).lstrip("-").replace(".", "").lstrip("0").split("e")[0].split("E")[0]
        return max(1, math.ceil(len(digits.rstrip("0") or "0") / 2) + 1)
    if t == "B":
        return math.ceil(len(str(x)) * 3 / 4)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "L":
        return 3 + sum(1 + ddb_value_size(e) for e in x)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + ddb_value_size(e) for k, e in x.items())
    if t == "SS":
        return sum(len(str(e).encode()) for e in x)
    if t == "NS":
        return sum(ddb_value_size({"N": e}) for e in x)
    raise ValueError(f"unknown DynamoDB type {t!r}")


def ddb_item_size(item: dict[str, Any]) -> int:
    """Size in bytes of a DynamoDB item: attribute names plus values."""
    return sum(len(k.encode()) + ddb_value_size(v) for k, v in item.items())


@dataclass
class Call:
    """One classified request and its billing units."""

    service: str
    action: str
    status: int
    req_bytes: int
    resp_bytes: int
    units: dict[str, float] = field(default_factory=dict)
    """billing units: sqs_requests, events, ddb_wru, ddb_rru, s3_tier1 (PUT/POST/LIST), s3_tier2 (GET/other)"""
    tag: str = ""
    """extra classification (e.g. the queue name of an SQS call, 'empty' for a receive that got nothing)"""
    iam: tuple["IamRequest", ...] = ()
    """the authorizations AWS makes for this call (``iam_requests``)"""
    unclassified: str = ""
    """why no IAM authorization could be derived (empty when ``iam`` is complete)"""
    worker: str = ""
    """the execution environment that made the call: the app id of its User-Agent (``tools.local.proxy.worker_of``;
    the local Lambda host gives each worker its own), '' when the caller sent none"""
    started: float = 0.0
    """``time.monotonic()`` when the proxy received the request"""
    ended: float = 0.0
    """``time.monotonic()`` when the proxy had the upstream's response"""


# S3 operation -> IAM action ("Actions, resources, and condition keys for Amazon S3" in the Service Authorization
# Reference; HEAD needs s3:GetObject / s3:ListBucket, multipart parts and completion need s3:PutObject).
S3_IAM_ACTIONS: dict[str, str] = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "PostObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "PutBucket": "s3:CreateBucket",
    "DeleteBucket": "s3:DeleteBucket",
}
# with ?versionId the version-specific action is authorized instead
_S3_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
}
# SQS batch operations are authorized as their single-message action (Amazon SQS API permissions reference)
_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True)
class IamRequest:
    """One authorization AWS makes for a call: IAM action, resource ARN (or ``*``) and request context keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def sqs_queue_arn(url: str, region: str) -> str:
    """The ARN of the queue at ``url`` (``http(s)://host/<account>/<name>``)."""
    parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
    if len(parts) != 2:
        raise ValueError(f"not an SQS queue URL (expected .../<account>/<name>): {url!r}")
    return f"arn:aws:sqs:{region}:{parts[0]}:{parts[1]}"


def _s3_requests(
    op: str, path: str, query: str, headers: Any, body: bytes
) -> list[tuple[str, str, dict[str, str]]]:
    action = S3_IAM_ACTIONS.get(op)
    if action is None:
        raise LookupError(f"S3 operation {op!r} has no IAM mapping")
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    bucket, _, key = urllib.parse.unquote(path.lstrip("/")).partition("/")
    if action in _S3_VERSIONED and "versionId" in q:
        action = _S3_VERSIONED[action]
    if action.startswith("s3:List") or op in ("PutBucket", "DeleteBucket"):
        ctx = {f"s3:{k}": v[0] for k, v in q.items() if k in ("prefix", "delimiter", "max-keys")}
        return [(action, f"arn:aws:s3:::{bucket}", ctx)]
    if op == "DeleteObjects":
        out: list[tuple[str, str, dict[str, str]]] = []
        for obj in ET.fromstring(body or b"<Delete/>").iter():
            if obj.tag.rsplit("}", 1)[-1] != "Object":
                continue
            fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in obj}
            act = "s3:DeleteObjectVersion" if fields.get("VersionId") else "s3:DeleteObject"
            out.append((act, f"arn:aws:s3:::{bucket}/{fields.get('Key', '')}", {}))
        return out
    ctx = {}
    sse = headers.get("x-amz-server-side-encryption") if headers is not None else None
    if sse and action == "s3:PutObject":
        ctx["s3:x-amz-server-side-encryption"] = sse
    out = [(action, f"arn:aws:s3:::{bucket}/{key}", ctx)]
    if op in ("CopyObject", "UploadPartCopy"):
        src = urllib.parse.unquote(str(headers.get("x-amz-copy-source"))).lstrip("/")
        src_path, _, src_query = src.partition("?")
        src_action = "s3:GetObjectVersion" if "versionId=" in src_query else "s3:GetObject"
        out.append((src_action, f"arn:aws:s3:::{src_path}", {}))
    return out


def _json_requests(
    service: str, action: str, body: Any, region: str, account: str
) -> list[tuple[str, str, dict[str, str]]]:
    b = body if isinstance(body, dict) else {}
    if service == "dynamodb":

        def table(name: str, index: str | None = None) -> str:
            arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return f"{arn}/index/{index}" if index else arn

        if action in ("BatchWriteItem", "BatchGetItem"):
            return [(f"dynamodb:{action}", table(t), {}) for t in sorted(b.get("RequestItems") or {})]
        if action in ("TransactWriteItems", "TransactGetItems"):
            ops = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem"}
            ops |= {"Delete": "DeleteItem", "Get": "GetItem"}
            return [
                (f"dynamodb:{ops[k]}", table(v["TableName"]), {})
                for item in b.get("TransactItems") or []
                for k, v in item.items()
            ]
        if "TableName" in b:
            return [(f"dynamodb:{action}", table(b["TableName"], b.get("IndexName")), {})]
        if action in ("ListTables", "DescribeLimits", "DescribeEndpoints"):
            return [(f"dynamodb:{action}", "*", {})]
    if service == "sqs":
        act = f"sqs:{_SQS_BATCH.get(action, action)}"
        if "QueueUrl" in b:
            return [(act, sqs_queue_arn(str(b["QueueUrl"]), region), {})]
        if "QueueName" in b:
            return [
                (
                    act,
                    f"arn:aws:sqs:{region}:{b.get('QueueOwnerAWSAccountId') or account}:{b['QueueName']}",
                    {},
                )
            ]
        if action == "ListQueues":
            return [(act, "*", {})]
    if service == "events" and action == "PutEvents":
        out = []
        for e in b.get("Entries") or []:
            bus = str(e.get("EventBusName") or "default")
            arn = bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
            ctx = {
                k: str(e[f])
                for k, f in (("events:source", "Source"), ("events:detail-type", "DetailType"))
                if f in e
            }
            out.append(("events:PutEvents", arn, ctx))
        return out
    if service == "logs" and "logGroupName" in b:
        arn = f"arn:aws:logs:{region}:{account}:log-group:{b['logGroupName']}"
        if "logStreamName" in b:
            arn += f":log-stream:{b['logStreamName']}"
        return [(f"logs:{action}", arn, {})]
    if service == "monitoring" and action == "PutMetricData":
        return [("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": str(b.get("Namespace", ""))})]
    raise LookupError(f"{service} {action} has no IAM mapping")


def iam_requests(
    service: str,
    action: str,
    method: str,
    path: str,
    headers: Any,
    body: bytes,
    region: str,
    account: str = ACCOUNT,
    secure_transport: bool = True,
) -> tuple[IamRequest, ...]:
    """The authorizations AWS makes for one classified call (raises ``LookupError`` for a call it cannot map).

    ``aws:SecureTransport`` is ``secure_transport``: the caller's transport in AWS, not the local one (moto serves
    plain HTTP; the deployed functions use the SDK's default https endpoints).
    """
    url = urllib.parse.urlsplit(path)
    if service == "s3":
        raw = _s3_requests(action, url.path, url.query, headers, body)
    elif service == "xray" and url.path.strip("/") in (
        "TraceSegments",
        "TelemetryRecords",
        "GetSamplingRules",
    ):
        raw = [(f"xray:{'Put' if 'Get' not in url.path else ''}{url.path.strip('/')}", "*", {})]
    else:
        parsed: Any = _json(body)
        if not isinstance(parsed, dict) or not parsed:
            form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
            parsed = {k: v[0] for k, v in form.items()}
        raw = _json_requests(service, action, parsed, region, account)
    transport = {"aws:SecureTransport": "true" if secure_transport else "false"}
    seen: dict[IamRequest, None] = {}
    for act, resource, ctx in raw:
        seen[IamRequest(act, resource, tuple(sorted({**transport, **ctx}.items())))] = None
    return tuple(seen)


def _json(b: bytes) -> Any:
    try:
        return json.loads(b) if b else {}
    except ValueError:
        return {}


def billing_units(service: str, action: str, req: bytes, resp: bytes) -> tuple[dict[str, float], str]:
    """Billing units of one call (see module doc) and a tag."""
    if service == "sqs":
        body = _json(req)
        queue = str(body.get("QueueUrl", "")).rsplit("/", 1)[-1] if isinstance(body, dict) else ""
        payload = len(resp) if action == "ReceiveMessage" else len(req)
        tag = queue
        messages = 0
        if action == "ReceiveMessage":
            messages = len((_json(resp) or {}).get("Messages") or [])
            if not messages:
                tag = f"{queue}|empty"
        elif action == "SendMessageBatch":
            messages = len(body.get("Entries") or []) if isinstance(body, dict) else 0
        elif action == "SendMessage":
            messages = 1
        units = {"sqs_requests": float(max(1, math.ceil(payload / KIB64)))}
        if messages:
            units["sqs_messages"] = float(
                messages
            )  # messages moved (not billed): who fed a queue, who drained it
        return units, tag
    if service == "events":
        if action == "PutEvents":
            entries = (_json(req) or {}).get("Entries", [])
            n = sum(max(1, math.ceil(len(json.dumps(e).encode()) / KIB64)) for e in entries)
            return {"events": n}, ""
        return {}, ""
    if service == "dynamodb":
        body = _json(req) or {}
        out = _json(resp) or {}
        if action == "PutItem":
            return {"ddb_wru": max(1, math.ceil(ddb_item_size(body.get("Item", {})) / 1024))}, ""
        if action in ("UpdateItem", "DeleteItem"):
            return {"ddb_wru": 1}, ""
        if action == "BatchWriteItem":
            wru = 0
            for reqs in body.get("RequestItems", {}).values():
                for r in reqs:
                    item = r.get("PutRequest", {}).get("Item")
                    wru += max(1, math.ceil(ddb_item_size(item) / 1024)) if item else 1
            for reqs in (out.get("UnprocessedItems") or {}).values():
                wru -= len(reqs)
            return {"ddb_wru": max(0, wru)}, ""
        if action in ("GetItem", "Query", "Scan"):
            items = [out["Item"]] if action == "GetItem" and "Item" in out else out.get("Items", [])
            size = sum(ddb_item_size(i) for i in items)
            factor = 1.0 if body.get("ConsistentRead") else 0.5
            projected = "ProjectionExpression" in body
            return {
                "ddb_rru": max(1, math.ceil(size / 4096)) * factor,
                "ddb_items_read": len(items),
                "ddb_read_factor": factor,
                "ddb_projected": 1.0 if projected else 0.0,
            }, ("projected" if projected else "")
        return {}, ""
    if service == "s3":
        tier1 = {"PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload", "PostObject"}
        tier1 |= {"ListObjectsV2", "ListObjects", "PutBucket", "CopyObject", "UploadPartCopy", "ListParts"}
        tier1 |= {"ListObjectVersions", "ListMultipartUploads", "PutObjectTagging"}
        if action in {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}:
            return {}, "free"  # S3 pricing: DELETE and CANCEL requests are free
        return ({"s3_tier1": 1} if action in tier1 else {"s3_tier2": 1}), ""
    return {}, ""


def summarize(calls: list[Call]) -> dict[str, Any]:
    """Counts per ``service:action`` and summed billing units."""
    by_action: Counter[str] = Counter(f"{c.service}:{c.action}" for c in calls)
    units: dict[str, float] = {}
    for c in calls:
        for k, v in c.units.items():
            if k not in ("ddb_read_factor", "ddb_projected"):
                units[k] = units.get(k, 0.0) + v
    return {
        "requests": len(calls),
        "by_action": dict(sorted(by_action.items())),
        "units": {k: round(v, 3) for k, v in sorted(units.items())},
        "errors": sum(1 for c in calls if c.status >= 400),
    }
