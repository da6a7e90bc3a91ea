"""Gated release phases: a Step Functions state machine per phase (shadow, A/B) that runs the phase on the
stage's endpoint and judges it, invoked by the delivery pipeline before the guarded rollout.

Why a state machine: a phase lasts hours to days (a day at least for a business metric), longer than a
CodeBuild build may run (8 hours) and too long to hold a paid build container. CodePipeline's Step Functions
action waits for a Standard workflow up to its timeout (7 days by default), and the workflow's Wait states cost
nothing while they wait. Each phase is its own action, so the pipeline's console shows which phase a release is in.

One phase's execution::

    start the phase (trial config)  -> wait until the endpoint serves it
    -> look at the gate every poll interval (PASS / FAIL / WAIT; a person's skip or stop counts)
    -> return the endpoint to its steady config (always: on PASS, FAIL or any error)
    -> conclude: on FAIL reject the version with the verdict, tell the release topic; the execution fails
       (and with it the pipeline) unless the gate passed.

The code is ``ops/release_phase.py`` and ``ops/release_gate.py`` (the analysis ``mlops shadow-report`` and
``mlops ab-report`` use), shipped as the ops folder alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk import pipelines
from constructs import Construct

from .arns import StackArns
from .errors import ConfigError, check_choice
from .nag import acknowledge, acknowledge_wildcards
from .ops.gates import ABGate, ShadowGate
from .ops.release_phase import PHASES
from .stage_spec import check_phase_timing

__all__ = ["PHASES", "ReleaseGates", "ReleasePhase"]

_ENDPOINT_POLL = Duration.minutes(1)
#: First wait before a failed task is tried again (then doubled, 5 tries: about 10 minutes in all).
_RETRY_INTERVAL = Duration.seconds(20)
_OPS_DIR = Path(__file__).resolve().parent / "ops"


@dataclass(frozen=True)
class ReleasePhase:
    """One gated phase of a stage's release.

    :param phase: ``shadow`` or ``ab``.
    :param endpoint_name: the stage's endpoint.
    :param production_variant: its production variant (kept, with its model, through the phase).
    :param candidate_variant: the name the version being released gets in the phase.
    :param percent: the shadow's sampling (1-100) or the challenger's weight (1-50) in percent.
    :param gate: the gate's settings (``ops.gates.ShadowGate`` / ``ABGate`` fields).
    :param poll_interval: time between two looks at the gate; default 5 minutes.
    :param instance_count: instances of the candidate variant; default: the production variant's initial count.
    :param metric: A/B only: the business metric ``NAMESPACE/NAME``; ``kind``: ``rate`` or ``mean``.
    :param override_parameter: the SSM parameter (pipeline account) where a person's skip or stop of this gate is
        recorded (``ops.release_gate.override_parameter``); default: none can be recorded.
    """

    phase: str
    endpoint_name: str
    production_variant: str
    candidate_variant: str
    percent: float
    gate: dict = field(default_factory=dict)
    poll_interval: Duration = Duration.minutes(5)
    instance_count: int | None = None
    metric: str | None = None
    kind: str | None = None
    override_parameter: str | None = None

    def __post_init__(self) -> None:
        check_choice("phase", self.phase, PHASES)
        if self.phase == "ab" and (not self.metric or self.kind not in ("rate", "mean")):
            raise ConfigError("metric", f"an A/B phase needs a metric NAMESPACE/NAME and a kind (rate, mean), got "
                              f"{self.metric!r} and {self.kind!r}")
        try:  # the gate's own rules, and its deadline (given or default)
            gate = (ShadowGate if self.phase == "shadow" else ABGate)(**self.gate)
        except ConfigError as error:
            raise error.under("gate") from None
        except TypeError as error:  # a setting the gate does not have
            raise ConfigError("gate", str(error)) from None
        check_phase_timing("gate", gate.deadline_seconds, self.poll_interval.to_seconds())

    def settings(self, *, region: str, role_arn: str, topic_arn: str | None) -> dict:
        """The ``release`` the state machine's tasks read (``ops.release_gate.handler``)."""
        settings: dict[str, Any] = {
            "phase": self.phase, "endpoint": self.endpoint_name, "region": region, "role_arn": role_arn,
            "production_variant": self.production_variant, "candidate_variant": self.candidate_variant,
            "percent": self.percent, "gate": self.gate, "poll_seconds": int(self.poll_interval.to_seconds())}
        if self.instance_count is not None:
            settings["instance_count"] = self.instance_count
        if self.metric is not None:
            settings.update(metric=self.metric, kind=self.kind)
        if topic_arn is not None:
            settings["topic_arn"] = topic_arn
        if self.override_parameter is not None:
            settings["override_parameter"] = self.override_parameter
        return settings


