"""ModelBuildPipeline: the SDK-built definition, its parameters and steps, and a least-privilege role."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from build_support import pipeline_definition, steps_by_name
from constructs_lib.build_pipeline import ModelBuildPipeline
from constructs_lib.errors import ConfigError
from constructs_lib.registry import ModelRegistry
from support import check_assembly, nag_app, synth_checked

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = ROOT / "constructs_lib" / "project_template"
DEV, REGION = "111111111111", "eu-west-1"
BUCKET = f"mlops-model-artifacts-{DEV}-{REGION}"
INPUT = "s3://example-data/churn/2026/"


def _props(**overrides):
    props = dict(pipeline_name="mlops-fraud-build", model_package_group_name="fraud", project_dir=TEMPLATE_DIR,
                 input_data=INPUT, metric="auc", threshold=0.85, processing_instance_type="ml.c5.xlarge",
                 training_instance_type="ml.m5.2xlarge", inference_instance_types=["ml.m5.large", "ml.c5.large"],
                 approval="automatic")
    props.update(overrides)
    return props


def _artifacts(stack):
    return dict(artifacts_bucket=s3.Bucket.from_bucket_name(stack, "Bucket", BUCKET),
                encryption_key=kms.Alias.from_alias_name(stack, "Key", "alias/mlops-model-artifacts"))


@pytest.fixture(scope="module")
def synthesised():
    app = nag_app()
    stack = cdk.Stack(app, "Build", env=cdk.Environment(account=DEV, region=REGION))
    construct = ModelBuildPipeline(stack, "Pipeline", **_props(), **_artifacts(stack))
    # A registry that creates its own bucket and key: their names are tokens when the SDK runs.
    owned = cdk.Stack(app, "Owned", env=cdk.Environment(account=DEV, region="us-east-1"))
    registry = ModelRegistry(owned, "Registry", group_name="demo", consumer_accounts=["222222222222"])
    ModelBuildPipeline(owned, "Pipeline", **_props(pipeline_name="demo-build", model_package_group_name="demo"),
                       artifacts_bucket=registry.artifacts_bucket, encryption_key=registry.encryption_key)
    templates = check_assembly(synth_checked(app))
    template = Template.from_json(templates["Build"])
    resource = next(iter(template.find_resources("AWS::SageMaker::Pipeline").values()))
    owned_resource = next(r for r in templates["Owned"]["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline")
    return template, resource, pipeline_definition(resource), construct, pipeline_definition(owned_resource)


def test_definition_has_preprocess_train_evaluate_condition_register_and_fail(synthesised):
    _, _, definition, _, _ = synthesised
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"), ("Baseline", "Processing"), ("Train", "Training"), ("Evaluate", "Processing"),
        ("CheckMetric", "Condition")]
    steps = steps_by_name(definition)
    assert steps["Register"]["Type"] == "RegisterModel" and steps["MetricBelowThreshold"]["Type"] == "Fail"
    condition = steps["CheckMetric"]["Arguments"]
    assert [s["Name"] for s in condition["IfSteps"]] == ["Register"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["MetricBelowThreshold"]
    assert condition["Conditions"] == [{
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                      "Path": "metrics.auc.value"}},
        "RightValue": {"Get": "Parameters.Threshold"}}]
    assert steps["Evaluate"]["PropertyFiles"] == [
        {"FilePath": "evaluation.json", "OutputName": "evaluation", "PropertyFileName": "EvaluationReport"}]


def test_parameters_carry_the_configured_defaults(synthesised):
    _, _, definition, _, _ = synthesised
    assert definition["Parameters"] == [
        {"Name": "InputData", "Type": "String", "DefaultValue": INPUT},
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.85},
        {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.c5.xlarge"},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.2xlarge"},
    ]
    assert definition["PipelineExperimentConfig"] is None, "no experiments: the role cannot create them"


def test_registration_declares_approval_and_inference_contract(synthesised):
    _, _, definition, _, _ = synthesised
    register = steps_by_name(definition)["Register"]["Arguments"]
    assert register["ModelPackageGroupName"] == "fraud"
    assert register["ModelApprovalStatus"] == "Approved"
    spec = register["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large", "ml.c5.large"]
    container = spec["Containers"][0]
    assert container["Image"] == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_each_version_is_registered_with_its_drift_baseline_and_its_evaluation(synthesised):
    """The Baseline step (the library's ops/drift.py, on the scikit-learn image) reads the training split
    and writes statistics.json and constraints.json under the models prefix (which test and prod read); the
    version carries them as its data-quality drift baselines, and the evaluation report as its model quality."""
    _, _, definition, _, _ = synthesised
    steps = steps_by_name(definition)
    baseline = steps["Baseline"]["Arguments"]
    (source,) = [i for i in baseline["ProcessingInputs"] if i["InputName"] == "train"]
    assert source["S3Input"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert source["S3Input"]["LocalPath"] == "/opt/ml/processing/train"
    (output,) = baseline["ProcessingOutputConfig"]["Outputs"]
    assert (output["OutputName"], output["S3Output"]["LocalPath"]) == ("baseline", "/opt/ml/processing/baseline")
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{BUCKET}/models/fraud", {"Get": "Execution.PipelineExecutionId"}, "baseline"]
    assert "sagemaker-scikit-learn" in baseline["AppSpecification"]["ImageUri"]
    register = steps["Register"]["Arguments"]
    root = {"Get": "Steps.Baseline.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"}
    assert register["DriftCheckBaselines"] == {"ModelDataQuality": {
        kind: {"ContentType": "application/json",
               "S3Uri": {"Std:Join": {"On": "/", "Values": [root, f"{name}.json"]}}}
        for kind, name in (("Statistics", "statistics"), ("Constraints", "constraints"))}}
    assert register["ModelMetrics"]["ModelQuality"] == {"Statistics": {
        "ContentType": "application/json", "S3Uri": {"Std:Join": {"On": "/", "Values": [
            {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
            "evaluation.json"]}}}}


def test_outputs_are_encrypted_and_kept_in_the_model_prefixes(synthesised):
    _, _, definition, _, _ = synthesised
    steps = steps_by_name(definition)
    key = f"arn:aws:kms:{REGION}:{DEV}:alias/mlops-model-artifacts"
    train = steps["Train"]["Arguments"]
    assert train["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/models/fraud", "KmsKeyId": key,
                                         "CompressionType": "GZIP"}
    assert train["HyperParameters"]["objective"] == "binary:logistic"
    for name in ("Preprocess", "Evaluate"):
        outputs = steps[name]["Arguments"]["ProcessingOutputConfig"]
        assert outputs["KmsKeyId"] == key
        for output in outputs["Outputs"]:
            uri = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
            assert uri[:2] == [f"s3://{BUCKET}/pipelines/fraud", {"Get": "Execution.PipelineExecutionId"}]


def test_scripts_are_cdk_assets_referenced_by_s3_uri(synthesised):
    _, _, definition, _, _ = synthesised
    steps = steps_by_name(definition)
    for name in ("Preprocess", "Evaluate"):
        code = next(i for i in steps[name]["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
        assert code["S3Input"]["S3Uri"].startswith(f"s3://cdk-hnb659fds-assets-{DEV}-{REGION}/")
        entrypoint = steps[name]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
        assert entrypoint[0] == "python3" and entrypoint[1].endswith(".py")
    assert "zzsdkvalue" not in json.dumps(definition)


def test_token_valued_bucket_and_key_are_restored_as_references(synthesised):
    *_, owned = synthesised
    train = steps_by_name(owned)["Train"]["Arguments"]["OutputDataConfig"]
    assert train["S3OutputPath"] == "s3://<RegistryArtifactsBucket4669E93D>/models/demo"
    assert train["KmsKeyId"] == "<RegistryArtifactsKeyE104699B.Arn>"
    assert "zzsdkvalue" not in json.dumps(owned)


def test_a_definition_filled_in_from_a_template_is_the_sdks_own(synthesised):
    """The SDK builds one template per region, approval and image pair (here: the fixture's); a model whose every
    copied value differs from the template's first model (lists and maps of other lengths, characters JSON
    escapes, another placeholder's text) gets exactly the definition the SDK builds for it directly."""
    from dataclasses import replace

    from constructs_lib import build_pipeline_sdk as sdk

    first = sdk.DefinitionSpec(
        pipeline_name="a-build", region=REGION, role_arn=f"arn:aws:iam::{DEV}:role/a", group_name="a",
        bucket="bucket-a", data_prefix="pipelines/a", models_prefix="models/a",
        kms_key=f"arn:aws:kms:{REGION}:{DEV}:key/a", preprocess_uri="s3://assets/p.py",
        evaluate_uri="s3://assets/e.py", input_data="s3://data/a/", metric="auc", threshold=0.7,
        processing_instance_type="ml.c5.xlarge", training_instance_type="ml.m5.xlarge",
        inference_instance_types=("ml.m5.large",), approval_status="Approved",
        hyperparameters=(("num_round", "50"),), baseline_uri="s3://assets/b.py")
    second = replace(
        first, pipeline_name="b-build", role_arn=f'arn:aws:iam::{DEV}:role/path/b"q', group_name="b",
        bucket="bucket-b", data_prefix="pipelines/b", models_prefix="models/b",
        kms_key=f"arn:aws:kms:{REGION}:{DEV}:key/b", preprocess_uri="s3://other-assets/x1.py",
        evaluate_uri="s3://other-assets/y2.py", baseline_uri="s3://other-assets/z3.py",
        input_data="s3://data/b\\/zzsdkvalue9z/", metric="f1", threshold=0.825,
        training_instance_type="ml.m5.2xlarge", inference_instance_types=("ml.c5.large", "ml.m5.large", "ml.g5.xlarge"),
        hyperparameters=(("eta", "0.2"), ("max_depth", "5"), ("objective", "binary:logistic")))
    templates = len(sdk._TEMPLATES)
    sdk._build_offline(first)
    filled = sdk._build_offline(second)
    assert len(sdk._TEMPLATES) == templates  # the fixture's template served both
    with sdk._offline_sdk(REGION):
        direct = sdk._definition(second, sdk._images(REGION, second.processing_instance_type))
    assert filled == direct


def test_hyperparameters_are_strings_as_sagemaker_takes_them():
    """A number given as a hyperparameter is written as SageMaker's HyperParameters want it, a string (what the
    SDK's ModelTrainer does); a key must be a string."""
    stack = cdk.Stack(cdk.App(), "Hp", env=cdk.Environment(account=DEV, region=REGION))
    pipeline = ModelBuildPipeline(stack, "P", **_props(hyperparameters={"max_depth": 5, "eta": 0.2,
                                                                        "objective": "binary:logistic"}),
                                  **_artifacts(stack))
    assert steps_by_name(pipeline.definition)["Train"]["Arguments"]["HyperParameters"] == {
        "eta": "0.2", "max_depth": "5", "objective": "binary:logistic"}
    other = cdk.Stack(stack.node.root, "Hp2", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError, match=r"^hyperparameters: keys must be non-empty strings, got 3$"):
        ModelBuildPipeline(other, "Q", **_props(hyperparameters={3: "x"}), **_artifacts(other))


def test_pipeline_resource_and_role(synthesised):
    template, resource, definition, construct, _ = synthesised
    assert resource["Properties"]["PipelineName"] == "mlops-fraud-build"
    role_id = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    assert steps_by_name(definition)["Train"]["Arguments"]["RoleArn"] == f"<{role_id}.Arn>"
    assert construct.pipeline_arn.endswith(":pipeline/mlops-fraud-build")
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    rendered = json.dumps(statements)
    assert "processing-job/pipelines-*" in rendered and "training-job/pipelines-*" in rendered
    assert ":s3:::example-data/churn/2026/*" in rendered
    assert f"{BUCKET}/pipelines/fraud/*" in rendered and f"{BUCKET}/models/fraud/*" in rendered
    assert "repository/sagemaker-xgboost" in rendered and "repository/sagemaker-scikit-learn" in rendered
    listings = [s["Condition"]["StringLike"]["s3:prefix"] for s in statements if s["Action"] == "s3:ListBucket"]
    assert [p for p in listings if all(str(k).endswith(".py") for k in p)], "the script prefixes can be listed"
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in actions), "no wildcard actions"
    wildcard_resources = [s for s in statements if s["Resource"] == "*"]
    assert sorted(s["Action"] for s in wildcard_resources) == ["cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"]


def test_importing_the_construct_module_does_not_load_the_sdk():
    code = ("import constructs_lib, sys; import constructs_lib.build_pipeline, constructs_lib.platform.dev; "
            "assert 'sagemaker' not in sys.modules and 'sagemaker.core' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("overrides, message", [
    ({"pipeline_name": "bad name"}, "pipeline_name: must be 1-256 letters, digits and hyphens, starting and ending "
                                    "with a letter or digit, got 'bad name'"),
    ({"threshold": 1.5}, "threshold: must be between 0 and 1, got 1.5"),
    ({"approval": "maybe"}, "approval: must be one of manual, automatic, got 'maybe'"),
    ({"input_data": "https://example.com/data.csv"},
     "input_data: must be an s3:// URI (s3://bucket/key), got 'https://example.com/data.csv'"),
    ({"metric": "f1-score"}, "metric: must be an identifier (a key of evaluation.json's metrics), got 'f1-score'"),
    ({"training_instance_type": "m5.large"}, "training_instance_type: must be an ml.* instance type, got 'm5.large'"),
    ({"processing_instance_type": "ml.g5.xlarge"}, "processing_instance_type: must be a CPU instance type (the "
     "scikit-learn processing image has no GPU/accelerator build), got 'ml.g5.xlarge'"),
    ({"inference_instance_types": ["ml.m5.large", "c5"]},
     "inference_instance_types[1]: must be a SageMaker real-time inference instance type (ml.m5.large...), "
     "got 'c5'"),
    ({"project_dir": ROOT / "config"}, f"project_dir: must be a model folder holding preprocess.py and evaluate.py "
                                       f"(missing preprocess.py, evaluate.py), got '{ROOT / 'config'}'"),
])
def test_bad_input_fails_with_one_line(overrides, message):
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError) as caught:
        ModelBuildPipeline(stack, "P", **_props(**overrides), **_artifacts(stack))
    assert str(caught.value) == message


