"""cfn-guard with AWS Control Tower's proactive controls, run on a cloud assembly's templates.

The binary and the rules are the ones ``cdklabs.cdk-validator-cfnguard`` (AWS's CDK policy-validation plugin
for cfn-guard) ships; they are taken out of its package once per test session and run directly, only the rule
files that name a resource type the templates hold. Every finding that remains is acknowledged below, in this
one place, with its reason: ``ACKNOWLEDGED`` maps (rule, logical-ID pattern) to why.
"""

from __future__ import annotations

import atexit
import functools
import json
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from importlib.util import find_spec
from pathlib import Path

_LOG_BUCKETS = r".*AccessLogs[0-9A-F]{8}"
_PIPELINE_ARTIFACTS = r"DeliveryPipelineArtifactsBucket[0-9A-F]{8}"
#: The release function's, also an edge stage's (its component, ``Component``).
_RELEASE_CHECK = r"((Host)?EndpointConfigCheck|ComponentReleaseCheck|Release|Component)(Function|Logs)[0-9A-F]{8}"
_RELEASE_PHASES = r"ReleaseGates(Function|Logs)[0-9A-F]{8}"
_DRIFT_CHECK = r"Drift(Function|Logs)[0-9A-F]{8}"
_RETRAINING = r"DriftRetraining(Function|Logs)[0-9A-F]{8}"
_DATA_BUCKETS = (r"(ArtifactsBucket|EndpointDataCaptureBucket|EndpointAsyncBucket|BatchDataBucket|HostModelsBucket)"
                 r"[0-9A-F]{8}")
_EVERY_BUCKET = f"({_LOG_BUCKETS}|{_PIPELINE_ARTIFACTS}|{_DATA_BUCKETS})"

#: (Control Tower rule, regular expression on the resource's logical ID) -> the reason the finding stands.
ACKNOWLEDGED: dict[tuple[str, str], str] = {
    ("s3_bucket_object_lock_enabled_check", _EVERY_BUCKET):
        "CT.S3.PR.9 Object Lock: retention here is by lifecycle rule (captured data, async requests and "
        "results, and batch inputs and results after retention_days, "
        "replaced model versions after 90 days, pipeline artifacts after 30; a multi-model endpoint's models "
        "until removed by hand) and deletion protection by "
        "RETAIN and versioning; Object Lock would keep every object past those rules, and S3 delivers no "
        "server access logs to a bucket with a default retention.",
    ("s3_event_notifications_enabled_check", _EVERY_BUCKET):
        "CT.S3.PR.4 event notifications: nothing consumes these buckets' object events; releases are driven by "
        "the registry's approval events and the pipeline, and async results are announced by SageMaker's own "
        "success and error topics.",
    ("s3_bucket_default_encryption_kms_check", _LOG_BUCKETS):
        "CT.S3.PR.10 SSE-KMS: server access log buckets hold request metadata, no model data or payloads; "
        "SSE-S3 keeps S3's log delivery independent of a key policy, whose mistake would silently stop the "
        "audit records.",
    ("s3_bucket_logging_enabled_check", _LOG_BUCKETS):
        "CT.S3.PR.2 access logging: this is the access log bucket; logging it would log its own log writes.",
    ("s3_bucket_logging_enabled_check", _PIPELINE_ARTIFACTS):
        "CT.S3.PR.2 access logging: CDK Pipelines' artifact bucket holds transient artifacts (30 days), "
        "KMS-encrypted and reachable only by the pipeline's roles; its API access is in CloudTrail (as for "
        "cdk-nag's S1).",
    ("s3_bucket_versioning_enabled_check", f"({_LOG_BUCKETS}|{_PIPELINE_ARTIFACTS})"):
        "CT.S3.PR.11 versioning: written once under unique keys (S3's log delivery; one folder per pipeline "
        "execution) and never overwritten, so versions would only keep copies.",
    ("s3_lifecycle_policy_check", _LOG_BUCKETS):
        "CT.S3.PR.6 lifecycle: server access logs are audit records, kept until the team's own retention "
        "rule; the library does not delete audit data on its own.",
    ("codebuild_project_logging_enabled_check", r"DeliveryPipeline.*"):
        "CT.CODEBUILD.PR.3 logging: CDK Pipelines' projects log to CloudWatch Logs, CodeBuild's default "
        "when LogsConfig is absent (the rule wants it stated); their roles may write only their own log groups.",
    ("lambda_inside_vpc_check", _RELEASE_CHECK):
        "CT.LAMBDA.PR.3 VPC: the release check only calls the SageMaker, S3, Greengrass and CloudFormation APIs "
        "and CloudFormation's pre-signed response URL; it copies model artifacts from bucket to bucket without "
        "reading them, and a VPC would need interface endpoints for each in every stage account.",
    ("cloudwatch_log_group_encrypted_check", _RELEASE_CHECK):
        "CT.CLOUDWATCH.PR.3 KMS: the release check's log group holds its verdicts (endpoint, config, artifact "
        "and component names, no payloads), encrypted at rest by CloudWatch Logs; kept 1 year.",
    ("lambda_inside_vpc_check", _DRIFT_CHECK):
        "CT.LAMBDA.PR.3 VPC: the drift check reads captured requests and the version's baseline from S3 and "
        "publishes CloudWatch metrics; a VPC would need S3, SageMaker and CloudWatch endpoints in every stage "
        "account, and the function reaches nothing else.",
    ("cloudwatch_log_group_encrypted_check", _DRIFT_CHECK):
        "CT.CLOUDWATCH.PR.3 KMS: the drift check's log group holds one summary line per run (endpoint, verdict, "
        "counts, feature names; no request data), encrypted at rest by CloudWatch Logs; kept 1 year.",
    ("lambda_inside_vpc_check", _RETRAINING):
        "CT.LAMBDA.PR.3 VPC: the retraining function only lists and starts one SageMaker pipeline's executions; "
        "a VPC would need a SageMaker API endpoint in the dev account for two calls a day at most.",
    ("cloudwatch_log_group_encrypted_check", _RETRAINING):
        "CT.CLOUDWATCH.PR.3 KMS: the retraining function's log group holds one line per drift alarm (alarm and "
        "pipeline names, whether a build started), encrypted at rest by CloudWatch Logs; kept 1 year.",
    ("lambda_inside_vpc_check", _RELEASE_PHASES):
        "CT.LAMBDA.PR.3 VPC: the release phases' function only calls AWS APIs (STS, SageMaker, CloudWatch, SNS); "
        "it reads metrics, never payloads, and a VPC would need interface endpoints for each in the pipeline "
        "account.",
    ("cloudwatch_log_group_encrypted_check", _RELEASE_PHASES):
        "CT.CLOUDWATCH.PR.3 KMS: the release phases' log group holds their states and verdicts (endpoint, "
        "config and version names, metric counts, no payloads), encrypted at rest by CloudWatch Logs; kept 1 year.",
}


