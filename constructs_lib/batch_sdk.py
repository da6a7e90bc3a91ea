"""The batch-inference pipeline definition, produced by the sagemaker Python SDK (3.x) offline and
deterministically, as ``build_pipeline_sdk`` produces the build pipeline's (the same offline, hermetic SDK; see
that module's docstring).

One step: a transform job of the stage's model over an input prefix, its results under the output prefix in a
folder per execution. As for the build pipeline, the SDK builds one *template* per region and shape (split type,
strategy, whether a volume key is given), every value it only copies a unique placeholder, and each stage's
definition is that template filled in (``_BatchTemplate``; a test compares a filled definition with the SDK's
direct build): the example's two batch stages cost one SDK build (~0.6 s on the worker, the synth's critical
path), not two.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass, replace

__all__ = ["BatchSpec", "submit_batch_definition"]


@dataclass(frozen=True)
class BatchSpec:
    """Everything the definition depends on (strings may hold unresolved CDK tokens: the SDK copies them)."""

    pipeline_name: str
    region: str
    model_name: str
    input_uri: str
    output_uri: str
    kms_key: str
    volume_kms_key: str | None
    instance_type: str
    instance_count: int
    content_type: str
    accept: str
    split_type: str
    strategy: str
    max_payload_mb: int


def submit_batch_definition(spec: BatchSpec) -> Future:
    """A future of the batch pipeline definition's JSON text for ``spec`` (``sdk_worker.submit``)."""
    from .sdk_worker import submit

    return submit(f"batch pipeline {spec.pipeline_name}", _build_offline, spec)


def _build_offline(spec: BatchSpec) -> str:
    from .build_pipeline_sdk import _offline_sdk

    key = (spec.region, spec.split_type, spec.strategy, spec.volume_kms_key is None)
    if key not in _TEMPLATES:
        with _offline_sdk(spec.region):
            _TEMPLATES[key] = _BatchTemplate(spec)
    return _TEMPLATES[key].fill(spec)


#: The strings a template takes as placeholders, and the whole numbers (sentinels the SDK copies as they are).
_STRINGS = ("pipeline_name", "model_name", "input_uri", "output_uri", "kms_key", "volume_kms_key", "instance_type",
            "content_type", "accept")
_NUMBERS = {"instance_count": ("InstanceCount", 9973), "max_payload_mb": ("MaxPayloadInMB", 97)}
_MARK = "zzbatchvalue"
_TEMPLATES: dict[tuple, "_BatchTemplate"] = {}


class _BatchTemplate:
    """The SDK's definition for every spec of one region and shape, with a placeholder for each copied value."""

    def __init__(self, spec: BatchSpec) -> None:
        self._placeholders = {field: f"{_MARK}{i}z" for i, field in enumerate(_STRINGS)
                              if getattr(spec, field) is not None}
        template = replace(spec, **self._placeholders,
                           **{field: sentinel for field, (_, sentinel) in _NUMBERS.items()})
        self._text = _definition(template)
        for field, placeholder in self._placeholders.items():  # absent (the pipeline's name), or whole strings
            if self._text.count(placeholder) != self._text.count(f'"{placeholder}"'):
                raise AssertionError(f"the SDK copied part of {field}; the template cannot be filled")
        for name, sentinel in _NUMBERS.values():
            if self._text.count(f'"{name}":{sentinel}') != 1:
                raise AssertionError(f"the SDK did not copy {name} as it was given; the template cannot be filled")
        rest = self._text
        for placeholder in self._placeholders.values():
            rest = rest.replace(placeholder, "")
        if _MARK in rest:
            raise AssertionError("the SDK transformed a placeholder; the template cannot be filled")

    def fill(self, spec: BatchSpec) -> str:
        """The definition for ``spec``: every placeholder replaced in one pass."""
        from .build_pipeline_sdk import _json_inner, substitute

        replacements = {placeholder: _json_inner(getattr(spec, field))
                        for field, placeholder in self._placeholders.items()}
        replacements.update({f'"{name}":{sentinel}': f'"{name}":{int(getattr(spec, field))}'
                             for field, (name, sentinel) in _NUMBERS.items()})
        return substitute(self._text, replacements)


def _definition(spec: BatchSpec) -> str:
    """The SDK's definition for ``spec`` (JSON text, keys sorted)."""
    from sagemaker.core.transformer import Transformer
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import TransformStep

    from .build_pipeline_sdk import _session

    session = _session(PipelineSession, spec.region, "unused")  # every S3 location below is explicit
    input_data = ParameterString(name="InputData", default_value=spec.input_uri)
    transformer = Transformer(
        model_name=spec.model_name, instance_count=spec.instance_count, instance_type=spec.instance_type,
        strategy=spec.strategy, assemble_with="Line" if spec.split_type == "Line" else None,
        # A folder per execution: a run never overwrites another's results.
        output_path=Join(on="/", values=[spec.output_uri, ExecutionVariables.PIPELINE_EXECUTION_ID]),
        output_kms_key=spec.kms_key, volume_kms_key=spec.volume_kms_key, accept=spec.accept,
        max_payload=spec.max_payload_mb, sagemaker_session=session,
        # Without a base name the SDK asks SageMaker for the model's image to name the job (an AWS call).
        base_transform_job_name=spec.pipeline_name[:50])
    step = TransformStep(name="Transform", step_args=transformer.transform(
        data=input_data, content_type=spec.content_type,
        split_type=None if spec.split_type == "None" else spec.split_type))
    pipeline = Pipeline(name=spec.pipeline_name, parameters=[input_data], steps=[step], sagemaker_session=session,
                        pipeline_experiment_config=None)
    return json.dumps(json.loads(pipeline.definition()), sort_keys=True, separators=(",", ":"))
