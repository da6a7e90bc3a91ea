"""``mlops new-model``: the entry and folder it adds, the lines it keeps, what it refuses, and that it synthesises."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from constructs_lib.config import load_config
from constructs_lib.ops.cli import main
from constructs_lib.ops.newmodel import TEMPLATE_DIR

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "platform.yaml"

#: models is not the last section, with comments around it: the entry must go inside the list, before them.
MIDDLE = """# platform
project: mlops
models:   # the model projects
  - name: churn-predictor
    registry: {group_name: shared-group}   # keep this comment

  # the pipeline follows
pipeline:
  source: {type: s3, bucket_name: my-source-bucket}
accounts:
  dev:  {account_id: "111111111111", region: eu-west-1}
  test: {account_id: "222222222222", region: eu-west-1}
  prod: {account_id: "333333333333", region: eu-west-1}
"""


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def platform(tmp_path):
    """A copy of the example platform (config and its churn-predictor folder)."""
    path = tmp_path / "config" / "platform.yaml"
    path.parent.mkdir()
    shutil.copy(EXAMPLE, path)
    if (EXAMPLE.parent / "models" / "churn-predictor").is_dir():
        shutil.copytree(EXAMPLE.parent / "models" / "churn-predictor", path.parent / "models" / "churn-predictor")
    return path


def test_adds_the_entry_after_every_existing_line_and_creates_the_folder(platform, capsys):
    before = platform.read_text()
    code, out, err = run(capsys, "new-model", "fraud-detector", "--config", str(platform))
    assert code == 0, err
    after = platform.read_text()
    assert after.startswith(before)  # every existing line byte for byte
    assert after[len(before):].startswith("  - name: fraud-detector\n")
    model = load_config(platform).model("fraud-detector")
    assert model.build.approval == "manual"
    assert model.folder == "models/fraud-detector"
    test, prod = model.stages.test, model.stages.prod
    assert (test.deployment.type, [v.initial_instance_count for v in test.variants]) == ("all_at_once", [1])
    assert test.checks is not None and test.checks.content_type == "text/csv"  # the template's payloads are CSV
    assert (prod.deployment.type, prod.deployment.canary_size, prod.variants[0].initial_instance_count) == (
        "canary", 50, 2)
    assert prod.data_capture is not None and all(v.model == "approved" for v in prod.variants)
    folder = platform.parent / "models" / "fraud-detector"
    copied = _snapshot(folder)
    template = {k: v for k, v in _snapshot(TEMPLATE_DIR).items() if "__pycache__" not in k}
    assert set(copied) == set(template) and {"preprocess.py", "evaluate.py", "README.md"} <= set(copied)
    assert any(name.startswith("sample_payloads/") for name in copied)
    assert copied["preprocess.py"] == template["preprocess.py"]
    assert "<model>" not in copied["README.md"].decode() and "mlops-fraud-detector-build" in copied["README.md"].decode()
    assert f"added model fraud-detector to {platform} (models[{len(load_config(platform).models) - 1}])" in out
    # the pinned CLI, as the README runs it (a bare `cdk` is not on PATH, and npm's latest is CLI 3.x)
    assert "  2. npx --yes aws-cdk@2.1148.1 synth " in out and "deploy 'mlops-fraud-detector/*'" in out
    assert "test and prod endpoint stages once one is approved" in err  # none until a version is approved
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_inserts_inside_the_models_list_when_other_sections_follow(tmp_path, capsys):
    path = tmp_path / "platform.yaml"
    path.write_text(MIDDLE)
    code, _, err = run(capsys, "new-model", "fraud-detector", "--config", str(path))
    assert code == 0, err
    lines = path.read_text().splitlines()
    original = MIDDLE.splitlines()
    start = lines.index("  - name: fraud-detector")
    assert lines[:start] == original[:5]  # up to the last line of the existing item
    assert lines[start - 1] == "    registry: {group_name: shared-group}   # keep this comment"
    end = lines.index("  # the pipeline follows")
    assert lines[end - 1:] == original[5:]  # the blank line, the comment and the sections after: unchanged
    assert [m.name for m in load_config(path).models] == ["churn-predictor", "fraud-detector"]


def test_json_output_names_the_stacks(platform, capsys):
    code, out, _ = run(capsys, "new-model", "fraud-detector", "--config", str(platform), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "fraud-detector" and data["stacks"]["dev"] == "mlops-fraud-detector-dev"
    assert data["project"] == "mlops-fraud-detector"  # what `cdk deploy 'mlops-fraud-detector/*'` selects
    assert "preprocess.py" in data["files"]


@pytest.mark.parametrize("name, message", [
    ("fraud_detector", "name: must be 1-40 characters of letters, digits and single or repeated hyphens, starting "
                       "and ending with a letter or digit ([a-zA-Z0-9](-*[a-zA-Z0-9])*), got 'fraud_detector'"),
    ("f" * 41, "name: must be 1-40 characters of letters, digits and single or repeated hyphens, starting and "
               f"ending with a letter or digit ([a-zA-Z0-9](-*[a-zA-Z0-9])*), got '{'f' * 41}'"),
    ("fraud-", "name: must be 1-40 characters of letters, digits and single or repeated hyphens, starting and "
               "ending with a letter or digit ([a-zA-Z0-9](-*[a-zA-Z0-9])*), got 'fraud-'"),
    ("2fraud", "name: must start with a letter (CloudFormation stack names and CDK stage ids do), got '2fraud'"),
    ("churn-predictor", "name: a model named 'churn-predictor' already exists in {config}, got 'churn-predictor'"),
    ("Churn-Predictor", "name: a model named 'churn-predictor' already exists in {config}, got 'Churn-Predictor'"),
])
def test_refuses_bad_and_existing_names_and_changes_nothing(platform, capsys, name, message):
    before, files = platform.read_text(), _snapshot(platform.parent)
    code, out, err = run(capsys, "new-model", name, "--config", str(platform))
    assert (code, out) == (2, "")
    assert err == f"error: {message.format(config=platform)}\n"
    assert platform.read_text() == before and _snapshot(platform.parent) == files


def test_refuses_a_name_whose_group_another_model_uses(tmp_path, capsys):
    """The new model's group would be <project>-<name>: another model already names its group so."""
    path = tmp_path / "platform.yaml"
    text = MIDDLE.replace("registry: {group_name: shared-group}", "registry: {group_name: mlops-shared-group}")
    path.write_text(text)
    code, _, err = run(capsys, "new-model", "shared-group", "--config", str(path))
    assert code == 2
    assert err == (f"error: name: a model package group named 'mlops-shared-group' already exists in {path}, "
                   "got 'shared-group'\n")
    assert path.read_text() == text


