"""The moto Query speed patch (tools/local/moto_speedups.py, issue 6) changes no answer of moto.

Every Query runs twice against the same in-process moto backend (``mock_aws``): once with the patch on, once with it
off (moto's own code), and the full responses must be equal page by page: Items (and their order), Count,
ScannedCount, LastEvaluatedKey. Tables are random: several partitions, range keys of type N (decimal strings like
``1700000000123.000000042``, negative, integer, fractional) or S, some items big enough (up to ~300 KB) that moto's
1 MB page limit cuts pages. Queries are random: no range condition, =, <, <=, >, >=, BETWEEN, begins_with (S keys),
Limit, ScanIndexForward, ExclusiveStartKey pagination (and a start key that was never a page boundary),
ProjectionExpression, FilterExpression, queries on a missing partition, and GSI queries (left to moto unchanged).
"""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tools.local import moto_speedups
from tools.local.moto_server import MotoServer

TABLE = "speedups"
MAX_PAGES = 60


@pytest.fixture(scope="module")
def ddb() -> Iterator[Any]:
    """A DynamoDB client on moto's in-process backend, with the patch installed."""
    assert moto_speedups.install(), (
        "the patch must be active for this test (MDP_MOTO_SPEEDUPS unset, moto 5.2.5)"
    )
    with mock_aws():
        yield boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )


def n_keys() -> st.SearchStrategy[str]:
    """Numeric range keys as DynamoDB decimal strings, dense around a millisecond timestamp."""
    ms = st.integers(1_700_000_000_000, 1_700_000_000_040)
    frac = st.integers(0, 10**9 - 1).map(lambda f: f"{f:09d}")
    ts = st.builds(lambda m, f: f"{m}.{f}", ms, frac)
    small = st.decimals(min_value=-50, max_value=50, places=3, allow_nan=False).map(
        lambda d: str(d.normalize())
    )
    return st.one_of(ts, ts, small, st.integers(-5, 5).map(str))


def s_keys() -> st.SearchStrategy[str]:
    """String range keys over a small alphabet so prefixes and neighbours collide."""
    return st.text(alphabet="ab#1", min_size=1, max_size=5)


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    """A random table (key type, partitions, items) and a list of random queries on it."""
    key_type = draw(st.sampled_from(["N", "S"]))
    keys = n_keys() if key_type == "N" else s_keys()
    parts = draw(
        st.lists(st.sampled_from(["AAPL", "MSFT", "X#1m", "Y#5m", "Z"]), min_size=1, max_size=4, unique=True)
    )
    big = draw(st.integers(0, 3)) == 0  # a quarter of the tables hold items of 150-300 KB: 1 MB pages
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for p in parts:
        seen: set[Any] = set()
        for k in draw(st.lists(keys, min_size=1, max_size=8 if big else 30)):
            canon = str(Decimal(k)) if key_type == "N" else k
            ident = Decimal(k) if key_type == "N" else k
            if ident in seen:
                continue
            seen.add(ident)
            item = {
                "pk": {"S": p},
                "sk": {key_type: canon},
                "q": {"N": str(draw(st.integers(0, 9)))},
                "g": {"S": draw(st.sampled_from(["g1", "g2"]))},
            }
            size = draw(st.sampled_from([0, 150_000, 300_000])) if big else 0
            if size:
                item["pad"] = {"S": "x" * size}
            items[(p, canon)] = item
    key_list = [k for _p, k in items]
    bound = st.one_of(st.sampled_from(key_list), st.sampled_from(key_list), keys)  # mostly stored keys
    queries = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["none", "=", "<", "<=", ">", ">=", "between"] + (["begins"] if key_type == "S" else [])
            )
        )
        q: dict[str, Any] = {
            "pk": draw(st.sampled_from([*parts, "MISSING"])),
            "op": op,
            "a": draw(bound),
            "b": draw(bound),
            "limit": draw(st.sampled_from([None, 1, 2, 2, 3, 3, 4, 5, 7, 12])),
            "forward": draw(st.booleans()),
            "projection": draw(st.booleans()),
            "filter": draw(st.booleans()),
            "gsi": draw(st.integers(0, 9)) == 0,
            "odd_start": draw(st.one_of(st.none(), bound)),
        }
        queries.append(q)
    return {"key_type": key_type, "items": list(items.values()), "queries": queries}


def _ordered(key_type: str, a: str, b: str) -> tuple[str, str]:
    if key_type == "N":
        return (a, b) if Decimal(a) <= Decimal(b) else (b, a)
    return (a, b) if a <= b else (b, a)


def _request(key_type: str, q: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {":p": {"S": q["pk"]}}
    cond = "pk = :p"
    if q["gsi"]:
        cond = "g = :p"
        values[":p"] = {"S": "g1"}
    elif q["op"] == "between":
        lo, hi = _ordered(key_type, q["a"], q["b"])
        cond += " AND sk BETWEEN :a AND :b"
        values[":a"], values[":b"] = {key_type: lo}, {key_type: hi}
    elif q["op"] == "begins":
        cond += " AND begins_with(sk, :a)"
        values[":a"] = {key_type: q["a"]}
    elif q["op"] != "none":
        cond += f" AND sk {q['op']} :a"
        values[":a"] = {key_type: q["a"]}
    req: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": cond,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": q["forward"],
    }
    if q["gsi"]:
        req["IndexName"] = "by-g"
    if q["limit"] is not None:
        req["Limit"] = q["limit"]
    if q["projection"]:
        req["ProjectionExpression"] = "pk, sk, q"
    if q["filter"]:
        req["FilterExpression"] = "q >= :f"
        values[":f"] = {"N": "4"}
    return req


