"""S3 server access logging without ACLs, whatever the app's feature flags.

CDK's ``server_access_logs_bucket`` grants the S3 logging service through the legacy ``LogDeliveryWrite`` ACL
(and needs an ACL-enabled log bucket) unless the app sets ``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy``.
A library cannot count on an app's flags, so it does what the flag does, always: the log bucket keeps ACLs
disabled (``BucketOwnerEnforced``, AWS's recommendation) and its bucket policy lets
``logging.s3.amazonaws.com`` write under the source bucket's prefix, for that bucket and account only.
"""

from __future__ import annotations

from aws_cdk import FeatureFlags, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .nag import acknowledge


def access_logs_bucket(scope: Construct, id: str, *, of: str) -> s3.Bucket:
    """A retained, S3-encrypted, TLS-only log bucket with ACLs disabled (``of`` names what it logs, for nag)."""
    logs = s3.Bucket(scope, id, encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
                     block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN,
                     object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED)
    acknowledge(logs, "S1", f"This is the server access log bucket of the {of}; logging it to itself would loop.")
    return logs


#: The CDK feature flag under which ``server_access_logs_bucket`` grants through the bucket policy (no ACL).
BUCKET_POLICY_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


def access_log_props(scope: Construct, logs: s3.Bucket, prefix: str) -> dict:
    """The ``s3.Bucket`` properties that log to ``logs`` when the app sets ``BUCKET_POLICY_FLAG`` (CDK then
    does what ``log_access`` does, inside one call); empty otherwise, and the caller calls ``log_access``."""
    if FeatureFlags.of(scope).is_enabled(BUCKET_POLICY_FLAG):
        return {"server_access_logs_bucket": logs, "server_access_logs_prefix": prefix}
    return {}


def data_bucket(scope: Construct, id: str, *, key, what: str, log_prefix: str, rule: str,
                retention_days: int | None, bucket_name: str | None = None, removal_policy=None) -> s3.Bucket:
    """A bucket of model data (``<id>Bucket``, its access logs in ``<id>AccessLogs``): KMS-encrypted with
    ``key``, TLS only, versioned, retained, with server access logs; objects expire after ``retention_days``
    (lifecycle rule ``rule``; None: never, for objects in use until removed), overwritten versions 7 days
    later. ``removal_policy`` default ``RETAIN``."""
    from aws_cdk import Duration, RemovalPolicy

    logs = access_logs_bucket(scope, f"{id}AccessLogs", of=f"{what} bucket")
    logging = access_log_props(scope, logs, log_prefix)
    bucket = s3.Bucket(
        scope, f"{id}Bucket", bucket_name=bucket_name, encryption=s3.BucketEncryption.KMS, encryption_key=key,
        bucket_key_enabled=True, enforce_ssl=True, versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=removal_policy or RemovalPolicy.RETAIN,
        **logging,
        lifecycle_rules=[s3.LifecycleRule(
            id=rule, expiration=None if retention_days is None else Duration.days(retention_days),
            noncurrent_version_expiration=Duration.days(7), abort_incomplete_multipart_upload_after=Duration.days(7))],
    )
    if not logging:
        log_access(bucket, logs, log_prefix)
    return bucket


def log_access(bucket: s3.Bucket, logs: s3.Bucket, prefix: str) -> None:
    """Send ``bucket``'s server access logs to ``logs`` under ``prefix`` (a bucket policy grant, no ACL)."""
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=logs.bucket_name, log_file_prefix=prefix)
    logs.add_to_resource_policy(iam.PolicyStatement(
        sid=f"ServerAccessLogs{prefix.strip('/').title().replace('/', '')}",
        principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")], actions=["s3:PutObject"],
        resources=[logs.arn_for_objects(f"{prefix}*")],
        conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(bucket).account}}))
