"""Unit tests of the fault-injecting proxy (tools/local/fault_proxy.py) against moto: each fault kind does what the
real service does (the SDK sees the right error, and what the proxy says was not done really was not done)."""

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.local.fault_proxy import (
    FaultProxy,
    FaultProxyProcess,
    FaultRule,
    Injector,
    split_batch_write,
)
from tools.local.moto_server import MotoServer
from tools.local.proxy import classify

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer("thread") as m:
        yield m


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


def _table(moto: MotoServer, name: str) -> None:
    moto.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _stored(moto: MotoServer, table: str) -> set[str]:
    items = moto.client("dynamodb").scan(TableName=table)["Items"]
    return {i["pk"]["S"] for i in items}


def _puts(table: str, keys: list[str]) -> dict[str, Any]:
    return {table: [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in keys]}


def test_rule_validation_names_the_field_and_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"FaultRule.kind 'boom': allowed throttle"):
        FaultRule("dynamodb", "BatchWriteItem", "boom", 0.5)
    with pytest.raises(ValueError, match=r"FaultRule.rate 1.5: allowed 0.0 to 1.0"):
        FaultRule("dynamodb", "BatchWriteItem", "throttle", 1.5)
    with pytest.raises(ValueError, match=r"FaultRule.service 's4'"):
        FaultRule("s4", "PutObject", "error", 0.1)
    with pytest.raises(ValueError, match=r"applies to dynamodb only"):
        FaultRule("sqs", "SendMessageBatch", "throttle", 0.1)
    with pytest.raises(ValueError, match=r"BatchWriteItem only"):
        FaultRule("dynamodb", "PutItem", "unprocessed", 0.1)
    with pytest.raises(ValueError, match=r"unknown; allowed"):
        FaultRule.from_json({"service": "sqs", "operation": "*", "kind": "error", "rate": 0.1, "typo": 1})


def test_classify_json_query_and_other_protocols() -> None:
    def kind(headers: dict[str, str], body: bytes, method: str = "POST", path: str = "/") -> tuple[str, str]:
        return classify(method, path, headers, body)[:2]

    assert kind({"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"}, b"{}") == ("dynamodb", "BatchWriteItem")
    assert kind({"x-amz-target": "AmazonSQS.SendMessageBatch"}, b"{}") == ("sqs", "SendMessageBatch")
    assert kind({"X-Amz-Target": "AWSEvents.PutEvents"}, b"{}") == ("events", "PutEvents")
    form = b"Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fx%2Fq&MessageBody=hi"
    assert kind({"Content-Type": "application/x-www-form-urlencoded"}, form) == ("sqs", "SendMessage")
    assert kind({"Content-Type": "text/csv"}, b"a,b") == ("other", "")
    # a signed request: the service and region of its SigV4 credential scope (S3 by method, path and sub-resource)
    auth = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, Signature=x"
    }
    assert classify("PUT", "/bucket/incoming/a.csv", auth, b"a") == ("s3", "PutObject", "us-east-1")
    assert kind(auth, b"", "GET", "/bucket?list-type=2&prefix=x") == ("s3", "ListObjectsV2")


def test_decisions_are_deterministic_per_seed_and_independent_of_order() -> None:
    rule = FaultRule("dynamodb", "BatchWriteItem", "throttle", 0.3, max_per_body=1)
    bodies = [json.dumps({"n": i}).encode() for i in range(2000)]

    def decisions(seed: int, order: list[bytes]) -> dict[bytes, bool]:
        inj = Injector([rule], seed)
        return {b: inj.decide("dynamodb", "BatchWriteItem", b) is not None for b in order}

    a = decisions(1, bodies)
    assert decisions(1, list(reversed(bodies))) == a  # same seed, any order: same faults
    assert decisions(2, bodies) != a  # another seed: other faults
    share = sum(a.values()) / len(a)
    assert 0.25 < share < 0.35  # the configured share (2000 samples)
    inj = Injector([FaultRule("sqs", "*", "error", 1.0, max_per_body=2)], 0)
    got = [inj.decide("sqs", "SendMessageBatch", b"same") is not None for _ in range(4)]
    assert got == [True, True, False, False]  # max_per_body: later deliveries of one body pass
    assert inj.decide("dynamodb", "BatchWriteItem", b"x") is None  # rule of another service


def test_split_batch_write_holds_a_share_and_keeps_the_rest() -> None:
    body = json.dumps({"RequestItems": _puts("T", [f"k{i}" for i in range(10)])}).encode()
    fwd, held, n = split_batch_write(body, seed=3, share=0.3)
    assert fwd is not None and n == 3
    kept = [w["PutRequest"]["Item"]["pk"]["S"] for w in json.loads(fwd)["RequestItems"]["T"]]
    held_keys = [w["PutRequest"]["Item"]["pk"]["S"] for w in held["T"]]
    assert sorted(kept + held_keys) == sorted(f"k{i}" for i in range(10)) and not set(kept) & set(held_keys)
    fwd_all, held_all, n_all = split_batch_write(body, seed=3, share=1.0)
    assert fwd_all is None and n_all == 10 and len(held_all["T"]) == 10


