"""The example app as a user runs it: hermetic synth, every template linted and nag-checked, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stacks.app import build_app
from support import check_assembly, nag_app, no_aws_calls, synth_checked

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "mlops-churn-predictor"
PIPELINE = f"{PROJECT}/pipeline"


def test_example_app_has_dev_pipeline_test_and_prod_stacks(templates):
    """Shared stacks at the top; each model's stacks in its ModelProject (``cdk deploy 'mlops-churn-predictor/*'``)."""
    assert sorted(templates) == sorted([
        "mlops-catalog", "mlops-platform", f"{PROJECT}/dev", PIPELINE, f"{PIPELINE}/churn-predictor-prod/Endpoint",
        f"{PIPELINE}/churn-predictor-prod/ReleaseAccess",  # the release phases' role, deployed before them
        f"{PIPELINE}/churn-predictor-test/Endpoint",
        # the asynchronous model: no release plan, so no ReleaseAccess stack
        "mlops-churn-scorer/dev", "mlops-churn-scorer/pipeline", "mlops-churn-scorer/pipeline/churn-scorer-prod/Endpoint",
        "mlops-churn-scorer/pipeline/churn-scorer-test/Endpoint",
        # the batch model: its stages hold batch pipelines, no endpoint
        "mlops-churn-nightly/dev", "mlops-churn-nightly/pipeline", "mlops-churn-nightly/pipeline/churn-nightly-prod/Batch",
        "mlops-churn-nightly/pipeline/churn-nightly-test/Batch",
        # the two inference components: each stage deploys the shared host, then the component
        *[f"mlops-{model}/{part}" for model in ("churn-lite", "churn-segment") for part in (
            "dev", "pipeline", *[f"pipeline/{model}-{stage}/{kind}" for stage in ("prod", "test")
                                 for kind in ("Component", "Host")])],
        # the model on the multi-model endpoint: the shared host, then the model's release onto it
        *[f"mlops-churn-regional/{part}" for part in (
            "dev", "pipeline", *[f"pipeline/churn-regional-{stage}/{kind}" for stage in ("prod", "test")
                                 for kind in ("Host", "MultiModel")])],
        # the inference-pipeline model: endpoints of its own, no release plan
        *[f"mlops-churn-raw/{part}" for part in (
            "dev", "pipeline", "pipeline/churn-raw-prod/Endpoint", "pipeline/churn-raw-test/Endpoint")],
        # the edge model: its stages release to Greengrass devices, no endpoint
        *[f"mlops-churn-edge/{part}" for part in (
            "dev", "pipeline", "pipeline/churn-edge-prod/Edge", "pipeline/churn-edge-test/Edge")]])


@pytest.fixture(scope="module")
def assembly():
    """The example app synthesised in this process (cdk-nag on), with no AWS call."""
    with no_aws_calls() as calls:
        app = nag_app(**{"config": "config/platform.yaml", "approved_versions": "config/approved-versions.json"})
        build_app(app, ROOT)
        assembly = synth_checked(app)
    assert calls == []
    return assembly


@pytest.fixture(scope="module")
def templates(assembly):
    return check_assembly(assembly)


def test_every_template_meets_the_control_tower_controls_or_says_why_not(assembly):
    """cfn-guard with AWS Control Tower's proactive controls over every template of the example app (stage
    stacks and the Studio product included): no finding that ``tests/cfn_guard.py`` does not acknowledge, and
    no acknowledgment that no finding needs."""
    import cfn_guard

    assert cfn_guard.check(assembly.directory) == ([], [])


def test_example_app_has_test_and_prod_endpoint_stacks(templates):
    endpoints = {name: t for name, t in templates.items() if name.endswith("/Endpoint")}
    assert sorted(endpoints) == [f"{PIPELINE}/churn-predictor-prod/Endpoint", f"{PIPELINE}/churn-predictor-test/Endpoint",
                                 "mlops-churn-raw/pipeline/churn-raw-prod/Endpoint",
                                 "mlops-churn-raw/pipeline/churn-raw-test/Endpoint",
                                 "mlops-churn-scorer/pipeline/churn-scorer-prod/Endpoint",
                                 "mlops-churn-scorer/pipeline/churn-scorer-test/Endpoint"]
    prod = endpoints[f"{PIPELINE}/churn-predictor-prod/Endpoint"]
    endpoint = next(r for r in prod["Resources"].values() if r["Type"] == "AWS::SageMaker::Endpoint")
    policy = endpoint["Properties"]["DeploymentConfig"]
    assert policy["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    alarm_ids = {a["AlarmName"]["Ref"] for a in policy["AutoRollbackConfiguration"]["Alarms"]}
    assert alarm_ids and alarm_ids <= set(prod["Resources"])  # the alarms live in the same template
    assert set(prod["Outputs"]) >= {"EndpointName", "EndpointConfigName"}


def run_app(*context: str, outdir=None, **environ: str):
    """``python app.py`` as the CDK CLI runs it (context as JSON, output folder given), without AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | environ
    env["CDK_CONTEXT_JSON"] = json.dumps(dict(c.split("=", 1) for c in context))
    env["CDK_OUTDIR"] = str(outdir or tempfile.mkdtemp(prefix="cdk-app-"))
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def app_run(tmp_path_factory):
    """One ``python app.py`` run (nag off) with its own temporary folder: (result, output folder, TMPDIR)."""
    root = tmp_path_factory.mktemp("app-run")
    (root / "tmp").mkdir()
    result = run_app("nag=false", outdir=root / "out", TMPDIR=str(root / "tmp"))
    return result, root / "out", root / "tmp"


def test_app_py_stops_the_jsii_kernel_before_it_leaves(app_run):
    """app.py skips the interpreter's tear-down (os._exit) but first runs the exit handlers: the jsii kernel
    stops in order (its folder is gone when app.py returns) and the assembly is complete."""
    result, out, tmp = app_run
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["artifacts"]
    assert list(tmp.iterdir()) == []


def test_a_synth_stopped_by_a_signal_says_so_in_one_line_and_leaves_no_temporary_folder(tmp_path):
    """Ctrl-C and a CI timeout's SIGTERM in the middle of a synth, sent to the whole process group as a terminal
    or CI does, once the jsii kernel has unpacked its runtime into the temporary folder: one line, exit 128 +
    signal, and nothing left in the temporary folder. (SIGHUP takes the same handler as SIGTERM.) The runs go
    side by side."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["CDK_CONTEXT_JSON"] = json.dumps({"nag": "false"})
    runs = {}
    for stop in (signal.SIGINT, signal.SIGTERM):
        tmp = tmp_path / stop.name
        tmp.mkdir()
        runs[stop] = (tmp, subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
            env=env | {"TMPDIR": str(tmp), "CDK_OUTDIR": str(tmp_path / f"out-{stop.name}")}))
    try:
        for stop, (tmp, process) in runs.items():
            deadline = time.monotonic() + 30
            while not any(tmp.glob("*/lib")) and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # until the jsii kernel's runtime folder exists
            assert process.poll() is None, "the synth ended before it could be interrupted"
            assert any(tmp.glob("*/lib")), "the jsii kernel never unpacked its runtime"
            os.killpg(process.pid, stop)
        for stop, (tmp, process) in runs.items():
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 128 + stop, stderr
            assert stderr.strip().splitlines() == [
                f"error: interrupted ({stop.name}); the output folder may hold a partial cloud assembly"]
            assert list(tmp.iterdir()) == []
    finally:  # a failed run must not leave synths behind: killing app.py sends its synth SIGTERM (PDEATHSIG)
        for _, process in runs.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_an_unusable_output_folder_is_one_line(tmp_path):
    """cdk.out is a file, or cannot be created (under a file): one line each, before any work."""
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "file", "the output folder {out} is a file: move it away, or give another "
                                             "folder (cdk synth -o DIR)"),
                         (tmp_path / "file" / "cdk.out", "cannot create the output folder {out}: Not a directory")):
        result = run_app("nag=false", outdir=out)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [f"error: {message.format(out=out)}"]


