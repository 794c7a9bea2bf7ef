"""The algorithm's interface as data (stacks/algorithm.py): values rendered as its reference writes them, every bad
one refused naming what is allowed, and instance types as SageMaker's own API model lists them."""

from __future__ import annotations

import botocore.session
import pytest

from stacks import algorithm

DOC = algorithm.HYPERPARAMETERS_DOC

# (hyperparameter, value as JSON or -c text gives it, as the training request carries it)
RENDERED = [
    ("early_stopping", True, "True"),
    ("early_stopping", "TRUE", "True"),
    ("early_stopping", " false ", "False"),
    ("use_pretrained_model", False, "0"),
    ("use_pretrained_model", True, "1"),
    ("multi_label", "1", "1"),
    ("image_shape", " 3, 224,224 ", "3,224,224"),
    ("lr_scheduler_step", "10, 20", "10,20"),
    ("learning_rate", 0.01, "0.01"),
    ("learning_rate", "1e-3", "1e-3"),
    ("learning_rate", 1, "1"),
    ("eps", 1e-8, "1e-08"),
    ("epochs", "12", "12"),
    ("epochs", 5, "5"),
    ("top_k", 2, "2"),
    ("num_layers", 110, "110"),
    ("optimizer", " nag", "nag"),
]

# (hyperparameter, bad value, what the refusal says is allowed)
REFUSED = [
    ("optimiser", "adam", "not a hyperparameter of the algorithm; known: augmentation_type, beta_1"),
    ("optimizer", "adamw", f"expected one of sgd, adam, rmsprop, nag ({DOC})"),
    ("optimizer", 5, "expected one of sgd, adam, rmsprop, nag"),
    ("augmentation_type", "flip", "expected one of crop, crop_color, crop_color_transform"),
    ("precision_dtype", "bfloat16", "expected one of float32, float16"),
    ("kv_store", "local", "expected one of dist_sync, dist_async"),
    ("learning_rate", 1.5, "expected a float in [0, 1]"),
    ("learning_rate", "fast", "expected a float in [0, 1]"),
    ("learning_rate", "nan", "expected a float in [0, 1]"),
    ("learning_rate", True, "expected a float in [0, 1]"),
    ("beta_1", -0.1, "expected a float in [0, 1]"),
    ("epochs", 0, "expected a positive integer"),
    ("epochs", 2.5, "expected a positive integer"),
    ("epochs", 3.0, "expected a positive integer"),
    ("epochs", True, "expected a positive integer"),
    ("epochs", "-4", "expected a positive integer"),
    ("top_k", 1, "expected an integer larger than 1"),
    ("num_layers", 19, "expected one of 18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110"),
    ("use_pretrained_model", 2, "expected 0 or 1"),
    ("use_weighted_loss", 1.0, "expected 0 or 1"),
    ("early_stopping", "yes", "expected True or False"),
    ("early_stopping", 1, "expected True or False"),
    ("image_shape", "3,224", "expected 'num_channels,height,width' of three positive integers"),
    ("image_shape", "3,0,224", "expected 'num_channels,height,width' of three positive integers"),
    ("lr_scheduler_step", "10;20", "expected epochs as comma-separated positive integers"),
    ("resize", "224px", "expected a positive integer (pixels of the shortest side)"),
]


@pytest.mark.parametrize(("name", "given", "rendered"), RENDERED)
def test_values_are_rendered_as_the_reference_writes_them_and_rendering_is_idempotent(name, given, rendered):
    assert algorithm.rendered_hyperparameters({name: given}) == {name: rendered}
    assert algorithm.rendered_hyperparameters({name: rendered}) == {name: rendered}


@pytest.mark.parametrize(("name", "given", "allowed"), REFUSED)
def test_bad_value_is_refused_naming_it_and_what_is_allowed(name, given, allowed):
    with pytest.raises(algorithm.HyperparameterError) as raised:
        algorithm.rendered_hyperparameters({name: given})
    assert str(raised.value).startswith(f"hyperparameter {name!r}={given!r}: {allowed}"), str(raised.value)
    assert raised.value.name == name


def test_every_documented_default_is_itself_a_valid_value():
    for name, spec in algorithm.HYPERPARAMETERS.items():
        if spec.default is not None:
            assert spec.parse(spec.default) == spec.default, name


def test_every_dependency_names_documented_hyperparameters_and_values():
    for name, (other, wanted) in algorithm.USED_ONLY_WHEN.items():
        assert name in algorithm.HYPERPARAMETERS
        assert all(algorithm.HYPERPARAMETERS[other].parse(value) == value for value in wanted), name


@pytest.fixture(scope="module")
def sagemaker_model():
    return botocore.session.get_session().get_service_model("sagemaker")


@pytest.mark.parametrize(
    ("families", "offered", "shape"),
    [
        (algorithm.TRAINING_FAMILIES, algorithm.TRAINING_INSTANCE_TYPES, "TrainingInstanceType"),
        (algorithm.SERVING_FAMILIES, algorithm.ENDPOINT_INSTANCE_TYPES, "ProductionVariantInstanceType"),
        (algorithm.SERVING_FAMILIES, algorithm.TRANSFORM_INSTANCE_TYPES, "TransformInstanceType"),
    ],
)
def test_instance_types_are_every_size_sagemaker_offers_in_the_algorithms_families(
    sagemaker_model, families, offered, shape
):
    in_families = {t for t in sagemaker_model.shape_for(shape).enum if algorithm.family_of(t) in families}
    assert set(algorithm.offered_types(offered)) == in_families
    # A family SageMaker stopped offering would silently leave the list: the training and serving ones are all there.
    if shape != "TransformInstanceType":
        assert tuple(offered) == families


def test_sizes_are_listed_smallest_first():
    assert algorithm.TRAINING_INSTANCE_TYPES["g5"][-3:] == ("16xlarge", "24xlarge", "48xlarge")
    assert algorithm.ENDPOINT_INSTANCE_TYPES["t2"][:3] == ("medium", "large", "xlarge")


def test_local_storage_families_are_sagemaker_families(sagemaker_model):
    offered = set(sagemaker_model.shape_for("ProductionVariantInstanceType").enum) | set(
        sagemaker_model.shape_for("TrainingInstanceType").enum
    )
    families = {algorithm.family_of(t) for t in offered}
    assert families >= algorithm.LOCAL_STORAGE_FAMILIES, sorted(algorithm.LOCAL_STORAGE_FAMILIES - families)
    assert algorithm.has_local_storage("ml.g4dn.xlarge") and algorithm.has_local_storage("ml.m5d.large")
    assert not algorithm.has_local_storage("ml.m5.large") and not algorithm.has_local_storage("ml.p3.2xlarge")
