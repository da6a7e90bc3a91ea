"""A config stage turned into the endpoint's value objects, and checked by the endpoint's own rules.

One path from the YAML to ``ModelEndpoint``: ``stacks/endpoint_stage.py`` builds the construct from
``StageSpec``, and ``python -m constructs_lib.config --check`` runs ``StageSpec.check`` (the same
``validate_endpoint`` and ``check_autoscaling`` the construct runs), so ``--check`` refuses what synth refuses
without loading CDK. Plain Python: no aws_cdk, no boto3.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import APPROVED, ImageSource, PackageSource, StageConfig
from .errors import ConfigError
from .rollout import RolloutSpec
from .variants import (DataCapture, ModelSource, ProductionVariant, RollbackAlarms, ShadowVariant,
                       check_autoscaling, validate_endpoint)

#: What ``--check`` deploys for ``model: approved`` when no version is known (its group and version do not
#: matter to any rule).
PLACEHOLDER_VERSION = "arn:aws:sagemaker:{region}:{account}:model-package/{group}/1"


@dataclass(frozen=True)
class StageSpec:
    """The value objects of one stage's endpoint (the data capture bucket, a CDK object, is the caller's)."""

    endpoint_name: str
    variants: list[ProductionVariant]
    shadow: ShadowVariant | None
    capture: DataCapture | None
    rollout: RolloutSpec
    alarms: RollbackAlarms
    autoscaling: dict[str, tuple[int, int, int, int, int]]
    """{variant: (min, max, target invocations, scale-in cooldown s, scale-out cooldown s)}."""

    @classmethod
    def from_config(cls, stage: StageConfig, *, model_name: str, stage_name: str,
                    approved_arn: str | None) -> "StageSpec":
        """The stage's value objects; raises ``ConfigError`` with a path below the stage."""
        variants = [_variant(v, approved_arn, f"variants[{i}]") for i, v in enumerate(stage.variants)]
        shadow = None
        if stage.shadow_variant is not None:
            shadow = ShadowVariant(_variant(stage.shadow_variant, approved_arn, "shadow_variant"),
                                   sampling_percentage=stage.shadow_variant.sampling_percentage)
        capture = None
        if stage.data_capture is not None:
            c = stage.data_capture
            capture = DataCapture(sampling_percentage=c.sampling_percentage, capture_mode=c.capture_mode,
                                  prefix=c.prefix, csv_content_types=c.csv_content_types,
                                  json_content_types=c.json_content_types, retention_days=c.retention_days)
        scaling = {v.name: (v.autoscaling.min_capacity, v.autoscaling.max_capacity,
                            v.autoscaling.target_invocations_per_instance, v.autoscaling.scale_in_cooldown,
                            v.autoscaling.scale_out_cooldown)
                   for v in stage.variants if v.autoscaling is not None}
        return cls(endpoint_name=stage.endpoint_name or f"{model_name}-{stage_name}", variants=variants,
                   shadow=shadow, capture=capture, rollout=stage.deployment.to_spec(),
                   alarms=RollbackAlarms(**stage.alarms.model_dump(exclude={"notification_emails"})),
                   autoscaling=scaling)

    def check(self, *, network_isolation: bool, subnets: int, security_groups: int) -> None:
        """Every rule ``ModelEndpoint`` enforces for this stage (paths below the stage, as the file names them)."""
        try:
            validate_endpoint(self.endpoint_name, self.variants, self.shadow, self.capture, self.rollout,
                              self.alarms, network_isolation=network_isolation, subnets=subnets,
                              security_groups=security_groups,
                              max_capacities={name: s[1] for name, s in self.autoscaling.items()})
        except ConfigError as error:
            raise config_error(error) from None
        by_name = {v.name: (i, v) for i, v in enumerate(self.variants)}
        for name, (low, high, target, _, _) in self.autoscaling.items():
            index, variant = by_name[name]
            check_autoscaling(f"variants[{index}].autoscaling", variant, low, high, target)


def check_stage(stage: StageConfig, *, model_name: str, stage_name: str, dev_account: str, dev_region: str,
                group_name: str) -> None:
    """``StageSpec.check`` for a config stage, with a placeholder for ``model: approved``."""
    placeholder = PLACEHOLDER_VERSION.format(region=dev_region, account=dev_account, group=group_name)
    spec = StageSpec.from_config(stage, model_name=model_name, stage_name=stage_name, approved_arn=placeholder)
    vpc = stage.vpc
    spec.check(network_isolation=stage.network_isolation, subnets=len(vpc.subnet_ids) if vpc else 0,
               security_groups=len(vpc.security_group_ids) if vpc else 0)


def _source(ref, approved_arn: str | None, path: str) -> ModelSource:
    if ref == APPROVED:
        if approved_arn is None:
            raise ConfigError(path, "is 'approved' but no approved model version is known for this model")
        return ModelSource.from_model_package(approved_arn)
    if isinstance(ref, PackageSource):
        return ModelSource.from_model_package(ref.model_package_arn)
    assert isinstance(ref, ImageSource)
    return ModelSource.from_image(ref.image, model_data_url=ref.model_data_url, environment=ref.environment)


def _variant(cfg, approved_arn: str | None, path: str) -> ProductionVariant:
    try:
        model = _source(cfg.model, approved_arn, f"{path}.model")
    except ConfigError as error:
        raise error if error.path.startswith(path) else error.under(f"{path}.model") from None
    if cfg.serverless_memory_mb is not None:
        return ProductionVariant.serverless(
            cfg.name, model, memory_size_mb=cfg.serverless_memory_mb,
            # 5 only when the key is absent: an explicit 0 is refused by the rules, not silently replaced.
            max_concurrency=5 if cfg.serverless_max_concurrency is None else cfg.serverless_max_concurrency,
            provisioned_concurrency=cfg.serverless_provisioned_concurrency, weight=cfg.weight)
    return ProductionVariant(
        cfg.name, model, weight=cfg.weight, instance_type=cfg.instance_type,
        initial_instance_count=cfg.initial_instance_count, volume_size_gb=cfg.volume_size_gb,
        startup_health_check_timeout=cfg.startup_health_check_timeout,
        model_data_download_timeout=cfg.model_data_download_timeout)


#: Construct property -> the stage's config key, where they differ.
_CONFIG_KEYS = {"rollback_alarms": "alarms", "vpc_subnets": "vpc", "shadow_variant": "shadow_variant"}


def config_error(error: ConfigError) -> ConfigError:
    """A ``ModelEndpoint`` error re-pathed to the stage's config keys (``rollback_alarms`` -> ``alarms``)."""
    head, dot, rest = error.path.partition(".")
    return ConfigError(_CONFIG_KEYS.get(head, head) + dot + rest, error.message)
