"""Broken configs, as a user writes them: one line naming the path, the rule and what was given; ``--check``
refuses exactly what synth refuses; construct errors name the config file like loader errors."""

from __future__ import annotations

import copy
import re
import json
from pathlib import Path

import pytest
import yaml

from constructs_lib import config as config_module
from constructs_lib.config import parse_config
from constructs_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = yaml.safe_load((ROOT / "config" / "platform.yaml").read_text())
PROD = "models.0.stages.prod"


def mutate(changes: dict) -> dict:
    data = copy.deepcopy(EXAMPLE)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


CASES = [
    # booleans are not numbers (`true` used to become a 1 % canary)
    ({f"{PROD}.deployment.canary_size": True},
     "models[0].stages.prod.deployment.canary_size: must be a whole number, not a boolean, got true"),
    ({f"{PROD}.variants.0.weight": False},
     "models[0].stages.prod.variants[0].weight: must be a number, not a boolean, got false"),
    # NaN and infinity are not numbers
    ({f"{PROD}.alarms.max_model_latency_ms": float("nan")},
     "models[0].stages.prod.alarms.max_model_latency_ms: must be a finite number between 0.001 and 3600000, got nan"),
    ({f"{PROD}.variants.0.weight": float("inf")},
     "models[0].stages.prod.variants[0].weight: must be a finite number, got inf"),
    ({f"{PROD}.variants.0.initial_instance_count": 2.5},
     "models[0].stages.prod.variants[0].initial_instance_count: must be a whole number, got 2.5"),
    ({f"{PROD}.variants.0.initial_instance_count": "2"},
     "models[0].stages.prod.variants[0].initial_instance_count: must be a whole number, got the string '2' (write it "
     "without quotes)"),
    # cron fields have ranges
    ({"models.0.build.schedule": "cron(0 3 ? * MON 2300)"},
     "models[0].build.schedule: cron year must be 1970-2199 (with the field's wildcards), got '2300' in "
     "'cron(0 3 ? * MON 2300)'"),
    ({"models.0.build.schedule": "cron(60 3 ? * MON *)"},
     "models[0].build.schedule: cron minutes must be 0-59 (with the field's wildcards), got '60' in "
     "'cron(60 3 ? * MON *)'"),
    # a serverless max concurrency of 0 is refused, not replaced by 5
    ({f"{PROD}.variants": [{"name": "main", "serverless_memory_mb": 2048, "serverless_max_concurrency": 0}],
      f"{PROD}.network_isolation": False, f"{PROD}.data_capture": KeyError, f"{PROD}.monitoring": KeyError,
      f"{PROD}.deployment": {"type": "all_at_once", "bake_time": 300}},
     "models[0].stages.prod.variants[0].serverless_max_concurrency: must be between 1 and 200, got 0"),
    # a misspelt key is named as given (deployment is optional in the schema now: mode batch has none)
    ({f"{PROD}.deployment": KeyError, f"{PROD}.deploymnet": {"type": "all_at_once"}},
     "models[0].stages.prod.deploymnet: is not a known setting; did you mean 'deployment'?"),
    # a key put in the wrong place says where it belongs
    ({f"{PROD}.retry_attempts": 3},
     "models[0].stages.prod.retry_attempts: is not a known setting here; 'retry_attempts' belongs under streaming"),
    ({f"{PROD}.async": {"max_concurrent_invocations_per_instance": 2}},
     "models[0].stages.prod.async: is not a known setting; did you mean 'async_inference'?"),
    # a key of its own section first (not bake_time, nor another section's key)
    ({f"{PROD}.deployment.wait_time": 600}, "models[0].stages.prod.deployment.wait_time: is not a known setting; did "
                                            "you mean 'wait'?"),
    # nothing close: the keys the section takes (of the source type given)
    ({"models.0.build.gpu": True}, "models[0].build.gpu: is not a known setting; this section takes approval, "
                                   "schedule, input_data, metric, threshold,"),
    ({"pipeline.source.repo": "x"}, "pipeline.source.repo: is not a known setting; this section takes type, "
                                    "connection_arn, repository, branch"),
    # ...and a left-out one by the mode that needs it
    ({f"{PROD}.deployment": KeyError},
     "models[0].stages.prod.deployment: is required in mode realtime: the endpoint's guardrail"),
    # a long given value is cut
    ({"models.0.build.training_instance_type": "ml." + "x" * 5000},
     "models[0].build.training_instance_type: must be an ml.* instance type, "
     f"got 'ml.{'x' * 73}... (5005 characters)"),  # 80 characters of the value shown, and its length
    # construct rules that only synth used to catch: --check runs them too
    ({f"{PROD}.deployment": {"type": "canary", "canary_size": 3, "size_unit": "instances", "wait": 300}},
     "models[0].stages.prod.deployment.canary_size: must be at most 50% of the smallest instance variant (2 "
     "instances, so at most 1), got 3 instances"),
    ({f"{PROD}.variants.0.weight": 0},
     "models[0].stages.prod.variants: at least one production variant needs a weight above 0, got all 0"),
    ({f"{PROD}.variants.0.autoscaling.max_capacity": 1},
     "models[0].stages.prod.variants[0].autoscaling.max_capacity: must be between 2 and 10000 (at least "
     "min_capacity and initial_instance_count), got 1"),
    ({f"{PROD}.variants.0.model": {"model_package_arn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-x/1"},
      f"{PROD}.variants.0.name": "bad_name"},
     "models[0].stages.prod.variants[0].name: must be 1-63 characters"),
]


