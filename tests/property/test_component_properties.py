"""Hypothesis properties of the whole MarketDataPipeline graph over generated args (issue 2, acceptance 2).

Each example builds the complete component under fresh mocks and a fresh event loop (`run_pulumi`) and checks
several properties at once (one build per example keeps 200 examples affordable):
- R-ORG-2: every physical name holds the suffix and fits AWS's length/character rule for its type;
- R-ORG-1: every taggable resource (tests/data/taggable_types.json) carries Environment, Project and the user tags;
- R-SEC-1/R-SEC-2: no Allow has a `*`/`service:*` action, no `*` resource except X-Ray, every role has a Deny, and
  every allowed resource lies inside what the spec lets the pipeline touch (resource_scope_problems);
- R-FN-6: ProcessingQueue visibility timeout >= 6 x DataProcessor timeout;
- R-API-2, R-S3-4, R-MON-1, R-SQS-1: throttle and retention values equal the args (and the other args land).
Invalid args: tests/property/test_invalid_args.py.
"""

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from market_data_pipeline import ApiAuth, MarketDataPipeline
from market_data_pipeline.constants import DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS

from tests.harness import ACCOUNT, AwsMocks, run_pulumi
from tests.property.graph import (
    iam_problems,
    physical_name_problems,
    resource_scope_problems,
    role_policies,
    tag_problems,
)
from tests.property.strategies import REQUIRED_TAGS, valid_args

EXAMPLES = 200
PROPS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUNCTIONS = ("DataIngestion", "DataProcessor", "DataAggregator", "DataQuery")  # R-FN-1
DLQ_RETENTION = 14 * 24 * 3600  # R-SQS-2


def _build(args: dict[str, Any]) -> tuple[AwsMocks, dict[str, Any]]:
    def program() -> Any:
        comp = MarketDataPipeline("md", args)  # type: ignore[arg-type]
        return {"api_url": comp.api_url, "api_key_id": comp.api_key_id}

    mocks, out = run_pulumi(program)
    return mocks, out or {}


def _named(mocks: AwsMocks, typ: str, name: str, key: str = "name") -> dict[str, Any]:
    found = [mocks.inputs(r) for r in mocks.of_type(typ) if mocks.inputs(r).get(key) == name]
    assert len(found) == 1, f"expected one {typ} named {name!r}, got {len(found)}"
    return found[0]


def _expected(args: dict[str, Any], key: str, default: Any) -> Any:
    return args.get(key, default)


