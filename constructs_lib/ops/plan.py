"""``mlops plan``: what each stage's deployment policy will do, before it does it.

Reads the platform config (no AWS calls) and, per model and stage, turns the policy into numbers with
``constructs_lib.rollout`` (timeline, waits, maximum execution timeout): the rollout timeline, how long a
broken model runs before its alarms fire, how much traffic it sees by then, the extra instance-hours, and the
classic strategy comparison. ``--chart FILE`` draws the share of traffic on the new fleet over time.

Assumptions beyond rollout.py (pure functions below, so they are testable and visible):

* Alarm detection: a model broken from its first request breaches every period, so an M-out-of-N alarm fires
  after ``period * datapoints_to_alarm`` plus the delay before SageMaker's one-minute metrics reach
  CloudWatch (``METRIC_DELIVERY_DELAY_SECONDS``).
* Rollback of a blue/green deployment shifts traffic back to the old fleet, which is still running
  (``BLUE_GREEN_ROLLBACK_SECONDS``); a rolling update re-provisions the replaced batches
  (``rollout.TYPICAL_PROVISIONING_SECONDS`` each), all at once unless ``rollback_batch_size`` is set.
* Extra cost: blue/green runs a full second fleet (every instance variant and the shadow) for the whole
  rollout; rolling runs one extra batch per variant.
* Release phases (``release``): each starts and ends with an endpoint update (``TYPICAL_PROVISIONING_SECONDS``
  each); its gate looks every ``poll_interval``. A bad version is stopped at the first look that has conclusive
  evidence, and at the latest when the phase's deadline passes without enough data: the next look, then the
  update back to the steady config.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from dataclasses import asdict, dataclass
from typing import Any

from constructs_lib.config import StageConfig, load_config, target_parameter_name
from constructs_lib.errors import ConfigError
from constructs_lib import edge_rules
from .base import EXIT_USAGE, OpsError, Output, bounded
from .output import duration, table
from .release_phase import PHASES, candidate_instances
from constructs_lib.rollout import MAX_TIMEOUT_SECONDS, TYPICAL_PROVISIONING_SECONDS, RolloutSpec, Step
from constructs_lib.stage_spec import StageSpec, component_rollout, component_settings, mode
from constructs_lib.variants import RollbackAlarms, fleet_capacity

STAGES = ("test", "prod")
#: Typical delay before an endpoint's one-minute metrics are visible to CloudWatch alarms.
METRIC_DELIVERY_DELAY_SECONDS = 120
#: What ``plan`` puts in place of ``model: approved`` (no version matters to a plan).
_PLACEHOLDER = "arn:aws:sagemaker:us-east-1:000000000000:model-package/plan/1"
#: Time to route traffic back to the old (still running) blue fleet.
BLUE_GREEN_ROLLBACK_SECONDS = 60

_EPILOG = """examples:
  mlops plan config/platform.yaml
  mlops plan config/platform.yaml --model churn-predictor --stage prod --chart rollout.png
