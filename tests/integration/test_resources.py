"""The deployed resources, read back through AWS APIs, against the specification's values (R-RUN-3).

Spec values are written here on purpose (not imported from the component): a changed default must fail.
"""

import json
from typing import Any

import pytest
from market_data_pipeline.config import ApiAuth
from market_data_pipeline.constants import API_KEY_OUTPUT

from tests.integration.conftest import Env, expected_output_keys

SPEC_TAGS = {"Environment": "Production", "Project": "MarketAnalytics"}  # R-ORG-1
DATA_RETENTION_DAYS = 30  # R-S3-4
LOG_RETENTION_DAYS = 7  # R-MON-1
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # R-SQS-1
QUEUE_VISIBILITY_SECONDS = 300  # R-SQS-1
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # R-SQS-2


def _denies_insecure_transport(policy: dict[str, Any]) -> bool:
    """A Deny statement on aws:SecureTransport = false (TLS-only policy)."""
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Deny":
            continue
        cond = st.get("Condition", {}).get("Bool", {})
        if str(cond.get("aws:SecureTransport", "")).lower() == "false":
            return True
    return False


# R-RUN-3, R-PKG-6, R-API-4
def test_flat_outputs_have_every_key(env: Env) -> None:
    """Every stack output of the component is there; ApiKeyId exactly when the API itself demands API keys (its
    answer to a request without key or signature), so a lost ApiKeyId fails here, not just in the API tests."""
    auth = env.probed_auth()
    wanted = expected_output_keys(auth)
    missing = sorted(k for k in wanted if not env.outputs.get(k))
    assert not missing, f"flat outputs lack {missing} (the API uses {auth.value} auth)"
    if API_KEY_OUTPUT not in wanted:
        assert API_KEY_OUTPUT not in env.outputs, (
            f"{API_KEY_OUTPUT} exported, but the API uses {auth.value} auth"
        )
    url = env.outputs["ApiUrl"]
    assert url.endswith("/"), url
    if env.local:
        assert url.startswith("http://127.0.0.1:"), url
    else:
        assert url.startswith("https://"), url  # R-API-5


# R-RUN-3, R-API-4
def test_key_check_fails_when_api_key_id_disagrees_with_the_api(env: Env) -> None:
    """The check above is no tautology of `Env.auth` (which trusts the outputs): the same deployment's outputs without
    ApiKeyId (API keys) or with one (IAM) fail it, because the API's own answer decides what is required."""
    if env.auth is ApiAuth.API_KEY:
        wrong = {k: v for k, v in env.outputs.items() if k != API_KEY_OUTPUT}
    else:
        wrong = {**env.outputs, API_KEY_OUTPUT: "not-a-key"}
    with pytest.raises(AssertionError, match=API_KEY_OUTPUT):
        test_flat_outputs_have_every_key(Env(wrong))


# R-ORG-2
def test_physical_names_carry_the_suffix(env: Env) -> None:
    s = env.suffix
    o = env.outputs
    assert o["TableName"] == f"MarketDataState-{s}"  # R-DDB-1
    assert o["QueueUrl"].rsplit("/", 1)[-1] == f"ProcessingQueue-{s}"  # R-SQS-1
    assert o["IngestionFunctionName"] == f"DataIngestion-{s}"  # R-FN-1
    assert o["ProcessorFunctionName"] == f"DataProcessor-{s}"
    assert o["AggregatorFunctionName"] == f"DataAggregator-{s}"
    assert o["QueryFunctionName"] == f"DataQuery-{s}"
    assert f"-{s}-" in o["BucketName"] or o["BucketName"].endswith(f"-{s}")  # R-S3-1
    assert o["EventBusName"].endswith(f"-{s}")


# R-S3-3
def test_bucket_versioning(env: Env) -> None:
    v = env.client("s3").get_bucket_versioning(Bucket=env.outputs["BucketName"])
    assert v.get("Status") == "Enabled"


