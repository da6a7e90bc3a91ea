"""attach_policy renders exactly the statements Grant.add_to_principal would, in one policy of its own."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from constructs_lib.permissions import allow, attach_policy

STATEMENTS = [
    allow(["s3:GetObject"], ["arn:aws:s3:::bucket/a/*"]),
    allow(["s3:GetObject"], ["arn:aws:s3:::bucket/b/*"]),  # merged with the first (minimizePolicies)
    allow(["kms:Decrypt"], ["*"], {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}),
    allow(["iam:PassRole"], [cdk.Aws.PARTITION]),  # tokens pass through
]


def _stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(context={"@aws-cdk/aws-iam:minimizePolicies": True}), "Stack")  # as in cdk.json


def _policies(stack: cdk.Stack) -> dict[str, dict]:
    template = cdk.assertions.Template.from_stack(stack).to_json()
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Policy"}


def test_attached_document_equals_the_granted_one():
    stack = _stack()
    granted = iam.Role(stack, "Granted", assumed_by=iam.AccountRootPrincipal())
    attached = iam.Role(stack, "Attached", assumed_by=iam.AccountRootPrincipal())
    for statement in STATEMENTS:
        iam.Grant.add_to_principal(grantee=granted, actions=statement["Action"], resource_arns=statement["Resource"],
                                   conditions=statement.get("Condition"))  # what grant_statements does
    attach_policy(attached, "Permissions", STATEMENTS)

    by_role = {p["Roles"][0]["Ref"]: p for p in _policies(stack).values()}
    granted_id, attached_id = (stack.resolve(stack.get_logical_id(r.node.default_child)) for r in (granted, attached))
    assert by_role[attached_id]["PolicyDocument"] == by_role[granted_id]["PolicyDocument"]
    assert len(by_role[attached_id]["PolicyDocument"]["Statement"]) == 3
    # A later grant goes to the role's default policy beside it.
    iam.Grant.add_to_principal(grantee=attached, actions=["s3:PutObject"], resource_arns=["arn:aws:s3:::bucket/c"])
    assert sorted(attached.node.try_find_child(name) is not None for name in ("Permissions", "DefaultPolicy")) == [
        True, True]


def test_imported_roles_get_grants():
    """A mutable import gets the statements in its default policy; an immutable one is left alone."""
    stack = _stack()
    for mutable in (True, False):
        role = iam.Role.from_role_arn(stack, f"Imported{mutable}", f"arn:aws:iam::111111111111:role/r{mutable}",
                                      mutable=mutable)
        attach_policy(role, "Permissions", STATEMENTS)
    (policy,) = _policies(stack).values()
    assert policy["Roles"] == ["rTrue"]
    assert len(policy["PolicyDocument"]["Statement"]) == 3
