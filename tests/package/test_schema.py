"""The committed schema.json is what the component's annotations produce, and says what it should (R-PKG-4..6).

`make schema` writes schema.json with `python -m market_data_pipeline.schema`; the plugin in provider/ serves
`ComponentProvider([MarketDataPipeline], ...).schema`. Both must equal the committed file, so a change of the
component's args or outputs that is not regenerated fails here.
"""

import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from market_data_pipeline import MarketDataPipeline, MarketDataPipelineArgs
from market_data_pipeline.constants import COMPONENT_TOKEN, PACKAGE_NAME, PACKAGE_VERSION
from pulumi.provider.experimental.component import ComponentProvider

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schema.json"

# R-PKG-6: the outputs the spec asks for, by schema (camelCase) name; apiKeyId only exists with API_KEY auth.
SPEC_OUTPUTS = {
    "apiUrl",
    "bucketName",
    "tableName",
    "tableArn",
    "queueUrl",
    "dlqUrl",
    "eventBusName",
    "ingestionFunctionName",
    "processorFunctionName",
    "aggregatorFunctionName",
    "queryFunctionName",
    "apiKeyId",
}
OPTIONAL_OUTPUTS = {"apiKeyId"}
# R-PKG-5: args the spec names (snake_case in Python).
SPEC_ARGS = {
    "environment_suffix",
    "api_throttle_rate_limit",
    "api_throttle_burst_limit",
    "data_retention_days",
    "log_retention_days",
    "lambda_memory_mb",
    "lambda_runtime",
    "aggregation_schedule",
    "queue_retention_seconds",
    "queue_visibility_timeout_seconds",
    "max_receive_count",
    "tags",
    "alarm_email",
}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    """The committed schema.json."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def resource(committed: dict[str, Any]) -> dict[str, Any]:
    """The component's resource entry in the committed schema."""
    return committed["resources"][COMPONENT_TOKEN]  # type: ignore[no-any-return]


def test_r_pkg_4_committed_schema_equals_annotations(committed: dict[str, Any]) -> None:
    """R-PKG-4: ComponentProvider over the component's annotations produces exactly schema.json."""
    text = ComponentProvider([MarketDataPipeline], PACKAGE_NAME, version=PACKAGE_VERSION).schema
    assert text is not None
    produced = json.loads(text)
    assert produced == committed, "schema.json is stale: run `make schema` and commit it"


def test_r_pkg_4_make_schema_command_reproduces_the_file_byte_for_byte() -> None:
    """R-PKG-4: the command `make schema` runs writes exactly the committed text."""
    out = subprocess.run(
        [sys.executable, "-m", "market_data_pipeline.schema"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(ROOT),
        check=True,
    ).stdout
    assert out == SCHEMA_FILE.read_text(encoding="utf-8")


def test_r_pkg_4_package_identity(committed: dict[str, Any]) -> None:
    """Package name, version (PACKAGE_VERSION, which the SDK's packaging reads too: test_version.py) and the single
    component token."""
    assert committed["name"] == "market-data-pipeline" == PACKAGE_NAME
    assert committed["version"] == PACKAGE_VERSION, "schema.json is stale: run `make schema`"
    assert list(committed["resources"]) == ["market-data-pipeline:index:MarketDataPipeline"]


def test_r_pkg_5_inputs_are_the_typed_args(resource: dict[str, Any]) -> None:
    """R-PKG-5: the inputs are exactly the fields of the MarketDataPipelineArgs TypedDict, described."""
    assert resource["isComponent"] is True
    assert resource["description"].strip()
    hints = typing.get_type_hints(MarketDataPipelineArgs)
    assert set(resource["inputProperties"]) == {_camel(k) for k in hints}
    assert set(hints) >= SPEC_ARGS, f"missing spec args: {SPEC_ARGS - set(hints)}"
    for name, prop in resource["inputProperties"].items():
        assert prop.get("description", "").strip(), f"input {name} has no description"


def test_r_pkg_5_only_environment_suffix_is_required(resource: dict[str, Any]) -> None:
    """R-PKG-5: every arg but environment_suffix has a default."""
    assert resource["requiredInputs"] == ["environmentSuffix"]
    assert MarketDataPipelineArgs.__required_keys__ == frozenset({"environment_suffix"})


def test_r_pkg_5_control_flow_inputs_are_plain(resource: dict[str, Any]) -> None:
    """R-PKG-5: inputs that decide which resources exist (and all validated ones) are plain values.

    Every arg is validated at construction (ranges, enum members), which only works on plain values, so every
    input must be plain; an `Input[...]` arg would reach validation as an Output.
    """
    not_plain = [n for n, p in resource["inputProperties"].items() if p.get("plain") is not True]
    assert not_plain == []


def test_r_pkg_5_types_of_numeric_and_enum_inputs(
    committed: dict[str, Any], resource: dict[str, Any]
) -> None:
    """Integers are integers, the rate a number, tags a string map, api_auth an enum API_KEY | IAM (R-API-4)."""
    props = resource["inputProperties"]
    for name in ("dataRetentionDays", "logRetentionDays", "lambdaMemoryMb", "queueRetentionSeconds"):
        assert props[name]["type"] == "integer", name
    assert props["apiThrottleRateLimit"]["type"] == "number"
    assert props["tags"]["type"] == "object"
    assert props["tags"]["additionalProperties"]["type"] == "string"
    ref = props["apiAuth"]["$ref"]
    m = re.fullmatch(r"#/types/(.+)", ref)
    assert m, ref
    enum = committed["types"][m.group(1)]
    assert sorted(e["value"] for e in enum["enum"]) == ["API_KEY", "IAM"]


def test_r_pkg_6_outputs_present_and_described(resource: dict[str, Any]) -> None:
    """R-PKG-6: every spec output is a described schema property; all but the API key id are required."""
    props = resource["properties"]
    assert set(props) >= SPEC_OUTPUTS, f"missing outputs: {SPEC_OUTPUTS - set(props)}"
    for name, prop in props.items():
        assert prop.get("description", "").strip(), f"output {name} has no description"
        assert prop.get("plain") is not True, name
    assert set(resource["required"]) >= SPEC_OUTPUTS - OPTIONAL_OUTPUTS
    assert not (set(resource["required"]) & OPTIONAL_OUTPUTS)
