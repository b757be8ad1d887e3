"""Data pushed through the deployed pipeline, end to end (R-RUN-3), cleaning up what each test wrote.

Each test uses a symbol of its own, so it can run against a shared deployment. Expected values come from
tools/local/datagen.py's independent reference computation, never from the handlers' code.
"""

import functools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials
from market_data_pipeline.config import ApiAuth

from tests.integration.conftest import UNAUTHENTICATED_ANSWERS, Env, poll
from tools.local import datagen
from tools.local.client import group_partition

FIELDS = ("open", "high", "low", "close", "volume", "vwap", "trades")


def _symbol() -> str:
    return "IT" + uuid.uuid4().hex[:8].upper().replace("0", "X")[:8]


def _now_start() -> int:
    now = int(time.time() * 1000)
    return now - now % 300_000 - 600_000  # two whole 5-minute windows back, so windows are complete


def _keys(env: Env, pk: str) -> list[dict[str, Any]]:
    ddb = env.client("dynamodb")
    kw: dict[str, Any] = {
        "TableName": env.outputs["TableName"],
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "symbol", "#t": "timestamp"},
        "ExpressionAttributeValues": {":s": {"S": pk}},
        "ProjectionExpression": "#s, #t",
    }
    out: list[dict[str, Any]] = []
    for _ in range(10_000):
        page = ddb.query(**kw)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out


def _stored(env: Env, symbol: str) -> int:
    return len(_keys(env, symbol))


def _delete_items(env: Env, symbol: str) -> None:
    """Delete the items of `symbol`: its ticks and its aggregate groups."""
    ddb, table = env.client("dynamodb"), env.outputs["TableName"]
    for pk in (symbol, group_partition(symbol)):
        keys = _keys(env, pk)
        for i in range(0, len(keys), 25):
            reqs = [{"DeleteRequest": {"Key": k}} for k in keys[i : i + 25]]
            for _ in range(20):
                left = ddb.batch_write_item(RequestItems={table: reqs}).get("UnprocessedItems", {})
                reqs = left.get(table, [])
                if not reqs:
                    break
                time.sleep(0.2)


def _delete_objects(env: Env, prefixes: list[str]) -> None:
    """Delete every object version (and delete marker) under `prefixes` (the bucket is versioned)."""
    s3, bucket = env.client("s3"), env.outputs["BucketName"]
    for prefix in prefixes:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            objs = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objs:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objs, "Quiet": True})


def _api_items(env: Env, path: str) -> list[dict[str, Any]]:
    """Every item of a paginated query route (following `next`)."""
    items: list[dict[str, Any]] = []
    nxt: str | None = None
    for _ in range(1000):
        sep = "&" if "?" in path else "?"
        status, body = env.api_json("GET", path + (f"{sep}next={nxt}" if nxt else ""))
        assert status == 200, (path, status, body)
        items += body["items"]
        nxt = body.get("next")
        if not nxt:
            break
    return items


def _aggregates_match(
    env: Env, symbol: str, expected: dict[tuple[str, str, int], datagen.Aggregate], frm: int, to: int
) -> list[str]:
    """Differences between the aggregates read through the API and the reference (empty = equal)."""
    problems: list[str] = []
    for interval in datagen.INTERVALS_MS:
        got = {
            int(r["windowStart"]): r
            for r in _api_items(env, f"/symbols/{symbol}/aggregates?interval={interval}&from={frm}&to={to}")
        }
        want = {k[2]: a for k, a in expected.items() if k[1] == interval}
        if set(got) != set(want):
            problems.append(f"{interval}: windows {sorted(got)} != {sorted(want)}")
            continue
        for start, ref in want.items():
            for f in FIELDS:
                w, g = getattr(ref, f), got[start].get(f)
                ok = (w is None and g is None) or (
                    w is not None
                    and g is not None
                    and abs(float(g) - float(w)) <= 1e-9 * max(1.0, abs(float(w)))
                )
                if not ok:
                    problems.append(f"{interval} {start} {f}: {g} != {w}")
    return problems


