"""The provider's Construct path (what TypeScript/Go consumers send) builds what the native call builds (R-PKG-3).

The engine hands the plugin camelCase inputs with every number as a float and enums as their string values;
`ComponentProvider.construct` maps them back to the snake_case args dict. Under the mocks harness, constructing
through that path must register exactly the same resources (type, logical name, inputs) as the native Python
call with the equivalent args, and return the same outputs.
"""

from typing import Any

import pulumi
import pytest
from market_data_pipeline import ApiAuth, MarketDataPipeline
from market_data_pipeline.constants import COMPONENT_TOKEN, PACKAGE_NAME, PACKAGE_VERSION
from pulumi.provider.experimental.component import ComponentProvider

from tests.harness import AwsMocks, run_pulumi

# What a TypeScript program `new MarketDataPipeline("md", {...})` sends (camelCase, numbers as floats).
TS_INPUTS: dict[str, Any] = {
    "environmentSuffix": "ts-1",
    "apiThrottleRateLimit": 2500.0,
    "apiThrottleBurstLimit": 1200.0,
    "dataRetentionDays": 14.0,
    "logRetentionDays": 14.0,
    "lambdaMemoryMb": 1024.0,
    "lambdaRuntime": "nodejs22.x",
    "aggregationSchedule": "rate(10 minutes)",
    "queueRetentionSeconds": 172800.0,
    "queueVisibilityTimeoutSeconds": 240.0,
    "maxReceiveCount": 3.0,
    "processorBatchSize": 20.0,
    "processorBatchingWindowSeconds": 2.0,
    "processorMaxConcurrency": 50.0,
    # Tag keys are data: snake_case / camelCase keys must survive the name mapping untouched.
    "tags": {"CostCenter": "md-42", "team_name": "quant", "dataOwner": "risk"},
    "alarmEmail": "oncall@example.com",
    "apiAuth": "IAM",
    "manageApiGatewayAccount": False,
}
NATIVE_ARGS: dict[str, Any] = {
    "environment_suffix": "ts-1",
    "api_throttle_rate_limit": 2500.0,
    "api_throttle_burst_limit": 1200,
    "data_retention_days": 14,
    "log_retention_days": 14,
    "lambda_memory_mb": 1024,
    "lambda_runtime": "nodejs22.x",
    "aggregation_schedule": "rate(10 minutes)",
    "queue_retention_seconds": 172800,
    "queue_visibility_timeout_seconds": 240,
    "max_receive_count": 3,
    "processor_batch_size": 20,
    "processor_batching_window_seconds": 2,
    "processor_max_concurrency": 50,
    "tags": {"CostCenter": "md-42", "team_name": "quant", "dataOwner": "risk"},
    "alarm_email": "oncall@example.com",
    "api_auth": ApiAuth.IAM,
    "manage_api_gateway_account": False,
}


def _provider() -> ComponentProvider:
    return ComponentProvider([MarketDataPipeline], PACKAGE_NAME, version=PACKAGE_VERSION)


def _norm(value: Any) -> Any:
    """Comparable form of recorded inputs: resources by type, assets by path, numbers as floats."""
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, pulumi.AssetArchive):
        return {"<archive>": {k: _norm(v) for k, v in value.assets.items()}}
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        return f"<file {value.path}>"
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return repr(value)


def _graph(mocks: AwsMocks) -> list[tuple[str, str, Any]]:
    return sorted(
        ((r.typ, r.name, _norm(mocks.inputs(r))) for r in mocks.created), key=lambda t: (t[0], t[1])
    )


def _native(args: dict[str, Any]) -> tuple[list[tuple[str, str, Any]], dict[str, Any]]:
    def program() -> Any:
        c = MarketDataPipeline("md", args)  # type: ignore[arg-type]
        return {
            "apiUrl": c.api_url,
            "bucketName": c.bucket_name,
            "tableName": c.table_name,
            "tableArn": c.table_arn,
            "queueUrl": c.queue_url,
            "dlqUrl": c.dlq_url,
            "eventBusName": c.event_bus_name,
            "ingestionFunctionName": c.ingestion_function_name,
            "processorFunctionName": c.processor_function_name,
            "aggregatorFunctionName": c.aggregator_function_name,
            "queryFunctionName": c.query_function_name,
            "apiKeyId": c.api_key_id,
            "region": c.region,
        }

    mocks, out = run_pulumi(program)
    return _graph(mocks), {k: v for k, v in (out or {}).items() if v is not None}


def _constructed(inputs: dict[str, Any]) -> tuple[list[tuple[str, str, Any]], dict[str, Any]]:
    def program() -> Any:
        result = _provider().construct("md", COMPONENT_TOKEN, inputs, None)
        return result.state

    mocks, out = run_pulumi(program)
    return _graph(mocks), {k: v for k, v in (out or {}).items() if v is not None}


@pytest.mark.parametrize(
    ("ts_inputs", "native_args"),
    [
        pytest.param(TS_INPUTS, NATIVE_ARGS, id="every-arg"),
        pytest.param({"environmentSuffix": "dflt"}, {"environment_suffix": "dflt"}, id="defaults"),
        pytest.param(
            {"environmentSuffix": "k", "apiAuth": "API_KEY", "lambdaMemoryMb": 3072.0},
            {"environment_suffix": "k", "api_auth": ApiAuth.API_KEY, "lambda_memory_mb": 3072},
            id="api-key",
        ),
    ],
)
def test_r_pkg_3_construct_with_camel_case_inputs_builds_the_native_graph(
    ts_inputs: dict[str, Any], native_args: dict[str, Any]
) -> None:
    """R-PKG-3: construct(camelCase, floats) == MarketDataPipeline(snake_case) resource by resource."""
    native_graph, native_out = _native(native_args)
    graph, state = _constructed(ts_inputs)
    assert len(graph) == len(native_graph)
    assert [(t, n) for t, n, _ in graph] == [(t, n) for t, n, _ in native_graph]
    for got, want in zip(graph, native_graph, strict=True):
        assert got == want, f"{got[0]} {got[1]} differs through construct"
    assert state == native_out
    assert len(graph) > 30, "the component registered too little to compare"


def test_r_pkg_3_construct_keeps_tag_keys_and_int_values() -> None:
    """Tag keys are not re-cased, integer args arrive as ints (a fraction would be refused)."""
    mocks, _ = run_pulumi(lambda: _provider().construct("md", COMPONENT_TOKEN, TS_INPUTS, None).state)
    fns = [mocks.inputs(r) for r in mocks.of_type("aws:lambda/function:Function")]
    assert len(fns) == 4
    for fn in fns:
        assert fn["tags"]["team_name"] == "quant" and fn["tags"]["dataOwner"] == "risk"
        assert fn["memorySize"] == 1024


def test_r_pkg_5_construct_errors_name_the_arg() -> None:
    """Bad or missing inputs through construct: the error names the arg (snake or camelCase)."""
    with pytest.raises(Exception, match=r"environment_?[sS]uffix"):
        run_pulumi(
            lambda: _provider().construct("md", COMPONENT_TOKEN, {"environmentSuffix": "Bad_Suffix"}, None)
        )
    with pytest.raises(Exception, match=r"environment_?[sS]uffix"):
        run_pulumi(lambda: _provider().construct("md", COMPONENT_TOKEN, {"lambdaMemoryMb": 1024.0}, None))
    with pytest.raises(Exception, match=r"lambda_?[mM]emory_?[mM]b"):
        run_pulumi(
            lambda: _provider().construct(
                "md", COMPONENT_TOKEN, {"environmentSuffix": "ok", "lambdaMemoryMb": 1024.5}, None
            )
        )
