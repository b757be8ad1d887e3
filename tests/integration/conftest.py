"""The flat-outputs integration suite's fixtures (R-RUN-3).

The suite reads `flat-outputs.json` (docs/design.md "Stack outputs") and talks to whatever it points at:
- `FLAT_OUTPUTS=path` set (`make integration`): that file, e.g. `cfn-outputs/flat-outputs.json` of a real
  deployment; with an `EndpointUrl` key it talks to that endpoint, else to AWS with the usual credentials;
- not set (`make test`): a LOCAL stack is started for this test package (moto server + the component's resources deployed
  by tools/local/deploy.py + the local Lambda host), its flat outputs written to a temp dir, and everything it started
  is stopped by PID at the end. `INTEGRATION_STACK_ARGS` (JSON) passes extra component args to that local stack
  (e.g. `{"log_retention_days": 5}` shows the suite failing on a changed setting, `{"api_auth": "IAM"}` runs it
  against an IAM-authenticated API).

The API's auth mode comes from the flat outputs alone (`ApiKeyId` is there exactly with API keys, R-API-4): `Env`
sends the API key, or signs each request with SigV4 for `execute-api` (botocore's signer, the session's credentials).
"""

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from market_data_pipeline import STACK_OUTPUT_KEYS
from market_data_pipeline.config import ApiAuth
from market_data_pipeline.constants import API_KEY_OUTPUT

from tests.stack_helpers import assert_stopped, wait_for
from tools.local.client import sigv4_headers

UNAUTHENTICATED_ANSWERS = {
    ApiAuth.API_KEY: (403, {"message": "Forbidden"}),
    ApiAuth.IAM: (403, {"message": "Missing Authentication Token"}),
}
"""What API Gateway answers a request with neither an API key nor a signature, per auth mode (the bodies differ):
API keys: the INVALID_API_KEY gateway response, 403 "Forbidden"; IAM: MISSING_AUTHENTICATION_TOKEN, 403 "Missing
Authentication Token" (https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden)."""


def expected_output_keys(auth: ApiAuth) -> set[str]:
    """The flat-output keys of a deployment with `auth`: the component's `STACK_OUTPUT_KEYS`, `ApiKeyId` only with
    API keys (docs/design.md "Stack outputs")."""
    keys = set(STACK_OUTPUT_KEYS)
    return keys if auth is ApiAuth.API_KEY else keys - {API_KEY_OUTPUT}


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
        self.auth = ApiAuth.API_KEY if outputs.get(API_KEY_OUTPUT) else ApiAuth.IAM
        """The API's auth mode as the flat outputs tell it: `ApiKeyId` is there exactly with API keys.
        `test_resources.py::test_flat_outputs_have_every_key` confirms it by asking the API itself."""

    def _session_kwargs(self) -> dict[str, Any]:
        if self.local:
            return {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        return {}

    def client(self, service: str) -> Any:
        """A boto3 client for the deployment (cached)."""
        if service not in self._clients:
            kw: dict[str, Any] = {
                "region_name": self.region,
                "config": Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=60),
                **self._session_kwargs(),
            }
            if self.local:
                kw["endpoint_url"] = self.outputs["EndpointUrl"]
            self._clients[service] = boto3.client(service, **kw)
        return self._clients[service]

    @property
    def api_key(self) -> str:
        """The API key value, read through `apigateway get-api-key --include-value` (R-API-4)."""
        if self.auth is not ApiAuth.API_KEY:
            raise AssertionError(
                f"the deployment uses {self.auth.value} auth: its flat outputs have no ApiKeyId"
            )
        if self._api_key is None:
            key = self.client("apigateway").get_api_key(
                apiKey=self.outputs[API_KEY_OUTPUT], includeValue=True
            )
            self._api_key = str(key["value"])
        return self._api_key

    def credentials(self) -> Credentials:
        """The credentials IAM requests are signed with: the session's (locally moto's `test` keys, which the local
        host does not verify)."""
        creds = boto3.Session(region_name=self.region, **self._session_kwargs()).get_credentials()
        if creds is None:
            raise AssertionError(
                "no AWS credentials to sign the IAM API requests with (environment, profile, SSO)"
            )
        frozen = creds.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def api(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        with_auth: bool = True,
        credentials: Credentials | None = None,
    ) -> tuple[int, bytes]:
        """One HTTP request to `ApiUrl` + `path`, authenticated as the API wants it unless `with_auth=False`: the
        x-api-key header (API keys) or a SigV4 signature for `execute-api` (IAM; with `credentials`, default the
        session's)."""
        url = self.outputs["ApiUrl"].rstrip("/") + path
        h = dict(headers or {})
        if with_auth and self.auth is ApiAuth.API_KEY:
            h.setdefault("x-api-key", self.api_key)
        elif with_auth:
            h = sigv4_headers(method, url, body, h, credentials or self.credentials(), self.region)
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

    def probed_auth(self) -> ApiAuth:
        """The auth mode the API itself shows: its answer to a request with neither key nor signature
        (`UNAUTHENTICATED_ANSWERS`); an answer that is neither fails, naming it."""
        status, raw = self.api("GET", "/symbols/PROBE/latest", with_auth=False)
        try:
            answer = (status, json.loads(raw))
        except json.JSONDecodeError:
            answer = (status, raw.decode(errors="replace"))
        for auth, expected in UNAUTHENTICATED_ANSWERS.items():
            if answer == expected:
                return auth
        raise AssertionError(
            f"GET /symbols/PROBE/latest without key or signature answered {answer}; "
            f"allowed: {list(UNAUTHENTICATED_ANSWERS.values())} (API keys, IAM)"
        )


def poll(what: str, fn: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call `fn` until it returns a truthy value; fail naming `what` after `timeout` seconds (bounded loop)."""
    return wait_for(what, fn, timeout, interval)


@contextmanager
def local_stack_outputs(out_dir: Path, suffix: str, extra_args: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The flat outputs of a local stack with the component's `extra_args`, started for the block and stopped (by
    PID, every process checked gone) after it."""
    from tools.local.stack import LocalStack

    stack = LocalStack(out_dir, suffix=suffix, extra_args=extra_args, schedule_every_ms=10_000)
    stack.start()
    try:
        yield json.loads(stack.flat_outputs_path.read_text())
    finally:
        stack.stop()
        assert_stopped(stack.started_pids, "the local stack")


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
    extra = json.loads(os.environ.get("INTEGRATION_STACK_ARGS") or "{}")
    with local_stack_outputs(tmp_path_factory.mktemp("local-stack"), "it", extra) as out:
        yield out


@pytest.fixture(scope="package")
def env(outputs: dict[str, str]) -> Env:
    """The deployment under test."""
    return Env(outputs)