def test_throttle_is_a_400_the_sdk_parses_and_nothing_is_written(moto: MotoServer) -> None:
    _table(moto, "throttled")
    rules = [FaultRule("dynamodb", "BatchWriteItem", "throttle", 1.0, max_per_body=1)]
    with FaultProxy(moto.endpoint_url, rules, seed=1) as proxy:
        ddb = _client("dynamodb", proxy.url)
        with pytest.raises(ClientError) as err:
            ddb.batch_write_item(RequestItems=_puts("throttled", ["a", "b"]))
        assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert _stored(moto, "throttled") == set()
        ddb.batch_write_item(RequestItems=_puts("throttled", ["a", "b"]))  # the retry passes (max_per_body=1)
        assert _stored(moto, "throttled") == {"a", "b"}
        st = proxy.stats()
        assert st["injected"] == {"dynamodb.BatchWriteItem.throttle": 1}
        assert st["forwarded"]["dynamodb.BatchWriteItem"] == 1


def test_unprocessed_items_are_exactly_the_items_not_written(moto: MotoServer) -> None:
    _table(moto, "unproc")
    keys = [f"k{i:02d}" for i in range(25)]
    rules = [FaultRule("dynamodb", "BatchWriteItem", "unprocessed", 1.0, max_per_body=1, share=0.4)]
    with FaultProxy(moto.endpoint_url, rules, seed=5) as proxy:
        ddb = _client("dynamodb", proxy.url)
        out = ddb.batch_write_item(RequestItems=_puts("unproc", keys))
        left = [w["PutRequest"]["Item"]["pk"]["S"] for w in out["UnprocessedItems"]["unproc"]]
        assert len(left) == 10
        assert _stored(moto, "unproc") == set(keys) - set(left)  # held items really were not written
        again = ddb.batch_write_item(RequestItems=out["UnprocessedItems"])  # a new body: rate 1 holds again
        left2 = [w["PutRequest"]["Item"]["pk"]["S"] for w in again["UnprocessedItems"]["unproc"]]
        again2 = ddb.batch_write_item(RequestItems=again["UnprocessedItems"])
        assert _stored(moto, "unproc") == set(keys) - set(
            w["PutRequest"]["Item"]["pk"]["S"] for w in again2.get("UnprocessedItems", {}).get("unproc", [])
        )
        assert set(left2) < set(left)
        assert proxy.stats()["held_items"] >= 10 + len(left2)


def test_sqs_and_events_5xx_before_and_after_the_effect(moto: MotoServer) -> None:
    sqs_direct = moto.client("sqs")
    q = sqs_direct.create_queue(QueueName="fp-q")["QueueUrl"]
    events_direct = moto.client("events")
    events_direct.create_event_bus(Name="fp-bus")
    with FaultProxy(moto.endpoint_url, [FaultRule("sqs", "SendMessageBatch", "error", 1.0)], seed=0) as proxy:
        sqs = _client("sqs", proxy.url)
        with pytest.raises(ClientError) as err:
            sqs.send_message_batch(QueueUrl=q, Entries=[{"Id": "1", "MessageBody": "x"}])
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        depth = sqs_direct.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"  # not forwarded
        proxy.configure([FaultRule("sqs", "SendMessageBatch", "error_after", 1.0)])
        with pytest.raises(ClientError):
            sqs.send_message_batch(QueueUrl=q, Entries=[{"Id": "1", "MessageBody": "y"}])
        depth = sqs_direct.get_queue_attributes(QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "1"  # forwarded, then failed: ambiguous
        proxy.configure([FaultRule("events", "PutEvents", "error", 1.0)])
        ev = _client("events", proxy.url)
        with pytest.raises(ClientError) as err2:
            ev.put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "fp-bus"}]
            )
        assert err2.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert proxy.stats()["injected"] == {
            "sqs.SendMessageBatch.error": 1,
            "sqs.SendMessageBatch.error_after": 1,
            "events.PutEvents.error": 1,
        }


def test_s3_passes_through_unchanged(moto: MotoServer) -> None:
    with FaultProxy(moto.endpoint_url, [FaultRule("sqs", "*", "error", 1.0)]) as proxy:
        s3 = _client("s3", proxy.url)
        s3.create_bucket(Bucket="fp-bucket")
        blob = os.urandom(300_000)
        s3.put_object(Bucket="fp-bucket", Key="incoming/a b=1.bin", Body=blob)
        assert s3.get_object(Bucket="fp-bucket", Key="incoming/a b=1.bin")["Body"].read() == blob
        assert s3.head_object(Bucket="fp-bucket", Key="incoming/a b=1.bin")["ContentLength"] == len(blob)
        assert proxy.stats()["injected_total"] == 0


