"""The local Lambda host itself (issue 4 item 3), with small fixture handlers (fixtures/probe.mjs).

Lambda-like environment and context, warm/cold environments, timeouts, errors, the Invoke API, the concurrency pool,
the emulated triggers against moto (SQS event source mapping with partial failures and redrive, S3 notification and
EventBridge rule shims with async retries and on-failure destination, schedule), the REST API and clean shutdown.
"""

import base64
import gzip
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from bench import cost
from tests.handlers_moto.conftest import FIXTURES, NODE_MAJOR, NODE_VERSIONS, node_binary, wait_until
from tools.local.calls import Call
from tools.local.client import StackClient, queue_depth, sigv4_headers
from tools.local.host import HOST_SCRIPT, LambdaHostProcess
from tools.local.moto_server import MotoServer
from tools.local.proxy import CountingProxy, ProxyRequest

PROBE = str(FIXTURES / "probe.mjs")
SDK_PROBE = str(FIXTURES / "sdk_probe.mjs")
ROOT = Path(__file__).resolve().parents[2]
StartHost = Callable[..., LambdaHostProcess]


def fn(export: str = "handler", **kw: Any) -> dict[str, Any]:
    """A function entry of the host config running an export of the probe fixture."""
    return {"file": PROBE, "export": export, **kw}


def invoke(host: LambdaHostProcess, name: str, payload: Any, **kw: Any) -> tuple[dict[str, Any], Any]:
    """Invoke through the Lambda Invoke API with boto3; returns (response, decoded payload)."""
    resp = host.lambda_client().invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    raw = resp["Payload"].read()
    return resp, (json.loads(raw) if raw else None)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("node", NODE_VERSIONS)
