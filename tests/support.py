"""Shared test helpers: a nag-checked App, the templates of an assembly, cfn-lint, and an AWS-call guard.

Every synthesised template in the suite goes through ``check_assembly`` (cdk-nag AwsSolutions as a
validation plugin, cfn-lint with no errors), so a new construct cannot add an unreviewed finding.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

#: cfn-lint rules ignored everywhere, each with its reason.
#: None: the one known false positive (E3703 on CDK Pipelines' deploy-role ARNs) is ignored by metadata on
#: that resource (DeliveryPipeline). W-level findings are reviewed, not failed on.
IGNORED_LINT_RULES: set[str] = set()


def nag_app(**context) -> "object":
    """An App with cdk-nag's AwsSolutions pack as a validation plugin, writing to a temporary folder."""
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=tempfile.mkdtemp(prefix="cdk-test-"), context=context or None)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    return app


def synth_checked(app) -> "object":
    """Synthesise; fail the test with the nag findings (rule and path) if any is unacknowledged."""
    try:
        return app.synth()
    except RuntimeError:
        report = Path(app.outdir) / "validation-report.json"
        if report.exists():
            data = json.loads(report.read_text())
            lines = [
                f"{v['ruleName']} at {c['constructPath']}"
                for plugin in data["pluginReports"]
                for v in plugin["violations"]
                for c in v["violatingConstructs"]
            ]
            raise AssertionError("unacknowledged findings:\n" + "\n".join(lines)) from None
        raise


def assembly_templates(assembly) -> dict[str, tuple[dict, str]]:
    """Every stack template in the assembly, stage assemblies included: {hierarchical id: (template, region)}."""
    out: dict[str, tuple[dict, str]] = {}
    for stack in assembly.stacks_recursively:
        region = stack.environment.region
        out[stack.hierarchical_id] = (stack.template, region if region and "unknown" not in region else "us-east-1")
    return out


def lint_errors(template: dict, region: str) -> list[str]:
    """cfn-lint errors (not warnings) of one template, ignored rules excluded."""
    from cfnlint.api import lint

    matches = lint(json.dumps(template), regions=[region])
    return [
        f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})"
        for m in matches
        if m.rule.id.startswith("E") and m.rule.id not in IGNORED_LINT_RULES
    ]


def check_assembly(assembly) -> dict[str, dict]:
    """Lint every template of an assembly; returns {artifact id: template}."""
    templates = assembly_templates(assembly)
    problems = {name: lint_errors(t, region) for name, (t, region) in templates.items()}
    problems = {name: errs for name, errs in problems.items() if errs}
    assert not problems, f"cfn-lint errors: {json.dumps(problems, indent=1)}"
    return {name: t for name, (t, _) in templates.items()}


@contextmanager
def no_aws_calls():
    """Fail on any AWS call: credentials removed and botocore's HTTP layer patched to raise."""
    import os
    from unittest import mock

    removed = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_") and k != "AWS_DEFAULT_REGION"}
    calls: list[str] = []

    def refuse(self, request, *args, **kwargs):
        calls.append(getattr(request, "url", str(request)))
        raise AssertionError(f"AWS call attempted during synth: {calls[-1]}")

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    try:
        with mock.patch("botocore.httpsession.URLLib3Session.send", refuse):
            yield calls
    finally:
        for key in ("AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(key, None)
        os.environ.update(removed)


@contextmanager
def moto_server_process():
    """A real moto server process (``python -m moto.server``) on a free 127.0.0.1 port: yields its URL once it
    answers, and stops it afterwards. The boto3 code under test reaches it through ``AWS_ENDPOINT_URL``."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        # Nothing to flush in a moto server; SIGKILL skips werkzeug's ~1 s shutdown.
        process.kill()
        process.wait(timeout=10)
