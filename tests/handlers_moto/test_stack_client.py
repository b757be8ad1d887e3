"""`tools.local.client.StackClient`'s table reads, which the demo, the bench and the fault tests judge exactness by."""

from collections.abc import Iterator

import pytest
from market_data_pipeline.constants import TABLE_HASH_KEY, TABLE_RANGE_KEY

from tools.local.client import StackClient, group_partition
from tools.local.host_config import ENDPOINT_URL_KEY
from tools.local.moto_server import MotoServer

TABLE = "client-test-state"


@pytest.fixture(scope="module")
def client() -> Iterator[StackClient]:
    """A StackClient on a moto server holding a table with MarketDataState's key schema."""
    server = MotoServer(mode="process").start()
    try:
        c = StackClient({ENDPOINT_URL_KEY: server.endpoint_url, "BucketName": "unused", "TableName": TABLE})
        c.ddb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": TABLE_HASH_KEY, "AttributeType": "S"},
                {"AttributeName": TABLE_RANGE_KEY, "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": TABLE_HASH_KEY, "KeyType": "HASH"},
                {"AttributeName": TABLE_RANGE_KEY, "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield c
    finally:
        server.stop()


def _put(c: StackClient, pk: str, ts: int, pad: int) -> None:
    c.ddb.put_item(
        TableName=TABLE,
        Item={TABLE_HASH_KEY: {"S": pk}, TABLE_RANGE_KEY: {"N": str(ts)}, "pad": {"S": "x" * pad}},
    )


def test_partitions_reads_every_item_of_every_partition_across_scan_pages(client: StackClient) -> None:
    """Issue 10 (part 6's exactness read): one paginated Scan grouped by partition key returns exactly what a Query of
    each partition returns: ticks and group items, every page (about 1.5 MB of items: at least two 1 MB pages)."""
    symbols = ["AAPL", "MSFT", "NVDA"]
    for i, sym in enumerate(symbols):
        for ts in range(12):
            _put(client, sym, 1_764_001_800_000 + ts, 40_000)
        for w in range(i + 1):
            _put(client, group_partition(sym), 1_764_001_800_000 + w * 300_000, 100)
    first_page = client.ddb.scan(TableName=TABLE)
    assert "LastEvaluatedKey" in first_page, (
        "the table must span more than one Scan page for this test to prove paging"
    )

    got = client.partitions()

    pks = [*symbols, *map(group_partition, symbols)]
    assert sorted(got) == sorted(pks)
    for pk in pks:
        want = list(client.query(pk))
        assert sorted(got[pk], key=lambda i: int(i[TABLE_RANGE_KEY]["N"])) == want
    assert sum(map(len, got.values())) == 3 * 12 + (1 + 2 + 3)


def test_partitions_of_an_empty_table_is_empty(client: StackClient) -> None:
    """No item: no partition (not an error)."""
    other = StackClient({**client.outputs, "TableName": "client-test-empty"})
    other.ddb.create_table(
        TableName="client-test-empty",
        AttributeDefinitions=[{"AttributeName": TABLE_HASH_KEY, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": TABLE_HASH_KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert other.partitions() == {}
