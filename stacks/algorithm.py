"""The SageMaker built-in image-classification algorithm's interface, as data: its hyperparameters and instance types.

Hyperparameters: https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html (names, valid values,
defaults and the "used only when" dependencies below are that page's). Input formats, content types and instance
families: https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html.

`validated_hyperparameters` checks a set of hyperparameters against the reference and returns it rendered the way
the algorithm documents its values (`True`/`False`, `0`/`1`, `3,224,224`): the training request carries exactly
that. Every failure is a `HyperparameterError` naming the hyperparameter, its value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

HYPERPARAMETERS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"
ALGORITHM_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html"

# "Pretrained models can only use a fixed height x width image size of 224 x 224" (image_shape).
PRETRAINED_IMAGE_SIZE = 224
# num_layers: "For transfer learning, the number of layers ... can only be selected from" the first set.
PRETRAINED_LAYERS = (18, 34, 50, 101, 152, 200)
SMALL_IMAGE_LAYERS = (20, 32, 44, 56, 110)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")
AUGMENTATION_TYPES = ("crop", "crop_color", "crop_color_transform")
KV_STORES = ("dist_sync", "dist_async")
PRECISION_DTYPES = ("float32", "float16")
# num_classes and num_training_samples are required too; the model stack derives both from the dataset manifest.
DERIVED = ("num_classes", "num_training_samples")


class HyperparameterError(ValueError):
    """One hyperparameter is unknown, out of range or contradicts another; names it, its value and what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        super().__init__(f"hyperparameter {name!r}={value!r}: {allowed}")
        self.name = name


# --- value parsers: each returns the documented rendering or raises ValueError with what is allowed ----------------


def _integer(value: Any) -> int:
    if isinstance(value, (bool, float)):
        raise ValueError
    return int(str(value).strip(), 10)


def _positive_int(*, above: int = 0) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        number = _integer(value)
        if number <= above:
            raise ValueError
        return str(number)

    return parse