@pytest.fixture
def symbol(env: Env) -> Iterator[str]:
    """A fresh symbol; its items and objects are deleted afterwards."""
    sym = _symbol()
    prefixes: list[str] = [f"incoming/it-{sym}/", f"rejected/incoming/it-{sym}/"]
    yield sym
    _delete_items(env, sym)
    _delete_objects(env, prefixes)


# R-FN-3, R-FN-4, R-FN-5, R-API-3, R-DATA-2, R-DATA-3, R-DATA-5
def test_s3_upload_to_ticks_to_aggregates_via_api(env: Env, symbol: str) -> None:
    start = _now_start()
    ds = datagen.generate(
        seed=uuid.uuid4().int % 10_000,
        symbols=(symbol,),
        minutes=4,
        ticks_per_minute=15,
        start_ms=start,
        api_share=0,
        bad_per_file=1,
        key_prefix=f"incoming/it-{symbol}/",
    )
    s3, bucket = env.client("s3"), env.outputs["BucketName"]
    for f in ds.files:  # CSV, JSON Lines, JSON array, csv.gz, jsonl.gz (one key has a space and '=')
        s3.put_object(Bucket=bucket, Key=f.key, Body=f.body)
    want = len(ds.ticks)
    poll(f"{want} ticks of {symbol} stored", lambda: _stored(env, symbol) == want, timeout=180)
    expected = datagen.reference_aggregates(ds.ticks)
    problems: list[str] = []

    def aggregates_ok() -> bool:
        nonlocal problems
        problems = _aggregates_match(env, symbol, expected, ds.start_ms, ds.end_ms + 300_000)
        return not problems

    poll(
        f"aggregates of {symbol} equal to the reference ({problems[:3]})",
        aggregates_ok,
        timeout=180,
        interval=2,
    )
    status, latest = env.api_json("GET", f"/symbols/{symbol}/latest")
    last = max(ds.ticks, key=lambda t: t.ts)
    assert status == 200 and int(latest["timestamp"]) == last.ts and float(latest["price"]) == last.price, (
        latest
    )
    # R-DATA-3: each file's bad records are in rejected/<key>.jsonl with line numbers and reasons
    for f in ds.files:
        key = f"rejected/{f.key}.jsonl"
        body = poll(key, functools.partial(_get, env, key), timeout=60)
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        assert len(lines) == len(f.bad), (f.key, lines)
        assert all(x.get("reason") for x in lines), lines
        if f.fmt in ("csv", "jsonl", "csv.gz", "jsonl.gz"):
            assert sorted(int(x["line"]) for x in lines) == sorted(b.position for b in f.bad), (f.key, lines)


def _get(env: Env, key: str) -> bytes | None:
    try:
        return bytes(env.client("s3").get_object(Bucket=env.outputs["BucketName"], Key=key)["Body"].read())
    except env.client("s3").exceptions.NoSuchKey:
        return None


# R-API-1, R-API-4, R-DATA-3
def test_api_ingest_202_400_and_unauthenticated_403(env: Env, symbol: str) -> None:
    start = _now_start()
    ticks = [
        {"symbol": symbol, "timestamp": start + i * 1500, "price": 100 + i / 4, "volume": 10 + i}
        for i in range(6)
    ]
    bad = {"symbol": symbol, "timestamp": start, "price": -1, "volume": 1}
    status, body = env.api_json("POST", "/ingest", [*ticks[:3], bad, *ticks[3:]])
    assert status == 202, body
    assert body["accepted"] == 6 and [r["index"] for r in body["rejected"]] == [3], body
    assert body["rejected"][0]["reason"]
    request_id = body["requestId"]
    poll(f"6 ticks of {symbol} stored", lambda: _stored(env, symbol) == 6, timeout=120)
    # the same batch again (at-least-once delivery): still stored once (R-DATA-4)
    status, again = env.api_json("POST", "/ingest", ticks)
    assert status == 202 and again["accepted"] == 6, again
    got = _api_items(env, f"/symbols/{symbol}/ticks?from={start}&to={start + 60_000}")
    assert [(int(t["timestamp"]), float(t["price"])) for t in got] == [
        (t["timestamp"], t["price"]) for t in ticks
    ]
    # 400: malformed, and no valid tick
    for payload in (b'{"ticks": [', b"[]", json.dumps([bad]).encode()):
        status, raw = env.api("POST", "/ingest", payload, {"content-type": "application/json"})
        assert status == 400, (payload, status, raw)
        assert json.loads(raw)["message"], raw
    # 403 without authentication, with a wrong key or foreign credentials (R-API-4), in the API's auth mode
    _refused_without_authentication(env, symbol, json.dumps(ticks).encode())
    # cleanup of the API archives this test caused (api/<yyyy>/<mm>/<dd>/<requestId>.jsonl)
    s3, bucket = env.client("s3"), env.outputs["BucketName"]
    for rid in (request_id, again["requestId"]):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="api/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(f"/{rid}.jsonl"):
                    _delete_objects(env, [obj["Key"]])