def test_child_process_is_controlled_over_http_and_stopped_by_pid(moto: MotoServer) -> None:
    _table(moto, "child")
    proxy = FaultProxyProcess(moto.endpoint_url, [], seed=9).start()
    pid = proxy.pid
    assert pid is not None
    try:
        ddb = _client("dynamodb", proxy.url)
        ddb.batch_write_item(RequestItems=_puts("child", ["a"]))
        proxy.configure([FaultRule("dynamodb", "BatchWriteItem", "throttle", 1.0, max_per_body=5)])
        with pytest.raises(ClientError):
            ddb.batch_write_item(RequestItems=_puts("child", ["b"]))
        st = proxy.stats()
        assert st["injected"] == {"dynamodb.BatchWriteItem.throttle": 1} and st["seed"] == 9
        req = urllib.request.Request(
            proxy.url + "/_proxy/rules", data=b'{"rules": [{"kind": "x"}]}', method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(req, timeout=10)
        assert bad.value.code == 400 and b"FaultRule" in bad.value.read()
        proxy.reset()
        assert proxy.stats()["injected_total"] == 0
    finally:
        proxy.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _stored(moto, "child") == {"a"}


def test_partition_capacity_emulates_dynamodb_per_partition_write_ceiling(moto: MotoServer) -> None:
    """Issue 10 (hot symbols), R-EVB-3: a partition takes at most `capacity` write units per second; the items above it
    come back in UnprocessedItems (really not written), a call with nothing that fits and a PutItem above it get
    ProvisionedThroughputExceededException with the key-range throttling reason; other partitions are not limited."""
    moto.client("dynamodb").create_table(
        TableName="hot",
        KeySchema=[{"AttributeName": "sym", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "sym", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    def puts(sym: str, start: int, n: int) -> list[dict[str, Any]]:
        return [{"PutRequest": {"Item": {"sym": {"S": sym}, "sk": {"N": str(start + i)}}}} for i in range(n)]

    def stored(sym: str) -> int:
        return int(
            moto.client("dynamodb").query(
                TableName="hot",
                KeyConditionExpression="sym = :s",
                ExpressionAttributeValues={":s": {"S": sym}},
                Select="COUNT",
            )["Count"]
        )

    now = [1000.0]
    rule = FaultRule("dynamodb", "*", "partition_capacity", 1.0, capacity=5, partition_key="sym")
    with FaultProxy(moto.endpoint_url, [rule]) as proxy:
        proxy.injector.clock = lambda: now[0]
        ddb = _client("dynamodb", proxy.url)
        out = ddb.batch_write_item(RequestItems={"hot": puts("HOT", 0, 12) + puts("COLD", 0, 3)})
        left = out["UnprocessedItems"]["hot"]
        assert len(left) == 7 and {w["PutRequest"]["Item"]["sym"]["S"] for w in left} == {"HOT"}
        assert stored("HOT") == 5 and stored("COLD") == 3  # one second's worth, the cold partition untouched
        with pytest.raises(ClientError) as err:  # same second, nothing fits: the whole call is throttled
            ddb.batch_write_item(RequestItems={"hot": left})
        e = err.value.response
        assert e["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert e["ThrottlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"
        with pytest.raises(ClientError):
            ddb.put_item(TableName="hot", Item={"sym": {"S": "HOT"}, "sk": {"N": "100"}})
        now[0] += 1.0  # one second later: 5 more units
        again = ddb.batch_write_item(RequestItems={"hot": left})
        assert len(again["UnprocessedItems"]["hot"]) == 2
        assert stored("HOT") == 10
        now[0] += 0.2  # a fifth of a second refills one unit: a PutItem fits
        ddb.put_item(TableName="hot", Item={"sym": {"S": "HOT"}, "sk": {"N": "100"}})
        assert stored("HOT") == 11
        st = proxy.stats()
        assert st["held_items"] == 7 + 7 + 2
        assert st["throttled_keys"] == {"HOT": 7 + 7 + 1 + 2}
        # reads pass untouched and uncounted, however hot the partition (the `*` covers the writes only)
        injected = dict(st["injected"])
        assert stored("HOT") == 11
        got = ddb.get_item(TableName="hot", Key={"sym": {"S": "HOT"}, "sk": {"N": "100"}})
        assert got["Item"]["sk"] == {"N": "100"} and "UnprocessedItems" not in got
        assert proxy.stats()["injected"] == injected, "a read was counted as a fault"
    with pytest.raises(ValueError, match="capacity"):
        FaultRule("dynamodb", "*", "partition_capacity", 1.0)
    with pytest.raises(ValueError, match="BatchWriteItem, PutItem"):
        FaultRule("dynamodb", "Query", "partition_capacity", 1.0, capacity=5)
