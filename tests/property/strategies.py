"""Hypothesis strategies for valid and invalid MarketDataPipeline args (R-PKG-5).

The allowed ranges are AWS's (and the spec's), written here independently of the component's validation.
"""

from typing import Any

from hypothesis import strategies as st
from market_data_pipeline import ApiAuth

MAX_SUFFIX = 20
"""Longest suffix the component documents (1-20 lowercase letters, digits, hyphens; starts with a letter)."""

# CloudWatch Logs PutRetentionPolicy accepts exactly these retentionInDays values.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
REQUIRED_TAGS = {"Environment": "Production", "Project": "MarketAnalytics"}  # R-ORG-1

suffixes = st.one_of(
    st.from_regex(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True),
    # The shapes at the edges: shortest, longest, digits and hyphens at every place allowed.
    st.sampled_from(["a", "z" * MAX_SUFFIX, "a-" * 9 + "b1", "x9", "p-r-o-d", "dev0-1"]),
    st.integers(1, MAX_SUFFIX).map(lambda n: "q" * n),
)

schedules = st.one_of(
    st.just("rate(5 minutes)"),
    st.sampled_from(["rate(1 minute)", "rate(1 hour)", "rate(1 day)"]),
    st.tuples(st.integers(2, 10_000), st.sampled_from(["minutes", "hours", "days"])).map(
        lambda t: f"rate({t[0]} {t[1]})"
    ),
    st.sampled_from(["cron(0/5 * * * ? *)", "cron(15 10 ? * MON-FRI *)", "cron(0 12 * * ? *)"]),
)

_tag_chars = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/=+-@ ")
tag_keys = (
    st.text(_tag_chars, min_size=1, max_size=128)
    .filter(lambda k: not k.lower().startswith("aws:"))
    .filter(lambda k: k not in REQUIRED_TAGS)
)
tag_values = st.text(_tag_chars, max_size=256)
user_tags = st.one_of(
    st.dictionaries(tag_keys, tag_values, max_size=6),
    # Repeating a required tag with its required value is allowed.
    st.dictionaries(tag_keys, tag_values, max_size=2).map(lambda d: {**d, "Environment": "Production"}),
)

emails = st.from_regex(
    r"[a-z0-9][a-z0-9._+-]{0,30}@[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.[a-z]{2,6}", fullmatch=True
)


@st.composite
def valid_args(draw: st.DrawFn) -> dict[str, Any]:
    """A valid args dict: the suffix plus any subset of the optional args, each anywhere in its range."""
    args: dict[str, Any] = {"environment_suffix": draw(suffixes)}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "api_throttle_rate_limit": st.one_of(
            st.floats(1, 1_000_000, allow_nan=False, allow_infinity=False), st.integers(1, 1_000_000)
        ),
        "api_throttle_burst_limit": st.integers(1, 1_000_000),
        "data_retention_days": st.integers(1, 3650),
        "log_retention_days": st.sampled_from(LOG_RETENTION_DAYS),
        "lambda_memory_mb": st.integers(128, 10240),
        "lambda_runtime": st.sampled_from(RUNTIMES),
        "aggregation_schedule": schedules,
        "queue_retention_seconds": st.integers(60, 1_209_600),
        "queue_visibility_timeout_seconds": st.integers(30, 43_200),
        "max_receive_count": st.integers(1, 1000),
        "processor_max_concurrency": st.integers(2, 1000),
        "aggregation_batching_window_seconds": st.integers(1, 300),
        "tags": user_tags,
        "alarm_email": emails,
        "api_auth": st.sampled_from([ApiAuth.API_KEY, ApiAuth.IAM, "API_KEY", "IAM"]),
        "manage_api_gateway_account": st.booleans(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            args[key] = draw(strategy)
    if draw(st.booleans()):
        batch = draw(st.integers(1, 10_000))
        args["processor_batch_size"] = batch
        # SQS event sources: a batch above 10 needs a batching window of at least 1 s.
        args["processor_batching_window_seconds"] = draw(st.integers(1 if batch > 10 else 0, 300))
    elif draw(st.booleans()):
        args["processor_batching_window_seconds"] = draw(st.integers(0, 300))
    return args


def _ints_outside(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=lo - 1).filter(lambda v: v > -(10**12)),
        st.integers(min_value=hi + 1, max_value=10**12),
        st.floats(lo + 0.01, hi - 0.01).filter(lambda v: not float(v).is_integer()),
        st.sampled_from(["10", None, True, [1], float("nan")]),
    )


