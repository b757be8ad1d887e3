"""The example stacks run under mocks and export the stable outputs (R-PKG-7, R-PKG-6)."""

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from market_data_pipeline import STACK_OUTPUT_KEYS
from market_data_pipeline.constants import MAX_DEFAULT_QUOTA_MEMORY_MB, RUNTIME_DEPRECATIONS

from tests.harness import ACCOUNT, run_pulumi
from tests.unit.conftest import stack_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def stack_file_config(name: str) -> dict[str, str]:
    """The committed stack settings of an example (`examples/<name>/Pulumi.<name>.yaml`, what `make examples-up`
    deploys with), as the flat config Pulumi hands the program."""
    doc = yaml.safe_load((EXAMPLES / name / f"Pulumi.{name}.yaml").read_text())
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in (doc.get("config") or {}).items()}


def run_example(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, dict[str, Any]]:
    """Run an example with its committed stack settings and nothing else configured."""
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))

    def build() -> Any:
        runpy.run_path(str(EXAMPLES / name / "__main__.py"), run_name="__main__")
        return dict(exported)

    with stack_settings(stack_file_config(name)):
        mocks, outputs = run_pulumi(build)
    return mocks, outputs


# proves R-PKG-7
def test_r_pkg_7_prod_example_uses_the_spec_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    mocks, out = run_example("prod", monkeypatch)
    assert set(out) == set(STACK_OUTPUT_KEYS)  # every stable key of docs/design.md
    assert out["BucketName"] == f"market-data-prod-{ACCOUNT}-us-east-1"
    assert out["ApiUrl"].startswith("https://") and out["ApiUrl"].endswith("/prod/")
    assert out["IngestionFunctionName"] == "DataIngestion-prod"
    assert out["Region"] == "us-east-1"
    assert out["ApiKeyId"] == "key123"
    fns = [mocks.inputs(a) for a in mocks.of_type("aws:lambda/function:Function")]
    # issue 11, acceptance 1: with no config, a runtime AWS accepts for new functions and memory every account takes.
    assert {(f["runtime"], f["memorySize"]) for f in fns} == {("nodejs22.x", 3008)}
    assert "nodejs22.x" not in RUNTIME_DEPRECATIONS and MAX_DEFAULT_QUOTA_MEMORY_MB >= 3008
    # R-ORG-3: us-east-1 from the committed stack file, through the stack's own provider (no provider of ours).
    assert stack_file_config("prod")["aws:region"] == "us-east-1"
    assert mocks.of_type("pulumi:providers:aws") == []
    # prod is the one example stack that manages the region's API Gateway account setting.
    assert len(mocks.of_type("aws:apigateway/account:Account")) == 1
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
    # The account setting is one per account and region: prod manages it, dev leaves it alone (issue 11).
    assert mocks.of_type("aws:apigateway/account:Account") == []
    assert (
        stack_file_config("dev")["aws:region"] == "us-east-1" and mocks.of_type("pulumi:providers:aws") == []
    )
