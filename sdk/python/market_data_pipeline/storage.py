"""Storage (R-S3, R-DDB): the raw-data bucket with its guards and the MarketDataState table."""

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .policies import tls_only_bucket_policy


def lifecycle_rules(data_retention_days: int) -> list[dict[str, Any]]:
    """Lifecycle rules giving real retention on a versioned bucket (R-S3-4).

    Current versions expire after `data_retention_days` (S3 adds a delete marker), noncurrent versions go
    NONCURRENT_VERSION_DAYS later, incomplete multipart uploads are aborted, and expired delete markers are
    removed. The delete-marker cleanup is its own rule: S3 rejects `days` and `expired_object_delete_marker`
    in one expiration.
    """
    everything = {"prefix": ""}
    return [
        {
            "id": "expire-current-versions",
            "status": "Enabled",
            "filter": everything,
            "expiration": {"days": data_retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": c.NONCURRENT_VERSION_DAYS},
            "abort_incomplete_multipart_upload": {"days_after_initiation": c.ABORT_MULTIPART_DAYS},
        },
        {
            "id": "remove-expired-delete-markers",
            "status": "Enabled",
            "filter": everything,
            "expiration": {"expired_object_delete_marker": True},
        },
    ]


class Storage(pulumi.ComponentResource):
    """The raw-data bucket (encrypted, versioned, lifecycle-managed, private, TLS-only, force-destroyable) and
    the MarketDataState table (on-demand, PITR, SSE, TTL, destroyable)."""

    bucket: aws.s3.Bucket
    table: aws.dynamodb.Table

    def __init__(
        self,
        name: str,
        cfg: PipelineConfig,
        account_id: pulumi.Input[str],
        region: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Create the bucket, its configuration resources and the table as children."""
        super().__init__("market-data-pipeline:internal:Storage", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(cfg.tags)
        s = cfg.suffix

        # R-S3-1, R-S3-5: named with the suffix (and the account and region for global uniqueness), force destroy.
        self.bucket = aws.s3.Bucket(
            f"{name}-raw",
            bucket=pulumi.Output.all(account_id, region).apply(lambda v: naming.bucket_name(s, v[0], v[1])),
            force_destroy=True,
            tags=tags,
            opts=child,
        )
        bucket_child = pulumi.ResourceOptions(parent=self.bucket)
        # R-S3-2: SSE-KMS with the AWS-managed aws/s3 key and S3 Bucket Keys.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-raw-sse",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"},
                    "bucket_key_enabled": True,
                }
            ],
            opts=bucket_child,
        )
        # R-S3-3
        versioning = aws.s3.BucketVersioning(
            f"{name}-raw-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=bucket_child,
        )
        # R-S3-2: all public access blocked.
        pab = aws.s3.BucketPublicAccessBlock(
            f"{name}-raw-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=bucket_child,
        )
        # R-S3-2: TLS only.
        aws.s3.BucketPolicy(
            f"{name}-raw-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[pab]),
        )
        # R-S3-4: lifecycle needs versioning in place first.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-raw-lifecycle",
            bucket=self.bucket.id,
            rules=lifecycle_rules(cfg.data_retention_days),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[versioning]),
        )

        # R-DDB-1, R-DDB-2
        self.table = aws.dynamodb.Table(
            f"{name}-state",
            name=naming.table_name(s),
            attributes=[{"name": c.TABLE_HASH_KEY, "type": "S"}, {"name": c.TABLE_RANGE_KEY, "type": "N"}],
            hash_key=c.TABLE_HASH_KEY,
            range_key=c.TABLE_RANGE_KEY,
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            ttl={"attribute_name": c.TTL_ATTRIBUTE, "enabled": True},
            deletion_protection_enabled=False,
            tags=tags,
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.bucket, "table": self.table.name})