"""


def register(subparsers: Any) -> None:
    """Add the ``plan`` subcommand."""
    parser = subparsers.add_parser(
        "plan",
        help="rollout timeline, alarm detection time, exposure and extra cost of each stage's policy",
        description=(
            "Explain each stage's deployment policy from the config file (no AWS calls): the rollout timeline "
            "(share of traffic on the new fleet over time, waits, bake), the expected and maximum duration, "
            "the worst-case time for a broken model to trip its alarms (alarm period x datapoints_to_alarm + "
            f"{METRIC_DELIVERY_DELAY_SECONDS} s metric delivery delay), the share of traffic exposed before "
            "rollback, the extra instance-hours during the rollout, and the classic comparison columns (no "
            "downtime, condition-based, rollback time, additional cost). Timelines assume "
            f"{TYPICAL_PROVISIONING_SECONDS} s to provision a fleet or batch."
        ),
        epilog=_EPILOG,
    )
    parser.add_argument("config", metavar="CONFIG", help="the platform config file (YAML)")
    parser.add_argument("--model", metavar="NAME", help="only this model (default: every model)")
    parser.add_argument("--stage", choices=STAGES, help="only this stage (default: test and prod)")
    parser.add_argument("--chart", metavar="FILE", help="also write a PNG chart of traffic on the new fleet")
    parser.add_argument("--devices", type=bounded(1, 2 ** 31 - 1, integer=True), metavar="N",
                        help="an edge stage's fleet size (default: its edge.devices, else 1000)")
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class PhasePlan:
    """One release phase before the rollout: what the version answers, how long the phase lasts at least, and
    how long a bad version can run in it at worst (until the endpoint is back on its steady config)."""

    phase: str
    answers_percent: float
    requests_percent: float
    candidate_instances: int
    min_seconds: int
    deadline_seconds: int
    poll_seconds: int
    stopped_within_seconds: int
    """Worst case from the phase's start to the endpoint back on its steady config (the deadline, one more look,
    the two endpoint updates)."""


def plan_phases(stage: StageConfig) -> list[PhasePlan]:
    """The stage's release phases (``release``), in order; none without a release plan."""
    release = stage.release
    if release is None:
        return []
    count = stage.variants[0].initial_instance_count
    phases = []
    for name in PHASES:
        phase = getattr(release, name)
        if phase is None:
            continue
        answers, requests = (0.0, float(phase.sampling_percentage)) if name == "shadow" else (
            float(phase.weight), float(phase.weight))
        phases.append(PhasePlan(
            phase=name, answers_percent=answers, requests_percent=requests,
            candidate_instances=phase.instance_count or candidate_instances(
                {"ProductionVariants": [{"VariantName": "production", "CurrentInstanceCount": count}]},
                {"VariantName": "production"}, name, requests), min_seconds=phase.min_duration,
            deadline_seconds=phase.deadline, poll_seconds=release.poll_interval,
            stopped_within_seconds=2 * TYPICAL_PROVISIONING_SECONDS + phase.deadline + release.poll_interval))
    return phases


@dataclass(frozen=True)
class StagePlan:
    """The numbers ``mlops plan`` reports for one model's stage."""

    model: str
    stage: str
    endpoint: str
    policy: str
    strategy: str
    capacity: int
    instances: int
    steps: int
    expected_seconds: int
    fleet_capacity: int
    fleet_steps: int
    max_seconds: int
    timeout_capped: bool
    detection_seconds: int | None
    detection_arithmetic: str
    exposed_percent: float
    alarm_after_rollout: bool
    extra_instance_hours: float
    rollback_seconds: int | None
    no_downtime: bool
    condition_based: str
    additional_cost: str
    timeline: list[Step]
    phases: list[PhasePlan]
    """The release phases before the rollout (``release``); empty without a release plan."""
    unit: str = "instances"
    """What capacity counts: instances, or an inference component's copies."""

    def as_dict(self) -> dict:
        """Plain dict for ``--json``."""
        data = asdict(self)
        data["timeline"] = [asdict(step) for step in self.timeline]
        data["phases"] = [asdict(phase) for phase in self.phases]
        return data

    @property
    def release_seconds(self) -> int:
        """At least how long from the prod approval to 100 %: every phase's minimum with its two endpoint
        updates, then the rollout."""
        return sum(p.min_seconds + 2 * TYPICAL_PROVISIONING_SECONDS for p in self.phases) + self.expected_seconds


