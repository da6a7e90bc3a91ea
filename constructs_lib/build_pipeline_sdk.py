"""The model-build pipeline definition, produced by the sagemaker Python SDK (3.x) offline and deterministically.

This module imports nothing of the SDK itself (``sdk_worker.prewarm`` imports it at an app's start, for its
worker's initializer): the SDK costs ~3 s to import (pandas, docker, paramiko...), and only the functions run
offline (in the worker, or in this process without one) load it, so importing ``constructs_lib`` never does.

By default the SDK talks to AWS while it merely *describes* a pipeline. Each call and how it is avoided:

* IAM SimulatePrincipalPolicy (role validation): ``SAGEMAKER_VALIDATE_ROLE=false``;
* S3 ListBuckets/CreateBucket (the session's default bucket): a session whose ``default_bucket()`` returns the
  artifacts bucket without checking it (CloudFormation creates it), and explicit ``s3://`` paths everywhere;
* S3 PutObject (local code files): the scripts are CDK assets, passed as ``s3://`` URIs;
* STS GetCallerIdentity + an HTTPS GET to a telemetry bucket, from a background thread: telemetry is opted
  out through the session's SDK config (``TelemetryOptOut``).

Hermetic as well: the SDK's config files (``/etc/xdg/sagemaker/config.yaml``, ``~/.config/sagemaker/...``) could
inject a machine's defaults (VPC, KMS keys, tags) into the definition; both override variables point at an
empty file shipped with this package (``sagemaker_sdk_config.yaml``, read only) for the duration: no temporary
file, so nothing is left behind however the synth or its worker ends. Every environment variable changed is restored, as are the root logger (the SDK
calls ``logging.basicConfig`` when imported) and the logging/warnings state.

Cost, and how it is paid once: the SDK validates its config against its JSON schema at every config lookup
(about 46 per pipeline, ~70 ms each: ``jsonschema.check_schema`` of the same constant schema), because the
telemetry opt-out makes the config non-empty; a definition takes ~3-4 s. The SDK only copies most of a spec's
values (names, ARNs, S3 locations, metric, instance types, hyperparameters) into the definition, so it builds
one *template* per region and image pair, with a unique placeholder for each such value, and every model's
definition is that template filled in (``_Template``): 50 models cost one SDK build, not 50. Nothing of the
SDK, jsonschema or botocore is replaced while it runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

__all__ = ["DefinitionSpec", "framework_images", "import_offline", "submit_definition"]

#: Framework images: built-in XGBoost trains and serves; scikit-learn preprocesses.
XGBOOST_VERSION = "1.7-1"
#: The Compile step's instance (it only starts a Neo job and waits) and its limit, above neo_compile.py's own wait.
COMPILE_INSTANCE_TYPE = "ml.t3.medium"
COMPILE_STEP_SECONDS = 4200
#: What a model compiled for the edge trains with: SageMaker Neo documents XGBoost models up to 1.3 ("Supports
#: 1.3 or earlier", its supported-frameworks tables); the built-in algorithm's 1.3-1 image writes one.
XGBOOST_EDGE_VERSION = "1.3-1"
SKLEARN_VERSION = "1.2-1"

#: The scikit-learn serving container's settings for ``preprocess.py`` packed by the Preprocess step as
#: ``model.tar.gz`` with the script under ``code/`` (the layout the SDK's own repack gives a framework model).
SERVING_ENVIRONMENT = {"SAGEMAKER_PROGRAM": "preprocess.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                       "SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}

_SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
_TOKEN_MARK = "${Token["


@dataclass(frozen=True)
class DefinitionSpec:
    """Everything the definition depends on (strings may hold unresolved CDK tokens)."""

    pipeline_name: str
    region: str
    role_arn: str
    group_name: str
    bucket: str
    data_prefix: str
    models_prefix: str
    kms_key: str
    preprocess_uri: str
    evaluate_uri: str
    input_data: str
    metric: str
    threshold: float
    processing_instance_type: str
    training_instance_type: str
    inference_instance_types: tuple[str, ...]
    approval_status: str
    hyperparameters: tuple[tuple[str, str], ...]
    inference_preprocessing: bool = False
    """Register an inference pipeline: ``preprocess.py`` serving in the scikit-learn container before the model
    (``SERVING_ENVIRONMENT``), so callers send raw records."""
    edge_target: str = ""
    """CreateCompilationJob's target as JSON text (``EdgeTarget.output_config``): compile each version with Neo
    (``compile_uri`` runs it) and register the compiled artifact with it; "" for none."""
    edge_target_name: str = ""
    compile_uri: str = ""
    baseline_uri: str = ""
    """The library's ``ops/drift.py``: a ``Baseline`` step computes the training split's drift baseline,
    registered with each version (``DriftCheckBaselines``); "" for none."""
    xgboost_version: str = XGBOOST_VERSION


#: What every placeholder of a template starts with (no real value holds it).
_MARK = "zzsdkvalue"
#: The threshold a template is built with; each definition's own replaces it (a parameter's default value).
_TEMPLATE_THRESHOLD = 0.5


class _Template:
    """A definition built by the SDK once for every spec with the same ``_template_key``; ``fill`` gives one
    spec's definition.

    Each value the SDK only copies is a unique, well-formed placeholder while it runs (an ARN where it checks
    ARNs, a bucket name, an S3 URI's parts), and the spec's value in the filled text: a CDK token (``${Token[...]}``,
    which the SDK's ARN and S3 checks would refuse) the same as any string. Lists and maps become one placeholder
    element, spliced; the threshold is a parameter's default. A placeholder the SDK transformed, or a value that
    does not land where its placeholder was, fails the build (``_check``), never a definition."""

    def __init__(self, spec: DefinitionSpec, images: tuple[str, str]) -> None:
        self._placeholders = {field: f"{_MARK}{index}z" for index, field in enumerate(_copied(spec))}
        ph = self._placeholders
        self._instance_types, self._hyperparameters = f"{_MARK}types", (f"{_MARK}hpkey", f"{_MARK}hpvalue")
        template_spec = replace(
            spec, pipeline_name=ph["pipeline_name"], group_name=ph["group_name"], bucket=ph["bucket"],
            role_arn=f"arn:aws:iam::000000000000:role/{ph['role_arn']}",
            kms_key=f"arn:aws:kms:{spec.region}:000000000000:key/{ph['kms_key']}",
            data_prefix=ph["data_prefix"], models_prefix=ph["models_prefix"], input_data=ph["input_data"],
            preprocess_uri=_template_uri(spec.preprocess_uri, ph, "preprocess"),
            evaluate_uri=_template_uri(spec.evaluate_uri, ph, "evaluate"),
            compile_uri=_template_uri(spec.compile_uri, ph, "compile") if spec.compile_uri else "",
            baseline_uri=_template_uri(spec.baseline_uri, ph, "baseline") if spec.baseline_uri else "",
            metric=ph["metric"], threshold=_TEMPLATE_THRESHOLD,
            processing_instance_type=ph["processing_instance_type"],
            training_instance_type=ph["training_instance_type"],
            inference_instance_types=(self._instance_types,), hyperparameters=(self._hyperparameters,))
        # Whole placeholder strings first (an ARN holds its placeholder), then the bare ones.
        self._wholes = {"role_arn": template_spec.role_arn, "kms_key": template_spec.kms_key}
        self._text = _definition(template_spec, images)
        self._check()

    def fill(self, spec: DefinitionSpec) -> str:
        """The definition for ``spec``: every placeholder replaced in one pass (a value that happens to hold
        another placeholder's text is copied as it is, never substituted again)."""
        values = _copied(spec)
        replacements = {whole: _json_inner(values[field]) for field, whole in self._wholes.items()}
        replacements.update({placeholder: _json_inner(values[field])
                             for field, placeholder in self._placeholders.items()})
        replacements[json.dumps(self._instance_types)] = ",".join(
            json.dumps(value) for value in spec.inference_instance_types)
        replacements[self._hyperparameter_object()] = json.dumps(dict(sorted(spec.hyperparameters)),
                                                                 separators=(",", ":"))
        replacements[_threshold_text(_TEMPLATE_THRESHOLD)] = _threshold_text(spec.threshold)
        return substitute(self._text, replacements)

    def _hyperparameter_object(self) -> str:
        return json.dumps(dict([self._hyperparameters]), separators=(",", ":"))

    def _check(self) -> None:
        """Every list, map and threshold placeholder sits where ``fill`` splices it, and nothing else of the
        template carries the mark: then a filled definition is the SDK's own for that spec."""
        text = self._text
        spliced = {f"[{json.dumps(self._instance_types)}]": json.dumps(self._instance_types),
                   self._hyperparameter_object(): self._hyperparameter_object()}
        for context, placeholder in spliced.items():
            if text.count(placeholder) != text.count(context) or context not in text:
                raise AssertionError(f"the SDK did not copy {placeholder} as a whole list or map")
        if text.count(_threshold_text(_TEMPLATE_THRESHOLD)) != 1:
            raise AssertionError("the SDK did not copy the threshold as the Threshold parameter's default")
        for field, whole in self._wholes.items():  # an ARN's placeholder only ever inside that ARN
            if text.count(self._placeholders[field]) != text.count(whole):
                raise AssertionError(f"the SDK copied part of the {field} ARN; the template cannot be filled")
        for placeholder in (*self._wholes.values(), *self._placeholders.values(), *spliced.values()):
            text = text.replace(placeholder, "")
        if _MARK in text:
            raise AssertionError("the SDK transformed a placeholder; the template cannot be filled")


def _copied(spec: DefinitionSpec) -> dict[str, str]:
    """The spec's values that the SDK copies into the definition verbatim, by name (S3 URIs in their parts)."""
    values = {field: getattr(spec, field) for field in (
        "pipeline_name", "group_name", "bucket", "role_arn", "kms_key", "data_prefix", "models_prefix",
        "input_data", "metric", "processing_instance_type", "training_instance_type")}
    for name, uri in _script_uris(spec):
        bucket, key = _split_s3(uri)
        values[f"{name}_bucket"] = bucket
        if "/" not in key:  # the SDK copies a key's basename too: a key with folders is part of the template key
            values[f"{name}_key"] = key
    return values


def _template_uri(uri: str, ph: dict[str, str], name: str) -> str:
    key = _split_s3(uri)[1]
    return f"s3://{ph[name + '_bucket']}/{ph.get(name + '_key', key)}"


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if _TOKEN_MARK in key:
        raise ValueError(f"an asset object key must be concrete, got {uri!r}")
    return bucket, key


def _script_uris(spec: DefinitionSpec) -> list[tuple[str, str]]:
    """``(name, s3 URI)`` of each script the definition runs."""
    return [(name, uri) for name, uri in (("preprocess", spec.preprocess_uri), ("evaluate", spec.evaluate_uri),
                                          ("compile", spec.compile_uri), ("baseline", spec.baseline_uri)) if uri]


def _template_key(spec: DefinitionSpec, images: tuple[str, str]) -> tuple:
    """What a template depends on: the values the SDK reads rather than copies."""
    uris = [uri for _, uri in _script_uris(spec)]
    keys = tuple(key if "/" in key else None for key in (_split_s3(uri)[1] for uri in uris))
    return (spec.region, spec.approval_status, images, keys, spec.inference_preprocessing, spec.edge_target,
            spec.edge_target_name)


def substitute(text: str, replacements: dict[str, str]) -> str:
    """``text`` with every key of ``replacements`` replaced in one pass, longest first: a value that holds
    another key's text is copied as it is, never substituted again (a template's fill)."""
    pattern = "|".join(re.escape(key) for key in sorted(replacements, key=len, reverse=True))
    return re.sub(pattern, lambda match: replacements[match.group(0)], text)


def _json_inner(value: str) -> str:
    """``value`` as it appears inside a JSON string."""
    return json.dumps(value)[1:-1]


def _threshold_text(threshold: float) -> str:
    return f'"DefaultValue":{json.dumps(float(threshold))},"Name":"Threshold"'


_TEMPLATES: dict[tuple, _Template] = {}


def import_offline(region: str) -> None:
    """The SDK worker's start (``sdk_worker.prewarm``): the SDK import begins at once (the part the image
    lookups need, ~1.7 s), before the first definition is submitted; the definitions import the rest.

    (The worker used to run at a lower priority. Now that it is the synth's critical path, that earned nothing:
    example app 7.61 s either way, medians of 9 alternating runs; issue 19.)"""
    with _offline_sdk(region):
        import sagemaker.core.image_uris  # noqa: F401


def submit_definition(spec: DefinitionSpec) -> Future:
    """A future of the pipeline definition's JSON text for ``spec`` (tokens restored), produced by the SDK offline (see the module docstring).
    With a worker (``sdk_worker.prewarm``), the caller goes on building constructs while the definition is produced on the
    other core (it is only needed when the template is written); without one, the future is already done."""
    from .sdk_worker import submit

    return submit(f"build pipeline {spec.pipeline_name}", _build_offline, spec)


def framework_images(region: str, processing_instance_type: str, xgboost_version: str = XGBOOST_VERSION) -> Future:
    """A future of the two container images the definitions of ``region`` use (scikit-learn processing,
    XGBoost training and serving), looked up once per region, processing instance type and XGBoost version,
    for the execution role's ECR permissions."""
    from .sdk_worker import submit

    key = (region, processing_instance_type, xgboost_version)
    if key not in _FRAMEWORK_IMAGES:
        _FRAMEWORK_IMAGES[key] = submit(f"images for {processing_instance_type} in {region}", _images_offline,
                                         region, processing_instance_type, xgboost_version)
    return _FRAMEWORK_IMAGES[key]


_FRAMEWORK_IMAGES: dict[tuple[str, str, str], Future] = {}


def _build_offline(spec: DefinitionSpec) -> str:
    with _offline_sdk(spec.region):
        images = _images(spec.region, spec.processing_instance_type, spec.xgboost_version)
        key = _template_key(spec, images)
        if key not in _TEMPLATES:
            _TEMPLATES[key] = _Template(spec, images)
        return _TEMPLATES[key].fill(spec)


def _images_offline(region: str, processing_instance_type: str, xgboost_version: str) -> tuple[str, ...]:
    with _offline_sdk(region):
        return _images(region, processing_instance_type, xgboost_version)


def _images(region: str, processing_instance_type: str, xgboost_version: str = XGBOOST_VERSION) -> tuple[str, str]:
    """(scikit-learn image for the processing instance type, XGBoost image)."""
    from sagemaker.core import image_uris

    return (_image(image_uris, "sklearn", region, SKLEARN_VERSION, py_version="py3",
                   instance_type=processing_instance_type),
            _image(image_uris, "xgboost", region, xgboost_version))


# --------------------------------------------------------------------------------------------- offline SDK
#: The SDK config both override variables point at while the SDK runs: empty, so no machine's config applies.
_EMPTY_CONFIG = Path(__file__).with_name("sagemaker_sdk_config.yaml")
_ENV = ("AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED", "SAGEMAKER_VALIDATE_ROLE",
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE", "SAGEMAKER_USER_CONFIG_OVERRIDE")


@contextmanager
def _offline_sdk(region: str) -> Iterator[None]:
    """The SDK offline and hermetic (see the module docstring) while the block runs."""
    saved_env = {key: os.environ.get(key) for key in _ENV}
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved_disable = logging.root.manager.disable
    with warnings.catch_warnings():
        os.environ.update({
            # The SDK creates boto3 clients (no calls) and needs a region for them, even at import.
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAGEMAKER_VALIDATE_ROLE": "false",
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(_EMPTY_CONFIG),
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(_EMPTY_CONFIG),
        })
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)  # the SDK logs INFO/WARNING lines for every step it describes
        try:
            yield
        finally:
            logging.disable(saved_disable)
            root.setLevel(saved_root[0])
            root.handlers[:] = saved_root[1]
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_IMAGES: dict[tuple, str] = {}
_SESSIONS: dict[tuple[str, str], object] = {}


# --------------------------------------------------------------------------------------------- definition
def _definition(spec: DefinitionSpec, images: tuple[str, str]) -> str:
    """The SDK's definition for ``spec`` (JSON text, keys sorted); ``images``: scikit-learn, XGBoost."""
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig

    role, bucket, kms_key = spec.role_arn, spec.bucket, spec.kms_key

    session = _session(PipelineSession, spec.region, bucket)

    input_data = ParameterString(name="InputData", default_value=spec.input_data)
    threshold = ParameterFloat(name="Threshold", default_value=spec.threshold)
    processing_type = ParameterString(name="ProcessingInstanceType", default_value=spec.processing_instance_type)
    training_type = ParameterString(name="TrainingInstanceType", default_value=spec.training_instance_type)

    sklearn_image, xgboost_image = images
    data_root = f"s3://{bucket}/{spec.data_prefix}"

    def s3_input(name: str, uri, local: str):
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=f"/opt/ml/processing/{local}", s3_data_type="S3Prefix", s3_input_mode="File"))

    def s3_output(name: str, root: str = data_root):
        # Per execution, so that a run never overwrites the data an earlier version was evaluated on.
        uri = Join(on="/", values=[root, ExecutionVariables.PIPELINE_EXECUTION_ID, name])
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_upload_mode="EndOfJob"))

    def processor(image: str, job: str, instance_type=processing_type, **kwargs):
        return ScriptProcessor(image_uri=image, command=["python3"], instance_type=instance_type,
                               instance_count=1, role=role, sagemaker_session=session,
                               base_job_name=f"{spec.group_name}-{job}", output_kms_key=kms_key, **kwargs)

    # With inference preprocessing, the job also packs preprocess.py and the raw columns it saw as the serving
    # container's model (under the models prefix, which the test and prod accounts read).
    serving = [s3_output("serving", f"s3://{bucket}/{spec.models_prefix}")] if spec.inference_preprocessing else []
    preprocess = ProcessingStep(name="Preprocess", step_args=processor(sklearn_image, "preprocess").run(
        # Not under /opt/ml/processing/input: the SDK puts the script in input/code/, and a recursive read of the
        # data folder would take the script for data.
        inputs=[s3_input("raw", input_data, "raw")],
        outputs=[s3_output(name) for name in ("train", "validation", "test")] + serving,
        arguments=["--serving"] if serving else None,
        code=spec.preprocess_uri))
    splits = preprocess.properties.ProcessingOutputConfig.Outputs

    trainer = ModelTrainer(
        training_image=xgboost_image, compute=Compute(instance_type=training_type, instance_count=1),
        base_job_name=f"{spec.group_name}-train", sagemaker_session=session, role=role,
        hyperparameters=dict(spec.hyperparameters),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/{spec.models_prefix}",
                                            kms_key_id=kms_key),
        input_data_config=[InputData(channel_name=name, data_source=splits[name].S3Output.S3Uri,
                                     content_type="text/csv") for name in ("train", "validation")])
    train = TrainingStep(name="Train", step_args=trainer.train())
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    compile_steps, edge_metadata = [], None
    if spec.edge_target:
        # SageMaker Pipelines has no compilation step: a processing job calls CreateCompilationJob and waits
        # (neo_compile.py). Its report names the compiled artifact, registered with the version below. It runs
        # only for a model that passed the threshold, on the smallest instance (it only waits), bounded.
        compiled = PropertyFile(name="EdgeCompilation", output_name="edge", path="compilation.json")
        models_root = f"s3://{bucket}/{spec.models_prefix}"
        compile_step = ProcessingStep(name="Compile", property_files=[compiled], step_args=processor(
            sklearn_image, "compile", instance_type=COMPILE_INSTANCE_TYPE,
            max_runtime_in_seconds=COMPILE_STEP_SECONDS).run(
            outputs=[s3_output("edge", models_root)], code=spec.compile_uri,
            arguments=["--job", Join(on="-", values=["neo", ExecutionVariables.PIPELINE_EXECUTION_ID]),
                       "--role", role, "--model", model_data,
                       "--output", Join(on="/", values=[models_root, ExecutionVariables.PIPELINE_EXECUTION_ID,
                                                        "compiled"]),
                       "--target", spec.edge_target, "--kms-key", kms_key, "--region", spec.region]))
        compile_steps = [compile_step]
        edge_metadata = {"edge-artifact": JsonGet(step_name=compile_step.name, property_file=compiled,
                                                  json_path="artifact"),
                         "edge-target": spec.edge_target_name}

    # The training split's drift baseline (ops/drift.py), registered with the version below: what its
    # callers' data is compared with once it serves. Under the models prefix, which the test and prod accounts
    # read.
    baseline_steps, baselines = [], None
    if spec.baseline_uri:
        baseline_out = s3_output("baseline", f"s3://{bucket}/{spec.models_prefix}")
        baseline_step = ProcessingStep(name="Baseline", step_args=processor(sklearn_image, "baseline").run(
            inputs=[s3_input("train", splits["train"].S3Output.S3Uri, "train")], outputs=[baseline_out],
            code=spec.baseline_uri))
        baseline_steps = [baseline_step]
        root = baseline_step.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
        baselines = DriftCheckBaselines(**{
            f"model_data_{kind}": MetricsSource(content_type="application/json",
                                                s3_uri=Join(on="/", values=[root, f"{kind}.json"]))
            for kind in ("statistics", "constraints")})

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor(
        xgboost_image, "evaluate").run(
        inputs=[s3_input("model", model_data, "model"), s3_input("test", splits["test"].S3Output.S3Uri, "test")],
        outputs=[s3_output("evaluation")],
        code=spec.evaluate_uri))
    score = JsonGet(step_name=evaluate.name, property_file=report, json_path=f"metrics.{spec.metric}.value")

    if spec.inference_preprocessing:
        from sagemaker.core.resources import Model
        from sagemaker.core.shapes import ContainerDefinition

        serving_model = Join(on="/", values=[splits["serving"].S3Output.S3Uri, "model.tar.gz"])
        containers = [Model(model_name=hostname, primary_container=ContainerDefinition(
            container_hostname=hostname, image=image, model_data_url=data, environment=environment))
            for hostname, image, data, environment in (
                ("preprocess", sklearn_image, serving_model, dict(SERVING_ENVIRONMENT, SAGEMAKER_REGION=spec.region)),
                ("model", xgboost_image, model_data, None))]
        builder = ModelBuilder(model=containers, sagemaker_session=session, role_arn=role)
        content_types = ["text/csv", "application/json"]
    else:
        builder = ModelBuilder(s3_model_data_url=model_data, image_uri=xgboost_image, sagemaker_session=session,
                               role_arn=role, dependencies=None)
        content_types = ["text/csv"]
    register = ModelStep(name="Register", step_args=builder.register(
        model_package_group_name=spec.group_name, content_types=content_types, response_types=["text/csv"],
        inference_instances=list(spec.inference_instance_types), transform_instances=[spec.processing_instance_type],
        approval_status=spec.approval_status, customer_metadata_properties=edge_metadata,
        drift_check_baselines=baselines,
        # The evaluation report (its metrics) as the version's model quality.
        model_metrics=ModelMetrics(model_statistics=MetricsSource(content_type="application/json", s3_uri=Join(
            on="/", values=[evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
                            "evaluation.json"])))))
    fail = FailStep(name="MetricBelowThreshold", error_message=Join(on=" ", values=[
        f"The model's {spec.metric}", score, "is below the threshold", threshold, "; no version was registered."]))
    check = ConditionStep(name="CheckMetric", conditions=[ConditionGreaterThanOrEqualTo(left=score, right=threshold)],
                          if_steps=[*compile_steps, register], else_steps=[fail])

    # No experiment tracking: by default the SDK adds it in some regions only, and it needs the role to create
    # experiments and trials; the model registry already records every version with its metrics' source.
    pipeline = Pipeline(name=spec.pipeline_name, parameters=[input_data, threshold, processing_type, training_type],
                        steps=[preprocess, *baseline_steps, train, evaluate, check], sagemaker_session=session,
                        pipeline_experiment_config=None)
    definition = json.loads(pipeline.definition())
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))


def _session(base, region: str, bucket: str):
    """One offline pipeline session per region and bucket (creating one opens a boto3 session and six clients).

    Its ``default_bucket()`` returns the artifacts bucket without looking it up: CloudFormation creates it."""
    import boto3

    key = (region, bucket)
    if key not in _SESSIONS:
        class OfflineSession(base):
            def default_bucket(self):
                return bucket

        _SESSIONS[key] = OfflineSession(boto_session=boto3.Session(region_name=region), default_bucket=bucket,
                                        sagemaker_config=_SDK_CONFIG)
    return _SESSIONS[key]


def _image(image_uris, framework: str, region: str, version: str, **kwargs: str) -> str:
    """``image_uris.retrieve``, once per process per image: each call re-parses botocore's endpoints file to
    find the region's partition (~0.18 s)."""
    key = (framework, region, version, tuple(sorted(kwargs.items())))
    if key not in _IMAGES:
        _IMAGES[key] = image_uris.retrieve(framework=framework, region=region, version=version, **kwargs)
    return _IMAGES[key]
