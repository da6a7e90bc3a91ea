"""The model-build pipeline definition, produced by the sagemaker Python SDK (3.x) offline and deterministically.

Imported only when a ``ModelBuildPipeline`` is constructed: the SDK costs ~2 s to import (pandas, docker,
paramiko...), so importing ``constructs_lib`` must not load it.

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

Cost: with a non-empty SDK config, the SDK re-validates it against its JSON schema at every config lookup
(about 40 per pipeline, 0.18 s each, nearly all of it ``jsonschema.check_schema`` on the same constant schema);
``jsonschema.validate`` is memoised while a definition is built, which takes a pipeline from ~4 s to ~0.1 s.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import threading
import warnings
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["DefinitionSpec", "failures", "framework_images", "prewarm", "submit_definition"]

#: Framework images: built-in XGBoost trains and serves; scikit-learn preprocesses.
XGBOOST_VERSION = "1.7-1"
SKLEARN_VERSION = "1.2-1"

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


class _Placeholders:
    """Stand-ins for CDK tokens. The SDK validates ARNs and S3 URIs, which a ``${Token[...]}`` string fails;
    it sees a well-formed unique placeholder instead, replaced by the token in its output text."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def arn(self, value: str, service: str, resource: str) -> str:
        if _TOKEN_MARK not in value:
            return value
        region = "" if service == "iam" else "us-east-1"
        return self._add(value, f"arn:aws:{service}:{region}:000000000000:{resource}/zzcdktoken{len(self._tokens)}zz")

    def bucket(self, value: str) -> str:
        return value if _TOKEN_MARK not in value else self._add(value, f"zzcdktoken{len(self._tokens)}zz")

    def s3_uri(self, value: str) -> str:
        """``s3://<bucket token>/<key>``: only the bucket part is replaced (the SDK keeps the key's basename)."""
        if _TOKEN_MARK not in value:
            return value
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if _TOKEN_MARK in key:
            raise ValueError(f"an asset object key must be concrete, got {value!r}")
        return f"s3://{self.bucket(bucket)}/{key}"

    def _add(self, token: str, placeholder: str) -> str:
        self._tokens[placeholder] = token
        return placeholder

    def restore(self, text: str) -> str:
        for placeholder, token in self._tokens.items():
            text = text.replace(placeholder, token)
        if "zzcdktoken" in text:
            raise AssertionError("a CDK token placeholder was transformed by the SDK and cannot be restored")
        return text


_WORKER: list = []


def prewarm(region: str) -> None:
    """Import the SDK (~2-3 s) in a worker process while the caller goes on, and build every definition
    there: the import and the definitions then run on the second core, overlapping the CDK work (a thread
    would contend for the GIL). The worker is spawned (a fresh interpreter: it inherits no jsii state), so call
    this before aws_cdk is imported for the full overlap. Definitions are pure functions of their spec (CDK
    tokens are opaque strings to them), so their text is the same as when built in this process.

    A ``multiprocessing`` pool rather than a ``ProcessPoolExecutor``: at exit the pool terminates its idle
    worker, where the executor would wait for the worker's interpreter to tear the SDK down (~0.5 s)."""
    if _WORKER:
        return
    import multiprocessing

    # The pool starts its worker (and the SDK import) now, not at the first definition. Ctrl-C reaches the whole
    # process group: the synth (the parent) stops and ends the worker itself, so the worker is born ignoring
    # SIGINT (an ignored signal stays ignored across exec) instead of adding a traceback to the synth's line.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        pool = multiprocessing.get_context("spawn").Pool(1, initializer=_import_offline, initargs=(region,))
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    atexit.register(pool.terminate)  # before interpreter teardown, where the pool's own finaliser can fail
    _WORKER.append(pool)
    # The worker's process id: a pool replaces a dead worker but loses the task it was running, so a wait for
    # that task would never end; ``result`` watches this process instead.
    _WORKER_PIDS.update(child.pid for child in multiprocessing.active_children())


_WORKER_PIDS: set[int] = set()
#: How often a wait for the worker checks that it is still alive.
_POLL_SECONDS = 0.5


def result(future: Future) -> object:
    """``future.result()``, but a worker that died (the OOM killer, a signal) fails every pending definition
    within ``_POLL_SECONDS`` instead of leaving the synth waiting forever."""
    import multiprocessing

    while True:
        try:
            return future.result(timeout=_POLL_SECONDS)
        except FutureTimeout:
            if _WORKER_PIDS and not _WORKER_PIDS & {child.pid for child in multiprocessing.active_children()}:
                died = RuntimeError("the SageMaker SDK worker process died before it answered (killed, or out "
                                    "of memory?); run the synth again")
                for _, pending in _SUBMITTED:
                    if not pending.done():
                        pending.set_exception(died)


