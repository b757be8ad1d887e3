"""The example stacks run under mocks and export the stable outputs (R-PKG-7, R-PKG-6)."""

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from market_data_pipeline import STACK_OUTPUT_KEYS

from tests.harness import ACCOUNT, run_pulumi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, Any]]:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))

    def build() -> Any:
        runpy.run_path(str(EXAMPLES / name / "__main__.py"), run_name="__main__")
        return dict(exported)

    mocks, outputs = run_pulumi(build)
    return mocks, outputs


# proves R-PKG-7
def test_r_pkg_7_prod_example_uses_the_spec_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    mocks, out = run_example("prod", monkeypatch)
    assert set(out) == set(STACK_OUTPUT_KEYS)  # every stable key of docs/design.md
    assert out["BucketName"] == f"market-data-raw-prod-{ACCOUNT}"
    assert out["ApiUrl"].startswith("https://") and out["ApiUrl"].endswith("/prod/")
    assert out["IngestionFunctionName"] == "DataIngestion-prod"
    assert out["Region"] == "us-east-1"
    assert out["ApiKeyId"] == "key123"
    fns = [mocks.inputs(a) for a in mocks.of_type("aws:lambda/function:Function")]
    assert {(f["runtime"], f["memorySize"]) for f in fns} == {("nodejs18.x", 3072)}
    (table,) = mocks.of_type("aws:dynamodb/table:Table")
    assert mocks.inputs(table)["tags"] == {"Environment": "Production", "Project": "MarketAnalytics"}


# proves R-PKG-7
def test_r_pkg_7_dev_example_shows_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    mocks, out = run_example("dev", monkeypatch)
    assert set(out) == set(STACK_OUTPUT_KEYS)
    assert out["TableName"] == "MarketDataState-dev"
    assert out["ApiUrl"].endswith("/dev/")
    fns = [mocks.inputs(a) for a in mocks.of_type("aws:lambda/function:Function")]
    assert {(f["runtime"], f["memorySize"]) for f in fns} == {("nodejs22.x", 1024)}
    groups = [mocks.inputs(a) for a in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert {g["retentionInDays"] for g in groups} == {3}
    (ms,) = mocks.of_type("aws:apigateway/methodSettings:MethodSettings")
    assert mocks.inputs(ms)["settings"]["throttlingRateLimit"] == 100
