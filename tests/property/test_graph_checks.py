"""The checkers the property tests rely on can fail: each flags a deliberately broken input (R-ORG-1/2, R-SEC-1/2)."""

from typing import Any

import pulumi

from tests.harness import AwsMocks
from tests.property.graph import (
    NAME_RULES,
    RolePolicies,
    check_name,
    iam_problems,
    physical_name_problems,
    suffix_token,
    tag_problems,
)

REQUIRED = {"Environment": "Production", "Project": "MarketAnalytics"}


def _mocks(*resources: tuple[str, str, dict[str, Any]]) -> AwsMocks:
    mocks = AwsMocks()
    for typ, name, inputs in resources:
        mocks.created.append(pulumi.runtime.MockResourceArgs(typ, name, inputs, custom=True))
    return mocks


def test_r_org_2_suffix_token() -> None:
    assert suffix_token("DataIngestion-prod", "prod")
    assert suffix_token("market-data-raw-prod-123456789012", "prod")
    assert suffix_token("/aws/apigateway/MarketDataApi-prod/access", "prod")
    assert suffix_token("prod", "prod")
    assert not suffix_token("DataIngestion-production", "prod")
    assert not suffix_token("DataIngestionprod", "prod")
    assert not suffix_token("DataIngestion", "prod")


def test_r_org_2_name_rules_flag_length_characters_and_suffix() -> None:
    fn = NAME_RULES["aws:lambda/function:Function"]
    assert check_name(fn, "DataIngestion-dev", "dev", "f") == []
    assert check_name(fn, "DataIngestion-" + "d" * 51, "d" * 51, "f")  # 65 > 64
    assert check_name(fn, "Data.Ingestion-dev", "dev", "f")  # '.' not allowed in function names
    assert check_name(fn, "DataIngestion", "dev", "f")  # no suffix
    bucket = NAME_RULES["aws:s3/bucket:Bucket"]
    assert check_name(bucket, "Market-dev", "dev", "b")  # uppercase
    assert check_name(NAME_RULES["aws:sqs/queue:Queue"], "Q-" + "x" * 79, "x" * 79, "q")  # 81 > 80


def test_r_org_2_unclassified_auto_named_and_duplicate_names_are_flagged() -> None:
    mocks = _mocks(
        ("aws:sqs/queue:Queue", "q1", {"name": "ProcessingQueue-dev"}),
        ("aws:sqs/queue:Queue", "q2", {"name": "ProcessingQueue-dev"}),
        ("aws:dynamodb/table:Table", "t", {}),
        ("aws:ec2/vpc:Vpc", "v", {}),
    )
    problems, checked = physical_name_problems(mocks, "dev")
    text = "\n".join(problems)
    assert "used twice" in text
    assert "no explicit physical name" in text
    assert "not in NAME_RULES" in text
    assert checked == 2


def test_r_org_1_missing_tags_are_flagged() -> None:
    mocks = _mocks(
        ("aws:sqs/queue:Queue", "q", {"name": "Q-dev", "tags": {"Environment": "Production"}}),
        ("aws:lambda/permission:Permission", "p", {}),  # not taggable: not checked
        ("aws:dynamodb/table:Table", "t", {"name": "T-dev", "tags": {**REQUIRED, "Team": "x"}}),
    )
    problems, checked = tag_problems(mocks, {**REQUIRED, "Team": "x"})
    assert checked == 2
    assert len(problems) == 1 and "'q'" in problems[0]


def _role(*statements: dict[str, Any], managed: list[str] | None = None) -> dict[str, RolePolicies]:
    rp = RolePolicies(
        role="r", name="R-dev", documents=[{"Version": "2012-10-17", "Statement": list(statements)}]
    )
    rp.managed_arns = managed or []
    return {"r": rp}


DENY = {"Effect": "Deny", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/*"]}
OK = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/incoming/*"]}
XRAY = {"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"}


def test_r_sec_1_r_sec_2_iam_checker_flags_wildcards_and_missing_deny() -> None:
    assert iam_problems(_role(OK, XRAY, DENY)) == []
    assert iam_problems(_role(OK))  # no Deny (R-SEC-2)
    assert iam_problems(_role({**OK, "Action": "*"}, DENY))
    assert iam_problems(_role({**OK, "Action": ["s3:*"]}, DENY))
    assert iam_problems(_role({**OK, "Action": ["s3:Get*"]}, DENY))
    assert iam_problems(_role({**OK, "Resource": "*"}, DENY))  # '*' for non-X-Ray
    assert iam_problems(_role({**XRAY, "Action": ["xray:PutTraceSegments", "s3:GetObject"]}, DENY))
    assert iam_problems(_role({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}, DENY))
    assert iam_problems(_role(OK, DENY, managed=["arn:aws:iam::aws:policy/AdministratorAccess"]))
