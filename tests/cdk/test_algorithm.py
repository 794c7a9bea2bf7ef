"""The algorithm's interface as data (stacks/algorithm.py) agrees with SageMaker's own API model."""

from __future__ import annotations

import botocore.session
import pytest

from stacks import algorithm


@pytest.fixture(scope="module")
def sagemaker_model():
    return botocore.session.get_session().get_service_model("sagemaker")


@pytest.mark.parametrize(
    ("sagemaker_shape", "families"),
    [
        pytest.param(
            "TrainingInstanceType", algorithm.TRAINING_INSTANCE_TYPES, id="training-types-sagemaker-trains-on"
        ),
        pytest.param(
            "ProductionVariantInstanceType",
            algorithm.ENDPOINT_INSTANCE_TYPES,
            id="endpoint-types-sagemaker-hosts",
        ),
    ],
)
def test_every_listed_type_is_one_sagemaker_offers(sagemaker_model, sagemaker_shape, families):
    offered = set(sagemaker_model.shape_for(sagemaker_shape).enum)
    listed = set(algorithm.offered_types(families))
    assert listed <= offered, sorted(listed - offered)
    # Every size SageMaker offers in the algorithm's families is listed.
    in_families = {t for t in offered if algorithm.family_of(t) in families}
    assert in_families == listed


def test_local_storage_families_are_sagemaker_families(sagemaker_model):
    offered = set(sagemaker_model.shape_for("ProductionVariantInstanceType").enum) | set(
        sagemaker_model.shape_for("TrainingInstanceType").enum
    )
    families = {algorithm.family_of(t) for t in offered}
    assert families >= algorithm.LOCAL_STORAGE_FAMILIES, sorted(algorithm.LOCAL_STORAGE_FAMILIES - families)
    assert algorithm.has_local_storage("ml.g4dn.xlarge") and algorithm.has_local_storage("ml.m5d.large")
    assert not algorithm.has_local_storage("ml.m5.large") and not algorithm.has_local_storage("ml.p3.2xlarge")


def test_rendering_is_idempotent_so_rendered_sets_can_be_merged_and_checked_again():
    rendered = algorithm.rendered_hyperparameters(
        {"early_stopping": True, "use_pretrained_model": True, "image_shape": "3, 224, 224", "beta_1": 0.9}
    )
    assert rendered == {
        "beta_1": "0.9",
        "early_stopping": "True",
        "image_shape": "3,224,224",
        "use_pretrained_model": "1",
    }
    assert algorithm.rendered_hyperparameters(rendered) == rendered


def test_every_documented_default_is_itself_a_valid_value():
    for name, spec in algorithm.HYPERPARAMETERS.items():
        if spec.default is not None:
            assert spec.parse(spec.default) == spec.default, name