@pytest.mark.parametrize("changes, message", CASES, ids=[m.split(":")[1].strip()[:40] for _, m in CASES])
def test_bad_config_is_one_line(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400


def test_check_command_refuses_what_synth_refuses(tmp_path, capsys):
    """The over-large instance canary and all-zero weights passed --check before; now --check runs the
    endpoint's own rules. Its output is one line, exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate({f"{PROD}.variants.0.weight": 0})))
    assert config_module.main(["--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {bad}: models[0].stages.prod.variants: at least one production variant needs a weight "
                   "above 0, got all 0\n")


def _build(tmp_path: Path, config: dict, versions: dict | None = None):
    import aws_cdk as cdk

    from stacks.app import build_app

    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "platform.yaml").write_text(yaml.safe_dump(config))
    if versions is not None:
        (tmp_path / "config" / "approved-versions.json").write_text(json.dumps(versions))
    app = cdk.App(context={"config": "config/platform.yaml", "approved_versions": "config/approved-versions.json"})
    return build_app(app, tmp_path)


@pytest.mark.parametrize("arn, why", [
    ("arn:aws:sagemaker:us-east-1:111111111111:model-package/mlops-churn-predictor/2", "another region"),
    ("arn:aws:sagemaker:eu-west-1:999999999999:model-package/mlops-churn-predictor/2", "another account"),
    ("arn:aws:sagemaker:eu-west-1:111111111111:model-package/other-group/2", "another group"),
])
def test_an_approved_version_from_outside_the_dev_registry_is_refused(tmp_path, arn, why):
    with pytest.raises(ConfigError) as error:
        _build(tmp_path, EXAMPLE, {"mlops-churn-predictor": arn})
    assert str(error.value) == (
        f"{tmp_path / 'config' / 'approved-versions.json'}: mlops-churn-predictor: must be a version of group "
        "mlops-churn-predictor in the dev registry (arn:aws:sagemaker:eu-west-1:111111111111:model-package/"
        f"mlops-churn-predictor/<version>), got '{arn}'"), why


def test_construct_errors_name_the_config_file(tmp_path):
    """A rule only the stacks can check (the smoke payloads' folder must exist) names the file too."""
    with pytest.raises(ConfigError) as error:
        _build(tmp_path, EXAMPLE, {"mlops-churn-predictor":
                                   "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/2"})
    assert str(error.value) == (f"{tmp_path / 'config' / 'platform.yaml'}: models[0].stages.test.checks.payloads: "
                                "the smoke checks need sample payload files in config/models/churn-predictor/"
                                "sample_payloads/, found none")


@pytest.mark.parametrize("changes, message", [
    ({"models.0.registry": {"group_name": "bad_group"}}, "models[0].registry.group_name: must be 1-63 characters"),
    ({f"{PROD}.alarms.evaluation_periods": 2.5}, "models[0].stages.prod.alarms.evaluation_periods: must be a whole "
     "number between 1 and 10, got 2.5"),
    ({"models.0.build.schedule": "cron(0 3 ? * 1/2 *)"}, "models[0].build.schedule: cron day-of-week must be 1-7"),
], ids=["group-name", "fractional-periods", "dow-increment"])
def test_more_bad_values(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)


def test_two_models_cannot_share_a_group():
    data = mutate({})
    data["models"].append(copy.deepcopy(data["models"][0]) | {"name": "other"})
    data["models"][1]["registry"] = {"group_name": "mlops-churn-predictor"}
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == ("models[1].registry.group_name: model package group names must be unique (default "
                                "<project>-<model>); models[0] uses it too, got 'mlops-churn-predictor'")


@pytest.mark.parametrize("changes, message", [
    ({"pipeline.source.type": "codeconnection"},
     "pipeline.source.type: must be one of codeconnections, codecommit, s3, got 'codeconnection'"),
    ({"pipeline.source.conection_arn": "x"}, "pipeline.source.conection_arn: is not a known setting"),
    ({f"{PROD}.variants.0.model": 5}, "models[0].stages.prod.variants[0].model: must be 'approved', "
     "{model_package_arn: ARN} or {image: URI, model_data_url: s3://...}, got 5"),
    ({"accounts.test.account_id": 19634136210},
     "accounts.test.account_id: must be a string: quote it (YAML read it as the number 19634136210)"),
    ({f"{PROD}.alarms.min_invocations": 10000000},  # the file's key, not the construct's (rollback_alarms)
     "models[0].stages.prod.alarms.min_invocations: must be between 1 and 1000000 requests per period"),
    ({f"{PROD}.alarms.max_model_latency_ms": 1e308},
     "models[0].stages.prod.alarms.max_model_latency_ms: must be between 0.001 and 3600000 ms, got 1e+308"),
    ({"pipeline.notification_emails": ["ok@example.com", "not an email"]},
     "pipeline.notification_emails[1]: must be an e-mail address, got 'not an email'"),
    ({f"{PROD}.alarms.notification_emails": ["oncall"]},
     "models[0].stages.prod.alarms.notification_emails[0]: must be an e-mail address, got 'oncall'"),
    ({f"{PROD}.alarms.notification_emails": ["ml@example.com", "ML@example.com"]},
     "models[0].stages.prod.alarms.notification_emails: lists one address twice: 'ml@example.com' (entry 0) and "
     "'ML@example.com' (entry 1) are the same ignoring case"),
    ({"models.0.build.processing_instance_type": "ml.g4dn.xlarge"},
     "models[0].build.processing_instance_type: must be a CPU instance type"),
    ({f"{PROD}.variants.0.initial_instance_count": 10**30},
     "models[0].stages.prod.variants[0].initial_instance_count: must be between 1 and 10000, got 1e+30"),
], ids=["source-type", "source-key", "model-type", "yaml-number", "alarms-path", "huge-float", "email",
        "alarm-email", "alarm-email-twice", "gpu-processing", "huge-count"])
def test_errors_speak_the_files_language(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert len(str(error.value)) < 500


def test_a_key_given_twice_is_an_error(tmp_path):
    """PyYAML keeps the last of two keys: a second `deployment:` would silently replace the canary."""
    from constructs_lib.config import load_config

    text = (ROOT / "config" / "platform.yaml").read_text().replace(
        "        deployment: {type: canary", "        deployment: {type: unguarded}\n        deployment: {type: canary")
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "duplicate key 'deployment' (first at line" in str(error.value)


def test_a_pasted_document_is_cut_to_one_readable_line():
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({f"{PROD}.variants.0.instance_type": "ml." + "x" * 5000}))
    assert len(str(error.value)) < 500 and str(error.value).endswith("characters)")


def test_capture_retention_is_bounded():
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({f"{PROD}.data_capture.retention_days": 0}))
    assert str(error.value) == "models[0].stages.prod.data_capture.retention_days: must be between 1 and 3650 days, got 0"


# --------------------------------------------------------------------------------------------- release plans
RELEASE_PATH = "models[0].stages.prod"


def release_data(**release) -> dict:
    data = yaml.safe_load((ROOT / "config" / "platform.yaml").read_text())
    data["models"][0]["stages"]["prod"]["release"].update(release)
    return data


@pytest.mark.parametrize("change, message", [
    ({"ab": {"metric": "ChurnApp/Retained", "kind": "rate", "deadline": 604800}},
     f"{RELEASE_PATH}.release.ab.deadline: must be at most 561600 seconds"),
    ({"poll_interval": 60}, f"{RELEASE_PATH}.release.ab.poll_interval: must be at least 259 seconds for a deadline of "
                            "518400 s"),
    ({"shadow": {"min_duration": 90000}}, f"{RELEASE_PATH}.release.shadow.min_duration: must be at most the "
                                          "deadline (86400 s), got 90000"),
    ({"shadow": {"variant_name": "main"}}, f"{RELEASE_PATH}.release.shadow.variant_name: must differ from the "
                                           "production variant's name, got 'main' for both"),
    ({"shadow": None, "ab": None}, f"{RELEASE_PATH}.release: needs at least one phase (shadow, ab), got none"),
    ({"shadow": {"min_agreement_percent": 101}}, f"{RELEASE_PATH}.release.shadow.min_agreement_percent: "),
    ({"shadow": {"min_agreement_percent": True}}, f"{RELEASE_PATH}.release.shadow.min_agreement_percent: "),
    ({"ab": {"weight": 60, "metric": "M/x", "kind": "rate"}}, f"{RELEASE_PATH}.release.ab.weight"),
])
def test_bad_release_plans_are_one_line(change, message):
    with pytest.raises(ConfigError) as error:
        parse_config(release_data(**change)).check()
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_a_release_plan_needs_the_approved_version_in_one_production_variant():
    data = release_data()
    prod = data["models"][0]["stages"]["prod"]
    prod["variants"].append({**prod["variants"][0], "name": "other"})
    with pytest.raises(ConfigError, match=re.escape(f"{RELEASE_PATH}.variants: a release with phases needs exactly one")):
        parse_config(data).check()
    data["models"][0]["stages"]["test"]["release"] = {"shadow": {}}
    prod["variants"].pop()
    with pytest.raises(ConfigError, match=re.escape("models[0].stages.test.release: applies to the prod stage only")):
        parse_config(data).check()


def test_an_agreement_gate_needs_the_captured_responses():
    data = release_data()
    data["models"][0]["stages"]["prod"]["data_capture"]["capture_mode"] = "input"
    with pytest.raises(ConfigError, match=re.escape(
            f"{RELEASE_PATH}.release.shadow.min_agreement_percent: needs data_capture with capture_mode output or "
            "both (the predictions are compared from the captured responses), got capture_mode input")):
        parse_config(data).check()


def test_an_error_is_re_pathed_to_the_config_one_way():
    """``ConfigError.under``: the construct's first key renamed to the config's (with or without its index),
    then placed under the config path; ``in_file`` names the file."""
    scaled = ConfigError("variants[champion].autoscaling.max_capacity", "must be at most 6, got 9")
    assert str(scaled.under("models[0].stages.prod", {"variants[champion]": "variants[1]"})) == (
        "models[0].stages.prod.variants[1].autoscaling.max_capacity: must be at most 6, got 9")
    build = ConfigError("inference_instance_types[1]", "must be an ml.* instance type, got 'c5'")
    assert str(build.under("models[2]", {"inference_instance_types": "build.inference_instance_types"})) == (
        "models[2].build.inference_instance_types[1]: must be an ml.* instance type, got 'c5'")
    assert str(ConfigError("[3]", "bad").under("models")) == "models[3]: bad"
    assert str(ConfigError("models[0].name", "bad").in_file("config/platform.yaml")) == (
        "config/platform.yaml: models[0].name: bad")


@pytest.mark.parametrize("key, limit, outside", [
    ("alarms.max_5xx_error_rate_percent", "ERROR_RATE_PERCENT", 0.001),
    ("alarms.max_model_latency_ms", "LATENCY_MS", 4_000_000),
    ("alarms.min_invocations", "MIN_INVOCATIONS", 0),
    ("alarms.evaluation_periods", "EVALUATION_PERIODS", 11),
    ("data_capture.sampling_percentage", "CAPTURE_SAMPLING_PERCENT", 101),
    ("data_capture.retention_days", "CAPTURE_RETENTION_DAYS", 0),
])
def test_a_numeric_rule_of_a_stage_has_one_source(key, limit, outside):
    """The config file's schema shows the construct's own rule (a ``Limit`` of ``variants``), and a value
    outside it fails with the construct's message at the config path: the two cannot drift apart."""
    from constructs_lib import variants
    from constructs_lib.config import json_schema

    rule = getattr(variants, limit)
    section, field = key.split(".")
    definition = {"alarms": "AlarmsConfig", "data_capture": "DataCaptureConfig"}[section]
    shown = json_schema()["$defs"][definition]["properties"][field]
    assert (shown["minimum"], shown.get("maximum")) == (rule.low, rule.high)
    with pytest.raises(ConfigError) as caught:
        rule.check("x", outside)
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({f"{PROD}.{key}": outside}))
    assert str(error.value) == f"models[0].stages.prod.{key}: {caught.value.message}"