def _int_in(choices: tuple[int, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        number = _integer(value)
        if number not in choices:
            raise ValueError
        return str(number)

    return parse


def _unit_float(value: Any) -> str:
    """A float in [0, 1]; an integer stays an integer, text keeps its spelling once it parses."""
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError
    return str(value).strip() if isinstance(value, str) else repr(value)


def _zero_or_one(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if str(value).strip() not in ("0", "1"):
        raise ValueError
    return str(value).strip()


def _true_or_false(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError
    return text.capitalize()


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip() not in choices:
            raise ValueError
        return value.strip()

    return parse


def _image_shape(value: Any) -> str:
    parts = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*", str(value))
    if not parts or 0 in (numbers := [int(p) for p in parts.groups()]):
        raise ValueError
    return ",".join(str(n) for n in numbers)


def _epoch_list(value: Any) -> str:
    epochs = [part.strip() for part in str(value).split(",")]
    if not all(re.fullmatch(r"[1-9]\d*", epoch) for epoch in epochs):
        raise ValueError
    return ",".join(epochs)


@dataclass(frozen=True)
class Hyperparameter:
    """One row of the reference: how a value is checked and rendered, what is allowed, and the default."""

    parse: Callable[[Any], str]
    allowed: str
    default: str | None  # the algorithm's own default when the hyperparameter is not sent; None: no default


_UNIT = "a float in [0, 1]"
HYPERPARAMETERS: dict[str, Hyperparameter] = {
    "augmentation_type": Hyperparameter(
        _one_of(AUGMENTATION_TYPES), f"one of {', '.join(AUGMENTATION_TYPES)}", None
    ),
    "beta_1": Hyperparameter(_unit_float, _UNIT, "0.9"),
    "beta_2": Hyperparameter(_unit_float, _UNIT, "0.999"),
    "checkpoint_frequency": Hyperparameter(
        _positive_int(), "a positive integer no greater than epochs", None
    ),
    "early_stopping": Hyperparameter(_true_or_false, "True or False", "False"),
    "early_stopping_min_epochs": Hyperparameter(_positive_int(), "a positive integer", "10"),
    "early_stopping_patience": Hyperparameter(_positive_int(), "a positive integer", "5"),
    "early_stopping_tolerance": Hyperparameter(_unit_float, _UNIT, "0.0"),
    "epochs": Hyperparameter(_positive_int(), "a positive integer", "30"),
    "eps": Hyperparameter(_unit_float, _UNIT, "1e-8"),
    "gamma": Hyperparameter(_unit_float, _UNIT, "0.9"),
    "image_shape": Hyperparameter(
        _image_shape, "'num_channels,height,width' of three positive integers, e.g. 3,224,224", "3,224,224"
    ),
    "kv_store": Hyperparameter(_one_of(KV_STORES), f"one of {', '.join(KV_STORES)}", None),
    "learning_rate": Hyperparameter(_unit_float, _UNIT, "0.1"),
    "lr_scheduler_factor": Hyperparameter(_unit_float, _UNIT, "0.1"),
    "lr_scheduler_step": Hyperparameter(
        _epoch_list, "epochs as comma-separated positive integers, e.g. 10,20", None
    ),
    "mini_batch_size": Hyperparameter(_positive_int(), "a positive integer", "32"),
    "momentum": Hyperparameter(_unit_float, _UNIT, "0.9"),
    "multi_label": Hyperparameter(_zero_or_one, "0 or 1", "0"),
    "num_layers": Hyperparameter(
        _int_in(PRETRAINED_LAYERS + SMALL_IMAGE_LAYERS),
        f"one of {', '.join(map(str, PRETRAINED_LAYERS + SMALL_IMAGE_LAYERS))}",
        "152",
    ),
    "optimizer": Hyperparameter(_one_of(OPTIMIZERS), f"one of {', '.join(OPTIMIZERS)}", "sgd"),
    "precision_dtype": Hyperparameter(
        _one_of(PRECISION_DTYPES), f"one of {', '.join(PRECISION_DTYPES)}", "float32"
    ),
    "resize": Hyperparameter(_positive_int(), "a positive integer (pixels of the shortest side)", None),
    "top_k": Hyperparameter(_positive_int(above=1), "an integer larger than 1", None),
    "use_pretrained_model": Hyperparameter(_zero_or_one, "0 or 1", "0"),
    "use_weighted_loss": Hyperparameter(_zero_or_one, "0 or 1", "0"),
    "weight_decay": Hyperparameter(_unit_float, _UNIT, "0.0001"),
}

# "It is used only when early_stopping = True" / "ignored for other optimizers" / "used only when multi_label = 1":
# a value the algorithm would ignore is a mistake in the settings, so it is refused.
ONLY_WITH_EARLY_STOPPING = (
    "early_stopping_min_epochs",
    "early_stopping_patience",
    "early_stopping_tolerance",
)
OPTIMIZERS_USING = {
    "momentum": ("sgd", "nag"),
    "weight_decay": ("sgd", "nag"),
    "beta_1": ("adam",),
    "beta_2": ("adam",),
    "eps": ("adam", "rmsprop"),
    "gamma": ("rmsprop",),
}


def rendered_hyperparameters(values: Mapping[str, Any]) -> dict[str, str]:
    """Each hyperparameter checked on its own and rendered as documented; idempotent on rendered values."""
    return {name: _rendered(name, value) for name, value in sorted(values.items())}


def validated_hyperparameters(values: Mapping[str, Any], *, training_instance_count: int) -> dict[str, str]:
    """The whole set a training job receives: each value rendered, then every documented dependency checked."""
    rendered = rendered_hyperparameters(values)
    _check_dependencies(rendered, training_instance_count=training_instance_count)
    return rendered


def _rendered(name: str, value: Any) -> str:
    spec = HYPERPARAMETERS.get(name)
    if spec is None:
        raise HyperparameterError(
            name, value, f"not a hyperparameter of the algorithm; known: {', '.join(HYPERPARAMETERS)}"
        )
    try:
        return spec.parse(value)
    except (TypeError, ValueError):
        raise HyperparameterError(name, value, f"expected {spec.allowed} ({HYPERPARAMETERS_DOC})") from None


def _effective(rendered: Mapping[str, str], name: str) -> str | None:
    return rendered.get(name, HYPERPARAMETERS[name].default)


def _check_dependencies(rendered: Mapping[str, str], *, training_instance_count: int) -> None:
    _check_pretrained_network(rendered)
    _check_resize(rendered)
    _check_used_only_with(rendered, training_instance_count=training_instance_count)
    epochs = int(_effective(rendered, "epochs"))
    if "checkpoint_frequency" in rendered and int(rendered["checkpoint_frequency"]) > epochs:
        raise HyperparameterError(
            "checkpoint_frequency", rendered["checkpoint_frequency"], f"at most epochs ({epochs})"
        )


def _image_size(rendered: Mapping[str, str]) -> tuple[int, int]:
    _, height, width = (int(n) for n in _effective(rendered, "image_shape").split(","))
    return height, width


def _check_pretrained_network(rendered: Mapping[str, str]) -> None:
    if _effective(rendered, "use_pretrained_model") != "1":
        return
    if _image_size(rendered) != (PRETRAINED_IMAGE_SIZE, PRETRAINED_IMAGE_SIZE):
        raise HyperparameterError(
            "image_shape",
            _effective(rendered, "image_shape"),
            f"a pretrained network (use_pretrained_model=1) takes a fixed {PRETRAINED_IMAGE_SIZE}x"
            f"{PRETRAINED_IMAGE_SIZE} input: use 3,{PRETRAINED_IMAGE_SIZE},{PRETRAINED_IMAGE_SIZE} with resize, "
            "or use_pretrained_model=0",
        )
    if int(_effective(rendered, "num_layers")) not in PRETRAINED_LAYERS:
        raise HyperparameterError(
            "num_layers",
            _effective(rendered, "num_layers"),
            f"a pretrained network (use_pretrained_model=1) has one of {', '.join(map(str, PRETRAINED_LAYERS))}",
        )


def _check_resize(rendered: Mapping[str, str]) -> None:
    # The project trains in the algorithm's image format: four channels of application/x-image (.png files and .lst
    # lists; lambda_src/training_job), and with image content types the reference makes `resize` required.
    if "resize" not in rendered:
        raise HyperparameterError(
            "resize",
            None,
            "required when training on image content types (this project's .lst channels of "
            "application/x-image); set it to the image_shape's height or more",
        )
    # The algorithm cuts an image_shape-sized crop out of the resized image; a smaller image leaves nothing to cut.
    smallest = max(_image_size(rendered))
    if int(rendered["resize"]) < smallest:
        raise HyperparameterError(
            "resize", rendered["resize"], f"at least the image_shape's height and width ({smallest})"
        )


def _check_used_only_with(rendered: Mapping[str, str], *, training_instance_count: int) -> None:
    if _effective(rendered, "early_stopping") != "True":
        for name in ONLY_WITH_EARLY_STOPPING:
            if name in rendered:
                raise HyperparameterError(
                    name,
                    rendered[name],
                    "used only when early_stopping=True (an override of null removes it)",
                )
    optimizer = _effective(rendered, "optimizer")
    for name, optimizers in OPTIMIZERS_USING.items():
        if name in rendered and optimizer not in optimizers:
            raise HyperparameterError(
                name, rendered[name], f"used only with optimizer {' or '.join(optimizers)}, not {optimizer}"
            )
    if "use_weighted_loss" in rendered and _effective(rendered, "multi_label") != "1":
        raise HyperparameterError(
            "use_weighted_loss", rendered["use_weighted_loss"], "used only when multi_label=1"
        )
    if "lr_scheduler_factor" in rendered and "lr_scheduler_step" not in rendered:
        raise HyperparameterError(
            "lr_scheduler_factor",
            rendered["lr_scheduler_factor"],
            "used only together with lr_scheduler_step",
        )
    if "kv_store" in rendered and training_instance_count < 2:
        raise HyperparameterError(
            "kv_store",
            rendered["kv_store"],
            "applies to distributed training only (training_instance_count > 1)",
        )


# --- instance types ---------------------------------------------------------------------------------------------

# "EC2 Instance Recommendation for the Image Classification Algorithm" (ALGORITHM_DOC): it trains on GPU instances
# (P2, P3, G4dn and G5; the page's archived 2023 copy in awsdocs/amazon-sagemaker-developer-guide lists P2 and P3
# only) and serves on CPU (such as C4) or GPU instances. The sizes are those SageMaker offers for
# each family (TrainingInstanceType and ProductionVariantInstanceType in the API reference,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html and
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html); tests/cdk/test_algorithm.py
# checks every one against botocore's SageMaker service model.
TRAINING_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    "p2": ("xlarge", "8xlarge", "16xlarge"),
    "p3": ("2xlarge", "8xlarge", "16xlarge"),
    "g4dn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "g5": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
}
# m6i, c6i and r6i come in the same nine sizes.
_SIXTH_GENERATION_INTEL_SIZES = (
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "32xlarge",
)
# CPU serving: the x86 families SageMaker offers for real-time endpoints (the algorithm's image is built for x86;
# Graviton, Inferentia and Trainium families need other images); GPU serving: the families the algorithm trains on.
ENDPOINT_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    "t2": ("medium", "large", "xlarge", "2xlarge"),
    "m4": ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"),
    "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "m5d": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "c4": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c5d": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "r5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "r5d": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "m6i": _SIXTH_GENERATION_INTEL_SIZES,
    "c6i": _SIXTH_GENERATION_INTEL_SIZES,
    "r6i": _SIXTH_GENERATION_INTEL_SIZES,
    **TRAINING_INSTANCE_TYPES,
}
# Batch Transform runs the same inference image on the sizes CreateTransformJob accepts (TransformInstanceType in
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformResources.html): the serving families
# above less t2, m5d, c5d, r5 and r5d, and less the `large` size of c4 and c5, which it does not offer.
# tests/cdk/test_transform_workflow.py checks that against botocore's SageMaker service model.
TRANSFORM_INSTANCE_TYPES: dict[str, tuple[str, ...]] = {
    "m4": ENDPOINT_INSTANCE_TYPES["m4"],
    "m5": ENDPOINT_INSTANCE_TYPES["m5"],
    "c4": ("xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "c5": ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "m6i": ENDPOINT_INSTANCE_TYPES["m6i"],
    "c6i": ENDPOINT_INSTANCE_TYPES["c6i"],
    "r6i": ENDPOINT_INSTANCE_TYPES["r6i"],
    **TRAINING_INSTANCE_TYPES,
}
# Families with local NVMe instance storage among those SageMaker hosts. CreateEndpointConfig fails when KmsKeyId
# is given for them: "You can't request a KmsKeyId when using an instance type with local storage"
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html, KmsKeyId; the storage
# per type: https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html). Their volumes are
# encrypted by a hardware module on the instance instead.
LOCAL_STORAGE_FAMILIES = frozenset(
    {
        "m5d",
        "c5d",
        "r5d",
        "g4dn",
        "g5",
        "g6",
        "g6e",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "m6gd",
        "c6gd",
        "r6gd",
        "r7gd",
    }
)


def family_of(instance_type: str) -> str:
    return instance_type.split(".")[1]


def offered_types(families: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(f"ml.{family}.{size}" for family, sizes in families.items() for size in sizes)


def has_local_storage(instance_type: str) -> bool:
    return family_of(instance_type) in LOCAL_STORAGE_FAMILIES
