"""The config file: the example loads, errors name the YAML path, and the JSON Schema file is current."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from constructs_lib import config as config_module
from constructs_lib.config import json_schema, load_config, parse_config
from constructs_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = yaml.safe_load((ROOT / "config" / "platform.yaml").read_text())


def test_example_config_loads():
    config = load_config(ROOT / "config" / "platform.yaml")
    prod = config.models[0].stages.prod
    assert [v.name for v in prod.variants] == ["main"]
    assert (prod.release.shadow.sampling_percentage, prod.release.ab.weight) == (50, 10)  # shadow, then A/B
    assert prod.deployment.to_spec().strategy == "canary"


def mutate(path: str, value):
    data = copy.deepcopy(EXAMPLE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return data


CASES = [
    ("models.0.stages.prod.deployment.canary_size", 70,
     "models[0].stages.prod.deployment.canary_size: must be between 1 and 50 percent of capacity, got 70"),
    ("models.0.stages.prod.deployment.type", "blue",
     "models[0].stages.prod.deployment.type: input should be 'all_at_once', 'canary', 'linear', 'rolling' or "
     "'unguarded', got 'blue'"),
    ("models.0.stages.test.deployment.wait", 60,
     "models[0].stages.test.deployment.wait: does not apply to an all-at-once policy (it has one step; use bake_time), got 60"),
    ("models.0.stages.prod.variants.0.weigth", 3,
     "models[0].stages.prod.variants[0].weigth: is not a known setting"),
    ("models.0.stages.prod.variants.0.model", {"model_package_arn": "arn:aws:sagemaker:eu-west-1:1:model-package/x"},
     "models[0].stages.prod.variants[0].model.model_package_arn: must be a versioned model package ARN "
     "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION), got "),
    ("models.0.build.schedule", "cron(0 3 * *)",
     "models[0].build.schedule: a cron expression has six fields (minutes hours day-of-month month day-of-week "
     "year) separated by single spaces, got 4 in 'cron(0 3 * *)'"),
    ("models.0.build.threshold", 1.5, "models[0].build.threshold: must be between 0 and 1, got 1.5"),
    ("models.0.build.training_instance_type", "m5.large",
     "models[0].build.training_instance_type: must be an ml.* instance type, got 'm5.large'"),
    ("accounts.prod.account_id", "111111111111",
     "accounts: dev, test and prod must be three different account ids"),
    ("models.0.name", "churn_predictor", "models[0].name: must be 1-40 characters"),
    ("models.0.name", "1churn", "models[0].name: must start with a letter (it names the model's stacks), got '1churn'"),
    ("models", [], "models: list should have at least 1 item after validation, not 0"),
]


@pytest.mark.parametrize("path, value, message", CASES, ids=[c[0] for c in CASES])
def test_errors_name_the_yaml_path(path, value, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(path, value))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_load_config_names_the_file_and_yaml_syntax_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: is not valid YAML at line \d+, column \d+"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")


def test_schema_file_is_current():
    committed = json.loads((ROOT / "config" / "platform.schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema(), sort_keys=True)), (
        "config/platform.schema.json is stale: run python -m constructs_lib.config --schema config/platform.schema.json")


def test_default_input_data_is_in_the_dev_region():
    """Processing jobs read S3 in their own region: the default sample is AWS's regional copy."""
    from constructs_lib.config import BuildConfig

    assert BuildConfig().input_data_in("eu-central-1") == (
        "s3://sagemaker-example-files-prod-eu-central-1/datasets/tabular/synthetic/churn.txt")
    assert BuildConfig(input_data="s3://mine/data.csv").input_data_in("eu-central-1") == "s3://mine/data.csv"


def test_the_example_s_placeholders_are_named_until_replaced(capsys):
    """A valid file that still deploys to the example's accounts: --check (and synth) say which values."""
    from constructs_lib.config import placeholders

    path = ROOT / "config" / "platform.yaml"
    assert config_module.main(["--check", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [f"warning: accounts.{name}.account_id is the example's placeholder {account}: replace it with "
                       "yours before deploying" for name, account in (("dev", "111111111111"),
                                                                    ("test", "222222222222"),
                                                                    ("prod", "333333333333"))]
    assert err[3].startswith("warning: pipeline.source.connection_arn is the example's placeholder connection ")
    ab = load_config(ROOT / "config" / "examples" / "ab-test.yaml")  # a pinned champion in the example account
    assert "models[0].stages.prod.variants[0].model.model_package_arn names the example's placeholder account: " \
           "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/1" in placeholders(ab)
    yours = mutate("accounts", {"dev": {"account_id": "123456789012", "region": "eu-west-1"},
                                "test": {"account_id": "234567890123", "region": "eu-west-1"},
                                "prod": {"account_id": "345678901234", "region": "eu-west-1"}})
    yours["pipeline"]["source"]["connection_arn"] = ("arn:aws:codeconnections:eu-west-1:123456789012:connection/"
                                                     "5f1c2a3b-1234-4cde-9abc-0123456789ab")
    assert placeholders(parse_config(yours)) == []


def test_a_stage_left_out_is_said_to_deploy_its_default():
    """Deleting the prod section does not remove prod: its default deploys, which --check and synth say."""
    from constructs_lib.config import implicit_stages

    data = copy.deepcopy(EXAMPLE)
    del data["models"][0]["stages"]["prod"]
    del data["models"][0]["build"]["retrain_on_drift"]  # it needs prod's monitoring, which the default has not
    assert implicit_stages(parse_config(data)) == [
        "models[0].stages.prod is not in the file: the default is deployed (two ml.m5.large, canary 10 % with "
        "10-minute waits, data capture at 20 %)"]
    del data["models"][0]["stages"]
    assert [line.split(" is not")[0] for line in implicit_stages(parse_config(data))] == [
        "models[0].stages.test", "models[0].stages.prod"]
    assert implicit_stages(parse_config(EXAMPLE)) == []