def test_the_checks_section_has_the_smoke_tests_rules():
    """``checks``: SmokeTest's own rules (``smoke.check_smoke``), at the config path, from --check on."""
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({"models.0.stages.test.checks.invocations": 0}))
    assert str(error.value) == "models[0].stages.test.checks.invocations: must be between 1 and 1000, got 0"


@pytest.mark.parametrize("key, value, message", [
    ("release.shadow.max_latency_increase_percent", 0, "must be between 0.01 and 1000 percent, got 0"),
    ("release.shadow.min_requests", 0, "must be at least 1, got 0"),
    ("release.shadow.min_duration", 90000, "must be at most the deadline (86400 s), got 90000"),
    ("release.ab.margin", -0.5, "must be at least 0, got -0.5"),
])
def test_a_release_gate_rule_has_one_source(key, value, message):
    """A release phase's gate settings are checked by the gate itself (``ops.gates``), the same rules a
    ``ReleasePhase`` gets; the error names the config key, not the gate's field."""
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({f"{PROD}.{key}": value}))
    assert str(error.value) == f"models[0].stages.prod.{key}: {message}"


PIPELINE = {"containers": [
    {"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prep:1", "model_data_url": "s3://m/prep.tar.gz"},
    {"image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
     "model_data_url": "s3://m/model.tar.gz", "hostname": "scorer"}]}


def test_an_inference_pipeline_from_the_config():
    """``model: {containers: [...], mode}``: the stage serves a pipeline (hostnames default by position); its
    rules fail at the config path of the container they concern."""
    from constructs_lib.stage_spec import StageSpec

    config = parse_config(mutate({"models.0.stages.test.variants.0.model": PIPELINE}))
    spec = StageSpec.from_config(config.models[0].stages.test, model_name="churn-predictor", stage_name="test",
                                 approved_arn=None)
    model = spec.variants[0].model
    assert [c["ContainerHostname"] for c in model.container["Containers"]] == ["container-1", "scorer"]
    assert model.container["InferenceExecutionConfig"] == {"Mode": "Serial"}
    twice = copy.deepcopy(PIPELINE)
    twice["containers"][0]["hostname"] = "scorer"
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({"models.0.stages.test.variants.0.model": twice}))
    assert str(error.value) == ("models[0].stages.test.variants[0].model.containers[1].hostname: must be unique in "
                                "the pipeline, got 'scorer' twice")
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({"models.0.stages.test.variants.0.model": {"containers": PIPELINE["containers"][:1]}}))
    assert str(error.value).startswith("models[0].stages.test.variants[0].model.containers: ")


def test_a_direct_invocation_pipeline_cannot_have_smoke_checks():
    """SageMaker answers a direct-invocation pipeline only for requests naming a container; the smoke check
    names none, so the stage could never pass its checks: refused at the config path."""
    direct = dict(PIPELINE, mode="direct")
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({"models.0.stages.test.variants.0.model": direct}))
    assert str(error.value).startswith("models[0].stages.test.checks: variant main is a direct-invocation pipeline")
    parse_config(mutate({"models.0.stages.test.variants.0.model": direct, "models.0.stages.test.checks": None}))
    with pytest.raises(ConfigError) as error:  # no '.pipeline.' (the union's tag) in the path
        parse_config(mutate({"models.0.stages.test.variants.0.model": dict(PIPELINE, mode="parallel")}))
    assert str(error.value).startswith("models[0].stages.test.variants[0].model.mode: ")


