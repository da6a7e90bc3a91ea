"""Multi-model endpoints: the host (one multi-model container over a bucket prefix) and a model's release onto it
(its version's artifact under a key of its own, then the parameter callers read)."""

from __future__ import annotations

import pytest
from aws_cdk import Stack

from constructs_lib.deployment import DeploymentPolicy
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.multi_model import MultiModelHost, MultiModelRelease
from constructs_lib.variants import AsyncInference, ModelSource, ProductionVariant, ShadowVariant
from support import check_assembly, nag_app, synth_checked
from test_components import by_type, flat
from test_endpoint import ENV, V1

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "mlops-many-models-333333333333-eu-west-1"
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-regional/3"


@pytest.fixture(scope="module")
def template():
    app = nag_app()
    stack = Stack(app, "Many", env=ENV)
    host = MultiModelHost(stack, "Host", endpoint_name="many-prod", image=IMAGE, instance_type="ml.m5.xlarge",
                          instance_count=2, bucket_name=BUCKET)
    MultiModelRelease(stack, "Regional", host=host, model_package_arn=PACKAGE, target="churn-regional",
                      parameter_name="/mlops/churn-regional/prod/target-model")
    return check_assembly(synth_checked(app))["Many"]  # cdk-nag and cfn-lint clean


def test_the_host_runs_one_multi_model_container_over_the_prefix(template):
    (model,) = by_type(template, "AWS::SageMaker::Model").values()
    assert model["PrimaryContainer"] == {"Image": IMAGE, "Mode": "MultiModel",
                                         "ModelDataUrl": f"s3://{BUCKET}/models/",
                                         "MultiModelConfig": {"ModelCacheSetting": "Enabled"}}
    (bucket,) = [b for b in by_type(template, "AWS::S3::Bucket").values() if b.get("BucketName") == BUCKET]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert "ExpirationInDays" not in rule  # a model in use never expires: it is removed by hand
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}

    (bucket_id,) = [k for k, b in by_type(template, "AWS::S3::Bucket").items() if b.get("BucketName") == BUCKET]
    policies = by_type(template, "AWS::IAM::Policy")
    reads = [s["Resource"] for p in policies.values() for s in p["PolicyDocument"]["Statement"]
             if s["Action"] == "s3:GetObject"]
    assert {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/models/*"]]} in reads


def test_a_release_copies_the_version_under_its_own_key_then_moves_the_parameter(template):
    resources = template["Resources"]
    (release_id,) = [k for k, r in resources.items() if r["Type"] == "Custom::SageMakerReleaseCheck"
                     and r["Properties"]["Check"] == "artifact"]
    assert {k: v for k, v in resources[release_id]["Properties"].items() if k != "ServiceToken"} == {
        "ServiceTimeout": 960, "Check": "artifact", "EndpointName": "many-prod", "ModelPackageArn": PACKAGE,
        "Bucket": BUCKET, "Key": "models/churn-regional/v3.tar.gz"}
    (parameter_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::SSM::Parameter"]
    assert resources[parameter_id]["Properties"]["Value"] == "churn-regional/v3.tar.gz"
    assert resources[parameter_id]["Properties"]["Name"] == "/mlops/churn-regional/prod/target-model"
    assert release_id in resources[parameter_id]["DependsOn"]  # the pointer moves once the artifact is there


def test_the_release_function_writes_only_its_models_folder(template):
    role = next(r["Properties"] for k, r in template["Resources"].items()
                if k.startswith("RegionalRole") and r["Type"] == "AWS::IAM::Role")
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    (write,) = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert flat(write["Resource"]) == [f"arn:aws:s3:::{BUCKET}/models/churn-regional/*"]
    # It lists only its own folder (whether a version is there: HeadObject answers 403 to a missing key without
    # the listing right).
    (listing,) = [s for s in statements if s["Action"] == ["s3:ListBucket"]]
    assert flat(listing["Resource"]) == [f"arn:aws:s3:::{BUCKET}"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/churn-regional/*"]}}
    (keys,) = [s for s in statements if s["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]]
    assert keys["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}


def test_grant_invoke_is_limited_to_the_models_versions():
    from aws_cdk import aws_iam as iam

    stack = Stack(nag_app(), "Caller", env=ENV)
    host = MultiModelHost.from_attributes(stack, "Host", endpoint_name="many-prod", bucket_name=BUCKET)
    release = MultiModelRelease(stack, "Regional", host=host, model_package_arn=PACKAGE, target="churn-regional")
    role = iam.Role(stack, "App", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    release.grant_invoke(role)
    statements = stack.resolve(role.node.find_child("DefaultPolicy").document.to_json())["Statement"]
    invoke = next(s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint")
    assert invoke["Condition"] == {"StringLike": {"sagemaker:TargetModel": ["churn-regional/*"]}}
    assert release.parameter_name == "/sagemaker/multi-model/many-prod/churn-regional"


def test_the_named_bucket_goes_when_the_host_stack_fails_to_create(template):
    (bucket,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"
                 and r["Properties"].get("BucketName") == BUCKET]
    # RETAIN_ON_UPDATE_OR_DELETE: a retried first deployment does not fail on "already exists".
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_a_gpu_host_runs_the_triton_container_and_cache_can_be_off():
    triton = "301217895009.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"
    source = ModelSource.multi_model(triton, f"s3://{BUCKET}/models/", cache=False)
    assert source.container["MultiModelConfig"] == {"ModelCacheSetting": "Disabled"}
    endpoint = _endpoint(variants=[ProductionVariant("main", source, instance_type="ml.g5.xlarge")])
    assert endpoint.variants[0].instance_type == "ml.g5.xlarge"


def _endpoint(**kwargs):
    stack = Stack(nag_app(), "Bad", env=ENV)
    source = ModelSource.multi_model(IMAGE, f"s3://{BUCKET}/models/")
    props = {"endpoint_name": "many", "variants": [ProductionVariant("main", source, instance_type="ml.m5.large")]}
    props.update(kwargs)
    return ModelEndpoint(stack, "Endpoint", **props)


@pytest.mark.parametrize("build, message", [
    (lambda: ModelSource.multi_model(IMAGE, f"s3://{BUCKET}/models"),
     "model_data_prefix: must be an s3://bucket/prefix/ URI ending with /"),
    (lambda: _endpoint(shadow_variant=ShadowVariant(ProductionVariant("shadow", V1, instance_type="ml.m5.large"))),
     "shadow_variant: is not supported on a multi-model endpoint"),
    (lambda: _endpoint(variants=[ProductionVariant.serverless("main", ModelSource.multi_model(
        IMAGE, f"s3://{BUCKET}/models/"))], network_isolation=False),
     "variants[0].serverless_memory_mb: must not be set on a multi-model variant"),
    (lambda: _endpoint(variants=[ProductionVariant("main", ModelSource.multi_model(IMAGE, f"s3://{BUCKET}/models/"),
                                                   instance_type="ml.inf2.xlarge")]),
     "variants[0].instance_type: must be a CPU type or one of the GPU types multi-model endpoints run on"),
    (lambda: _endpoint(async_inference=AsyncInference(), deployment=DeploymentPolicy.all_at_once()),
     "async_inference: is not supported with a multi-model container"),
    (lambda: _endpoint(variants=[ProductionVariant("main", ModelSource.multi_model(IMAGE, f"s3://{BUCKET}/models/"),
                                                   instance_type="ml.g5.xlarge")]),
     "variants[0].instance_type: ml.g5.xlarge is a GPU type: a multi-model endpoint runs on GPUs only with "
     "SageMaker's Triton container"),
    (lambda: ModelSource.from_containers([ModelSource.multi_model(IMAGE, f"s3://{BUCKET}/models/"),
                                          ModelSource.from_image(IMAGE)]),
     "containers[0]: must be an image source"),
    (lambda: MultiModelRelease(Stack(nag_app(), "R", env=ENV), "R", host=MultiModelHost.from_attributes(
        Stack(nag_app(), "H", env=ENV), "H", endpoint_name="many", bucket_name=BUCKET),
        model_package_arn="arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn", target="churn"),
     "model_package_arn: must be a versioned model package ARN"),
    (lambda: MultiModelHost.from_attributes(Stack(nag_app(), "H", env=ENV), "H", endpoint_name="many",
                                            bucket_name=BUCKET, prefix="Models/"),
     "prefix: must be 1-63 lower-case letters, digits and hyphens, got 'Models/'"),
])
def test_what_a_multi_model_endpoint_excludes_is_refused_in_one_line(build, message):
    with pytest.raises(ConfigError) as error:
        build()
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)