def run(args: Any, ctx: Any = None) -> Output:
    """Handler: plan every selected stage; ``ctx`` is unused (no AWS calls)."""
    try:
        config = load_config(args.config)
        models = [config.model(args.model)] if args.model else list(config.models)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    stages = [args.stage] if args.stage else list(STAGES)
    plans, batches, edges = [], [], []
    for model in models:
        for stage_name in stages:
            stage = getattr(model.stages, stage_name)
            if mode(stage) == "edge":
                edges.append(plan_edge(model.name, stage_name, stage, getattr(args, "devices", None)))
                continue
            if mode(stage) == "multi_model":  # no rollout: an artifact under a new name, then the pointer moves
                check = ("; the delivery pipeline's smoke check invokes the new target model first" if stage.checks
                         is not None else "; no smoke check in this stage")
                batches.append(f"{model.name} / {stage_name}: mode multi_model on host {stage.multi_model.host}, no "
                               "rollout: a release copies the version's artifact under a new name, then the target "
                               f"parameter ({target_parameter_name(config, model.name, stage_name)}) names it for "
                               "callers, all at once; no alarm judges one model (SageMaker publishes no per-model "
                               f"metrics){check}")
                continue
            if mode(stage) == "batch":  # no endpoint, no rollout: a stack update swaps the model between runs
                check = ("; the delivery pipeline's batch check runs it over the sample files" if stage_name == "test"
                         and stage.checks is not None else "")
                batches.append(f"{model.name} / {stage_name}: mode batch, no endpoint to roll out (a release swaps "
                               f"the model of the batch pipeline between runs{check})")
                continue
            try:
                plans.append(plan_stage(model.name, stage_name, stage))
            except ConfigError as error:
                raise OpsError(f"{args.config}: model {model.name}, stage {stage_name}: {error}", EXIT_USAGE) from None
    text = "\n\n".join(part for part in (render(plans) if plans else "", "\n".join(batches),
                                          "\n\n".join(e["text"] for e in edges)) if part)
    data: dict[str, Any] = {"config": str(args.config), "stages": [p.as_dict() for p in plans], "batch": batches,
                            "edge": [{k: v for k, v in e.items() if k != "text"} for e in edges]}
    if args.chart:
        if not plans:
            raise OpsError("--chart draws endpoint rollouts, and the selected stages have none (an edge stage's "
                           "waves are in the text)", EXIT_USAGE)
        write_chart(plans, args.chart)
        data["chart"] = str(args.chart)
        text += f"\n\nchart written to {args.chart}"
    return Output(data=data, text=text)


#: The fleet an edge stage is planned for when neither ``--devices`` nor ``edge.devices`` says.
DEFAULT_DEVICES = 1000


def plan_edge(model: str, stage_name: str, stage: StageConfig, devices: int | None = None) -> dict[str, Any]:
    """An edge stage's rollout in numbers: the waves a healthy version reaches the fleet in, what a version
    failing on every device reaches before the abort, and the pipeline's gate (``edge_rules``)."""
    edge = stage.edge
    assumed = devices is None and edge.devices is None
    fleet = devices or edge.devices or DEFAULT_DEVICES
    rollout, abort, gate = edge.rollout.to_rollout(), edge.abort.to_abort(), edge.gate()
    waves = edge_rules.rollout_waves(fleet, rollout)
    exposed = edge_rules.exposed_if_every_device_fails(fleet, rollout, abort, edge.in_progress_timeout_minutes)
    counted = ", ".join(abort.failure_types)
    needed = ("every targeted device" if gate.min_succeeded_devices is None
              else f"{gate.min_succeeded_devices} devices")
    lines = [
        f"{model} / {stage_name}: mode edge, thing group {edge.thing_group}, {fleet} devices"
        + (" (assumed: set edge.devices or --devices)" if assumed else ""),
        "  waves (each device succeeding at once; real installs take longer):",
        *[f"    {w.rate_per_minute:g}/min for {w.devices} devices, minute {w.start:.1f} to {w.end:.1f}" for w in waves],
        f"  abort: more than {abort.threshold_percent:g} % ({counted}) of at least {abort.min_executed} finished "
        f"devices cancels the rest; a device has {edge.in_progress_timeout_minutes} min once it started",
        f"  worst case: a version failing on every device reaches {exposed} of {fleet} devices before the abort "
        + ("(the rate grows only with successes)" if rollout.count == "succeeded" else
           "(the rate grows with notifications, failed or not)")
        + (". A version failing on fewer devices than the threshold is not stopped by it" if exposed < fleet
           else f": {_unbounded_because(abort, rollout, fleet)}"),
        f"  gate: the pipeline waits up to {gate.wait_minutes} min for {needed} to succeed, at most "
        f"{gate.max_failed_percent:g} % of the finished ones failed",
    ]
    return {"model": model, "stage": stage_name, "thing_group": edge.thing_group, "devices": fleet,
            "devices_assumed": assumed, "rollout": asdict(rollout), "abort": asdict(abort),
            "in_progress_timeout_minutes": edge.in_progress_timeout_minutes, "gate": asdict(gate),
            "waves": [asdict(w) for w in waves],
            "minutes_to_reach_all": round(waves[-1].end, 2), "exposed_if_every_device_fails": exposed,
            "text": "\n".join(lines)}


