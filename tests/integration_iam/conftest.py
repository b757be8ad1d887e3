"""Fixtures of the IAM-auth checks (R-API-4, R-RUN-3): a local stack of its own deployed with the non-default args
`api_auth` = IAM and `api_archive` = true (one stack for both: each one costs a start-up), seen through the
integration suite's `Env`. Everything it started is stopped by PID at the end."""

from collections.abc import Iterator

import pytest
from market_data_pipeline.config import ApiAuth

from tests.integration.conftest import Env, local_stack_outputs


@pytest.fixture(scope="package")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The flat outputs of a local stack whose API uses IAM auth and archives accepted bodies."""
    with local_stack_outputs(
        tmp_path_factory.mktemp("iam-stack"), "iam", {"api_auth": ApiAuth.IAM.value, "api_archive": True}
    ) as out:
        yield out


@pytest.fixture(scope="package")
def env(outputs: dict[str, str]) -> Env:
    """The IAM deployment as the integration suite sees it (requests SigV4-signed)."""
    return Env(outputs)
