"""API under mocks (R-API-1..5), and the RestAPI transform tested directly (the mock monitor runs no transforms)."""

import base64
import fnmatch
import json
from typing import Any

import pulumi
from market_data_pipeline.api import ACCESS_LOG_FORMAT, BINARY_MEDIA_TYPES, api_transform, gateway_responses
from market_data_pipeline.config import ApiAuth
from market_data_pipeline.constants import MAX_BODY_BYTES

from tests.harness import ACCOUNT, REGION
from tests.unit.conftest import Run, deploy

REST_API = "aws-apigateway:index:RestAPI"


def routes(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    api = run.one(REST_API)
    return {(r["method"], r["path"]): r for r in api["routes"]}


# proves R-API-1, R-API-3
def test_r_api_1_and_3_routes_proxy_to_ingestion_and_query(default_run: Run) -> None:
    got = routes(default_run)
    assert set(got) == {
        ("POST", "/ingest"),
        ("GET", "/symbols/{symbol}/latest"),
        ("GET", "/symbols/{symbol}/ticks"),
        ("GET", "/symbols/{symbol}/aggregates"),
    }
    # eventHandler arrives rehydrated as our Function resource: compare its logical name.
    for (_method, path), route in got.items():
        expected = "md-ingestion-function" if path == "/ingest" else "md-query-function"
        assert route["eventHandler"]._name == expected, path


# proves R-API-2
def test_r_api_2_stage_throttling_on_every_method_at_the_args(default_run: Run) -> None:
    (ms,) = default_run.all_inputs("aws:apigateway/methodSettings:MethodSettings")
    assert ms["methodPath"] == "*/*"
    assert ms["restApi"] == "abc123"  # the RestAPI's inner RestApi id
    assert ms["stageName"] == "prod"
    assert ms["settings"]["throttlingRateLimit"] == 10_000
    assert ms["settings"]["throttlingBurstLimit"] == 5_000
    run = deploy({"api_throttle_rate_limit": 123.5, "api_throttle_burst_limit": 77})
    (ms,) = run.all_inputs("aws:apigateway/methodSettings:MethodSettings")
    assert (ms["settings"]["throttlingRateLimit"], ms["settings"]["throttlingBurstLimit"]) == (123.5, 77)


# proves R-API-4
def test_r_api_4_api_key_by_default(default_run: Run) -> None:
    got = routes(default_run)
    assert all(r.get("apiKeyRequired") is True for r in got.values())
    assert not any(r.get("iamAuthEnabled") for r in got.values())
    assert default_run.one(REST_API)["apiKeySource"] == "HEADER"
    key = default_run.one("aws:apigateway/apiKey:ApiKey")
    assert key["name"] == "MarketDataApiKey-prod" and key["enabled"] is True
    plan = default_run.one("aws:apigateway/usagePlan:UsagePlan")
    assert plan["apiStages"] == [{"apiId": "abc123", "stage": "prod"}]
    assert plan["throttleSettings"] == {"rateLimit": 10_000, "burstLimit": 5_000}
    link = default_run.one("aws:apigateway/usagePlanKey:UsagePlanKey")
    assert (link["keyId"], link["keyType"], link["usagePlanId"]) == (
        "key123",
        "API_KEY",
        "md-api-usage-plan-id",
    )
    assert default_run.outputs["ApiKeyId"] == "key123"


# proves R-API-4
def test_r_api_4_iam_auth_makes_no_key() -> None:
    run = deploy({"api_auth": "IAM"})
    got = routes(run)
    assert all(r.get("iamAuthEnabled") is True for r in got.values())
    assert not any(r.get("apiKeyRequired") for r in got.values())
    assert run.of_type("aws:apigateway/apiKey:ApiKey") == []
    assert run.of_type("aws:apigateway/usagePlan:UsagePlan") == []
    assert run.outputs.get("ApiKeyId") is None


# proves R-API-5
def test_r_api_5_url_is_https_and_ends_with_the_stage(default_run: Run) -> None:
    url = default_run.outputs["ApiUrl"]
    assert url.startswith("https://") and url.endswith("/prod/")
    assert default_run.one(REST_API)["stageName"] == "prod"


# proves R-API-5 (issue 11, point 2: the account-wide API Gateway setting done safely)
def test_r_api_5_access_log_group_and_account_setting_kept_on_destroy(default_run: Run) -> None:
    group = default_run.by_name("aws:cloudwatch/logGroup:LogGroup")[
        "/aws/apigateway/MarketDataApi-prod/access"
    ]
    assert group["retentionInDays"] == 7
    (account,) = default_run.all_inputs("aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/md-api-apigw-logs-role"  # mock ARN
    # pulumi-aws v7 resets the setting on delete, breaking every other API's logs of the region: kept instead,
    # with the role it points at (a role with AWS's managed policy, test_security.py).
    options = default_run.mocks.options
    for kept in ("md-api-apigw-account", "md-api-apigw-logs-role", "md-api-apigw-logs-managed-policy"):
        assert options[kept]["retain_on_delete"] is True, kept
    # The RestAPI (and so its stage) is created after the account setting and the log group exist.
    deps = default_run.mocks.dependencies["md-api-rest"]
    assert "md-api-apigw-account" in deps and "md-api-access-logs" in deps
    run = deploy({"manage_api_gateway_account": False})
    assert run.of_type("aws:apigateway/account:Account") == []
    assert run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


# proves R-API-5 (issue 11: CKV2_AWS_4, a logging level on the stage)
def test_r_api_5_execution_logging_at_error_into_a_group_with_retention(default_run: Run) -> None:
    (ms,) = default_run.all_inputs("aws:apigateway/methodSettings:MethodSettings")
    assert ms["settings"]["loggingLevel"] == "ERROR"
    assert ms["settings"]["dataTraceEnabled"] is False  # request bodies (market data) never in logs
    # API Gateway writes to API-Gateway-Execution-Logs_<api id>/<stage>; made first, with the retention.
    group = default_run.by_name("aws:cloudwatch/logGroup:LogGroup")["API-Gateway-Execution-Logs_abc123/prod"]
    assert group["retentionInDays"] == 7
    assert "md-api-execution-logs" in default_run.mocks.dependencies["md-api-throttling"]


def _media_type_matches(pattern: str, content_type: str) -> bool:
    """API Gateway's match of a request Content-Type against one binaryMediaTypes entry (wildcards allowed)."""
    base = content_type.split(";")[0].strip().lower()
    return fnmatch.fnmatchcase(base, pattern.lower())


def _proxy_event_bytes(body: bytes, binary: bool) -> int:
    """Size of the Lambda proxy event API Gateway builds for a POST /ingest with this body (the body as a JSON
    string: base64 when binary, else the text), with typical headers and request context."""
    event = {
        "resource": "/ingest",
        "path": "/ingest",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "x-api-key": "k" * 40, "User-Agent": "curl/8.5.0"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "x-api-key": ["k" * 40]},
        "requestContext": {"requestId": "r" * 36, "stage": "prod", "identity": {"sourceIp": "203.0.113.9"}},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
    }
    return len(json.dumps(event).encode())


LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation payload limit, 6 MB (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
an event above it never reaches the function, and API Gateway answers 5xx."""


# proves R-DATA-3 (issue 11: JSON bodies arrive unencoded, so 413 is reachable past the documented limit)
def test_r_data_3_json_bodies_arrive_unencoded_so_the_413_is_reachable(default_run: Run) -> None:
    types = default_run.one(REST_API)["binaryMediaTypes"]
    assert types == list(BINARY_MEDIA_TYPES) and "*/*" not in types
    # The body types DataIngestion reads as text are not binary: API Gateway passes them unencoded ...
    for ctype in ("application/json", "application/json; charset=utf-8", "application/x-ndjson", "text/csv"):
        assert not any(_media_type_matches(t, ctype) for t in types), ctype
    # ... while gzip bodies, sent with a gzip or octet-stream type, still arrive as bytes (base64).
    for ctype in ("application/gzip", "application/x-gzip", "application/octet-stream"):
        assert any(_media_type_matches(t, ctype) for t in types), ctype
    # A realistic tick body just over MAX_BODY_BYTES, and one of 5 MB, reach DataIngestion (its 413) unencoded;
    # the same 5 MB body base64-encoded (the library default `*/*`) exceeds Lambda's limit: a 5xx instead.
    tick = b'{"symbol":"AAPL","timestamp":1700000000123,"price":189.52,"volume":100},'
    for size in (MAX_BODY_BYTES + 1, 5_000_000):
        body = b"[" + tick * (size // len(tick) + 1) + b"{}]"
        assert len(body) > MAX_BODY_BYTES
        assert _proxy_event_bytes(body, binary=False) < LAMBDA_SYNC_PAYLOAD_BYTES, size
    assert _proxy_event_bytes(body, binary=True) > LAMBDA_SYNC_PAYLOAD_BYTES


# proves R-API-4 (issue 11: 403 stays 403; the library maps these gateway responses to 404)
def test_r_api_4_auth_failures_answer_403_not_the_libraries_404(default_run: Run) -> None:
    responses = default_run.one(REST_API)["gatewayResponses"]
    assert responses["ACCESS_DENIED"]["statusCode"] == 403
    # API keys: MISSING_AUTHENTICATION_TOKEN only answers unknown paths/methods, the library's 404 stays.
    assert "MISSING_AUTHENTICATION_TOKEN" not in responses
    iam = deploy({"api_auth": "IAM"}).one(REST_API)["gatewayResponses"]
    # IAM: an unsigned request is MISSING_AUTHENTICATION_TOKEN, a signature without the right is ACCESS_DENIED.
    assert {k: v["statusCode"] for k, v in iam.items()} == {
        "MISSING_AUTHENTICATION_TOKEN": 403,
        "ACCESS_DENIED": 403,
    }
    assert json.loads(
        iam["ACCESS_DENIED"]["responseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"x"'
        )
    ) == {"message": "x"}
    assert gateway_responses(ApiAuth.IAM).keys() == iam.keys()


def _apply(transform: pulumi.ResourceTransform, typ: str, props: dict[str, Any]) -> dict[str, Any] | None:
    args = pulumi.ResourceTransformArgs(
        custom=True, type_=typ, name="x", props=props, opts=pulumi.ResourceOptions()
    )
    result = transform(args)
    assert not hasattr(result, "__await__")
    return None if result is None else dict(result.props)  # type: ignore[union-attr]


# proves R-API-5, R-ORG-1, R-ORG-2
def test_r_api_5_transform_turns_on_xray_and_access_logs_on_the_stage() -> None:
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/apigateway/MarketDataApi-prod/access"
    tags = {"Environment": "Production", "Project": "MarketAnalytics"}
    t = api_transform("MarketDataApi-prod", group_arn, tags)
    stage = _apply(
        t, "aws:apigateway/stage:Stage", {"stageName": "prod", "restApi": "abc", "tags": {"a": "b"}}
    )
    assert stage is not None
    assert stage["xrayTracingEnabled"] is True
    assert stage["accessLogSettings"]["destinationArn"] == group_arn
    fmt = json.loads(stage["accessLogSettings"]["format"])
    assert fmt["requestId"] == "$context.requestId" and fmt["status"] == "$context.status"
    assert stage["accessLogSettings"]["format"] == ACCESS_LOG_FORMAT
    assert stage["tags"] == {"a": "b", **tags}  # R-ORG-1 on the remote component's children
    assert (stage["stageName"], stage["restApi"]) == ("prod", "abc")  # the rest untouched
    rest = _apply(t, "aws:apigateway/restApi:RestApi", {"body": "{}"})
    assert rest == {"body": "{}", "name": "MarketDataApi-prod", "tags": tags}  # R-ORG-2
    assert _apply(t, "aws:apigateway/deployment:Deployment", {"restApi": "abc"}) is None


# proves R-API-5
def test_r_api_5_transform_is_attached_to_the_rest_api(default_run: Run) -> None:
    (api,) = default_run.of_type(REST_API)
    (transform,) = api.transforms or []
    stage = _apply(transform, "aws:apigateway/stage:Stage", {"stageName": "prod"})
    assert stage is not None and stage["xrayTracingEnabled"] is True
    assert stage["accessLogSettings"]["format"] == ACCESS_LOG_FORMAT