def _unbounded_because(abort: edge_rules.EdgeAbort, rollout: edge_rules.EdgeRollout, fleet: int) -> str:
    """Why a version failing everywhere reaches the whole fleet before the abort."""
    if "ALL" not in abort.failure_types and not {"FAILED", "TIMED_OUT"} <= set(abort.failure_types):
        return (f"the abort counts only {', '.join(abort.failure_types)}, so a failure of another kind is never "
                "counted (give ALL)")
    if abort.min_executed >= fleet:
        return (f"the abort judges only after {abort.min_executed} devices finished, the whole fleet (lower "
                "abort.min_executed)")
    if rollout.count == "notified":
        return "the rate grows with notifications, failed or not, and reaches the fleet before the abort judges"
    return "the fleet is notified before the abort's sample has finished (a long in-progress timeout)"


# --------------------------------------------------------------------------------------------- arithmetic
def detection_seconds(period_seconds: int, datapoints_to_alarm: int,
                      delay_seconds: int = METRIC_DELIVERY_DELAY_SECONDS) -> int:
    """Worst-case seconds from a broken model's first request until its alarm fires."""
    return period_seconds * datapoints_to_alarm + delay_seconds


def detection_arithmetic(stage: StageConfig, alarms: RollbackAlarms) -> str:
    """How ``detection_seconds`` is reached for a stage's alarms, in words and numbers."""
    a = stage.alarms
    asynchronous = mode(stage) == "async"
    minimum = (f"{a.min_invocations}" if a.min_invocations is not None else
               f"{alarms.min_invocations_for(a.max_5xx_error_rate_percent)} (5XX) and "
               f"{alarms.min_invocations_for(a.max_model_error_rate_percent)} "
               + ("(failures)" if asynchronous else "(model errors)"))
    rates = ("whole-variant rates (async metrics carry no config dimension: after the shift only the new fleet "
             "processes requests, the first periods still hold the old fleet's last minutes) over at least "
             + minimum + " processed requests" if asynchronous else
             f"new-fleet rates over at least {minimum} requests")
    if mode(stage) == "component":
        rates = (f"component-wide rates over at least {minimum} requests: old and new copies share the "
                 "component's metrics (SageMaker gives them no fleet dimension), so a new batch failing at a rate r "
                 "shows as about r x its share of the copies")
    return (f"{a.period_seconds} s period x {a.datapoints_to_alarm} breaching of {a.evaluation_periods} + "
            f"{METRIC_DELIVERY_DELAY_SECONDS} s metric delivery = "
            f"{detection_seconds(a.period_seconds, a.datapoints_to_alarm)} s after the new fleet's first request; "
            f"{rates} per period")


def share_at(timeline: list[Step], seconds: float) -> float:
    """Share of traffic (percent) on the new fleet ``seconds`` after the rollout started (a step function)."""
    share = 0.0
    for step in timeline:
        if step.at_seconds <= seconds:
            share = step.new_traffic_percent
    return share


def first_traffic_seconds(timeline: list[Step]) -> int:
    """When the new fleet receives its first request (the clock a broken model's alarm starts on)."""
    return next((s.at_seconds for s in timeline if s.new_traffic_percent > 0), timeline[-1].at_seconds)


def stage_capacity(stage: StageConfig) -> tuple[int, int, list[int]]:
    """(smallest instance variant's count, instances of the whole endpoint, per-variant counts incl. shadow).

    The smallest variant is what SageMaker's percent sizes apply to (as in ``RolloutSpec.check_capacity``);
    serverless variants count as one unit of capacity and no instances.
    """
    variants = list(stage.variants) + ([stage.shadow_variant] if stage.shadow_variant else [])
    counts = [v.initial_instance_count for v in variants if v.instance_type]
    production = [v.initial_instance_count for v in stage.variants if v.instance_type]
    return (min(production) if production else 1), sum(counts), counts


