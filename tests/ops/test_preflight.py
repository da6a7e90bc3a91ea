"""``mlops preflight`` (the endpoint stack's own preflight, ops/release_check.py), against a moto server.

The running endpoint (champion 90 / challenger 10 on ml.m5.large, see ops_support) is compared with what the
new template deploys; Application Auto Scaling targets are real moto resources.
"""

import pytest
from ops_support import ENDPOINT, OLD_CONFIG, create_endpoint

from constructs_lib.ops.base import EXIT_FAILED, EXIT_USAGE

SAME = "champion=ml.m5.large,challenger=ml.m5.large"


def _scale(aws_client, variant: str) -> None:
    aws_client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{ENDPOINT}/variant/{variant}",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=2, MaxCapacity=6)


def test_first_release_passes(mlops):
    result = mlops("preflight", ENDPOINT, "--variants", SAME, "--guarded")
    assert result.code == 0, result.err
    assert f"verdict:  endpoint {ENDPOINT} does not exist yet: first release" in result.out


def test_a_guarded_release_with_the_same_variants_passes(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    _scale(aws_client, "champion")
    result = mlops("--json", "preflight", ENDPOINT, "--variants", SAME, "--guarded")
    assert result.code == 0, result.err
    assert '"verdict": "endpoint churn-prod: same production variants (challenger, champion)"' in result.out


@pytest.mark.parametrize("variants, change", [
    ("champion=ml.m5.large", "challenger, champion -> champion"),                              # removed
    ("champion=ml.m5.large,challenger=ml.m5.large,new=ml.m5.large", "-> challenger, champion, new"),  # added
    ("champion=ml.m5.large,winner=ml.m5.large", "challenger, champion -> champion, winner"),    # renamed
])
def test_a_guarded_release_cannot_change_the_production_variants(mlops, aws_client, variants, change):
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    result = mlops("preflight", ENDPOINT, "--variants", variants, "--guarded")
    assert result.code == EXIT_FAILED
    assert change in result.err
    assert "a guarded update cannot do" in result.err and "`deployment: {type: unguarded}`" in result.err
    assert result.err.count("\n") == 1


def test_unguarded_is_only_for_a_variant_change(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    result = mlops("preflight", ENDPOINT, "--variants", SAME, "--unguarded")
    assert result.code == EXIT_FAILED and "restore the guarded policy" in result.err
    passed = mlops("preflight", ENDPOINT, "--variants", "champion=ml.m5.large", "--unguarded")
    assert passed.code == 0, passed.err
    assert "the production variants change in an unguarded release" in passed.out


@pytest.mark.parametrize("scaled, variants, mode, message", [
    ("challenger", "champion=ml.m5.large", "--unguarded",
     "variant challenger is autoscaled and this release removes it; SageMaker cannot remove a variant registered "
     "with Application Auto Scaling. First release without challenger's autoscaling"),
    ("champion", "champion=ml.c5.xlarge,challenger=ml.m5.large", "--guarded",
     "variant champion is autoscaled and this release changes its instance type (ml.m5.large -> ml.c5.xlarge)"),
], ids=["removed", "retyped"])
def test_an_autoscaled_variant_is_deregistered_first(mlops, aws_client, scaled, variants, mode, message):
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    _scale(aws_client, scaled)
    result = mlops("preflight", ENDPOINT, "--variants", variants, mode)
    assert result.code == EXIT_FAILED
    assert message in result.err


@pytest.mark.parametrize("variants, message", [
    ("champion", "--variants: expected NAME=TYPE pairs"),
    ("a=ml.m5.large,a=ml.m5.large", "--variants: expected NAME=TYPE pairs"),
    ("=ml.m5.large", "--variants: expected NAME=TYPE pairs"), ("", "--variants: expected NAME=TYPE pairs"),
    ("bad_name!=ml.m5.large", "variant name 'bad_name!' must be 1-63 characters"),
    ("main=ml.bogus.xx", "--variants: main's type must be a SageMaker real-time inference instance type"),
])
def test_malformed_variants_are_usage_errors(mlops, variants, message):
    """Checked here, before any AWS call: a typo must not be reported as a change of instance type."""
    result = mlops("preflight", ENDPOINT, "--variants", variants, "--guarded")
    assert result.code == EXIT_USAGE and message in result.err, result.err
    assert result.err.count("\n") == 1
