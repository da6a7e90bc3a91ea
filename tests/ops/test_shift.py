"""``mlops shift``: A/B weight changes; every refusal happens before anything changes."""

import pytest
from ops_support import ENDPOINT, create_endpoint, endpoint_description

from constructs_lib.ops.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE


def weights(sagemaker):
    return {v["VariantName"]: v["CurrentWeight"]
            for v in sagemaker.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}


def test_shift_changes_the_weights_and_says_what_the_next_release_does(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    create_endpoint(sagemaker)
    result = mlops("shift", ENDPOINT, "--weights", "champion=50, challenger=50", "--poll-interval", "0.01")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[:4] == [
        "variant     weight before  share before %  weight after  share after %",
        "----------  -------------  --------------  ------------  -------------",
        "champion               90              90            50             50",
        "challenger             10              10            50             50",
    ]
    assert "the delivery pipeline deploys a new endpoint config, which sets each variant's weight back" in result.out
    assert weights(sagemaker) == {"champion": 50.0, "challenger": 50.0}


def test_unnamed_variants_keep_their_weight(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    create_endpoint(sagemaker)
    assert mlops("shift", ENDPOINT, "--weights", "challenger=30", "--json").code == 0
    assert weights(sagemaker) == {"champion": 90.0, "challenger": 30.0}


@pytest.mark.parametrize("spec, message", [
    ("champion=90,nope=10", "--weights: unknown variant(s) nope on endpoint churn-prod; its production variants "
                            "are challenger, champion"),
    ("champion=0,challenger=0", "--weights: all weights would be zero, the endpoint would serve no traffic"),
    ("champion=-5", "--weights: weight of champion must be a number from 0 to 1e+06 (weights are relative), got -5"),
    ("champion=nan", "--weights: weight of champion must be a number from 0 to 1e+06 (weights are relative), got nan"),
    ("champion=ten", "--weights: weight of champion must be a number, got 'ten'"),
    ("champion", "--weights: expected VARIANT=WEIGHT[,VARIANT=WEIGHT...], got 'champion'"),
    ("champion=1,,", "--weights: expected VARIANT=WEIGHT[,VARIANT=WEIGHT...], got 'champion=1,,'"),
    ("champion=1,champion=2", "--weights: variant champion is given twice"),
])
def test_refusals_change_nothing(mlops, aws_client, spec, message):
    sagemaker = aws_client("sagemaker")
    create_endpoint(sagemaker)
    result = mlops("shift", ENDPOINT, "--weights", spec)
    assert (result.code, result.out, result.err) == (EXIT_USAGE, "", f"error: {message}\n")
    assert weights(sagemaker) == {"champion": 90.0, "challenger": 10.0}


def test_shadow_variant_is_not_shiftable(mlops, stub_client):
    stubber = stub_client("sagemaker")  # moto drops shadow variants
    stubber.add_response("describe_endpoint", endpoint_description(ShadowProductionVariants=[
        {"VariantName": "shadow", "CurrentWeight": 1.0, "CurrentInstanceCount": 1}]))
    result = mlops("shift", ENDPOINT, "--weights", "shadow=10")
    assert result.code == EXIT_USAGE
    assert "(shadow variants take no production traffic; promote one with `mlops promote`)" in result.err
    stubber.assert_no_pending_responses()  # no UpdateEndpointWeightsAndCapacities was sent


def test_refused_while_the_endpoint_updates(mlops, stub_client):
    stubber = stub_client("sagemaker")
    stubber.add_response("describe_endpoint", endpoint_description("Updating"))
    result = mlops("shift", ENDPOINT, "--weights", "champion=50")
    assert (result.code, result.err) == (
        EXIT_FAILED, "error: endpoint churn-prod is Updating; weights can only change when it is InService\n")


def test_waits_until_in_service_again(mlops, stub_client):
    stubber = stub_client("sagemaker")
    stubber.add_response("describe_endpoint", endpoint_description())
    stubber.add_response("update_endpoint_weights_and_capacities", {"EndpointArn": endpoint_description()["EndpointArn"]},
                         {"EndpointName": ENDPOINT,
                          "DesiredWeightsAndCapacities": [{"VariantName": "champion", "DesiredWeight": 50.0}]})
    stubber.add_response("describe_endpoint", endpoint_description("Updating"))
    stubber.add_response("describe_endpoint", endpoint_description("InService"))
    result = mlops("shift", ENDPOINT, "--weights", "champion=50", "--poll-interval", "0.01")
    assert result.code == 0
    stubber.assert_no_pending_responses()


def test_unknown_endpoint(mlops):
    assert mlops("shift", "nope", "--weights", "a=1").code == EXIT_NOT_FOUND


@pytest.mark.parametrize("failure, code", [("timeout", EXIT_FAILED), ("throttled", 5)])
def test_a_failed_wait_says_the_weights_were_applied(mlops, stub_client, failure, code):
    """The change was accepted: "try again later" alone would make the user repeat a change already made."""
    stubber = stub_client("sagemaker")
    stubber.add_response("describe_endpoint", endpoint_description())
    stubber.add_response("update_endpoint_weights_and_capacities", {"EndpointArn": endpoint_description()["EndpointArn"]})
    if failure == "timeout":
        stubber.add_response("describe_endpoint", endpoint_description("Updating"))
    else:
        stubber.add_client_error("describe_endpoint", "ThrottlingException", "Rate exceeded")
    result = mlops("shift", ENDPOINT, "--weights", "champion=50", "--timeout", "0.01", "--poll-interval", "0.01")
    assert result.code == code
    assert result.err.startswith(f"error: the new weights were applied (SageMaker accepted the change), but waiting "
                                 f"for endpoint {ENDPOINT} failed: ")
    assert result.err.rstrip().endswith(f"check it with `mlops status {ENDPOINT}`")
