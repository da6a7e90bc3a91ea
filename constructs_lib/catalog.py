"""``ModelProjectTemplate``: the model-project template, launchable from SageMaker Studio through Service Catalog.

A Service Catalog portfolio holds one product whose template is a CDK ``ProductStack`` (``ModelProjectProduct``).
SageMaker Studio lists products tagged ``sagemaker:studio-visibility=true`` as organization project templates;
launching one provisions the product stack through a launch constraint role, so Studio users need no
CloudFormation or SageMaker admin rights of their own.

What a launch creates, and why only this: a Service Catalog product is parameterised at LAUNCH time (the model
name is typed in Studio), so everything in it must take its names from ``CfnParameter``s. That rules out the
library constructs that validate names at synth and bundle assets (``ModelRegistry``, ``ModelBuildPipeline``,
``ApprovalTrigger`` reject token names). The product therefore holds the pieces whose names can come from a
parameter, built with the same rules as those constructs:

* the model package group ``ModelName`` with the registry's cross-account policy (test and prod accounts may
  describe, list and create models from its versions; ``registry.CONSUMER_*_ACTIONS``), RETAINed, tagged with
  the SageMaker project so Studio shows it under the project;
* when a release pipeline name is given, the approval trigger: an EventBridge rule matching ONLY ``Approved``
  versions of this group (``approval.approval_event_pattern``) that starts that CodePipeline. The name may
  hold ``{model}`` (the launch-time model name), so each launched project targets its own model's delivery
  pipeline (``<project>-<model>-delivery``), which exists once the model is added to the platform config.

``ApprovalMode`` (manual/automatic) is recorded on the group (tag ``mlops:approval-mode``) and as an output: it
is the ``build.approval`` the model's build pipeline uses when the model joins the platform config
(``mlops new-model``); a launch-time switch inside the pipeline definition would need ``ModelBuildPipeline`` to
accept a token approval status.

The launch role may only manage what the product contains: Service Catalog stacks (``SC-*``), model package
groups and their policies/tags, ``SC-*`` EventBridge rules and (with a release pipeline) the role the rule
uses, plus reading the template copies Service Catalog keeps. That role is confined twice: it lives under an
IAM path of this template's own (``role_path``: ``/<construct path>/``), and the launch role may only
create it, or change its inline policy, with this template's permissions boundary (``launch_boundary``: starting
the release pipelines, nothing else) attached. So a launch can neither touch another product's ``SC-*`` roles
nor create a role that can do more than start a release pipeline.
"""

from __future__ import annotations

import re
from typing import Sequence

from aws_cdk import CfnOutput, CfnParameter, CfnTag, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from .approval import approval_event_pattern
from .errors import ConfigError, check_account_ids
from .nag import acknowledge_wildcards
from .registry import consumer_group_policy

__all__ = ["ModelProjectProduct", "ModelProjectTemplate", "STUDIO_VISIBILITY_TAG", "APPROVAL_MODES",
           "MODEL_PLACEHOLDER", "check_pipeline_name", "studio_role"]

STUDIO_VISIBILITY_TAG = "sagemaker:studio-visibility"
"""Product tag that makes SageMaker Studio list a Service Catalog product as a project template."""
APPROVAL_MODES = ("manual", "automatic")
"""Values of the product's ``ApprovalMode`` parameter (as ``build.approval`` in the config)."""
#: Lowercase only: SageMaker lowercases group names in some ARNs, and CloudFormation cannot lowercase a
#: parameter, so a mixed-case name could not be matched by the group's policy and the approval rule.
MODEL_NAME_PATTERN = r"^[a-z](-*[a-z0-9]){0,39}$"
#: Service Catalog names the stacks it provisions SC-<account>-pp-<id>; CloudFormation names the rule and
#: role of such a stack <stack name>-<logical id>-<suffix>. The launch role is confined to those names.
PROVISIONED_PREFIX = "SC-"

MODEL_PLACEHOLDER = "{model}"
"""Stands for the launch-time model name in ``release_pipeline_name``."""

_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


