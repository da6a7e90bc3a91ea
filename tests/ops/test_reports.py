"""``mlops ab-report`` and ``mlops shadow-report`` against the moto server, run as a user would run them.

moto stores and aggregates PutMetricData (Sum, SampleCount) and serves GetMetricData, endpoints and S3, but it
computes no percentiles (GetMetricStatistics ignores ExtendedStatistics) and drops shadow variants from
endpoints. Only those two calls are stubbed with botocore's Stubber (conftest's ``stub_client`` with
named operations: those are answered from the queue, every other call of the same client goes to the moto server).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ops_support import capture_record

from constructs_lib.ops import stats

ENDPOINT = "churn-predictor-prod"
APP = "ChurnApp"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1"
CAPTURE = "s3://capture-bucket/datacapture"


@pytest.fixture
def aws(aws_client):
    """``aws("cloudwatch")``: one moto client per service for the whole test (building clients is slow)."""
    clients = {}

    def get(service):
        if service not in clients:
            clients[service] = aws_client(service)
        return clients[service]
    return get


def create_endpoint(aws, variants, capture=None):
    sagemaker = aws("sagemaker")
    for name, _ in variants:
        sagemaker.create_model(ModelName=f"m-{name}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    config = {"EndpointConfigName": "cfg", "ProductionVariants": [
        {"VariantName": name, "ModelName": f"m-{name}", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": weight} for name, weight in variants]}
    if capture:
        config["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": 100,
                                       "DestinationS3Uri": capture,
                                       "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="cfg")


def dims(variant):
    return [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]


def hours_ago(hours):
    return datetime.now(timezone.utc) - timedelta(hours=hours, minutes=5)


def put_counts(aws, namespace, metric, variant, per_hour):
    """One datapoint per hour (1, 2, ... hours ago) with the given values (summed by CloudWatch)."""
    aws("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": metric, "Dimensions": dims(variant), "Value": value, "Timestamp": hours_ago(i + 1)}
        for i, value in enumerate(per_hour)])


def put_statistic_sets(aws, variant, per_hour):
    """Hourly StatisticSets (count, mean) of the application's OrderValue metric."""
    aws("cloudwatch").put_metric_data(Namespace=APP, MetricData=[
        {"MetricName": "OrderValue", "Dimensions": dims(variant), "Timestamp": hours_ago(i + 1),
         "StatisticValues": {"SampleCount": count, "Sum": count * mean, "Minimum": 0, "Maximum": 1000}}
        for i, (count, mean) in enumerate(per_hour)])


# --------------------------------------------------------------------------------------------- ab-report
@pytest.fixture
def ab_endpoint(aws):
    create_endpoint(aws, [("champion", 50), ("challenger", 50)])
    return aws


def test_rate_names_the_significant_winner(ab_endpoint, mlops):
    # 10 hours x 100 requests per variant; 10% vs 15% successes. By hand: pooled p = 0.125,
    # SE = sqrt(0.125 * 0.875 * 2/1000) = 0.014790, z = 0.05 / 0.014790 = 3.381, p = 0.00072.
    for variant, successes in (("champion", 10), ("challenger", 15)):
        put_counts(ab_endpoint, "AWS/SageMaker", "Invocations", variant, [100] * 10)
        put_counts(ab_endpoint, APP, "Retained", variant, [successes] * 10)
    result = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained", "--since", "7d")
    assert result.code == 0, result.err
    assert "winner: challenger (significant at alpha 0.05)" in result.out
    assert "+5.00 pp" in result.out and "z = 3.38, p = 0.00072" in result.out
    rows = [" ".join(line.split()) for line in result.out.splitlines()]
    assert "champion 50 1000 100 10.00%" in rows and "challenger 50 1000 150 15.00%" in rows


def test_rate_not_significant_says_how_much_traffic_is_needed(ab_endpoint, mlops):
    for variant, successes in (("champion", 10), ("challenger", 11)):
        put_counts(ab_endpoint, "AWS/SageMaker", "Invocations", variant, [100] * 10)
        put_counts(ab_endpoint, APP, "Retained", variant, [successes] * 10)
    result = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained", "--since", "7d", "--json")
    assert result.code == 0, result.err
    comparison = json.loads(result.out)["comparisons"][0]
    needed = stats.required_sample_size_proportions(0.10, 0.11, 0.05)
    assert comparison["winner"] is None
    assert comparison["required_per_variant"] == needed
    assert comparison["more_samples_needed"] == {"champion": needed - 1000, "challenger": needed - 1000}
    # 1000 samples per variant in 7 days: the rest takes (needed - 1000) / 1000 weeks.
    assert comparison["eta_seconds"] == pytest.approx((needed - 1000) / 1000 * 7 * 86400)
    text = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained").out
    assert "no winner yet: not significant" in text and f"{needed:,} samples per variant" in text


