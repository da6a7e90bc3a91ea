"""Customer managed KMS keys as this library creates them: rotation on, retained, and grants only for AWS
resources.

A key's default policy lets the account's IAM policies do anything with it, ``kms:CreateGrant`` included; a
grant outlives the permission that made it and is not visible in IAM. The services these keys serve (SageMaker
for volumes and captured data, S3, SNS, CodePipeline's artifacts) create grants, when they do, on their own
behalf (``kms:GrantIsForAWSResource``), never through a direct call; so every key denies the others.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

__all__ = ["customer_key", "restrict_grants_to_aws_services"]


def customer_key(scope: Construct, id: str, *, description: str, alias: str | None = None) -> kms.Key:
    """A key with rotation on, kept when its stack goes (data encrypted with it may outlive the stack), whose
    grants can only be made by AWS services."""
    key = kms.Key(scope, id, enable_key_rotation=True, alias=alias, removal_policy=RemovalPolicy.RETAIN,
                  description=description)
    restrict_grants_to_aws_services(key)
    return key


def restrict_grants_to_aws_services(key: kms.IKey) -> None:
    """Deny ``kms:CreateGrant`` unless an AWS service asks for it, on a principal's behalf
    (``kms:GrantIsForAWSResource``) or as itself (``aws:PrincipalIsAWSService``): the statement AWS Control Tower's
    control CT.KMS.PR.3 requires. ``BoolIfExists``: a direct call, which carries no
    ``kms:GrantIsForAWSResource``, is denied. A no-op for an imported key, whose policy this stack does not own."""
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="GrantsOnlyForAwsServices", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
        actions=["kms:CreateGrant"], resources=["*"],
        conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}}))