def test_refuses_an_existing_folder(platform, capsys):
    folder = platform.parent / "models" / "fraud-detector"
    folder.mkdir(parents=True)
    before = platform.read_text()
    code, _, err = run(capsys, "new-model", "fraud-detector", "--config", str(platform))
    assert code == 2
    assert err == (f"error: name: the model folder {folder} already exists (remove it or pick another name), "
                   "got 'fraud-detector'\n")
    assert platform.read_text() == before and list(folder.iterdir()) == []


@pytest.mark.parametrize("setup, message", [
    ("template-without-evaluate", "--from: must be a model folder holding preprocess.py and evaluate.py "
                                  "(missing evaluate.py), got '{template}'"),
    ("flow-style-models", "{config}: models must be a non-empty block list ('- name: ...' items) for new-model "
                          "to add to it; add the entry by hand"),
    ("missing-config", "{config}: cannot read the config file (No such file or directory)"),
])
def test_refuses_unusable_inputs(tmp_path, capsys, setup, message):
    config, template = tmp_path / "platform.yaml", tmp_path / "template"
    argv = ["new-model", "fraud-detector", "--config", str(config)]
    if setup == "template-without-evaluate":
        config.write_text(MIDDLE)
        template.mkdir()
        (template / "preprocess.py").write_text("")
        argv += ["--from", str(template)]
    elif setup == "flow-style-models":
        config.write_text(MIDDLE.replace("models:   # the model projects\n  - name: churn-predictor\n"
                                         "    registry: {group_name: shared-group}   # keep this comment\n",
                                         "models: [{name: churn-predictor}]\n"))
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err == f"error: {message.format(config=config, template=template)}\n"
    assert not (tmp_path / "models").exists()