def test_mean_uses_batch_means_and_welch(ab_endpoint, mlops):
    champion = [(50, m) for m in (40.0, 42.0, 38.0, 41.0, 39.0, 40.0)]
    challenger = [(50, m) for m in (45.0, 47.0, 44.0, 46.0, 48.0, 45.0)]
    put_statistic_sets(ab_endpoint, "champion", champion)
    put_statistic_sets(ab_endpoint, "challenger", challenger)
    put_counts(ab_endpoint, "AWS/SageMaker", "Invocations", "champion", [60] * 6)
    put_counts(ab_endpoint, "AWS/SageMaker", "Invocations", "challenger", [60] * 6)
    result = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/OrderValue", "--kind", "mean", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    a, b = data["variants"]
    # Equal batches of 50: variance = 50 * sum((mean_i - mean)^2) / (k - 1); champion means sum of squares 10.
    assert (a["samples"], a["estimate"], a["variance"], a["periods"]) == (300, 40.0, 50 * 10 / 5, 6)
    r = data["comparisons"][0]["result"]
    assert r["difference"] == pytest.approx(5.8333, abs=1e-4)
    assert r["df"] == pytest.approx(9.96, abs=0.05)  # Welch-Satterthwaite on 5 + 5 batch degrees of freedom
    assert data["comparisons"][0]["winner"] == "challenger"


def test_more_than_two_variants_split_alpha_and_flag_missing_data(aws, mlops):
    create_endpoint(aws, [("champion", 80), ("challenger", 10), ("newcomer", 10)])
    for variant, successes in (("champion", 10), ("challenger", 15)):
        put_counts(aws, "AWS/SageMaker", "Invocations", variant, [100] * 10)
        put_counts(aws, APP, "Retained", variant, [successes] * 10)
    result = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["alpha_per_comparison"] == 0.025  # Bonferroni over two challengers
    first, second = data["comparisons"]
    assert (first["challenger"], first["winner"], first["result"]["alpha"]) == ("challenger", "challenger", 0.025)
    assert (second["challenger"], second["result"]) == ("newcomer", None)
    assert second["insufficient_data"] == "group b needs at least one trial, got 0"


@pytest.mark.parametrize("argv, code, message", [
    (["--metric", "Retained"], 2, "--metric: expected NAMESPACE/NAME"),
    (["--metric", "A/B", "--since", "7x"], 2, "--since: expected a number and a unit"),
    (["--metric", "A/B", "--variants", "champion"], 2, "--variants: name two different variants"),
    (["--metric", "A/B", "--alpha", "0.7"], 2, "argument --alpha: must be more than 0 and at most 0.5, got 0.7"),
])
def test_ab_report_bad_arguments(mlops, argv, code, message):
    result = mlops("ab-report", ENDPOINT, *argv)
    assert (result.code, message in result.err) == (code, True), result.err


def test_ab_report_refuses_a_single_variant_and_unknown_endpoint(aws, mlops):
    create_endpoint(aws, [("main", 1)])
    single = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained")
    assert single.code == 2
    assert "compares two or more production variants; endpoint churn-predictor-prod has 1 (main)" in single.err
    missing = mlops("ab-report", "ghost", "--metric", f"{APP}/Retained")
    assert missing.code == 3 and "not found" in missing.err
    ghost = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained", "--variants", "main,ghost")
    assert ghost.code == 3 and "--variants: ghost not on endpoint churn-predictor-prod" in ghost.err


def test_rate_metric_larger_than_invocations_is_refused(ab_endpoint, mlops):
    put_counts(ab_endpoint, "AWS/SageMaker", "Invocations", "champion", [10])
    put_counts(ab_endpoint, APP, "Retained", "champion", [25])
    result = mlops("ab-report", ENDPOINT, "--metric", f"{APP}/Retained")
    assert result.code == 2 and "use --kind mean for values" in result.err


# --------------------------------------------------------------------------------------------- shadow-report
def put_capture(aws, variant, outputs):
    s3 = aws("s3")
    hour = hours_ago(1)
    key = f"datacapture/{ENDPOINT}/{variant}/{hour:%Y/%m/%d/%H}/00-00-000-capture.jsonl"
    body = "\n".join(capture_record(f"req-{i}", f"{i},1.5", out) for i, out in enumerate(outputs))
    s3.put_object(Bucket="capture-bucket", Key=key, Body=body.encode())


