"""The REST API (R-API): pulumi-aws-apigateway `RestAPI` with the ingest and query routes, authentication,
stage-wide throttling and execution logging, and stage X-Ray tracing and access logs.

`RestAPI` is a remote component that exposes no stage settings, so a `transforms` entry on it edits its child
`aws:apigateway/stage:Stage` (X-Ray, access logs, tags) and `aws:apigateway/restApi:RestApi` (physical name,
tags). The mock monitor does not run transforms: `api_transform` is a plain function, unit-tested directly.
"""

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_apigateway as apigw

from . import constants as c
from . import naming
from .config import ApiAuth, PipelineConfig
from .security import api_gateway_account

STAGE_TYPE = "aws:apigateway/stage:Stage"
REST_API_TYPE = "aws:apigateway/restApi:RestApi"

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "user": "$context.identity.user",
        "apiKeyId": "$context.identity.apiKeyId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integration.error",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)
"""Stage access log line (JSON, one per request)."""


BINARY_MEDIA_TYPES = ("application/gzip", "application/x-gzip", "application/octet-stream")
"""Request Content-Types API Gateway passes to Lambda base64-encoded (binaryMediaTypes; AWS decides by the request's
Content-Type, docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html). RestAPI
defaults to `*/*` (every body base64-encoded: +33%, so bodies under the 4 MiB limit hit Lambda's 6 MB invoke
payload limit, a 5xx, before DataIngestion could answer 413); with these, JSON, NDJSON and CSV bodies arrive as
text and gzip bodies (sent with one of these types) as bytes. DataIngestion accepts each (core/http.ts)."""


def gateway_responses(auth: ApiAuth) -> dict[str, apigw.SwaggerGatewayResponseArgs]:
    """Gateway responses that replace RestAPI's defaults, which answer MISSING_AUTHENTICATION_TOKEN and
    ACCESS_DENIED with 404 (pulumi-aws-apigateway api.ts, generateGatewayResponses, only when the key is absent).

    ACCESS_DENIED is always a 403. MISSING_AUTHENTICATION_TOKEN is a request without a SigV4 signature in IAM
    mode, so a 403 there too; with API keys it only answers paths and methods the API does not have, where the
    library's 404 stays."""
    forbidden = apigw.SwaggerGatewayResponseArgs(
        status_code=403,
        response_templates={"application/json": '{"message": $context.error.messageString}'},
    )
    responses = {"ACCESS_DENIED": forbidden}
    if auth is ApiAuth.IAM:
        responses["MISSING_AUTHENTICATION_TOKEN"] = forbidden
    return responses


def route_specs() -> list[tuple[str, str, str]]:
    """(method, path, function) of every route: POST /ingest -> DataIngestion (R-API-1), the three GETs ->
    DataQuery (R-API-3)."""
    return [
        ("POST", c.API_PATHS["ingest"], "DataIngestion"),
        ("GET", c.API_PATHS["latest"], "DataQuery"),
        ("GET", c.API_PATHS["ticks"], "DataQuery"),
        ("GET", c.API_PATHS["aggregates"], "DataQuery"),
    ]


