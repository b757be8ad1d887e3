"""The one HTTP proxy in front of the local AWS endpoint (moto), on 127.0.0.1.

One server reads each request (`read_body`), classifies it (`classify`: service, action, region) and hands it to the
proxy's `respond`, which forwards it upstream or answers it itself:

* `CountingProxy` (the bench's request counters, the IAM proof): forwards every request and keeps it as a
  `tools.local.calls.Call` (billing units, IAM authorizations). One per caller (a function, the event-source poller,
  ...) so requests are attributed to whoever made them: point the caller's ``AWS_ENDPOINT_URL`` at ``proxy.url``.
* `tools.local.fault_proxy.FaultProxy` (tests/faults): forwards, or injects the faults its rules pick.

Each `Call` also keeps the execution environment that made it (`worker_of`: the ``app/<id>`` the AWS SDK appends to
the User-Agent, set per worker by the local Lambda host) and its wall interval at the proxy (``time.monotonic`` when
the request arrived and when the upstream's answer was back), from which the bench measures how far a function's calls
overlap (``bench/cost.py`` ``call_overlap``).

Classification: service from the SigV4 credential scope in ``Authorization``
(``Credential=<key>/<date>/<region>/<service>/...``), else the ``X-Amz-Target`` prefix, else an SQS query-protocol
form; action from ``X-Amz-Target`` (JSON protocols: DynamoDB, SQS, EventBridge), else for S3 the method, path and
sub-resource (`s3_action`), else ``Action=`` of a query-protocol form body or query string. Anything else is service
``other``.
"""

import http.client
import re
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

from tools.local.calls import Call, IamRequest, billing_units, iam_requests
from tools.local.mocks import ACCOUNT

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest request body the proxy buffers (the local stack's uploads are far smaller)."""

_APP_ID_RE = re.compile(r"(?:^|\s)app/(\S+)")
_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_TARGET_PREFIX = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AWSEvents": "events"}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "server",
    "date",
}

Response = tuple[int, dict[str, str], bytes]
"""(status, headers, body) of an answer."""


class ProxyError(RuntimeError):
    """The proxy could not be configured, started or reached, or its upstream failed."""


class RequestKind(NamedTuple):
    """What a request is: service (``other`` when unknown), action (empty when unknown), SigV4 region."""

    service: str
    action: str
    region: str = ""


def _header(headers: Any, name: str) -> str:
    """A header's value, case-insensitively ('' when absent), from a mapping or an HTTP message."""
    low = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == low), "")


_S3_LIST_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
}


def worker_of(headers: Any) -> str:
    """The caller's execution environment: the app id in the ``User-Agent`` ('' when none).

    AWS SDK for JavaScript v3 appends ``app/<id>`` when ``AWS_SDK_UA_APP_ID`` is set
    (``@aws-sdk/middleware-user-agent``: an id of at most 50 characters; characters other than letters, digits and
    ``!#$%&'*+-.^_`|~`` become ``-``). The local Lambda host sets one per worker (``lambda-host-worker-<n>``,
    ``lib/lambda/host/lambda-host.mjs`` ``workerEnv``).
    """
    m = _APP_ID_RE.search(_header(headers, "User-Agent"))
    return m.group(1) if m else ""


