"""A fault-injecting HTTP proxy in front of the local AWS endpoint (moto), on 127.0.0.1 (issue 5).

Every request is forwarded to the upstream endpoint unchanged, except those a rule picks:

* ``throttle``: DynamoDB answers HTTP 400 ``ProvisionedThroughputExceededException`` (the ``__type`` JSON the SDKs
  parse); the request is NOT forwarded, so nothing was written.
* ``unprocessed``: a DynamoDB ``BatchWriteItem`` is forwarded WITHOUT some of its items, and the answer is a 200 whose
  ``UnprocessedItems`` holds exactly the items held back (merged with any moto returned), as DynamoDB does under load.
* ``error``: a 5xx (503 ``ServiceUnavailable`` for SQS, 500 ``InternalException`` for EventBridge, 500
  ``InternalServerError`` for DynamoDB); the request is NOT forwarded.
* ``error_after``: the request IS forwarded (its effect happens) and the caller still gets the 5xx, the ambiguous
  failure that makes clients retry something already done (duplicates downstream).
* ``partition_capacity``: DynamoDB's per-partition write ceiling (issue 10, hot symbols). Every DynamoDB partition
  takes at most 1,000 write units per second, however the table scales ("each individual partition is limited to
  1,000 write units per second and 3,000 read units per second",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html); adaptive
  capacity can isolate one busy item collection on its own partition, but not raise that cap
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html), and a partition
  key whose sort key only grows (a symbol's ticks) writes at the end of its key range, so a split does not help. The
  rule keeps a token bucket of ``capacity`` write units per second (at most one second's worth stored) per value of
  the ``partition_key`` attribute: a BatchWriteItem is forwarded with the items that fit and answers the rest in
  ``UnprocessedItems`` (when none fits: ``ProvisionedThroughputExceededException``, as the BatchWriteItem API
  reference says); a PutItem that does not fit gets the exception. The exception carries the throttling reason
  ``TableWriteKeyRangeThroughputExceeded`` ("When individual partitions exceed their throughput limits, DynamoDB
  returns a KeyRangeThroughputExceeded throttling reason type in the throttling exception",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html).
  Write units: 1 per started KiB of each item put (``tools.local.calls.ddb_item_size``), 1 per delete. Time-based, so not
  a pure function of the requests (unlike the other kinds); ``rate`` and ``max_per_body`` are not used.

Rules match the service and operation of a request as the one proxy of the local stack classifies it
(``tools.local.proxy.classify``); this module is that proxy's fault-injecting behaviour.
Decisions are deterministic: a pure function of (seed, rule, operation, request body, how many times that exact body
was seen before), so the same requests get the same faults in any arrival order, and a retried body gets a fresh
decision (it eventually passes). ``max_per_body`` caps the faults one body can get. Counts of what was injected and
forwarded per operation are kept.

In-process (unit tests, scenarios that read counters directly)::

    with FaultProxy(moto.endpoint_url, [FaultRule("dynamodb", "BatchWriteItem", "unprocessed", 0.3)], seed=1) as p:
        ...  # point clients at p.url
        p.stats()

As a child process stopped by its PID (own GIL, for load)::

    with FaultProxyProcess(moto.endpoint_url, rules, seed=1) as p: ...

Control endpoints on the proxy itself (never forwarded; S3 bucket names cannot start with ``_``):
``GET /_proxy/stats``, ``POST /_proxy/rules`` (body ``{"seed": n, "rules": [...]}``), ``POST /_proxy/reset``.

CLI: ``python -m tools.local.fault_proxy --upstream URL --rules JSON [--seed N] [--ready-file F]``.
"""

import argparse
import hashlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from tools.local.calls import ddb_item_size
from tools.local.child_server import ChildServer, announce_ready, stop_event, wait_for_stop
from tools.local.proxy import Forward, Proxy, ProxyError, ProxyRequest, Response

SERVICES = ("dynamodb", "sqs", "events")
"""Services a rule may name."""

KINDS = ("throttle", "unprocessed", "error", "error_after", "partition_capacity")
"""Fault kinds (module docstring)."""


class FaultProxyError(ProxyError):
    """The proxy could not be configured, started or reached."""


