"""``mlops promote``: give the production variant the shadow's (or a winning A/B challenger's) model in the config file.

Nothing changes in AWS: the command edits the platform config (shown as a unified diff, written only with
``--write``) so the promotion is reviewed, merged and deployed by the delivery pipeline like any other change.

What promotion means, precisely: the production variant **keeps its name** and takes the promoted variant's
model. SageMaker's guardrails (blue/green and rolling) refuse an update whose endpoint config renames or removes
a production variant ("your new endpoint configuration must have the same variant name as the old endpoint
configuration"), so a rename would fail at deploy; a model swap under the same name is an ordinary guarded
release.

* ``--from shadow`` (default): the production variant (``--champion``, default the first) takes the shadow's
  model settings (``model``, ``instance_type``, volume and timeouts: ``MODEL_KEYS``; an autoscaled variant
  keeps its instance type, which SageMaker cannot change on a scaling target), keeps its name, ``weight``,
  ``initial_instance_count`` and ``autoscaling``, and the ``shadow_variant`` section is removed.
* ``--from VARIANT``: the champion takes the named challenger's model settings the same way; the challenger's
  entry stays as it is (removing a production variant is a change of the variant set, which needs a release
  of its own, see the README's "Changing the production variants").

The YAML file is edited round-trip (ruamel.yaml): comments, key order and flow style are kept, and lines the
promotion does not touch are kept byte for byte. The result is validated with ``parse_config`` before writing.
"""

from __future__ import annotations

import copy
import difflib
import io
from pathlib import Path
from typing import Any

from constructs_lib.config import APPROVED, load_config, parse_config
from constructs_lib.errors import ConfigError
from . import files
from .files import editing
from .base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output

STAGES = ("test", "prod")
#: Keys describing the model a variant serves and what it runs on: these move to the production variant.
#: Its name, weight, initial_instance_count and autoscaling stay (the role, not the model).
MODEL_KEYS = ("model", "instance_type", "volume_size_gb", "startup_health_check_timeout",
              "model_data_download_timeout", "serverless_memory_mb", "serverless_max_concurrency",
              "serverless_provisioned_concurrency")

_EPILOG = """examples:
  mlops promote churn-predictor-prod --config config/examples/ab-test.yaml
  mlops promote churn-predictor-prod --config config/examples/ab-test.yaml --from challenger --write
"""


def register(subparsers: Any) -> None:
    """Add the ``promote`` subcommand."""
    parser = subparsers.add_parser(
        "promote",
        help="make the shadow or a winning challenger the production variant in the config file (diff; --write)",
        description=(
            "Give the production variant the model of the shadow variant (or of a winning A/B challenger) IN THE "
            "CONFIG FILE, so the change goes through review and the delivery pipeline; nothing is changed in "
            "AWS. Shows a unified diff; writes the file only with --write.\n\n"
            "The production variant keeps its name (SageMaker's guardrails refuse a release that renames a "
            "production variant), weight, initial_instance_count and autoscaling, and takes the promoted "
            "variant's model, instance type, volume and timeouts; with --from shadow the shadow_variant section "
            "is removed, with --from VARIANT the challenger's entry stays. Comments and formatting of the file "
            "are preserved; the result is validated before it is written."
        ),
        epilog=_EPILOG,
    )
    parser.add_argument("endpoint", metavar="ENDPOINT",
                        help="endpoint name as in the config (endpoint_name, default <model>-<stage>)")
    parser.add_argument("--config", required=True, metavar="FILE", help="the platform config file (YAML)")
    parser.add_argument("--model", metavar="NAME", help="model name, when the endpoint name is ambiguous")
    parser.add_argument("--stage", choices=STAGES, help="stage to edit (default: the stage whose endpoint matches)")
    parser.add_argument("--from", dest="source", default="shadow", metavar="shadow|VARIANT",
                        help="what to promote: the shadow variant (default) or the name of an A/B challenger")
    parser.add_argument("--champion", metavar="VARIANT",
                        help="the production variant to replace (default: the first variant of the stage)")
    parser.add_argument("--write", action="store_true", help="write the file (default: only show the diff)")
    parser.set_defaults(handler=run)