def s3_action(method: str, path: str, query: str, headers: Any = None) -> str:
    """S3 operation from method, path-style path (/bucket/key), query string and (for copies) headers."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    copy = bool(headers is not None and _header(headers, "x-amz-copy-source"))
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


def classify(method: str, path: str, headers: Any, body: bytes) -> RequestKind:
    """The service, action and region of one request (module docstring)."""
    m = _CRED_RE.search(_header(headers, "Authorization"))
    region, service = (m.group(1), m.group(2)) if m else ("", "")
    target = _header(headers, "X-Amz-Target")
    url = urllib.parse.urlsplit(path)
    if target and "." in target:
        prefix, action = target.split(".", 1)
        if not service:
            service = _TARGET_PREFIX.get(prefix, "")
        return RequestKind(service or "other", action if service else "", region)
    if service == "s3":
        return RequestKind(service, s3_action(method, url.path, url.query, headers), region)
    form: dict[str, list[str]] = {}
    if body and _header(headers, "Content-Type").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    action = (form.get("Action") or urllib.parse.parse_qs(url.query).get("Action") or [""])[0]
    if not service and action and ("2012-11-05" in form.get("Version", []) or "QueueUrl" in form):
        service = "sqs"  # the SQS query protocol, unsigned
    if not service:
        return RequestKind("other", "", region)
    return RequestKind(service, action or method, region)


def read_body(rfile: Any, headers: Any) -> bytes:
    """The request body (Content-Length or chunked), at most `MAX_BODY_BYTES` (else `ProxyError`)."""
    if "chunked" in _header(headers, "Transfer-Encoding").lower():
        parts: list[bytes] = []
        total = 0
        for _ in range(1_000_000):
            size_line = rfile.readline(65_537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(1000):  # trailers up to the blank line
                    if rfile.readline(65_537) in (b"\r\n", b"\n", b""):
                        break
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise ProxyError(f"request body above {MAX_BODY_BYTES} bytes")
            parts.append(rfile.read(size))
            rfile.readline(3)
        return b"".join(parts)
    length = int(_header(headers, "Content-Length") or 0)
    if length > MAX_BODY_BYTES:
        raise ProxyError(f"request body of {length} bytes is above {MAX_BODY_BYTES}")
    return bytes(rfile.read(length)) if length else b""


@dataclass(frozen=True)
class ProxyRequest:
    """One request as the proxy read it."""

    method: str
    path: str
    headers: Any
    """the request's HTTP message headers (case-insensitive ``get``)"""
    body: bytes
    kind: RequestKind
    received: float = 0.0
    """``time.monotonic()`` when the request arrived (its headers read)"""


Forward = Callable[[bytes], Response]
"""Send the request upstream with this body; returns the upstream answer (raises `ProxyError` when unreachable)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, owner: "Proxy") -> None:
        self.upstream_host, self.upstream_port = host, port
        self.owner = owner
        self.local = threading.local()
        super().__init__(("127.0.0.1", 0), _Handler)

    def upstream(self, fresh: bool = False) -> http.client.HTTPConnection:
        """This thread's kept-alive connection upstream (a new one when `fresh`)."""
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
            self.local.conn = conn
        return conn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections the caller drops are not errors of the proxy; others are printed as usual."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the proxy logs nothing per request."""

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        length = str(len(body))
        for k, v in headers.items():
            if k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer states the length of the body it does not send
            elif k.lower() not in _HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _forward(self, body: bytes) -> Response:
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "expect"
        }
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        last: Exception | None = None
        for attempt in range(2):  # a kept-alive upstream connection may have been closed: one fresh retry
            conn = self.server.upstream(fresh=attempt > 0)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = {
                    k: v
                    for k, v in resp.getheaders()
                    if k.lower() not in _HOP_BY_HOP
                    or (k.lower() == "content-length" and self.command == "HEAD")
                }
                if resp.will_close:
                    self.server.upstream(fresh=True)
                return resp.status, out, data
            except (http.client.HTTPException, ConnectionError, OSError) as e:
                last = e
        raise ProxyError(f"upstream {self.server.upstream_host}:{self.server.upstream_port} failed: {last}")

    def _handle(self) -> None:
        received = time.monotonic()
        try:
            body = read_body(self.rfile, self.headers)
        except (ProxyError, ValueError) as e:
            self.close_connection = True
            self._send(400, {"Content-Type": "text/plain"}, str(e).encode())
            return
        kind = classify(self.command, self.path, self.headers, body)
        req = ProxyRequest(self.command, self.path, self.headers, body, kind, received)
        try:
            answer = self.server.owner.respond(req, self._forward)
        except ProxyError as e:
            self.close_connection = True
            answer = (502, {"Content-Type": "text/plain"}, str(e).encode())
        try:
            self._send(*answer)
        except (BrokenPipeError, ConnectionResetError):
            # the caller gave up (e.g. the host aborting a long poll at shutdown); the call was handled
            self.close_connection = True

    def do_GET(self) -> None:
        """Forward (or answer) a request of any method."""
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET  # noqa: N815