def _refused_without_authentication(env: Env, symbol: str, body: bytes) -> None:
    """Neither POST /ingest nor GET passes unauthenticated (API Gateway's 403 and body of the auth mode), nor with a
    wrong API key (API keys), nor with credentials AWS does not know (IAM; a real deployment only: the local host
    does not verify signatures, lib/lambda/host/README.md)."""
    unauthenticated = UNAUTHENTICATED_ANSWERS[env.auth]
    for method, path, data in (("POST", "/ingest", body), ("GET", f"/symbols/{symbol}/latest", None)):
        status, raw = env.api(method, path, data, with_auth=False)
        assert (status, json.loads(raw)) == unauthenticated, (method, path, status, raw)
        # an API key never stands in for a signature, and a wrong one is refused
        status, raw = env.api(method, path, data, {"x-api-key": "wrong-" + uuid.uuid4().hex}, with_auth=False)
        assert (status, json.loads(raw)) == unauthenticated, (method, path, status, raw)
    if env.auth is ApiAuth.IAM and not env.local:
        unknown = Credentials("AKIA" + uuid.uuid4().hex[:16].upper(), uuid.uuid4().hex)
        status, raw = env.api(
            "POST", "/ingest", body, {"content-type": "application/json"}, credentials=unknown
        )
        assert status == 403, (status, raw)


# R-SQS-2, R-EVB-3
def test_poison_message_ends_in_dlq(env: Env) -> None:
    sqs = env.client("sqs")
    q, dlq = env.outputs["QueueUrl"], env.outputs["DlqUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
    visibility = int(attrs["VisibilityTimeout"])
    receives = int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
    marker = f"poison-{uuid.uuid4()}"
    # moto quirk: SetQueueAttributes without Policy clears the queue policy, so it is passed along unchanged.
    keep = {"Policy": attrs["Policy"]} if "Policy" in attrs else {}
    if env.local:
        # Local acceleration (like the demo's schedule): a failed message waits out the visibility timeout before
        # each of its maxReceiveCount receives; 300 s x 5 would take 25 min, so lower it here and restore it after.
        sqs.set_queue_attributes(QueueUrl=q, Attributes={"VisibilityTimeout": "2", **keep})
        time.sleep(3)  # receives already waiting (the host long-polls 1 s) use the old timeout; let them end
        timeout = 120.0
    else:
        timeout = float((receives + 1) * visibility + 300)
    found: list[dict[str, Any]] = []
    try:
        body = json.dumps({"v": 1, "poison": marker, "ticks": "not-a-list"})
        sqs.send_message(QueueUrl=q, MessageBody=body)

        def in_dlq() -> bool:
            msgs = sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=5
            )
            for m in msgs.get("Messages", []):
                if marker in m["Body"]:
                    found.append(m)
                    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
            return bool(found)

        poll(f"the poison message in the DLQ after {receives} receives", in_dlq, timeout=timeout, interval=1)
    finally:
        if env.local:
            sqs.set_queue_attributes(QueueUrl=q, Attributes={"VisibilityTimeout": str(visibility), **keep})
    assert len(found) == 1 and found[0]["Body"] == body
