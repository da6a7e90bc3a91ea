"""``ModelBuildPipeline``: the SageMaker model-build pipeline of one model, in the dev account.

preprocess (processing) -> train (built-in XGBoost) -> evaluate (processing, writes ``evaluation.json``)
-> condition (``metrics.<metric>.value`` >= the ``Threshold`` parameter) -> register a model package in the
group (``PendingManualApproval``, or ``Approved`` with ``approval="automatic"``), else fail with a message.

With ``edge_target``, a ``Compile`` step (a processing job running ``neo_compile.py``: SageMaker Pipelines has no
compilation step) compiles the trained model with SageMaker Neo for the device or platform, and the version is
registered with the compiled artifact's location in its customer metadata (``edge-artifact``, ``edge-target``);
such a model trains with XGBoost 1.3-1, the newest version Neo documents.

With ``inference_preprocessing`` the registered version is an inference pipeline of two containers: the
preprocess job also packs ``preprocess.py`` (and the raw columns it saw) as the model of a scikit-learn serving
container that runs before XGBoost, so callers send raw records and serving applies the very code training did.

The definition is produced by the sagemaker Python SDK (3.x) at synth time and emitted as
``AWS::SageMaker::Pipeline`` ``PipelineDefinitionBody``. The model folder's scripts are CDK assets referenced
by ``s3://`` URIs. The SDK (~3 s to import) runs offline, in the worker process ``sdk_worker.prewarm``
starts (app.py does), else in this process on the first pipeline constructed; the definition reaches the
template as a ``Lazy`` value. See ``build_pipeline_sdk.py`` for how every AWS call it would make is avoided.

The approval status is fixed in the definition, not a pipeline parameter: a parameter would let anyone who
can start an execution register an already-approved version, skipping the manual approval.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping, Sequence

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from .arns import StackArns
from .build_spec import check_build_inputs
from .edge_rules import EdgeTarget
from .errors import ConfigError, check_sagemaker_name, cut
from .lazy import lazy_string
from .nag import acknowledge_wildcards
from .permissions import allow, attach_policy
from .registry import MODELS_PREFIX, PIPELINES_PREFIX, key_through_s3

__all__ = ["Approval", "ModelBuildPipeline", "DEFAULT_HYPERPARAMETERS", "REQUIRED_SCRIPTS"]

#: Scripts a model folder must hold (the example lives in constructs_lib/project_template/).
REQUIRED_SCRIPTS = ("preprocess.py", "evaluate.py")

#: Built-in XGBoost hyperparameters for a binary classifier (the example churn model).
DEFAULT_HYPERPARAMETERS: Mapping[str, str] = {
    "objective": "binary:logistic", "eval_metric": "auc", "num_round": "100", "max_depth": "5", "eta": "0.2",
    "subsample": "0.8", "min_child_weight": "1",
}

_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
class Approval:
    """How a new version enters the registry: waiting for a person (``MANUAL``) or already approved."""

    MANUAL = "manual"
    AUTOMATIC = "automatic"


_APPROVAL_STATUS = {Approval.MANUAL: "PendingManualApproval", Approval.AUTOMATIC: "Approved"}


class ModelBuildPipeline(Construct):
    """The model-build pipeline of one model (see the module docstring for its steps).

    :param pipeline_name: the SageMaker pipeline name (1-256 letters, digits, hyphens).
    :param model_package_group_name: the registry group new versions are registered in.
    :param artifacts_bucket: the artifacts bucket: intermediate data goes to ``pipelines/<group>/``, trained
        models to ``models/<group>/`` (the prefix the test and prod accounts can read).
    :param encryption_key: the bucket's key; every job output is encrypted with it (without it SageMaker uses
        the account's ``aws/s3`` key, which other accounts can never use).
    :param project_dir: the model folder; must hold ``preprocess.py`` and ``evaluate.py``.
    :param input_data: ``s3://`` URI of the raw data (the ``InputData`` parameter's default). The execution role
        may read only this location.
    :param metric: the metric of ``evaluation.json`` the condition compares (``metrics.<metric>.value``).
    :param threshold: the ``Threshold`` parameter's default, 0-1; a version registers when metric >= threshold.
    :param processing_instance_type: default of the ``ProcessingInstanceType`` parameter.
    :param training_instance_type: default of the ``TrainingInstanceType`` parameter.
    :param inference_instance_types: instance types the registered version declares for real-time inference.
    :param approval: ``Approval.MANUAL`` (default: versions wait as PendingManualApproval) or
      ``Approval.AUTOMATIC`` (the strings ``"manual"``/``"automatic"`` alike).
    :param hyperparameters: built-in XGBoost hyperparameters; default ``DEFAULT_HYPERPARAMETERS``.
    :param inference_preprocessing: register each version as an inference pipeline, ``preprocess.py`` serving
        in the scikit-learn container before the model (default ``False``: one XGBoost container fed encoded
        features). ``preprocess.py`` must then define ``model_fn`` (and the other serving functions the
        template's does) and write the serving package when run with ``--serving``.
    :param edge_target: compile each version with SageMaker Neo for this device or platform (``EdgeTarget``)
        and register the compiled artifact with it; default none.
    :param role: the pipeline's execution role; default: a least-privilege role is created. A given role gets
        the same statements added.
    """

    def __init__(self, scope: Construct, id: str, *, pipeline_name: str, model_package_group_name: str,
                 artifacts_bucket: s3.IBucket, encryption_key: kms.IKey, project_dir: Path | str, input_data: str,
                 metric: str = "accuracy", threshold: float = 0.7, processing_instance_type: str = "ml.m5.large",
                 training_instance_type: str = "ml.m5.large",
                 inference_instance_types: Sequence[str] = ("ml.m5.large",), approval: str = Approval.MANUAL,
                 hyperparameters: Mapping[str, object] | None = None, inference_preprocessing: bool = False,
                 edge_target: EdgeTarget | None = None, role: iam.IRole | None = None) -> None:
        super().__init__(scope, id)
        if not isinstance(pipeline_name, str) or not _PIPELINE_NAME.match(pipeline_name):
            raise ConfigError("pipeline_name", f"must be 1-256 letters, digits and hyphens, starting and ending "
                              f"with a letter or digit, got {pipeline_name!r}")
        check_sagemaker_name("model_package_group_name", model_package_group_name)
        check_build_inputs(input_data=input_data, metric=metric, threshold=threshold,
                           processing_instance_type=processing_instance_type,
                           training_instance_type=training_instance_type,
                           inference_instance_types=inference_instance_types, approval=approval)
        folder = Path(project_dir)
        missing = [name for name in REQUIRED_SCRIPTS if not (folder / name).is_file()]
        if missing:
            raise ConfigError("project_dir", f"must be a model folder holding {' and '.join(REQUIRED_SCRIPTS)} "
                              f"(missing {', '.join(missing)}), got {str(folder)!r}")
        if not isinstance(inference_preprocessing, bool):
            raise ConfigError("inference_preprocessing", f"must be true or false, got {cut(inference_preprocessing)}")
        if inference_preprocessing:
            check_serving_script("inference_preprocessing", folder / "preprocess.py")
        if edge_target is not None:
            if not isinstance(edge_target, EdgeTarget):
                raise ConfigError("edge_target", f"must be an EdgeTarget, got {cut(edge_target)}")
            edge_target.validate("edge_target")
            if inference_preprocessing:
                raise ConfigError("edge_target", "cannot go with inference_preprocessing: Neo compiles the model "
                                  "container alone, which takes encoded features, while the version's callers send "
                                  "raw records; got both")
        stack = Stack.of(self)
        env = StackArns.of(stack)
        if Token.is_unresolved(env.region + env.account):
            raise ConfigError("env", "the build pipeline needs a stack with an explicit account and region "
                              "(they pick the SageMaker images and name its resources), got an "
                              "environment-agnostic stack")

        self.pipeline_name = pipeline_name
        self.model_package_group_name = model_package_group_name
        self.pipeline_arn = env.arn("sagemaker", "pipeline", pipeline_name.lower())
        """The pipeline's ARN (SageMaker lowercases pipeline names in ARNs)."""
        self.role: iam.IRole = role or iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the {pipeline_name} model-build pipeline and its jobs")

        role_arn = self.role.role_arn
        scripts = {name: s3_assets.Asset(self, name.removesuffix(".py").capitalize() + "Script",
                                         path=str(folder / name)) for name in REQUIRED_SCRIPTS}
        # The library's own scripts, not the model folder's: the drift baseline, and Neo's compilation.
        scripts["ops/drift.py"] = s3_assets.Asset(self, "BaselineScript",
                                                  path=str(Path(__file__).parent / "ops" / "drift.py"))
        if edge_target is not None:
            scripts["neo_compile.py"] = s3_assets.Asset(self, "CompileScript",
                                                        path=str(Path(__file__).with_name("neo_compile.py")))
        # (bucket, key) of each script, read once (each read is a jsii round trip; the URL is the two joined).
        objects = {name: (asset.s3_bucket_name, asset.s3_object_key) for name, asset in scripts.items()}
        from .build_pipeline_sdk import (XGBOOST_EDGE_VERSION, XGBOOST_VERSION, DefinitionSpec, framework_images,
                                         submit_definition)

        xgboost_version = XGBOOST_VERSION if edge_target is None else XGBOOST_EDGE_VERSION

        bucket_name = artifacts_bucket.bucket_name
        spec = DefinitionSpec(
            pipeline_name=pipeline_name, region=env.region, role_arn=role_arn,
            group_name=model_package_group_name, bucket=bucket_name,
            data_prefix=f"{PIPELINES_PREFIX}/{model_package_group_name}",
            models_prefix=f"{MODELS_PREFIX}/{model_package_group_name}",
            kms_key=encryption_key.key_arn,
            preprocess_uri="s3://{}/{}".format(*objects["preprocess.py"]),
            evaluate_uri="s3://{}/{}".format(*objects["evaluate.py"]),
            input_data=input_data, metric=metric, threshold=float(threshold),
            processing_instance_type=processing_instance_type, training_instance_type=training_instance_type,
            inference_instance_types=tuple(inference_instance_types),
            approval_status=_APPROVAL_STATUS[approval],
            hyperparameters=_hyperparameters(hyperparameters or DEFAULT_HYPERPARAMETERS),
            inference_preprocessing=inference_preprocessing,
            edge_target="" if edge_target is None else json.dumps(edge_target.output_config(), sort_keys=True),
            edge_target_name="" if edge_target is None else edge_target.description,
            compile_uri="" if edge_target is None else "s3://{}/{}".format(*objects["neo_compile.py"]),
            baseline_uri="s3://{}/{}".format(*objects["ops/drift.py"]),
            xgboost_version=xgboost_version,
        )
        # The definition and the images (for the role's ECR permissions) are produced while the app goes on,
        # in the SDK worker (sdk_worker.prewarm), and read when the template is written (Lazy values);
        # a failure surfaces as a synthesis error (app.py names it: sdk_worker.failures()).
        self._definition = submit_definition(spec)
        self._images = framework_images(env.region, processing_instance_type, xgboost_version)
        self.edge_target = edge_target

        self.pipeline = sagemaker.CfnPipeline(
            self, "Pipeline", pipeline_name=pipeline_name, role_arn=role_arn,
            pipeline_definition={"PipelineDefinitionBody": lazy_string(self._definition.result)},
            pipeline_description=f"Builds, evaluates and registers {model_package_group_name} model versions",
        )
        repositories = [lazy_string(lambda i=i: _repository_arn(env.partition, sdk_result(self._images)[i]))
                        for i in range(2)]  # scikit-learn's and XGBoost's repositories
        input_bucket, _, input_key = input_data.removeprefix("s3://").partition("/")
        self._grant_execution(env, role_arn, artifacts_bucket, encryption_key, list(objects.values()), input_bucket,
                              input_key, repositories, compiles=edge_target is not None)

    @property
    def definition(self) -> dict:
        """The pipeline definition (tokens unresolved), for inspection."""
        return json.loads(sdk_result(self._definition))

    @property
    def images(self) -> tuple[str, ...]:
        """The container images the pipeline's jobs run (scikit-learn processing, XGBoost)."""
        return sdk_result(self._images)

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to start executions of this pipeline (and nothing else)."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:StartPipelineExecution"],
                                          resource_arns=[self.pipeline_arn])

    # ----------------------------------------------------------------------------------------- permissions
    def _grant_execution(self, env: StackArns, role_arn: str, bucket: s3.IBucket, key: kms.IKey,
                         scripts: Sequence[tuple[str, str]], input_bucket: str, input_key: str,
                         repositories: Sequence[str], compiles: bool = False) -> None:
        """Least privilege for the pipeline and its jobs (one role: the pipeline passes it to its jobs)."""
        role, group = self.role, self.model_package_group_name
        jobs = [env.arn("sagemaker", kind, "pipelines-*") for kind in ("processing-job", "training-job")]
        versions = env.arn("sagemaker", "model-package", f"{group}/*")
        group_arn = env.arn("sagemaker", "model-package-group", group)
        data = bucket.arn_for_objects(f"{PIPELINES_PREFIX}/{group}/*")
        models = bucket.arn_for_objects(f"{MODELS_PREFIX}/{group}/*")
        partition = env.partition
        input_objects = f"arn:{partition}:s3:::{input_bucket}/{input_key}*"
        log_groups = [env.arn("logs", "log-group", f"/aws/sagemaker/{kind}:*", separator=":")
                      for kind in ("ProcessingJobs", "TrainingJobs", *(("CompilationJobs",) if compiles else ()))]
        by_alias = getattr(key, "alias_name", None) is not None
        # The Compile step's job starts a Neo compilation named after the execution, which reads the trained
        # model and writes the compiled one below this model's prefix as this role (passed to SageMaker).
        compilations = env.arn("sagemaker", "compilation-job", "neo-*")
        compile_statements = [allow(["sagemaker:CreateCompilationJob", "sagemaker:DescribeCompilationJob",
                                     "sagemaker:StopCompilationJob"], [compilations])] if compiles else []
        attach_policy(role, "Permissions", [*compile_statements,
            allow(["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                   "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                   "sagemaker:AddTags"], jobs),
            allow(["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                   "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"], [group_arn, versions]),
            allow(["iam:PassRole"], [role_arn], {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
            allow(["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], [data, models]),
            allow(["s3:ListBucket"], [bucket.bucket_arn], {
                "StringLike": {"s3:prefix": [f"{PIPELINES_PREFIX}/{group}/*", f"{MODELS_PREFIX}/{group}/*"]}}),
            allow(["s3:GetObject"], [input_objects]),
            allow(["s3:ListBucket"], [f"arn:{partition}:s3:::{input_bucket}"],
                  {"StringLike": {"s3:prefix": [f"{input_key}*"]}}),
            allow(["s3:GetObject"], [f"arn:{partition}:s3:::{bucket_name}/{key}" for bucket_name, key in scripts]),
            # Processing inputs are S3 prefixes: SageMaker lists them before downloading.
            allow(["s3:ListBucket"], sorted({f"arn:{partition}:s3:::{bucket_name}" for bucket_name, _ in scripts}),
                  {"StringLike": {"s3:prefix": [key for _, key in scripts]}}),
            allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"], repositories),
            allow(["ecr:GetAuthorizationToken"], ["*"]),
            allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                  log_groups),
            allow(["cloudwatch:PutMetricData"], ["*"], {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
            key_through_s3(key, ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"]),
            allow(["kms:DescribeKey"], [env.arn("kms", "key", "*") if by_alias else key.key_arn]),
        ])

        job_reason = ("SageMaker Pipelines names its jobs pipelines-<execution id>-<step>-<suffix> at run time; "
                      "the pattern is limited to pipeline jobs of this account and region.")
        wildcards = {arn: job_reason for arn in jobs}
        if compiles:
            wildcards[compilations] = ("The Compile step names its Neo compilation job neo-<pipeline execution id> at "
                                       "run time; limited to those of this account and region.")
        wildcards.update({
            versions: "Model package versions are numbered by SageMaker at registration; limited to this group.",
            data: "Processing jobs write their outputs under the execution's id below this model's prefix.",
            models: "Training jobs write model.tar.gz under their generated job name below this model's prefix "
                    "(and a preprocess job its serving package under the execution's id).",
            input_objects: "The input data location from the config (a prefix: a dataset may span objects).",
            "*": "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permission; "
                 "metrics are limited to the /aws/sagemaker/* namespaces by condition.",
        })
        wildcards.update({arn: "SageMaker names job log streams per job and instance in these log groups."
                          for arn in log_groups})
        if by_alias:
            wildcards[env.arn("kms", "key", "*")] = (
                "The artifacts key is referenced by alias (its id is not known to this stack); use is limited to "
                "S3 in this region by the kms:ViaService condition.")
        acknowledge_wildcards(role, wildcards)


def check_serving_script(path: str, script: Path) -> None:
    """``script`` (a model folder's ``preprocess.py``) can serve in the scikit-learn container: it defines
    ``model_fn``, without which the container answers no request (its other serving functions have defaults),
    and names the ``--serving`` option with which the pipeline runs it to write the serving package (a script
    without it fails the preprocess step; one that takes it but writes no package is not caught here: the
    version would register with a missing artifact, and its test deployment fail)."""
    import ast

    try:
        tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    except (SyntaxError, UnicodeDecodeError) as error:
        raise ConfigError(path, f"{script} must be a Python script, got one that does not parse ({error})") from None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} | {
        target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
        if isinstance(target, ast.Name)}
    options = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value == "--serving"}
    for needed, present in (("define model_fn", "model_fn" in defined), ("take --serving", bool(options))):
        if not present:
            raise ConfigError(path, f"is true, so {script} serves before the model and must {needed} (see the "
                              "project template's preprocess.py: mlops new-model), got a script that does not")


def _hyperparameters(values: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """SageMaker's HyperParameters are a map of strings: a string is kept, anything else written as JSON (what
    the SDK's ModelTrainer does), so ``{"max_depth": 5}`` means ``"5"``. Keys must be strings."""
    for key in values:
        if not isinstance(key, str) or not key:
            raise ConfigError("hyperparameters", f"keys must be non-empty strings, got {key!r}")
    return tuple(sorted((key, value if isinstance(value, str) else json.dumps(value))
                        for key, value in values.items()))


def sdk_result(future):
    """The SDK worker's answer (``sdk_worker.result``: fails at once if the worker died)."""
    from .sdk_worker import result

    return result(future)


def _repository_arn(partition: str, image: str) -> str:
    """``123.dkr.ecr.region.amazonaws.com/repo:tag`` -> the repository's ARN."""
    host, _, path = image.partition("/")
    account, _, rest = host.partition(".dkr.ecr.")
    region = rest.split(".")[0]
    repository = path.split(":")[0].split("@")[0]
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"
