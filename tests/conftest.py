"""Session setup shared by every test: jsii on the bundled Node 24, and no real AWS account reachable."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from constructs_lib import use_bundled_node  # noqa: E402

use_bundled_node()  # jsii on the bundled Node 24, as app.py does, before aws_cdk loads

# Every template the tests synthesise is linted with cfn-lint (tests/support.py), which fails on errors; CDK's
# built-in validator only warns and doubles the synth time, so it is off here as it is in app.py.
os.environ.setdefault("CDK_VALIDATION", "false")

# Tests never talk to a real account: fake credentials for moto, and no instance-metadata lookups.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

#: Test files that take longest (seconds of synth each), run first: with ``--dist loadfile`` a long file taken
#: last keeps one worker busy alone while the other has finished (the 50-model synth alone is ~16 s).
SLOWEST_FIRST = ("test_scale.py", "test_app.py", "test_endpoint.py", "test_pipeline.py", "test_build_pipeline.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