def test_an_environment_agnostic_stack_is_refused():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConfigError, match=r"^env: the build pipeline needs a stack with an explicit account and "
                                          r"region .*got an environment-agnostic stack$"):
        ModelBuildPipeline(stack, "P", **_props(), **_artifacts(stack))


def test_template_evaluation_metrics():
    sys.path.insert(0, str(TEMPLATE_DIR))
    try:
        from evaluate import compute_metrics
        from preprocess import FEATURES
    finally:
        sys.path.remove(str(TEMPLATE_DIR))
    metrics = compute_metrics([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6])
    assert {k: v["value"] for k, v in metrics.items()} == {
        "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5, "auc": 0.75}
    for payload in (TEMPLATE_DIR / "sample_payloads").glob("*.csv"):
        assert len(payload.read_text().strip().split(",")) == len(FEATURES)


def test_inference_preprocessing_registers_preprocess_py_serving_before_the_model():
    """The version is an inference pipeline: the preprocess job also writes the serving package (under the
    models prefix the test and prod accounts read), and the package lists the scikit-learn container serving it
    before XGBoost, which accepts raw CSV and JSON records."""
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    construct = ModelBuildPipeline(stack, "P", **_props(inference_preprocessing=True), **_artifacts(stack))
    steps = steps_by_name(construct.definition)
    preprocess = steps["Preprocess"]["Arguments"]
    assert preprocess["AppSpecification"]["ContainerArguments"] == ["--serving"]
    # The raw data is not mounted above the script (input/code/), which a recursive read would take for data.
    mounts = {i["InputName"]: i["S3Input"]["LocalPath"] for i in preprocess["ProcessingInputs"]}
    assert mounts == {"raw": "/opt/ml/processing/raw", "code": "/opt/ml/processing/input/code"}
    serving = next(o for o in preprocess["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == "serving")
    assert serving["S3Output"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
        f"s3://{BUCKET}/models/fraud", {"Get": "Execution.PipelineExecutionId"}, "serving"]}}
    specification = steps["Register"]["Arguments"]["InferenceSpecification"]
    first, model = specification["Containers"]
    assert first["ContainerHostname"] == "preprocess" and "sagemaker-scikit-learn" in first["Image"]
    assert first["Environment"] == {"SAGEMAKER_PROGRAM": "preprocess.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": REGION}
    assert first["ModelDataUrl"] == {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['serving'].S3Output.S3Uri"}, "model.tar.gz"]}}
    assert model["ContainerHostname"] == "model" and "sagemaker-xgboost" in model["Image"]
    assert model["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert specification["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert specification["SupportedResponseMIMETypes"] == ["text/csv"]


def test_a_one_container_build_has_no_serving_package(synthesised):
    steps = steps_by_name(synthesised[2])
    assert "ContainerArguments" not in steps["Preprocess"]["Arguments"]["AppSpecification"]
    assert [c["ContainerHostname"] if "ContainerHostname" in c else c["Image"].split("/")[1]
            for c in steps["Register"]["Arguments"]["InferenceSpecification"]["Containers"]] == ["sagemaker-xgboost:1.7-1"]


@pytest.mark.parametrize("script, message", [
    ("def main():\n    pass\n", "inference_preprocessing: is true, so {} serves before the model and must define "
     "model_fn (see the project template's preprocess.py: mlops new-model), got a script that does not"),
    ("def model_fn(model_dir):\n    pass\n", "inference_preprocessing: is true, so {} serves before the model and "
     "must take --serving"),
    ("def model_fn(:\n", "inference_preprocessing: {} must be a Python script, got one that does not parse"),
])
def test_inference_preprocessing_needs_a_script_that_can_serve(tmp_path, script, message):
    (tmp_path / "preprocess.py").write_text(script)
    (tmp_path / "evaluate.py").write_text("")
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError) as caught:
        ModelBuildPipeline(stack, "P", **_props(project_dir=tmp_path, inference_preprocessing=True), **_artifacts(stack))
    assert str(caught.value).startswith(message.format(tmp_path / "preprocess.py")), str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_serving_package_turns_raw_records_into_the_models_own_input(tmp_path):
    """preprocess.py --serving packs itself and the raw columns; loaded as the scikit-learn container loads it,
    the template's raw payloads (CSV with a header, a JSON record) become exactly the encoded sample payloads the
    one-container models are checked with: training and serving share ``features``."""
    import importlib.util
    import tarfile

    raw = (TEMPLATE_DIR / "raw_payloads" / "likely-churner.csv").read_text().splitlines()
    rows = [raw[0] + ",Churn?"] + [f"{raw[1]},{label}" for label in ("True.", "False.", "False.", "True.")]
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "churn.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "input" / "code").mkdir(parents=True)  # where the job has its own script: not data
    (tmp_path / "input" / "code" / "preprocess.py").write_text("not, a\ncsv, file, at, all\n")
    (tmp_path / "raw" / "notes").mkdir()  # nor is anything but .csv and .txt files under the input prefix
    (tmp_path / "raw" / "notes" / "README.md").write_text("# notes\n")
    (tmp_path / "raw" / "manifest.json").write_text('{"a": 1}\n')
    subprocess.run([sys.executable, str(TEMPLATE_DIR / "preprocess.py"), "--base", str(tmp_path), "--serving"],
                   check=True, capture_output=True)
    model_dir = tmp_path / "model"
    with tarfile.open(tmp_path / "serving" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["code/preprocess.py", "columns.json"]
        archive.extractall(model_dir, filter="data")
    spec = importlib.util.spec_from_file_location("served_preprocess", model_dir / "code" / "preprocess.py")
    served = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(served)
    columns = served.model_fn(str(model_dir))
    assert columns == raw[0].split(",")

    def serve(body: bytes, content_type: str) -> str:
        answer, media = served.output_fn(served.predict_fn(served.input_fn(body, content_type), columns), "*/*")
        assert media == "text/csv"
        return answer

    samples = TEMPLATE_DIR / "sample_payloads"
    assert serve((TEMPLATE_DIR / "raw_payloads" / "likely-churner.csv").read_bytes(), "text/csv") == (
        samples / "likely-churner.csv").read_text()
    assert serve((TEMPLATE_DIR / "raw_payloads" / "loyal-customer.json").read_bytes(), "application/json") == (
        samples / "loyal-customer.csv").read_text()
    assert serve(raw[1].encode(), "text/csv; charset=utf-8") == (samples / "likely-churner.csv").read_text()
    header_in_other_case = "\ufeff" + raw[0].upper() + "\n" + raw[1]  # Excel's byte-order mark, upper case
    assert serve(header_in_other_case.encode(), "text/csv") == (samples / "likely-churner.csv").read_text()
    # An empty value is 0, as in training (preprocess.py fills what is missing with 0).
    empty = raw[1].split(",")
    empty[7] = ""
    assert serve(",".join(empty).encode(), "text/csv").split(",")[2] == "0.0"
    # Serving is strict: what it cannot read fails the request with what is wrong, never a prediction from zeros.
    record = json.loads((TEMPLATE_DIR / "raw_payloads" / "loyal-customer.json").read_text())
    for body, content_type, message in [
        (b"1,2,3", "text/csv", "CSV row 1 has 3 values; a record has 20: State, Account Length"),
        (b"", "application/x-npy", "unsupported content type 'application/x-npy'"),
        (b"\n\n", "text/csv", "the request holds no record"),
        (raw[0].encode(), "text/csv", "the request holds a header row and no record"),
        (raw[0].replace("State", "Region").encode() + b"\n" + raw[1].encode(), "text/csv",
         "record 1: Account Length must be a number, got 'Account Length'"),  # a header it cannot read
        (json.dumps([record, {"Account Length": 3}]).encode(), "application/json", "record 2 lacks VMail Message"),
        (json.dumps(dict(record, **{"Day Mins": "lots"})).encode(), "application/json",
         "record 1: Day Mins must be a number, got 'lots'"),
        (json.dumps(dict(record, **{"VMail Plan": "maybe"})).encode(), "application/json",
         "record 1: VMail Plan must be yes or no, got 'maybe'"),
        (b"{not json", "application/json", "the application/json request is not JSON: Expecting property name"),
        ("Zürich".encode("latin-1"), "text/csv", "the request must be UTF-8 text (invalid start byte at byte 1)"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            serve(body, content_type)


def test_an_edge_target_compiles_each_version_with_neo_and_registers_the_artifact():
    """SageMaker Pipelines has no compilation step: a processing job runs neo_compile.py after training, and the
    version is registered with the compiled artifact in its metadata; the model trains with XGBoost 1.3-1, the
    newest Neo documents. The role may start and watch its compilations, and cdk-nag and cfn-lint pass."""
    from constructs_lib.edge_rules import EdgeTarget

    app = nag_app()
    stack = cdk.Stack(app, "Edge", env=cdk.Environment(account=DEV, region=REGION))
    construct = ModelBuildPipeline(stack, "P", **_props(edge_target=EdgeTarget(device="rasp4b")), **_artifacts(stack))
    template = check_assembly(synth_checked(app))["Edge"]
    steps = steps_by_name(construct.definition)
    compile_args = steps["Compile"]["Arguments"]
    arguments = compile_args["AppSpecification"]["ContainerArguments"]
    options = dict(zip(arguments[::2], arguments[1::2]))
    assert options["--job"] == {"Std:Join": {"On": "-", "Values": ["neo", {"Get": "Execution.PipelineExecutionId"}]}}
    assert options["--model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert json.loads(options["--target"]) == {"TargetDevice": "rasp4b"}
    assert options["--output"] == {"Std:Join": {"On": "/", "Values": [
        f"s3://{BUCKET}/models/fraud", {"Get": "Execution.PipelineExecutionId"}, "compiled"]}}
    assert options["--region"] == REGION
    assert compile_args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.t3.medium"
    # Only a model that passed the threshold is compiled, right before it is registered.
    check = steps["CheckMetric"]["Arguments"]["IfSteps"]
    assert [s["Name"] for s in check] == ["Compile", "Register"]
    assert steps["Compile"]["PropertyFiles"] == [
        {"FilePath": "compilation.json", "OutputName": "edge", "PropertyFileName": "EdgeCompilation"}]
    metadata = steps["Register"]["Arguments"]["CustomerMetadataProperties"]
    assert metadata == {"edge-artifact": {"Std:JsonGet": {"Path": "artifact", "PropertyFile": {
        "Get": "Steps.Compile.PropertyFiles.EdgeCompilation"}}}, "edge-target": "rasp4b"}
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"].endswith("sagemaker-xgboost:1.3-1")
    statements = [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    compiling = next(s for s in statements if "sagemaker:CreateCompilationJob" in s["Action"])
    assert "compilation-job/neo-*" in json.dumps(compiling["Resource"])
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    assert "/aws/sagemaker/CompilationJobs:*" in json.dumps(logs["Resource"])  # Neo writes its logs as this role


def test_a_build_without_an_edge_target_compiles_nothing(synthesised):
    steps = steps_by_name(synthesised[2])
    assert "Compile" not in steps and "CustomerMetadataProperties" not in steps["Register"]["Arguments"]
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"].endswith("sagemaker-xgboost:1.7-1")


def test_the_edge_devices_are_botocore_s_target_devices_that_are_devices():
    import botocore.session

    from constructs_lib.edge_rules import EDGE_DEVICES

    devices = botocore.session.get_session().get_service_model("sagemaker").shape_for("TargetDevice").enum
    assert sorted(EDGE_DEVICES) == sorted(d for d in devices if not d.startswith("ml_")
                                          and d not in ("lambda", "coreml", "deeplens"))


@pytest.mark.parametrize("target, message", [
    ({"device": "ml_m5"}, "edge_target.device: must be one of jetson_tx1,"),
    ({}, "edge_target.device: give a device, or a platform (os and arch), not both or neither"),
    ({"os": "LINUX", "arch": "ARM64", "accelerator": "NVIDIA"}, "edge_target.compiler_options: is required for an "
                                                                 "NVIDIA accelerator"),
    ({"device": "rasp4b", "accelerator": "MALI"}, "edge_target.accelerator: goes with a platform"),
    ({"os": "ANDROID", "arch": "ARM64", "accelerator": "NVIDIA", "compiler_options": '{"gpu-code": "sm_72"}'},
     "edge_target.arch: with an NVIDIA accelerator must be X86_64 or ARM64 on LINUX"),
    ({"device": "rasp4b", "compiler_options": "{"}, "edge_target.compiler_options: must be Neo's options as JSON "
                                                    "text of 3-1024 characters"),
    ({"device": "rasp4b", "compiler_options": "[1, 2]"}, "edge_target.compiler_options: must be a JSON object as "
                                                         "text"),
])
def test_a_bad_edge_target_is_one_line(target, message):
    from constructs_lib.edge_rules import EdgeTarget

    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError) as caught:
        ModelBuildPipeline(stack, "P", **_props(edge_target=EdgeTarget(**target)), **_artifacts(stack))
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_dead_sdk_worker_fails_the_wait_within_seconds(monkeypatch):
    """The OOM killer (here: SIGKILL) takes the worker while it builds: a pool replaces the worker but loses
    the task, so a plain wait would never end. The wait notices the worker is gone and fails, with a line
    `failures()` reports."""
    import os
    import signal
    import threading
    import time

    from constructs_lib import sdk_worker as sdk

    monkeypatch.setattr(sdk, "_WORKER", [])
    monkeypatch.setattr(sdk, "_WORKER_PIDS", set())
    monkeypatch.setattr(sdk, "_SUBMITTED", [])
    # No SDK import (~2 s): only the process matters; a picklable builtin stands for the initializer.
    monkeypatch.setattr(sdk, "import_offline", str)
    sdk.prewarm("eu-west-1")
    pool = sdk._WORKER[0]
    try:
        (worker,) = sdk._WORKER_PIDS
        future = sdk.submit("build pipeline p", time.sleep, 30)
        time.sleep(0.5)  # the worker has the task
        os.kill(worker, signal.SIGKILL)
        outcome: list = []

        def wait() -> None:
            try:
                sdk.result(future)
            except RuntimeError as error:
                outcome.append(str(error))
        waiter = threading.Thread(target=wait, daemon=True)  # a wait that never ends fails the test, not hangs
        waiter.start()
        waiter.join(timeout=5)
        assert outcome == ["the SageMaker SDK worker process died before it answered (killed, or out of "
                           "memory?); run the synth again"]
        assert sdk.failures() == ["build pipeline p: the SageMaker SDK failed: RuntimeError: the SageMaker SDK "
                                  "worker process died before it answered (killed, or out of memory?); run the "
                                  "synth again"]
    finally:
        pool.terminate()
