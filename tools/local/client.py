"""The one client that reads a running local stack back: its table, queues and bucket (boto3 against moto) and its
REST API (through the local Lambda host). Used by the demo, the bench and the fault tests.

Every read goes to moto directly (never through a proxy in front of it), so reading never counts or gets faulted.
"""

import json
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from market_data_pipeline.constants import API_KEY_OUTPUT, TABLE_HASH_KEY

from tools.local.host_config import API_URL_KEY, ENDPOINT_URL_KEY
from tools.local.mocks import REGION
from tools.local.moto_server import CREDENTIALS

AGGREGATE_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "trades")
"""Aggregate attributes compared with the reference computation."""

MINUTE_ROW_FIELDS = ("windowStart", "open", "high", "low", "close", "volume", "vwap", "trades")
"""Order of the Numbers of one 1m row in a group item's ``minutes`` list (docs/design.md "DynamoDB item layout"; the
handlers' ``MINUTE_ROW_FIELDS`` in lib/lambda/src/adapters/dynamodb-store.ts writes it). The demo, the bench, the
fault tests and the stream test compare what ``aggregate_rows`` reads with an independent computation, so an order
that differs from the writer's fails them."""

Rows = dict[int, dict[str, float | None]]
"""Aggregates of one symbol and interval: window start -> `AGGREGATE_FIELDS`."""

MAX_PAGES = 100_000
"""Bound of every paginated read."""


_QUEUE_COUNTS = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
"""`queue_counts`: its names -> the SQS queue attributes they read."""


def queue_counts(sqs: Any, url: str) -> dict[str, int]:
    """A queue's ``visible``, ``in_flight`` and ``delayed`` messages (SQS's approximate counts), read with the boto3
    SQS client ``sqs``."""
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_QUEUE_COUNTS.values()))["Attributes"]
    return {name: int(a[attr]) for name, attr in _QUEUE_COUNTS.items()}


def queue_depth(sqs: Any, url: str, include_delayed: bool = False) -> int:
    """Visible + in-flight messages of a queue; ``include_delayed``: delayed ones too."""
    c = queue_counts(sqs, url)
    return c["visible"] + c["in_flight"] + (c["delayed"] if include_delayed else 0)