def test_lambda_env_and_context(start_host: StartHost, node: str) -> None:
    """Workers get Lambda's env (no AWS_EXECUTION_ENV, tracing off, TZ=UTC), their own env, and a Lambda context."""
    cfg = {
        "nodeBinary": node_binary(node),
        "endpointUrl": "http://127.0.0.1:9",
        "functions": {
            "A-dev": fn(memory=3072, timeout=7, env={"STATE_TABLE": "T1"}),
            "B-dev": fn(env={"RAW_BUCKET": "b"}),
        },
    }
    # the host's own environment must not leak X-Ray switches or foreign credentials into the functions
    host = start_host(cfg, env={"AWS_EXECUTION_ENV": "AWS_Lambda_nodejs18.x", "AWS_PROFILE": "prod-admin"})
    resp, out = invoke(host, "A-dev", {"x": 1})
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    env, ctx = out["env"], out["context"]
    assert out["node"].startswith(NODE_MAJOR[node])
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "A-dev"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "3072"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/A-dev"
    assert env["TZ"] == "UTC" and env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["POWERTOOLS_TRACE_ENABLED"] == "false"
    assert "AWS_EXECUTION_ENV" not in env and "AWS_PROFILE" not in env
    assert env["STATE_TABLE"] == "T1" and "RAW_BUCKET" not in env
    assert ctx["functionName"] == "A-dev" and ctx["memoryLimitInMB"] == "3072"
    assert ctx["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:A-dev"
    assert ctx["awsRequestId"] == resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert 0 < out["remaining"] <= 7000
    _, out_b = invoke(host, "B-dev", {})
    assert out_b["env"]["RAW_BUCKET"] == "b" and "STATE_TABLE" not in out_b["env"]
    assert host.stats()["A-dev"]["nodeVersions"][0].startswith(NODE_MAJOR[node])


def test_warm_reuse_timeout_and_errors(start_host: StartHost) -> None:
    """A warm environment keeps module state; a timeout kills it (Sandbox.Timedout); errors map like Lambda's."""
    cfg = {
        "nodeBinary": node_binary("node18"),
        "functions": {
            "P": fn(timeout=1),
            "Cb": fn("callbackHandler"),
            "NoExport": fn("doesNotExist"),
            "Broken": {"file": str(FIXTURES / "broken.mjs")},
            "Big": fn("bigintHandler"),
            "Hang": {"file": str(FIXTURES / "hang.mjs"), "initTimeout": 1},
        },
    }
    host = start_host(cfg)
    _, first = invoke(host, "P", {})
    _, second = invoke(host, "P", {})
    assert (first["invocations"], second["invocations"]) == (1, 2) and first["pid"] == second["pid"]
    resp, err = invoke(host, "P", {"action": "sleep", "ms": 3000})
    assert resp["FunctionError"] == "Unhandled" and err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    _, fresh = invoke(host, "P", {})
    assert fresh["invocations"] == 1 and fresh["pid"] != first["pid"] and not pid_alive(first["pid"])
    _, err = invoke(host, "P", {"action": "throw", "message": "bad input"})
    assert (err["errorType"], err["errorMessage"]) == ("TypeError", "bad input")
    _, err = invoke(host, "P", {"action": "exit"})
    assert err["errorType"] == "Runtime.ExitError" and "exit status 3" in err["errorMessage"]
    _, after_exit = invoke(host, "P", {})  # the dead environment is replaced
    assert after_exit["invocations"] == 1 and after_exit["pid"] != fresh["pid"]
    _, cb = invoke(host, "Cb", {"n": 21})
    assert cb == {"cb": 42}
    _, err = invoke(host, "NoExport", {})
    assert err["errorType"] == "Runtime.HandlerNotFound"
    _, err = invoke(host, "Broken", {})
    assert err["errorType"] == "Runtime.ImportModuleError" and "require is not defined" in err["errorMessage"]
    _, err = invoke(host, "Big", {})
    assert err["errorType"] == "Runtime.MarshalError"
    _, err = invoke(host, "Hang", {})  # an import that never finishes is bounded too
    assert err["errorType"] == "Sandbox.Timedout" and "Init phase" in err["errorMessage"]
    assert host.stats()["Hang"]["environments"] == 0
    stats = host.stats()["P"]
    assert (
        stats["timeouts"] == 1
        and stats["coldStarts"] == 3
        and stats["errors"] == 3
        and stats["invocations"] == 7
    )


def test_invoke_api_event_tail_dryrun_and_404(start_host: StartHost) -> None:
    """Invoke API: Event -> 202 and runs later, LogType Tail returns the logs, DryRun 204, unknown function 404."""
    host = start_host({"nodeBinary": node_binary("node18"), "functions": {"P": fn()}})
    client = host.lambda_client()
    resp = client.invoke(
        FunctionName="P", LogType="Tail", Payload=json.dumps({"action": "log", "message": "tail-me"})
    )
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "tail-me" in tail and "START RequestId:" in tail and "REPORT RequestId:" in tail
    resp = client.invoke(
        FunctionName="P", InvocationType="Event", Payload=json.dumps({"action": "log", "message": "async-1"})
    )
    assert resp["StatusCode"] == 202
    wait_until(
        lambda: any("async-1" in line for line in host.function_logs("P")), 60, "the Event invocation to run"
    )
    assert client.invoke(FunctionName="P", InvocationType="DryRun")["StatusCode"] == 204
    # a log line far larger than a pipe chunk is kept whole (tests and the demo parse worker lines as JSON)
    big = "y" * 300_000
    client.invoke(FunctionName="P", Payload=json.dumps({"action": "log", "message": big}))
    parsed = [json.loads(line) for line in host.function_logs("P") if line.startswith('{"level"')]
    assert [m["message"] for m in parsed if len(m["message"]) > 100] == [big]
    full_arn = "arn:aws:lambda:us-east-1:123456789012:function:P"
    assert (
        json.loads(client.invoke(FunctionName=full_arn, Payload=b"{}")["Payload"].read())["context"][
            "functionName"
        ]
        == "P"
    )
    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName="Missing", Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # Lambda's 6 MB synchronous payload limit
        client.invoke(FunctionName="P", Payload=json.dumps({"pad": "x" * (6 * 1024 * 1024)}).encode())
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_concurrency_pool_limits_environments(start_host: StartHost) -> None:
    """A function's pool never runs more environments than its concurrency; extra requests wait, none fail."""
    host = start_host(
        {"nodeBinary": node_binary("node18"), "functions": {"P": fn(concurrency=2, timeout=30)}}
    )
    results: list[Any] = []
    lock = threading.Lock()

    def call() -> None:
        _, out = invoke(host, "P", {"action": "sleep", "ms": 400})
        with lock:
            results.append(out)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 5 and all("pid" in r for r in results)
    assert len({r["pid"] for r in results}) == 2
    stats = host.stats()["P"]
    assert stats["environments"] == 2 and stats["throttledWaits"] >= 1 and stats["errors"] == 0


def _queue_with_dlq(sqs: Any, name: str, max_receive: int, visibility: int = 1) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
    q = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive}
    )["QueueUrl"]
    return q, dlq


