"""Args validation (R-PKG-5), naming (R-ORG-2) and tags (R-ORG-1) as pure functions."""

import re
from typing import Any

import pytest
from market_data_pipeline import ApiAuth, ConfigError, naming, validate
from market_data_pipeline import constants as c
from market_data_pipeline.tags import merge_tags


# proves R-PKG-5
def test_r_pkg_5_defaults_are_the_spec_values() -> None:
    cfg = validate({"environment_suffix": "prod"})
    assert cfg.suffix == "prod"
    assert cfg.region is None  # R-ORG-3: the stack's region, us-east-1 when it sets none (aws_provider.py)
    assert cfg.api_throttle_rate_limit == 10_000.0
    assert cfg.api_throttle_burst_limit == 5_000
    assert cfg.data_retention_days == 30
    assert cfg.log_retention_days == 7
    assert cfg.lambda_memory_mb == 3008  # R-FN-2: what every account accepts
    assert cfg.lambda_runtime == "nodejs22.x"  # R-FN-2: AWS accepts it for new functions
    assert cfg.aggregation_schedule == "rate(5 minutes)"
    assert cfg.queue_retention_seconds == 4 * 24 * 3600
    assert cfg.queue_visibility_timeout_seconds == 300
    assert cfg.max_receive_count == 5
    assert cfg.api_auth is ApiAuth.API_KEY
    assert cfg.alarm_email is None
    assert dict(cfg.tags) == {"Environment": "Production", "Project": "MarketAnalytics"}


# proves R-PKG-5
def test_r_pkg_5_overrides_are_kept() -> None:
    cfg = validate(
        {
            "environment_suffix": "dev-2",
            "api_throttle_rate_limit": 250.5,
            "api_throttle_burst_limit": 40,
            "data_retention_days": 3,
            "log_retention_days": 14,
            "lambda_memory_mb": 512,
            "lambda_runtime": "nodejs22.x",
            "aggregation_schedule": "cron(0/5 * * * ? *)",
            "queue_retention_seconds": 3600,
            "queue_visibility_timeout_seconds": 120,
            "max_receive_count": 3,
            "processor_batch_size": 50,
            "processor_batching_window_seconds": 2,
            "processor_max_concurrency": 7,
            "tags": {"Team": "quant"},
            "alarm_email": "ops@example.com",
            "api_auth": "IAM",
        }
    )
    assert (cfg.api_throttle_rate_limit, cfg.api_throttle_burst_limit) == (250.5, 40)
    assert (cfg.data_retention_days, cfg.log_retention_days, cfg.lambda_memory_mb) == (3, 14, 512)
    assert cfg.lambda_runtime == "nodejs22.x"
    assert cfg.aggregation_schedule == "cron(0/5 * * * ? *)"
    assert (cfg.queue_retention_seconds, cfg.queue_visibility_timeout_seconds, cfg.max_receive_count) == (
        3600,
        120,
        3,
    )
    assert (
        cfg.processor_batch_size,
        cfg.processor_batching_window_seconds,
        cfg.processor_max_concurrency,
    ) == (50, 2, 7)
    assert cfg.tags["Team"] == "quant" and cfg.tags["Environment"] == "Production"
    assert cfg.alarm_email == "ops@example.com"
    assert cfg.api_auth is ApiAuth.IAM


# proves R-PKG-5
def test_r_pkg_5_integral_floats_from_other_languages_are_accepted() -> None:
    # The provider hands numbers over as floats (TypeScript has one number type).
    cfg = validate({"environment_suffix": "ts", "lambda_memory_mb": 1024.0, "log_retention_days": 30.0})
    assert cfg.lambda_memory_mb == 1024 and isinstance(cfg.lambda_memory_mb, int)
    assert cfg.log_retention_days == 30


# proves R-PKG-5
@pytest.mark.parametrize(
    ("arg", "value", "allowed"),
    [
        ("environment_suffix", "Prod", "lowercase"),
        ("environment_suffix", "", "1-20"),
        ("environment_suffix", "a" * 21, "1-20"),
        ("environment_suffix", "-x", "starting with a letter"),
        ("environment_suffix", "x-", "not ending with a hyphen"),
        ("environment_suffix", "a_b", "hyphens"),
        ("region", "mars-1", "region"),
        ("region", "ap-southeasternmost-1", "at most 16 characters"),
        ("api_throttle_rate_limit", 0, "1 to 1000000"),
        ("api_throttle_rate_limit", float("nan"), "1 to 1000000"),
        ("api_throttle_burst_limit", 2.5, "integer from 1 to 1000000"),
        ("data_retention_days", 0, "1 to 3650"),
        ("log_retention_days", 8, "one of [1, 3, 5, 7, 14"),
        ("lambda_memory_mb", 127, "128 to 10240"),
        ("lambda_memory_mb", 10241, "128 to 10240"),
        ("lambda_memory_mb", True, "integer"),
        ("lambda_runtime", "nodejs16.x", "nodejs22.x"),
        ("lambda_runtime", "python3.12", "nodejs18.x"),
        ("aggregation_schedule", "every 5 minutes", "rate("),
        ("aggregation_schedule", "rate(1 minutes)", "singular unit for 1"),
        ("aggregation_schedule", "rate(0 minutes)", "n >= 1"),
        ("aggregation_schedule", "cron(* * * *)", "cron(<6 fields>)"),
        ("queue_retention_seconds", 59, "60 to 1209600"),
        ("queue_retention_seconds", 1_209_601, "60 to 1209600"),
        ("queue_visibility_timeout_seconds", 29, "30 to 43200"),
        ("max_receive_count", 0, "1 to 1000"),
        ("max_receive_count", 1001, "1 to 1000"),
        ("processor_batch_size", 0, "1 to 10000"),
        ("processor_max_concurrency", 1, "2 to 1000"),
        ("processor_max_concurrency", 1001, "2 to 1000"),
        ("alarm_email", "not-an-email", "e-mail address"),
        ("api_auth", "BASIC", "API_KEY"),
        ("manage_api_gateway_account", "yes", "true or false"),
        ("api_archive", "true", "true or false"),
        ("api_archive", 1, "true or false"),
    ],
)
def test_r_pkg_5_invalid_values_name_the_arg_and_the_allowed_range(
    arg: str, value: Any, allowed: str
) -> None:
    args: dict[str, Any] = {"environment_suffix": "prod", arg: value}
    with pytest.raises(ConfigError) as err:
        validate(args)
    message = str(err.value)
    assert arg in message
    assert allowed in message


