"""Acknowledging cdk-nag findings precisely: one acknowledgment per wildcard, each with its own reason.

cdk-nag 3 reports ``AwsSolutions-IAM5`` once per wildcard, named after the resource or action as it renders
it (``AwsSolutions-IAM5[Resource::<BucketABC.Arn>/datacapture/*]``); a bare ``AwsSolutions-IAM5``
acknowledgment does not cover them. ``acknowledge_wildcards`` renders a resource (tokens included) the
way cdk-nag does, so a construct names the wildcards it grants instead of silencing the rule.
"""

from __future__ import annotations

from typing import Any, Mapping

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import Construct


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge ``AwsSolutions-<rule>`` on ``scope`` and its children, with a reviewer-facing reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def acknowledge_wildcards(scope: Construct, resources: Mapping[str, str] | None = None,
                          actions: Mapping[str, str] | None = None) -> None:
    """Acknowledge the IAM5 finding of each wildcard resource (ARN string, tokens allowed) and action
    (``s3:Get*``) granted under ``scope``, each with its reason."""
    resources = dict(resources or {})
    # Each jsii round trip costs ~0.3 ms: the tokens are resolved in one call, all rules acknowledged in one.
    tokens = [resource for resource in resources if "${Token[" in resource]
    resolved = dict(zip(tokens, Stack.of(scope).resolve(tokens))) if tokens else {}
    rules = [Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{_render(resolved.get(resource, resource))}]",
                            reason=reason) for resource, reason in resources.items()]
    rules += [Acknowledgment(id=f"AwsSolutions-IAM5[Action::{action}]", reason=reason)
              for action, reason in (actions or {}).items()]
    if rules:
        Validations.of(scope).acknowledge(*rules)


def _render(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it: ``<Logical.Attr>``, ``<AWS::Partition>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return f"<{target[0]}.{target[1]}>" if isinstance(target, list) else f"<{target}>"
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(_render(part) for part in parts)
    return str(value)
