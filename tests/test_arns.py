"""StackArns formats exactly what Stack.format_arn returns, with one jsii round trip per stack, not per ARN."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import ArnFormat

from constructs_lib.arns import StackArns

CASES = [  # (StackArns.arn arguments, Stack.format_arn arguments)
    (("sagemaker", "pipeline", "build-churn"), dict(service="sagemaker", resource="pipeline", resource_name="build-churn")),
    (("codepipeline", "mlops-churn-delivery"), dict(service="codepipeline", resource="mlops-churn-delivery")),
    (("logs", "log-group", "/aws/sagemaker/Endpoints/x:*", ":"),
     dict(service="logs", resource="log-group", resource_name="/aws/sagemaker/Endpoints/x:*",
          arn_format=ArnFormat.COLON_RESOURCE_NAME)),
]


@pytest.mark.parametrize("env", [cdk.Environment(account="111111111111", region="eu-west-1"), None],
                         ids=["explicit environment", "environment-agnostic"])
@pytest.mark.parametrize(("args", "kwargs"), CASES, ids=["slash", "no resource name", "colon"])
def test_arn_equals_format_arn(env, args, kwargs):
    stack = cdk.Stack(cdk.App(), "Stack", env=env)
    separator = {"separator": args[3]} if len(args) > 3 else {}
    rendered = StackArns.of(stack).arn(*args[:3], **separator)
    assert rendered == stack.format_arn(**kwargs)
    assert stack.resolve(rendered) == stack.resolve(stack.format_arn(**kwargs))


def test_region_and_account_overrides_equal_format_arn():
    stack = cdk.Stack(cdk.App(), "Stack", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    assert StackArns.of(stack).arn("iam", "role", "checks", region="", account="222222222222") == stack.format_arn(
        service="iam", resource="role", resource_name="checks", region="", account="222222222222")


def test_values_are_read_once_per_stack():
    app = cdk.App()
    first = cdk.Stack(app, "First", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    second = cdk.Stack(app, "Second", env=cdk.Environment(account="222222222222", region="us-east-1"))
    assert StackArns.of(first) is StackArns.of(cdk.Stack.of(first))
    assert (StackArns.of(second).region, StackArns.of(second).account) == ("us-east-1", "222222222222")
