"""The component's outputs and contract (R-PKG-6, R-PKG-5, R-PKG-2)."""

from importlib.metadata import packages_distributions
from pathlib import Path

import market_data_pipeline
import pytest
import tomllib
from market_data_pipeline import COMPONENT_TOKEN, STACK_OUTPUT_KEYS, ConfigError, MarketDataPipeline

from tests.harness import ACCOUNT, REGION, run_pulumi
from tests.unit.conftest import Run

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "python"


# proves R-PKG-6
def test_r_pkg_6_outputs_have_real_values(default_run: Run) -> None:
    out = default_run.outputs
    assert out == {
        "ApiUrl": f"https://abc123.execute-api.{REGION}.amazonaws.com/prod/",
        "BucketName": f"market-data-raw-prod-{ACCOUNT}",
        "TableName": "MarketDataState-prod",
        "TableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/MarketDataState-prod",
        "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ProcessingQueue-prod",
        "DlqUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ProcessingQueueDLQ-prod",
        "EventBusName": "MarketDataEvents-prod",
        "IngestionFunctionName": "DataIngestion-prod",
        "ProcessorFunctionName": "DataProcessor-prod",
        "AggregatorFunctionName": "DataAggregator-prod",
        "QueryFunctionName": "DataQuery-prod",
        "ApiKeyId": "key123",
        "Region": REGION,
    }


# proves R-PKG-6
def test_r_pkg_6_component_registers_its_outputs(default_run: Run) -> None:
    """The engine receives every output through `register_outputs` (what `pulumi stack` and other languages see)."""
    (comp,) = default_run.of_type(COMPONENT_TOKEN)
    registered = default_run.mocks.registered_outputs[comp.name]
    assert set(registered) == set(STACK_OUTPUT_KEYS.values())
    for key, attr in STACK_OUTPUT_KEYS.items():
        assert registered[attr] == default_run.outputs[key], attr


# proves R-PKG-5
def test_r_pkg_5_bad_args_fail_before_anything_is_created() -> None:
    created: list[str] = []

    def build() -> None:
        try:
            MarketDataPipeline("md", {"environment_suffix": "prod", "lambda_memory_mb": 64})
        except ConfigError as e:
            created.append(str(e))

    mocks, _ = run_pulumi(build)
    assert mocks.created == []
    assert created and "lambda_memory_mb" in created[0] and "128 to 10240" in created[0]


# proves R-PKG-2
def test_r_pkg_2_import_name_is_not_a_generated_sdk_name() -> None:
    """What the installed distribution puts on the import path, and what its pyproject declares, is not `pulumi_*`."""
    dist = "market-data-pipeline"
    top_level = {name for name, dists in packages_distributions().items() if dist in dists}
    assert top_level == {"market_data_pipeline"}, top_level
    declared = tomllib.loads((SDK_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert declared and not [p for p in declared if p.split(".")[0].startswith("pulumi_")], declared
    assert COMPONENT_TOKEN == "market-data-pipeline:index:MarketDataPipeline"


# proves R-PKG-5
@pytest.mark.parametrize("auth", ["API_KEY", "IAM"])
def test_r_pkg_5_api_auth_accepts_enum_names(auth: str) -> None:
    cfg = market_data_pipeline.validate(
        {"environment_suffix": "x", "api_auth": market_data_pipeline.ApiAuth(auth)}
    )
    assert cfg.api_auth.value == auth
