"""The image-classification algorithm's interface as data: its hyperparameters (HYPERPARAMETERS_DOC), rendered as
that page writes them (`True`, `1`, `3,224,224`), and the instance types it runs on (ALGORITHM_DOC)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import botocore.loaders

HYPERPARAMETERS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"
ALGORITHM_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html"

# "Pretrained models can only use a fixed height x width image size of 224 x 224" (image_shape); num_layers: "For
# transfer learning, the number of layers ... can only be selected from" the first set.
PRETRAINED_IMAGE_SIZE = 224
PRETRAINED_LAYERS = (18, 34, 50, 101, 152, 200)
SMALL_IMAGE_LAYERS = (20, 32, 44, 56, 110)
# num_classes and num_training_samples are required too; the model stack derives both from the dataset manifest.
DERIVED = ("num_classes", "num_training_samples")


class HyperparameterError(ValueError):
    """One hyperparameter is unknown, out of range or contradicts another; names it, its value and what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        super().__init__(f"hyperparameter {name!r}={value!r}: {allowed}")
        self.name = name


class Hyperparameter(NamedTuple):
    default: str | None  # the algorithm's own default when it is not sent
    allowed: str
    pattern: str  # what the value's text must match; JSON's true is `True`, 2.5 no integer
    render: Callable[[str], str] = str  # the text as the reference writes it
    check: Callable[[str], bool] = bool

    def parse(self, value: Any) -> str:
        text = str(value).strip()
        if not re.fullmatch(self.pattern, text) or not self.check(text):
            raise ValueError(text)
        return self.render(text)


def _one_of(*choices: Any) -> tuple[str, str]:
    return f"one of {', '.join(map(str, choices))}", "|".join(re.escape(str(choice)) for choice in choices)


UNIT = ("a float in [0, 1]", r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str, lambda text: float(text) <= 1)
POSITIVE = ("a positive integer", r"[1-9]\d*")
ZERO_OR_ONE = ("0 or 1", r"[01]|True|False", lambda text: {"True": "1", "False": "0"}.get(text, text))
TRUE_OR_FALSE = ("True or False", r"(?i:true|false)", str.capitalize)
IMAGE_SHAPE = (
    "'num_channels,height,width' of three positive integers, e.g. 3,224,224",
    r"[1-9]\d*(\s*,\s*[1-9]\d*){2}",
    functools.partial(re.sub, r"\s", ""),
)
EPOCH_LIST = (
    "epochs as comma-separated positive integers, e.g. 10,20",
    r"[1-9]\d*(\s*,\s*[1-9]\d*)*",
    functools.partial(re.sub, r"\s", ""),
)
HYPERPARAMETERS: dict[str, Hyperparameter] = {
    "augmentation_type": Hyperparameter(None, *_one_of("crop", "crop_color", "crop_color_transform")),
    "beta_1": Hyperparameter("0.9", *UNIT),
    "beta_2": Hyperparameter("0.999", *UNIT),
    "checkpoint_frequency": Hyperparameter(None, "a positive integer no greater than epochs", POSITIVE[1]),
    "early_stopping": Hyperparameter("False", *TRUE_OR_FALSE),
    "early_stopping_min_epochs": Hyperparameter("10", *POSITIVE),
    "early_stopping_patience": Hyperparameter("5", *POSITIVE),
    "early_stopping_tolerance": Hyperparameter("0.0", *UNIT),
    "epochs": Hyperparameter("30", *POSITIVE),
    "eps": Hyperparameter("1e-8", *UNIT),
    "gamma": Hyperparameter("0.9", *UNIT),
    "image_shape": Hyperparameter("3,224,224", *IMAGE_SHAPE),
    "kv_store": Hyperparameter(None, *_one_of("dist_sync", "dist_async")),
    "learning_rate": Hyperparameter("0.1", *UNIT),
    "lr_scheduler_factor": Hyperparameter("0.1", *UNIT),
    "lr_scheduler_step": Hyperparameter(None, *EPOCH_LIST),
    "mini_batch_size": Hyperparameter("32", *POSITIVE),
    "momentum": Hyperparameter("0.9", *UNIT),
    "multi_label": Hyperparameter("0", *ZERO_OR_ONE),
    "num_layers": Hyperparameter("152", *_one_of(*PRETRAINED_LAYERS, *SMALL_IMAGE_LAYERS)),
    "optimizer": Hyperparameter("sgd", *_one_of("sgd", "adam", "rmsprop", "nag")),
    "precision_dtype": Hyperparameter("float32", *_one_of("float32", "float16")),
    "resize": Hyperparameter(None, "a positive integer (pixels of the shortest side)", POSITIVE[1]),
    "top_k": Hyperparameter(None, "an integer larger than 1", r"[2-9]|[1-9]\d+"),
    "use_pretrained_model": Hyperparameter("0", *ZERO_OR_ONE),
    "use_weighted_loss": Hyperparameter("0", *ZERO_OR_ONE),
    "weight_decay": Hyperparameter("0.0001", *UNIT),
}
# "It is used only when early_stopping = True" / "ignored for other optimizers" / "used only when multi_label = 1":
# a value the algorithm would ignore is a mistake in the settings, so it is refused.
USED_ONLY_WHEN: dict[str, tuple[str, tuple[str, ...]]] = {
    "early_stopping_min_epochs": ("early_stopping", ("True",)),
    "early_stopping_patience": ("early_stopping", ("True",)),
    "early_stopping_tolerance": ("early_stopping", ("True",)),
    "momentum": ("optimizer", ("sgd", "nag")),
    "weight_decay": ("optimizer", ("sgd", "nag")),
    "beta_1": ("optimizer", ("adam",)),
    "beta_2": ("optimizer", ("adam",)),
    "eps": ("optimizer", ("adam", "rmsprop")),
    "gamma": ("optimizer", ("rmsprop",)),
    "use_weighted_loss": ("multi_label", ("1",)),
}


