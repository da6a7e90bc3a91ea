"""A role's statements attached as one policy document.

``Grant.add_to_principal`` costs a jsii round trip per statement (~0.4 ms; a platform of 50 models granted
~1,600 of them). A construct that knows its role's statements up front writes them in IAM's JSON grammar
with ``allow`` and attaches them with ``attach_policy``: two round trips whatever the count. The document is
rendered by CDK as any other (statements merged under ``@aws-cdk/aws-iam:minimizePolicies``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct

__all__ = ["allow", "allow_service_to_publish", "attach_policy", "grant_statements"]


def allow(actions: Sequence[str], resources: Sequence[str], conditions: Mapping[str, Any] | None = None) -> dict:
    """An ``Allow`` statement of ``actions`` on ``resources`` (ARN strings, tokens allowed), with ``conditions``."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if conditions:
        statement["Condition"] = dict(conditions)
    return statement


def attach_policy(role: iam.IRole, id: str, statements: Iterable[Mapping[str, Any]]) -> None:
    """A policy ``<role>/<id>`` holding ``statements``, attached to ``role``; grants made later go to the role's
    default policy beside it. An imported role (``Role.from_role_arn``: not a construct in Python) gets the
    statements as grants instead (an immutable one stays untouched, as with ``Grant.add_to_principal``)."""
    if not isinstance(role, Construct):
        grant_statements(role, statements)
        return
    document = iam.PolicyDocument.from_json({"Statement": list(statements)})
    iam.Policy(role, id, document=document, roles=[role])


def grant_statements(grantee: iam.IGrantable, statements: Iterable[Mapping[str, Any]]) -> None:
    """``Grant.add_to_principal`` for each of ``statements`` (``allow``'s form): into the grantee's default policy."""
    for statement in statements:
        iam.Grant.add_to_principal(grantee=grantee, actions=statement["Action"], resource_arns=statement["Resource"],
                                   conditions=statement.get("Condition"))


def allow_service_to_publish(topic: Any, key: Any, service: str, account: str, *, topic_policy: bool = True) -> None:
    """Let an AWS service (``cloudwatch.amazonaws.com``, ``events.amazonaws.com``) publish to an encrypted SNS
    ``topic`` as itself, for this ``account``'s resources only: the topic's policy (unless ``topic_policy`` is
    False, when a CDK target adds it) and the use of ``key``, when it is a key this app manages."""
    from aws_cdk import aws_kms as kms

    principal = iam.ServicePrincipal(service)
    own = {"StringEquals": {"aws:SourceAccount": account}}
    if isinstance(key, kms.Key):
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[principal], actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"], conditions=own))
    if topic_policy:
        topic.add_to_resource_policy(iam.PolicyStatement(
            principals=[principal], actions=["sns:Publish"], resources=[topic.topic_arn], conditions=own))