SCORER = "models.1.stages.prod"  # the example's asynchronous model
MODE_CASES = [
    ({f"{SCORER}.mode": "nightly"},
     "models[1].stages.prod.mode: input should be 'realtime', 'serverless', 'async', 'streaming', 'batch', 'component', "
     "'multi_model' or 'edge', got 'nightly'"),
    ({f"{SCORER}.mode": "realtime"},
     "models[1].stages.prod.async_inference: applies to mode async only, got it in mode realtime"),
    ({f"{SCORER}.async_inference.max_concurrent_invocations_per_instance": 0},
     "models[1].stages.prod.async_inference.max_concurrent_invocations_per_instance: must be between 1 and 1000 "
     "requests per instance, got 0"),
    ({f"{SCORER}.async_inference.retention_days": True},
     "models[1].stages.prod.async_inference.retention_days: must be a whole number between 1 and 3650, not a "
     "boolean, got true"),
    ({f"{SCORER}.variants": [{"name": "a", "instance_type": "ml.m5.large"}, {"name": "b", "instance_type": "ml.m5.large"}]},
     "models[1].stages.prod.variants: an asynchronous endpoint has exactly one production variant, got 2"),
    ({f"{SCORER}.deployment": {"type": "canary", "canary_size": 10, "wait": 300}},
     "models[1].stages.prod.deployment.type: must be one of all_at_once, unguarded on an asynchronous endpoint"),
    ({f"{SCORER}.data_capture": {"sampling_percentage": 10}},
     "models[1].stages.prod.data_capture: is not supported on an asynchronous endpoint, got a value"),
    ({f"{SCORER}.alarms.watch_whole_endpoint": True},
     "models[1].stages.prod.alarms.watch_whole_endpoint: must be false on an asynchronous endpoint"),
    ({f"{SCORER}.variants.0.autoscaling.target_backlog_per_instance": KeyError},
     "models[1].stages.prod.variants[0].autoscaling.target_backlog_per_instance: is required: the queued requests "
     "per instance"),
    ({f"{SCORER}.variants.0.autoscaling.target_invocations_per_instance": 100},
     "models[1].stages.prod.variants[0].autoscaling.target_invocations_per_instance: does not apply to an "
     "asynchronous endpoint (it scales on target_backlog_per_instance), got 100"),
    ({f"{SCORER}.variants.0.autoscaling.target_backlog_per_instance": float("nan")},
     "models[1].stages.prod.variants[0].autoscaling.target_backlog_per_instance: must be a finite number between "
     "0.1 and 1000000, got nan"),
    ({f"{SCORER}.release": {"ab": {"metric": "App/Ok", "kind": "rate"}}},
     "models[1].stages.prod.release: must be left out in mode async"),
    ({"models.1.stages.test.checks.stream": True},
     "models[1].stages.test.checks.stream: must be false in mode async"),
    # streaming: a real-time endpoint fed from a stream; Lambda's event source mapping limits
    ({f"{PROD}.streaming": {"batch_size": 20}},
     "models[0].stages.prod.streaming: applies to mode streaming only, got it in mode realtime"),
    ({f"{PROD}.mode": "streaming", f"{PROD}.release": KeyError, f"{PROD}.streaming": {"batch_size": 20000}},
     "models[0].stages.prod.streaming.batch_size: must be between 1 and 10000 records, got 20000"),
    ({f"{PROD}.mode": "streaming", f"{PROD}.release": KeyError, f"{PROD}.streaming": {"retry_attempts": -1}},
     "models[0].stages.prod.streaming.retry_attempts: must be between 0 and 10000 retries, got -1"),
    ({f"{PROD}.mode": "streaming", f"{PROD}.release": KeyError, f"{PROD}.streaming": {"max_record_age": 10}},
     "models[0].stages.prod.streaming.max_record_age: must be between 60 and 604800 seconds, got 10"),
    # the other modes
    ({f"{PROD}.variants.0.autoscaling.min_capacity": 0},
     "models[0].stages.prod.variants[0].autoscaling.min_capacity: must be between 1 and 2 (at most "
     "initial_instance_count 2; only an asynchronous endpoint scales to zero), got 0"),
    ({"models.0.stages.test.mode": "serverless"},
     "models[0].stages.test.variants[0].serverless_memory_mb: is required in mode serverless"),
    ({"models.0.stages.test.variants": [{"name": "main", "serverless_memory_mb": 2048, "serverless_max_concurrency": 5}],
      "models.0.stages.test.mode": "realtime", "models.0.stages.test.network_isolation": False},
     "models[0].stages.test.variants[0].serverless_memory_mb: must not be set in mode realtime"),
]


@pytest.mark.parametrize("changes, message", MODE_CASES, ids=[m.split(":")[0][-40:] + str(i)
                                                              for i, (_, m) in enumerate(MODE_CASES)])
