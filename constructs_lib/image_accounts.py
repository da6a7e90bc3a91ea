"""The AWS accounts that host SageMaker's own container images in a region (framework, algorithm and deep
learning container images), for ECR pull permissions limited to the accounts an endpoint can need.

Read from the installed SageMaker SDK's image-URI tables (``sagemaker/core/image_uri_config/*.json``, the tables
``sagemaker.core.image_uris.retrieve`` looks images up in) as plain files: neither the SDK nor boto3 is imported
and nothing is asked of AWS, so the answer is the same on every machine with the same SDK (~50 ms, once per
region per synth).
"""

from __future__ import annotations

import functools
import json
from importlib.util import find_spec
from pathlib import Path

__all__ = ["sagemaker_image_accounts"]


@functools.cache
def sagemaker_image_accounts(region: str) -> tuple[str, ...]:
    """The sorted account IDs of SageMaker's image registries in ``region``; empty when the SDK's tables are
    not installed or do not know the region."""
    spec = find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        return ()
    accounts: set[str] = set()
    for table in sorted(Path(list(spec.submodule_search_locations)[0]).glob("**/image_uri_config/*.json")):
        try:
            _collect(json.loads(table.read_text(encoding="utf-8")), region, accounts)
        except (OSError, ValueError):
            continue
    return tuple(sorted(account for account in accounts if account.isdigit() and len(account) == 12))


def _collect(node: object, region: str, accounts: set[str]) -> None:
    if isinstance(node, dict):
        registries = node.get("registries")
        if isinstance(registries, dict) and isinstance(registries.get(region), str):
            accounts.add(registries[region])
        for key, value in node.items():
            if key != "registries":
                _collect(value, region, accounts)
    elif isinstance(node, list):
        for value in node:
            _collect(value, region, accounts)
