"""The integration suite's auth-sensitive checks against a local stack with `api_auth` = IAM (R-API-4, R-RUN-3).

The same test functions as tests/integration (imported, not copied), run here against the IAM stack of this
package's conftest, so `make test` shows the suite working with an IAM deployment: the flat outputs without
`ApiKeyId`, SigV4-signed POST /ingest and GETs, and API Gateway's 403 "Missing Authentication Token" for unsigned
requests (emulated by the local host, which does not verify signatures). The whole suite runs against IAM with
`INTEGRATION_STACK_ARGS='{"api_auth": "IAM"}'` (tests/integration/README.md).
"""

import json

from market_data_pipeline.config import ApiAuth

from tests.integration.conftest import Env
from tests.integration.test_end_to_end import symbol, test_api_ingest_202_400_and_unauthenticated_403
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
