"""The local stack's moto keeps every write it acknowledged (tools/local/moto_threadsafe.py).

The fault scenarios prove "nothing lost" (R-EVB-3, R-DATA-4) by reading moto back, so moto itself must not drop a
write it answered 200 to. moto 5.2.5 does when several requests create the same new partition key at once (the
module docstring says how); ``tests/faults/test_hot_symbol.py`` lost 15 hot ticks that way on a loaded machine.

The stress below writes a fresh partition key from several threads released together, many rounds, with a tiny
thread switch interval so the interpreter switches threads inside moto's code as often as a loaded server does, and
counts the partition afterwards: every acknowledged put must be there. Without the fix (moto's own ``Table.items``)
the same stress loses items in some rounds (seen: 6 of 300 rounds kept only 28 to 60 of their 100 items).
"""

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from tools.local import moto_threadsafe
from tools.local.mocks import ACCOUNT, REGION
from tools.local.moto_server import CREDENTIALS

THREADS = 4
"""Requests creating the same partition at once (DataProcessor's BatchWriteItem concurrency is 4)."""
PUTS = 25
"""Puts per thread (one BatchWriteItem call's worth)."""
ROUNDS = 400
"""Fresh partition keys written per table (bounded: a few seconds)."""


@pytest.fixture()
def fast_switching() -> Iterator[None]:
    """Thread switches every 10 microseconds (restored afterwards)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _table(name: str) -> Any:
    """A new table (partition key `symbol` S, sort key `timestamp` N) on moto's in-process backend."""
    c = boto3.client("dynamodb", region_name=REGION, **CREDENTIALS)
    keys = (("symbol", "HASH", "S"), ("timestamp", "RANGE", "N"))  # (attribute, key type, attribute type)
    c.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": k} for a, k, _t in keys],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, _k, t in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


def _rounds_losing_items(table: Any) -> list[tuple[str, int]]:
    """Write ROUNDS fresh partitions, THREADS threads x PUTS puts each at once; (key, items kept) of every round
    that kept fewer than it acknowledged."""
    losing = []
    for r in range(ROUNDS):
        pk = f"SYM{r}"
        start = threading.Barrier(THREADS)

        def writer(k: int, pk: str = pk, start: threading.Barrier = start) -> None:
            start.wait()
            for i in range(PUTS):
                table.put_item({"symbol": {"S": pk}, "timestamp": {"N": f"{k * 1000 + i}.5"}})

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kept = len(table.items[DynamoType({"S": pk})])
        if kept != THREADS * PUTS:
            losing.append((pk, kept))
    return losing


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_first_writes_to_a_new_partition_are_all_kept() -> None:
    """R-EVB-3, R-DATA-4 (their proof on the local stack): no acknowledged put is lost, however the threads
    interleave while they create a partition."""
    assert moto_threadsafe.install(), f"the fix must be active (moto {moto_threadsafe.MOTO_VERSION})"
    assert moto_threadsafe.installed()
    with mock_aws():
        table = _table("threadsafe")
        losing = _rounds_losing_items(table)
    assert not losing, (
        f"moto dropped acknowledged puts in {len(losing)} of {ROUNDS} rounds "
        f"(partition, items kept of {THREADS * PUTS}): {losing[:5]}"
    )
    assert isinstance(table.items, moto_threadsafe._Partitions)


def test_install_is_idempotent_and_keeps_existing_items() -> None:
    """A second install changes nothing; a patched table reads, overwrites and deletes like moto's own."""
    assert moto_threadsafe.install() and moto_threadsafe.install()
    key = {"symbol": {"S": "A"}, "timestamp": {"N": "1.5"}}
    with mock_aws():
        table = _table("idempotent")
        c = boto3.client("dynamodb", region_name=REGION, **CREDENTIALS)
        c.put_item(TableName="idempotent", Item=key)
        c.put_item(TableName="idempotent", Item={**key, "v": {"S": "x"}})
        assert c.get_item(TableName="idempotent", Key=key)["Item"]["v"] == {"S": "x"}
        q = c.query(
            TableName="idempotent",
            KeyConditionExpression="symbol = :s",
            ExpressionAttributeValues={":s": {"S": "A"}},
        )
        assert q["Count"] == 1
        c.delete_item(TableName="idempotent", Key=key)
        assert "Item" not in c.get_item(TableName="idempotent", Key=key)
        assert isinstance(table.items, moto_threadsafe._Partitions)
