"""``mlops promote``: make the shadow (or a winning A/B challenger) the production variant in the config file.

Nothing changes in AWS: the command edits the platform config (shown as a unified diff, written only with
``--write``) so the promotion is reviewed, merged and deployed by the delivery pipeline like any other change.

What promotion means, precisely:

* ``--from shadow`` (default): the stage's shadow variant replaces its production variant (SageMaker allows
  one production variant next to a shadow). The promoted entry keeps its own name, model, instance type and
  container settings, takes the replaced variant's ``weight``, ``initial_instance_count`` and
  ``autoscaling`` (it will now carry all the traffic, not a sampled copy), loses ``sampling_percentage``,
  and the ``shadow_variant`` section is removed.
* ``--from VARIANT``: the named challenger replaces the champion (``--champion``, default the first variant)
  in the champion's position, with the champion's weight and capacity; the challenger's old entry is
  removed; other variants are untouched.

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
from constructs_lib.ops.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output

STAGES = ("test", "prod")
#: Keys describing how much capacity and traffic a variant gets: they move with the role, not the model.
CAPACITY_KEYS = ("initial_instance_count", "autoscaling")

_EPILOG = """examples:
  mlops promote churn-predictor-prod --config config/platform.yaml
  mlops promote churn-predictor-prod --config config/platform.yaml --from challenger --write
"""


def register(subparsers: Any) -> None:
    """Add the ``promote`` subcommand."""
    parser = subparsers.add_parser(
        "promote",
        help="make the shadow or a winning challenger the production variant in the config file (diff; --write)",
        description=(
            "Make the shadow variant (or a winning A/B challenger) the production variant of an endpoint IN THE "
            "CONFIG FILE, so the change goes through review and the delivery pipeline; nothing is changed in "
            "AWS. Shows a unified diff; writes the file only with --write.\n\n"
            "The promoted variant keeps its name, model and instance type and takes the replaced variant's "
            "weight, initial_instance_count and autoscaling; with --from shadow the shadow_variant section is "
            "removed. Comments and formatting of the file are preserved; the result is validated before it "
            "is written."
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
    """Handler: promote in the config file; ``ctx`` is unused (no AWS calls)."""
    path = Path(args.config)
    try:
        config = load_config(path)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    model_index, stage_name = _find_endpoint(config, args.endpoint, args.model, args.stage, path)
    original = path.read_text(encoding="utf-8")
    yaml = _round_trip_yaml()
    document = yaml.load(original)
    where = f"models[{model_index}].stages.{stage_name}"
    try:
        stage = document["models"][model_index]["stages"][stage_name]
    except (KeyError, TypeError):
        raise OpsError(f"{path}: {where} is not written in the file (it uses the built-in defaults); add it "
                       "before promoting", EXIT_USAGE) from None
    promoted, replaced = _promote(stage, args.source, args.champion, where)
    text = _dump(yaml, document)
    text = keep_untouched_lines(original, text)
    try:
        import yaml as pyyaml

        parse_config(pyyaml.safe_load(text))
    except ConfigError as error:
        raise OpsError(f"the promoted config would be invalid, nothing written: {error}", EXIT_FAILED) from None
    diff = "".join(difflib.unified_diff(original.splitlines(True), text.splitlines(True), fromfile=str(path),
                                        tofile=f"{path} (promoted)"))
    if args.write:
        path.write_text(text, encoding="utf-8")
    warnings = []
    if _model_of(promoted) == APPROVED:
        warnings.append(f"variant {promoted['name']} uses model: approved, so after this change every newly "
                        "approved version replaces it directly; pin a model_package_arn to keep a baseline")
    action = "wrote" if args.write else "would write (dry run: pass --write)"
    summary = (f"{args.endpoint}: {promoted['name']} becomes the production variant in place of {replaced} "
               f"({where}); {action} {path}.\n"
               "Nothing was changed in AWS: commit the file and let the delivery pipeline deploy it.")
    data = {"endpoint": args.endpoint, "model": config.models[model_index].name, "stage": stage_name,
            "promoted": str(promoted["name"]), "replaced": replaced, "source": args.source,
            "written": bool(args.write), "config": str(path), "diff": diff}
    return Output(data=data, text=f"{summary}\n\n{diff}".rstrip(), warnings=warnings)


def _find_endpoint(config: Any, endpoint: str, model_name: str | None, stage_name: str | None,
                   path: Path) -> tuple[int, str]:
    known = []
    for index, model in enumerate(config.models):
        for name in STAGES:
            stage = getattr(model.stages, name)
            endpoint_name = stage.endpoint_name or f"{model.name}-{name}"
            known.append(endpoint_name)
            if endpoint_name != endpoint:
                continue
            if (model_name and model.name != model_name) or (stage_name and name != stage_name):
                continue
            return index, name
    raise OpsError(f"endpoint {endpoint!r} is not in {path} (with --model/--stage as given); known endpoints: "
                   f"{', '.join(known)}", EXIT_NOT_FOUND)


def _promote(stage: Any, source: str, champion_name: str | None, where: str) -> tuple[Any, str]:
    variants = stage.get("variants") or []
    names = [str(v.get("name")) for v in variants]
    if champion_name is None:
        champion_index = 0
    elif champion_name in names:
        champion_index = names.index(champion_name)
    else:
        raise OpsError(f"{where}: no variant named {champion_name!r} to replace; variants: {', '.join(names)}",
                       EXIT_NOT_FOUND)
    champion = variants[champion_index]
    if source == "shadow":
        shadow = stage.get("shadow_variant")
        if shadow is None:
            raise OpsError(f"{where} has no shadow_variant to promote; to promote an A/B challenger use "
                           f"--from VARIANT (variants: {', '.join(names)})", EXIT_NOT_FOUND)
        promoted = copy.deepcopy(shadow)
        promoted.pop("sampling_percentage", None)
        _take_role(promoted, champion)
        variants[champion_index] = promoted
        del stage["shadow_variant"]
    else:
        if source not in names:
            raise OpsError(f"{where}: no variant named {source!r} to promote; variants: {', '.join(names)} "
                           "(or --from shadow)", EXIT_NOT_FOUND)
        challenger_index = names.index(source)
        if challenger_index == champion_index:
            raise OpsError(f"{where}: {source} is already the champion; name the variant it should replace with "
                           "--champion", EXIT_USAGE)
        promoted = copy.deepcopy(variants[challenger_index])
        _take_role(promoted, champion)
        variants[champion_index] = promoted
        del variants[challenger_index]
    return promoted, names[champion_index]


def _take_role(promoted: Any, champion: Any) -> None:
    """The promoted variant inherits the champion's traffic weight and, when both run on instances, capacity."""
    if "weight" in champion:
        promoted["weight"] = champion["weight"]
    else:
        promoted.pop("weight", None)
    if "instance_type" in promoted and "instance_type" in champion:
        for key in CAPACITY_KEYS:
            if key in champion:
                promoted[key] = copy.deepcopy(champion[key])
            else:
                promoted.pop(key, None)


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
