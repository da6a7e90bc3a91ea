"""Acknowledging cdk-nag findings precisely: one acknowledgment per wildcard, each with its own reason.

cdk-nag 3 reports ``AwsSolutions-IAM5`` once per wildcard, named after the resource or action as it renders
it (``AwsSolutions-IAM5[Resource::<BucketABC.Arn>/datacapture/*]``); a bare ``AwsSolutions-IAM5``
acknowledgment does not cover them. ``acknowledge_wildcards`` renders a resource (tokens included) the
way cdk-nag does, so a construct names the wildcards it grants instead of silencing the rule.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping

from aws_cdk import Acknowledgment, Aws, Stack, Validations
from constructs import Construct


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge ``AwsSolutions-<rule>`` on ``scope`` and its children, with a reviewer-facing reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def acknowledge_wildcards(scope: Construct, resources: Mapping[str, str] | None = None,
                          actions: Mapping[str, str] | None = None) -> None:
    """Acknowledge the IAM5 finding of each wildcard resource (ARN string, tokens allowed) and action
    (``s3:Get*``) granted under ``scope``, each with its reason."""
    # Each jsii round trip costs ~0.3 ms. Almost every token in an ARN is a pseudo parameter (the partition):
    # those are rendered here; any other is resolved with the rest in one call. All rules: one call.
    resources = {_render_pseudo(resource): reason for resource, reason in (resources or {}).items()}
    tokens = [resource for resource in resources if "${Token[" in resource]
    resolved = dict(zip(tokens, Stack.of(scope).resolve(tokens))) if tokens else {}
    rules = [Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{_render(resolved.get(resource, resource))}]",
                            reason=reason) for resource, reason in resources.items()]
    rules += [Acknowledgment(id=f"AwsSolutions-IAM5[Action::{action}]", reason=reason)
              for action, reason in (actions or {}).items()]
    if rules:
        Validations.of(scope).acknowledge(*rules)


@functools.cache
def _pseudo_parameters() -> dict[str, str]:
    """The token strings of the pseudo parameters (the same in every stack), as cdk-nag renders them."""
    return {Aws.PARTITION: "<AWS::Partition>", Aws.REGION: "<AWS::Region>", Aws.ACCOUNT_ID: "<AWS::AccountId>",
            Aws.URL_SUFFIX: "<AWS::URLSuffix>"}


def _render_pseudo(resource: str) -> str:
    """``resource`` with its pseudo-parameter tokens rendered (other tokens left for ``Stack.resolve``)."""
    if "${Token[" not in resource:
        return resource
    pseudo = _pseudo_parameters()
    return _TOKEN.sub(lambda match: pseudo.get(match.group(0), match.group(0)), resource)


_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


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