def test_bad_config_fails_with_one_line_and_no_stack_trace(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "platform.yaml").read_text().replace("canary_size: 50", "canary_size: 70"))
    result = run_app(f"config={bad}", "nag=false")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: models[0].stages.prod.deployment.canary_size: must be between 1 and 50 percent of capacity, got 70"]
    assert "Traceback" not in result.stderr


def test_an_sdk_failure_fails_synth_with_one_line_per_failure_and_no_stack_trace(tmp_path):
    """The pipeline definitions are Lazy values the SDK worker produces; when the SDK refuses (here: a region it
    has no images for), app.py names what failed instead of a jsii resolution trace."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "platform.yaml").read_text().replace(
        'dev:  {account_id: "111111111111", region: eu-west-1}', 'dev:  {account_id: "111111111111", region: eu-north-9}'
    ).replace("  - name: churn-predictor\n", f"  - name: churn-predictor\n    project_dir: {ROOT}/config/models/churn-predictor\n"
    ).replace("project_dir: models/churn-predictor", f"project_dir: {ROOT}/config/models/churn-predictor"))
    # No approved version: the example's is in eu-west-1, which a dev registry in eu-north-9 refuses.
    result = run_app(f"config={bad}", "nag=false", f"approved_versions={tmp_path / 'none.json'}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    assert "build pipeline mlops-churn-predictor-build: the SageMaker SDK failed: ValueError: Unsupported region: " \
           "eu-north-9" in result.stderr
    assert "Traceback" not in result.stderr


def test_release_check_role_trusts_only_the_pipeline_account(templates):
    for stage, may_invoke in (("test", True), ("prod", False)):
        template = templates[f"{PIPELINE}/churn-predictor-{stage}/Endpoint"]
        roles = {k: r for k, r in template["Resources"].items()
                 if r["Type"] == "AWS::IAM::Role" and "ReleaseCheckRole" in k}
        (role_id, role), = roles.items()
        assert role["Properties"]["RoleName"] == f"mlops-churn-predictor-{stage}-checks"
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert "111111111111" in str(trust["Principal"]) and "222222222222" not in str(trust["Principal"])
        # ...and in that account only the role this stage's check steps run as (not every principal there)
        account = "222222222222" if stage == "test" else "333333333333"
        (checker,) = trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]["Fn::Join"][1][2:]
        assert checker == f":iam::111111111111:role/mlops-churn-predictor-delivery-checks-{account}-eu-west-1"
        actions = sorted(
            s["Action"] for p in template["Resources"].values() if p["Type"] == "AWS::IAM::Policy"
            and {"Ref": role_id} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"])
        expected = ["cloudwatch:DescribeAlarms", "sagemaker:DescribeEndpoint"] + (
            ["sagemaker:InvokeEndpoint"] if may_invoke else [])
        assert actions == expected  # read-only: the release phases run as a role of their own


def test_app_py_builds_definitions_in_a_worker_with_identical_templates(app_run, assembly):
    """app.py builds the SageMaker pipeline definitions in a spawned worker process (overlapping the SDK
    import with the CDK work); its templates must equal an in-process synth's, byte for byte. Two synths in
    two processes at different times: this is also the determinism check (no clock, no randomness)."""
    result, out, _ = app_run
    assert result.returncode == 0, result.stderr
    worker = {p.name: p.read_text() for p in out.rglob("*.template.json")}
    local = {p.name: p.read_text() for p in Path(assembly.directory).rglob("*.template.json")}
    assert worker and worker == local


def test_importing_the_library_leaves_the_environment_alone():
    """A platform team's own CDK app keeps its Node and jsii settings: nothing in constructs_lib (the constructs,
    the config, the ops command) writes os.environ on import; the Node choice is app.py's, made explicitly.
    (The construct modules add only aws_cdk's own import to this.)"""
    code = ("import os, sys; before = dict(os.environ); import constructs_lib, constructs_lib.config, "
            "constructs_lib.ops.cli; "
            "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)); "
            "print(changed)")
    env = {k: v for k, v in os.environ.items() if k != "JSII_NODE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------- context
def _app_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_app_entry", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # definitions only: the entry point runs under __main__
    return module


CDK_JSON_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]


@pytest.mark.parametrize("argv, environ, expected", [
    # python app.py, with or without an output folder (tools and benchmarks set CDK_OUTDIR): cdk.json's context,
    # feature flags included (without them the templates differ from cdk synth's)
    ([], {}, CDK_JSON_CONTEXT),
    ([], {"CDK_OUTDIR": "/tmp/x"}, CDK_JSON_CONTEXT),
    # -c over it, as the CLI merges them
    (["-c", "config=config/examples/ab-test.yaml", "--context=nag=false"], {"CDK_OUTDIR": "/tmp/x"},
     {**CDK_JSON_CONTEXT, "config": "config/examples/ab-test.yaml", "nag": "false"}),
    # under the CDK CLI, the context comes in CDK_CONTEXT_JSON (cdk.App reads it)
    ([], {"CDK_CONTEXT_JSON": "{}"}, None),
])
def test_python_app_py_synthesises_with_the_context_cdk_synth_would(argv, environ, expected):
    assert _app_module().app_context(argv, environ) == expected


@pytest.mark.parametrize("argv, message", [
    (["--config", "x"], "python app.py takes only -c key=value (context), got '--config'"),
    (["-c"], "-c takes key=value, got None"),
    (["-c", "config"], "-c takes key=value, got 'config'"),
])
def test_other_arguments_of_python_app_py_are_one_line(argv, message):
    module = _app_module()
    with pytest.raises(module._UsageError) as error:
        module.app_context(argv, {})
    assert str(error.value) == message


def test_python_app_py_prints_the_warnings_the_cli_would(tmp_path):
    """From every manifest, nested assemblies and CDK's separate metadata files included."""
    import io

    stage = tmp_path / "assembly-stage"
    stage.mkdir()
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"p": {
        "type": "aws:cloudformation:stack", "metadata": {"/p": [{"type": "aws:cdk:info", "data": "quiet"}]}}}}))
    (stage / "manifest.json").write_text(json.dumps({"artifacts": {"s": {
        "type": "aws:cloudformation:stack", "additionalMetadataFile": "s.metadata.json"}}}))
    (stage / "s.metadata.json").write_text(json.dumps({"/stage/s": [
        {"type": "aws:cdk:warning", "data": "no approved version"}, {"type": "aws:cdk:error", "data": "bad"}]}))
    out = io.StringIO()
    assert _app_module().print_annotations(tmp_path, out) == 2
    assert out.getvalue() == "[Warning at /stage/s] no approved version\n[Error at /stage/s] bad\n"