def rendered_hyperparameters(values: Mapping[str, Any]) -> dict[str, str]:
    """Each hyperparameter checked on its own and rendered as documented; idempotent on rendered values."""
    rendered = {}
    for name, value in sorted(values.items()):
        if name not in HYPERPARAMETERS:
            known = ", ".join(HYPERPARAMETERS)
            raise HyperparameterError(name, value, f"not a hyperparameter of the algorithm; known: {known}")
        try:
            rendered[name] = HYPERPARAMETERS[name].parse(value)
        except (TypeError, ValueError):
            allowed = HYPERPARAMETERS[name].allowed
            raise HyperparameterError(name, value, f"expected {allowed} ({HYPERPARAMETERS_DOC})") from None
    return rendered


def validated_hyperparameters(values: Mapping[str, Any], *, training_instance_count: int) -> dict[str, str]:
    """The whole set a training job receives: each value rendered, then every documented dependency checked."""
    rendered = rendered_hyperparameters(values)

    def effective(name: str) -> str | None:
        return rendered.get(name, HYPERPARAMETERS[name].default)

    _, height, width = (int(n) for n in effective("image_shape").split(","))
    if effective("use_pretrained_model") == "1":
        size = PRETRAINED_IMAGE_SIZE
        if (height, width) != (size, size):
            why = f"a pretrained network (use_pretrained_model=1) takes a fixed {size}x{size} input"
            fix = f"use 3,{size},{size} with resize, or use_pretrained_model=0"
            raise HyperparameterError("image_shape", effective("image_shape"), f"{why}: {fix}")
        if int(effective("num_layers")) not in PRETRAINED_LAYERS:
            layers = ", ".join(map(str, PRETRAINED_LAYERS))
            has = f"a pretrained network (use_pretrained_model=1) has one of {layers}"
            raise HyperparameterError("num_layers", effective("num_layers"), has)
    # This project trains on image content types (.lst channels of application/x-image; lambda_src/training_job), for
    # which the reference makes resize required; the algorithm crops image_shape out of the resized image.
    if "resize" not in rendered:
        why = "required when training on image content types (this project's .lst channels of application/x-image)"
        raise HyperparameterError("resize", None, f"{why}; set it to the image_shape's height or more")
    if int(rendered["resize"]) < max(height, width):
        at_least = f"at least the image_shape's height and width ({max(height, width)})"
        raise HyperparameterError("resize", rendered["resize"], at_least)
    for name, (other, wanted) in USED_ONLY_WHEN.items():
        if name in rendered and effective(other) not in wanted:
            used = f"used only when {other}={' or '.join(wanted)}, not {effective(other)}"
            raise HyperparameterError(name, rendered[name], f"{used} (an override of null removes it)")
    if "lr_scheduler_factor" in rendered and "lr_scheduler_step" not in rendered:
        used = "used only together with lr_scheduler_step"
        raise HyperparameterError("lr_scheduler_factor", rendered["lr_scheduler_factor"], used)
    if "kv_store" in rendered and training_instance_count < 2:
        used = "applies to distributed training only (training_instance_count > 1)"
        raise HyperparameterError("kv_store", rendered["kv_store"], used)
    if int(rendered.get("checkpoint_frequency", 0)) > int(effective("epochs")):
        at_most = f"at most epochs ({effective('epochs')})"
        raise HyperparameterError("checkpoint_frequency", rendered["checkpoint_frequency"], at_most)
    return rendered