class ModelProjectProduct(servicecatalog.ProductStack):
    """The template a launch provisions: one model's registry group and approval trigger (see module docstring).

    :param consumer_accounts: the test and prod accounts the group is shared with (read and CreateModel only).
    :param release_pipeline_name: name of the dev-account CodePipeline an approval starts; ``{model}`` in it
        is replaced by the ``ModelName`` parameter. Default: no approval rule (the group only).
    :param group_prefix: put before ``ModelName`` in the group's name (the platform's ``<project>-``, so that
        a launched group is the one the platform config's model of that name uses); default none.
    :param role_path: the IAM path of the approval rule's role; default ``/``.
    :param permissions_boundary: the permissions boundary of the approval rule's role; default none.

    Parameters at launch: ``SageMakerProjectName`` and ``SageMakerProjectId`` (filled in by Studio),
    ``ModelName`` (lowercase, 1-40 characters; the group's name) and ``ApprovalMode`` (manual|automatic).
    """

    def __init__(self, scope: Construct, id: str, *, consumer_accounts: Sequence[str],
                 release_pipeline_name: str | None = None, group_prefix: str = "", role_path: str = "/",
                 permissions_boundary: iam.IManagedPolicy | None = None) -> None:
        if release_pipeline_name is not None:
            check_pipeline_name(release_pipeline_name)
        super().__init__(scope, id, description="SageMaker model project: registry group shared with test and "
                                                "prod, and its approval trigger")
        accounts = check_account_ids("consumer_accounts", consumer_accounts)
        project_name = CfnParameter(
            self, "SageMakerProjectName", type="String", min_length=1, max_length=32,
            allowed_pattern=r"^[a-zA-Z](-*[a-zA-Z0-9])*$",
            description="Name of the SageMaker project (set by SageMaker Studio)")
        project_id = CfnParameter(self, "SageMakerProjectId", type="String", min_length=1, max_length=16,
                                  description="Id of the SageMaker project (set by SageMaker Studio)")
        model_name = CfnParameter(
            self, "ModelName", type="String", min_length=1, max_length=40, allowed_pattern=MODEL_NAME_PATTERN,
            constraint_description="1-40 lowercase letters, digits and hyphens, starting with a letter",
            description="Model name: names the model package group (add the same name to the platform config "
                        "with 'mlops new-model NAME' to release it)")
        approval_mode = CfnParameter(
            self, "ApprovalMode", type="String", allowed_values=list(APPROVAL_MODES), default="manual",
            description="manual: every version waits for a person's approval; automatic: versions that pass "
                        "the evaluation threshold are approved at registration")
        self.parameters = {"SageMakerProjectName": project_name, "SageMakerProjectId": project_id,
                           "ModelName": model_name, "ApprovalMode": approval_mode}
        """The launch parameters by name."""

        if group_prefix and not re.fullmatch(r"[a-z][a-z0-9-]*-", group_prefix):
            raise ConfigError("group_prefix", f"must be lowercase letters, digits and hyphens ending in '-', got "
                              f"{group_prefix!r}")
        name = Fn.sub(f"{group_prefix}${{ModelName}}") if group_prefix else model_name.value_as_string
        group_arn = Fn.sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
                           f"model-package-group/{group_prefix}${{ModelName}}")
        versions_arn = Fn.sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
                              f"model-package/{group_prefix}${{ModelName}}/*")
        principals = [Fn.sub(f"arn:${{AWS::Partition}}:iam::{account}:root") for account in accounts]
        policy = consumer_group_policy(principals, group_arn, versions_arn)
        self.group = sagemaker.CfnModelPackageGroup(
            self, "Group", model_package_group_name=name, model_package_group_policy=policy,
            model_package_group_description=Fn.sub("Model versions of ${ModelName} (SageMaker project "
                                                   "${SageMakerProjectName})"),
            tags=[CfnTag(key="sagemaker:project-name", value=project_name.value_as_string),
                  CfnTag(key="sagemaker:project-id", value=project_id.value_as_string),
                  CfnTag(key="mlops:approval-mode", value=approval_mode.value_as_string)])
        # Deleting the provisioned product must not delete versions that may be running in prod.
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)

        self.approval_rule: events.Rule | None = None
        """The approval trigger (only with a release pipeline)."""
        if release_pipeline_name is not None:
            # Named, not referenced: a launched product is provisioned on its own and cannot import another
            # stack's outputs; the rule's role is created in the product.
            arn = Fn.sub("arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:"
                         + release_pipeline_name.replace(MODEL_PLACEHOLDER, "${ModelName}"))
            pipeline = codepipeline.Pipeline.from_pipeline_arn(self, "ReleasePipeline", arn)
            pattern = approval_event_pattern(name)
            rule_role = iam.Role(self, "ApprovalRuleRole", assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
                                 path=role_path, permissions_boundary=permissions_boundary,
                                 description="Starts the release pipeline when a version is approved")
            self.approval_rule = events.Rule(
                self, "ApprovalRule", description="Starts the release of approved versions of this model",
                event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                                                  detail=pattern["detail"]),
                targets=[targets.CodePipeline(pipeline, event_role=rule_role)])
        CfnOutput(self, "ModelPackageGroupName", value=name)
        CfnOutput(self, "ModelPackageGroupArn", value=group_arn)
        CfnOutput(self, "ModelApprovalMode", value=approval_mode.value_as_string)


