"""``mlops new-model NAME``: start a model project from the library's template, in minutes.

Two changes, made together or not at all (no AWS calls):

* a model entry with safe defaults is inserted at the end of the config file's ``models:`` list: manual
  approval, a one-instance all-at-once test stage with smoke/latency checks, a two-instance prod stage behind a
  canary with rollback alarms and 20 % data capture;
* the model folder ``<config dir>/models/NAME/`` is created from the project template (preprocess and
  evaluate scripts, sample payloads for the smoke test, a README).

The config file is edited as text: the entry is inserted after the last line of the ``models:`` list, so every
existing line (comments, flow style, spacing) stays byte for byte. The result is validated with
``parse_config`` before anything is written.

The new model has no approved version yet, so ``cdk synth`` then produces its dev-account stacks (registry and
build pipeline; delivery pipeline) and leaves out its test and prod endpoint stacks with a warning until a
version is approved: an endpoint needs a real model version, and the delivery pipeline resolves it on the first
approval and adds those stages (self-mutation).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from constructs_lib.config import load_config, parse_config
from constructs_lib.errors import ConfigError, check_sagemaker_name
from constructs_lib.toolchain import CDK_CLI
from .files import editing, read, write_atomic
from .base import EXIT_USAGE, OpsError, Output

#: Where ``--from`` defaults to: the library's own model project (the example churn model).
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "project_template"
#: What a template folder must hold: the build pipeline runs these two scripts (constructs_lib.build_pipeline
#: REQUIRED_SCRIPTS; not imported, because ops/ must not load aws_cdk).
REQUIRED_FILES = ("preprocess.py", "evaluate.py")
#: Same limit as ModelConfig.name: leaves room for the suffixes of endpoint, stack and role names.
MAX_NAME_LENGTH = 40

_ENTRY = """\
- name: {name}
  # Added by `mlops new-model`: safe defaults to edit. Scripts and sample payloads: {folder}/
  build:
    approval: manual          # a person approves each version before it is released
    # input_data: s3://your-bucket/path/data.csv   # in the dev region; default: AWS's churn sample there
    metric: accuracy
    threshold: 0.8
  stages:
    test:
      variants:
        - {{name: main, instance_type: ml.m5.large, initial_instance_count: 1}}
      deployment: {{type: all_at_once, bake_time: 300}}
      checks: {{invocations: 20, latency_p95_ms: 500, content_type: text/csv}}
    prod:
      variants:
        - {{name: main, instance_type: ml.m5.large, initial_instance_count: 2}}
      data_capture: {{sampling_percentage: 20, capture_mode: both}}
      deployment: {{type: canary, canary_size: 50, wait: 600}}
"""

_EPILOG = """examples:
  mlops new-model fraud-detector
  mlops new-model fraud-detector --config config/platform.yaml --from path/to/my-template
