"""The literal instance-type list matches the installed botocore's ProductionVariantInstanceType enum."""

import botocore.session

from constructs_lib.instance_types import INFERENCE_INSTANCE_TYPES, LOCAL_STORAGE_FAMILIES, family


def test_instance_types_match_botocore():
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("ProductionVariantInstanceType").enum) == INFERENCE_INSTANCE_TYPES


def test_local_storage_families_exist():
    assert LOCAL_STORAGE_FAMILIES <= {family(t) for t in INFERENCE_INSTANCE_TYPES}


def test_transform_instance_types_match_botocore():
    from constructs_lib.instance_types import TRANSFORM_INSTANCE_TYPES

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("TransformInstanceType").enum) == TRANSFORM_INSTANCE_TYPES