@dataclass(frozen=True)
class FaultRule:
    """Inject ``kind`` into a share ``rate`` of the calls of ``service``/``operation`` (``*`` = any operation)."""

    service: str
    operation: str
    kind: str
    rate: float
    max_per_body: int = 3
    """at most this many faults for one exact request body (its later deliveries pass)"""
    share: float = 0.5
    """``unprocessed``: share of the request's items held back (at least one)"""
    capacity: float = 0.0
    """``partition_capacity``: write units per second per partition key value (DynamoDB: 1,000)"""
    partition_key: str = "symbol"
    """``partition_capacity``: the table's partition key attribute"""

    def __post_init__(self) -> None:
        """Validate every field, naming what is wrong and what is allowed."""
        if self.service not in SERVICES:
            raise ValueError(f"FaultRule.service {self.service!r}: allowed {', '.join(SERVICES)}")
        if self.kind not in KINDS:
            raise ValueError(f"FaultRule.kind {self.kind!r}: allowed {', '.join(KINDS)}")
        if not self.operation or not (self.operation == "*" or self.operation.isalnum()):
            raise ValueError(
                f"FaultRule.operation {self.operation!r}: an API operation name such as BatchWriteItem, or *"
            )
        if self.kind in ("throttle", "unprocessed") and self.service != "dynamodb":
            raise ValueError(f"FaultRule.kind {self.kind!r} applies to dynamodb only, not {self.service!r}")
        if self.kind == "unprocessed" and self.operation != "BatchWriteItem":
            raise ValueError(
                f"FaultRule.kind 'unprocessed' applies to BatchWriteItem only, not {self.operation!r}"
            )
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultRule.rate {self.rate!r}: allowed 0.0 to 1.0")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"FaultRule.share {self.share!r}: allowed above 0.0 up to 1.0")
        if self.max_per_body < 1:
            raise ValueError(f"FaultRule.max_per_body {self.max_per_body!r}: allowed 1 or more")
        if self.kind == "partition_capacity":
            if self.service != "dynamodb" or self.operation not in ("*", "BatchWriteItem", "PutItem"):
                raise ValueError(
                    f"FaultRule.kind 'partition_capacity' applies to dynamodb BatchWriteItem, PutItem or *, "
                    f"not {self.service!r} {self.operation!r}"
                )
            if not 0.0 < self.capacity <= 100_000:
                raise ValueError(
                    f"FaultRule.capacity {self.capacity!r}: allowed above 0 up to 100,000 write units per second"
                )
            if not self.partition_key:
                raise ValueError("FaultRule.partition_key is empty: name the table's partition key attribute")

    def matches(self, service: str, operation: str) -> bool:
        """True when this rule applies to a call of ``service``/``operation``."""
        return self.service == service and self.operation in ("*", operation)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "FaultRule":
        """A rule from its JSON form (the dataclass fields)."""
        allowed = {
            "service",
            "operation",
            "kind",
            "rate",
            "max_per_body",
            "share",
            "capacity",
            "partition_key",
        }
        unknown = set(d) - allowed
        if unknown:
            raise ValueError(f"fault rule fields {sorted(unknown)} unknown; allowed {sorted(allowed)}")
        return FaultRule(
            service=str(d.get("service", "")),
            operation=str(d.get("operation", "")),
            kind=str(d.get("kind", "")),
            rate=float(d.get("rate", -1)),
            max_per_body=int(d.get("max_per_body", 3)),
            share=float(d.get("share", 0.5)),
            capacity=float(d.get("capacity", 0.0)),
            partition_key=str(d.get("partition_key", "symbol")),
        )


def unit_hash(*parts: bytes | str | int) -> float:
    """A deterministic number in [0, 1) from the parts (sha256)."""
    h = hashlib.sha256()
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return int.from_bytes(h.digest()[:8], "big") / 2**64


