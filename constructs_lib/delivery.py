"""The delivery pipeline: CDK Pipelines that take each approved model version through test, then prod.

``DeliveryPipeline`` lives in the dev (tooling) account. Its synth step asks the registry for the newest
*Approved* version of one model package group (``mlops resolve``) and synthesises the app with it; nothing
else reads the registry at synth. ``add_release`` then adds, in this order:

1. the test stage's endpoint stacks, followed by deployment verification (``mlops verify``: the endpoint is
   InService on the endpoint config just deployed; SageMaker rolls a guarded deployment back *silently*, so
   this is what notices) and the smoke/latency check (``mlops smoke``);
2. a manual approval (and, optionally, a second one that only an IAM group may give);
3. the prod stage's endpoint stacks, followed by the same verification (and a smoke check if configured).

The check steps act in the stage account only through the stage's release check role (``check_role``),
which the endpoint stack creates; the pipeline's CodeBuild role may assume exactly that role.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jsii
from aws_cdk import AspectPriority, Aspects, CfnOutput, Duration, IAspect, RemovalPolicy, Stack, Stage
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codestarnotifications as notifications
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import pipelines
from constructs import Construct, IConstruct

from .arns import StackArns
from .edge_rules import EdgeGate
from .smoke import SmokeTest
from .errors import ConfigError, check_emails, check_range, check_sagemaker_name
from .keys import customer_key, restrict_grants_to_aws_services
from .nag import acknowledge, acknowledge_wildcards
from .toolchain import CDK_CLI_VERSION

__all__ = ["CDK_CLI_VERSION", "DeliveryPipeline", "ReleaseStage", "SmokeTest", "VERSIONS_FILE",
           "bounded_role_name", "check_step_role_name"]


#: Where the synth step writes the resolved version, fresh on every run, for the app (context ``approved_versions``).
#: Not the committed config/approved-versions.json: a stale entry there must never be deployed by the pipeline.
VERSIONS_FILE = ".release/approved-versions.json"

#: The synth step's pipeline variable holding the resolved version (empty when none is approved).
VERSION_VARIABLE = "APPROVED_VERSION"

#: cfn-lint in the synth step: the version the tests use (tests/requirements.txt).
CFN_LINT_VERSION = "1.58.0"
#: ``mlops resolve`` exit code when the group has no approved version (or does not exist yet).
_EXIT_NOT_FOUND = 3
#: Days the pipeline's artifacts are kept: an execution needs them only while it runs (a manual approval fails
#: after 7 days unanswered); later executions synthesise afresh.
PIPELINE_ARTIFACT_DAYS = 30

_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
#: The smoke/latency step's CodeBuild timeout (one value: each Duration made is a jsii round trip).
_SMOKE_TIMEOUT = Duration.minutes(30)
#: The batch check's: its run may take 30 minutes (``mlops batch-check --timeout``), plus the install.
_BATCH_CHECK_TIMEOUT = Duration.minutes(45)


@dataclass(frozen=True)
class ReleaseStage:
    """One account's endpoint (or batch-inference) deployment as the pipeline releases it.

    :param stage: the CDK Stage holding the endpoint stack(s), with its account and region set.
    :param endpoint_name: the stack output naming the endpoint.
    :param endpoint_config_name: the stack output naming the endpoint config this deployment requests
        (content-derived: if the endpoint runs another one after the deploy, SageMaker rolled it back).
    :param batch_pipeline_name: instead of an endpoint, the stack output naming a batch-inference pipeline
        (``BatchInference``): no endpoint verification; with ``batch_payloads_dir`` (a folder of the
        repository), ``mlops batch-check`` runs it over those sample files after the deploy.
    :param check_role: the role in the stage account the checks assume (trusting the pipeline account; may
        describe the endpoint and its alarms, and invoke it for a smoke test). Usually
        ``iam.Role.from_role_arn(...)`` of a deterministic name, since it lives in another account.
    :param smoke_test: the smoke/latency check after verification; default none.
    :param component_name: with ``component_model``, instead of ``endpoint_config_name``: the stack outputs naming
        an inference component of ``endpoint_name`` and the model its deployment requests (if the component
        serves another one after the deploy, SageMaker rolled it back); the checks name the component.
    :param target_model: with ``target_parameter``, instead of ``endpoint_config_name``: the stack outputs naming
        a model released onto the multi-model endpoint ``endpoint_name`` and the SSM parameter that must name it
        after the deploy; the checks invoke that target model.
    :param edge_deployment: instead of an endpoint's outputs, the stack output naming a Greengrass deployment
        (``EdgeFleetDeployment``): the check waits for its devices (``mlops edge wait``) as ``edge_gate`` says
        (default ``EdgeGate()``: every targeted device succeeds within 30 minutes).
    :param verify_timeout: how long verification waits for the endpoint to leave Updating/RollingBack,
        1-55 minutes (the check role's session lasts one hour: the last reads need the minutes after the wait,
        as ``EdgeGate.wait_minutes``); default 30 minutes.
    """

    stage: Stage
    endpoint_name: CfnOutput | None = None
    endpoint_config_name: CfnOutput | None = None
    check_role: iam.IRole | None = None
    smoke_test: SmokeTest | None = None
    batch_pipeline_name: CfnOutput | None = None
    batch_payloads_dir: str | None = None
    component_name: CfnOutput | None = None
    component_model: CfnOutput | None = None
    target_model: CfnOutput | None = None
    target_parameter: CfnOutput | None = None
    edge_deployment: CfnOutput | None = None
    edge_gate: EdgeGate | None = None
    verify_timeout: Duration = Duration.minutes(30)
    account: str = field(init=False)
    """The stage's account (read once: each read of a Stage property is a jsii round trip)."""
    region: str = field(init=False)
    """The stage's region."""
    verify_minutes: float = field(init=False)
    """``verify_timeout`` in minutes."""

    def __post_init__(self) -> None:
        account, region = (self.stage.account, self.stage.region) if isinstance(self.stage, Stage) else (None, None)
        if not account or not region:
            raise ConfigError("stage", f"must be a Stage with an explicit account and region, got {self.stage!r}")
        object.__setattr__(self, "account", account)
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "verify_minutes", self.verify_timeout.to_minutes())
        check_range("verify_timeout", self.verify_minutes, 1, 55, "minutes")
        if self.check_role is None:
            raise ConfigError("check_role", "is required: the role the checks assume in the stage's account")
        if (self.component_name is None) != (self.component_model is None):
            raise ConfigError("component_name", "goes with component_model (the component and the model its "
                              "deployment requests)")
        if self.component_name is not None and self.endpoint_config_name is not None:
            raise ConfigError("endpoint_config_name", "does not apply to an inference component (component_model "
                              "names what its deployment requests)")
        if (self.target_model is None) != (self.target_parameter is None):
            raise ConfigError("target_model", "goes with target_parameter (the target model and the parameter "
                              "that names it)")
        if self.target_model is not None and (self.endpoint_config_name or self.component_name) is not None:
            raise ConfigError("target_model", "excludes endpoint_config_name and component_name (one kind of "
                              "release per stage)")
        endpoint = self.endpoint_name is not None and (self.endpoint_config_name is not None
                                                       or self.component_name is not None
                                                       or self.target_model is not None)
        if endpoint + (self.batch_pipeline_name is not None) + (self.edge_deployment is not None) != 1:
            raise ConfigError("endpoint_name", "give the endpoint's outputs (endpoint_name and endpoint_config_name, "
                              "or component_name and component_model), a batch pipeline's (batch_pipeline_name) or "
                              "a Greengrass deployment's (edge_deployment), one of them")
        if self.edge_gate is not None and self.edge_deployment is None:
            raise ConfigError("edge_gate", "goes with edge_deployment (the deployment it judges)")
        if self.edge_deployment is not None:
            if self.smoke_test is not None:
                raise ConfigError("smoke_test", "does not apply to an edge stage (edge_gate judges its devices)")
            (self.edge_gate or EdgeGate()).validate("edge_gate")
        if self.batch_pipeline_name is not None and self.smoke_test is not None:
            raise ConfigError("smoke_test", "does not apply to a batch stage (batch_payloads_dir runs its check)")


