"""A platform of 50 models (config/examples/platform-50.yaml) synthesises through the app builder, every template
stays under CloudFormation's limits, and each model's stacks hold that model only.

Synthesised once, WITHOUT cdk-nag: nag on 200 stacks is what the benchmark measures (benchmarks/platform50.py);
the findings themselves are checked on the single-model app and per construct elsewhere, and the 50 models reuse
the same constructs. The approved versions file next to the example holds placeholder ARNs (see its README).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "config/examples/platform-50.yaml"
VERSIONS = "config/examples/platform-50.approved-versions.json"
MAX_RESOURCES = 500  # CloudFormation's limit per template
MAX_TEMPLATE_BYTES = 1_000_000  # CloudFormation's limit for a template body uploaded through S3 (1 MB)


@pytest.fixture(scope="module")
def platform():
    """{stack name: (template file size in bytes, template)} of the 50-model app, the config, and
    {stack name: hierarchical id}."""
    import aws_cdk as cdk

    from constructs_lib.config import load_config
    from stacks.app import build_app

    app = cdk.App(outdir=tempfile.mkdtemp(prefix="cdk-scale-"),
                  context={"config": CONFIG, "approved_versions": VERSIONS})
    build_app(app, ROOT)
    assembly = app.synth()
    stacks, ids = {}, {}
    for stack in assembly.stacks_recursively:
        path = Path(stack.assembly.directory) / stack.template_file
        stacks[stack.stack_name] = (path.stat().st_size, json.loads(path.read_text()))
        ids[stack.stack_name] = stack.hierarchical_id
    return stacks, load_config(ROOT / CONFIG), ids


def test_the_example_is_what_the_generator_writes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_platform50

    text, versions = make_platform50.render()
    assert (ROOT / CONFIG).read_text() == text, "run python benchmarks/make_platform50.py"
    assert (ROOT / VERSIONS).read_text() == versions, "run python benchmarks/make_platform50.py"


def test_the_example_has_fifty_varied_models(platform):
    _, config, _ = platform
    assert len(config.models) == 50
    prod = [m.stages.prod for m in config.models]
    assert sum(len(s.variants) > 1 for s in prod) >= 10  # A/B
    assert sum(s.shadow_variant is not None for s in prod) >= 10
    assert {s.deployment.type for s in prod} == {"canary", "linear", "rolling"}
    assert any(m.stages.test.variants[0].serverless_memory_mb for m in config.models)
    assert {m.build.approval for m in config.models} == {"manual", "automatic"}


def test_every_template_is_under_the_cloudformation_limits(platform):
    stacks, *_ = platform
    assert len(stacks) >= 100
    over = {name: (size, len(template.get("Resources", {})))
            for name, (size, template) in stacks.items()
            if size >= MAX_TEMPLATE_BYTES or len(template.get("Resources", {})) >= MAX_RESOURCES}
    assert not over, f"templates at or over 1 MB / 500 resources: {over}"


def test_each_model_has_the_same_kinds_of_stacks_named_after_it(platform):
    stacks, config, _ = platform
    names = [m.name for m in config.models]
    kinds: dict[str, set[str]] = {name: set() for name in names}
    for stack_name in stacks:
        owners = [n for n in names if re.search(rf"(^|-){re.escape(n)}(-|$)", stack_name)]
        assert len(owners) <= 1, f"{stack_name} is named after several models: {owners}"
        if owners:
            kinds[owners[0]].add(stack_name.split(owners[0], 1)[1].lstrip("-"))
    assert {"test-endpoint", "prod-endpoint"} <= kinds[names[0]]
    differing = {name: sorted(k) for name, k in kinds.items() if k != kinds[names[0]]}
    assert not differing, f"models whose stacks differ from {names[0]}'s {sorted(kinds[names[0]])}: {differing}"


def test_a_models_stacks_hold_no_other_models_resources(platform):
    """One model's release never touches another model's stack: a stack named after a model mentions no other
    model anywhere in its template, and the shared stacks mention none."""
    stacks, config, _ = platform
    names = [m.name for m in config.models]
    # Names are fixed-width (<domain>-model-NN), so none is a prefix of another and a plain search is exact.
    pattern = re.compile("|".join(map(re.escape, names)))
    for stack_name, (_, template) in stacks.items():
        owners = {n for n in names if n in stack_name}
        mentioned = set(pattern.findall(json.dumps(template)))
        assert mentioned <= owners, f"{stack_name} holds resources of {sorted(mentioned - owners)}"


def test_one_model_project_per_model_and_the_shared_stacks_once(platform):
    """Every model's stacks live in its ModelProject (``cdk deploy 'mlops50-<model>/*'`` selects them); what
    the models share (artifacts, Studio catalog) exists once, outside every project."""
    stacks, config, ids = platform
    expected = {f"{config.project}-platform": f"{config.project}-platform",
                f"{config.project}-catalog": f"{config.project}-catalog"}
    for model in config.models:
        project = f"{config.project}-{model.name}"
        expected.update({
            f"{project}-dev": f"{project}/dev", f"{project}-pipeline": f"{project}/pipeline",
            f"{project}-test-endpoint": f"{project}/pipeline/{model.name}-test/Endpoint",
            f"{project}-prod-endpoint": f"{project}/pipeline/{model.name}-prod/Endpoint"})
    assert ids == expected