def _drain_bodies(sqs: Any, url: str) -> list[str]:
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
    return [m["Body"] for m in msgs]


def test_sqs_event_source_partial_failures_and_redrive(moto: MotoServer, start_host: StartHost) -> None:
    """ESM: successes deleted, reported failures and whole-batch errors left to redrive into the DLQ (R-SQS-2)."""
    sqs = moto.client("sqs")
    q, dlq = _queue_with_dlq(sqs, "esm", max_receive=2)
    cfg = {
        "nodeBinary": node_binary("node18"),
        "endpointUrl": moto.endpoint_url,
        "functions": {"S": fn("sqsHandler")},
        "eventSources": [
            {"type": "sqs", "queueUrl": q, "function": "S", "batchSize": 10, "reportBatchItemFailures": True}
        ],
    }
    host = start_host(cfg)
    sqs.send_message_batch(
        QueueUrl=q, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(["ok1", "fail-1", "ok2"])]
    )
    dead: list[str] = []

    def dead_has(*bodies: str) -> bool:
        dead.extend(_drain_bodies(sqs, dlq))
        return set(bodies) <= set(dead)

    wait_until(lambda: dead_has("fail-1"), 60, "fail-1 in the DLQ")
    assert dead == ["fail-1"]
    # a whole-batch error deletes nothing: both messages of the batch end in the DLQ
    sqs.send_message_batch(
        QueueUrl=q, Entries=[{"Id": "0", "MessageBody": "crash"}, {"Id": "1", "MessageBody": "ok3"}]
    )
    wait_until(lambda: dead_has("crash", "ok3"), 60, "crash batch in the DLQ")
    wait_until(lambda: queue_depth(sqs, q) == 0 or None, 60, "the source queue to be empty")
    batches = [json.loads(line)["batch"] for line in host.function_logs("S") if '"batch"' in line]
    delivered = [b for batch in batches for b in batch]
    assert delivered.count("ok1") == 1 and delivered.count("ok2") == 1  # successes deleted, never redelivered
    assert delivered.count("fail-1") == 2  # maxReceiveCount receives, then redriven
    assert sorted(dead) == ["crash", "fail-1", "ok3"]