def test_a_new_model_synthesises_at_once_and_gets_endpoints_once_approved(platform, capsys, tmp_path, monkeypatch):
    """`new-model` then synth (cdk-nag on, as `cdk synth` runs it): its stacks synthesise; the test and prod
    endpoint stacks are left out with a warning until a version is approved, then appear."""
    import aws_cdk as cdk
    from aws_cdk.cx_api import SynthesisMessageLevel
    from cdk_nag import AwsSolutionsChecks

    from stacks.app import build_app

    assert run(capsys, "new-model", "fraud-detector", "--config", str(platform))[0] == 0
    # The copy is the repository here (the delivery pipeline builds from the folder holding the config).
    monkeypatch.chdir(tmp_path)
    versions = tmp_path / "approved-versions.json"

    def synth(approved: dict) -> tuple[list[str], list[str]]:
        versions.write_text(json.dumps(approved))
        app = cdk.App(outdir=str(tmp_path / f"out{len(approved)}"), context={
            "config": "config/platform.yaml", "approved_versions": "approved-versions.json",
            "only_model": "fraud-detector"})
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
        build_app(app, tmp_path)
        assembly = app.synth()
        names = sorted(s.stack_name for s in assembly.stacks_recursively)
        assert {s.hierarchical_id.split("/")[0] for s in assembly.stacks_recursively} >= {"mlops-fraud-detector"}
        warnings = [str(m.entry.data) for s in assembly.stacks_recursively for m in s.messages
                    if m.level == SynthesisMessageLevel.WARNING]
        return names, warnings

    at_once = {"mlops-fraud-detector-dev", "mlops-fraud-detector-pipeline"}
    names, warnings = synth({})
    assert at_once <= set(names)
    assert not any(name.endswith(("-test-endpoint", "-prod-endpoint")) for name in names)
    assert any("model fraud-detector: no approved version" in w for w in warnings)
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-fraud-detector/1"
    names, _ = synth({"mlops-fraud-detector": arn})  # the group is <project>-<model>
    assert at_once | {"mlops-fraud-detector-test-endpoint", "mlops-fraud-detector-prod-endpoint"} <= set(names)
    assert all("churn-predictor" not in name for name in names)  # only_model: this model's stacks only


def test_follows_the_files_list_indentation(tmp_path, capsys):
    """Lists written flush with their key (`models:` then `- name:` at column 0) get the entry the same way."""
    path = tmp_path / "platform.yaml"
    path.write_text(MIDDLE.replace("  - name: churn-predictor\n    registry:", "- name: churn-predictor\n  registry:"))
    code, _, err = run(capsys, "new-model", "fraud-detector", "--config", str(path))
    assert code == 0, err
    assert "\n- name: fraud-detector\n  # Added by `mlops new-model`" in path.read_text()
    assert [m.name for m in load_config(path).models] == ["churn-predictor", "fraud-detector"]


def test_a_block_scalar_ending_the_list_keeps_its_hash_lines(tmp_path, capsys):
    """Lines inside a block scalar that look like comments are content: the entry goes after them."""
    path = tmp_path / "platform.yaml"
    text = MIDDLE.replace("    registry: {group_name: shared-group}   # keep this comment\n",
                          "    registry:\n      description: |\n        Churn model.\n        # not a comment\n")
    path.write_text(text)
    code, _, err = run(capsys, "new-model", "fraud-detector", "--config", str(path))
    assert code == 0, err
    models = load_config(path).models
    assert models[0].registry.description == "Churn model.\n# not a comment\n"
    assert [m.name for m in models] == ["churn-predictor", "fraud-detector"]


def test_the_example_model_folder_is_what_new_model_makes_of_the_template(tmp_path):
    """config/models/churn-predictor/ is the project template as ``new-model`` copies it (placeholders filled
    in), so the template the command ships is the folder the example app synthesises and tests."""
    from constructs_lib.ops.newmodel import _copy_template

    made = tmp_path / "models" / "churn-predictor"
    _copy_template(TEMPLATE_DIR, made, "churn-predictor", "mlops", "eu-west-1")
    example = ROOT / "config" / "models" / "churn-predictor"

    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}

    assert files(example) == files(made)