# R-S3-2, R-SEC-3
def test_bucket_encryption_public_block_and_tls_policy(env: Env) -> None:
    s3, b = env.client("s3"), env.outputs["BucketName"]
    rules = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
    algos = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    assert algos and all(a in ("aws:kms", "AES256") for a in algos), algos
    for r in rules:
        key = r["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
        if r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms":
            assert key in (None, "", "alias/aws/s3") or str(key).endswith(":alias/aws/s3"), (
                key
            )  # AWS-managed key
            assert r.get("BucketKeyEnabled") is True
    pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=b)["Policy"])
    assert _denies_insecure_transport(policy), policy


# R-S3-4
def test_bucket_lifecycle_expires_versions(env: Env) -> None:
    rules = env.client("s3").get_bucket_lifecycle_configuration(Bucket=env.outputs["BucketName"])["Rules"]
    enabled = [r for r in rules if r["Status"] == "Enabled"]
    current = [r for r in enabled if r.get("Expiration", {}).get("Days") == DATA_RETENTION_DAYS]
    assert current, f"no enabled rule expires current versions after {DATA_RETENTION_DAYS} days: {rules}"
    assert any("NoncurrentVersionExpiration" in r for r in enabled), (
        "noncurrent versions are never cleaned up"
    )
    assert any(r.get("Expiration", {}).get("ExpiredObjectDeleteMarker") is True for r in enabled) or any(
        "Days" in r.get("Expiration", {}) and "NoncurrentVersionExpiration" in r for r in enabled
    ), "expired delete markers are never removed"
    assert any("AbortIncompleteMultipartUpload" in r for r in enabled), "incomplete multipart uploads kept"


# R-ORG-1
def test_bucket_tags(env: Env) -> None:
    tags = env.client("s3").get_bucket_tagging(Bucket=env.outputs["BucketName"])["TagSet"]
    got = {t["Key"]: t["Value"] for t in tags}
    assert SPEC_TAGS.items() <= got.items(), got


# R-DDB-1, R-DDB-2
def test_table_keys_billing_pitr_sse_ttl(env: Env) -> None:
    ddb, name = env.client("dynamodb"), env.outputs["TableName"]
    t = ddb.describe_table(TableName=name)["Table"]
    assert t["TableArn"] == env.outputs["TableArn"]
    keys = {k["KeyType"]: k["AttributeName"] for k in t["KeySchema"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]}
    assert keys == {"HASH": "symbol", "RANGE": "timestamp"}
    assert types["symbol"] == "S" and types["timestamp"] == "N"
    assert t.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    assert t.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING")
    assert t.get("DeletionProtectionEnabled", False) is False  # destroyable
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING") and ttl["AttributeName"] == "expiresAt"
    tags = {x["Key"]: x["Value"] for x in ddb.list_tags_of_resource(ResourceArn=t["TableArn"])["Tags"]}
    assert SPEC_TAGS.items() <= tags.items(), tags  # R-ORG-1