class StackClient:
    """Reads the stack at `outputs` (flat outputs with `EndpointUrl`); `host` (a `LambdaHostProcess`) serves its API,
    with `api_key`, or, with neither a key nor `ApiKeyId` in the outputs (IAM auth, R-API-4), signing each request with
    SigV4. `config`: a botocore `Config` for the boto3 clients (default: moto_server's)."""

    def __init__(
        self, outputs: Mapping[str, str], host: Any = None, api_key: str | None = None, config: Any = None
    ):
        """Clients are made on first use."""
        self.outputs = dict(outputs)
        self.host = host
        self.api_key = api_key or ""
        self.iam = not self.api_key and API_KEY_OUTPUT not in self.outputs
        """the API uses IAM auth: no API key given, and no `ApiKeyId` in the outputs (the component exports it exactly
        with API keys, `stack_outputs`)"""
        self.config = config
        self._clients: dict[str, Any] = {}
        self.bucket = self.outputs["BucketName"]
        self.table = self.outputs["TableName"]
        api_url = self.outputs.get(API_URL_KEY, "")
        self.stage_path = urllib.parse.urlparse(api_url).path.rstrip("/")
        """the API's stage path (`/<stage>`): the host serves the routes under it"""

    @classmethod
    def of(cls, stack: Any, config: Any = None) -> "StackClient":
        """The client of a started `tools.local.stack.LocalStack`."""
        d = stack.deployment
        return cls(stack.outputs, stack.host, d.api_key_value if d else None, config)

    # -- AWS (moto) ---------------------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for the stack's endpoint (cached)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            config = self.config or Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=60)
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.outputs[ENDPOINT_URL_KEY],
                region_name=REGION,
                config=config,
                **CREDENTIALS,
            )
        return self._clients[service]

    @property
    def s3(self) -> Any:
        """The S3 client."""
        return self.client("s3")

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        return self.client("sqs")

    @property
    def ddb(self) -> Any:
        """The DynamoDB client."""
        return self.client("dynamodb")

    def partitions(self) -> dict[str, list[dict[str, Any]]]:
        """Every item of the table, by partition key (paginated, strongly consistent Scan): the whole of a small local
        table in a few requests, where a `query` per partition would take one or more per symbol (the bench reads
        thousands of partitions at once). A read for checking a local stack, not an access path of the functions."""
        out: dict[str, list[dict[str, Any]]] = {}
        kw: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        for _ in range(MAX_PAGES):
            page = self.ddb.scan(**kw)
            for item in page["Items"]:
                out.setdefault(item[TABLE_HASH_KEY]["S"], []).append(item)
            if "LastEvaluatedKey" not in page:
                return out
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise RuntimeError(f"scan of {self.table} had more than {MAX_PAGES} pages")

    def query(self, pk: str, select_count: bool = False) -> Iterator[dict[str, Any]]:
        """Every item of one partition of the table (paginated Query, never Scan); `select_count`: one
        ``{"count": n}`` per page instead."""
        kw: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": TABLE_HASH_KEY},
            "ExpressionAttributeValues": {":s": {"S": pk}},
        }
        if select_count:
            kw["Select"] = "COUNT"
        for _ in range(MAX_PAGES):
            page = self.ddb.query(**kw)
            if select_count:
                yield {"count": page["Count"]}
            else:
                yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise RuntimeError(f"partition {pk} has more than {MAX_PAGES} pages")

    def count(self, pk: str) -> int:
        """Number of items of one partition (Select=COUNT): a symbol's stored ticks."""
        return sum(int(p["count"]) for p in self.query(pk, select_count=True))

    def aggregates(self, symbol: str, interval: str) -> Rows:
        """Stored aggregates of a symbol (the table: groups closed and aggregated)."""
        return aggregate_rows(self.query(group_partition(symbol)), interval)

    def queue_counts(self, url: str) -> dict[str, int]:
        """A queue's ``visible``, ``in_flight`` and ``delayed`` messages (`queue_counts`)."""
        return queue_counts(self.sqs, url)

    def depth(self, url: str, include_delayed: bool = False) -> int:
        """Visible + in-flight messages of a queue; ``include_delayed``: delayed ones too (`queue_depth`)."""
        return queue_depth(self.sqs, url, include_delayed)

    def polled_queues(self) -> list[str]:
        """URLs of every queue the host polls (event-source queues and the local trigger shims)."""
        return [str(s["queueUrl"]) for s in self.host.config["eventSources"] if s.get("queueUrl")]

    def quiet(self, include_delayed: bool = False) -> bool:
        """No message in any queue the host polls and no function busy. ``include_delayed``: delayed messages count
        too (DataAggregator's deferrals wait in its buffer until the 5-minute group they name has closed)."""
        if any(self.depth(url, include_delayed) for url in self.polled_queues()):
            return False
        return all(int(s.get("busy", 0)) == 0 for s in self.host.stats().values())

    def rejected(self, key: str) -> list[dict[str, Any]]:
        """The records of `rejected/<key>.jsonl` (empty when there is none)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"rejected/{key}.jsonl")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return []
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def rejected_lines(self) -> int:
        """Lines of every `rejected/` object (one rejected record per line)."""
        n = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="rejected/"):
            for obj in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                n += sum(1 for line in body.decode().splitlines() if line.strip())
        return n

    # -- the REST API (local host) ------------------------------------------------------------------------------
    def api(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = "valid",
        timeout: float = 120,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the REST API under the stage path, authenticated as the API wants it when `key` is "valid":
        the stack's API key, or, with IAM auth, a SigV4 signature for `execute-api` with moto's credentials (the
        local host checks the signature's form, not its secret); `key` None = neither, another string = that
        x-api-key."""
        h = dict(headers or {})
        target = f"{self.stage_path}{path}"
        if key == "valid" and self.iam:
            from botocore.credentials import Credentials

            creds = Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])
            h = sigv4_headers(method, f"{self.host.url}{target}", body, h, creds, REGION)
        elif key is not None:
            h["x-api-key"] = self.api_key if key == "valid" else key
        status, resp_headers, data = self.host.request(method, target, body, h, timeout)
        return int(status), dict(resp_headers), bytes(data)

    def api_aggregates(self, symbol: str, interval: str, from_ms: int, to_ms: int) -> Rows:
        """A symbol's aggregates read through the REST API (GET /symbols/{s}/aggregates, DataQuery, R-API-3), every
        page. This is what users see, the windows the API computes at read time included."""
        out: Rows = {}
        nxt = ""
        for _ in range(1000):
            q = urllib.parse.urlencode(
                {"interval": interval, "from": from_ms, "to": to_ms, **({"next": nxt} if nxt else {})}
            )
            path = f"/symbols/{urllib.parse.quote(symbol)}/aggregates?{q}"
            status, _h, body = self.api("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {self.stage_path}{path} answered {status}: {body[:300]!r}")
            page = json.loads(body)
            for r in page["items"]:
                out[int(r["windowStart"])] = {
                    f: None if r.get(f) is None else float(r[f]) for f in AGGREGATE_FIELDS
                }
            nxt = page.get("next") or ""
            if not nxt:
                break
        return out


EXECUTE_API = "execute-api"
"""The SigV4 service name of API Gateway's invoke endpoints (AWS_IAM methods: requests are signed for it,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html)."""


def sigv4_headers(
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    credentials: Any,
    region: str,
) -> dict[str, str]:
    """`headers` plus the SigV4 signature of the request for `execute-api` (Authorization, X-Amz-Date and, with
    temporary credentials, X-Amz-Security-Token), made by botocore's own signer with `credentials` (botocore
    `Credentials`). Send the request to `url` exactly as given, with these headers and `body`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(credentials, EXECUTE_API, region).add_auth(request)
    return {str(k): str(v) for k, v in request.headers.items()}


def group_partition(symbol: str) -> str:
    """The partition of a symbol's group items: one item per 5-minute window, holding it and its 1m windows."""
    return f"{symbol}#5m"


def aggregate_rows(items: Iterable[Mapping[str, Any]], interval: str) -> Rows:
    """Group items (DynamoDB form) -> window start -> compared fields of their ``interval`` windows: the 5m window
    (absent from an item when it could not be stored) or the 1m rows of ``minutes``."""
    out: Rows = {}
    for item in items:
        if interval == "5m":
            if "open" in item:
                out[int(Decimal(item["timestamp"]["N"]))] = {
                    f: _number(item.get(f)) for f in AGGREGATE_FIELDS
                }
            continue
        if interval != "1m":
            raise ValueError(f"interval {interval!r} is not 1m or 5m")
        for row in item.get("minutes", {}).get("L", []):
            values = dict(zip(MINUTE_ROW_FIELDS, row["L"], strict=True))
            out[int(Decimal(values["windowStart"]["N"]))] = {
                f: _number(values.get(f)) for f in AGGREGATE_FIELDS
            }
    return out


def _number(v: Mapping[str, Any] | None) -> float | None:
    if not v or "NULL" in v:
        return None
    if "N" in v:
        return float(Decimal(v["N"]))
    return None