def put_shadow_counts(aws, variant, invocations, errors_5xx, model_errors):
    put_counts(aws, "AWS/SageMaker", "Invocations", variant, [invocations])
    put_counts(aws, "AWS/SageMaker", "Invocation4XXErrors", variant, [0])
    put_counts(aws, "AWS/SageMaker", "Invocation5XXErrors", variant, [errors_5xx])
    put_counts(aws, "AWS/SageMaker", "InvocationModelErrors", variant, [model_errors])


def latency_response(p50_us, p99_us):
    return {"Label": "ModelLatency", "Datapoints": [
        {"Timestamp": hours_ago(24), "Unit": "Microseconds", "ExtendedStatistics": {"p50": p50_us, "p99": p99_us}}]}


@pytest.fixture
def shadow_endpoint(aws, stub_client):
    """A prod endpoint with a shadow variant and capture on; moto drops shadows, so DescribeEndpoint is stubbed."""
    create_endpoint(aws, [("main", 1)], capture=CAPTURE)
    described = {  # DescribeEndpoint as SageMaker returns it for an endpoint with a shadow variant
        "EndpointName": ENDPOINT, "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": "cfg", "EndpointStatus": "InService",
        "CreationTime": hours_ago(48), "LastModifiedTime": hours_ago(48),
        "ProductionVariants": [{"VariantName": "main", "CurrentWeight": 1.0, "CurrentInstanceCount": 1}],
        "ShadowProductionVariants": [{"VariantName": "candidate", "CurrentWeight": 1.0, "CurrentInstanceCount": 1}],
        "DataCaptureConfig": {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 100,
                              "DestinationS3Uri": CAPTURE, "KmsKeyId": "alias/aws/s3"},
    }
    stub_client("sagemaker", ["DescribeEndpoint"]).add_response("describe_endpoint", described,
                                                                 {"EndpointName": ENDPOINT})
    latency = stub_client("cloudwatch", ["GetMetricStatistics"])
    aws("s3").create_bucket(Bucket="capture-bucket",
                                   CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    put_capture(aws, "main", ["[0.91]", "[0.12]", "[0.55]", "[0.40]"])
    put_capture(aws, "candidate", ["[0.91]", "[0.12]", "[0.75]"])
    return latency


def test_shadow_report_passes_a_healthy_shadow(shadow_endpoint, aws, mlops):
    put_shadow_counts(aws, "main", 1000, 2, 2)
    put_shadow_counts(aws, "candidate", 500, 1, 1)
    shadow_endpoint.add_response("get_metric_statistics", latency_response(20_000, 80_000))
    shadow_endpoint.add_response("get_metric_statistics", latency_response(21_000, 84_000))
    result = mlops("shadow-report", ENDPOINT, "--since", "24h")
    assert result.code == 0, result.err
    assert "production main vs shadow candidate" in result.out
    rows = [" ".join(line.split()) for line in result.out.splitlines()]
    assert "latency p99 (ms) 80.0 84.0" in rows and "5xx error rate 0.20% 0.20%" in rows
    assert "verdict: PASS" in result.out
    # 3 shadow records pair by inferenceId; 2 of 3 predictions equal.
    assert "prediction agreement: 66.67% of 3 paired predictions agree" in result.out
    assert "paired by inferenceId 3" in result.out


def test_shadow_report_fails_a_slow_erroring_shadow(shadow_endpoint, aws, mlops):
    put_shadow_counts(aws, "main", 1000, 2, 2)
    put_shadow_counts(aws, "candidate", 500, 10, 10)  # 2% vs 0.2%: +1.8 points
    shadow_endpoint.add_response("get_metric_statistics", latency_response(20_000, 80_000))
    shadow_endpoint.add_response("get_metric_statistics", latency_response(30_000, 120_000))
    result = mlops("shadow-report", ENDPOINT, "--json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    failed = {c["check"]: c["value"] for c in data["checks"] if c["status"] == "fail"}
    assert failed == {"latency p50": 50.0, "latency p99": 50.0, "5xx error rate": 1.8, "model error rate": 1.8}
    assert data["verdict"] == "FAIL"
    assert data["shadow"]["p99_ms"] == 120.0
    assert data["agreement"]["pairs"] == 3


def test_shadow_report_too_little_traffic_is_not_a_pass(shadow_endpoint, aws, mlops):
    put_shadow_counts(aws, "main", 1000, 0, 0)
    put_shadow_counts(aws, "candidate", 40, 0, 0)
    shadow_endpoint.add_response("get_metric_statistics", latency_response(20_000, 80_000))
    shadow_endpoint.add_response("get_metric_statistics", latency_response(20_000, 80_000))
    result = mlops("shadow-report", ENDPOINT, "--no-capture")
    assert result.code == 1
    assert "verdict: INSUFFICIENT DATA (shadow has 40 invocations, fewer than 100)" in result.out
    assert "prediction agreement: skipped (--no-capture)" in result.out


def test_shadow_report_on_moto_alone_names_the_variant_and_reports_missing_percentiles(aws, mlops):
    # No stubs: moto serves everything but percentiles, which the report shows as missing, not as a pass/fail.
    create_endpoint(aws, [("main", 1), ("candidate", 1)])
    put_shadow_counts(aws, "main", 1000, 0, 0)
    put_shadow_counts(aws, "candidate", 1000, 0, 0)
    result = mlops("shadow-report", ENDPOINT, "--shadow-variant", "candidate", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {c["check"]: c["status"] for c in data["checks"]}["latency p99"] == "no data"
    assert data["agreement_note"] == "data capture is off on this endpoint: no prediction agreement"
    none = mlops("shadow-report", ENDPOINT)
    assert none.code == 3 and "has no shadow variant" in none.err
    ghost = mlops("shadow-report", ENDPOINT, "--shadow-variant", "ghost")
    assert ghost.code == 3 and "--shadow-variant: no variant 'ghost'" in ghost.err


def test_ab_and_shadow_help_explain_the_assumptions(mlops):
    ab = mlops("ab-report", "--help")
    assert ab.code == 0 and "batch means" in " ".join(ab.out.split())
    shadow = mlops("shadow-report", "--help")
    assert shadow.code == 0 and "inferenceId" in shadow.out


def test_capture_pairs_by_request_body_and_compares_decoded_outputs():
    import base64

    from constructs_lib.ops import capture

    def record(body, output, encoding="CSV", event=None):
        data = base64.b64encode(output.encode()).decode() if encoding == "BASE64" else output
        return {"captureData": {"endpointInput": {"data": body, "encoding": "CSV"},
                                "endpointOutput": {"data": data, "encoding": encoding}},
                "eventMetadata": {"eventId": event} if event else {}}

    production = [record("1,2", "0.5"), record("3,4", "cat"), record("1,2", "0.7"), record("9,9", "0.1")]
    shadow = [record("1,2", "0.5000001", "BASE64"), record("3,4", "dog"), record("1,2", "0.9")]
    result = capture.agreement(production, shadow, tolerance=1e-3)
    assert (result["pairs"], result["compared"], result["agreeing"]) == (3, 3, 1)
    assert result["joined_by"] == {"request body": 3}
    assert result["max_abs_difference"] == pytest.approx(0.2)
    assert capture.describe_agreement(result).startswith("33.33% of 3 paired predictions agree")
    no_outputs = capture.agreement([{"captureData": {"endpointInput": {"data": "1"}}}],
                                   [{"captureData": {"endpointInput": {"data": "1"}}}])
    assert "hold no outputs" in capture.describe_agreement(no_outputs)
    assert capture.split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")


def test_capture_records_outside_the_window_do_not_count_toward_the_limit(aws):
    """The hourly folders also hold records from before the window (a phase starting mid-hour): those are left
    out before the per-variant limit is counted, or a busy endpoint would fill the limit with them."""
    from constructs_lib.ops import capture

    s3 = aws("s3")
    s3.create_bucket(Bucket="capture-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    start = hours_ago(1)
    before = [capture_record(f"old-{i}", "1,2", "[0.1]", at=start - timedelta(minutes=10)) for i in range(5)]
    within = [capture_record(f"new-{i}", "1,2", "[0.1]", at=start + timedelta(minutes=10)) for i in range(3)]
    key = f"datacapture/{ENDPOINT}/main/{start:%Y/%m/%d/%H}/0.jsonl"
    s3.put_object(Bucket="capture-bucket", Key=key, Body="\n".join(before + within).encode())
    records = capture.read_records(s3, CAPTURE, ENDPOINT, "main", start, start + timedelta(hours=1), limit=3)
    assert [r["eventMetadata"]["inferenceId"] for r in records] == ["new-0", "new-1", "new-2"]