def rollback_seconds(spec: RolloutSpec, capacity: int, share_percent: float) -> int:
    """Time to restore the old model once the alarm fires, with ``share_percent`` of capacity replaced."""
    if spec.is_blue_green:
        return BLUE_GREEN_ROLLBACK_SECONDS
    replaced = math.ceil(capacity * share_percent / 100)
    if replaced == 0:
        return 0
    per_batch = spec.rollback_size.instances_of(capacity) if spec.rollback_size else capacity
    return math.ceil(replaced / per_batch) * TYPICAL_PROVISIONING_SECONDS


def extra_instance_hours(spec: RolloutSpec, counts: list[int], duration_seconds: int) -> float:
    """Instance-hours on top of the running fleet during a rollout of ``duration_seconds``."""
    if spec.is_blue_green:
        extra = sum(counts)
    else:
        assert spec.size is not None
        extra = sum(spec.size.instances_of(count) for count in counts)
    return round(extra * duration_seconds / 3600, 2)


def plan_stage(model: str, stage_name: str, stage: StageConfig) -> StagePlan:
    """Every number of one stage's plan, from its deployment policy and alarm settings."""
    component = mode(stage) == "component"
    if component:
        # Capacity is the component's copies: its rolling update moves copies, and the host's instances stay.
        spec = component_rollout(stage)
        settings = component_settings(stage)
        capacity = settings["copies"]
        instances, counts = 0, [capacity]
        fleet = settings["scaling"]["max_copies"] if settings["scaling"] else capacity
        alarms = StageSpec.rollback_alarms(stage)
        endpoint = f"{stage.component.host}-{stage_name}, component {model}-{stage_name}"
    else:
        spec = stage.deployment.to_spec()
        # The same value objects the endpoint is built from (a placeholder for `model: approved`).
        values = StageSpec.from_config(stage, model_name=model, stage_name=stage_name, approved_arn=_PLACEHOLDER)
        fleet = fleet_capacity(values.variants, {name: s[1] for name, s in values.autoscaling.items()})
        capacity, instances, counts = stage_capacity(stage)
        alarms = values.alarms
        endpoint = stage.endpoint_name or f"{model}-{stage_name}"
    spec.check_capacity(capacity, f"stages.{stage_name}.deployment")
    timeline = spec.timeline(capacity)
    end = timeline[-1].at_seconds
    detect = detection_seconds(stage.alarms.period_seconds, stage.alarms.datapoints_to_alarm)
    alarm_at = first_traffic_seconds(timeline) + detect
    watched_until = first_traffic_seconds(timeline) + spec.watched_seconds(capacity)
    exposed = share_at(timeline, alarm_at)
    if not spec.is_guarded:
        condition = "no: no guardrail, nothing rolls back automatically"
    elif spec.strategy == "all_at_once":
        condition = "no: one shift, alarms only roll back"
    elif spec.strategy == "rolling":
        condition = f"yes: alarms gate each of {spec.steps_count(capacity)} batches"
    else:
        condition = f"yes: alarms gate each of {spec.steps_count(capacity)} steps"
    extra_hours = 0.0 if component else extra_instance_hours(spec, counts, end)
    cost = ("+100% of the fleet during the rollout" if spec.is_blue_green
            else "+1 batch of copies on the host during the rollout (room for it, or max_instance_count)"
            if component else "+1 batch per variant during the rollout")
    if component and spec.is_guarded:
        share = spec.size.percent_of(capacity)
        threshold = min(stage.alarms.max_5xx_error_rate_percent, stage.alarms.max_model_error_rate_percent)
        needed = threshold * 100 / share
        condition = (f"yes: alarms gate each of {spec.steps_count(capacity)} batches; the first batch holds "
                     f"{share:g}% of the copies, so its copies must fail more than {min(needed, 100):g}% of their "
                     "requests to trip the error-rate alarms" + (" (they cannot: raise the batch or lower the "
                                                                   "thresholds)" if needed > 100 else ""))
    return StagePlan(
        model=model, stage=stage_name, endpoint=endpoint,
        policy=(spec.describe().replace(" 1 instance(s)", " 1 copy").replace(" instance(s)", " copies")
                if component else spec.describe()),
        strategy=spec.strategy, unit="copies" if component else "instances", capacity=capacity, instances=instances,
        steps=spec.steps_count(capacity), expected_seconds=end, fleet_capacity=fleet,
        fleet_steps=spec.steps_count(fleet),
        # unguarded: no SageMaker timeout and no alarms; the plan says so instead of showing numbers
        max_seconds=spec.max_execution_timeout(fleet) if spec.is_guarded else end,
        timeout_capped=(spec.is_guarded and spec.max_execution_timeout_seconds is None
                        and spec.needed_timeout(fleet) > MAX_TIMEOUT_SECONDS),
        detection_seconds=detect if spec.is_guarded else None,
        detection_arithmetic=detection_arithmetic(stage, alarms) if spec.is_guarded else "none (unguarded)",
        exposed_percent=exposed, alarm_after_rollout=spec.is_guarded and alarm_at > watched_until,
        extra_instance_hours=extra_hours,
        rollback_seconds=rollback_seconds(spec, capacity, exposed) if spec.is_guarded else None,
        no_downtime=True, condition_based=condition, additional_cost=cost, timeline=timeline,
        phases=plan_phases(stage),
    )