class ModelProjectTemplate(Construct):
    """A Service Catalog portfolio with the model-project product, visible in SageMaker Studio.

    :param consumer_accounts: the test and prod accounts each launched group is shared with.
    :param release_pipeline_name: the dev-account CodePipeline an approval in a launched group starts;
        ``{model}`` is replaced by the launch-time model name (``mlops-{model}-delivery``). Default: none
        (launched projects get the group only).
    :param studio_roles: roles given access to the portfolio (typically the SageMaker Studio domain's execution
        role); default: none (share later with ``portfolio.give_access_to_role``).
    :param portfolio_name: the portfolio's display name; default ``SageMaker model projects``.
    :param provider_name: the portfolio's provider and the product's owner; default ``ML platform team``.
    :param product_name: the product's name as Studio lists it; default ``Safe-release model project``.
    :param version_name: the product version's name; default ``v1``.
    :param group_prefix: put before the launch-time model name in the group's name (``<project>-``); default none.

    Attributes: ``portfolio``, ``product``, ``product_stack`` (a ``ModelProjectProduct``), ``launch_role``, and
    with a release pipeline ``role_path`` and ``launch_boundary`` (see the module docstring).
    """

    def __init__(self, scope: Construct, id: str, *, consumer_accounts: Sequence[str],
                 release_pipeline_name: str | None = None, studio_roles: Sequence[iam.IRole] = (),
                 portfolio_name: str = "SageMaker model projects", provider_name: str = "ML platform team",
                 product_name: str = "Safe-release model project", version_name: str = "v1",
                 group_prefix: str = "") -> None:
        super().__init__(scope, id)
        for prop, value, limit in (("portfolio_name", portfolio_name, 100), ("provider_name", provider_name, 50),
                                   ("product_name", product_name, 8191), ("version_name", version_name, 8192)):
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise ConfigError(prop, f"must be 1-{limit} characters, got {value!r}")
        check_account_ids("consumer_accounts", consumer_accounts)
        stack = Stack.of(self)
        self.portfolio = servicecatalog.Portfolio(
            self, "Portfolio", display_name=portfolio_name, provider_name=provider_name,
            description="Model project templates for SageMaker Studio: registry group and release trigger")
        self.role_path: str | None = None
        self.launch_boundary: iam.ManagedPolicy | None = None
        if release_pipeline_name is not None:
            # Both name this construct (its path in the app), so that two templates, in one stack or two, never
            # share them. The boundary is named, because the product (a template provisioned on its own) refers
            # to it by ARN; IAM names are global to the account, so the name carries the region too.
            place = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", self.node.path)
            self.role_path = f"/{place}/"
            boundary_name = f"{place[:100]}-${{AWS::Region}}-boundary"
            pipelines = stack.format_arn(service="codepipeline", resource=release_pipeline_name.replace(
                MODEL_PLACEHOLDER, "*"))
            self.launch_boundary = iam.ManagedPolicy(
                self, "LaunchBoundary", managed_policy_name=Fn.sub(boundary_name),
                description="Permissions boundary of the roles model-project launches create: start the release "
                            "pipelines, nothing else",
                statements=[iam.PolicyStatement(actions=["codepipeline:StartPipelineExecution"],
                                                resources=[pipelines])])
            acknowledge_wildcards(self.launch_boundary, {pipelines: (
                "A boundary, not a grant: a launched project's role starts its own model's pipeline (named by the "
                "launch-time model name), so the boundary covers the release pipelines' naming pattern.")})
        boundary = (None if self.launch_boundary is None else iam.ManagedPolicy.from_managed_policy_arn(
            self, "ProductBoundary", Fn.sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{boundary_name}")))
        self.product_stack = ModelProjectProduct(self, "ModelProject", consumer_accounts=consumer_accounts,
                                                 release_pipeline_name=release_pipeline_name,
                                                 group_prefix=group_prefix, role_path=self.role_path or "/",
                                                 permissions_boundary=boundary)
        self.product = servicecatalog.CloudFormationProduct(
            self, "Product", product_name=product_name, owner=provider_name,
            description="A model project: a model package group shared with the test and prod accounts, whose "
                        "approved versions start the release pipeline",
            product_versions=[servicecatalog.CloudFormationProductVersion(
                product_version_name=version_name,
                cloud_formation_template=servicecatalog.CloudFormationTemplate.from_product_stack(
                    self.product_stack))])
        Tags.of(self.product).add(STUDIO_VISIBILITY_TAG, "true")
        self.portfolio.add_product(self.product)
        self.launch_role = iam.Role(
            self, "LaunchRole", assumed_by=iam.ServicePrincipal("servicecatalog.amazonaws.com"),
            description="Service Catalog launch constraint of the model-project product: manages only the "
                        "resources that product contains")
        self._grant_launch(stack, release_pipeline_name is not None)
        self.portfolio.set_launch_role(self.product, self.launch_role,
                                       description="Launch with the product's least-privilege role")
        for role in studio_roles:
            self.portfolio.give_access_to_role(role)

    def _grant_launch(self, stack: Stack, with_rule_role: bool) -> None:
        role, arn = self.launch_role, stack.format_arn
        stacks = arn(service="cloudformation", resource="stack", resource_name=f"{PROVISIONED_PREFIX}*/*")
        groups = arn(service="sagemaker", resource="model-package-group", resource_name="*")
        rules = arn(service="events", resource="rule", resource_name=f"{PROVISIONED_PREFIX}*")
        role.add_to_policy(iam.PolicyStatement(
            actions=["cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                     "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
                     "cloudformation:GetTemplateSummary", "cloudformation:SetStackPolicy"], resources=[stacks]))
        role.add_to_policy(iam.PolicyStatement(actions=["cloudformation:ValidateTemplate"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=["*"],
            conditions={"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}))
        role.add_to_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateModelPackageGroup", "sagemaker:DeleteModelPackageGroup",
                     "sagemaker:DescribeModelPackageGroup", "sagemaker:PutModelPackageGroupPolicy",
                     "sagemaker:GetModelPackageGroupPolicy", "sagemaker:DeleteModelPackageGroupPolicy",
                     "sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags"], resources=[groups]))
        wildcards = {
            stacks: "Service Catalog names provisioned stacks SC-<account>-pp-<id> at launch; limited to those.",
            "*": "cloudformation:ValidateTemplate has no resource-level permission; s3:GetObject is limited by "
                 "condition to the template copies Service Catalog tags servicecatalog:provisioning=true.",
            groups: "The model package group is named by the ModelName launch parameter, unknown until launch; "
                    "limited to model package groups of this account and region.",
        }
        if self.product_stack.approval_rule is not None:
            role.add_to_policy(iam.PolicyStatement(
                actions=["events:PutRule", "events:DeleteRule", "events:DescribeRule", "events:PutTargets",
                         "events:RemoveTargets"], resources=[rules]))
            wildcards[rules] = ("CloudFormation names the approval rule <SC-... stack>-<id>-<suffix> at launch; "
                                "limited to rules of provisioned stacks.")
        if with_rule_role:
            assert self.role_path is not None and self.launch_boundary is not None
            roles = arn(service="iam", region="", resource="role",
                        resource_name=f"{self.role_path[1:]}{PROVISIONED_PREFIX}*")
            bounded = {"StringEquals": {"iam:PermissionsBoundary": self.launch_boundary.managed_policy_arn}}
            role.add_to_policy(iam.PolicyStatement(
                actions=["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"], resources=[roles],
                conditions=bounded))
            role.add_to_policy(iam.PolicyStatement(
                actions=["iam:DeleteRole", "iam:GetRole", "iam:GetRolePolicy", "iam:TagRole", "iam:UntagRole"],
                resources=[roles]))
            role.add_to_policy(iam.PolicyStatement(
                actions=["iam:PassRole"], resources=[roles],
                conditions={"StringEquals": {"iam:PassedToService": "events.amazonaws.com"}}))
            wildcards[roles] = ("CloudFormation names the approval rule's role <SC-... stack>-<id>-<suffix> at "
                                "launch; limited to roles under this template's own IAM path, created only with "
                                "its permissions boundary (start the release pipelines), passed only to "
                                "EventBridge.")
        acknowledge_wildcards(role, wildcards)


def check_pipeline_name(name: str) -> None:
    """Raise ``ConfigError`` unless ``name`` is a CodePipeline name once ``{model}`` is replaced by a model name."""
    sample = name.replace(MODEL_PLACEHOLDER, "m" * 40) if isinstance(name, str) else name
    if not isinstance(sample, str) or not _PIPELINE_NAME.match(sample):
        raise ConfigError("release_pipeline_name", "must be a CodePipeline name of 1-100 letters, digits, '.', '@', "
                          f"'_' or '-' once {MODEL_PLACEHOLDER} is replaced by a 40-character model name, got {name!r}")


def studio_role(scope: Construct, id: str, role_arn: str) -> iam.IRole:
    """An existing role (a SageMaker Studio execution role) by ARN, checked; for ``studio_roles``."""
    if not isinstance(role_arn, str) or not _ROLE_ARN.match(role_arn):
        raise ConfigError("studio_roles", f"must be IAM role ARNs (arn:aws:iam::ACCOUNT:role/NAME), got {role_arn!r}")
    return iam.Role.from_role_arn(scope, id, role_arn, mutable=False)
