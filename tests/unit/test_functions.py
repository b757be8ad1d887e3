"""Functions under mocks (R-FN-1..7, R-MON-1): names, runtime, memory, tracing, logging, env, timeouts, code."""

from pathlib import Path
from typing import Any

import market_data_pipeline.functions as functions_module
import pulumi
import pytest
from market_data_pipeline.functions import MissingBundleError

from tests.harness import ACCOUNT, REGION
from tests.unit.conftest import Run, deploy

FUNCTION = "aws:lambda/function:Function"
NAMES = ["DataIngestion-prod", "DataProcessor-prod", "DataAggregator-prod", "DataQuery-prod"]


def _functions(run: Run) -> dict[str, dict[str, Any]]:
    return run.by_name(FUNCTION)


# proves R-FN-1
def test_r_fn_1_four_functions_named_with_the_suffix(default_run: Run) -> None:
    assert sorted(_functions(default_run)) == sorted(NAMES)
    out = default_run.outputs
    assert [
        out["IngestionFunctionName"],
        out["ProcessorFunctionName"],
        out["AggregatorFunctionName"],
        out["QueryFunctionName"],
    ] == NAMES


# proves R-FN-2
def test_r_fn_2_runtime_memory_tracing_and_json_logs(default_run: Run) -> None:
    for name, fn in _functions(default_run).items():
        assert fn["runtime"] == "nodejs22.x", name  # AWS accepts it for new functions (issue 11)
        assert fn["memorySize"] == 3008, name  # every account accepts it (issue 11)
        assert fn["tracingConfig"] == {"mode": "Active"}, name
        assert fn["handler"] == "index.handler", name
        logging = fn["loggingConfig"]
        assert logging["logFormat"] == "JSON", name
        assert logging["logGroup"] == f"/aws/lambda/{name}", name


# proves R-FN-2
def test_r_fn_2_runtime_and_memory_follow_the_args() -> None:
    run = deploy({"lambda_runtime": "nodejs24.x", "lambda_memory_mb": 1024})
    assert {(f["runtime"], f["memorySize"]) for f in _functions(run).values()} == {("nodejs24.x", 1024)}


# proves R-FN-2
def test_r_fn_2_deprecated_runtimes_warn_with_the_aws_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    deploy()  # the default (nodejs22.x, 3008 MB) deploys on any account: no warning
    assert warnings == []
    deploy({"lambda_runtime": "nodejs18.x"})  # still selectable (the original request), with the AWS dates
    (warning,) = warnings
    assert "nodejs18.x" in warning and "2025-09-01" in warning and "2025-10-01" in warning
    assert 'lambda_runtime="nodejs22.x"' in warning
    warnings.clear()
    deploy({"lambda_runtime": "nodejs20.x"})
    (warning,) = warnings
    assert "nodejs20.x" in warning and "2026-04-30" in warning


# proves R-FN-2
def test_r_fn_2_memory_above_3008_is_an_opt_in_with_a_quota_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    deploy({"lambda_memory_mb": 3008})
    assert warnings == []
    run = deploy({"lambda_memory_mb": 10240})
    assert {f["memorySize"] for f in _functions(run).values()} == {10240}
    (warning,) = warnings
    assert "10240" in warning and "3008" in warning and "quota" in warning


# proves R-MON-1
def test_r_mon_1_own_log_group_per_function_created_first(default_run: Run) -> None:
    groups = default_run.by_name("aws:cloudwatch/logGroup:LogGroup")
    for name in NAMES:
        assert groups[f"/aws/lambda/{name}"]["retentionInDays"] == 7
    # Created before the function: each function depends on its own log group (and its role's policy).
    for prefix in ("ingestion", "processor", "aggregator", "query"):
        deps = default_run.mocks.dependencies[f"md-{prefix}-function"]
        assert f"md-{prefix}-logs" in deps
        assert f"md-{prefix}-policy" in deps


# proves R-MON-1
def test_r_mon_1_log_retention_follows_the_arg() -> None:
    run = deploy({"log_retention_days": 30})
    assert {g["retentionInDays"] for g in run.all_inputs("aws:cloudwatch/logGroup:LogGroup")} == {30}


