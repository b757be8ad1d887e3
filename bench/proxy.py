"""A counting HTTP proxy in front of moto: every AWS request is classified and its billing units computed.

One `CountingProxy` per caller (a function, the event-source poller, ...) so requests are attributed to whoever made
them: point the caller's ``AWS_ENDPOINT_URL`` at ``proxy.url``. Classification:

* service: the SigV4 credential scope in ``Authorization`` (``Credential=<key>/<date>/<region>/<service>/...``);
* action: ``X-Amz-Target`` (JSON protocols: DynamoDB, SQS, EventBridge), else ``Action=`` of a query-protocol form
  body, else for S3 the method, path and sub-resource (GetObject, PutObject, UploadPart, ...);
* IAM authorizations (``Call.iam``, the IAM proof of R-SEC-4, ``tools/local/iam_proof.py``): each call becomes the
  (IAM action, resource ARN, request context) requests AWS authorizes for it (``iam_requests``), e.g. HeadObject ->
  ``s3:GetObject`` on the object ARN, ListObjectsV2 -> ``s3:ListBucket`` on the bucket with ``s3:prefix``,
  BatchWriteItem -> ``dynamodb:BatchWriteItem`` on each table, SendMessageBatch -> ``sqs:SendMessage`` on the queue,
  PutEvents -> ``events:PutEvents`` on each entry's bus. A call it cannot map keeps ``Call.unclassified`` (the proof
  fails on it rather than skipping it).

Billing units follow the AWS price-list definitions (see ``bench/prices.json``): SQS requests per started 64 KiB of
payload, EventBridge events per entry and 64 KiB chunk, DynamoDB write units per started KiB of each item written and
read units per started 4 KiB of items read (strongly consistent; half for eventually consistent reads).
"""

import http.client
import json
import math
import re
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "expect",
}
KIB64 = 65_536
MOTO_ACCOUNT = "123456789012"
"""The account moto serves by default (and the one tests/harness.py fabricates ARNs with)."""


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


_S3_LIST_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
}
_S3_LIST_PARAMS |= {"encoding-type", "fetch-owner"}


def s3_action(method: str, path: str, query: str, headers: Any = None) -> str:
    """S3 operation from method, path-style path (/bucket/key), query string and (for copies) headers."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    copy = bool(headers is not None and headers.get("x-amz-copy-source"))
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        if "delete" in q:
            return "DeleteObjects"
        return "PostObject"
    if method == "PUT":
        if has_key and "partNumber" in q:
            return "UploadPartCopy" if copy else "UploadPart"
        if has_key and "tagging" in q:
            return "PutObjectTagging"
        if has_key:
            return "CopyObject" if copy else "PutObject"
        return "PutBucket" if not q else "PutBucket?" + "&".join(sorted(q))
    if method == "GET":
        if not has_key:
            if "versions" in q:
                return "ListObjectVersions"
            if "uploads" in q:
                return "ListMultipartUploads"
            if set(q) - _S3_LIST_PARAMS:
                return "GetBucket?" + "&".join(sorted(set(q) - _S3_LIST_PARAMS))
            return "ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"
        if "uploadId" in q:
            return "ListParts"
        if "tagging" in q:
            return "GetObjectTagging"
        return "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        if "uploadId" in q:
            return "AbortMultipartUpload"
        return "DeleteObject" if has_key else "DeleteBucket"
    return method


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
    account: str = MOTO_ACCOUNT,
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
        if action == "ReceiveMessage" and not (_json(resp) or {}).get("Messages"):
            tag = f"{queue}|empty"
        return {"sqs_requests": max(1, math.ceil(payload / KIB64))}, tag
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            for _ in range(10_000_000):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _proxy(self) -> None:
        body = self._read_body()
        up = self.server.upstream
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port or 80, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, resp_headers = resp.status, resp.getheaders()
        finally:
            conn.close()
        self.server.owner.record(self.command, self.path, self.headers, body, status, data)
        try:
            self.send_response(status)
            for k, v in resp_headers:
                if k.lower() not in _HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # the caller gave up (e.g. the host aborting a long poll at shutdown); the call reached moto: counted
            self.close_connection = True

    def do_GET(self) -> None:
        """Forward a GET."""
        self._proxy()

    def do_PUT(self) -> None:
        """Forward a PUT."""
        self._proxy()

    def do_POST(self) -> None:
        """Forward a POST."""
        self._proxy()

    def do_DELETE(self) -> None:
        """Forward a DELETE."""
        self._proxy()

    def do_HEAD(self) -> None:
        """Forward a HEAD."""
        self._proxy()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: urllib.parse.ParseResult
    owner: "CountingProxy"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections the caller drops are not errors of the proxy; others are printed as usual."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class CountingProxy:
    """Forwards to ``upstream`` (moto) and records every call; ``url`` after ``start()``."""

    def __init__(
        self, name: str, upstream: str, account: str = MOTO_ACCOUNT, secure_transport: bool = True
    ) -> None:
        """``name`` labels the caller (e.g. ``ingestion``); ``upstream`` is moto's URL; ``account`` and
        ``secure_transport`` are the account and transport the IAM requests of each call assume (``iam_requests``)."""
        self.name = name
        self.upstream = upstream
        self.account = account
        self.secure_transport = secure_transport
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> "CountingProxy":
        """Listen on 127.0.0.1, on a free port."""
        srv = _Server(("127.0.0.1", 0), _Handler)
        srv.upstream = urllib.parse.urlparse(self.upstream)
        srv.owner = self
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, name=f"proxy-{self.name}", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{srv.server_address[1]}"
        return self

    def stop(self) -> None:
        """Stop listening (safe to call twice)."""
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def record(self, method: str, path: str, headers: Any, body: bytes, status: int, resp: bytes) -> None:
        """Classify one forwarded call and keep it."""
        m = _CRED_RE.search(headers.get("Authorization", ""))
        region, service = (m.group(1), m.group(2)) if m else ("", "unknown")
        target = headers.get("X-Amz-Target", "")
        url = urllib.parse.urlsplit(path)
        if target:
            action = target.rsplit(".", 1)[-1]
        elif service == "s3":
            action = s3_action(method, url.path, url.query, headers)
        else:
            form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
            action = (form.get("Action") or urllib.parse.parse_qs(url.query).get("Action") or [method])[0]
        units, tag = billing_units(service, action, body, resp)
        iam: tuple[IamRequest, ...] = ()
        unclassified = ""
        try:
            iam = iam_requests(
                service, action, method, path, headers, body, region, self.account, self.secure_transport
            )
        except (LookupError, ValueError, ET.ParseError) as e:
            unclassified = f"{method} {url.path} ({service} {action}): {e}"
        call = Call(service, action, status, len(body), len(resp), units, tag, iam, unclassified)
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> int:
        """Number of calls so far (use with ``since``)."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int = 0) -> list[Call]:
        """Calls recorded after ``snapshot()`` returned ``mark``."""
        with self._lock:
            return list(self.calls[mark:])


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
