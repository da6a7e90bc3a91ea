"""The AWS accounts that host SageMaker's own container images in a region (framework, algorithm and deep
learning container images), for ECR pull permissions limited to the accounts an endpoint can need.

The answer comes from ``sagemaker_image_accounts.json`` next to this module: ``{region: [account, ...]}``, made
from the SageMaker SDK's image-URI tables (``sagemaker/core/image_uri_config/*.json``, the tables
``sagemaker.core.image_uris.retrieve`` looks images up in) by ``python -m constructs_lib.image_accounts --write``
when the pinned SDK changes (a test says when it must be run). So an endpoint synthesises the same without the
SDK installed (the delivery pipeline's release synth does not install it) and nothing is asked of AWS.
"""

from __future__ import annotations

import functools
import json
import sys
from importlib.util import find_spec
from pathlib import Path

__all__ = ["sagemaker_image_accounts", "table_from_sdk"]

TABLE = Path(__file__).with_name("sagemaker_image_accounts.json")


@functools.cache
def _table() -> dict[str, list[str]]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def sagemaker_image_accounts(region: str) -> tuple[str, ...]:
    """The sorted account IDs of SageMaker's image registries in ``region``; empty for a region the table does
    not know."""
    return tuple(_table().get(region, ()))


def table_from_sdk() -> dict[str, list[str]] | None:
    """``{region: sorted accounts}`` from the installed SageMaker SDK's image-URI tables; None without the SDK."""
    spec = find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        return None
    accounts: dict[str, set[str]] = {}
    for table in sorted(Path(list(spec.submodule_search_locations)[0]).glob("**/image_uri_config/*.json")):
        try:
            _collect(json.loads(table.read_text(encoding="utf-8")), accounts)
        except (OSError, ValueError):
            continue
    return {region: sorted(a for a in found if a.isdigit() and len(a) == 12)
            for region, found in sorted(accounts.items())}


def _collect(node: object, accounts: dict[str, set[str]]) -> None:
    if isinstance(node, dict):
        registries = node.get("registries")
        if isinstance(registries, dict):
            for region, account in registries.items():
                if isinstance(account, str):
                    accounts.setdefault(region, set()).add(account)
        for key, value in node.items():
            if key != "registries":
                _collect(value, accounts)
    elif isinstance(node, list):
        for value in node:
            _collect(value, accounts)


def main(argv: list[str]) -> int:
    """``--write``: regenerate the table from the installed SDK."""
    if argv != ["--write"]:
        print("usage: python -m constructs_lib.image_accounts --write", file=sys.stderr)
        return 2
    table = table_from_sdk()
    if table is None:
        print("error: the SageMaker SDK is not installed (pip install -r requirements.txt)", file=sys.stderr)
        return 1
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{TABLE}: {len(table)} regions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
