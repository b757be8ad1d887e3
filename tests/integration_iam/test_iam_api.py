"""The integration suite's auth-sensitive checks against a local stack with `api_auth` = IAM (R-API-4, R-RUN-3).

The same test functions as tests/integration (imported, not copied), run here against the IAM stack of this
package's conftest, so `make test` shows the suite working with an IAM deployment: the flat outputs without
`ApiKeyId`, SigV4-signed POST /ingest and GETs, and API Gateway's 403 "Missing Authentication Token" for unsigned
requests (emulated by the local host, which does not verify signatures). The whole suite runs against IAM with
`INTEGRATION_STACK_ARGS='{"api_auth": "IAM"}'` (tests/integration/README.md).
"""

import json
import time

from market_data_pipeline.config import ApiAuth

from tests.integration.conftest import Env
from tests.integration.test_end_to_end import (
    _delete_objects,
    symbol,
    test_api_ingest_202_400_and_unauthenticated_403,
)
from tests.integration.test_resources import (
    test_flat_outputs_have_every_key,
    test_key_check_fails_when_api_key_id_disagrees_with_the_api,
)

__all__ = [
    "symbol",
    "test_api_ingest_202_400_and_unauthenticated_403",
    "test_flat_outputs_have_every_key",
    "test_key_check_fails_when_api_key_id_disagrees_with_the_api",
]


# R-API-4
def test_outputs_say_iam_and_unknown_routes_answer_missing_token(env: Env) -> None:
    """No ApiKeyId: the suite signs. With IAM auth the API's MISSING_AUTHENTICATION_TOKEN gateway response is a 403
    (api.gateway_responses), so an unknown path or method answers 403 "Missing Authentication Token", signed or not."""
    assert env.auth is ApiAuth.IAM and "ApiKeyId" not in env.outputs, sorted(env.outputs)
    for method, path in [("GET", "/nope"), ("DELETE", "/ingest"), ("POST", "/symbols/A/latest")]:
        for signed in (True, False):
            status, body = env.api(method, path, with_auth=signed)
            assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"}), (
                method,
                path,
                signed,
            )


# issue 10 (api_archive), R-FN-3
def test_api_archive_holds_every_accepted_tick_of_the_request_before_the_202(env: Env, symbol: str) -> None:
    """With `api_archive` on (this package's stack), the accepted ticks of a POST, normalised, one JSON line each,
    are in `api/<yyyy>/<mm>/<dd>/<requestId>.jsonl` (UTC date) when the 202 arrives; rejected records are not."""
    start = int(time.time() * 1000) - 60_000
    ticks = [
        {"symbol": symbol, "timestamp": start + i, "price": 10 + i, "volume": i, "venue": "X"}
        for i in range(3)
    ]
    status, body = env.api_json("POST", "/ingest", [ticks[0], {"symbol": symbol, "price": 1}, *ticks[1:]])
    assert status == 202 and body["accepted"] == 3 and body["rejectedCount"] == 1, body
    s3, bucket = env.client("s3"), env.outputs["BucketName"]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="api/")
        for o in page.get("Contents", [])
        if o["Key"].endswith(f"/{body['requestId']}.jsonl")
    ]
    try:
        (key,) = keys
        days = {time.strftime("api/%Y/%m/%d/", time.gmtime(time.time() + d)) for d in (-120, 0)}
        assert key[: len("api/yyyy/mm/dd/")] in days, (key, days)
        lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        archived = [json.loads(line) for line in lines]
        # the normalised form the processing messages carry (lib/lambda/src/core/tick.ts tickJson)
        assert archived == [
            {
                "symbol": t["symbol"],
                "ts": t["timestamp"],
                "price": t["price"],
                "volume": t["volume"],
                "extra": {"venue": "X"},
            }
            for t in ticks
        ], archived
    finally:
        _delete_objects(env, keys)