def api_transform(
    api_name: str, access_log_group_arn: pulumi.Input[str], tags: Mapping[str, str]
) -> pulumi.ResourceTransform:
    """A transform for the RestAPI's children: the Stage gets X-Ray tracing, access logs into our log group and
    the tags (R-API-5, R-ORG-1); the RestApi gets its physical name (R-ORG-2) and the tags."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        props: dict[str, Any] = dict(args.props)
        if args.type_ == STAGE_TYPE:
            props["xrayTracingEnabled"] = True
            props["accessLogSettings"] = {"destinationArn": access_log_group_arn, "format": ACCESS_LOG_FORMAT}
            props["tags"] = {**(props.get("tags") or {}), **tags}
        elif args.type_ == REST_API_TYPE:
            props["name"] = api_name
            props["tags"] = {**(props.get("tags") or {}), **tags}
        else:
            return None
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


class Api(pulumi.ComponentResource):
    """The REST API, its access log group, stage throttling and (API_KEY auth) key and usage plan."""

    rest_api: apigw.RestAPI
    url: pulumi.Output[str]
    api_key: aws.apigateway.ApiKey | None
    access_log_group: aws.cloudwatch.LogGroup

    def __init__(
        self,
        name: str,
        cfg: PipelineConfig,
        *,
        functions: Mapping[str, aws.lambda_.Function],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Create the API; `functions` maps DataIngestion/DataQuery to their functions."""
        super().__init__("market-data-pipeline:internal:Api", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        s = cfg.suffix
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=naming.api_access_log_group_name(s),
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=child,
        )
        # R-API-5: access and execution logs need the account-level CloudWatch role (a documented, optional choice).
        depends_on: list[pulumi.Resource] = []
        if cfg.manage_api_gateway_account:
            depends_on.append(api_gateway_account(name, cfg, child))
        # R-API-4: every route needs an API key (default) or SigV4 (IAM).
        use_key = cfg.api_auth is ApiAuth.API_KEY
        routes = [
            apigw.RouteArgs(
                path=path,
                method=apigw.Method(method),
                event_handler=functions[fn],
                api_key_required=True if use_key else None,
                iam_auth_enabled=None if use_key else True,
            )
            for method, path, fn in route_specs()
        ]
        self.rest_api = apigw.RestAPI(
            f"{name}-rest",
            routes=routes,
            stage_name=naming.stage_name(s),
            description=f"Market data pipeline API ({s})",
            api_key_source=apigw.APIKeySource.HEADER if cfg.api_auth is ApiAuth.API_KEY else None,
            binary_media_types=list(BINARY_MEDIA_TYPES),
            gateway_responses=gateway_responses(cfg.api_auth),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.access_log_group, *depends_on],
                transforms=[api_transform(naming.api_name(s), self.access_log_group.arn, tags)],
            ),
        )
        self.url = self.rest_api.url
        rest_api_id = self.rest_api.api.id
        stage = self.rest_api.stage.stage_name

        # Execution logs: API Gateway writes them to `API-Gateway-Execution-Logs_<api id>/<stage>`, creating the
        # group itself (no retention, left behind by a destroy) unless it exists: create it first, with retention.
        execution_logs = aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=pulumi.Output.all(rest_api_id, stage).apply(
                lambda v: naming.api_execution_log_group_name(v[0], v[1])
            ),
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=child,
        )
        # R-API-2: stage-wide throttling for every method, on the stage itself; execution logging at ERROR
        # (Checkov CKV2_AWS_4: a logging level on the stage; ERROR logs only failed requests, INFO every request).
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=rest_api_id,
            stage_name=stage,
            method_path="*/*",
            settings={
                "throttling_rate_limit": cfg.api_throttle_rate_limit,
                "throttling_burst_limit": cfg.api_throttle_burst_limit,
                # Per-method detailed metrics are billed per metric; the API-level ones the dashboard uses are free.
                "metrics_enabled": False,
                "logging_level": "ERROR",
                "data_trace_enabled": False,  # full request/response bodies in logs: market data, never
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs]),
        )

        self.api_key = None
        if cfg.api_auth is ApiAuth.API_KEY:
            self.api_key = aws.apigateway.ApiKey(
                f"{name}-key",
                name=naming.api_key_name(s),
                description=f"Market data pipeline API key ({s})",
                enabled=True,
                tags=tags,
                opts=child,
            )
            plan = aws.apigateway.UsagePlan(
                f"{name}-usage-plan",
                name=naming.usage_plan_name(s),
                api_stages=[{"api_id": rest_api_id, "stage": stage}],
                throttle_settings={
                    "rate_limit": cfg.api_throttle_rate_limit,
                    "burst_limit": cfg.api_throttle_burst_limit,
                },
                tags=tags,
                opts=child,
            )
            aws.apigateway.UsagePlanKey(
                f"{name}-usage-plan-key",
                key_id=self.api_key.id,
                key_type="API_KEY",
                usage_plan_id=plan.id,
                opts=child,
            )
        self.register_outputs({"url": self.url})
