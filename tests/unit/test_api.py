"""API under mocks (R-API-1..5), and the RestAPI transform tested directly (the mock monitor runs no transforms)."""

import json
from typing import Any

import pulumi
from market_data_pipeline.api import ACCESS_LOG_FORMAT, api_transform

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


# proves R-API-5
def test_r_api_5_access_log_group_and_account_role(default_run: Run) -> None:
    group = default_run.by_name("aws:cloudwatch/logGroup:LogGroup")[
        "/aws/apigateway/MarketDataApi-prod/access"
    ]
    assert group["retentionInDays"] == 7
    (account,) = default_run.all_inputs("aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ApiGatewayLogsRole-prod"
    # The RestAPI (and so its stage) is created after the account setting and the log group exist.
    deps = default_run.mocks.dependencies["md-api-rest"]
    assert "md-api-apigw-account" in deps and "md-api-access-logs" in deps
    run = deploy({"manage_api_gateway_account": False})
    assert run.of_type("aws:apigateway/account:Account") == []


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
