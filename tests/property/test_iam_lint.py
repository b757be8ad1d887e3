"""IAM policies linted with parliament, the policy linter of the field (issue 2, acceptance 3; R-SEC-1, R-SEC-2).

Every policy document the component gives a role (inline policies, `RolePolicy`, customer-managed policies
attached) and every resource policy it writes (bucket, queues, topic) is run through
`parliament.analyze_policy_string`. The ARNs are the ones the component builds from the mocks' fabricated
attributes (account 123456789012, us-east-1), so they have the real shapes parliament checks.

Finding codes (parliament 1.6.4 `config.yaml`) treated as failures: all of them, in particular
UNKNOWN_ACTION, UNKNOWN_PREFIX (actions AWS does not have), INVALID_ARN (malformed ARNs), RESOURCE_MISMATCH
(an action on a resource type it cannot apply to), MALFORMED / MALFORMED_JSON / EXCEPTION, UNKNOWN_PRINCIPAL,
UNKNOWN_CONDITION_FOR_ACTION, UNKNOWN_OPERATOR, MISMATCHED_TYPE*, RESOURCE_STAR / RESOURCE_EFFECTIVELY_STAR,
DUPLICATE_SID / INVALID_SID, NO_VERSION / OLD_VERSION / INVALID_VERSION, RESOURCE_POLICY_PRIVILEGE_ESCALATION.
Deliberately accepted: none. (The X-Ray statement's `Resource: "*"` draws no RESOURCE_STAR: parliament knows the
X-Ray write actions have no resource-level permissions.) parliament checks RESOURCE_MISMATCH on Allow only;
unknown actions and bad ARNs are checked on Deny statements too.
"""

import copy
import json
from typing import Any

import parliament
import pytest
from market_data_pipeline import MarketDataPipeline

from tests.harness import AwsMocks, policy_doc, run_pulumi
from tests.property.graph import role_policies

ACCEPTED: dict[str, str] = {}
"""Finding issue codes deliberately accepted, with the reason (none)."""

CONFIGS: list[dict[str, Any]] = [
    {"environment_suffix": "prod"},
    {
        "environment_suffix": "dev-2",
        "lambda_runtime": "nodejs22.x",
        "api_auth": "IAM",
        "alarm_email": "a@b.co",
    },
    {"environment_suffix": "z" * 20, "manage_api_gateway_account": False, "tags": {"Team": "quant"}},
]
RESOURCE_POLICY_TYPES = {
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
}


def lint(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """parliament's findings for one policy document: (issue code, detail)."""
    policy = parliament.analyze_policy_string(json.dumps(doc))
    return [(f.issue, f.detail) for f in policy.findings if f.issue not in ACCEPTED]


def _documents(mocks: AwsMocks) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    roles = {rp.name or rp.role: rp.documents for rp in role_policies(mocks).values()}
    resource_policies = {
        f"{r.typ} {r.name}": policy_doc(mocks.inputs(r)[key])
        for typ, key in RESOURCE_POLICY_TYPES.items()
        for r in mocks.of_type(typ)
    }
    return roles, resource_policies


@pytest.mark.parametrize("args", CONFIGS, ids=lambda a: a["environment_suffix"])
def test_r_sec_1_every_policy_passes_parliament(args: dict[str, Any]) -> None:
    """R-SEC-1/R-SEC-2: no unknown action, malformed ARN, resource mismatch (or any other finding)."""
    mocks, _ = run_pulumi(lambda: MarketDataPipeline("md", args))  # type: ignore[arg-type]
    roles, resource_policies = _documents(mocks)
    functions = [
        f"{f}Role-{args['environment_suffix']}-us-east-1" for f in ("DataIngestion", "DataProcessor")
    ]
    assert set(functions) <= set(roles), f"function roles not found in {sorted(roles)}"
    assert len(roles) >= 4 and all(roles.values()), {k: len(v) for k, v in roles.items()}
    findings = {
        f"role {name} policy {i}": lint(doc) for name, docs in roles.items() for i, doc in enumerate(docs)
    }
    findings.update({what: lint(doc) for what, doc in resource_policies.items()})
    assert {k: v for k, v in findings.items() if v} == {}
    assert len(findings) >= 5


def _a_role_policy() -> dict[str, Any]:
    mocks, _ = run_pulumi(lambda: MarketDataPipeline("md", {"environment_suffix": "lint"}))
    roles, _ = _documents(mocks)
    return roles["DataIngestionRole-lint-us-east-1"][0]


def _allow(doc: dict[str, Any]) -> dict[str, Any]:
    return next(
        s
        for s in doc["Statement"]
        if s["Effect"] == "Allow" and not any(str(a).startswith("xray:") for a in s["Action"])
    )


def test_lint_flags_deliberately_broken_policies() -> None:
    """The lint can fail: a misspelt action, an unknown service, a malformed ARN and a resource mismatch."""
    good = _a_role_policy()
    assert lint(good) == []

    typo = copy.deepcopy(good)
    stmt = _allow(typo)
    stmt["Action"] = [*stmt["Action"], "s3:GetObjekt"]
    assert "UNKNOWN_ACTION" in {i for i, _ in lint(typo)}

    prefix = copy.deepcopy(good)
    _allow(prefix)["Action"] = ["marketdata:PutTick"]
    assert "UNKNOWN_PREFIX" in {i for i, _ in lint(prefix)}

    bad_arn = copy.deepcopy(good)
    _allow(bad_arn)["Resource"] = ["arn:aws:s3:market-data-raw"]
    assert "INVALID_ARN" in {i for i, _ in lint(bad_arn)}

    mismatch = copy.deepcopy(good)
    _allow(mismatch)["Action"] = ["sqs:SendMessage"]
    _allow(mismatch)["Resource"] = ["arn:aws:dynamodb:us-east-1:123456789012:table/MarketDataState-lint"]
    assert "RESOURCE_MISMATCH" in {i for i, _ in lint(mismatch)}