class DeliveryPipeline(Construct):
    """A CDK Pipelines ``CodePipeline`` that releases one model (its ``model_package_group_name``).

    :param pipeline_name: the CodePipeline name (what the approval rule starts), 1-100 of ``A-Za-z0-9.@_-``.
    :param source: the repository: a ``pipelines.CodePipelineSource`` (CodeConnections, CodeCommit, S3).
    :param model_package_group_name: the registry group (in this stack's account and region) whose newest
        Approved version the synth step resolves. The synth role may only list and describe that group's
        versions.
    :param app_context: extra ``cdk synth -c key=value`` context (for example ``{"only_model": NAME}``).
    :param run_context: context taken from the synth step's environment, ``{key: VARIABLE}`` (for example
        ``{"release_id": "CODEBUILD_BUILD_NUMBER"}``: a value of each run).
    :param install_commands: how the synth step installs the app and the ``mlops`` command from the
        repository; default ``pip install -r requirements.txt``.
    :param check_install_commands: how the check steps install the ``mlops`` command; default: the same as
        ``install_commands`` (a lighter install saves minutes per check step if the repository offers one).
    :param cdk_cli_version: the npm ``aws-cdk`` version the synth step runs; default ``CDK_CLI_VERSION``.
    :param second_approver_group: an IAM group whose members give a second approval before prod; default none
        (one approval). The group gets ``codepipeline:PutApprovalResult`` on that approval action only (and
        ``codepipeline:GetPipelineState`` on this pipeline, to read the approval token).
    :param notification_emails: addresses subscribed to pipeline failures and pending approvals (an SNS topic
        encrypted with its own KMS key, TLS only); default none (no topic).
    :param source_connection_arn: the CodeConnections connection of ``source``, when it is one: a connection ARN
        under the ``codeconnections`` prefix also gets ``codeconnections:UseConnection`` (CDK grants only the
        ``codestar-connections`` action).

    Each stage's check steps (verification, smoke) run as a role named ``check_step_role_name(pipeline_name,
    account, region)``, so that the stage's release-check role can trust exactly that role
    (``aws:PrincipalArn``) and not the whole pipeline account.

    Safe defaults: cross-account KMS keys with rotation for the artifacts, self-mutation on, no privileged
    (Docker) builds. Stateful pieces (artifact bucket, keys) are retained on delete.
    """

    def __init__(self, scope: Construct, id: str, *, pipeline_name: str, source: pipelines.IFileSetProducer,
                 model_package_group_name: str, app_context: Mapping[str, str] | None = None,
                 run_context: Mapping[str, str] | None = None,
                 install_commands: Sequence[str] = ("pip install -r requirements.txt",),
                 check_install_commands: Sequence[str] | None = None, cdk_cli_version: str = CDK_CLI_VERSION, second_approver_group: iam.IGroup | None = None,
                 notification_emails: Sequence[str] = (), lint_regions: Sequence[str] = (),
                 source_connection_arn: str | None = None) -> None:
        super().__init__(scope, id)
        if not isinstance(pipeline_name, str) or not _PIPELINE_NAME.match(pipeline_name):
            raise ConfigError("pipeline_name", "must be 1-100 characters of A-Z a-z 0-9 . @ _ -, got "
                              f"{pipeline_name!r}")
        check_sagemaker_name("model_package_group_name", model_package_group_name)
        if not re.match(r"^2\.\d+\.\d+$", str(cdk_cli_version)):
            raise ConfigError("cdk_cli_version", "must be a 2.x CDK CLI version like 2.1148.1 (CLI 3.x refuses "
                              f"aws-cdk-lib 2.x assemblies), got {cdk_cli_version!r}")
        check_emails("notification_emails", list(notification_emails))
        if not install_commands:
            raise ConfigError("install_commands", "must hold at least one command, got []")
        if check_install_commands is not None and not check_install_commands:
            raise ConfigError("check_install_commands", "must hold at least one command (or be None), got []")
        self.pipeline_name = pipeline_name
        self.source = source
        self.model_package_group_name = model_package_group_name
        self.second_approver_group = second_approver_group
        self._install = list(install_commands)
        self._check_install = list(check_install_commands or install_commands)
        self._approval: tuple[str, str] | None = None
        self._released = False
        self._connection_arn = source_connection_arn
        self._env = env = StackArns.of(self)
        self._group_arn = env.arn("sagemaker", "model-package-group", model_package_group_name)
        self._versions_arn = env.arn("sagemaker", "model-package", f"{model_package_group_name}/*")

        self.synth_step = pipelines.CodeBuildStep(
            "Synth", input=source, install_commands=self._install, commands=self.synth_commands(
                model_package_group_name, app_context or {}, cdk_cli_version,
                lint_regions=list(lint_regions) or [env.region], run_context=run_context or {}),
            primary_output_directory="cdk.out",
            role_policy_statements=[
                iam.PolicyStatement(actions=["sagemaker:DescribeModelPackageGroup"], resources=[self._group_arn]),
                # ListModelPackages is authorised on the model-package resources (IAM's service reference), as
                # SageMaker's cross-account sharing grants it: the group's versions, and the group.
                iam.PolicyStatement(actions=["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                                    resources=[self._group_arn, self._versions_arn]),
            ],
        )
        environment = codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                                                 compute_type=codebuild.ComputeType.SMALL, privileged=False)
        self.cdk_pipeline = pipelines.CodePipeline(
            self, "Pipeline", pipeline_name=pipeline_name, synth=self.synth_step,
            cross_account_keys=True, enable_key_rotation=True, self_mutation=True,
            docker_enabled_for_synth=False, docker_enabled_for_self_mutation=False,
            pipeline_type=codepipeline.PipelineType.V2,
            cli_version=cdk_cli_version,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=environment, timeout=Duration.minutes(60),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": {"python": "3.11"}}}})),
            synth_code_build_defaults=pipelines.CodeBuildOptions(build_environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.MEDIUM)),
        )
        self.topic: sns.ITopic | None = None
        if notification_emails:
            self.topic = self._notifications(list(notification_emails))
        self._acknowledge()

    # ------------------------------------------------------------------------------------------- synth
    @staticmethod
    def synth_commands(model_package_group_name: str, app_context: Mapping[str, str],
                       cdk_cli_version: str = CDK_CLI_VERSION, lint_regions: Sequence[str] = ("us-east-1",),
                       run_context: Mapping[str, str] | None = None) -> list[str]:
        """The synth step's commands: resolve the newest Approved version into a fresh file, synthesise (with
        cdk-nag), then lint every template with cfn-lint, failing on errors (the app leaves CDK's warn-only
        built-in validator off; this is the gate instead).

        ``mlops resolve`` exiting with 3 (nothing approved yet, or the group not deployed yet) is not a
        failure: the app then leaves the endpoint stages out (it warns), the pipeline self-mutates to no
        stages and deploys nothing. Any other failure (access, throttling) fails the build.
        """
        context = {**app_context, "approved_versions": VERSIONS_FILE}
        run_context = run_context or {}
        for key, variable in run_context.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable) or not re.fullmatch(r"[a-z_]+", key):
                raise ConfigError(f"run_context[{key!r}]", f"must map a context key to an environment variable's "
                                  f"name, got {variable!r}")
        flags = " ".join([f"-c {shlex.quote(f'{k}={v}')}" for k, v in context.items()]
                         + [f'-c {key}="${variable}"' for key, variable in run_context.items()])
        return [
            f"rm -f {VERSIONS_FILE}",
            # The version is also a pipeline variable (what the release phases run): the exit status is
            # resolve's, the assignment keeps it.
            f"{VERSION_VARIABLE}=$(mlops resolve {shlex.quote(model_package_group_name)} --write {VERSIONS_FILE}) "
            f"|| test $? -eq {_EXIT_NOT_FOUND}",
            f"export {VERSION_VARIABLE}",
            f"npx --yes aws-cdk@{cdk_cli_version} synth {flags}",
            f"pip install cfn-lint=={CFN_LINT_VERSION}",
            # No rule is ignored here: the known false positive (E3703 on CDK Pipelines' deploy-role ARNs) is
            # ignored on that one resource, by metadata (see DeliveryPipeline._acknowledge_generated).
            "find cdk.out -name '*.template.json' -print0 | xargs -0 cfn-lint --non-zero-exit-code error "
            f"--regions {' '.join(sorted(set(lint_regions)))} --",
        ]

    # ------------------------------------------------------------------------------------------- release
    def add_release(self, *, test: ReleaseStage, prod: ReleaseStage, approval_comment: str | None = None,
                    phases: Sequence[pipelines.Step] = (), phases_before: Stack | None = None) -> None:
        """Add the release path: ``test`` (deploy, verify, smoke), the manual approval(s), then ``prod``
        (deploy, verify). Can be called once; the approval steps run before any prod deploy action.

        ``phases`` (``ReleaseGates.step``) run in order after the approvals and before prod's deploy: each gets the
        version the synth step resolved (its ``APPROVED_VERSION`` variable), and a failed phase stops the release
        there. With ``phases_before`` (a stack of the prod stage) they run just before that stack's deployment,
        after the stacks it depends on (the phases' own role): otherwise before every stack of the stage."""
        if self._released:
            raise ConfigError("add_release", "can be called once per pipeline (one release path), got a second call")
        if (test.account, test.region) == (prod.account, prod.region):
            raise ConfigError("prod.stage", "must deploy to another account or region than the test stage, got "
                              f"{prod.account}/{prod.region} for both")
        self._released = True
        self.cdk_pipeline.add_stage(test.stage, post=self._checks(test))
        approval = pipelines.ManualApprovalStep(
            "PromoteToProd", comment=approval_comment or
            f"Release to prod ({prod.account}, {prod.region}): the test endpoint passed verification"
            " and its checks. Approve to deploy the same version to prod.")
        self._approval = (prod.stage.stage_name, approval.id)
        pre: list[pipelines.Step] = [approval]
        if self.second_approver_group is not None:
            second = pipelines.ManualApprovalStep(
                "SecondApproval", comment="Second approval before prod (members of the approver group only).")
            second.add_step_dependency(approval)
            pre.append(second)
            self._grant_second_approval(prod.stage.stage_name, second.id)
        gates: list[pipelines.Step] = []
        for phase in phases:
            phase.release_version(self.synth_step.exported_variable(VERSION_VARIABLE))
            phase.add_step_dependency((gates or pre)[-1])
            gates.append(phase)
        stack_steps = [pipelines.StackSteps(stack=phases_before, pre=gates)] if gates and phases_before else []
        self.cdk_pipeline.add_stage(prod.stage, pre=pre + ([] if stack_steps else gates), stack_steps=stack_steps,
                                    post=self._checks(prod))

    def _check_step_role(self, release: ReleaseStage) -> iam.IRole:
        """One role per stage for its check steps, named so that the stage's check role can trust exactly it."""
        id = f"CheckStepRole{release.account}{release.region.replace('-', '')}"
        existing = self.node.try_find_child(id)
        if existing is not None:
            return existing  # type: ignore[return-value]
        return iam.Role(
            self, id, role_name=check_step_role_name(self.pipeline_name, release.account, release.region),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=f"{self.pipeline_name}: release checks in {release.account} {release.region}")

    def _checks(self, release: ReleaseStage) -> list[pipelines.Step]:
        role_arn = release.check_role.role_arn
        env = {"CHECK_ROLE_ARN": role_arn, "ENDPOINT_REGION": release.region}
        if release.batch_pipeline_name is not None:
            if release.batch_payloads_dir is None:
                return []
            return [pipelines.CodeBuildStep(
                "BatchCheck", input=self.source, install_commands=self._check_install, env=env,
                env_from_cfn_outputs={"PIPELINE_NAME": release.batch_pipeline_name}, role=self._check_step_role(release),
                role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])],
                timeout=_BATCH_CHECK_TIMEOUT, commands=[self.batch_check_command(release.batch_payloads_dir)])]
        if release.edge_deployment is not None:
            gate = release.edge_gate or EdgeGate()
            return [pipelines.CodeBuildStep(
                "WaitForDevices", input=self.source, install_commands=self._check_install, env=env,
                env_from_cfn_outputs={"DEPLOYMENT_ID": release.edge_deployment}, role=self._check_step_role(release),
                role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])],
                timeout=Duration.minutes(gate.wait_minutes + 20), commands=[self.edge_wait_command(gate)])]
        component = release.component_name is not None
        target = release.target_model is not None
        outputs = ({"ENDPOINT_NAME": release.endpoint_name, "COMPONENT_NAME": release.component_name,
                    "EXPECTED_MODEL": release.component_model} if component else
                   {"ENDPOINT_NAME": release.endpoint_name, "TARGET_MODEL": release.target_model,
                    "TARGET_PARAMETER": release.target_parameter} if target else
                   {"ENDPOINT_NAME": release.endpoint_name, "ENDPOINT_CONFIG_NAME": release.endpoint_config_name})
        assume = [iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])]
        step_role = self._check_step_role(release)
        verify = pipelines.CodeBuildStep(
            "VerifyDeployment", input=self.source, install_commands=self._check_install, env=env,
            env_from_cfn_outputs=outputs, role_policy_statements=assume, role=step_role,
            timeout=Duration.minutes(release.verify_minutes + 20),
            commands=[_verify_command(release.verify_minutes * 60, component=component, target=target)])
        steps: list[pipelines.Step] = [verify]
        if release.smoke_test is not None:
            smoke = pipelines.CodeBuildStep(
                "SmokeTest", input=self.source, install_commands=self._check_install, env=env,
                env_from_cfn_outputs=outputs, role_policy_statements=assume, role=step_role,
                timeout=_SMOKE_TIMEOUT,
                commands=[self.smoke_command(release.smoke_test)
                          + (' --component "$COMPONENT_NAME"' if component else "")
                          + (' --target-model "$TARGET_MODEL"' if target else "")])
            smoke.add_step_dependency(verify)
            steps.append(smoke)
        return steps

    @staticmethod
    def verify_command(timeout: Duration = Duration.minutes(30)) -> str:
        """The verification step's command (exit 6 when SageMaker rolled the release back)."""
        return _verify_command(timeout.to_seconds())

    @staticmethod
    def batch_check_command(payloads_dir: str) -> str:
        """The batch check step's command: the stage's batch pipeline over the sample files."""
        return ('mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" batch-check "$PIPELINE_NAME" '
                f"--payloads {shlex.quote(payloads_dir)}")

    @staticmethod
    def edge_wait_command(gate: EdgeGate) -> str:
        """The edge wait step's command: watch the stage's deployment until ``gate`` passes or fails it."""
        return ('mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" edge wait "$DEPLOYMENT_ID" '
                + " ".join(f"--{flag} {value}" for flag, value in (
                    ("wait-minutes", int(gate.wait_minutes)),
                    ("min-succeeded", None if gate.min_succeeded_devices is None else int(gate.min_succeeded_devices)),
                    ("max-failed-percent", f"{gate.max_failed_percent:.12g}"),
                    ("min-executed", int(gate.min_executed))) if value is not None))

    @staticmethod
    def smoke_command(smoke_test: SmokeTest) -> str:
        """The smoke step's command."""
        return ('mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" smoke "$ENDPOINT_NAME" '
                + smoke_test.command())

    def grant_prod_approval(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (for example a release managers' role) give the first approval before prod:
        ``codepipeline:PutApprovalResult`` on that approval action only, and ``codepipeline:GetPipelineState``
        on this pipeline (where the approval token is read). Call after ``add_release``."""
        if self._approval is None:
            raise ConfigError("grant_prod_approval", "needs the prod approval: call add_release first")
        env = self._env
        stage_name, action_name = self._approval
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=["codepipeline:PutApprovalResult"], resource_arns=[
            env.arn("codepipeline", self.pipeline_name, f"{stage_name}/{action_name}")])
        iam.Grant.add_to_principal(grantee=grantee, actions=["codepipeline:GetPipelineState"], resource_arns=[
            env.arn("codepipeline", self.pipeline_name)])
        return grant

    def _grant_second_approval(self, stage_name: str, action_name: str) -> None:
        # An imported group cannot take inline statements (add_to_principal_policy is a no-op on it), so the
        # policy is its own resource attached to the group by name.
        env = self._env
        action_arn = env.arn("codepipeline", self.pipeline_name, f"{stage_name}/{action_name}")
        # GetPipelineState (read-only) is where an approver reads the approval token PutApprovalResult needs.
        self.second_approval_policy = iam.Policy(
            self, "SecondApproverPolicy", groups=[self.second_approver_group], statements=[
                iam.PolicyStatement(actions=["codepipeline:PutApprovalResult"], resources=[action_arn]),
                iam.PolicyStatement(actions=["codepipeline:GetPipelineState"], resources=[
                    env.arn("codepipeline", self.pipeline_name)])])

    # ------------------------------------------------------------------------------------------- notifications
    def _notifications(self, emails: list[str]) -> sns.Topic:
        key = customer_key(self, "NotificationsKey", description=f"Encrypts the {self.pipeline_name} pipeline "
                           "notifications")
        # CodeStar Notifications publishes to the encrypted topic, so it must be able to use the key.
        key.grant(iam.ServicePrincipal("codestar-notifications.amazonaws.com"), "kms:GenerateDataKey*",
                  "kms:Decrypt")
        # EventBridge rules publish to it too (the release phases' unfinished executions).
        key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey*", "kms:Decrypt")
        topic = sns.Topic(self, "Notifications", master_key=key, enforce_ssl=True,
                          display_name=f"{self.pipeline_name} releases")
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        # The rule names the pipeline by ARN (it is built just in time, after this constructor) and is created
        # after it: CodeStar Notifications refuses a rule on a pipeline that does not exist yet.
        source = codepipeline.Pipeline.from_pipeline_arn(
            self, "NotifiedPipeline", self._env.arn("codepipeline", self.pipeline_name))
        rule = source.notify_on(
            "NotificationRule", topic, detail_type=notifications.DetailType.FULL,
            events=[codepipeline.PipelineNotificationEvents.PIPELINE_EXECUTION_FAILED,
                    codepipeline.PipelineNotificationEvents.MANUAL_APPROVAL_NEEDED])
        rule.node.add_dependency(self.cdk_pipeline)
        return topic

    # ------------------------------------------------------------------------------------------- nag
    def _acknowledge(self) -> None:
        acknowledge_wildcards(self, {
            self._versions_arn: "The synth step resolves the newest Approved version of this one group: it must "
            "describe the group's versions, whose ARNs end in their version number.",
        })
        # CDK Pipelines builds the CodePipeline just in time (its own mutating aspect, at synthesis, after every
        # add_stage); what it generates is finished by a mutating aspect too, so that aspects that check the tree
        # see the result. Aspects run construct by construct, parents first and children in the order they were
        # added: on a leaf that is the CDK pipeline's first child, this one runs right after the build, before any
        # generated construct is visited; and once per synth, where an aspect on the pipeline would be called
        # back (in Python) for each of its constructs.
        Aspects.of(Construct(self.cdk_pipeline, "FinishAfterBuild")).add(_FinishAfterBuild(self),
                                                                         priority=AspectPriority.MUTATING)

    def _acknowledge_generated(self) -> None:
        """Build the pipeline (if CDK Pipelines has not yet) and acknowledge, one wildcard at a time, what CDK
        Pipelines grants its own generated roles."""
        try:
            pipeline = self.cdk_pipeline.pipeline
        except RuntimeError:  # not built yet: building here is what CDK Pipelines' own aspect would do next
            self.cdk_pipeline.build_pipeline()
            pipeline = self.cdk_pipeline.pipeline
        env = self._env
        # CDK Pipelines destroys its artifact key with the stack; the retained bucket's objects would then be
        # unreadable, so the key is kept too (stateful resources are retained).
        artifacts = pipeline.artifact_bucket
        artifacts.encryption_key.apply_removal_policy(RemovalPolicy.RETAIN)
        restrict_grants_to_aws_services(artifacts.encryption_key)
        # cfn-lint's E3703 reads CDK Pipelines' deploy-role ARNs (Fn::Join with an empty delimiter, CDK's way of
        # building bootstrap role ARNs) as a likely mistake: ignored on the CodePipeline resource only.
        cfn_pipeline = pipeline.node.default_child
        cfn_pipeline.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3703"]}})
        if self._connection_arn is not None and ":codeconnections:" in self._connection_arn:
            # CDK grants the source action codestar-connections:UseConnection; a connection created under the
            # codeconnections prefix (the console's default since July 2024) needs that prefix's action: "the
            # service prefix needs to match that of the resource".
            # The source action's role: <pipeline>/Source/<action>/CodePipelineActionRole (a few lookups, not a
            # walk of the whole pipeline).
            source_stage = pipeline.node.try_find_child("Source")
            for action in source_stage.node.children if source_stage is not None else []:
                role = action.node.try_find_child("CodePipelineActionRole")
                if isinstance(role, iam.Role):
                    role.add_to_principal_policy(iam.PolicyStatement(
                        actions=["codeconnections:UseConnection"], resources=[self._connection_arn]))
        # Transient: an execution reads its artifacts while it runs (a manual approval waits 7 days at most);
        # without expiry every execution's synth output and model payloads would be kept forever.
        cfn_artifacts = artifacts.node.default_child
        cfn_artifacts.lifecycle_configuration = s3.CfnBucket.LifecycleConfigurationProperty(rules=[
            s3.CfnBucket.RuleProperty(id="TransientArtifacts", status="Enabled",
                                      expiration_in_days=PIPELINE_ARTIFACT_DAYS,
                                      abort_incomplete_multipart_upload=s3.CfnBucket.AbortIncompleteMultipartUploadProperty(
                                          days_after_initiation=1))])
        acknowledge(artifacts, "S1", "The artifact bucket holds only transient pipeline artifacts (expired after "
                    f"{PIPELINE_ARTIFACT_DAYS} days), KMS-encrypted and reachable only by the pipeline's roles; its "
                    "API access is in CloudTrail.")
        resources = {f"{artifacts.bucket_arn}/*": "CDK Pipelines' roles read and write pipeline "
                     "artifacts, whose object keys are generated per execution, in the pipeline's own bucket."}
        for project in self.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                name = project.ref
                resources[env.arn("logs", "log-group", f"/aws/codebuild/{name}:*", separator=":")] = (
                    "A CodeBuild project writes its own log group's log streams, named per build.")
                resources[env.arn("codebuild", "report-group", f"{name}-*")] = (
                    "A CodeBuild project's own test report groups (CodeBuild default).")
        for support_region, support in sorted(pipeline.cross_region_support.items()):
            bucket = support.replication_bucket
            if bucket.encryption_key is not None:
                restrict_grants_to_aws_services(bucket.encryption_key)
            acknowledge(bucket, "S1", f"Replication bucket of the pipeline's artifacts in {support_region} (CDK "
                        "Pipelines' cross-region support stack): transient, KMS-encrypted, pipeline roles only.")
            resources[f"{bucket.bucket_arn}/*"] = (f"Pipeline artifacts replicated to {support_region} for the "
                                                   "deployments there, object keys generated per execution.")
            acknowledge_wildcards(pipeline.role, {"*": "kms actions only, on the key of the cross-region "
                                  "replication bucket: it lives in a support stack of another region whose key ARN "
                                  "this stack cannot reference; that key's policy limits its use."})
        acknowledge_wildcards(self, resources, actions={
            "s3:GetObject*": "Read pipeline artifacts (object versions and tags included) in the artifact bucket.",
            "s3:GetBucket*": "Locate and read the configuration of the artifact bucket only.",
            "s3:List*": "List the artifact bucket only.",
            "s3:DeleteObject*": "Replace pipeline artifacts in the artifact bucket only.",
            "s3:Abort*": "Abort multipart uploads of pipeline artifacts in the artifact bucket only.",
            "kms:ReEncrypt*": "Re-encrypt pipeline artifacts under the pipeline's own artifact key only.",
            "kms:GenerateDataKey*": "Encrypt pipeline artifacts under the pipeline's own artifact key only.",
        })
        mutation_role = self.cdk_pipeline.self_mutation_project.role
        acknowledge_wildcards(mutation_role, {
            "*": "Self-mutation (cdk deploy of the pipeline stack) reads stack status (cloudformation:DescribeStacks) "
                 "and locates the bootstrap bucket (s3:ListBucket); neither names its resource up front.",
            f"arn:*:iam::{env.account}:role/*": "Self-mutation assumes only the CDK bootstrap roles of this "
            "account (condition iam:ResourceTag/aws-cdk:bootstrap-role), whose names carry the bootstrap qualifier.",
        })


def bounded_role_name(name: str) -> str:
    """``name`` if it fits IAM's 64 characters, else its first 55 and a hash (deterministic, unique enough)."""
    return name if len(name) <= 64 else f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def check_step_role_name(pipeline_name: str, account: str, region: str) -> str:
    """The name of the role a stage's check steps run as (``<pipeline>-checks-<account>-<region>``): what that
    stage's release-check role trusts, by ``aws:PrincipalArn``."""
    return bounded_role_name(f"{pipeline_name}-checks-{account}-{region}")


def _verify_command(timeout_seconds: float, component: bool = False, target: bool = False) -> str:
    """``DeliveryPipeline.verify_command`` for a timeout in seconds (a number: no Duration round trips); with
    ``component``, the check of an inference component's model; with ``target``, of a multi-model target."""
    expected = ('--component "$COMPONENT_NAME" --expected-model "$EXPECTED_MODEL"' if component
                else '--target-model "$TARGET_MODEL" --target-parameter "$TARGET_PARAMETER"' if target
                else '--expected-config "$ENDPOINT_CONFIG_NAME"')
    return ('mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" verify "$ENDPOINT_NAME" '
            f'{expected} --timeout {timeout_seconds:g} --poll-interval 30')


@jsii.implements(IAspect)
class _FinishAfterBuild:
    """Runs ``DeliveryPipeline._acknowledge_generated`` once, after CDK Pipelines' aspect has built the pipeline
    (it builds the pipeline itself if that aspect has not run yet)."""

    def __init__(self, owner: DeliveryPipeline) -> None:
        self._owner = owner
        self._done = False

    def visit(self, node: IConstruct) -> None:
        if not self._done:
            self._done = True
            self._owner._acknowledge_generated()