def failures() -> list[str]:
    """One line per definition or image lookup the SDK failed on (``<what>: <error>``), for the caller to report
    when synthesis fails because a ``Lazy`` value could not be produced."""
    return [f"{label}: the SageMaker SDK failed: {type(error).__name__}: {error}"
            for label, future in _SUBMITTED if future.done() and (error := future.exception()) is not None]


def _import_offline(region: str) -> None:
    """The worker's start: the SDK import begins at once (the part the image lookups need, ~1.2 s of ~1.8 s),
    before the first definition is submitted; the definitions import the rest.

    The worker runs at a lower priority: its results are needed only when the templates are written, while the
    caller's jsii round trips are the synth's critical path and lose time whenever the worker takes a core
    their Node process was about to use (50 models, alternating runs: 8.65 s -> 8.27 s median)."""
    if hasattr(os, "nice"):
        os.nice(10)

    with _offline_sdk(region, steps=False):
        import sagemaker.core.image_uris  # noqa: F401


def submit_definition(spec: DefinitionSpec) -> Future:
    """A future of the pipeline definition's JSON text for ``spec`` (tokens restored), produced by the SDK offline (see the module docstring).
    With a worker (``prewarm``), the caller goes on building constructs while the definition is produced on the
    other core (it is only needed when the template is written); without one, the future is already done."""
    return _submit(f"build pipeline {spec.pipeline_name}", _build_offline, spec)


def framework_images(region: str, processing_instance_type: str) -> Future:
    """A future of the two container images the definitions of ``region`` use (scikit-learn processing,
    XGBoost training and serving), looked up once per region and processing instance type, for the execution
    role's ECR permissions."""
    key = (region, processing_instance_type)
    if key not in _FRAMEWORK_IMAGES:
        _FRAMEWORK_IMAGES[key] = _submit(f"images for {processing_instance_type} in {region}", _images_offline,
                                         region, processing_instance_type)
    return _FRAMEWORK_IMAGES[key]


_FRAMEWORK_IMAGES: dict[tuple[str, str], Future] = {}
_SUBMITTED: list[tuple[str, Future]] = []


def _submit(label: str, function, *args) -> Future:
    future: Future = Future()
    _SUBMITTED.append((label, future))
    if _WORKER:
        # A future already failed by ``result`` (its worker died) ignores a late answer.
        _WORKER[0].apply_async(function, args,
                               callback=lambda value: future.done() or future.set_result(value),
                               error_callback=lambda error: future.done() or future.set_exception(error))
        return future
    try:
        future.set_result(function(*args))
    except Exception as error:  # raised again by .result(), as the worker's would be
        future.set_exception(error)
    return future


def _build_offline(spec: DefinitionSpec) -> str:
    with _offline_sdk(spec.region):
        return _build(spec)


def _images_offline(region: str, processing_instance_type: str) -> tuple[str, ...]:
    with _offline_sdk(region, steps=False):
        return _images(region, processing_instance_type)


def _images(region: str, processing_instance_type: str) -> tuple[str, str]:
    """(scikit-learn image for the processing instance type, XGBoost image)."""
    from sagemaker.core import image_uris

    return (_image(image_uris, "sklearn", region, SKLEARN_VERSION, py_version="py3",
                   instance_type=processing_instance_type),
            _image(image_uris, "xgboost", region, XGBOOST_VERSION))