def test_warnings_carry_no_stack_trace(app_run):
    """A warning's trace names jsii's program.js, never user code; the CDK CLI printed that frame above it."""
    result, out, _ = app_run
    assert result.returncode == 0, result.stderr
    warnings = [entry for p in out.rglob("*.metadata.json") for entries in json.loads(p.read_text()).values()
                for entry in entries if entry["type"] == "aws:cdk:warning"]
    assert warnings and not [w for w in warnings if "trace" in w]


def test_every_pipeline_deploys_the_same_shared_host_then_checks_its_own_component(templates):
    """The host stack is in each model pipeline that uses it: identical templates, so whichever runs first creates
    the endpoint and the others change nothing; each pipeline verifies and smoke-tests its own component."""
    hosts = {name: t for name, t in templates.items() if name.endswith("-prod/Host") and "regional" not in name}
    assert sorted(hosts) == ["mlops-churn-lite/pipeline/churn-lite-prod/Host",
                             "mlops-churn-segment/pipeline/churn-segment-prod/Host"]
    first, second = hosts.values()
    assert first == second
    assert first["Outputs"]["HostsInferenceComponents"]["Value"] == "true"
    component = templates["mlops-churn-lite/pipeline/churn-lite-prod/Component"]
    (resource,) = [r["Properties"] for r in component["Resources"].values()
                   if r["Type"] == "AWS::SageMaker::InferenceComponent"]
    assert (resource["EndpointName"], resource["InferenceComponentName"]) == ("shared-prod", "churn-lite-prod")
    check_role = next(r["Properties"] for k, r in component["Resources"].items() if k.startswith("ReleaseCheckRole")
                      and r["Type"] == "AWS::IAM::Role")
    assert check_role["RoleName"] == "mlops-churn-lite-prod-checks"
    policy = next(r["Properties"] for k, r in component["Resources"].items()
                  if k.startswith("ReleaseCheckRoleDefaultPolicy"))
    actions = sorted(a for s in policy["PolicyDocument"]["Statement"] for a in
                     ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == ["cloudwatch:DescribeAlarms", "sagemaker:DescribeInferenceComponent"]  # prod: no smoke check
    pipeline = json.dumps(templates["mlops-churn-lite/pipeline"])
    assert ('verify \\\\\\"$ENDPOINT_NAME\\\\\\" --component \\\\\\"$COMPONENT_NAME\\\\\\" --expected-model '
            '\\\\\\"$EXPECTED_MODEL\\\\\\"') in pipeline
    assert '--component \\\\\\"$COMPONENT_NAME\\\\\\"\\"' in pipeline  # the test stage's smoke check names it


def test_the_multi_model_pipeline_checks_the_target_model_and_the_parameter(templates):
    host = templates["mlops-churn-regional/pipeline/churn-regional-test/Host"]
    assert host["Outputs"]["TargetParameterNames"]["Value"] == "/mlops/{model}/test/target-model"
    stack = templates["mlops-churn-regional/pipeline/churn-regional-test/MultiModel"]
    assert set(stack["Outputs"]) >= {"EndpointName", "TargetModel", "TargetParameterName"}
    assert stack["Outputs"]["TargetModel"]["Value"] == "churn-regional/v1.tar.gz"
    pipeline = json.dumps(templates["mlops-churn-regional/pipeline"])
    assert ('--target-model \\\\\\"$TARGET_MODEL\\\\\\" --target-parameter \\\\\\"$TARGET_PARAMETER\\\\\\"'
            in pipeline)
    assert '--content-type text/csv --target-model \\\\\\"$TARGET_MODEL\\\\\\"' in pipeline


def test_the_inference_pipeline_model_is_built_served_and_checked_as_one(templates):
    """churn-raw: its build registers two containers, its endpoints serve the approved package (SageMaker builds
    the pipeline from it), and its test stage is smoke-tested with the raw records callers send."""
    from build_support import pipeline_definition, steps_by_name

    dev = templates["mlops-churn-raw/dev"]
    (resource,) = [r for r in dev["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    register = steps_by_name(pipeline_definition(resource))["Register"]["Arguments"]
    assert [c["ContainerHostname"] for c in register["InferenceSpecification"]["Containers"]] == ["preprocess", "model"]
    test = templates["mlops-churn-raw/pipeline/churn-raw-test/Endpoint"]
    (model,) = [r["Properties"] for r in test["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    assert model["PrimaryContainer"] == {
        "ModelPackageName": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-raw/1"}
    pipeline = json.dumps(templates["mlops-churn-raw/pipeline"])
    assert "--payloads config/models/churn-predictor/raw_payloads" in pipeline