# proves R-PKG-5
def test_r_pkg_5_batch_size_above_ten_needs_a_batching_window() -> None:
    with pytest.raises(ConfigError, match="processor_batching_window_seconds"):
        validate(
            {"environment_suffix": "p", "processor_batch_size": 11, "processor_batching_window_seconds": 0}
        )
    assert validate({"environment_suffix": "p", "processor_batch_size": 11}).processor_batch_size == 11


# proves R-PKG-5
def test_r_pkg_5_missing_suffix_and_unknown_args_are_errors() -> None:
    with pytest.raises(ConfigError, match="environment_suffix"):
        validate({})
    with pytest.raises(ConfigError, match=r"unknown args \['lambda_memory'\]"):
        validate({"environment_suffix": "p", "lambda_memory": 512})


# proves R-FN-6
def test_r_fn_6_processor_timeout_fits_the_visibility_timeout() -> None:
    for visibility in (30, 31, 100, 299, 300, 301, 43_200):
        cfg = validate({"environment_suffix": "p", "queue_visibility_timeout_seconds": visibility})
        assert 1 <= cfg.processor_timeout <= 50
        assert visibility >= 6 * cfg.processor_timeout
    assert validate({"environment_suffix": "p"}).processor_timeout == 50


# proves R-ORG-1
def test_r_org_1_tags_merge_and_required_tags_cannot_be_changed() -> None:
    assert merge_tags(None) == {"Environment": "Production", "Project": "MarketAnalytics"}
    assert merge_tags({"Team": "a", "Project": "MarketAnalytics"}) == {
        "Team": "a",
        "Environment": "Production",
        "Project": "MarketAnalytics",
    }
    with pytest.raises(ValueError, match=r"tags\['Environment'\].*'Production' only"):
        merge_tags({"Environment": "Dev"})
    with pytest.raises(ValueError, match="not starting with 'aws:'"):
        merge_tags({"aws:cloudformation": "x"})
    with pytest.raises(ValueError, match="at most 48 user tags"):
        merge_tags({f"k{i}": "v" for i in range(49)})
    with pytest.raises(ConfigError, match="tags"):
        validate({"environment_suffix": "p", "tags": {"Project": "Other"}})


# proves R-ORG-2
def test_r_org_2_every_name_holds_the_suffix_and_fits_at_the_longest_suffix() -> None:
    # The longest suffix validation allows must keep every physical name within AWS's limit.
    longest = "a" * c.MAX_SUFFIX_LENGTH
    longest_region = "ap-" + "x" * (c.MAX_REGION_LENGTH - 5) + "-1"
    validate({"environment_suffix": longest, "region": longest_region})
    names = naming.all_names(longest, region=longest_region)
    assert set(names) == set(naming.NAME_LIMITS)
    for kind, values in names.items():
        for value in values:
            assert longest in value, (kind, value)
            assert len(value) <= naming.NAME_LIMITS[kind], (kind, value, len(value))
    bucket = naming.bucket_name(longest, "123456789012", longest_region)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket)


# proves R-ORG-2
def test_r_org_2_names_follow_the_design_contract() -> None:
    assert naming.function_name("DataIngestion", "dev") == "DataIngestion-dev"
    assert naming.queue_name("dev") == "ProcessingQueue-dev"
    assert naming.dead_letter_queue_name(naming.DeadLetterQueue.PROCESSING, "dev") == "ProcessingQueueDLQ-dev"
    assert naming.table_name("dev") == "MarketDataState-dev"
    assert naming.bucket_name("dev", "111122223333", "eu-west-1") == "market-data-dev-111122223333-eu-west-1"
    assert naming.event_bus_name("dev") == "MarketDataEvents-dev"
    assert naming.log_group_name("DataQuery", "dev") == "/aws/lambda/DataQuery-dev"
    assert naming.role_name("DataProcessor", "dev", "eu-west-1") == "DataProcessorRole-dev-eu-west-1"
    assert naming.dashboard_name("dev", "eu-west-1") == "MarketDataPipeline-dev-eu-west-1"
    assert naming.api_name("dev") == "MarketDataApi-dev"
    with pytest.raises(ValueError, match="unknown function"):
        naming.function_name("DataExport", "dev")