# "EC2 Instance Recommendation for the Image Classification Algorithm" (ALGORITHM_DOC): it trains on GPU instances
# (P2, P3, G4dn and G5; the page's archived 2023 copy in awsdocs/amazon-sagemaker-developer-guide lists P2 and P3
# only) and serves on CPU (such as C4) or GPU instances. CPU serving here: the x86 families SageMaker offers for
# real-time endpoints (the algorithm's image is built for x86; Graviton, Inferentia and Trainium need other images);
# GPU serving: the families it trains on.
TRAINING_FAMILIES = ("p2", "p3", "g4dn", "g5")
CPU_FAMILIES = ("t2", "m4", "m5", "m5d", "c4", "c5", "c5d", "r5", "r5d", "m6i", "c6i", "r6i")
SERVING_FAMILIES = CPU_FAMILIES + TRAINING_FAMILIES
# The sizes are those SageMaker offers in each family: the enums of TrainingInstanceType (API_ResourceConfig),
# ProductionVariantInstanceType (API_ProductionVariant) and TransformInstanceType (API_TransformResources) in
# botocore's SageMaker service model (https://docs.aws.amazon.com/sagemaker/latest/APIReference/).
SAGEMAKER_SHAPES = ("TrainingInstanceType", "ProductionVariantInstanceType", "TransformInstanceType")
# Families with local NVMe instance storage among those SageMaker hosts. CreateEndpointConfig fails when KmsKeyId
# is given for them: "You can't request a KmsKeyId when using an instance type with local storage"
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html, KmsKeyId; the storage
# per type: https://docs.aws.amazon.com/sagemaker/latest/dg/host-instance-storage.html). Their volumes are
# encrypted by a hardware module on the instance instead.
LOCAL_STORAGE_FAMILIES = frozenset(
    ("m5d", "c5d", "r5d", "g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5")
)
LOCAL_STORAGE_FAMILIES |= {"m6gd", "c6gd", "r6gd", "r7gd"}


def family_of(instance_type: str) -> str:
    return instance_type.split(".")[1]


def offered_types(families: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(f"ml.{family}.{size}" for family, sizes in families.items() for size in sizes)


def _by_family(types: Iterable[str], families: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    def order(size: str) -> tuple[int, int]:  # medium, large, xlarge, 2xlarge, ...
        count, unit = re.fullmatch(r"(\d*)(.*)", size).groups()
        return int(count or 0), {"medium": 0, "large": 1}.get(unit, 2)

    sizes = {family: [t.split(".", 2)[2] for t in types if family_of(t) == family] for family in families}
    return {family: tuple(sorted(offered, key=order)) for family, offered in sizes.items() if offered}


# botocore's raw loader reads the model in about 0.05 s, with no cache (its ServiceModel takes most of a second).
_SHAPES = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")["shapes"]
_TRAINING, _SERVING, _TRANSFORM = (_SHAPES[shape]["enum"] for shape in SAGEMAKER_SHAPES)
TRAINING_INSTANCE_TYPES = _by_family(_TRAINING, TRAINING_FAMILIES)
ENDPOINT_INSTANCE_TYPES = _by_family(_SERVING, SERVING_FAMILIES)
# Batch Transform runs the serving image on the sizes CreateTransformJob offers in the serving families.
_SERVED = set(offered_types(ENDPOINT_INSTANCE_TYPES))
TRANSFORM_INSTANCE_TYPES = _by_family([t for t in _TRANSFORM if t in _SERVED], SERVING_FAMILIES)


def has_local_storage(instance_type: str) -> bool:
    return family_of(instance_type) in LOCAL_STORAGE_FAMILIES
