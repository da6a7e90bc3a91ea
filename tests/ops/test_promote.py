"""``mlops promote``: the config file changes (diff first, --write to apply), comments survive, AWS does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from constructs_lib.config import load_config
from constructs_lib.ops.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "ab-test.yaml"  # champion/challenger

SHADOW_PROD = """      prod:
        # One production variant plus a shadow candidate (SageMaker allows one production variant with a shadow).
        variants:
          - name: main   # the champion
            model: {model_package_arn: "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/1"}
            instance_type: ml.m5.large
            initial_instance_count: 3
            weight: 1
            autoscaling: {min_capacity: 3, max_capacity: 6, target_invocations_per_instance: 1000}
        shadow_variant:
          name: candidate
          model: approved
          instance_type: ml.c5.xlarge
          initial_instance_count: 1
          sampling_percentage: 50   # a copy of half of the requests
        data_capture: {sampling_percentage: 20, capture_mode: both}
        deployment: {type: canary, canary_size: 50, wait: 600, termination_wait: 300}
"""


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def ab_config(tmp_path):
    path = tmp_path / "platform.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture
def shadow_config(tmp_path):
    text = EXAMPLE.read_text()
    start = text.index("      prod:\n")
    end = text.index("        alarms:")
    path = tmp_path / "shadow.yaml"
    path.write_text(text[:start] + SHADOW_PROD + text[end:])
    load_config(path)  # the fixture itself is a valid config
    return path


def test_dry_run_shows_the_diff_and_changes_nothing(shadow_config, capsys):
    before = shadow_config.read_text()
    code, out, err = run(capsys, "promote", "churn-predictor-prod", "--config", str(shadow_config))
    assert code == 0, err
    assert "production variant main keeps its name and now serves shadow candidate's model" in out
    assert "would write (dry run: pass --write)" in out
    assert "-        shadow_variant:\n" in out and "+            model: approved\n" in out
    assert "Nothing was changed in AWS" in out and "the variant names are unchanged" in out
    assert shadow_config.read_text() == before
    assert "uses model: approved" in err  # the promoted variant follows every new approval from now on
    # main is autoscaled and the shadow ran on another instance type: SageMaker would refuse that change
    assert "keeps its instance type ml.m5.large, not ml.c5.xlarge the promoted model ran on" in err


def test_write_swaps_the_model_under_the_production_variants_name(shadow_config, capsys):
    """The production variant keeps its name (a guarded release cannot rename it), weight and capacity."""
    before = shadow_config.read_text()
    code, _, err = run(capsys, "promote", "churn-predictor-prod", "--config", str(shadow_config), "--write")
    assert code == 0, err
    after = shadow_config.read_text()
    prod = load_config(shadow_config).models[0].stages.prod
    assert prod.shadow_variant is None
    (variant,) = prod.variants
    # main keeps its instance type: it is autoscaled, and SageMaker cannot retype a scaling target
    assert (variant.name, variant.model, variant.instance_type) == ("main", "approved", "ml.m5.large")
    assert (variant.initial_instance_count, variant.weight, variant.autoscaling.max_capacity) == (3, 1.0, 6)
    # Untouched lines stay byte for byte (including the two spaces after "dev:"), comments survive.
    kept = [line for line in before.splitlines() if "  dev:  {" in line or line.lstrip().startswith("#")]
    assert all(line in after.splitlines() for line in kept if "sampling_percentage: 50" not in line)
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ["            model: approved"]


def test_promote_a_winning_challenger_json(ab_config, capsys):
    code, out, err = run(capsys, "--json", "promote", "churn-predictor-prod", "--config", str(ab_config),
                         "--from", "challenger", "--write")
    assert code == 0, err
    data = json.loads(out)
    assert (data["variant"], data["promoted"], data["written"]) == ("champion", "challenger", True)
    assert data["diff"].startswith(f"--- {ab_config}\n+++ {ab_config} (promoted)\n")
    champion, challenger = yaml.safe_load(ab_config.read_text())["models"][0]["stages"]["prod"]["variants"]
    # the champion serves the challenger's model (model: approved) under its own name, weight and capacity
    assert (champion["name"], champion["weight"], champion["model"]) == ("champion", 90, "approved")
    assert champion["autoscaling"] == {"min_capacity": 2, "max_capacity": 6, "target_invocations_per_instance": 1000}
    assert challenger["name"] == "challenger" and challenger["weight"] == 10  # the variant set is unchanged
    assert "# Champion/challenger A/B test" in ab_config.read_text()


def test_write_keeps_a_document_end_marker_and_yaml_merge_keys(ab_config, capsys):
    """The round-trip dumper drops a closing ``...``; the README promises lines outside the change stay."""
    text = ab_config.read_text().replace("            instance_type: ml.m5.large\n            initial_instance_count: 2\n"
                                         "            weight: 10", "            <<: {instance_type: ml.m5.large}\n"
                                         "            initial_instance_count: 2\n            weight: 10")
    ab_config.write_text(text + "...\n")
    code, _, err = run(capsys, "promote", "churn-predictor-prod", "--config", str(ab_config), "--from", "challenger",
                       "--write")
    assert code == 0, err
    written = ab_config.read_text()
    assert written.endswith("...\n") and "<<: {instance_type: ml.m5.large}" in written
    load_config(ab_config)


@pytest.mark.parametrize("argv, code, message", [
    (["ghost-prod"], 3, "endpoint 'ghost-prod' is not in"),
    (["churn-predictor-prod", "--stage", "test"], 3, "endpoint 'churn-predictor-prod' is not in"),
    (["churn-predictor-prod"], 3, "models[0].stages.prod has no shadow_variant to promote"),
    (["churn-predictor-prod", "--from", "ghost"], 3, "no variant named 'ghost' to promote"),
    (["churn-predictor-prod", "--from", "champion"], 2, "champion is already the champion"),
    (["churn-predictor-prod", "--from", "challenger", "--champion", "ghost"], 3,
     "no variant named 'ghost' to replace"),
])
def test_promote_refuses(ab_config, capsys, argv, code, message):
    before = ab_config.read_text()
    result, _, err = run(capsys, "promote", *argv[:1], "--config", str(ab_config), *argv[1:], "--write")
    assert (result, message in err) == (code, True), err
    assert ab_config.read_text() == before


def test_promote_refuses_an_invalid_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("type: canary", "type: blue"))
    code, _, err = run(capsys, "promote", "churn-predictor-prod", "--config", str(bad))
    assert code == 2 and "deployment.type" in err


@pytest.mark.parametrize("endpoint", ["churn-edge-prod", "churn-nightly-prod", "churn-lite-prod"])
def test_a_stage_without_variants_of_its_own_is_not_an_endpoint_to_promote_in(tmp_path, capsys, endpoint):
    """The example's edge, batch and component stages: no production variant to promote into (a traceback
    before this)."""
    platform = tmp_path / "platform.yaml"
    platform.write_text((EXAMPLE.parent.parent / "platform.yaml").read_text())
    code, _, err = run(capsys, "promote", endpoint, "--config", str(platform), "--write")
    assert code == 3 and f"endpoint {endpoint!r} is not in" in err, err
