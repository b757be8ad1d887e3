"""Storage under mocks: the raw-data bucket (R-S3-1..5) and the state table (R-DDB-1, R-DDB-2)."""

from typing import Any

from tests.harness import ACCOUNT, policy_doc
from tests.unit.conftest import Run, deploy

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ID = f"market-data-prod-{ACCOUNT}-us-east-1"  # the mock id of a bucket is its name


def _bucket_children(run: Run, typ: str) -> list[dict[str, Any]]:
    found = run.all_inputs(typ)
    assert found, f"no {typ}"
    assert all(i["bucket"] == BUCKET_ID for i in found), "configuration must target our bucket"
    return found


# proves R-S3-1
def test_r_s3_1_bucket_name_holds_suffix_and_account(default_run: Run) -> None:
    bucket = default_run.one(BUCKET)
    assert bucket["bucket"] == f"market-data-prod-{ACCOUNT}-us-east-1"
    assert default_run.outputs["BucketName"] == bucket["bucket"]


# proves R-S3-2, R-SEC-3
def test_r_s3_2_encryption_public_access_block_and_tls_only_policy(default_run: Run) -> None:
    (sse,) = _bucket_children(
        default_run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = sse["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert "kmsMasterKeyId" not in rule["applyServerSideEncryptionByDefault"]  # the AWS-managed aws/s3 key
    assert rule["bucketKeyEnabled"] is True

    (pab,) = _bucket_children(default_run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert pab[flag] is True, flag

    (policy,) = _bucket_children(default_run, "aws:s3/bucketPolicy:BucketPolicy")
    (statement,) = policy_doc(policy["policy"])["Statement"]
    arn = f"arn:aws:s3:::market-data-prod-{ACCOUNT}-us-east-1"
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert set(statement["Resource"]) == {arn, f"{arn}/*"}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# proves R-S3-3
def test_r_s3_3_versioning_enabled(default_run: Run) -> None:
    (versioning,) = _bucket_children(default_run, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}


# proves R-S3-4
def test_r_s3_4_lifecycle_really_expires_versions_markers_and_uploads(default_run: Run) -> None:
    (lc,) = _bucket_children(default_run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = lc["rules"]
    assert all(r["status"] == "Enabled" for r in rules)
    assert all(r["filter"] == {"prefix": ""} for r in rules)  # the whole bucket
    current = [r for r in rules if (r.get("expiration") or {}).get("days")]
    assert [r["expiration"]["days"] for r in current] == [30]
    noncurrent = [
        r["noncurrentVersionExpiration"]["noncurrentDays"]
        for r in rules
        if r.get("noncurrentVersionExpiration")
    ]
    assert noncurrent and all(1 <= d <= 30 for d in noncurrent)
    markers = [r for r in rules if (r.get("expiration") or {}).get("expiredObjectDeleteMarker")]
    assert len(markers) == 1
    # S3 rejects `days` together with `expired_object_delete_marker` in one expiration.
    assert "days" not in markers[0]["expiration"]
    aborts = [
        r["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
        for r in rules
        if r.get("abortIncompleteMultipartUpload")
    ]
    assert aborts and all(d >= 1 for d in aborts)


# proves R-S3-4
def test_r_s3_4_retention_follows_the_arg() -> None:
    run = deploy({"data_retention_days": 3})
    (lc,) = run.all_inputs("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert [r["expiration"]["days"] for r in lc["rules"] if (r.get("expiration") or {}).get("days")] == [3]


# proves R-S3-5
def test_r_s3_5_bucket_force_destroys_and_table_is_deletable(default_run: Run) -> None:
    assert default_run.one(BUCKET)["forceDestroy"] is True
    # No retain or protect policy anywhere in the graph (pulumi destroy removes everything) but on the region's
    # API Gateway account setting and its role, which serve every API of the region (issue 11: kept on destroy).
    assert {a.name for a in default_run.mocks.created} <= set(default_run.mocks.options)
    assert not [n for n, o in default_run.mocks.options.items() if o["protect"]]
    kept = {n for n, o in default_run.mocks.options.items() if o["retain_on_delete"]}
    assert kept == {
        "md-api-apigw-account",
        "md-api-apigw-logs-role",
        "md-api-apigw-logs-managed-policy",
        "md-api-apigw-logs-policy",
    }
    assert default_run.one("aws:dynamodb/table:Table")["deletionProtectionEnabled"] is False


# proves R-DDB-1
def test_r_ddb_1_table_name_and_keys(default_run: Run) -> None:
    table = default_run.one("aws:dynamodb/table:Table")
    assert table["name"] == "MarketDataState-prod"
    assert table["hashKey"] == "symbol"
    assert table["rangeKey"] == "timestamp"
    assert {(a["name"], a["type"]) for a in table["attributes"]} == {("symbol", "S"), ("timestamp", "N")}
    assert default_run.outputs["TableName"] == "MarketDataState-prod"
    assert default_run.outputs["TableArn"].endswith(":table/MarketDataState-prod")


# proves R-DDB-2, R-SEC-3
def test_r_ddb_2_on_demand_pitr_sse_ttl(default_run: Run) -> None:
    table = default_run.one("aws:dynamodb/table:Table")
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["pointInTimeRecovery"]["enabled"] is True
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    assert table["deletionProtectionEnabled"] is False
