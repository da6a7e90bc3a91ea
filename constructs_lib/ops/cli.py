"""The ``mlops`` command: day-2 operations on the model registry and the endpoints the library deploys.

Each subcommand lives in its own module under ``constructs_lib.ops`` and exposes ``register(subparsers)``;
its parser sets ``handler=fn`` with ``fn(args, ctx) -> Output``. This module owns everything around the
handler: global options, printing (table or ``--json``), and turning failures into one line and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap
from collections.abc import Sequence

from .aws import AWS_ERRORS, Context, translate
from .base import EXIT_USAGE, OpsError, Output
from .signals import Interrupted

#: Subcommand modules, in the order ``mlops --help`` lists them.
COMMAND_MODULES = ["status", "approvals", "resolve", "shift", "rollback", "preflight", "verify", "smoke", "batch_check", "reports",
                   "plan",
                   "promote", "release", "newmodel", "edge", "monitor"]

_DESCRIPTION = ("Operate safe SageMaker model releases: endpoint status and rollbacks, approvals, A/B weights, "
                "reports, rollout plans.")


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # The same options exist on the main parser (with defaults) and on every subcommand (with SUPPRESS, so an
    # option given before the subcommand is not overwritten by the subparser's default).
    default = None if defaults else argparse.SUPPRESS
    group = parser.add_argument_group("AWS options")
    group.add_argument("--profile", default=default, help="AWS named profile (default: the standard chain)")
    group.add_argument("--region", default=default, help="AWS region (default: the profile's or AWS_REGION)")
    group.add_argument("--role-arn", default=default, metavar="ARN",
                       help="assume this IAM role first, to act in another account")
    group.add_argument("--json", action="store_true", default=False if defaults else argparse.SUPPRESS,
                       help="print machine-readable JSON instead of a table")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs, keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if paragraph.startswith("  ") or "\n  " in paragraph:
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                                subsequent_indent=indent))
        return "\n\n".join(paragraphs)


class _SubcommandParser(argparse.ArgumentParser):
    """Every subcommand's parser: accepts the global options after the subcommand too."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        _add_global_options(self, defaults=False)


def build_parser() -> argparse.ArgumentParser:
    """The ``mlops`` argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="mlops", description=_DESCRIPTION, formatter_class=_HelpFormatter)
    _add_global_options(parser, defaults=True)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_SubcommandParser)
    for name in COMMAND_MODULES:
        module_name = f"constructs_lib.ops.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # A command module not shipped (yet) leaves the others usable; a broken import inside one is a bug.
            if error.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlops`` with ``argv`` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help (0) and on bad arguments (2, message already printed)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    context = Context(profile=args.profile, region=args.region, role_arn=args.role_arn)
    try:
        output = handler(args, context)
    except OpsError as error:
        return _fail(error)
    except AWS_ERRORS as error:
        return _fail(translate(error))
    except Interrupted as interrupted:
        print(f"error: {interrupted}", file=sys.stderr)
        return interrupted.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    _print(output, as_json=args.json)
    return output.exit_code


def _fail(error: OpsError) -> int:
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    return error.exit_code


def _print(output: Output, as_json: bool) -> None:
    if as_json:
        print(json.dumps(output.data, indent=2, default=str))
    elif output.text:
        print(output.text)
    for warning in output.warnings:
        print(f"warning: {warning}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
