"""A counting HTTP proxy in front of moto: every AWS request is classified and its billing units computed.

One `CountingProxy` per caller (a function, the event-source poller, ...) so requests are attributed to whoever made
them: point the caller's ``AWS_ENDPOINT_URL`` at ``proxy.url``. Classification:

* service: the SigV4 credential scope in ``Authorization`` (``Credential=<key>/<date>/<region>/<service>/...``);
* action: ``X-Amz-Target`` (JSON protocols: DynamoDB, SQS, EventBridge), else ``Action=`` of a query-protocol form
  body, else for S3 the method, path and sub-resource (GetObject, PutObject, UploadPart, ...).

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
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
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


def s3_action(method: str, path: str, query: str) -> str:
    """S3 operation from method, path-style path (/bucket/key) and query string."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
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
            return "UploadPart"
        return "PutObject" if has_key else "PutBucket"
    if method == "GET":
        if not has_key:
            return "ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"
        return "GetObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        if "uploadId" in q:
            return "AbortMultipartUpload"
        return "DeleteObject" if has_key else "DeleteBucket"
    return method


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
        tier1 |= {"ListObjectsV2", "ListObjects", "PutBucket"}
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

    def __init__(self, name: str, upstream: str) -> None:
        """``name`` labels the caller (e.g. ``ingestion``); ``upstream`` is moto's URL."""
        self.name = name
        self.upstream = upstream
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
        service = m.group(1) if m else "unknown"
        target = headers.get("X-Amz-Target", "")
        url = urllib.parse.urlsplit(path)
        if target:
            action = target.rsplit(".", 1)[-1]
        elif service == "s3":
            action = s3_action(method, url.path, url.query)
        else:
            form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
            action = (form.get("Action") or urllib.parse.parse_qs(url.query).get("Action") or [method])[0]
        units, tag = billing_units(service, action, body, resp)
        call = Call(service, action, status, len(body), len(resp), units, tag)
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