def _queue_attrs(env: Env, url: str) -> dict[str, str]:
    return dict(env.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


# R-SQS-1, R-SQS-2
def test_queue_attributes_and_redrive(env: Env) -> None:
    q = _queue_attrs(env, env.outputs["QueueUrl"])
    dlq = _queue_attrs(env, env.outputs["DlqUrl"])
    assert int(q["MessageRetentionPeriod"]) == QUEUE_RETENTION_SECONDS
    assert int(q["VisibilityTimeout"]) == QUEUE_VISIBILITY_SECONDS
    assert q.get("SqsManagedSseEnabled") == "true" or q.get("KmsMasterKeyId"), "queue not encrypted"
    assert _denies_insecure_transport(json.loads(q["Policy"])), "queue policy is not TLS-only"
    redrive = json.loads(q["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) >= 1
    assert int(dlq["MessageRetentionPeriod"]) == DLQ_RETENTION_SECONDS
    assert int(dlq["MessageRetentionPeriod"]) > int(q["MessageRetentionPeriod"])
    assert dlq.get("SqsManagedSseEnabled") == "true" or dlq.get("KmsMasterKeyId"), "DLQ not encrypted"
    tags = env.client("sqs").list_queue_tags(QueueUrl=env.outputs["QueueUrl"]).get("Tags", {})
    assert SPEC_TAGS.items() <= tags.items(), tags  # R-ORG-1


def _function_target_ok(env: Env, arn: str, function_name: str) -> bool:
    """The target runs the function: its ARN on AWS; locally the SQS shim queue the host polls for it."""
    if arn.endswith(f":function:{function_name}"):
        return True
    return env.local and arn.startswith("arn:aws:sqs:") and ":local-rule-" in arn


def _rules(env: Env, bus: str) -> list[dict[str, Any]]:
    ev = env.client("events")
    rules: list[dict[str, Any]] = []
    kw: dict[str, Any] = {"EventBusName": bus}
    for _ in range(100):
        page = ev.list_rules(**kw)
        rules += page["Rules"]
        if not page.get("NextToken"):
            break
        kw["NextToken"] = page["NextToken"]
    return rules


# R-EVB-1, R-FN-5, R-SQS-3
def test_custom_event_rule_routes_to_aggregator_with_retry_and_dlq(env: Env) -> None:
    bus = env.outputs["EventBusName"]
    ev = env.client("events")
    assert ev.describe_event_bus(Name=bus)["Name"] == bus
    matching = []
    for r in _rules(env, bus):
        pattern = json.loads(r.get("EventPattern") or "{}")
        if pattern.get("source") == ["market-data.processor"] and pattern.get("detail-type") == [
            "TicksStored"
        ]:
            matching.append(r)
    assert len(matching) == 1, f"expected one TicksStored rule on {bus}: {matching}"
    rule = matching[0]
    assert rule["State"] == "ENABLED"
    targets = ev.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
    assert targets, "the TicksStored rule has no target"
    for t in targets:
        assert _buffer_target_ok(env, t["Arn"], rule["Arn"], env.outputs["AggregatorFunctionName"]), t
        assert t.get("RetryPolicy", {}).get("MaximumRetryAttempts") is not None, t  # R-SQS-3
        assert t.get("DeadLetterConfig", {}).get("Arn", "").startswith("arn:aws:sqs:"), t


def _buffer_target_ok(env: Env, arn: str, rule_arn: str, function_name: str) -> bool:
    """R-EVB-1, R-FN-5: the TicksStored rule's target is the aggregation buffer, a queue that admits this rule
    only (aws:SourceArn) and that DataAggregator consumes (its event source mapping; locally the host's)."""
    if not (arn.startswith("arn:aws:sqs:") and arn.rsplit(":", 1)[1].startswith("AggregationQueue-")):
        return False
    sqs = env.client("sqs")
    url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    allows = [st for st in policy["Statement"] if st["Effect"] == "Allow"]
    if [st["Condition"]["ArnEquals"]["aws:SourceArn"] for st in allows] != [rule_arn]:
        return False
    if env.local:
        return True  # the host runs the event source mapping (moto cannot)
    esms = env.client("lambda").list_event_source_mappings(FunctionName=function_name, EventSourceArn=arn)
    return bool(esms["EventSourceMappings"])


# R-EVB-2
def test_schedule_rule_every_5_minutes(env: Env) -> None:
    ev = env.client("events")
    found = []
    for bus in {"default", env.outputs["EventBusName"]}:
        for r in _rules(env, bus):
            if r.get("ScheduleExpression") and r["Name"].endswith(f"-{env.suffix}"):
                found.append((bus, r))
    assert len(found) == 1, f"expected one schedule rule named *-{env.suffix}: {found}"
    bus, rule = found[0]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["State"] == "ENABLED"
    targets = ev.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
    assert targets and all(
        _function_target_ok(env, t["Arn"], env.outputs["AggregatorFunctionName"]) for t in targets
    )
    for t in targets:
        assert t.get("RetryPolicy", {}).get("MaximumRetryAttempts") is not None, t  # R-SQS-3
        assert t.get("DeadLetterConfig", {}).get("Arn", "").startswith("arn:aws:sqs:"), t


# R-MON-1
@pytest.mark.parametrize(
    "key", ["IngestionFunctionName", "ProcessorFunctionName", "AggregatorFunctionName", "QueryFunctionName"]
)
def test_function_log_group_retention(env: Env, key: str) -> None:
    name = f"/aws/lambda/{env.outputs[key]}"
    groups = env.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    group = [g for g in groups if g["logGroupName"] == name]
    assert group, f"log group {name} does not exist"
    assert group[0].get("retentionInDays") == LOG_RETENTION_DAYS, group[0]


FUNCTION_KEYS = (
    "IngestionFunctionName",
    "ProcessorFunctionName",
    "AggregatorFunctionName",
    "QueryFunctionName",
)
NODE_RUNTIMES = {
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
}  # R-FN-2: lambda_runtime's allowed values


# R-FN-1, R-FN-2
@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_function_runtime_memory_tracing(env: Env, key: str) -> None:
    cfg = env.client("lambda").get_function_configuration(FunctionName=env.outputs[key])
    assert cfg["Runtime"] in NODE_RUNTIMES, cfg["Runtime"]
    assert cfg["Handler"] == "index.handler"
    assert cfg["MemorySize"] == 3008  # R-FN-2: "3 GB" that every account accepts
    assert cfg["TracingConfig"]["Mode"] == "Active"
    # one role per function (R-SEC-1), named with the suffix and the region (IAM names are account-wide)
    assert cfg["Role"].split("/")[-1].endswith(f"-{env.suffix}-{env.outputs['Region']}")


# R-SEC-1, R-FN-1
def test_functions_have_their_own_roles_and_the_contract_env(env: Env) -> None:
    lam, o = env.client("lambda"), env.outputs
    cfgs = {k: lam.get_function_configuration(FunctionName=o[k]) for k in FUNCTION_KEYS}
    assert len({c["Role"] for c in cfgs.values()}) == 4, "functions share a role"
    envs = {k: c.get("Environment", {}).get("Variables", {}) for k, c in cfgs.items()}
    # docs/design.md "Function environment"
    assert envs["IngestionFunctionName"]["RAW_BUCKET"] == o["BucketName"]
    assert envs["IngestionFunctionName"]["PROCESSING_QUEUE_URL"] == o["QueueUrl"]
    assert envs["ProcessorFunctionName"]["STATE_TABLE"] == o["TableName"]
    assert envs["ProcessorFunctionName"]["EVENT_BUS_NAME"] == o["EventBusName"]
    assert envs["AggregatorFunctionName"]["STATE_TABLE"] == o["TableName"]
    assert envs["QueryFunctionName"]["STATE_TABLE"] == o["TableName"]
    services = {k: e.get("POWERTOOLS_SERVICE_NAME") for k, e in envs.items()}
    assert services == {
        "IngestionFunctionName": "ingestion",
        "ProcessorFunctionName": "processor",
        "AggregatorFunctionName": "aggregator",
        "QueryFunctionName": "query",
    }


# R-FN-6
def test_queue_visibility_at_least_6x_processor_timeout(env: Env) -> None:
    timeout = env.client("lambda").get_function_configuration(
        FunctionName=env.outputs["ProcessorFunctionName"]
    )["Timeout"]
    visibility = int(_queue_attrs(env, env.outputs["QueueUrl"])["VisibilityTimeout"])
    assert visibility >= 6 * int(timeout), (visibility, timeout)


# R-SQS-3: the asynchronous invocations (S3 -> DataIngestion, EventBridge -> DataAggregator) have retries and an
# on-failure destination
@pytest.mark.parametrize("key", ["IngestionFunctionName", "AggregatorFunctionName"])
def test_async_invocations_have_retries_and_a_failure_destination(env: Env, key: str) -> None:
    cfg = env.client("lambda").get_function_event_invoke_config(FunctionName=env.outputs[key])
    assert cfg.get("MaximumRetryAttempts") is not None and 0 <= cfg["MaximumRetryAttempts"] <= 2
    dest = cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", "")
    assert dest.startswith("arn:aws:sqs:"), cfg
    url = env.client("sqs").get_queue_url(QueueName=dest.rsplit(":", 1)[-1])["QueueUrl"]
    retention = int(_queue_attrs(env, url)["MessageRetentionPeriod"])
    assert retention >= QUEUE_RETENTION_SECONDS  # failed events outlive the work they failed on
