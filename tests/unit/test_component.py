"""The component's outputs and contract (R-PKG-6, R-PKG-5, R-PKG-2)."""

import market_data_pipeline
import pytest
from market_data_pipeline import COMPONENT_TOKEN, ConfigError, MarketDataPipeline

from tests.harness import ACCOUNT, REGION, run_pulumi
from tests.unit.conftest import Run


# proves R-PKG-6
def test_r_pkg_6_outputs_have_real_values(default_run: Run) -> None:
    out = default_run.outputs
    assert out == {
        "ApiUrl": f"https://abc123.execute-api.{REGION}.amazonaws.com/prod/",
        "BucketName": f"market-data-prod-{ACCOUNT}-us-east-1",
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
    (comp,) = default_run.of_type(COMPONENT_TOKEN)
    assert comp.name == "md"


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
    assert market_data_pipeline.__name__ == "market_data_pipeline"
    assert not market_data_pipeline.__name__.startswith("pulumi_")
    assert COMPONENT_TOKEN == "market-data-pipeline:index:MarketDataPipeline"


# proves R-PKG-5
@pytest.mark.parametrize("auth", ["API_KEY", "IAM"])
def test_r_pkg_5_api_auth_accepts_enum_names(auth: str) -> None:
    cfg = market_data_pipeline.validate(
        {"environment_suffix": "x", "api_auth": market_data_pipeline.ApiAuth(auth)}
    )
    assert cfg.api_auth.value == auth
