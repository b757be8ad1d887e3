"""The two Lambda bases of the cost model (bench/cost.py, issue 6) on a hand-made usage."""

import pytest

from bench import cost


def _usage() -> cost.Usage:
    return cost.Usage(
        ticks=1000,
        memory_mb=3072,
        invocations={"processor": 2, "aggregator": 1},
        busy_ms={"processor": 900.0, "aggregator": 4000.0},
        units={"ddb_wru": 1000.0},
        cpu_ms={"processor": 100.0, "aggregator": 50.0},
        aws_calls={
            "processor": {"dynamodb:BatchWriteItem": 40, "events:PutEvents": 2},
            "aggregator": {"dynamodb:Query": 10, "s3:GetObject": 1},
        },
    )


def test_modeled_lambda_time_is_cpu_plus_assumed_latency_per_counted_call() -> None:
    """Issue 6: modeled = measured CPU + sum(calls x assumed p50 latency); only the lambda line and total change."""
    p = cost.load_prices()
    lat = p["aws_latency_p50_ms"]
    assert lat["assumption"] is True and lat["source"] and lat["as_of"]
    per_action, per_service = lat["per_action"], lat["per_service"]

    def ms(action: str) -> float:
        return float(per_action.get(action, per_service[action.split(":")[0]]))

    want = {
        "processor": 100.0 + 40 * ms("dynamodb:BatchWriteItem") + 2 * ms("events:PutEvents"),
        "aggregator": 50.0 + 10 * ms("dynamodb:Query") + 1 * ms("s3:GetObject"),
    }
    u = _usage()
    assert cost.modeled_busy_ms(u, p) == pytest.approx(want)
    wall, modeled = cost.per_million(u, p), cost.per_million(u, p, lambda_basis="modeled")
    assert {k: v for k, v in wall.items() if k not in ("lambda", "total")} == {
        k: v for k, v in modeled.items() if k not in ("lambda", "total")
    }
    gb_s = 3072 / 1024 * sum(want.values()) / 1000
    want_lambda = (3 * p["lambda"]["per_million_requests"] / 1e6 + gb_s * p["lambda"]["gb_second"]) * 1000
    assert modeled["lambda"] == pytest.approx(want_lambda, rel=1e-4)
    assert modeled["total"] - wall["total"] == pytest.approx(modeled["lambda"] - wall["lambda"], abs=1e-5)


def test_cost_model_rejects_what_it_cannot_price() -> None:
    """Bad input: an unknown basis, a call without an assumed latency, a usage without CPU time."""
    p = cost.load_prices()
    u = _usage()
    with pytest.raises(ValueError, match="lambda_basis must be one of"):
        cost.per_million(u, p, lambda_basis="cpu")
    with pytest.raises(ValueError, match=r"no assumed latency for 'kinesis:PutRecord'.*per_service has"):
        cost.call_latency_ms("kinesis:PutRecord", p)
    u.cpu_ms = {"processor": 1.0}
    with pytest.raises(ValueError, match=r"no measured CPU time for \['aggregator'\]"):
        cost.per_million(u, p, lambda_basis="modeled")