def run(args: Any, ctx: Any = None) -> Output:
    """Handler: promote in the config file; ``ctx`` is unused (no AWS calls). Read, edit and write happen under
    the config folder's edit lock, and the file is replaced atomically with its line endings kept."""
    with editing(Path(args.config)):
        return _promote_in_file(args)


def _promote_in_file(args: Any) -> Output:
    path = Path(args.config)
    try:
        config = load_config(path)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    model_index, stage_name = _find_endpoint(config, args.endpoint, args.model, args.stage, path)
    as_written = files.read(path)
    original = as_written.text
    yaml = _round_trip_yaml()
    document = yaml.load(original)
    where = f"models[{model_index}].stages.{stage_name}"
    try:
        stage = document["models"][model_index]["stages"][stage_name]
    except (KeyError, TypeError):
        raise OpsError(f"{path}: {where} is not written in the file (it uses the built-in defaults); add it "
                       "before promoting", EXIT_USAGE) from None
    champion_type = _champion(stage, args.champion, where).get("instance_type")
    source = stage.get("shadow_variant") if args.source == "shadow" else next(
        (v for v in stage.get("variants") or [] if str(v.get("name")) == args.source), None)
    source_type = (source or {}).get("instance_type")
    promoted, replaced, promoted_from = _promote(stage, args.source, args.champion, where)
    text = _dump(yaml, document)
    text = keep_document_end(original, keep_untouched_lines(original, text))
    try:
        import yaml as pyyaml

        parse_config(pyyaml.safe_load(text))
    except ConfigError as error:
        raise OpsError(f"the promoted config would be invalid, nothing written: {error}", EXIT_FAILED) from None
    diff = "".join(difflib.unified_diff(original.splitlines(True), text.splitlines(True), fromfile=str(path),
                                        tofile=f"{path} (promoted)"))
    if args.write:
        files.write_atomic(path, text, like=as_written)
    warnings = []
    if _model_of(promoted) == APPROVED:
        warnings.append(f"variant {promoted['name']} uses model: approved, so after this change every newly "
                        "approved version replaces it directly; pin a model_package_arn to keep a baseline")
    if promoted.get("autoscaling") is not None and source_type not in (None, champion_type):
        warnings.append(f"variant {promoted['name']} keeps its instance type {champion_type}, not "
                        f"{source_type} the promoted model ran on: SageMaker refuses to change the instance type "
                        "of an autoscaled variant. To move it, release once without its autoscaling, then change "
                        "the type")
    action = "wrote" if args.write else "would write (dry run: pass --write)"
    kept = ("the shadow_variant section is removed" if args.source == "shadow" else
            f"{args.source}'s entry stays (removing a production variant needs a release of its own)")
    summary = (f"{args.endpoint}: production variant {replaced} keeps its name and now serves {promoted_from}'s "
               f"model ({where}); {kept}; {action} {path}.\n"
               "Nothing was changed in AWS: commit the file and let the delivery pipeline deploy it (a guarded "
               "release: the variant names are unchanged).")
    data = {"endpoint": args.endpoint, "model": config.models[model_index].name, "stage": stage_name,
            "variant": str(promoted["name"]), "promoted": promoted_from, "source": args.source,
            "written": bool(args.write), "config": str(path), "diff": diff}
    return Output(data=data, text=f"{summary}\n\n{diff}".rstrip(), warnings=warnings)


#: Modes whose stage has no production variants of its own (a batch pipeline, a shared host, devices).
_NO_VARIANTS = ("batch", "component", "multi_model", "edge")