def test_serving_modes_refuse_what_they_cannot_do_in_one_line(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("changes, message", [
    ({"models.1.stages.test.alarms": KeyError},
     "models[1].stages.test.alarms.max_model_latency_ms: is required in mode async"),
    ({f"{SCORER}.async_inference.bucket_name": "Bad_Bucket"},
     "models[1].stages.prod.async_inference.bucket_name: "),
    ({f"{PROD}.data_capture.bucket_name": "arn:aws:s3:::captures"}, "models[0].stages.prod.data_capture.bucket_name: "),
    ({f"{SCORER}.async_inference.prefix": "jobs/*"},
     "models[1].stages.prod.async_inference.prefix: must be a key prefix of at most 200 letters"),
], ids=["async-latency", "async-bucket", "capture-bucket", "async-prefix"])
def test_async_inputs_that_would_fail_at_deploy_are_refused(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)


NIGHTLY = "models.2.stages"  # the example's batch model


@pytest.mark.parametrize("changes, message", [
    ({f"{NIGHTLY}.prod.batch": KeyError}, "models[2].stages.prod.batch: is required in mode batch"),
    ({f"{NIGHTLY}.prod.variants": [{"name": "main", "instance_type": "ml.m5.large"}]},
     "models[2].stages.prod.variants: must be left out in mode batch (no endpoint"),
    ({f"{NIGHTLY}.prod.deployment": {"type": "all_at_once"}}, "models[2].stages.prod.deployment: must be left out"),
    ({f"{NIGHTLY}.test.checks": {"invocations": 5}},
     "models[2].stages.test.checks.invocations: does not apply in mode batch"),
    ({f"{NIGHTLY}.prod.batch.instance_count": 0},
     "models[2].stages.prod.batch.instance_count: must be between 1 and 100 instances, got 0"),
    ({f"{NIGHTLY}.prod.batch.instance_type": "ml.nope.large"},
     "models[2].stages.prod.batch.instance_type: must be a SageMaker batch transform instance type"),
    ({f"{NIGHTLY}.prod.batch.schedule": "cron(0 2 * * * *)"}, "models[2].stages.prod.batch.schedule: "),
    ({f"{NIGHTLY}.prod.batch.split_type": "lines"}, "models[2].stages.prod.batch.split_type: input should be"),
    ({f"{NIGHTLY}.prod.mode": "realtime"}, "models[2].stages.prod.batch: applies to mode batch only"),
    ({f"{NIGHTLY}.prod.batch.instance_type": "ml.t2.medium"},  # real-time only: transform jobs refuse it
     "models[2].stages.prod.batch.instance_type: must be a SageMaker batch transform instance type"),
    ({f"{NIGHTLY}.prod.batch.split_type": "None"},
     "models[2].stages.prod.batch.strategy: must be SingleRecord when split_type is None"),
    ({f"{NIGHTLY}.prod.batch.model": {"containers": [{"image": "1.dkr.ecr.eu-west-1.amazonaws.com/a:1"},
                                                      {"image": "1.dkr.ecr.eu-west-1.amazonaws.com/b:1"}]}},
     "models[2].stages.prod.batch.model: must be 'approved', {model_package_arn: ARN} or {image: URI, "
     "model_data_url: s3://...}, got {'containers'"),
], ids=["no-batch", "variants", "deployment", "checks", "count", "type", "schedule", "split", "wrong-mode",
        "realtime-type", "single-record", "pipeline-model"])
def test_a_batch_stage_is_refused_what_it_cannot_do(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_a_serverless_stage_runs_without_network_isolation_unless_it_says_otherwise():
    """Mode serverless refuses network isolation, so its default is off there (on everywhere else)."""
    from constructs_lib.stage_spec import network_isolation

    serverless = {"variants": [{"name": "main", "serverless_memory_mb": 2048}],
                  "deployment": {"type": "all_at_once"}}
    config = parse_config(mutate({"models.0.stages.test": serverless}))
    assert network_isolation(config.models[0].stages.test) is False
    assert network_isolation(config.models[0].stages.prod) is True
    with pytest.raises(ConfigError, match=r"^models\[0\]\.stages\.test\.network_isolation: is not supported on a "
                                          r"serverless endpoint, got true$"):
        parse_config(mutate({"models.0.stages.test": serverless | {"network_isolation": True}}))
    with pytest.raises(ConfigError, match=r"^models\[2\]\.stages\.prod\.dashboard: must be left out in mode batch"):
        parse_config(mutate({"models.2.stages.prod.dashboard": False}))


LITE = "models.3.stages"  # the example's first inference component


@pytest.mark.parametrize("changes, message", [
    ({f"{LITE}.prod.component": KeyError}, "models[3].stages.prod.component: is required in mode component"),
    ({f"{LITE}.prod.component.host": "gpu"},
     "models[3].stages.prod.component.host: must name an entry of component_hosts (shared), got 'gpu'"),
    ({f"{LITE}.prod.component.memory_mb": 64},
     "models[3].stages.prod.component.memory_mb: must be between 128 and 4194304 MB, got 64"),
    ({f"{LITE}.prod.component.cpu_cores": True},
     "models[3].stages.prod.component.cpu_cores: must be a number between 0.25 and 1024, not a boolean, got true"),
    ({f"{LITE}.prod.component.cpu_cores": 0.1},
     "models[3].stages.prod.component.cpu_cores: must be between 0.25 and 1024 cores, got 0.1"),
    ({f"{LITE}.prod.component.copies": 0}, "models[3].stages.prod.component.copies: must be between 1 and 10000"),
    ({f"{LITE}.prod.component.autoscaling.min_copies": 5},
     "models[3].stages.prod.component.autoscaling.min_copies: copies (4) must be between min_copies and "
     "max_copies, got 5-8"),
    ({f"{LITE}.prod.deployment": {"type": "canary", "canary_size": 10}},
     "models[3].stages.prod.deployment.type: must be one of rolling, unguarded, got 'canary'"),
    ({f"{LITE}.prod.deployment.batch_size": 3},
     "models[3].stages.prod.deployment.batch_size: must be at most 50% of the component's copies (4, so at most "
     "2), got 3 copies"),
    ({f"{LITE}.test.component.copies": 1},
     "models[3].stages.test.deployment.batch_size: a rolling update in batches of copies needs at least 2 copies "
     "(each batch is 5-50% of them), the component has 1: give it 2 copies, or deployment type unguarded (the "
     "default deployment: rolling, one copy at a time)"),
    ({f"{LITE}.prod.component.accelerators": 1},
     "models[3].stages.prod.component.accelerators: needs a host with accelerators (ml.g*, ml.p*, ml.inf*, "
     "ml.trn*), and host shared runs ml.m5.2xlarge in prod, got 1"),
    ({f"{LITE}.prod.component.model": {"containers": [{"image": "1.dkr.ecr.eu-west-1.amazonaws.com/a:1"},
                                                      {"image": "1.dkr.ecr.eu-west-1.amazonaws.com/b:1"}]}},
     "models[3].stages.prod.component.model: must be 'approved', {model_package_arn: ARN} or {image: URI"),
    ({"component_hosts.0.name": "churn-predictor"},
     "models[0].stages.test.endpoint_name: must differ from the component and multi-model hosts' endpoints"),
    ({f"{LITE}.prod.deployment.size_unit": "instances"},
     "models[3].stages.prod.deployment.size_unit: must be copies or percent in mode component"),
    ({f"{LITE}.prod.deployment.wait": 3601},
     "models[3].stages.prod.deployment.wait: must be between 0 and 3600 seconds, got 3601"),
    ({f"{LITE}.prod.variants": [{"name": "main", "instance_type": "ml.m5.large"}]},
     "models[3].stages.prod.variants: must be left out in mode component"),
    ({f"{LITE}.prod.dashboard": True}, "models[3].stages.prod.dashboard: must be left out in mode component"),
    ({f"{LITE}.prod.alarms.watch_whole_endpoint": True},
     "models[3].stages.prod.alarms.watch_whole_endpoint: does not apply in mode component"),
    ({f"{LITE}.prod.mode": "realtime", f"{LITE}.prod.variants": [{"name": "main", "instance_type": "ml.m5.large"}]},
     "models[3].stages.prod.component: applies to mode component only, got it in mode realtime"),
    ({"models.0.stages.test.deployment.size_unit": "copies", "models.0.stages.test.deployment.type": "rolling",
      "models.0.stages.test.deployment.batch_size": 1, "models.0.stages.test.deployment.bake_time": 0},
     "models[0].stages.test.deployment.size_unit: copies applies to mode component only"),
    ({"component_hosts.0.prod.instance_type": "ml.t9.huge"},
     "component_hosts[0].prod.instance_type: must be a SageMaker real-time inference instance type"),
    ({"component_hosts.0.prod.max_instance_count": 1},
     "component_hosts[0].prod.max_instance_count: must be at least instance_count (2), got 1"),
    ({"component_hosts.0.test": {"instance_type": "ml.m5.xlarge", "min_instance_count": 1}},
     "component_hosts[0].test.min_instance_count: applies only with max_instance_count"),
    ({"component_hosts.0.test.routing": "round_robin"}, "component_hosts[0].test.routing: input should be"),
    ({"component_hosts": [{"name": "shared", "test": {"instance_type": "ml.m5.large"},
                           "prod": {"instance_type": "ml.m5.large"}}] * 2},
     "component_hosts[1].name: must be unique; component_hosts[0] uses it too, got 'shared'"),
    ({"component_hosts.0.name": "9lives"}, "component_hosts[0].name: must start with a letter"),
], ids=["no-component", "unknown-host", "memory", "bool-cores", "cores", "copies", "scaling", "canary", "batch",
        "one-copy", "accelerators", "pipeline-model", "host-named-like-a-model", "instances", "wait", "variants", "dashboard", "whole-endpoint", "wrong-mode", "copies-elsewhere",
        "host-type", "host-max", "host-min", "routing", "host-twice", "host-name"])
def test_a_component_stage_is_refused_what_it_cannot_do(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


REGIONAL = "models.5.stages"  # the example's model on the multi-model endpoint


@pytest.mark.parametrize("changes, message", [
    ({f"{REGIONAL}.prod.multi_model": KeyError}, "models[5].stages.prod.multi_model: is required in mode multi_model"),
    ({f"{REGIONAL}.prod.multi_model.host": "few"},
     "models[5].stages.prod.multi_model.host: must name an entry of multi_model_hosts (many), got 'few'"),
    ({f"{REGIONAL}.prod.multi_model.model": {"image": "1.dkr.ecr.eu-west-1.amazonaws.com/a:1"}},
     "models[5].stages.prod.multi_model.model"),
    ({f"{REGIONAL}.prod.deployment": {"type": "all_at_once"}},
     "models[5].stages.prod.deployment: must be left out in mode multi_model"),
    ({f"{REGIONAL}.prod.alarms": {"max_model_latency_ms": 100}},
     "models[5].stages.prod.alarms: must be left out in mode multi_model"),
    ({f"{REGIONAL}.test.checks.stream": True}, "models[5].stages.test.checks.stream: must be false in mode multi_model"),
    ({"multi_model_hosts.0.prod.instance_type": "ml.inf2.xlarge"},
     "multi_model_hosts[0].prod.instance_type: must be a CPU type or one of the GPU types multi-model endpoints run on"),
    ({"multi_model_hosts.0.prod.instance_count": 0},
     "multi_model_hosts[0].prod.instance_count: must be between 1 and 10000"),
    ({"multi_model_hosts.0.name": "shared"},
     "multi_model_hosts[0].name: must be unique among the hosts; component_hosts[0] uses it too, got 'shared'"),
    ({"multi_model_hosts.0.name": "a" * 30},
     "multi_model_hosts[0].name: is too long for its models' bucket name"),
    ({"multi_model_hosts.0.name": "Many"}, "multi_model_hosts[0].name: must be 1-40 lower-case letters, digits and "
                                           "hyphens, starting with a letter, got 'Many'"),
    ({f"{REGIONAL}.prod.multi_model": "many"}, "models[5].stages.prod.multi_model: must be a section of key: value "
                                               "settings (see config/platform.schema.json), got 'many'"),
    ({"multi_model_hosts.0.prefix": "models/"}, "multi_model_hosts[0].prefix: is not a known setting"),
    ({"models.5.name": "ChurnRegional"},
     "models[5].stages.test.mode: multi_model needs a lower-case model name (it names the model's folder on the "
     "host, the start of every TargetModel), got 'ChurnRegional'"),
    ({f"{REGIONAL}.prod.multi_model.model": {
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/4"}},
     "models[5].stages.prod.multi_model.model.model_package_arn: must be a version of this model's group "
     "(arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-regional/<version>)"),
    ({"multi_model_hosts.0.image": "141502667606.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"},
     "multi_model_hosts[0].image: must be in the test stage's region (eu-west-1: SageMaker pulls a model's image "
     "from its own region; one image serves both stages), got one in us-east-1"),
    ({"multi_model_hosts.0.prod.instance_type": "ml.g5.xlarge"},
     "multi_model_hosts[0].prod.instance_type: ml.g5.xlarge is a GPU type: a multi-model endpoint runs on GPUs "
     "only with SageMaker's Triton container"),
    ({f"{REGIONAL}.prod.mode": "realtime", f"{REGIONAL}.prod.variants": [{"name": "main", "instance_type": "ml.m5.large"}],
      f"{REGIONAL}.prod.deployment": {"type": "all_at_once"}},
     "models[5].stages.prod.multi_model: applies to mode multi_model only, got it in mode realtime"),
], ids=["no-section", "unknown-host", "image-model", "deployment", "alarms", "stream", "inferentia", "count",
        "name-taken", "long-name", "upper-case", "scalar-section", "prefix-fixed", "upper-case-model", "other-group", "image-region",
        "gpu-not-triton",
        "wrong-mode"])
def test_a_multi_model_stage_is_refused_what_it_cannot_do(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


RAW = "models.6"  # the example's inference-pipeline model (build.inference_preprocessing)
RAW_VERSION = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-raw/1"


@pytest.mark.parametrize("changes, message", [
    ({f"{RAW}.build.inference_preprocessing": "yes"},
     "models[6].build.inference_preprocessing: must be true or false, got 'yes'"),
    ({f"{RAW}.stages.test.mode": "serverless",
      f"{RAW}.stages.test.variants": [{"name": "main", "serverless_memory_mb": 2048}]},
     "models[6].stages.test.variants[0].serverless_memory_mb: must not be set on an inference pipeline's variant "
     "(SageMaker's serverless inference excludes inference pipelines: give instance_type), got 2048 for the "
     "approved version, an inference pipeline (build.inference_preprocessing)"),
    ({f"{RAW}.stages.test.mode": "async", f"{RAW}.stages.test.checks": {"invocations": 4},
      f"{RAW}.stages.test.alarms": {"max_model_latency_ms": 60000}},
     "models[6].stages.test.variants[0].model: an asynchronous endpoint serves one container (SageMaker supports no "
     "inference pipeline with async inference), got the approved version, an inference pipeline "
     "(build.inference_preprocessing)"),
    ({f"{RAW}.stages.test": {"mode": "component", "component": {"host": "shared", "memory_mb": 1024}}},
     "models[6].stages.test.component.model: must be a one-container model (an inference component runs one "
     "container; an inference pipeline cannot be a component)"),
    ({f"{RAW}.stages.test": {"mode": "multi_model", "multi_model": {"host": "many"}}},
     "models[6].stages.test.multi_model.model: must be a one-container version (a multi-model container loads one "
     "artifact per model), got an inference pipeline (build.inference_preprocessing, or inference_pipeline: true)"),
    # a pinned version of the group says which kind it is; then the same rules apply to it
    ({f"{RAW}.stages.test.variants.0.model": {"model_package_arn": RAW_VERSION}},
     "models[6].stages.test.variants[0].model.inference_pipeline: is required for a version of group "
     "mlops-churn-raw, whose build registers inference pipelines (build.inference_preprocessing): true for a "
     "version with the preprocessing container, false for one registered before, got none"),
    ({f"{RAW}.stages.test.mode": "serverless", f"{RAW}.stages.test.variants": [
        {"name": "main", "serverless_memory_mb": 2048,
         "model": {"model_package_arn": RAW_VERSION, "inference_pipeline": True}}]},
     "models[6].stages.test.variants[0].serverless_memory_mb: must not be set on an inference pipeline's variant"),
    ({"models.0.stages.test.variants.0.model": {"model_package_arn": RAW_VERSION}},
     "models[0].stages.test.variants[0].model.inference_pipeline: is required for a version of group "
     "mlops-churn-raw"),
    ({f"{RAW}.stages.test.checks.payloads": "../elsewhere"},
     "models[6].stages.test.checks.payloads: must be a folder inside the model folder (names separated by '/', "
     "none starting with '.'), got '../elsewhere'"),
], ids=["not-a-boolean", "serverless", "async", "component", "multi-model", "pinned-unsaid", "pinned-serverless",
        "pinned-by-another-model", "payloads-outside"])
def test_an_inference_pipeline_model_is_refused_where_sagemaker_serves_one_container(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_the_same_stages_are_fine_for_a_one_container_version():
    """The refusals above come from the versions' kind: a one-container build, or a pinned version registered
    before inference_preprocessing was turned on, is accepted in a component stage."""
    component = {"mode": "component", "component": {"host": "shared", "memory_mb": 1024}}
    parse_config(mutate({f"{RAW}.build.inference_preprocessing": False, f"{RAW}.stages.test": component}))
    pinned = {"model_package_arn": RAW_VERSION, "inference_pipeline": False}
    parse_config(mutate({f"{RAW}.stages.test": dict(component, component=dict(component["component"], model=pinned))}))


@pytest.mark.parametrize("edge, message", [
    ({"device": "rasp4b", "os": "LINUX", "arch": "ARM64"},
     "models[0].build.edge.device: give a device, or a platform (os and arch), not both or neither"),
    ({"device": "ml_c5"}, "models[0].build.edge.device: must be one of jetson_tx1, jetson_tx2"),
    ({"os": "LINUX", "arch": "RISCV"}, "models[0].build.edge.arch: input should be 'X86_64', 'X86', 'ARM64'"),
    ({"os": "LINUX", "arch": "ARM64", "accelerator": "NVIDIA"},
     "models[0].build.edge.compiler_options: is required for an NVIDIA accelerator"),
    ({"device": "rasp4b", "compiler_options": "{nope"}, "models[0].build.edge.compiler_options: must be a JSON "
                                                         "object as text"),
], ids=["device-and-platform", "cloud-device", "arch", "nvidia-options", "options-json"])
def test_a_bad_edge_target_in_the_config_is_one_line(edge, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({"models.0.build.edge": edge}))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_an_edge_target_cannot_go_with_inference_preprocessing():
    with pytest.raises(ConfigError) as error:
        parse_config(mutate({f"{RAW}.build.edge": {"device": "rasp4b"}}))
    assert str(error.value).startswith("models[6].build.edge: cannot go with inference_preprocessing: Neo compiles "
                                       "the model container alone")


EDGE = "models.7.stages"  # the example's edge model
_EDGE_PATH = "models[7].stages"


@pytest.mark.parametrize("changes, message", [
    ({f"{EDGE}.prod.edge": KeyError}, f"{_EDGE_PATH}.prod.edge: is required in mode edge"),
    ({f"{EDGE}.prod.edge.thing_group": "churn devices"},
     f"{_EDGE_PATH}.prod.edge.thing_group: string should match pattern '^[a-zA-Z0-9:_-]{{1,128}}$', got 'churn devices'"),
    ({f"{EDGE}.prod.edge.rollout.base_rate_per_minute": 0},
     f"{_EDGE_PATH}.prod.edge.rollout.base_rate_per_minute: must be between 1 and 1000 devices per minute, got 0"),
    ({f"{EDGE}.prod.edge.rollout.base_rate_per_minute": True},
     f"{_EDGE_PATH}.prod.edge.rollout.base_rate_per_minute: must be a whole number between 1 and 1000, not a "
     "boolean, got true"),
    ({f"{EDGE}.prod.edge.rollout.increment_factor": 1.25},
     f"{_EDGE_PATH}.prod.edge.rollout.increment_factor: may have at most 1 digit after the decimal point"),
    ({f"{EDGE}.prod.edge.rollout.maximum_per_minute": 4},
     f"{_EDGE_PATH}.prod.edge.rollout.maximum_per_minute: must be at least base_rate_per_minute (5), got 4"),
    ({f"{EDGE}.prod.edge.abort.threshold_percent": 100},
     f"{_EDGE_PATH}.prod.edge.abort.threshold_percent: must be between 0 and 99.99 percent, got 100"),
    ({f"{EDGE}.prod.edge.abort.threshold_percent": float("nan")},
     f"{_EDGE_PATH}.prod.edge.abort.threshold_percent: must be a finite number between 0 and 99.99, got nan"),
    ({f"{EDGE}.prod.edge.abort.failure_types": ["ALL", "FAILED"]},
     f"{_EDGE_PATH}.prod.edge.abort.failure_types: ALL counts every failure already"),
    ({f"{EDGE}.prod.edge.in_progress_timeout_minutes": 10081},
     f"{_EDGE_PATH}.prod.edge.in_progress_timeout_minutes: must be between 1 and 10080 minutes, got 10081"),
    ({f"{EDGE}.prod.edge.verify.wait_minutes": 90},
     f"{_EDGE_PATH}.prod.edge.verify.wait_minutes: must be between 1 and 55 minutes, got 90"),
    ({f"{EDGE}.prod.edge.verify.max_failed_percent": 101},
     f"{_EDGE_PATH}.prod.edge.verify.max_failed_percent: must be between 0 and 100 percent, got 101"),
    ({f"{EDGE}.prod.edge.components": {"aws.greengrass.Nucleus": "2.12"}},
     f"{_EDGE_PATH}.prod.edge.components['aws.greengrass.Nucleus']: must be a version major.minor.patch"),
    ({f"{EDGE}.prod.edge.components": {"mlops.churn-edge": "1.0.3"}},
     f"{_EDGE_PATH}.prod.edge.components['mlops.churn-edge']: is this model's own component"),
    ({f"{EDGE}.prod.edge.component_name": "aws.greengrass.Model"},
     f"{_EDGE_PATH}.prod.edge.component_name: must not start with aws.greengrass."),
    ({f"{EDGE}.prod.edge.device_role": "role/devices"},
     f"{_EDGE_PATH}.prod.edge.device_role: string should match pattern"),
    ({f"{EDGE}.prod.deployment": {"type": "all_at_once"}},
     f"{_EDGE_PATH}.prod.deployment: must be left out in mode edge"),
    ({f"{EDGE}.test.checks": {"invocations": 5}}, f"{_EDGE_PATH}.test.checks: must be left out in mode edge"),
    ({f"{EDGE}.prod.edge.model": {
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/4"}},
     f"{_EDGE_PATH}.prod.edge.model.model_package_arn: must be a version of this model's group"),
    ({"models.7.build.edge": None}, f"{_EDGE_PATH}.test.edge: needs build.edge (the device or platform Neo compiles "
                                    "each version for)"),
    ({"models.0.build.edge": {"device": "rasp4b"}, "models.0.build.retrain_on_drift": KeyError,
      "models.0.stages.prod": {"mode": "edge", "edge": {"thing_group": "churn-devices-prod"}}},
     f"{_EDGE_PATH}.prod.edge.thing_group: is model churn-predictor's too: one model per thing group"),
    ({f"{EDGE}.prod.edge.rollout": "fast"}, f"{_EDGE_PATH}.prod.edge.rollout: must be a section of key: value"),
    ({f"{EDGE}.prod.edge.verify": {"wait_minutes": 10}},  # every one of 2000 devices, notified by minute 23.4
     f"{_EDGE_PATH}.prod.edge.verify.wait_minutes: must be at least 24 minutes: the rollout notifies device 2000 "
     "(the last of devices) at minute 23.4 at best, so a wait that ends first can never pass; got 10"),
    ({f"{EDGE}.prod.edge.devices": 0}, f"{_EDGE_PATH}.prod.edge.devices: must be between 1 and 2147483647 devices, "
                                       "got 0"),
    ({f"{EDGE}.test.edge.devices": 2}, f"{_EDGE_PATH}.test.edge.abort.min_executed: must be at most edge.devices "
                                       "(2: the abort could never judge), got 3"),
    ({f"{EDGE}.prod.edge.runtime": {"variant.DLR": "~~1.6"}},
     f"{_EDGE_PATH}.prod.edge.runtime['variant.DLR']: must be a version requirement such as ~1.6.0"),
    ({"models.0.stages.test.edge": {"thing_group": "x"}}, "models[0].stages.test.edge: applies to mode edge only"),
], ids=["no-section", "group", "rate", "rate-bool", "factor", "maximum", "threshold", "nan", "all-and-failed",
        "timeout", "wait", "failed-percent", "component-version", "own-component", "aws-name", "role", "deployment",
        "checks", "foreign-version", "no-build-edge", "shared-group", "section-text", "unreachable-gate",
        "no-devices", "sample-above-fleet", "requirement", "wrong-mode"])
def test_an_edge_stage_is_refused_what_it_cannot_do(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


PREDICTOR_PROD = "models.0.stages.prod"


@pytest.mark.parametrize("changes, message", [
    ({f"{PREDICTOR_PROD}.monitoring.window_minutes": 2},
     "models[0].stages.prod.monitoring.window_minutes: must be between 5 and 1440 minutes, got 2"),
    ({f"{PREDICTOR_PROD}.monitoring.window_minutes": True},
     "models[0].stages.prod.monitoring.window_minutes: must be a whole number between 5 and 1440, not a boolean, "
     "got true"),
    ({f"{PREDICTOR_PROD}.monitoring.datapoints_to_alarm": 3},
     "models[0].stages.prod.monitoring.datapoints_to_alarm: must be at most evaluation_periods (2), got 3"),
    ({f"{PREDICTOR_PROD}.monitoring.window_minutes": 1440, f"{PREDICTOR_PROD}.monitoring.evaluation_periods": 8},
     "models[0].stages.prod.monitoring.evaluation_periods: must be at most 7 with a 1440-minute window"),
    ({f"{PREDICTOR_PROD}.monitoring.min_records": 0},
     "models[0].stages.prod.monitoring.min_records: must be between 1 and 50000 rows, got 0"),
    ({f"{PREDICTOR_PROD}.data_capture.capture_mode": "output"},
     "models[0].stages.prod.monitoring: needs the requests captured (data_capture with capture_mode input or both)"),
    ({f"{PREDICTOR_PROD}.data_capture.sampling_percentage": 0},
     "models[0].stages.prod.monitoring: needs data_capture.sampling_percentage above 0: the check reads the captured "
     "requests, got 0 (nothing captured)"),
    ({f"{PREDICTOR_PROD}.data_capture": KeyError, f"{PREDICTOR_PROD}.release.shadow.min_agreement_percent": KeyError,
      f"{PREDICTOR_PROD}.release.shadow.agreement_tolerance": KeyError,
      f"{PREDICTOR_PROD}.release.shadow.min_agreement_pairs": KeyError},
     "models[0].stages.prod.monitoring: needs the requests captured (data_capture with capture_mode input or both): "
     "the check reads them, got no data_capture"),
    ({"models.1.stages.prod.monitoring": {}}, "models[1].stages.prod.monitoring: applies to modes realtime and "
                                               "streaming"),
    ({f"{RAW}.stages.prod.monitoring": {}}, "models[6].stages.prod.monitoring: cannot check an inference "
                                             "pipeline's requests"),
    ({"models.0.stages.test.monitoring": {}, "models.0.stages.test.data_capture": {"sampling_percentage": 5},
      "models.0.stages.test.variants.0.model": {"image": "1.dkr.ecr.eu-west-1.amazonaws.com/x:1"}},
     "models[0].stages.test.monitoring: needs the first variant to serve a registered version"),
], ids=["window", "window-bool", "datapoints", "look-back", "min-records", "output-only", "no-sampling", "no-capture",
        "async", "pipeline", "image"])
def test_a_drift_check_is_refused_what_it_cannot_do(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


QUALITY = f"{PREDICTOR_PROD}.monitoring.quality"


@pytest.mark.parametrize("changes, message", [
    ({f"{QUALITY}.metric": "rmse"}, "models[0].stages.prod.monitoring.quality.metric: input should be 'accuracy', "
                                    "'precision', 'recall', 'f1' or 'auc', got 'rmse'"),
    ({f"{QUALITY}.metric": KeyError, "models.0.build.metric": "loss"},
     "models[0].stages.prod.monitoring.quality.metric: must be given: its default, build.metric, must be one of "
     "accuracy, precision, recall, f1, auc, got 'loss'"),
    ({f"{QUALITY}.threshold": True}, "models[0].stages.prod.monitoring.quality.threshold: must be a number between "
                                     "0 and 1, not a boolean, got true"),
    ({f"{QUALITY}.threshold": 1.2}, "models[0].stages.prod.monitoring.quality.threshold: must be between 0 and 1, "
                                    "got 1.2"),
    ({f"{QUALITY}.label_delay_hours": 1.5}, "models[0].stages.prod.monitoring.quality.label_delay_hours: must be a "
                                            "whole number between 0 and 720, got 1.5"),
    ({f"{QUALITY}.label_delay_hours": 721}, "models[0].stages.prod.monitoring.quality.label_delay_hours: must be "
                                            "between 0 and 720 hours, got 721"),
    ({f"{PREDICTOR_PROD}.data_capture.retention_days": 3},
     "models[0].stages.prod.monitoring.quality.label_delay_hours: must leave the judged window (72 hours back, plus "
     "the 60-minute window and the check's 10-minute lag) within the captured data's 3-day retention "
     "(data_capture.retention_days), got 72"),
    ({f"{QUALITY}.threshold": 0}, "models[0].stages.prod.monitoring.quality.threshold: must be above 0 (no value is "
                                  "below 0: the alarm could never fire), got 0"),
    ({f"{QUALITY}.threshold": KeyError}, "models[0].stages.prod.monitoring.quality.threshold: must be given for "
                                         "metric auc: its default, build.threshold, is the bar of build.metric "
                                         "(accuracy), got none"),
    ({f"{QUALITY}.min_labels": 0}, "models[0].stages.prod.monitoring.quality.min_labels: must be between 1 and "
                                   "50000 rows, got 0"),
    ({f"{PREDICTOR_PROD}.data_capture.capture_mode": "input", f"{PREDICTOR_PROD}.release.shadow.min_agreement_percent":
      KeyError, f"{PREDICTOR_PROD}.release.shadow.agreement_tolerance": KeyError,
      f"{PREDICTOR_PROD}.release.shadow.min_agreement_pairs": KeyError},
     "models[0].stages.prod.monitoring.quality: needs the predictions captured with the requests "
     "(data_capture.capture_mode both), got input"),
    ({f"{PREDICTOR_PROD}.mode": "streaming", f"{PREDICTOR_PROD}.release": KeyError,
      f"{PREDICTOR_PROD}.variants.0.autoscaling": KeyError,
      f"{PREDICTOR_PROD}.deployment": {"type": "all_at_once", "bake_time": 300}},
     "models[0].stages.prod.monitoring.quality: needs mode realtime: mode streaming's consumer invokes the endpoint "
     "without an InferenceId, so labels have nothing to name their request by, got mode streaming"),
], ids=["metric", "custom-build-metric", "threshold-bool", "threshold-range", "delay-fraction", "delay-range",
        "retention", "threshold-zero", "threshold-other-metric", "min-labels", "input-only", "streaming"])
def test_a_quality_check_is_refused_what_it_cannot_judge(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value) == message


@pytest.mark.parametrize("changes, message", [
    ({"models.0.build.retrain_on_drift.min_interval_hours": 0},
     "models[0].build.retrain_on_drift.min_interval_hours: must be between 1 and 720 hours, got 0"),
    ({"models.0.build.retrain_on_drift.min_interval_hours": 1.5},
     "models[0].build.retrain_on_drift.min_interval_hours: must be a whole number between 1 and 720, got 1.5"),
    ({"models.0.stages.prod.monitoring": KeyError},
     "models[0].build.retrain_on_drift: needs stages.prod.monitoring: prod's drift alarm is what starts the build"),
], ids=["interval", "fraction", "no-monitoring"])
def test_retraining_on_drift_is_refused_what_cannot_work(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)