# --------------------------------------------------------------------------------------------- output
def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.0f} min" if seconds % 60 == 0 or seconds >= 600 else f"{seconds / 60:.1f} min"


def render(plans: list[StagePlan]) -> str:
    """The human report: a rollout table, a comparison table and each stage's timeline."""
    rollout = table(
        ["model", "stage", "policy", "capacity", "steps", "expected", "max", "alarm after", "exposed",
         "extra inst-h"],
        [[p.model, p.stage, p.policy, p.capacity, p.steps, _minutes(p.expected_seconds), _minutes(p.max_seconds),
          _minutes(p.detection_seconds),
          f"{p.exposed_percent:g}%" + (" (after rollout!)" if p.alarm_after_rollout else ""),
          p.extra_instance_hours] for p in plans],
    )
    comparison = table(
        ["model", "stage", "no downtime", "condition-based", "rollback time", "additional cost"],
        [[p.model, p.stage, p.no_downtime, p.condition_based, _minutes(p.rollback_seconds), p.additional_cost]
         for p in plans],
    )
    parts = [rollout, "", comparison]
    for p in plans:
        parts.append("")
        parts.append(f"{p.model} / {p.stage} ({p.endpoint}): {p.policy}")
        parts.append(f"alarms: {p.detection_arithmetic}" if p.detection_seconds is not None
                     else "alarms: none can roll this release back (unguarded)")
        if p.timeout_capped:
            parts.append(f"warning: at {p.fleet_capacity} {p.unit} this rollout needs more than SageMaker's "
                         f"{_minutes(MAX_TIMEOUT_SECONDS)} limit; the timeout is capped there and a slow rollout is "
                         "rolled back (take larger batches or shorter waits)")
        if p.fleet_capacity > p.capacity and p.fleet_steps > p.steps:
            parts.append(f"autoscaling may grow the fleet to {p.fleet_capacity} {p.unit}: then {p.fleet_steps} "
                         "steps, which the maximum duration counts")
        if p.phases:
            parts.append(table(
                ["phase", "answers", "requests", "instances", "at least", "deadline", "look every",
                 "bad version stopped within"],
                [[f.phase, f"{f.answers_percent:g}%", f"{f.requests_percent:g}%", f.candidate_instances,
                  duration(f.min_seconds), duration(f.deadline_seconds), duration(f.poll_seconds),
                  duration(f.stopped_within_seconds)] for f in p.phases]))
            parts.append(f"then the rollout below: at least {duration(p.release_seconds)} from the approval to 100% "
                         "(each phase's minimum, its two endpoint updates and the rollout's expected time); a gate "
                         "with conclusive evidence stops a bad version at its next look")
        parts.append(table(["at", "new fleet", "what"],
                           [[_minutes(s.at_seconds), f"{s.new_traffic_percent:g}%", s.what] for s in p.timeline]))
        if p.alarm_after_rollout:
            parts.append(f"warning: the alarms need {_minutes(p.detection_seconds)} but the last baking period ends "
                         "first; a broken model would be fully deployed before they fire (lengthen wait, or "
                         "all-at-once's bake_time)")
    return "\n".join(parts)


