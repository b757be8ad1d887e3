"""The Pulumi mocks harness of the tests: the mocks themselves live in tools/local/mocks.py (the local tools record the
component with them); this module re-exports them and adds the tests' policy helper."""

import json
from typing import Any

from tools.local.mocks import ACCOUNT, REGION, AwsMocks, run_pulumi, unsecret

__all__ = ["ACCOUNT", "REGION", "AwsMocks", "policy_doc", "run_pulumi", "unsecret"]


def policy_doc(value: Any) -> dict[str, Any]:
    """Parse a policy document recorded as a JSON string (or already a dict)."""
    return json.loads(value) if isinstance(value, str) else dict(value)
