"""The ``mlops`` program itself: help, global options, printing, error lines, the installed console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ops_support import create_versions

from constructs_lib.ops import cli
from constructs_lib.ops.base import EXIT_USAGE, OpsError, Output

MINE = ["status", "approve", "reject", "resolve", "shift", "rollback", "verify", "smoke"]


def run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", MINE)
def test_every_subcommand_has_help_with_the_global_options(capsys, command):
    code, out, err = run(capsys, command, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: mlops {command} ")
    for option in ("--profile", "--region", "--role-arn", "--json"):
        assert option in out


def test_top_level_help_lists_the_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in MINE:
        assert f"\n    {command} " in out


def test_no_command_prints_usage_and_fails(capsys):
    code, out, err = run(capsys)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("usage: mlops")


def test_bad_arguments_exit_2_without_traceback(capsys):
    code, _, err = run(capsys, "reject", "arn:x")
    assert code == 2
    assert "the following arguments are required: --reason" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["--region", "eu-central-1", "--json", "probe", "x"],
    ["probe", "x", "--region", "eu-central-1", "--json"],
    ["--json", "probe", "--region", "eu-central-1", "x"],
])
def test_global_options_before_or_after_the_command(monkeypatch, capsys, argv):
    seen = {}

    def probe(args, ctx):
        seen.update(region=ctx.region, profile=ctx.profile, role=ctx.role_arn, value=args.value)
        return Output(data={"value": args.value}, text="table", warnings=["careful"])

    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + ["_probe"])
    monkeypatch.setitem(sys.modules, "constructs_lib.ops._probe", _module(probe))
    code, out, err = run(capsys, *argv)
    assert (code, json.loads(out), err) == (0, {"value": "x"}, "warning: careful\n")
    assert seen == {"region": "eu-central-1", "profile": None, "role": None, "value": "x"}


def test_ops_error_is_one_line_with_its_code(monkeypatch, capsys):
    def probe(args, ctx):
        raise OpsError("endpoint x is Failed:\n  capacity error", 6)

    monkeypatch.setattr(cli, "COMMAND_MODULES", ["_probe"])
    monkeypatch.setitem(sys.modules, "constructs_lib.ops._probe", _module(probe))
    assert run(capsys, "probe", "v") == (6, "", "error: endpoint x is Failed: capacity error\n")


def test_a_missing_command_module_is_skipped_but_a_broken_one_is_not(monkeypatch, capsys, tmp_path):
    import constructs_lib.ops

    monkeypatch.setattr(cli, "COMMAND_MODULES", ["not_written_yet", "resolve"])
    assert run(capsys, "resolve", "--help")[0] == 0
    # A command module that exists but imports a missing dependency is a bug to surface, not to hide.
    (tmp_path / "_broken.py").write_text("import no_such_dependency_for_mlops\n")
    monkeypatch.setattr(constructs_lib.ops, "__path__", [*constructs_lib.ops.__path__, str(tmp_path)])
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["_broken"])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_for_mlops"):
        cli.build_parser()


def test_installed_console_script_against_the_moto_server(aws_client, moto_server):
    arns = create_versions(aws_client("sagemaker"), "churn-models", ["Approved", "Approved", "Rejected"])
    script = Path(sys.executable).with_name("mlops")  # the console script pip installed beside this Python
    assert script.exists()
    # PYTHONPROFILEIMPORTTIME lists every module the command imports (on stderr): aws_cdk/jsii must not be there.
    result = subprocess.run([str(script), "resolve", "churn-models", "--json"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}, timeout=30)
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert len(imported) > 100 and "constructs_lib.ops.cli" in imported
    assert [m for m in imported if m.startswith(("aws_cdk", "jsii"))] == []
    assert [line for line in result.stderr.splitlines() if not line.startswith("import time:")] == []
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"group": "churn-models", "version_arn": arns[1]}


def _module(handler):
    module = type(sys)("constructs_lib.ops._probe")

    def register(subparsers):
        parser = subparsers.add_parser("probe", help="test command")
        parser.add_argument("value")
        parser.set_defaults(handler=handler)

    module.register = register
    return module


@pytest.mark.parametrize("argv, message", [
    (["verify", "e", "--timeout", "nan"], "argument --timeout: must be more than 0 and at most 86400, got nan"),
    (["verify", "e", "--timeout", "1e308"], "argument --timeout: must be more than 0 and at most 86400, got 1e308"),
    (["shift", "e", "--weights", "a=1e308"], "--weights: weight of a must be a number from 0 to 1e+06"),
    (["shift", "e", "--weights", "a=1", "--poll-interval", "0"], "argument --poll-interval: must be more than 0"),
    (["shadow-report", "e", "--max-latency-increase-pct", "nan"], "argument --max-latency-increase-pct: must be"),
    (["shadow-report", "e", "--min-invocations", "0"], "argument --min-invocations: must be at least 1"),
    # the shadow gate's own limits (ops.gates), not looser ones of the command's
    (["shadow-report", "e", "--max-latency-increase-pct", "0"],
     "argument --max-latency-increase-pct: must be at least 0.01 and at most 1000, got 0"),
    (["shadow-report", "e", "--max-error-rate-increase-pct", "0.005"],
     "argument --max-error-rate-increase-pct: must be at least 0.01 and at most 100, got 0.005"),
    (["shadow-report", "e", "--min-invocations", "2.5"], "argument --min-invocations: must be a whole number"),
    (["ab-report", "e", "--metric", "A/B", "--alpha", "inf"], "argument --alpha: must be more than 0 and at most 0.5"),
    (["smoke", "e", "--payloads", ".", "--invocations", "0"], "argument --invocations: must be at least 1"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_numeric_options_are_finite_and_bounded(capsys, argv, message):
    """NaN, infinities and absurd values are refused before any AWS call, exit 2 (`verify --timeout nan` used to
    never end; 1e308 weights were applied and broke every later `status`)."""
    from constructs_lib.ops.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("case", ["chart", "binary-config", "endpoint-url", "region"])
def test_local_errors_are_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    """Mistakes on this side (a path, a file, a variable, an option) are usage errors, not tracebacks."""
    from constructs_lib.ops.cli import main

    example = str(Path(__file__).resolve().parents[2] / "config" / "platform.yaml")
    if case == "chart":
        argv, message = ["plan", example, "--chart", str(tmp_path / "no" / "x.png")], "cannot write the chart"
    elif case == "binary-config":
        (tmp_path / "bin.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe" * 20)
        argv, message = ["plan", str(tmp_path / "bin.yaml")], "is not a UTF-8 text file"
    elif case == "endpoint-url":
        monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
        argv, message = ["status", "e", "--region", "eu-west-1"], "check AWS_ENDPOINT_URL"
    else:
        argv, message = ["status", "e", "--region", "bad region!"], "check --region"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) in ([], [tmp_path / "bin.yaml"])  # no half-written chart either


EVERY_COMMAND = ["status", "approve", "reject", "resolve", "shift", "rollback", "preflight", "verify", "smoke",
                 "ab-report", "shadow-report", "plan", "promote", "new-model", ["release", "status"],
                 ["release", "stop"], ["release", "restore"]]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=str)
def test_help_examples_name_what_the_example_app_has(capsys, command):
    """The examples in --help are copied by new users: every name in them is one the example app deploys, every
    file one the repository holds."""
    import re

    from constructs_lib.config import load_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "platform.yaml")
    known = {name for model in config.models for name in (
        model.name, model.group_name, f"{config.project}-{model.name}-delivery",
        *(f"{model.name}-{stage}" for stage in ("test", "prod")),
        *(f"{config.project}-{model.name}-{stage}-endpoint" for stage in ("test", "prod")))}
    code, out, _ = run(capsys, *([command] if isinstance(command, str) else command), "--help")
    assert code == 0
    examples = out[out.index("example"):] if "example" in out else ""
    names = set(re.findall(r"(?<![\w.-])((?:mlops-)?churn[\w-]*)", examples))
    assert names <= known, names - known
    for path in re.findall(r"\b(config/[\w./-]+)", examples):
        assert (root / path).exists(), path