@functools.cache
def _guard_home() -> Path:
    """The cfn-guard binary and Control Tower rules, extracted from the validator package (once)."""
    spec = find_spec("cdklabs.cdk_validator_cfnguard")
    assert spec is not None and spec.submodule_search_locations, "pip install -r tests/requirements.txt"
    (bundle,) = Path(list(spec.submodule_search_locations)[0]).glob("_jsii/*.jsii.tgz")
    home = Path(tempfile.mkdtemp(prefix="cfn-guard-"))
    atexit.register(shutil.rmtree, home, True)
    system = {"Linux": "ubuntu", "Darwin": "macos"}[platform.system()]
    machine = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine())
    binary = f"package/bin/{system}/{machine}/cfn-guard"
    with tarfile.open(bundle) as archive:
        members = [m for m in archive.getmembers()
                   if m.name == binary or m.name.startswith("package/rules/control-tower/cfn-guard/")]
        archive.extractall(home, members=members, filter="data")
    return home / "package"


def _rules_for(types: set[str]) -> list[Path]:
    rules = sorted((_guard_home() / "rules" / "control-tower" / "cfn-guard").rglob("*.guard"))
    return [rule for rule in rules
            if set(re.findall(r'"(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"', rule.read_text())) & types]


def findings(directory: str | Path) -> set[tuple[str, str, str]]:
    """(rule, logical ID, control) of every Control Tower finding in the assembly's templates (product
    templates and nested assemblies included)."""
    templates = sorted(Path(directory).rglob("*.template.json"))
    types = {r["Type"] for t in templates for r in json.loads(t.read_text()).get("Resources", {}).values()}
    rules = _rules_for(types)
    binary = next((_guard_home() / "bin").rglob("cfn-guard"))
    done = subprocess.run(
        [str(binary), "validate", *[a for rule in rules for a in ("--rules", str(rule))],
         *[a for template in templates for a in ("--data", str(template))],
         "--output-format", "json", "--show-summary", "none"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 19), done.stderr  # 19: some rule is not compliant
    decoder, text, position, found = json.JSONDecoder(), done.stdout, 0, set()
    while (position := _skip_space(text, position)) < len(text):
        report, position = decoder.raw_decode(text, position)
        for failure in report["not_compliant"]:
            rule = failure["Rule"]
            control = next(iter(re.findall(r"\[(CT\.[A-Z0-9.]+)\]", json.dumps(rule))), "")
            for path in _strings(rule, "path"):
                if path.startswith("/Resources/"):
                    found.add((rule["name"], path.split("/")[2], control))
    return found


def check(directory: str | Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The findings no ``ACKNOWLEDGED`` entry covers (one line each), and the entries no finding needs."""
    found = findings(directory)

    def covers(entry: tuple[str, str], rule: str, logical_id: str) -> bool:
        return rule == entry[0] and re.fullmatch(entry[1], logical_id) is not None

    open_findings = sorted(f"{rule} ({control}) on {logical_id}" for rule, logical_id, control in found
                           if not any(covers(entry, rule, logical_id) for entry in ACKNOWLEDGED))
    unused = [entry for entry in ACKNOWLEDGED if not any(covers(entry, rule, lid) for rule, lid, _ in found)]
    return open_findings, unused


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _strings(node: object, key: str):
    """Every string value of ``key`` anywhere in ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            else:
                yield from _strings(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, key)