def _pages(ddb: Any, req: dict[str, Any], start: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every page of one query (bounded), with the fields the patch must not change."""
    pages = []
    esk = start
    for _ in range(MAX_PAGES):
        r = ddb.query(**req, **({"ExclusiveStartKey": esk} if esk else {}))
        pages.append({k: r.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        esk = r.get("LastEvaluatedKey")
        if not esk:
            break
    return pages


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(sc=scenario())
def test_patched_base_table_query_returns_exactly_what_moto_returns(ddb: Any, sc: dict[str, Any]) -> None:
    """Issue 6 (bench on moto): patched Query == unpatched Query, page by page, for random tables and queries."""
    kt = sc["key_type"]
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": kt},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        for item in sc["items"]:
            ddb.put_item(TableName=TABLE, Item=item)
        for q in sc["queries"]:
            req = _request(kt, q)
            start = None
            if q["odd_start"] is not None and not q["gsi"]:
                start = {"pk": {"S": q["pk"]}, "sk": {kt: q["odd_start"]}}
            before = moto_speedups.stats()["hinted"]
            patched = _pages(ddb, req, start)
            hinted = moto_speedups.stats()["hinted"] - before
            with moto_speedups.disabled():
                plain = _pages(ddb, req, start)
            assert patched == plain, f"query {req} start={start}"
            # the patch really ran for base-table queries (else this test would compare moto with itself)
            assert (hinted == len(patched)) if not q["gsi"] else hinted == 0
    finally:
        ddb.delete_table(TableName=TABLE)


def test_switch_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MDP_MOTO_SPEEDUPS=0 makes install() decline (moto stays unpatched in a fresh process)."""
    monkeypatch.setenv(moto_speedups.ENV_SWITCH, "0")
    assert moto_speedups.env_enabled() is False
    assert moto_speedups.install() is False
    monkeypatch.setenv(moto_speedups.ENV_SWITCH, "1")
    assert moto_speedups.env_enabled() is True


def _small_table(ddb: Any, sizes: list[int]) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for i, size in enumerate(sizes):
        item = {"pk": {"S": "A"}, "sk": {"N": f"1700000000{i:03d}.000000042"}}
        if size:
            item["pad"] = {"S": "x" * size}
        ddb.put_item(TableName=TABLE, Item=item)


@pytest.mark.parametrize("forward", [True, False])
def test_patched_query_keeps_the_items_that_end_a_page_after_the_last_match(ddb: Any, forward: bool) -> None:
    """Issue 6: the two edge cases of the candidate shrinking, both directions, patched == unpatched.

    (a) Limit == number of matches: moto still returns a LastEvaluatedKey because the next (non-matching) item trips
    the Limit check. (b) 1 MB page: 750 KB of matches, then a small and a 300 KB non-matching item: the SECOND
    one trips moto's size check, so the whole tail must stay a candidate.
    """
    sizes = [300_000, 300_000, 150_000, 0, 300_000, 0, 0]
    if not forward:
        sizes = sizes[::-1]
    _small_table(ddb, sizes)
    try:
        first, last = ("1700000000000", "1700000000003") if forward else ("1700000000004", "1700000000007")
        cases: list[dict[str, Any]] = [
            {"Limit": 3, "cond": "sk BETWEEN :a AND :b", "a": first, "b": last},
            {"cond": "sk BETWEEN :a AND :b", "a": first, "b": last},
        ]
        for c in cases:
            req: dict[str, Any] = {
                "TableName": TABLE,
                "KeyConditionExpression": f"pk = :p AND {c['cond']}",
                "ExpressionAttributeValues": {":p": {"S": "A"}, ":a": {"N": c["a"]}, ":b": {"N": c["b"]}},
                "ScanIndexForward": forward,
            }
            if "Limit" in c:
                req["Limit"] = c["Limit"]
            patched = _pages(ddb, req, None)
            with moto_speedups.disabled():
                plain = _pages(ddb, req, None)
            assert patched == plain
            # the edge case is real: moto answers with a LastEvaluatedKey after the 3 matches
            assert plain[0]["Count"] == 3 and plain[0]["LastEvaluatedKey"] is not None
    finally:
        ddb.delete_table(TableName=TABLE)


@pytest.mark.parametrize(("switch", "active"), [(None, True), ("0", False)])
def test_moto_server_process_installs_the_patch_unless_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str | None, active: bool
) -> None:
    """Issue 6: the moto child process of MotoServer runs with the patch; MDP_MOTO_SPEEDUPS=0 leaves moto alone."""
    if switch is None:
        monkeypatch.delenv(moto_speedups.ENV_SWITCH, raising=False)
    else:
        monkeypatch.setenv(moto_speedups.ENV_SWITCH, switch)
    log = tmp_path / "moto.log"
    with MotoServer("process", log_path=log) as m:
        assert m.client("dynamodb").list_tables()["TableNames"] == []
    assert log.read_text().splitlines()[0] == f"moto_speedups active: {active}"