class Proxy:
    """The proxy server in a thread of this process: ``url`` is set by ``start()``; ``stop()`` shuts it down.

    Subclasses answer each request in `respond` (the default forwards it unchanged).
    """

    error: type[ProxyError] = ProxyError
    """the exception this proxy raises (configuration, start)"""

    def __init__(self, upstream: str, name: str = "proxy") -> None:
        """Prepare a proxy for ``upstream`` (an ``http://host:port`` URL: the moto endpoint)."""
        self.upstream = upstream
        self.name = name
        self.url = ""
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def respond(self, req: ProxyRequest, forward: Forward) -> Response:
        """The answer to one request: here, the upstream's."""
        return forward(req.body)

    def start(self) -> "Proxy":
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            raise self.error("already started")
        u = urllib.parse.urlparse(self.upstream)
        if u.scheme != "http" or not u.hostname or not u.port:
            raise self.error(
                f"upstream {self.upstream!r}: allowed an http://host:port URL (the moto endpoint)"
            )
        self._server = _Server(u.hostname, u.port, self)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.url = ""

    def __enter__(self) -> "Proxy":
        """Start on entering the context."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on leaving the context."""
        self.stop()


class CountingProxy(Proxy):
    """Forwards every request to ``upstream`` (moto) and keeps it as a `Call`; ``url`` after ``start()``."""

    def __init__(
        self, name: str, upstream: str, account: str = ACCOUNT, secure_transport: bool = True
    ) -> None:
        """``name`` labels the caller (e.g. ``ingestion``); ``upstream`` is moto's URL; ``account`` and
        ``secure_transport`` are the account and transport the IAM requests of each call assume (``iam_requests``)."""
        super().__init__(upstream, f"proxy-{name}")
        self.name = name
        self.account = account
        self.secure_transport = secure_transport
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def start(self) -> "CountingProxy":
        """Listen on 127.0.0.1, on a free port."""
        super().start()
        return self

    def respond(self, req: ProxyRequest, forward: Forward) -> Response:
        """Forward, then keep the call."""
        answer = forward(req.body)
        self.record(req, answer[0], answer[2])
        return answer

    def record(self, req: ProxyRequest, status: int, resp: bytes) -> Call:
        """Keep one forwarded request as a `Call` (billing units, IAM authorizations, the worker that made it and its
        interval: from ``req.received`` to now, when the upstream's answer is back)."""
        ended = time.monotonic()
        service, action, region = req.kind
        units, tag = billing_units(service, action, req.body, resp)
        iam: tuple[IamRequest, ...] = ()
        unclassified = ""
        try:
            iam = iam_requests(
                service, action, req.method, req.path, req.headers, req.body, region, self.account,
                self.secure_transport,
            )  # fmt: skip
        except (LookupError, ValueError, ET.ParseError) as e:
            url = urllib.parse.urlsplit(req.path)
            unclassified = f"{req.method} {url.path} ({service} {action}): {e}"
        call = Call(
            service, action, status, len(req.body), len(resp), units, tag, iam, unclassified,
            worker_of(req.headers), req.received or ended, ended,
        )  # fmt: skip
        with self._lock:
            self.calls.append(call)
        return call

    def snapshot(self) -> int:
        """Number of calls so far (use with ``since``)."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int = 0) -> list[Call]:
        """Calls recorded after ``snapshot()`` returned ``mark``."""
        with self._lock:
            return list(self.calls[mark:])