def _json_error(status: int, amz_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": amz_type, "message": message}).encode()
    return (
        status,
        {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-ErrorType": amz_type.rsplit("#", 1)[-1],
            "x-amz-crc32": str(zlib.crc32(body)),
        },
        body,
    )


def error_response(service: str, form: bool) -> tuple[int, dict[str, str], bytes]:
    """The 5xx a service answers when it is unavailable (JSON protocol, or XML for SQS's query protocol)."""
    if service == "sqs" and form:
        body = (
            b'<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>'
            b"<Message>injected by fault_proxy</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
        return 503, {"Content-Type": "text/xml"}, body
    if service == "sqs":
        return _json_error(503, "com.amazonaws.sqs#ServiceUnavailable", "injected by fault_proxy")
    if service == "events":
        return _json_error(500, "InternalException", "injected by fault_proxy")
    return _json_error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "injected by fault_proxy")


def throttle_response() -> tuple[int, dict[str, str], bytes]:
    """DynamoDB's ProvisionedThroughputExceededException (HTTP 400)."""
    return _json_error(
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded (injected by fault_proxy)",
    )


def key_range_throttle_response(table: str) -> tuple[int, dict[str, str], bytes]:
    """DynamoDB's answer to a write above a partition's ceiling: ProvisionedThroughputExceededException (HTTP 400)
    whose ``ThrottlingReasons`` name ``TableWriteKeyRangeThroughputExceeded`` and the table."""
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "Throughput exceeds the current capacity for one or more partitions of your table "
            "(injected by fault_proxy: partition_capacity)",
            "ThrottlingReasons": [
                {
                    "reason": "TableWriteKeyRangeThroughputExceeded",
                    "resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
                }
            ],
        }
    ).encode()
    return (
        400,
        {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-ErrorType": "ProvisionedThroughputExceededException",
            "x-amz-crc32": str(zlib.crc32(body)),
        },
        body,
    )


