"""The batch-inference pipeline definition, produced by the sagemaker Python SDK (3.x) offline and
deterministically, as ``build_pipeline_sdk`` produces the build pipeline's (the same offline, hermetic SDK; see
that module's docstring).

One step: a transform job of the stage's model over an input prefix, its results under the output prefix in a
folder per execution. The definition is small (the SDK takes a fraction of a second once imported), so each
stage's is built by the SDK itself, in the worker when there is one.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass

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

    with _offline_sdk(spec.region):
        return _definition(spec)


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
