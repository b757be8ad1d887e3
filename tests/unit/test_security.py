"""IAM under mocks (R-SEC-1, R-SEC-2): one role per function, exact allows on exact ARNs, explicit denies."""

from typing import Any

import pytest
from market_data_pipeline import policies

from tests.harness import ACCOUNT, REGION, policy_doc
from tests.unit.conftest import Run, deploy

BUCKET = f"arn:aws:s3:::market-data-prod-{ACCOUNT}-us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/MarketDataState-prod"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/MarketDataEvents-prod"


def sqs(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def logs(fn: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{fn}:*"


QUEUE = sqs("ProcessingQueue-prod")
XRAY = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}


def own_logs(fn: str) -> set[tuple[str, str]]:
    return {("logs:CreateLogStream", logs(fn)), ("logs:PutLogEvents", logs(fn))}


# Independently written expectation: (action, resource) pairs each function may do, and nothing else.
EXPECTED_ALLOWS: dict[str, set[tuple[str, str]]] = {
    "DataIngestion": {
        ("s3:GetObject", f"{BUCKET}/incoming/*"),
        ("s3:GetObject", f"{BUCKET}/rejected/*"),  # HEAD before deleting old rejects (issue 11)
        ("s3:ListBucket", BUCKET),  # only for the two prefixes: test below
        ("s3:PutObject", f"{BUCKET}/rejected/*"),
        ("s3:AbortMultipartUpload", f"{BUCKET}/rejected/*"),
        ("s3:DeleteObject", f"{BUCKET}/rejected/*"),
        ("sqs:SendMessage", QUEUE),
        ("sqs:SendMessage", sqs("DataIngestionFailureDLQ-prod")),
    },
    "DataProcessor": {
        ("sqs:ReceiveMessage", QUEUE),
        ("sqs:DeleteMessage", QUEUE),
        ("sqs:ChangeMessageVisibility", QUEUE),
        ("sqs:GetQueueAttributes", QUEUE),
        ("dynamodb:BatchWriteItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("events:PutEvents", BUS),
    },
    "DataAggregator": {
        ("dynamodb:Query", TABLE),
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:PutItem", TABLE),
        ("sqs:SendMessage", sqs("DataAggregatorFailureDLQ-prod")),
        # R-FN-5: its event source (the aggregation buffer) and its deferrals to it
        ("sqs:ReceiveMessage", sqs("AggregationQueue-prod")),
        ("sqs:DeleteMessage", sqs("AggregationQueue-prod")),
        ("sqs:ChangeMessageVisibility", sqs("AggregationQueue-prod")),
        ("sqs:GetQueueAttributes", sqs("AggregationQueue-prod")),
        ("sqs:SendMessage", sqs("AggregationQueue-prod")),
    },
    "DataQuery": {("dynamodb:Query", TABLE)},
}


def pairs(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    out = set()
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out |= {(a, r) for a in actions for r in resources}
    return out


def statements(doc: dict[str, Any], effect: str) -> list[dict[str, Any]]:
    return [s for s in doc["Statement"] if s["Effect"] == effect]


# proves R-SEC-1
def test_r_sec_1_one_role_per_function_trusting_lambda_only(default_run: Run) -> None:
    roles = default_run.by_name("aws:iam/role:Role")
    fn_roles = {f["name"]: f["role"] for f in default_run.all_inputs("aws:lambda/function:Function")}
    assert len(set(fn_roles.values())) == 4  # no shared role
    for fn, role_arn in fn_roles.items():
        role_name = role_arn.rsplit("/", 1)[1]
        assert role_name == f"{fn.split('-')[0]}Role-prod-{REGION}"  # IAM names are account-wide
        trust = policy_doc(roles[role_name]["assumeRolePolicy"])
        assert trust["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        assert not roles[role_name].get("managedPolicyArns")
    # The only attachment is AWS's managed policy on the API Gateway logs role (below), never on a function's role.
    (attached,) = default_run.all_inputs("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attached["role"] == "md-api-apigw-logs-role-id"


# proves R-SEC-1
@pytest.mark.parametrize("fn", sorted(EXPECTED_ALLOWS))
def test_r_sec_1_allows_are_exact_actions_on_exact_arns(default_run: Run, fn: str) -> None:
    doc = default_run.role_policy(f"{fn}Role-prod-{REGION}")
    allowed = pairs(statements(doc, "Allow"))
    assert allowed == EXPECTED_ALLOWS[fn] | own_logs(f"{fn}-prod") | XRAY
    star = {(a, r) for a, r in allowed if r == "*"}
    assert star == XRAY  # X-Ray is the only `*` resource
    assert all("*" not in a for a, _ in allowed)


# proves R-SEC-1, R-SEC-4 (issue 10): the api/ archive is granted exactly when api_archive asks for it
@pytest.mark.parametrize("archive", [False, True])
def test_r_sec_1_ingestion_may_write_api_archives_only_with_api_archive(archive: bool) -> None:
    run = deploy({"api_archive": archive})
    doc = run.role_policy(f"DataIngestionRole-prod-{REGION}")
    allowed = pairs(statements(doc, "Allow"))
    extra = {("s3:PutObject", f"{BUCKET}/api/*")} if archive else set()
    assert allowed == EXPECTED_ALLOWS["DataIngestion"] | extra | own_logs("DataIngestion-prod") | XRAY
    (fn,) = [f for f in run.all_inputs("aws:lambda/function:Function") if f["name"] == "DataIngestion-prod"]
    assert fn["environment"]["variables"]["API_ARCHIVE"] == ("true" if archive else "false")


# proves R-SEC-1 (issue 11): a deleted incoming/ object is a 404 "missing", not a 403 the function retries
def test_r_sec_1_ingestion_lists_only_its_prefixes_so_missing_keys_are_404(default_run: Run) -> None:
    doc = default_run.role_policy(f"DataIngestionRole-prod-{REGION}")
    (listing,) = [st for st in statements(doc, "Allow") if "s3:ListBucket" in st["Action"]]
    assert listing["Action"] == ["s3:ListBucket"] and listing["Resource"] == [BUCKET]
    # S3 decides 404-or-403 for a missing key by evaluating ListBucket with s3:prefix = the key: exactly the
    # function's own read prefixes, nothing else of the bucket can be listed.
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*", "rejected/*"]}}
    for fn in ("DataProcessor", "DataAggregator", "DataQuery"):
        other = default_run.role_policy(f"{fn}Role-prod-{REGION}")
        assert not [st for st in statements(other, "Allow") if "s3:ListBucket" in st["Action"]], fn


# proves R-SEC-2
@pytest.mark.parametrize("fn", sorted(EXPECTED_ALLOWS))
def test_r_sec_2_each_role_denies_destruction_and_insecure_transport(default_run: Run, fn: str) -> None:
    doc = default_run.role_policy(f"{fn}Role-prod-{REGION}")
    denied = pairs(statements(doc, "Deny"))
    must_deny = {
        ("s3:DeleteBucket", BUCKET),
        ("s3:PutBucketPolicy", BUCKET),
        ("s3:DeleteObjectVersion", f"{BUCKET}/*"),
        ("dynamodb:DeleteTable", TABLE),
        ("dynamodb:UpdateTable", TABLE),
        ("sqs:DeleteQueue", QUEUE),
        ("sqs:PurgeQueue", QUEUE),
        ("sqs:DeleteQueue", sqs("ProcessingQueueDLQ-prod")),
        ("events:DeleteEventBus", BUS),
    }
    assert must_deny <= denied
    insecure = [s for s in statements(doc, "Deny") if s.get("Condition")]
    assert insecure and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in insecure)
    assert {("s3:*", BUCKET), ("dynamodb:*", TABLE), ("sqs:*", QUEUE), ("events:*", BUS)} <= pairs(insecure)
    # A Deny must never cancel what the function needs.
    unconditional = pairs([s for s in statements(doc, "Deny") if not s.get("Condition")])
    assert not (unconditional & EXPECTED_ALLOWS[fn])


# proves R-SEC-2
def test_r_sec_2_query_role_is_read_only(default_run: Run) -> None:
    doc = default_run.role_policy(f"DataQueryRole-prod-{REGION}")
    denied = pairs(statements(doc, "Deny"))
    for action in (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ):
        assert (action, TABLE) in denied
    assert {a for a, _ in pairs(statements(doc, "Allow")) if a.startswith("dynamodb:")} == {"dynamodb:Query"}


# proves R-SEC-2, R-API-5 (issue 11: the account-wide API Gateway logs role)
def test_r_sec_2_api_gateway_logs_role_has_aws_managed_policy_and_a_deny(default_run: Run) -> None:
    roles = {a.name: default_run.mocks.inputs(a) for a in default_run.of_type("aws:iam/role:Role")}
    role = roles["md-api-apigw-logs-role"]
    assert (
        role["namePrefix"] == "ApiGwLogs-prod-" and "name" not in role
    )  # a new role per deploy: no collision
    trust = policy_doc(role["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    (attached,) = default_run.all_inputs("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    # AWS's managed policy lets API Gateway write the logs of EVERY API of the region (the setting is shared).
    assert (
        attached["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    doc = default_run.role_policy("ApiGwLogs-prod-")
    assert statements(doc, "Allow") == []
    (deny,) = statements(doc, "Deny")
    assert "logs:DeleteLogGroup" in deny["Action"]


# proves R-SEC-1, R-SEC-2
def test_r_sec_policies_are_pure_functions_of_arns() -> None:
    protected = policies.ProtectedArns(
        bucket_arn="arn:aws:s3:::b",
        table_arn="arn:aws:dynamodb:us-east-1:1:table/t",
        queue_arns=("arn:aws:sqs:us-east-1:1:q",),
        bus_arn="arn:aws:events:us-east-1:1:event-bus/e",
        rule_arns=("arn:aws:events:us-east-1:1:rule/e/r",),
    )
    doc = policies.query_policy("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/q", protected)
    assert doc == policies.query_policy("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/q", protected)
    assert ("dynamodb:Query", "arn:aws:dynamodb:us-east-1:1:table/t") in pairs(statements(doc, "Allow"))
    assert ("events:DeleteRule", "arn:aws:events:us-east-1:1:rule/e/r") in pairs(statements(doc, "Deny"))
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids))  # IAM requires unique Sids