def test_sqs_batching_window_collects_a_batch(moto: MotoServer, start_host: StartHost) -> None:
    """maximumBatchingWindowSeconds: messages sent within the window arrive in one invocation."""
    sqs = moto.client("sqs")
    q = sqs.create_queue(QueueName="win", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    cfg = {
        "nodeBinary": node_binary("node18"),
        "endpointUrl": moto.endpoint_url,
        "functions": {"S": fn("sqsHandler")},
        "eventSources": [
            {
                "type": "sqs",
                "queueUrl": q,
                "function": "S",
                "batchSize": 4,
                "maximumBatchingWindowSeconds": 20,
            }
        ],
    }
    host = start_host(cfg)
    for i in range(4):
        sqs.send_message(QueueUrl=q, MessageBody=f"m{i}")
        time.sleep(0.3)  # spread the sends; the 20 s window still holds them together
    batches = wait_until(
        lambda: [json.loads(line)["batch"] for line in host.function_logs("S") if '"batch"' in line],
        60,
        "a batch",
    )
    assert sorted(batches[0]) == ["m0", "m1", "m2", "m3"]


def test_s3_notification_shim_with_async_retries_and_on_failure(
    moto: MotoServer, start_host: StartHost
) -> None:
    """S3 notification shim: TestEvent skipped, keys as delivered, failing events retried twice then sent on (R-SQS-3)."""
    s3, sqs = moto.client("s3"), moto.client("sqs")
    shim = sqs.create_queue(QueueName="s3-shim")["QueueUrl"]
    failures = sqs.create_queue(QueueName="ingestion-on-failure")["QueueUrl"]
    shim_arn = sqs.get_queue_attributes(QueueUrl=shim, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="raw")
    s3.put_bucket_notification_configuration(
        Bucket="raw",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": shim_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    cfg = {
        "nodeBinary": node_binary("node18"),
        "endpointUrl": moto.endpoint_url,
        "functions": {
            "I": fn("asyncHandler", **{"async": {"retryDelayMs": 50, "onFailureQueueUrl": failures}})
        },
        "eventSources": [{"type": "s3-notification", "queueUrl": shim, "function": "I"}],
    }
    host = start_host(cfg)
    s3.put_object(Bucket="raw", Key="incoming/a b.csv", Body=b"x")
    s3.put_object(Bucket="raw", Key="other/ignored.csv", Body=b"x")
    s3.put_object(Bucket="raw", Key="incoming/please-fail.csv", Body=b"x")
    records = wait_until(lambda: _drain_bodies(sqs, failures), 60, "the on-failure record")
    record = json.loads(records[0])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert (
        unquote_plus(record["requestPayload"]["Records"][0]["s3"]["object"]["key"])
        == "incoming/please-fail.csv"
    )
    assert record["responsePayload"]["errorMessage"] == "asked to fail"
    wait_until(lambda: queue_depth(sqs, shim) == 0 or None, 60, "the shim queue to drain")
    events = [json.loads(line)["received"] for line in host.function_logs("I") if '"received"' in line]
    # delivered once, the key URL-encoded (moto also encodes "/"; handlers decode with + as space)
    keys = [unquote_plus(e["Records"][0]["s3"]["object"]["key"]) for e in events if "Records" in e]
    assert keys.count("incoming/a b.csv") == 1
    assert keys.count("incoming/please-fail.csv") == 3 and not any("other/" in k for k in keys)
    assert not any(e.get("Event") == "s3:TestEvent" for e in events)
    stats = host.stats()["I"]
    assert stats["asyncRetries"] == 2 and stats["asyncFailures"] == 1


def test_eventbridge_rule_shim_adds_account_and_schedule_fires(
    moto: MotoServer, start_host: StartHost
) -> None:
    """Rule -> shim queue -> function with `account` added (moto omits it); the schedule sends Scheduled Events."""
    events, sqs = moto.client("events"), moto.client("sqs")
    shim = sqs.create_queue(QueueName="rule-shim")["QueueUrl"]
    shim_arn = sqs.get_queue_attributes(QueueUrl=shim, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="bus")
    events.put_rule(
        Name="r", EventBusName="bus", EventPattern=json.dumps({"source": ["market-data.processor"]})
    )
    events.put_targets(Rule="r", EventBusName="bus", Targets=[{"Id": "shim", "Arn": shim_arn}])
    cfg = {
        "nodeBinary": node_binary("node18"),
        "endpointUrl": moto.endpoint_url,
        "account": "111122223333",
        "functions": {"Agg": fn("asyncHandler")},
        "eventSources": [
            {"type": "eventbridge-rule", "queueUrl": shim, "function": "Agg"},
            {"type": "schedule", "everyMs": 300, "function": "Agg", "ruleName": "every-5"},
        ],
    }
    host = start_host(cfg)
    detail = {"windows": [{"symbol": "AAPL", "start": 1700000040000}], "ticks": 3}
    events.put_events(
        Entries=[
            {
                "Source": "market-data.processor",
                "DetailType": "TicksStored",
                "Detail": json.dumps(detail),
                "EventBusName": "bus",
            }
        ]
    )

    def received() -> list[dict[str, Any]]:
        return [json.loads(line)["received"] for line in host.function_logs("Agg") if '"received"' in line]

    custom = wait_until(
        lambda: [e for e in received() if e.get("source") == "market-data.processor"], 60, "the custom event"
    )
    assert custom[0]["account"] == "111122223333" and custom[0]["detail"] == detail
    assert custom[0]["detail-type"] == "TicksStored"
    scheduled = wait_until(
        lambda: [e for e in received() if e.get("source") == "aws.events"][1:], 60, "two schedule ticks"
    )
    assert scheduled[0]["detail-type"] == "Scheduled Event"
    assert scheduled[0]["resources"] == ["arn:aws:events:us-east-1:111122223333:rule/every-5"]


def test_rest_api_routes_key_stage_and_bodies(start_host: StartHost) -> None:
    """REST API emulation: API key (403 Forbidden), unknown route 403, stage prefix, v1 proxy event, base64 bodies."""
    routes = [
        {"method": "POST", "resource": "/ingest", "function": "Api"},
        {"method": "GET", "resource": "/symbols/{symbol}/latest", "function": "Api"},
        {"method": "GET", "resource": "/boom", "function": "Boom"},
        {"method": "GET", "resource": "/slow", "function": "Slow"},
    ]
    cfg = {
        "nodeBinary": node_binary("node18"),
        "functions": {
            "Api": fn("apiHandler"),
            "Boom": fn(timeout=5),
            "Slow": fn("slowApiHandler", timeout=30),
        },
        "api": {
            "apiKey": "k-123",
            "stage": "prod",
            "routes": routes,
            "integrationTimeoutMs": 1000,
            "binaryMediaTypes": ["application/gzip"],
        },
    }
    host = start_host(cfg)
    key = {"x-api-key": "k-123"}
    status, _, body = host.request("POST", "/prod/ingest", b"[]", {"content-type": "application/json"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = host.request("POST", "/prod/ingest", b"[]", {"x-api-key": "wrong"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    for method, path in [
        ("GET", "/prod/nope"),
        ("DELETE", "/prod/ingest"),
        ("GET", "/prod/symbols/A/latest/x"),
    ]:
        status, _, body = host.request(method, path, None, key)
        assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"}), (
            method,
            path,
        )
    status, headers, body = host.request("GET", "/prod/symbols/BRK.B%5E/latest?from=1&to=2&to=3", None, key)
    ev = json.loads(body)
    assert status == 200 and headers["x-probe"] == "1"
    assert ev["resource"] == "/symbols/{symbol}/latest" and ev["httpMethod"] == "GET"
    assert ev["pathParameters"] == {"symbol": "BRK.B^"}
    assert ev["queryStringParameters"] == {"from": "1", "to": "3"}
    assert ev["multiValueQueryStringParameters"]["to"] == ["2", "3"]
    assert (
        ev["requestContext"]["stage"] == "prod"
        and ev["requestContext"]["resourcePath"] == "/symbols/{symbol}/latest"
    )
    status, _, body = host.request(
        "POST", "/ingest", '{"ticks": []}', {**key, "content-type": "application/json"}
    )
    ev = json.loads(body)
    assert status == 202 and ev["body"] == '{"ticks": []}' and ev["isBase64Encoded"] is False
    raw = gzip.compress(b'{"symbol":"A"}\n')
    status, _, body = host.request("POST", "/prod/ingest", raw, {**key, "content-type": "application/gzip"})
    ev = json.loads(body)
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == raw
    # Like API Gateway, only the Content-Type decides (issue 11): a type outside binaryMediaTypes arrives as text
    # whatever its Content-Encoding (which is why gzip bodies must be sent as application/gzip).
    headers = {**key, "content-type": "application/json", "content-encoding": "gzip"}
    status, _, body = host.request("POST", "/prod/ingest", b'{"ticks": []}', headers)
    ev = json.loads(body)
    assert ev["isBase64Encoded"] is False and ev["body"] == '{"ticks": []}'

    status, _, body = host.request("GET", "/prod/boom", None, key)  # handler returns no proxy result -> 502
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    status, _, body = host.request("GET", "/prod/slow?ms=0", None, key)
    assert (status, body) == (200, b"slow")
    status, _, body = host.request(
        "GET", "/prod/slow?ms=5000", None, key
    )  # API Gateway's integration timeout
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    status, _, body = host.request("POST", "/prod/ingest", b"x" * (10 * 1024 * 1024 + 1), key)
    assert status == 413 and "10485760" in json.loads(body)["message"]


IAM_ROUTES = [
    {"method": "POST", "resource": "/ingest", "function": "Api", "authorization": "AWS_IAM"},
    {"method": "GET", "resource": "/symbols/{symbol}/latest", "function": "Api", "authorization": "AWS_IAM"},
]
"""Two AWS_IAM routes of a host API whose function ``Api`` echoes its event (the probe's ``apiHandler``)."""


# R-API-4
def test_rest_api_iam_routes_refuse_unsigned_requests(start_host: StartHost, tmp_path: Path) -> None:
    """AWS_IAM routes: without a SigV4 Authorization header for execute-api, API Gateway's 403 "Missing
    Authentication Token" (the API's MISSING_AUTHENTICATION_TOKEN gateway response) and the function is not invoked;
    a header that is not SigV4 for execute-api in the region: 403 naming what is wrong; a request signed by botocore
    passes, its key id in requestContext.identity.accessKey. Signatures are NOT verified (documented): one made with
    a wrong secret passes too. A NONE route of the same API takes unsigned requests."""
    routes = [
        *IAM_ROUTES,
        {"method": "GET", "resource": "/open", "function": "Open", "authorization": "NONE"},
    ]
    cfg = {
        "nodeBinary": node_binary("node18"),
        "functions": {"Api": fn("apiHandler"), "Open": fn("apiHandler")},
        "api": {"apiKey": None, "stage": "prod", "routes": routes},
    }
    host = start_host(cfg)
    missing = (403, "MissingAuthenticationTokenException", {"message": "Missing Authentication Token"})

    def call(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str, Any]:
        status, h, raw = host.request(method, path, body, headers)
        return status, h.get("x-amzn-errortype", ""), json.loads(raw)

    def signed(
        method: str, path: str, body: bytes | None, key: str = "AKIDLOCAL", secret: str = "test"
    ) -> Any:
        return sigv4_headers(method, f"{host.url}{path}", body, {}, Credentials(key, secret), "us-east-1")

    for method, path, body in [("POST", "/prod/ingest", b"[]"), ("GET", "/prod/symbols/A/latest?x=1", None)]:
        assert call(method, path, body, {}) == missing, (method, path)
        assert call(method, path, body, {"x-api-key": "k"}) == missing, "an API key is no signature"
        assert call(method, path, body, {"authorization": ""}) == missing
    status, kind, answer = call("GET", "/prod/symbols/A/latest", None, {"authorization": "Bearer abc"})
    assert (status, kind) == (403, "IncompleteSignatureException") and "AWS4-HMAC-SHA256" in answer["message"]
    for scope, problem in [("s3", "'execute-api', not 's3'"), ("eu-west-1", "'us-east-1', not 'eu-west-1'")]:
        creds = Credentials("AKIDLOCAL", "test")
        service, region = ("s3", "us-east-1") if scope == "s3" else ("execute-api", scope)
        url = f"{host.url}/prod/symbols/A/latest"
        req = AWSRequest(method="GET", url=url, data=b"")
        SigV4Auth(creds, service, region).add_auth(req)
        status, kind, answer = call("GET", "/prod/symbols/A/latest", None, dict(req.headers.items()))
        assert (status, kind) == (403, "IncompleteSignatureException") and problem in answer["message"], (
            answer
        )
    assert host.stats()["Api"]["invocations"] == 0, "a refused request reached the function"

    path = "/prod/symbols/BRK.B%5E/latest?from=1&to=2"
    status, _, ev = call("GET", path, None, signed("GET", path, None, key="AKIDSIGNED"))
    assert status == 200 and ev["pathParameters"] == {"symbol": "BRK.B^"}, ev
    assert ev["requestContext"]["identity"]["accessKey"] == "AKIDSIGNED"
    assert ev["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDSIGNED/")
    body = b'{"ticks": []}'
    headers = signed("POST", "/prod/ingest", body, secret="not-the-secret")  # not verified locally
    status, _, ev = call("POST", "/prod/ingest", body, headers)
    assert status == 202 and ev["body"] == body.decode(), ev
    status, _, ev = call("GET", "/prod/open", None, {})
    assert status == 200 and ev["requestContext"]["identity"]["accessKey"] is None

    bad = tmp_path / "bad.json"
    bad_routes = [{**routes[0], "authorization": "CUSTOM"}]
    bad.write_text(json.dumps({"functions": {"Api": fn("apiHandler")}, "api": {"routes": bad_routes}}))
    proc = subprocess.run(["node", str(HOST_SCRIPT), str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'authorization "CUSTOM" must be one of NONE, AWS_IAM' in proc.stderr


# R-API-4
def test_stack_client_signs_its_requests_when_the_api_uses_iam(start_host: StartHost) -> None:
    """`StackClient.api` (the demo's, the bench's and the fault tests' client) authenticates as the stack's API wants
    it: without `ApiKeyId` in the outputs (IAM auth) it signs each request with SigV4 for execute-api (moto's
    credentials), so an IAM stack can be driven through it; `key=None` sends no authentication, and an API key is no
    signature."""
    routes = IAM_ROUTES
    cfg = {
        "nodeBinary": node_binary("node18"),
        "functions": {"Api": fn("apiHandler")},
        "api": {"apiKey": None, "stage": "prod", "routes": routes},
    }
    host = start_host(cfg)
    outputs = {"BucketName": "b", "TableName": "t", "ApiUrl": f"{host.url}/prod"}
    client = StackClient(outputs, host)
    assert client.iam
    status, _h, raw = client.api("GET", "/symbols/BRK.B%5E/latest?from=1&to=2")
    ev = json.loads(raw)
    assert status == 200 and ev["pathParameters"] == {"symbol": "BRK.B^"}, ev
    assert ev["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert ev["requestContext"]["identity"]["accessKey"] == "test"
    body = b'{"ticks": []}'
    status, _h, raw = client.api("POST", "/ingest", body, {"content-type": "application/json"})
    assert status == 202 and json.loads(raw)["body"] == body.decode()
    missing = {"message": "Missing Authentication Token"}
    status, _h, raw = client.api("GET", "/symbols/A/latest", key=None)
    assert (status, json.loads(raw)) == (403, missing)
    keyed = StackClient({**outputs, "ApiKeyId": "id"}, host, api_key="k")
    assert not keyed.iam
    status, _h, raw = keyed.api("GET", "/symbols/A/latest")
    assert (status, json.loads(raw)) == (403, missing), "an API key is no signature"
    assert host.stats()["Api"]["invocations"] == 2


def test_sigterm_stops_everything_and_bad_config_is_named(start_host: StartHost, tmp_path: Path) -> None:
    """SIGTERM: exit 0 and no worker left behind; a bad config exits 2 naming the field and what is allowed."""
    host = start_host({"nodeBinary": node_binary("node18"), "functions": {"A": fn(), "B": fn()}})
    pids = [invoke(host, name, {})[1]["pid"] for name in ("A", "B")]
    assert all(pid_alive(p) for p in pids)
    assert host.stop() == 0
    wait_until(lambda: not any(pid_alive(p) for p in pids), 10, "the workers to exit")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"functions": {"A": fn(concurrency=0)}}))
    proc = subprocess.run(
        ["node", str(HOST_SCRIPT), str(bad)], capture_output=True, text=True, timeout=30, env={**os.environ}
    )
    assert proc.returncode == 2 and "functions.A.concurrency must be an integer 1..64" in proc.stderr
    bad.write_text(
        json.dumps({"functions": {"A": fn()}, "eventSources": [{"type": "kinesis", "function": "A"}]})
    )
    proc = subprocess.run(["node", str(HOST_SCRIPT), str(bad)], capture_output=True, text=True, timeout=30)
    assert (
        proc.returncode == 2
        and "must be one of sqs, s3-notification, eventbridge-rule, schedule" in proc.stderr
    )


class _UserAgentProxy(CountingProxy):
    """A counting proxy that also keeps each request's User-Agent (to check which SDK version sent it)."""

    def __init__(self, name: str, upstream: str) -> None:
        super().__init__(name, upstream)
        self.user_agents: list[str] = []

    def record(self, req: ProxyRequest, status: int, resp: bytes) -> Call:
        """Keep the call and its User-Agent."""
        with self._lock:
            self.user_agents.append(str(req.headers.get("User-Agent", "")))
        return super().record(req, status, resp)


def test_each_execution_environment_names_itself_in_its_aws_calls(
    moto: MotoServer, start_host: StartHost
) -> None:
    """Bench (R-PERF-1 cost figures): every AWS call a worker makes through the pinned AWS SDK for JavaScript v3 names
    that worker (``app/<id>`` in its User-Agent, from AWS_SDK_UA_APP_ID), one id per execution environment; the
    counting proxy keeps it and the call's interval, so a sequential handler measures an overlap of exactly 1 and a
    parallel one more; a caller without an id (boto3 here) keeps none."""
    pinned = json.loads((ROOT / "lib/lambda/package-lock.json").read_text())["packages"][
        "node_modules/@aws-sdk/client-sqs"
    ]["version"]
    proxy = _UserAgentProxy("P", moto.endpoint_url)
    with proxy:
        cfg = {
            "nodeBinary": node_binary("node18"),
            "functions": {"P": {"file": SDK_PROBE, "concurrency": 2, "env": {"AWS_ENDPOINT_URL": proxy.url}}},
        }
        host = start_host(cfg)
        pids: list[int] = []
        lock = threading.Lock()

        def call() -> None:  # both invocations wait 500 ms first: they run at once, in two environments
            _, out = invoke(host, "P", {"calls": 3, "parallel": True, "waitMs": 500})
            with lock:
                pids.append(out["pid"])

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(set(pids)) == 2
        parallel = proxy.since(0)
        mark = proxy.snapshot()
        invoke(host, "P", {"calls": 4, "parallel": False})
        sequential = proxy.since(mark)
        boto3.client(
            "sqs",
            endpoint_url=proxy.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).list_queues()  # the test's own client: no app id
        (own,) = proxy.since(proxy.snapshot() - 1)

    assert len(parallel) == 6 and len(sequential) == 4
    assert all(f"aws-sdk-js/{pinned}" in ua for ua in proxy.user_agents[:10])
    workers = {c.worker for c in parallel}
    assert len(workers) == 2 and all(re.fullmatch(r"lambda-host-worker-\d+", w) for w in workers)
    assert sorted(sum(c.worker == w for c in parallel) for w in workers) == [3, 3]
    assert len({c.worker for c in sequential}) == 1 and sequential[0].worker in workers
    assert all(0 < c.started <= c.ended for c in parallel + sequential)
    assert own.worker == "" and own.action == "ListQueues"
    iv = [(c.worker, c.started, c.ended) for c in parallel]
    assert cost.call_overlap(iv) > 1.0  # three calls sent at once by each worker overlap at the proxy
    assert cost.call_overlap([(c.worker, c.started, c.ended) for c in sequential]) == 1.0