@PROPS
@given(args=valid_args())
def test_r_org_2_r_org_1_r_sec_1_r_fn_6_r_api_2_graph_properties(args: dict[str, Any]) -> None:
    """Names, tags, IAM, timeouts and arg values over generated valid args (see module docstring)."""
    mocks, out = _build(args)
    s = args["environment_suffix"]

    # R-ORG-2: every physical name.
    problems, checked = physical_name_problems(mocks, s)
    assert problems == []
    assert checked >= 20, f"only {checked} physical names found"

    # R-ORG-1: tags on every taggable resource.
    expected_tags = {**(args.get("tags") or {}), **REQUIRED_TAGS}
    problems, tagged = tag_problems(mocks, expected_tags)
    assert problems == []
    assert tagged >= 15, f"only {tagged} taggable resources found"

    # R-SEC-1 / R-SEC-2: one role per function, exact actions, X-Ray-only '*', a Deny in every role.
    roles = role_policies(mocks)
    assert iam_problems(roles) == []
    assert resource_scope_problems(mocks, s) == []
    fn = {f: _named(mocks, "aws:lambda/function:Function", f"{f}-{s}") for f in FUNCTIONS}
    role_arns = [fn[f]["role"] for f in FUNCTIONS]
    assert len(set(role_arns)) == 4, f"functions share roles: {role_arns}"
    role_names = {r.name for r in roles.values()}
    for arn in role_arns:
        assert arn.startswith(f"arn:aws:iam::{ACCOUNT}:role/") and arn.rsplit("/", 1)[1] in role_names

    # R-FN-2: runtime and memory from the args on every function.
    for f in FUNCTIONS:
        assert fn[f]["runtime"] == args.get("lambda_runtime", "nodejs22.x"), f
        assert fn[f]["memorySize"] == args.get("lambda_memory_mb", 3008), f

    # R-FN-6 and R-SQS-1: the queue's visibility timeout is the arg and >= 6 x the processor's timeout.
    queue = _named(mocks, "aws:sqs/queue:Queue", f"ProcessingQueue-{s}")
    dlq = _named(mocks, "aws:sqs/queue:Queue", f"ProcessingQueueDLQ-{s}")
    visibility = queue["visibilityTimeoutSeconds"]
    assert visibility == args.get("queue_visibility_timeout_seconds", 300)
    assert fn["DataProcessor"]["timeout"] >= 1
    assert visibility >= 6 * fn["DataProcessor"]["timeout"]
    assert queue["messageRetentionSeconds"] == args.get("queue_retention_seconds", 4 * 24 * 3600)
    assert dlq["messageRetentionSeconds"] == DLQ_RETENTION
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive["maxReceiveCount"] == args.get("max_receive_count", 5)
    assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:ProcessingQueueDLQ-{s}"

    # R-FN-4: the SQS event source uses the batching args.
    esms = {
        mocks.inputs(r)["eventSourceArn"].rsplit(":", 1)[1]: mocks.inputs(r)
        for r in mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    }
    assert set(esms) == {f"ProcessingQueue-{s}", f"AggregationQueue-{s}"}
    esm = esms[f"ProcessingQueue-{s}"]
    # R-FN-5, R-PERF-1: the aggregation buffer's batching window follows its arg.
    assert esms[f"AggregationQueue-{s}"]["maximumBatchingWindowInSeconds"] == args.get(
        "aggregation_batching_window_seconds", DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS
    )
    assert esm["batchSize"] == args.get("processor_batch_size", 10)
    assert esm["maximumBatchingWindowInSeconds"] == args.get("processor_batching_window_seconds", 1)
    assert esm["scalingConfig"]["maximumConcurrency"] == args.get("processor_max_concurrency", 100)

    # R-API-2: stage-wide throttling at the args.
    stage_settings = [
        mocks.inputs(r)
        for r in mocks.of_type("aws:apigateway/methodSettings:MethodSettings")
        if mocks.inputs(r).get("methodPath") == "*/*"
    ]
    assert len(stage_settings) == 1
    throttle = stage_settings[0]["settings"]
    assert throttle["throttlingRateLimit"] == float(args.get("api_throttle_rate_limit", 10_000))
    assert throttle["throttlingBurstLimit"] == args.get("api_throttle_burst_limit", 5000)

    # R-S3-4: current versions expire after data_retention_days (the only expiration-in-days rule).
    (lifecycle,) = [
        mocks.inputs(r)
        for r in mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    ]
    expirations = {
        rule["expiration"]["days"]
        for rule in lifecycle["rules"]
        if rule.get("status") == "Enabled" and (rule.get("expiration") or {}).get("days") is not None
    }
    assert expirations == {args.get("data_retention_days", 30)}

    # R-MON-1: every log group keeps log_retention_days; each function has its own.
    groups = [mocks.inputs(r) for r in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert {g["retentionInDays"] for g in groups} == {args.get("log_retention_days", 7)}
    assert {f"/aws/lambda/{f}-{s}" for f in FUNCTIONS} <= {g["name"] for g in groups}

    # design.md: the TTL horizon the handlers read is the data retention.
    for f in ("DataProcessor", "DataAggregator"):
        env = fn[f]["environment"]["variables"]
        assert env["DATA_RETENTION_DAYS"] == str(args.get("data_retention_days", 30)), f

    # R-EVB-2: the schedule expression is the arg.
    rules = [mocks.inputs(r) for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")]
    schedules = [r["scheduleExpression"] for r in rules if r.get("scheduleExpression")]
    assert schedules == [args.get("aggregation_schedule", "rate(5 minutes)")]

    # R-API-4: API key by default, or IAM; R-PKG-6 api key id output only with a key.
    auth = ApiAuth(args.get("api_auth", ApiAuth.API_KEY))
    keys = mocks.of_type("aws:apigateway/apiKey:ApiKey")
    assert len(keys) == (1 if auth is ApiAuth.API_KEY else 0)
    assert (out.get("api_key_id") is not None) == (auth is ApiAuth.API_KEY)
    (restapi,) = [mocks.inputs(r) for r in mocks.of_type("aws-apigateway:index:RestAPI")]
    for route in restapi["routes"]:
        if auth is ApiAuth.API_KEY:
            assert route.get("apiKeyRequired") is True, route.get("path")
        else:
            assert route.get("iamAuthEnabled") is True, route.get("path")

    # R-PKG-6: the API URL is https and ends with the stage path.
    url = out.get("api_url")
    assert isinstance(url, str)
    assert re.fullmatch(rf"https://[^/]+/{re.escape(restapi['stageName'])}/?", url), url

    # R-MON-3: the optional e-mail subscription exists exactly when asked.
    subs = [mocks.inputs(r) for r in mocks.of_type("aws:sns/topicSubscription:TopicSubscription")]
    emails = [x["endpoint"] for x in subs if x.get("protocol") == "email"]
    assert emails == ([args["alarm_email"]] if "alarm_email" in args else [])
