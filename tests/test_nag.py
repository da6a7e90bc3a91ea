"""acknowledge_wildcards names each IAM5 finding exactly as cdk-nag reports it, tokens included."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from constructs_lib.arns import StackArns
from constructs_lib.nag import acknowledge_wildcards
from support import nag_app, synth_checked


def _acknowledged(construct) -> dict[str, str]:
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    return {rule: reason for entry in construct.node.metadata if entry.type == key
            for rule, reason in entry.data.items()}


@pytest.mark.parametrize("env", [cdk.Environment(account="111111111111", region="eu-west-1"), None],
                         ids=["explicit environment", "environment-agnostic"])
def test_wildcards_with_pseudo_parameter_and_resource_tokens_are_acknowledged(env):
    """Pseudo parameters (rendered in Python) and resource attributes (resolved by the stack) in one role."""
    app = nag_app()
    stack = cdk.Stack(app, "Stack", env=env)
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    arns = StackArns.of(stack)
    jobs = arns.arn("sagemaker", "processing-job", "pipelines-*")
    suffixed = f"arn:{arns.partition}:s3:::data.{cdk.Aws.URL_SUFFIX}/*"
    objects = bucket.arn_for_objects("captured/*")
    for resource in (jobs, suffixed, objects):
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject"], resource_arns=[resource])
    acknowledge_wildcards(role, {jobs: "jobs", suffixed: "suffix", objects: "objects"},
                          actions={"s3:Get*": "unused here, still rendered"})

    region, account = ("eu-west-1", "111111111111") if env else ("<AWS::Region>", "<AWS::AccountId>")
    bucket_arn = f"<{stack.resolve(stack.get_logical_id(bucket.node.default_child))}.Arn>"
    assert _acknowledged(role) == {
        f"Annotation::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:{region}:{account}:"
        "processing-job/pipelines-*]": "jobs",
        "Annotation::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::data.<AWS::URLSuffix>/*]": "suffix",
        f"Annotation::AwsSolutions-IAM5[Resource::{bucket_arn}/captured/*]": "objects",
        "Annotation::AwsSolutions-IAM5[Action::s3:Get*]": "unused here, still rendered",
    }
    cdk.Validations.of(bucket).acknowledge(cdk.Acknowledgment(id="AwsSolutions-S1", reason="test bucket"))
    synth_checked(app)  # cdk-nag reports none of the three wildcards