def write_chart(plans: list[StagePlan], path: str) -> None:
    """PNG: share of traffic on the new fleet over time, one line per stage, the alarm time marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CodeBuild or over SSH
    import matplotlib.pyplot as plt

    released = [p for p in plans if p.phases]
    figure, all_axes = plt.subplots(2 if released else 1, 1, figsize=(9, 5), dpi=100, squeeze=False)
    axes = all_axes[0][0]
    try:
        colors = {}
        for p in plans:
            times = [s.at_seconds / 60 for s in p.timeline]
            shares = [s.new_traffic_percent for s in p.timeline]
            (line,) = axes.step(times, shares, where="post", linewidth=2, label=f"{p.model}/{p.stage}: {p.policy}")
            colors[id(p)] = line.get_color()
            if p.detection_seconds is not None:
                alarm_minutes = (first_traffic_seconds(p.timeline) + p.detection_seconds) / 60
                axes.axvline(alarm_minutes, color=line.get_color(), linestyle=":", linewidth=1)
        if released:
            _release_chart(all_axes[1][0], released, colors)
        axes.set_xlabel("minutes since the deployment started")
        axes.set_ylabel("traffic on the new fleet (%)")
        axes.set_ylim(-2, 105)
        axes.set_title("Rollout plan (dotted: worst-case alarm time)", fontsize=10 if released else None)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
        figure.tight_layout()
        # Through a temporary sibling: a failed write leaves no half-written PNG, and says why in one line.
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            figure.savefig(temporary, format="png")
            os.replace(temporary, target)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise OpsError(f"--chart {path}: cannot write the chart ({error.strerror})", EXIT_USAGE) from None
    finally:
        plt.close(figure)


def release_timeline(plan: StagePlan) -> list[tuple[float, float, str]]:
    """(hours since the approval, percent of answers from the new version, what) over a whole release at each
    phase's minimum: the phases (each between two endpoint updates), then the rollout's steps."""
    points, at = [], 0.0
    for phase in plan.phases:
        points.append((at / 3600, 0.0, f"{phase.phase}: start"))
        at += TYPICAL_PROVISIONING_SECONDS
        points.append((at / 3600, phase.answers_percent, phase.phase))
        at += phase.min_seconds
        points.append((at / 3600, 0.0, f"{phase.phase}: back to steady"))
        at += TYPICAL_PROVISIONING_SECONDS
    points += [((at + step.at_seconds) / 3600, step.new_traffic_percent, step.what) for step in plan.timeline]
    return points


def _release_chart(axes: Any, plans: list[StagePlan], colors: dict[int, str]) -> None:
    """The whole release per stage with phases: answers from the new version over hours, phases labelled."""
    for p in plans:
        points = release_timeline(p)
        axes.step([t for t, _, _ in points], [v for _, v, _ in points], where="post", linewidth=2, color=colors[id(p)],
                  label=f"{p.model}/{p.stage}: " + " -> ".join([f.phase for f in p.phases] + ["rollout"]))
        for phase in p.phases:
            start = next(t for t, _, what in points if what == phase.phase)
            axes.annotate(f"{phase.phase} ({phase.answers_percent:g}% answers)", (start, phase.answers_percent),
                          textcoords="offset points", xytext=(2, 6), fontsize=7)
    axes.set_xlabel("hours since the prod approval (each phase at its minimum)")
    axes.set_ylabel("answers from the new version (%)", fontsize=8)
    axes.set_ylim(-2, 105)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="center right", fontsize=8)