# Each invalid value paired with the arg the error message must name.
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "environment_suffix": st.one_of(
        st.sampled_from(
            ["", "Prod", "1abc", "abc-", "a_b", "a.b", "a b", "ü", "z" * (MAX_SUFFIX + 1), 7, None]
        ),
        st.from_regex(r"[a-z][a-z0-9]{20,40}", fullmatch=True),
        st.from_regex(r"[a-z][a-z0-9-]{0,10}[A-Z_./ ][a-z0-9]{0,5}", fullmatch=True),
    ),
    "api_throttle_rate_limit": st.one_of(
        st.floats(max_value=0.999, allow_nan=False),
        st.floats(min_value=1_000_000.01),
        st.sampled_from([float("nan"), float("inf"), "fast", True, None]),
    ),
    "api_throttle_burst_limit": _ints_outside(1, 1_000_000),
    "data_retention_days": _ints_outside(1, 3650),
    "log_retention_days": st.one_of(
        st.integers(-10, 4000).filter(lambda v: v not in LOG_RETENTION_DAYS),
        st.sampled_from(["7", 7.5, None, True]),
    ),
    "lambda_memory_mb": _ints_outside(128, 10240),
    "lambda_runtime": st.sampled_from(
        ["nodejs16.x", "nodejs14.x", "python3.12", "NODEJS22.X", "", "node22", 22]
    ),
    "aggregation_schedule": st.sampled_from(
        [
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "every 5 minutes",
            "rate(5 seconds)",
            "cron(* * *)",
            "",
        ]
    ),
    "queue_retention_seconds": _ints_outside(60, 1_209_600),
    "queue_visibility_timeout_seconds": _ints_outside(30, 43_200),
    "max_receive_count": _ints_outside(1, 1000),
    "processor_batch_size": _ints_outside(1, 10_000),
    "processor_batching_window_seconds": _ints_outside(0, 300),
    "processor_max_concurrency": _ints_outside(2, 1000),
    "aggregation_batching_window_seconds": _ints_outside(1, 300),
    "tags": st.one_of(
        st.sampled_from(
            [
                {"aws:owner": "x"},
                {"AWS:Owner": "x"},
                {"": "x"},
                {"k" * 129: "v"},
                {"k": "v" * 257},
                {"k": 3},
                {"k#": "v"},
                {"Environment": "Development"},
                {"Project": "Other"},
                ["Environment", "Production"],
                "Environment=Production",
            ]
        ),
        st.integers(49, 80).map(lambda n: {f"t{i}": "v" for i in range(n)}),
    ),
    "alarm_email": st.sampled_from(["", "oncall", "oncall@", "@example.com", "a b@example.com", "a@b", 42]),
    "api_auth": st.sampled_from(["NONE", "api_key", "COGNITO", "", 1]),
    "manage_api_gateway_account": st.sampled_from(["yes", 1, 0, None]),
    "region": st.sampled_from(["", "us-east", "US-EAST-1", "mars-north-1x", 1]),
}


@st.composite
def invalid_args(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid args dict with exactly one arg made invalid; returns (args, the arg the error must name)."""
    args = draw(valid_args())
    arg = draw(st.sampled_from(sorted([*INVALID, "<unknown>", "<missing suffix>", "<batch window>"])))
    if arg == "<unknown>":
        bad = draw(
            st.sampled_from(["environmentSuffix", "lambda_memory", "suffix", "retention_days", "Tags"])
        )
        args[bad] = draw(st.integers(1, 100))
        return args, bad
    if arg == "<missing suffix>":
        del args["environment_suffix"]
        return args, "environment_suffix"
    if arg == "<batch window>":
        # The batch-size/window rule: a batch above 10 with a zero window is refused, naming the window.
        args["processor_batch_size"] = draw(st.integers(11, 10_000))
        args["processor_batching_window_seconds"] = 0
        return args, "processor_batching_window_seconds"
    args[arg] = draw(INVALID[arg])
    if arg in ("processor_batch_size",):
        args.pop("processor_batching_window_seconds", None)
    return args, arg
