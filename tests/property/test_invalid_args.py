"""Invalid args fail at construction with an error naming the arg (R-PKG-5; issue 2, acceptance 2).

Each example takes generated valid args and breaks exactly one (out of range, wrong type, bad shape, unknown
key, missing suffix, a cross-arg rule); constructing the component under fresh mocks must raise a ValueError
or TypeError whose message names that arg before any other arg, and must register no resource.
"""

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from market_data_pipeline import MarketDataPipeline, MarketDataPipelineArgs

from tests.harness import AwsMocks, run_pulumi
from tests.property.strategies import invalid_args

PROPS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KNOWN_ARGS = frozenset(MarketDataPipelineArgs.__annotations__)


def _first_arg_named(message: str, candidates: set[str]) -> str | None:
    """The candidate arg name (snake or camelCase, as a whole word) that appears first in the message.

    A tie at one position (an unknown arg ``environmentSuffix`` is also the camelCase form of ``environment_suffix``)
    goes to the candidate spelled exactly as written, whatever the set's iteration order.
    """
    best: tuple[int, int, str] | None = None
    for name in candidates:
        head, *rest = name.split("_")
        for form in {name, head + "".join(p[:1].upper() + p[1:] for p in rest)}:
            m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])", message)
            if m:
                key = (m.start(), 0 if form == name else 1, name)
                if best is None or key < best:
                    best = key
    return best[2] if best else None


@PROPS
@given(case=invalid_args())
def test_r_pkg_5_invalid_args_raise_naming_the_arg(case: tuple[dict[str, Any], str]) -> None:
    """R-PKG-5: one broken arg -> construction fails with a ValueError/TypeError naming that arg first."""
    args, arg = case
    mocks = AwsMocks()
    try:
        run_pulumi(lambda: MarketDataPipeline("md", args), mocks=mocks)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        message = str(exc)
    else:
        raise AssertionError(f"no error for invalid {arg}={args.get(arg)!r}")
    assert _first_arg_named(message, set(KNOWN_ARGS) | {arg}) == arg, message
    # Bad args create nothing (validation runs before any resource is registered).
    assert [r.typ for r in mocks.created if r.custom] == []


def test_invalid_args_checker_can_fail() -> None:
    """The arg-name matcher refuses messages naming another arg first, or only a longer name."""
    known = set(KNOWN_ARGS)
    assert _first_arg_named("invalid data_retention_days=0: allowed 1-3650", known) == "data_retention_days"
    assert _first_arg_named("invalid dataRetentionDays=0", known) == "data_retention_days"
    assert _first_arg_named("bad value 0", known) is None
    assert _first_arg_named("invalid environment_suffix", known | {"suffix"}) == "environment_suffix"
    # an unknown camelCase key that is another arg's camelCase form: the exact spelling wins the tie
    assert (
        _first_arg_named("unknown arg environmentSuffix", known | {"environmentSuffix"})
        == "environmentSuffix"
    )
    msg = "invalid processor_batching_window_seconds=0 when processor_batch_size > 10"
    assert _first_arg_named(msg, known) == "processor_batching_window_seconds"
