"""The flat-outputs integration suite's fixtures (R-RUN-3).

The suite reads `flat-outputs.json` (docs/design.md "Stack outputs") and talks to whatever it points at:
- `FLAT_OUTPUTS=path` set (`make integration`): that file, e.g. `cfn-outputs/flat-outputs.json` of a real
  deployment; with an `EndpointUrl` key it talks to that endpoint, else to AWS with the usual credentials;
- not set (`make test`): a LOCAL stack is started for this test package (moto server + the component's resources deployed
  by tools/local/deploy.py + the local Lambda host), its flat outputs written to a temp dir, and everything it started
  is stopped by PID at the end. `INTEGRATION_STACK_ARGS` (JSON) passes extra component args to that local stack
  (e.g. `{"log_retention_days": 5}` shows the suite failing on a changed setting).
"""

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.stack_helpers import assert_stopped, wait_for

OUTPUT_KEYS = (
    "ApiUrl",
    "BucketName",
    "TableName",
    "TableArn",
    "QueueUrl",
    "DlqUrl",
    "EventBusName",
    "IngestionFunctionName",
    "ProcessorFunctionName",
    "AggregatorFunctionName",
    "QueryFunctionName",
    "ApiKeyId",
    "Region",
)
"""The keys of docs/design.md "Stack outputs and cfn-outputs/flat-outputs.json"."""


class Env:
    """The deployment under test: its outputs, AWS clients for it, and its API."""

    def __init__(self, outputs: dict[str, str]) -> None:
        """Clients go to `EndpointUrl` when present (local stack), else to AWS."""
        self.outputs = outputs
        self.local = bool(outputs.get("EndpointUrl"))
        self.region = outputs.get("Region", "us-east-1")
        self._clients: dict[str, Any] = {}
        self._api_key: str | None = None
        table = outputs["TableName"]
        self.suffix = table.split("-", 1)[1] if "-" in table else ""

    def client(self, service: str) -> Any:
        """A boto3 client for the deployment (cached)."""
        if service not in self._clients:
            kw: dict[str, Any] = {
                "region_name": self.region,
                "config": Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=60),
            }
            if self.local:
                kw.update(
                    endpoint_url=self.outputs["EndpointUrl"],
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                )
            self._clients[service] = boto3.client(service, **kw)
        return self._clients[service]

    @property
    def api_key(self) -> str:
        """The API key value, read through `apigateway get-api-key --include-value` (R-API-4)."""
        if self._api_key is None:
            key = self.client("apigateway").get_api_key(apiKey=self.outputs["ApiKeyId"], includeValue=True)
            self._api_key = str(key["value"])
        return self._api_key

    def api(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        with_key: bool = True,
    ) -> tuple[int, bytes]:
        """One HTTP request to `ApiUrl` + `path` (the API key header added unless `with_key=False`)."""
        url = self.outputs["ApiUrl"].rstrip("/") + path
        h = dict(headers or {})
        if with_key:
            h.setdefault("x-api-key", self.api_key)
        req = urllib.request.Request(url, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as e:
            return int(e.code), bytes(e.read())

    def api_json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """`api()` with a JSON body and a JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.api(method, path, data, {"content-type": "application/json"})
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")


def poll(what: str, fn: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call `fn` until it returns a truthy value; fail naming `what` after `timeout` seconds (bounded loop)."""
    return wait_for(what, fn, timeout, interval)


@pytest.fixture(scope="package")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The flat outputs: from `FLAT_OUTPUTS`, or of a local stack started for this package and stopped after it."""
    path = os.environ.get("FLAT_OUTPUTS")
    if path:
        p = Path(path)
        if not p.is_file():
            pytest.fail(f"FLAT_OUTPUTS={path}: no such file (write the stack outputs there first)")
        data = json.loads(p.read_text())
        yield {str(k): str(v) for k, v in data.items()}
        return
    from tools.local.stack import LocalStack

    extra = json.loads(os.environ.get("INTEGRATION_STACK_ARGS") or "{}")
    stack = LocalStack(
        tmp_path_factory.mktemp("local-stack"), suffix="it", extra_args=extra, schedule_every_ms=10_000
    )
    stack.start()
    try:
        yield json.loads(stack.flat_outputs_path.read_text())
    finally:
        stack.stop()
        assert_stopped(stack.started_pids, "the local stack")


@pytest.fixture(scope="package")
def env(outputs: dict[str, str]) -> Env:
    """The deployment under test."""
    return Env(outputs)