"""


def register(subparsers: Any) -> None:
    """Add the ``new-model`` subcommand."""
    parser = subparsers.add_parser(
        "new-model",
        help="add a model to the config file and create its model folder from the project template",
        description=(
            "Start a new model project: insert a model entry with safe defaults at the end of the config "
            "file's models list (manual approval; test: one instance, all-at-once, smoke and latency checks; "
            "prod: two instances, canary with rollback alarms, data capture) and create its model folder "
            "<config dir>/models/NAME/ from the project template (preprocess.py, evaluate.py, "
            "sample_payloads/, raw_payloads/, README.md). Existing lines of the config file are kept byte for byte; nothing "
            "is written unless the result is a valid config. No AWS calls.\n\n"
            f"{CDK_CLI} synth then produces the model's dev and delivery-pipeline stacks; its test and prod endpoint "
            "stacks follow once a version is approved."
        ),
        epilog=_EPILOG,
    )
    parser.add_argument("name", metavar="NAME",
                        help=f"model name: 1-{MAX_NAME_LENGTH} letters, digits and hyphens, starting with a letter")
    parser.add_argument("--config", default="config/platform.yaml", metavar="FILE",
                        help="the platform config file (default: config/platform.yaml)")
    parser.add_argument("--from", dest="template", default=None, metavar="TEMPLATE_DIR",
                        help="model folder to copy (default: the library's project template)")
    parser.set_defaults(handler=run)


def run(args: Any, ctx: Any = None) -> Output:
    """Handler: add the model; ``ctx`` is unused (no AWS calls). Refusals change nothing. The whole read, check
    and write happens under the config folder's edit lock (``files.editing``): two new-model runs at once add
    both models."""
    check_name(str(args.name))
    with editing(Path(args.config)):
        return _add(args)


def _add(args: Any) -> Output:
    name = str(args.name)
    path = Path(args.config)
    template = Path(args.template) if args.template else TEMPLATE_DIR
    check_name(name)
    try:
        config = load_config(path)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    group = f"{config.project}-{name}"  # the new model's group: the config's default, <project>-<model>
    for model in config.models:
        for existing, new, what in ((model.name, name, "model"), (model.group_name, group, "model package group")):
            # SageMaker endpoint and group names are case-insensitive: Fraud and fraud would collide.
            if existing.lower() == new.lower():
                raise OpsError(f"name: a {what} named {existing!r} already exists in {path}, got {name!r}",
                               EXIT_USAGE)
    folder_rel = f"models/{name}"
    folder = path.parent / folder_rel
    if folder.exists():
        raise OpsError(f"name: the model folder {folder} already exists (remove it or pick another name), "
                       f"got {name!r}", EXIT_USAGE)
    _check_template(template)

    source = read(path)
    original = source.text
    text = insert_model_entry(original, _ENTRY.format(name=name, folder=folder_rel), path)
    import yaml

    try:
        added = parse_config(yaml.safe_load(text))
    except ConfigError as error:  # a bug in the entry or an unusual file layout: refuse, change nothing
        raise OpsError(f"the new entry would make {path} invalid, nothing written: {error}", EXIT_USAGE) from None
    before, after = yaml.safe_load(original), yaml.safe_load(text)
    if after.pop("models")[:-1] != before.pop("models") or after != before or added.models[-1].name != name:
        # A layout the insertion does not understand would change existing settings: refuse instead.
        raise OpsError(f"{path}: could not append to the models list as written (edit it by hand)", EXIT_USAGE)

    _copy_template(template, folder, name, config.project, config.accounts.dev.region)
    try:
        write_atomic(path, text, like=source)  # line endings and encoding as they were
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, OpsError):
            raise OpsError(f"{error}; nothing changed (the model folder was removed again)", EXIT_USAGE) from None
        raise
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    # The naming rules of constructs_lib/platform/ (project.py, dev.py, pipeline.py, endpoint_stage.py) (not imported: they load
    # aws_cdk, which the ops command must not).
    project = f"{config.project}-{name}"
    stacks = {kind: f"{project}-{kind}" for kind in ("dev", "pipeline")}
    stacks.update({stage: f"{project}-{stage}-endpoint" for stage in ("test", "prod")})
    text_out = (
        f"added model {name} to {path} (models[{len(config.models)}]) and created {folder}/ from {template}:\n"
        + "".join(f"  {file}\n" for file in files)
        + "next:\n"
        f"  1. edit {folder}/preprocess.py and evaluate.py for your data, and build.input_data in {path}\n"
        f"  2. {CDK_CLI} synth   # project {project}: {stacks['dev']} and {stacks['pipeline']} now; "
        f"{stacks['test']} and {stacks['prod']} once a version is approved\n"
        f"  3. commit and push {path} and {folder}/, then deploy the project once: {CDK_CLI} deploy '{project}/*'; "
        f"retraining registers versions in group {project}, and each approval releases through test to prod"
    )
    data = {"model": name, "config": str(path), "folder": str(folder), "files": files, "template": str(template),
            "project": project, "stacks": stacks, "stacks_after_first_approval": ["test", "prod"]}
    warnings = [f"model {name} has no approved version yet: its delivery pipeline gets its test and prod "
                "endpoint stages once one is approved ('mlops approve VERSION_ARN')"]
    return Output(data=data, text=text_out, warnings=warnings)


def check_name(name: str) -> None:
    """Raise ``OpsError`` (EXIT_USAGE) unless ``name`` is a valid model name for every resource named after it.

    SageMaker allows ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``; a leading digit is refused too, because the model's
    CDK stage ids (``NAME-test``) and CloudFormation stack-name prefixes must start with a letter.
    """
    try:
        check_sagemaker_name("name", name, max_length=MAX_NAME_LENGTH)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    if not name[0].isalpha():
        raise OpsError(f"name: must start with a letter (CloudFormation stack names and CDK stage ids do), "
                       f"got {name!r}", EXIT_USAGE)


def insert_model_entry(original: str, entry: str, path: Path | str = "config") -> str:
    """``original`` with ``entry`` (a ``- name: ...`` block at column 0) inserted after the last line of the
    block-style ``models:`` list, indented like its first item. Every existing line is kept as it is."""
    import yaml

    try:
        root = yaml.compose(original)
    except yaml.YAMLError as error:
        raise OpsError(f"{path}: is not valid YAML: {error}", EXIT_USAGE) from None
    pairs = getattr(root, "value", None) if isinstance(root, yaml.MappingNode) else None
    index = next((i for i, (key, _) in enumerate(pairs or []) if key.value == "models"), None)
    if index is None:
        raise OpsError(f"{path}: has no models list to add to", EXIT_USAGE)
    models = pairs[index][1]
    if not isinstance(models, yaml.SequenceNode) or models.flow_style or not models.value:
        raise OpsError(f"{path}: models must be a non-empty block list ('- name: ...' items) for new-model to "
                       "add to it; add the entry by hand", EXIT_USAGE)
    lines = original.splitlines(keepends=True)
    first = models.value[0].start_mark
    dash_line = lines[first.line]
    dash_column = len(dash_line) - len(dash_line.lstrip(" "))
    if not dash_line.lstrip(" ").startswith("-"):
        raise OpsError(f"{path}: the models list's items must each start on their own '- ' line; add the entry "
                       "by hand", EXIT_USAGE)
    # The list ends where the next top-level key starts (or at the end of the file); comments and blank lines
    # just before that key belong to the key, so the entry goes after the list's last content line. That line
    # is at least the last line of the list's last value: a block scalar may hold lines that look like comments.
    end = pairs[index + 1][0].start_mark.line if index + 1 < len(pairs) else len(lines)
    node = models.value[-1]
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value and not node.flow_style:
        node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
    floor = max(first.line, node.end_mark.line - (1 if node.end_mark.column == 0 else 0))
    last = end - 1
    while last > floor and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
        last -= 1
    head = "".join(lines[:last + 1])
    if not head.endswith("\n"):
        head += "\n"
    block = "".join(" " * dash_column + line if line.strip() else line for line in entry.splitlines(keepends=True))
    return head + block + "".join(lines[last + 1:])


def _check_template(template: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (template / name).is_file()]
    if not template.is_dir() or missing:
        raise OpsError(f"--from: must be a model folder holding {' and '.join(REQUIRED_FILES)}"
                       f"{' (missing ' + ', '.join(missing) + ')' if template.is_dir() else ''}, got {str(template)!r}",
                       EXIT_USAGE)


def _copy_template(template: Path, folder: Path, name: str, project: str, region: str) -> None:
    """Copy through a temporary sibling folder and rename, so a failed copy leaves no half-made folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        target = staging / name
        shutil.copytree(template, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
        readme = target / "README.md"
        if readme.is_file():
            # The template's README names its placeholders <project>, <model> and <dev region>.
            text = readme.read_text(encoding="utf-8")
            text = re.sub(r"<project>", project, text)
            text = re.sub(r"<model>", name, text)
            text = re.sub(r"<dev region>", region, text)
            readme.write_text(text, encoding="utf-8")
        target.rename(folder)
    except (OSError, shutil.Error) as error:  # a full disk, a file-size limit: one line, nothing left behind
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "see the file system"
        if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
            reason = str(error.args[0][0][2]).split(":")[0]
        raise OpsError(f"{folder}: cannot create the model folder from {template} ({reason}); nothing changed",
                       EXIT_USAGE) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