def _find_endpoint(config: Any, endpoint: str, model_name: str | None, stage_name: str | None,
                   path: Path) -> tuple[int, str]:
    known = []
    for index, model in enumerate(config.models):
        for name in STAGES:
            stage = getattr(model.stages, name)
            if stage.mode in _NO_VARIANTS:  # no production variants of its own to promote into
                continue
            endpoint_name = stage.endpoint_name or f"{model.name}-{name}"
            known.append(endpoint_name)
            if endpoint_name != endpoint:
                continue
            if (model_name and model.name != model_name) or (stage_name and name != stage_name):
                continue
            return index, name
    raise OpsError(f"endpoint {endpoint!r} is not in {path} (with --model/--stage as given); known endpoints: "
                   f"{', '.join(known)}", EXIT_NOT_FOUND)


def _champion(stage: Any, champion_name: str | None, where: str) -> Any:
    """The production variant that takes the promoted model (``--champion``, default the first)."""
    variants = stage.get("variants") or []
    names = [str(v.get("name")) for v in variants]
    if champion_name is None:
        return variants[0]
    if champion_name not in names:
        raise OpsError(f"{where}: no variant named {champion_name!r} to replace; variants: {', '.join(names)}",
                       EXIT_NOT_FOUND)
    return variants[names.index(champion_name)]


def _promote(stage: Any, source: str, champion_name: str | None, where: str) -> tuple[Any, str, str]:
    """Edit ``stage`` in place; return (the production variant, its name, what was promoted)."""
    champion = _champion(stage, champion_name, where)
    names = [str(v.get("name")) for v in stage.get("variants") or []]
    if source == "shadow":
        shadow = stage.get("shadow_variant")
        if shadow is None:
            raise OpsError(f"{where} has no shadow_variant to promote; to promote an A/B challenger use "
                           f"--from VARIANT (variants: {', '.join(names)})", EXIT_NOT_FOUND)
        _take_model(champion, shadow)
        del stage["shadow_variant"]
        return champion, str(champion["name"]), f"shadow {shadow.get('name')}"
    if source not in names:
        raise OpsError(f"{where}: no variant named {source!r} to promote; variants: {', '.join(names)} "
                       "(or --from shadow)", EXIT_NOT_FOUND)
    if source == str(champion.get("name")):
        raise OpsError(f"{where}: {source} is already the champion; name the variant it should replace with "
                       "--champion", EXIT_USAGE)
    _take_model(champion, stage["variants"][names.index(source)])
    return champion, str(champion["name"]), source


def _take_model(champion: Any, promoted: Any) -> None:
    """The champion serves the promoted variant's model on its instance settings; its name, weight and
    capacity stay. An autoscaled champion keeps its instance type: SageMaker refuses to change the instance type
    of a scaling target, so the promoted config would fail at deploy."""
    keep_type = champion.get("autoscaling") is not None
    for key in MODEL_KEYS:
        if keep_type and key == "instance_type":
            continue
        if key in promoted:
            champion[key] = copy.deepcopy(promoted[key])
        else:
            champion.pop(key, None)


def _model_of(variant: Any) -> Any:
    return variant.get("model", APPROVED)


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    # The project's style: two-space mappings, list dashes indented under their key; never re-wrap long lines.
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _dump(yaml: Any, document: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def keep_document_end(original: str, edited: str) -> str:
    """``edited`` ending with the original's document-end marker (``...``), which the round-trip dumper drops."""
    end = original.rstrip().rsplit("\n", 1)[-1]
    if end.rstrip() == "..." and edited.rstrip().rsplit("\n", 1)[-1].rstrip() != "...":
        return edited + ("" if edited.endswith("\n") else "\n") + end.rstrip("\r") + "\n"
    return edited


def keep_untouched_lines(original: str, edited: str) -> str:
    """``edited`` with every line that differs from ``original`` only in spacing restored to the original.

    The round-trip dumper normalises a few spacing details (``dev:  {...}`` becomes ``dev: {...}``); restoring
    those lines keeps the diff to what the promotion changed.
    """
    before, after = original.splitlines(True), edited.splitlines(True)
    matcher = difflib.SequenceMatcher(a=[" ".join(line.split()) for line in before],
                                      b=[" ".join(line.split()) for line in after], autojunk=False)
    lines: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        lines.extend(before[i1:i2] if tag == "equal" else after[j1:j2])
    return "".join(lines)