class ReleaseGates(Construct):
    """The state machines of one stage's release phases, with the function they run.

    :param phases: the phases, in order (each gets its own state machine and pipeline action).
    :param stage_role_arn: the stage account's role the function assumes to read CloudWatch and move the
        endpoint (it trusts ``function_role_name``).
    :param region: the stage's region.
    :param function_role_name: the name of the function's role (the stage's role trusts it by name).
    :param registry_versions_arns: the model package versions the function may reject or read overrides from
        (``RegistryRef.versions_arns``: ``arn:...:model-package/<group>/*``).
    :param state_machine_names: ``{phase: name}`` of the state machines (deterministic names: the pipeline's
        action roles may then describe exactly their executions, and ``mlops release`` finds them).
    :param topic: where a phase's outcome is told; default none.
    """

    def __init__(self, scope: Construct, id: str, *, phases: list[ReleasePhase], stage_role_arn: str, region: str,
                 function_role_name: str, registry_versions_arns: list[str],
                 state_machine_names: dict[str, str],
                 topic: sns.ITopic | None = None) -> None:
        super().__init__(scope, id)
        self.state_machine_names = dict(state_machine_names)
        unnamed = [p.phase for p in phases if not self.state_machine_names.get(p.phase)]
        if unnamed:
            raise ConfigError("state_machine_names", f"needs a name for every phase, got none for {unnamed}")
        if not phases or len({p.phase for p in phases}) != len(phases):
            raise ConfigError("phases", f"must hold each of {', '.join(PHASES)} at most once, and at least one, "
                              f"got {[p.phase for p in phases]}")
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.RETAIN)
        role = iam.Role(self, "FunctionRole", role_name=function_role_name,
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="Runs and judges release phases on the stage's endpoint")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[stage_role_arn]))
        # Overrides are read from, and a failed gate's verdict written to, the version being released.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
            resources=list(registry_versions_arns)))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                                         resources=[log_group.log_group_arn]))
        if topic is not None:
            topic.grant_publish(role)
        parameters = [StackArns.of(self).arn("ssm", "parameter", p.override_parameter.lstrip("/"))
                      for p in phases if p.override_parameter]
        if parameters:
            # A person's decision is read at every look and removed when the phase concludes.
            role.add_to_principal_policy(iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:DeleteParameter"],
                                                             resources=parameters))
        function = lambda_.Function(
            self, "Function", runtime=lambda_.Runtime.PYTHON_3_13, handler="ops.release_gate.handler",
            code=lambda_.Code.from_asset(str(_OPS_DIR.parent), exclude=["*", "!ops", "!ops/*.py"]),
            timeout=Duration.minutes(5), role=role, log_group=log_group, memory_size=256,
            description="Release phases: start, judge and end a shadow or A/B phase",
            # Bounded AWS calls (ops/aws.py): 3 attempts of at most 5 s to connect and 60 s to read, inside the
            # function's 5 minutes.
            environment={"MLOPS_AWS_MAX_ATTEMPTS": "3", "MLOPS_AWS_READ_TIMEOUT": "60"})
        self.function = function
        self.state_machines: dict[str, sfn.StateMachine] = {}
        topic_arn = topic.topic_arn if topic is not None else None
        for phase in phases:
            settings = phase.settings(region=region, role_arn=stage_role_arn, topic_arn=topic_arn)
            self.state_machines[phase.phase] = self._state_machine(phase.phase, settings, log_group)
        if topic is not None:
            # An execution that ends without its conclusion (its 7-day timeout, or stopped by a person) told
            # nobody and may have left the endpoint on a trial config: the topic hears of it.
            events.Rule(self, "UnfinishedPhase", description="A release phase ended without its conclusion",
                        event_pattern=events.EventPattern(
                            source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                            detail={"status": ["TIMED_OUT", "ABORTED"],
                                    "stateMachineArn": [self.state_machine_arn(p) for p in self.state_machines]}),
                        targets=[targets.SnsTopic(topic, message=events.RuleTargetInput.from_text(
                            f"Release phase execution {events.EventField.from_path('$.detail.name')} of "
                            f"{events.EventField.from_path('$.detail.stateMachineArn')} ended "
                            f"{events.EventField.from_path('$.detail.status')} without returning the endpoint to its "
                            "steady config: it may have left the endpoint on a trial config; `mlops release restore` returns it."))])
        acknowledge_wildcards(role, {
            **{arn: "Versions are numbered by SageMaker at registration: the function reads and rejects the "
               "version being released, one of this group's." for arn in registry_versions_arns},
            f"{log_group.log_group_arn}": "The function's own log group (its streams are named per invocation).",
        })
        acknowledge_wildcards(self, {
            f"{function.function_arn}:*": "The state machines invoke the release function, any of its versions.",
            "*": "X-Ray tracing and CloudWatch Logs log delivery (the state machines' logs) have no resource-level "
                 "permissions.",
        })
        acknowledge(function, "L1", "Python 3.13 is the runtime the ops code is tested on; the newest runtime is "
                    "taken up deliberately, with the tests.")

    def _state_machine(self, phase: str, settings: dict, log_group: logs.ILogGroup) -> sfn.StateMachine:
        scope = Construct(self, phase.capitalize())

        def task(id: str, action: str, result_path: str) -> tasks.LambdaInvoke:
            invoke = tasks.LambdaInvoke(scope, id, lambda_function=self.function, payload_response_only=True,
                                        payload=sfn.TaskInput.from_object({"action": action, "state.$": "$"}),
                                        result_path=result_path, retry_on_service_exceptions=True)
            # Every action is idempotent (it reads where the endpoint stands first), so a failed call is tried
            # again, except a PhaseError, which retrying cannot mend. An endpoint busy with autoscaling or a
            # system update is waited for, up to an hour.
            invoke.add_retry(errors=["PhaseError"], max_attempts=0)
            invoke.add_retry(errors=["EndpointBusy"], interval=_ENDPOINT_POLL, max_attempts=60, backoff_rate=1)
            invoke.add_retry(errors=["States.ALL"], interval=_RETRY_INTERVAL, max_attempts=5, backoff_rate=2)
            return invoke

        begin = sfn.Pass(scope, "Release", parameters={"release": {
            **settings, "version_arn.$": "$.version_arn"}})
        start = task("StartPhase", "start", "$.started")
        wait_trial = sfn.Wait(scope, "WaitForTrialConfig", time=sfn.WaitTime.duration(_ENDPOINT_POLL))
        status = task("TrialConfigStatus", "status", "$.status")
        evaluate = task("EvaluateGate", "evaluate", "$.verdict")
        wait_traffic = sfn.Wait(scope, "WaitForTraffic", time=sfn.WaitTime.seconds_path("$.release.poll_seconds"))
        restore = task("RestoreSteadyConfig", "restore", "$.restored")
        wait_steady = sfn.Wait(scope, "WaitForSteadyConfig", time=sfn.WaitTime.duration(_ENDPOINT_POLL))
        conclude = task("Conclude", "conclude", "$.outcome")
        for step in (start, status, evaluate, restore):
            step.add_catch(restore if step is not restore else conclude, result_path="$.error")
        wait_trial.next(status)
        definition = begin.next(start).next(
            sfn.Choice(scope, "AnythingToCompare")
            .when(sfn.Condition.is_present("$.started.skipped"), sfn.Succeed(scope, "NothingToCompare"))
            .otherwise(wait_trial))
        status.next(
            sfn.Choice(scope, "TrialConfigInService")
            .when(sfn.Condition.boolean_equals("$.status.reached", True), evaluate.next(
                sfn.Choice(scope, "GateDecision")
                .when(sfn.Condition.string_equals("$.verdict.decision", "WAIT"), wait_traffic.next(evaluate))
                .otherwise(restore.next(
                    sfn.Choice(scope, "SteadyConfigInService")
                    .when(sfn.Condition.boolean_equals("$.restored.reached", True), conclude.next(
                        sfn.Choice(scope, "Outcome")
                        .when(sfn.Condition.string_equals("$.outcome.outcome", "passed"),
                              sfn.Succeed(scope, "GatePassed"))
                        .when(sfn.Condition.string_equals("$.outcome.outcome", "failed"),
                              sfn.Fail(scope, "GateFailed", error="GateFailed", cause_path="$.outcome.reason"))
                        .otherwise(sfn.Fail(scope, "PhaseError", error="PhaseError",
                                            cause_path="$.outcome.reason"))))
                    .otherwise(wait_steady.next(restore))))))
            .otherwise(wait_trial))
        machine = sfn.StateMachine(
            scope, "StateMachine", state_machine_name=self.state_machine_names[phase],
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            # A backstop only: every phase ends by its gate's deadline, which is checked to come well before.
            timeout=Duration.days(7), tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"Release phase {phase}: start on the endpoint, judge by the gate, return to the steady config")
        return machine

    def state_machine_arn(self, phase: str) -> str:
        """The ARN of ``phase``'s state machine, as a plain string (its name is fixed)."""
        return StackArns.of(self).arn("states", "stateMachine", self.state_machine_names[phase], separator=":")

    def step(self, phase: str) -> pipelines.Step:
        """The pipeline step that runs ``phase`` for the version the pipeline's synth step resolved (a
        ``version_arn`` variable); add it before the stage's deploy actions. Its action may start that state
        machine and describe its executions only."""
        arn = self.state_machine_arn(phase)
        acknowledge_wildcards(Stack.of(self), {
            f"{arn.replace(':stateMachine:', ':execution:')}:*": "The pipeline's action waits for the execution it "
            "started: executions are named per run, under this one state machine."})
        return _PhaseStep(f"{'Shadow' if phase == 'shadow' else 'AB'}Gate", arn)