# --------------------------------------------------------------------------------------------- offline SDK
#: The SDK config both override variables point at while the SDK runs: empty, so no machine's config applies.
_EMPTY_CONFIG = Path(__file__).with_name("sagemaker_sdk_config.yaml")
_ENV = ("AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED", "SAGEMAKER_VALIDATE_ROLE",
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE", "SAGEMAKER_USER_CONFIG_OVERRIDE")


@contextmanager
def _offline_sdk(region: str, steps: bool = True) -> Iterator[None]:
    """The SDK offline and hermetic (see the module docstring) while the block runs; ``steps=False`` leaves
    the pipeline-steps module alone (not imported), for image lookups."""
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
            import botocore.session
            import jsonschema

            original_validate, original_loader = jsonschema.validate, botocore.session.create_loader
            jsonschema.validate = _memoised(original_validate)
            botocore.session.create_loader = _shared_loader(original_loader)
            module = _import_steps_module() if steps else None
            original_local_client = getattr(module, "LocalSagemakerClient", None)
            if original_local_client is not None:
                module.LocalSagemakerClient = _MethodNames
            try:
                yield
            finally:
                jsonschema.validate, botocore.session.create_loader = original_validate, original_loader
                if original_local_client is not None:
                    module.LocalSagemakerClient = original_local_client
        finally:
            logging.disable(saved_disable)
            root.setLevel(saved_root[0])
            root.handlers[:] = saved_root[1]
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_VALIDATED: set[tuple[int, str]] = set()
_IMAGES: dict[tuple, str] = {}
_SESSIONS: dict[tuple[str, str], object] = {}
_LOADERS: dict[object, object] = {}


def _import_steps_module():
    import sagemaker.mlops.workflow.steps as steps

    return steps


class _MethodNames:
    """Stands in for ``LocalSagemakerClient`` in ``ProcessingStep.__init__``, which instantiates one (a local-
    mode session: a boto3 session and four clients) only to read ``create_processing_job.__name__``."""

    def create_processing_job(self) -> None:  # pragma: no cover - only its name is read
        raise NotImplementedError


def _memoised(validate):
    """``jsonschema.validate`` that checks each (schema, instance) pair once per process."""

    def memoised(instance, schema, *args, **kwargs):
        if args or kwargs:
            return validate(instance, schema, *args, **kwargs)
        key = (id(schema), json.dumps(instance, sort_keys=True, default=repr))
        if key not in _VALIDATED:
            validate(instance, schema)
            _VALIDATED.add(key)

    return memoised


def _shared_loader(create_loader):
    """botocore's ``create_loader`` returning one loader per search path: every boto3 session the SDK opens
    (three per pipeline, two of them only to read a method name) otherwise re-parses the service models,
    ~0.3 s each. The loader only caches parsed JSON; no call is made with these sessions."""

    def shared(search_path_string=None):
        if search_path_string not in _LOADERS:
            _LOADERS[search_path_string] = create_loader(search_path_string)
        return _LOADERS[search_path_string]

    return shared


# --------------------------------------------------------------------------------------------- definition
def _build(spec: DefinitionSpec) -> str:
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

    ph = _Placeholders()
    role = ph.arn(spec.role_arn, "iam", "role")
    bucket = ph.bucket(spec.bucket)
    kms_key = ph.arn(spec.kms_key, "kms", "key")

    session = _session(PipelineSession, spec.region, bucket)

    input_data = ParameterString(name="InputData", default_value=spec.input_data)
    threshold = ParameterFloat(name="Threshold", default_value=spec.threshold)
    processing_type = ParameterString(name="ProcessingInstanceType", default_value=spec.processing_instance_type)
    training_type = ParameterString(name="TrainingInstanceType", default_value=spec.training_instance_type)

    sklearn_image, xgboost_image = _images(spec.region, spec.processing_instance_type)
    data_root = f"s3://{bucket}/{spec.data_prefix}"

    def s3_input(name: str, uri, local: str):
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=f"/opt/ml/processing/{local}", s3_data_type="S3Prefix", s3_input_mode="File"))

    def s3_output(name: str):
        # Per execution, so that a run never overwrites the data an earlier version was evaluated on.
        uri = Join(on="/", values=[data_root, ExecutionVariables.PIPELINE_EXECUTION_ID, name])
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_upload_mode="EndOfJob"))

    def processor(image: str, job: str):
        return ScriptProcessor(image_uri=image, command=["python3"], instance_type=processing_type,
                               instance_count=1, role=role, sagemaker_session=session,
                               base_job_name=f"{spec.group_name}-{job}", output_kms_key=kms_key)

    preprocess = ProcessingStep(name="Preprocess", step_args=processor(sklearn_image, "preprocess").run(
        inputs=[s3_input("raw", input_data, "input")],
        outputs=[s3_output(name) for name in ("train", "validation", "test")],
        code=ph.s3_uri(spec.preprocess_uri)))
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

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor(
        xgboost_image, "evaluate").run(
        inputs=[s3_input("model", model_data, "model"), s3_input("test", splits["test"].S3Output.S3Uri, "test")],
        outputs=[s3_output("evaluation")],
        code=ph.s3_uri(spec.evaluate_uri)))
    score = JsonGet(step_name=evaluate.name, property_file=report, json_path=f"metrics.{spec.metric}.value")

    builder = ModelBuilder(s3_model_data_url=model_data, image_uri=xgboost_image, sagemaker_session=session,
                           role_arn=role, dependencies=None)
    register = ModelStep(name="Register", step_args=builder.register(
        model_package_group_name=spec.group_name, content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=list(spec.inference_instance_types), transform_instances=[spec.processing_instance_type],
        approval_status=spec.approval_status))
    fail = FailStep(name="MetricBelowThreshold", error_message=Join(on=" ", values=[
        f"The model's {spec.metric}", score, "is below the threshold", threshold, "; no version was registered."]))
    check = ConditionStep(name="CheckMetric", conditions=[ConditionGreaterThanOrEqualTo(left=score, right=threshold)],
                          if_steps=[register], else_steps=[fail])

    # No experiment tracking: by default the SDK adds it in some regions only, and it needs the role to create
    # experiments and trials; the model registry already records every version with its metrics' source.
    pipeline = Pipeline(name=spec.pipeline_name, parameters=[input_data, threshold, processing_type, training_type],
                        steps=[preprocess, train, evaluate, check], sagemaker_session=session,
                        pipeline_experiment_config=None)
    definition = json.loads(pipeline.definition())
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return ph.restore(text)


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