class Injector:
    """Rules, seed, counters and the per-body occurrence memory; thread-safe."""

    def __init__(self, rules: Sequence[FaultRule] = (), seed: int = 0) -> None:
        """Start with ``rules`` and ``seed``."""
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = list(rules)
        self.seed = seed
        self._seen: dict[bytes, int] = {}
        self._faulted: dict[bytes, int] = {}
        self.injected: dict[str, int] = {}
        """``"<service>.<Operation>.<kind>"`` -> faults injected"""
        self.held_items = 0
        """items held back by ``unprocessed`` faults"""
        self.forwarded: dict[str, int] = {}
        """``"<service>.<Operation>"`` -> requests forwarded upstream"""
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.throttled_keys: dict[str, int] = {}
        """``partition_capacity``: partition key value -> write requests refused"""
        self.clock: Any = time.monotonic

    def configure(self, rules: Sequence[FaultRule], seed: int) -> None:
        """Replace rules and seed; counters and memory are kept (``reset()`` clears them)."""
        with self._lock:
            self.rules, self.seed = list(rules), seed

    def reset(self) -> None:
        """Clear counters and the per-body memory."""
        with self._lock:
            self._seen.clear()
            self._faulted.clear()
            self.injected.clear()
            self.forwarded.clear()
            self.held_items = 0
            self._buckets.clear()
            self.throttled_keys.clear()

    def decide(self, service: str, operation: str, body: bytes) -> FaultRule | None:
        """The rule to apply to this request, or None (counts the occurrence of the body)."""
        with self._lock:
            digest = hashlib.sha256(f"{service}.{operation}\0".encode() + body).digest()
            n = self._seen.get(digest, 0)
            self._seen[digest] = n + 1
            for i, rule in enumerate(self.rules):
                # partition_capacity acts on writes only (`capacity_rule`); its `*` must not fault the reads
                if rule.kind == "partition_capacity" or not rule.matches(service, operation):
                    continue
                if self._faulted.get(digest, 0) >= rule.max_per_body:
                    continue
                if unit_hash(self.seed, i, digest, n) < rule.rate:
                    self._faulted[digest] = self._faulted.get(digest, 0) + 1
                    return rule
            return None

    def capacity_rule(self, service: str, operation: str) -> FaultRule | None:
        """The first ``partition_capacity`` rule for this call, if any."""
        with self._lock:
            for rule in self.rules:
                if rule.kind == "partition_capacity" and rule.matches(service, operation):
                    return rule
            return None

    def admit(self, table: str, key: str, units: float, capacity: float) -> bool:
        """Take ``units`` from the token bucket of partition ``key`` of ``table`` (refilled at ``capacity`` per second,
        holding at most one second's worth); False (and counted) when they are not there."""
        with self._lock:
            now = float(self.clock())
            tokens, last = self._buckets.get((table, key), (capacity, now))
            tokens = min(capacity, tokens + (now - last) * capacity)
            if (
                tokens >= units or tokens >= capacity
            ):  # an item above one second's worth passes on a full bucket
                self._buckets[(table, key)] = (tokens - units, now)
                return True
            self._buckets[(table, key)] = (tokens, now)
            self.throttled_keys[key] = self.throttled_keys.get(key, 0) + 1
            return False

    def count(self, table: str, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key`` of ``injected`` or ``forwarded``."""
        with self._lock:
            d = self.injected if table == "injected" else self.forwarded
            d[key] = d.get(key, 0) + n

    def add_held(self, n: int) -> None:
        """Count items held back."""
        with self._lock:
            self.held_items += n

    def stats(self) -> dict[str, Any]:
        """Counters as JSON-able data."""
        with self._lock:
            return {
                "seed": self.seed,
                "rules": [asdict(r) for r in self.rules],
                "injected": dict(self.injected),
                "injected_total": sum(self.injected.values()),
                "held_items": self.held_items,
                "forwarded": dict(self.forwarded),
                "throttled_keys": dict(self.throttled_keys),
            }


def split_batch_write(body: bytes, seed: int, share: float) -> tuple[bytes | None, dict[str, list[Any]], int]:
    """Split a BatchWriteItem request: (request to forward or None when all are held, held-back items, n held).

    The held items are chosen deterministically from the body and seed; at least one is held.
    """
    req = json.loads(body)
    items: dict[str, list[Any]] = req.get("RequestItems") or {}
    flat = [(table, i, w) for table, ws in items.items() for i, w in enumerate(ws)]
    if not flat:
        return body, {}, 0
    ranked = sorted(flat, key=lambda t: unit_hash(seed, "hold", json.dumps(t[2], sort_keys=True), t[1]))
    n_hold = max(1, min(len(flat), round(len(flat) * share)))
    hold = {(t, i) for t, i, _w in ranked[:n_hold]}
    held: dict[str, list[Any]] = {}
    keep: dict[str, list[Any]] = {}
    for table, i, w in flat:
        (held if (table, i) in hold else keep).setdefault(table, []).append(w)
    if not keep:
        return None, held, n_hold
    return json.dumps({**req, "RequestItems": keep}).encode(), held, n_hold


def _partition_value(av: Any) -> str:
    """The partition key value of an attribute value (``{"S": "AAPL"}`` -> ``AAPL``)."""
    if isinstance(av, dict) and len(av) == 1:
        return str(next(iter(av.values())))
    return json.dumps(av, sort_keys=True)


def write_units(write: Mapping[str, Any]) -> tuple[Mapping[str, Any], float]:
    """(item or key, write units) of one BatchWriteItem write request: 1 per started KiB put, 1 per delete."""
    if "PutRequest" in write:
        item = write["PutRequest"].get("Item") or {}
        return item, float(max(1, -(-ddb_item_size(item) // 1024)))
    return (write.get("DeleteRequest") or {}).get("Key") or {}, 1.0


def split_by_capacity(
    body: bytes, rule: FaultRule, injector: "Injector"
) -> tuple[bytes | None, dict[str, list[Any]], int]:
    """Split a BatchWriteItem by the partitions' token buckets: (request with the items that fit or None, the items
    that did not, how many)."""
    req = json.loads(body)
    keep: dict[str, list[Any]] = {}
    held: dict[str, list[Any]] = {}
    n_held = 0
    for table, writes in (req.get("RequestItems") or {}).items():
        for w in writes:
            item, units = write_units(w)
            key = _partition_value(item.get(rule.partition_key))
            if injector.admit(table, key, units, rule.capacity):
                keep.setdefault(table, []).append(w)
            else:
                held.setdefault(table, []).append(w)
                n_held += 1
    if not keep:
        return None, held, n_held
    return json.dumps({**req, "RequestItems": keep}).encode(), held, n_held


def merge_unprocessed(resp_body: bytes, held: Mapping[str, list[Any]]) -> bytes:
    """Add the held items to the ``UnprocessedItems`` of a BatchWriteItem answer."""
    resp = json.loads(resp_body) if resp_body.strip() else {}
    unprocessed: dict[str, list[Any]] = resp.get("UnprocessedItems") or {}
    for table, ws in held.items():
        unprocessed.setdefault(table, []).extend(ws)
    resp["UnprocessedItems"] = unprocessed
    return json.dumps(resp).encode()


def _with_crc(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """Headers with the ``x-amz-crc32`` of a rewritten DynamoDB answer (the SDKs check it)."""
    out = {k: v for k, v in headers.items() if k.lower() != "x-amz-crc32"}
    out["x-amz-crc32"] = str(zlib.crc32(body))
    return out


class FaultProxy(Proxy):
    """The fault-injecting proxy in a thread of this process; ``url`` is set by ``start()``; ``stop()`` shuts it
    down. Requests under ``/_proxy/`` are its control endpoints (module docstring), never forwarded."""

    error = FaultProxyError

    def __init__(self, upstream: str, rules: Sequence[FaultRule] = (), seed: int = 0) -> None:
        """Prepare a proxy for ``upstream`` (an ``http://127.0.0.1:PORT`` URL)."""
        super().__init__(upstream, "fault-proxy")
        self.injector = Injector(rules, seed)

    def start(self) -> "FaultProxy":
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        super().start()
        return self

    def configure(self, rules: Sequence[FaultRule], seed: int | None = None) -> None:
        """Replace the rules (and the seed when given)."""
        self.injector.configure(rules, self.injector.seed if seed is None else seed)

    def stats(self) -> dict[str, Any]:
        """Injected and forwarded counters."""
        return self.injector.stats()

    def reset(self) -> None:
        """Clear the counters and the per-body memory."""
        self.injector.reset()

    def __enter__(self) -> "FaultProxy":
        """Start on entering the context."""
        return self.start()

    def respond(self, req: ProxyRequest, forward: Forward) -> Response:
        """Forward the request, or inject the fault a rule picks for it."""
        if req.path.startswith("/_proxy/"):
            return self._control(req)
        inj = self.injector
        service, op, _region = req.kind
        key = f"{service}.{op}" if op else service
        if op in ("BatchWriteItem", "PutItem"):
            cap = inj.capacity_rule(service, op)
            if cap is not None:
                return self._capacity(cap, key, op, req.body, forward)
        rule = inj.decide(service, op, req.body) if service != "other" else None
        form = "x-www-form-urlencoded" in (req.headers.get("Content-Type") or "")
        if rule is None:
            inj.count("forwarded", key)
            return forward(req.body)
        if rule.kind == "throttle":
            inj.count("injected", f"{key}.throttle")
            return throttle_response()
        if rule.kind == "error":
            inj.count("injected", f"{key}.error")
            return error_response(service, form)
        if rule.kind == "error_after":
            inj.count("forwarded", key)
            answer = forward(req.body)
            if answer[0] >= 300:  # the call failed on its own: pass that through, no fault injected
                return answer
            inj.count("injected", f"{key}.error_after")
            return error_response(service, form)
        # unprocessed
        fwd, held, n_held = split_batch_write(req.body, inj.seed, rule.share)
        inj.count("injected", f"{key}.unprocessed")
        inj.add_held(n_held)
        if fwd is None:
            resp_body = merge_unprocessed(b"{}", held)
            return 200, _with_crc({"Content-Type": "application/x-amz-json-1.0"}, resp_body), resp_body
        return self._forward_holding(key, fwd, held, forward)

    def _control(self, req: ProxyRequest) -> Response:
        inj = self.injector
        ctype = {"Content-Type": "application/json"}
        if req.method == "GET" and req.path.startswith("/_proxy/stats"):
            return 200, ctype, json.dumps(inj.stats()).encode()
        if req.method == "POST" and req.path.startswith("/_proxy/rules"):
            try:
                cfg = json.loads(req.body or b"{}")
                rules = [FaultRule.from_json(r) for r in cfg.get("rules", [])]
                inj.configure(rules, int(cfg.get("seed", inj.seed)))
            except (ValueError, TypeError, AttributeError) as e:
                return 400, ctype, json.dumps({"message": str(e)}).encode()
            return 200, ctype, json.dumps(inj.stats()).encode()
        if req.method == "POST" and req.path.startswith("/_proxy/reset"):
            inj.reset()
            return 200, ctype, b"{}"
        return 404, ctype, b'{"message": "unknown /_proxy/ endpoint"}'

    def _forward_holding(
        self, key: str, fwd: bytes, held: Mapping[str, list[Any]], forward: Forward
    ) -> Response:
        """Forward a BatchWriteItem without the held items and answer them in its ``UnprocessedItems``."""
        self.injector.count("forwarded", key)
        status, headers, data = forward(fwd)
        if status != 200:
            return status, headers, data
        resp_body = merge_unprocessed(data, held)
        return 200, _with_crc(headers, resp_body), resp_body

    def _capacity(self, rule: FaultRule, key: str, op: str, body: bytes, forward: Forward) -> Response:
        """Apply a ``partition_capacity`` rule to a BatchWriteItem or PutItem."""
        inj = self.injector
        req = json.loads(body or b"{}")
        if op == "PutItem":
            table = str(req.get("TableName", ""))
            pk = _partition_value((req.get("Item") or {}).get(rule.partition_key))
            units = write_units({"PutRequest": {"Item": req.get("Item") or {}}})[1]
            if inj.admit(table, pk, units, rule.capacity):
                inj.count("forwarded", key)
                return forward(body)
            inj.count("injected", f"{key}.partition_capacity")
            return key_range_throttle_response(table)
        fwd, held, n_held = split_by_capacity(body, rule, inj)
        if n_held == 0:
            inj.count("forwarded", key)
            return forward(body)
        inj.count("injected", f"{key}.partition_capacity")
        inj.add_held(n_held)
        if fwd is None:  # nothing fits: the whole call is throttled (BatchWriteItem API reference)
            return key_range_throttle_response(next(iter(held), ""))
        return self._forward_holding(key, fwd, held, forward)


def _post_json(url: str, payload: Any, timeout: float = 10) -> Any:
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        data = json.dumps(payload).encode()
        conn.request("POST", u.path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise FaultProxyError(f"POST {u.path} -> {resp.status}: {body[:300]!r}")
        return json.loads(body)
    finally:
        conn.close()


class FaultProxyProcess:
    """The proxy as a child process (its own GIL), started and stopped by its PID, controlled over HTTP."""

    def __init__(self, upstream: str, rules: Sequence[FaultRule] = (), seed: int = 0) -> None:
        """Prepare (not start) the child process."""
        self.upstream = upstream
        self.rules = list(rules)
        self.seed = seed
        self.url = ""
        self.pid: int | None = None
        self._child: ChildServer | None = None

    def start(self, timeout: float = 20.0) -> "FaultProxyProcess":
        """Spawn the child and wait (bounded) for its ready file."""
        rules = json.dumps([asdict(r) for r in self.rules])
        args = ["--upstream", self.upstream, "--rules", rules, "--seed", str(self.seed)]
        self._child = ChildServer("tools.local.fault_proxy", args, "fault proxy", error=FaultProxyError)
        port = self._child.start(timeout)
        self.pid = self._child.pid
        self.url = f"http://127.0.0.1:{port}"
        return self

    def configure(self, rules: Sequence[FaultRule], seed: int | None = None) -> None:
        """Replace the rules (and the seed when given) in the running proxy."""
        self.rules = list(rules)
        self.seed = self.seed if seed is None else seed
        _post_json(self.url + "/_proxy/rules", {"seed": self.seed, "rules": [asdict(r) for r in self.rules]})

    def stats(self) -> dict[str, Any]:
        """Injected and forwarded counters of the running proxy."""
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlparse(self.url).port, timeout=10)
        try:
            conn.request("GET", "/_proxy/stats")
            result: dict[str, Any] = json.loads(conn.getresponse().read())
            return result
        finally:
            conn.close()

    def reset(self) -> None:
        """Clear the counters and the per-body memory."""
        _post_json(self.url + "/_proxy/reset", {})

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID (SIGKILL if it lingers); safe to call twice."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout)
        self.url = ""

    def __enter__(self) -> "FaultProxyProcess":
        """Start on entering the context."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop on leaving the context."""
        self.stop()


def parse_rules(text: str) -> list[FaultRule]:
    """Rules from a JSON list of objects (the ``FaultRule`` fields)."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("--rules must be a JSON list of rule objects")
    return [FaultRule.from_json(d) for d in data]


def _serve(upstream: str, rules: Iterable[FaultRule], seed: int, ready_file: str | None) -> int:
    proxy = FaultProxy(upstream, list(rules), seed).start()
    stop = stop_event()
    if ready_file:
        announce_ready(ready_file, proxy.port)
    else:
        print(f"fault proxy on {proxy.url} -> {upstream} (pid {os.getpid()})", flush=True)
    wait_for_stop(stop, watch_parent=bool(ready_file))
    proxy.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(description="Fault-injecting HTTP proxy in front of moto (127.0.0.1 only).")
    p.add_argument("--upstream", required=True, help="the moto endpoint, e.g. http://127.0.0.1:5055")
    p.add_argument(
        "--rules",
        default="[]",
        help="JSON list of rules, e.g. "
        '\'[{"service":"dynamodb","operation":"BatchWriteItem","kind":"unprocessed","rate":0.3}]\'',
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ready-file", help="write {port, pid} JSON here when listening")
    a = p.parse_args(argv)
    try:
        rules = parse_rules(a.rules)
    except ValueError as e:
        print(f"fault_proxy: {e}", file=sys.stderr)
        return 2
    return _serve(a.upstream, rules, a.seed, a.ready_file)


if __name__ == "__main__":
    raise SystemExit(main())