# proves R-FN-3, R-FN-4, R-FN-5
def test_r_fn_3_to_5_environment_matches_the_design_contract(default_run: Run) -> None:
    fns = _functions(default_run)
    env = {name: fn["environment"]["variables"] for name, fn in fns.items()}
    queue_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ProcessingQueue-prod"
    common = {"POWERTOOLS_METRICS_NAMESPACE": "MarketData", "POWERTOOLS_LOG_LEVEL": "INFO"}
    assert env["DataIngestion-prod"] == {
        **common,
        "POWERTOOLS_SERVICE_NAME": "ingestion",
        "RAW_BUCKET": f"market-data-prod-{ACCOUNT}-us-east-1",
        "PROCESSING_QUEUE_URL": queue_url,
        "MAX_BODY_BYTES": "4194304",
        "API_ARCHIVE": "false",  # issue 10: api_archive is off by default
    }
    assert env["DataProcessor-prod"] == {
        **common,
        "POWERTOOLS_SERVICE_NAME": "processor",
        "STATE_TABLE": "MarketDataState-prod",
        "EVENT_BUS_NAME": "MarketDataEvents-prod",
        "EVENT_SOURCE": "market-data.processor",
        "EVENT_DETAIL_TYPE": "TicksStored",
        "DATA_RETENTION_DAYS": "30",
    }
    assert env["DataAggregator-prod"] == {
        **common,
        "POWERTOOLS_SERVICE_NAME": "aggregator",
        "STATE_TABLE": "MarketDataState-prod",
        "EVENT_SOURCE": "market-data.processor",
        "EVENT_DETAIL_TYPE": "TicksStored",
        "DATA_RETENTION_DAYS": "30",
        "AGGREGATION_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/AggregationQueue-prod",
    }
    assert env["DataQuery-prod"] == {
        **common,
        "POWERTOOLS_SERVICE_NAME": "query",
        "STATE_TABLE": "MarketDataState-prod",
    }


# proves R-FN-6
@pytest.mark.parametrize("visibility", [30, 120, 300, 900])
def test_r_fn_6_visibility_timeout_is_at_least_six_processor_timeouts(visibility: int) -> None:
    run = deploy({"queue_visibility_timeout_seconds": visibility})
    processor = _functions(run)["DataProcessor-prod"]
    queue = run.by_name("aws:sqs/queue:Queue")["ProcessingQueue-prod"]
    assert queue["visibilityTimeoutSeconds"] == visibility
    assert 1 <= processor["timeout"] <= 50
    assert queue["visibilityTimeoutSeconds"] >= 6 * processor["timeout"]


# proves R-FN-6
def test_r_fn_6_other_timeouts_fit_their_callers(default_run: Run) -> None:
    fns = _functions(default_run)
    assert fns["DataQuery-prod"]["timeout"] < 29  # API Gateway's integration limit
    assert fns["DataIngestion-prod"]["timeout"] <= 900
    assert fns["DataAggregator-prod"]["timeout"] <= 900


# proves R-FN-7
def test_r_fn_7_code_is_the_packaged_bundle(default_run: Run, bundle_root: Path) -> None:
    dirs = {
        "DataIngestion": "ingestion",
        "DataProcessor": "processor",
        "DataAggregator": "aggregator",
        "DataQuery": "query",
    }
    for name, fn in _functions(default_run).items():
        code = fn["code"]
        assets = code.assets if isinstance(code, pulumi.AssetArchive) else None
        assert assets is not None, f"{name}: code is {code!r}"
        assert list(assets) == ["index.mjs"]
        asset = assets["index.mjs"]
        assert isinstance(asset, pulumi.FileAsset)
        assert Path(asset.path) == bundle_root / dirs[name.split("-")[0]] / "index.mjs"


# proves R-FN-7
def test_r_fn_7_missing_bundle_fails_with_make_build(
    bundle_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = tmp_path / "handlers"
    for d in ("ingestion", "processor", "aggregator"):  # no query bundle
        (partial / d).mkdir(parents=True)
        (partial / d / "index.mjs").write_text("export const handler = async () => ({});\n")
    monkeypatch.setattr(functions_module, "HANDLERS_DIR", partial)
    with pytest.raises(MissingBundleError, match=r"run `make build`") as err:
        deploy()
    assert str(partial / "query" / "index.mjs") in str(err.value)
    assert "ingestion" not in str(err.value).split("missing:")[1].split(".")[0]


REAL_BUNDLES = Path(functions_module.__file__).resolve().parent / "handlers"


# proves R-FN-7
@pytest.mark.skipif(
    not all(
        (REAL_BUNDLES / d / "index.mjs").is_file() for d in ("ingestion", "processor", "aggregator", "query")
    ),
    reason="the real bundles are committed (and rebuilt by `make build`): this checkout lacks them",
)
def test_r_fn_7_real_built_bundles_are_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions_module, "HANDLERS_DIR", REAL_BUNDLES)
    run = deploy({"lambda_runtime": "nodejs22.x"})
    for name, fn in _functions(run).items():
        asset = fn["code"].assets["index.mjs"]
        path = Path(asset.path)
        assert path.parent.parent == REAL_BUNDLES, name
        text = path.read_text()
        assert "handler" in text and len(text) > 1000, f"{name}: {path} does not look like a built bundle"