@jsii.implements(pipelines.ICodePipelineActionFactory)
class _PhaseStep(pipelines.Step):
    """A CDK Pipelines step that invokes a phase's state machine and waits for it (CodePipeline's Step Functions
    action). ``version`` is the version ARN, usually a pipeline variable of the synth step."""

    def __init__(self, id: str, state_machine_arn: str) -> None:
        super().__init__(id)
        self.state_machine_arn = state_machine_arn
        self.version: str | None = None

    def release_version(self, version: str) -> None:
        """The version this step runs the phase for: an ARN or another step's variable (``exported_variable``),
        whose producer then runs first and exports it."""
        self.version = version
        self._discover_referenced_outputs({"version_arn": version})

    def produce_action(self, stage: codepipeline.IStage, *, action_name: str, run_order: int, scope: Construct,
                       **kwargs: Any) -> pipelines.CodePipelineActionFactoryResult:
        if self.version is None:
            raise ConfigError("version", "the phase step needs the version to release (set by add_release)")
        state_machine = sfn.StateMachine.from_state_machine_arn(scope, f"{self.id}StateMachine",
                                                                self.state_machine_arn)
        stage.add_action(actions.StepFunctionInvokeAction(
            action_name=action_name, run_order=run_order, state_machine=state_machine,
            state_machine_input=actions.StateMachineInput.literal({"version_arn": self.version})))
        return pipelines.CodePipelineActionFactoryResult(run_orders_consumed=1)

