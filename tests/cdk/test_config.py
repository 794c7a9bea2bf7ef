"""Settings: cdk.json's defaults parse, `-c` text and cdk.json JSON parse alike, and every bad value fails synth with
one line naming the key, the value and what is expected."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from stacks.config import AppConfig, ConfigError, cdk_json_context
from stacks.config_reference import reference
from tests.cdk.helpers import CDK_JSON_TRAINING_HYPERPARAMETERS

DEFAULTS = cdk_json_context()
HP_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"


def refusal(**changes) -> str:
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context({**DEFAULTS, **changes})
    message = str(raised.value)
    assert "\n" not in message, message
    return message


def test_cdk_json_defaults_parse():
    config = AppConfig.from_context(DEFAULTS)
    assert (config.confidence_threshold, config.workflow_type, config.retain_data) == (
        0.93,
        "STANDARD",
        False,
    )
    assert (config.training_instance_type, config.endpoint_instance_type) == ("ml.g4dn.xlarge", "ml.m5.large")
    assert config.model_data_url is None and config.alarm_email == ""
    assert dict(config.training_hyperparameters) == CDK_JSON_TRAINING_HYPERPARAMETERS


# (key, value as `-c` text or cdk.json JSON gives it, the setting's value)
ACCEPTED = [
    ("confidence_threshold", "0.8", 0.8),
    ("confidence_threshold", 1, 1.0),
    ("use_spot_training", "true", True),
    ("use_spot_training", "False", False),
    ("use_spot_training", True, True),
    ("endpoint_instance_count", "2", 2),
    ("workflow_type", "express", "EXPRESS"),
    ("endpoint_mode", " Realtime", "realtime"),
    ("removal_policy", "RETAIN", "retain"),
    ("log_retention_days", "731", 731),
    ("serverless_memory_mb", 6144, 6144),
    ("batch_tolerated_failure_percentage", "0", 0.0),
    ("model_data_url", "s3://my-bucket/models/model.tar.gz", "s3://my-bucket/models/model.tar.gz"),
    ("model_data_url", "", None),
    ("alarm_email", " ops@example.com ", "ops@example.com"),
    ("workflow_input_prefix", "incoming/2026/", "incoming/2026/"),
    ("intake_prefix", "uploads/phones/", "uploads/phones/"),
    ("intake_prefix", "", ""),
    ("training_instance_type", "ml.p3.2xlarge", "ml.p3.2xlarge"),
    ("training_instance_type", "ml.g5.48xlarge", "ml.g5.48xlarge"),
    ("endpoint_instance_type", "ml.c5.large", "ml.c5.large"),
    ("endpoint_instance_type", "ml.g4dn.xlarge", "ml.g4dn.xlarge"),
    ("transform_instance_type", "ml.c6i.32xlarge", "ml.c6i.32xlarge"),
    ("training_max_runtime_minutes", "40", 40),
    ("min_validation_accuracy", "0.75", 0.75),
    ("min_validation_accuracy", 1, 1.0),
    ("model_version", "3", 3),
    ("model_version", "", None),
]


@pytest.mark.parametrize(("key", "given", "parsed"), ACCEPTED)
def test_text_and_json_values_parse_to_types(key, given, parsed):
    value = getattr(AppConfig.from_context({**DEFAULTS, key: given}), key)
    assert value == parsed and type(value) is type(parsed)


# (key, bad value, how the message goes on after "context '<key>'=<value> is invalid: ")
REFUSED = [
    ("confidence_threshold", "1.7", "expected a number in (0.0, 1.0]"),
    ("confidence_threshold", "0", "expected a number in (0.0, 1.0]"),
    ("confidence_threshold", "high", "expected a number in (0.0, 1.0]"),
    ("confidence_threshold", "nan", "expected a number in (0.0, 1.0]"),
    ("confidence_threshold", True, "expected a number in (0.0, 1.0]"),
    ("workflow_type", "BATCH", "expected one of STANDARD, EXPRESS"),
    ("workflow_timeout_minutes", "61", "expected an integer in [1, 60]"),
    ("removal_policy", "keep", "expected one of destroy, retain"),
    ("endpoint_instance_count", "0", "expected an integer in [1, 10]"),
    ("endpoint_instance_count", "1.5", "expected an integer in [1, 10]"),
    ("endpoint_instance_count", True, "expected an integer in [1, 10]"),
    ("training_instance_count", "21", "expected an integer in [1, 20]"),
    ("transform_instance_count", "0", "expected an integer in [1, 10]"),
    ("capture_sampling_percentage", "101", "expected an integer in [1, 100]"),
    ("capture_retention_days", "3654", "expected an integer in [1, 3653]"),
    (
        "log_retention_days",
        "8",
        "expected one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731",
    ),
    ("log_retention_days", True, "expected one of 1, 3, 5"),
    ("use_spot_training", "maybe", "expected true or false"),
    ("use_spot_training", 2, "expected true or false"),
    ("batch_max_concurrency", "10001", "expected an integer in [1, 10000]"),
    ("batch_tolerated_failure_percentage", "101", "expected a number in [0.0, 100.0]"),
    ("batch_images_per_child", "0", "expected an integer in [1, 20]"),
    ("batch_images_per_child", "21", "expected an integer in [1, 20]"),
    ("project_name", "scones vision", "expected letters, digits and '-', starting with a letter, at most 30"),
    ("project_name", "9lives", "expected letters, digits and '-', starting with a letter"),
    ("project_name", "A" * 31, "expected letters, digits and '-', starting with a letter, at most 30"),
    ("dataset_dir", " ", "expected a folder path"),
    ("workflow_input_prefix", "dataset", "expected an S3 key prefix ending in '/', such as dataset/"),
    ("workflow_input_prefix", "/dataset/", "expected an S3 key prefix ending in '/'"),
    ("intake_prefix", "incoming", "expected an S3 key prefix ending in '/', such as incoming/, or empty"),
    (
        "model_data_url",
        "https://example.com/model.tar.gz",
        "expected an s3://bucket/key URL of a model.tar.gz",
    ),
    ("model_data_url", "s3://bucket/model.zip", "expected an s3://bucket/key URL of a model.tar.gz"),
    ("model_data_url", "s3://Bad_Bucket/model.tar.gz", "expected an s3://bucket/key URL of a model.tar.gz"),
    ("model_data_url", "s3://bucket-only", "expected an s3://bucket/key URL of a model.tar.gz"),
    (
        "training_max_runtime_minutes",
        "120",
        "expected an integer in [5, 40]: a deploy can wait for at most 40 minutes of training",
    ),
    ("training_max_runtime_minutes", "4", "expected an integer in [5, 40]"),
    ("min_validation_accuracy", "0", "expected a number in (0.0, 1.0]"),
    ("min_validation_accuracy", "80", "expected a number in (0.0, 1.0]"),
    ("model_version", "0", "expected a version number (1, 2, ...) that `make models` lists, or empty"),
    ("model_version", "v3", "expected a version number (1, 2, ...)"),
    ("model_version", True, "expected a version number (1, 2, ...)"),
    ("training_instance_type", "m5.large", "expected a SageMaker instance type such as ml.m5.large"),
    ("training_instance_type", 5, "expected a SageMaker instance type such as ml.m5.large"),
    ("endpoint_instance_type", "ml.m5", "expected a SageMaker instance type such as ml.m5.large"),
    (
        "training_instance_type",
        "ml.m5.large",
        "the image-classification algorithm trains (GPU) on the families ml.p2, ml.p3, ml.g4dn, ml.g5 "
        "(https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html)",
    ),
    (
        "training_instance_type",
        "ml.g4dn.3xlarge",
        "SageMaker offers ml.g4dn as xlarge, 2xlarge, 4xlarge, 8xlarge",
    ),
    (
        "endpoint_instance_type",
        "ml.inf1.xlarge",
        "the image-classification algorithm serves (CPU or GPU) on the families ml.t2, ml.m4, ml.m5",
    ),
    ("endpoint_instance_type", "ml.c6g.large", "the image-classification algorithm serves (CPU or GPU)"),
    ("endpoint_instance_type", "ml.m5.medium", "SageMaker offers ml.m5 as large, xlarge, 2xlarge"),
    ("transform_instance_type", "ml.t2.medium", "the image-classification algorithm runs Batch Transform"),
    ("transform_instance_type", "ml.c5.large", "SageMaker offers ml.c5 as xlarge, 2xlarge"),
    ("hyperparameters", "{epochs: 5}", "expected a JSON object of hyperparameter names to values"),
    ("hyperparameters", "[1, 2]", "expected a JSON object of hyperparameter names to values"),
    ("hyperparameters", '{"num_classes": 3}', "num_classes come from the dataset manifest and cannot be set"),
    ("hyperparameter_overrides", '{"num_training_samples": 9}', "num_training_samples come from the dataset"),
    ("endpoint_mode", "async", "expected one of realtime, serverless"),
    ("data_capture_enabled", "sometimes", "expected true or false"),
    ("serverless_memory_mb", "1500", "expected one of 1024, 2048, 3072, 4096, 5120, 6144"),
    ("serverless_memory_mb", "512", "expected one of 1024, 2048"),
    ("serverless_memory_mb", "8192", "expected one of 1024, 2048"),
    ("serverless_max_concurrency", "0", "expected an integer in [1, 200]"),
    ("serverless_max_concurrency", "201", "expected an integer in [1, 200]"),
    ("autoscaling_enabled", "on-demand", "expected true or false"),
    ("autoscaling_min_instances", "0", "expected an integer in [1, 20]"),
    ("autoscaling_max_instances", "21", "expected an integer in [1, 20]"),
    ("autoscaling_target_invocations", "0", "expected an integer in [1, 100000]"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), REFUSED)
def test_bad_value_names_key_value_and_what_is_expected(key, value, allowed):
    message = refusal(**{key: value})
    assert message.startswith(f"context '{key}'={value!r} is invalid: {allowed}"), message


def test_every_bad_value_is_named_in_the_same_line():
    message = refusal(confidence_threshold="2", workflow_type="batch")
    assert message == (
        "context 'confidence_threshold'='2' is invalid: expected a number in (0.0, 1.0]; "
        "context 'workflow_type'='batch' is invalid: expected one of STANDARD, EXPRESS"
    )


# (hyperparameter_overrides, how the message goes on after "context '<setting>' is invalid: hyperparameter ")
HYPERPARAMETERS_REFUSED = [
    (
        {"optimiser": "adam"},
        "'optimiser'='adam': not a hyperparameter of the algorithm; known: augmentation_type",
    ),
    ({"optimizer": "adamw"}, f"'optimizer'='adamw': expected one of sgd, adam, rmsprop, nag ({HP_DOC})"),
    ({"learning_rate": 1.5}, "'learning_rate'=1.5: expected a float in [0, 1]"),
    ({"epochs": True}, "'epochs'=True: expected a positive integer"),
    # The documented dependencies, checked on the merged set and named after the setting the value came from.
    (
        {"image_shape": "3,32,32"},
        "'image_shape'='3,32,32': a pretrained network (use_pretrained_model=1) takes a",
    ),
    (
        {"num_layers": 20},
        "'num_layers'='20': a pretrained network (use_pretrained_model=1) has one of 18, 34",
    ),
    ({"resize": None}, "'resize'=None: required when training on image content types"),
    ({"resize": 200}, "'resize'='200': at least the image_shape's height and width (224)"),
    (
        {"early_stopping": False},
        "'early_stopping_min_epochs'='10': used only when early_stopping=True, not False",
    ),
    ({"momentum": 0.9}, "'momentum'='0.9': used only when optimizer=sgd or nag, not adam"),
    ({"optimizer": "sgd", "beta_2": 0.99}, "'beta_2'='0.99': used only when optimizer=adam, not sgd"),
    ({"gamma": 0.9}, "'gamma'='0.9': used only when optimizer=rmsprop, not adam"),
    ({"use_weighted_loss": 1}, "'use_weighted_loss'='1': used only when multi_label=1, not 0"),
    ({"lr_scheduler_factor": 0.5}, "'lr_scheduler_factor'='0.5': used only together with lr_scheduler_step"),
    ({"checkpoint_frequency": 31}, "'checkpoint_frequency'='31': at most epochs (30)"),
    ({"kv_store": "dist_sync"}, "'kv_store'='dist_sync': applies to distributed training only"),
]


@pytest.mark.parametrize(("overrides", "named"), HYPERPARAMETERS_REFUSED)
def test_bad_hyperparameter_names_the_setting_it_came_from_and_what_is_allowed(overrides, named):
    message = refusal(hyperparameter_overrides=json.dumps(overrides))
    source = "hyperparameter_overrides" if named.split("'")[1] in overrides else "hyperparameters"
    assert message.startswith(f"context '{source}' is invalid: hyperparameter {named}"), message


@pytest.mark.parametrize(
    ("overrides", "rendered"),
    [
        ('{"early_stopping": "TRUE"}', {"early_stopping": "True"}),
        ('{"use_pretrained_model": true}', {"use_pretrained_model": "1"}),
        ('{"image_shape": " 3, 224,224 "}', {"image_shape": "3,224,224"}),
        ('{"learning_rate": 0.01, "epochs": "12"}', {"learning_rate": "0.01", "epochs": "12"}),
    ],
)
def test_overrides_are_rendered_and_change_only_what_they_name(overrides, rendered):
    config = AppConfig.from_context({**DEFAULTS, "hyperparameter_overrides": overrides})
    assert dict(config.hyperparameter_overrides) == rendered
    assert dict(config.training_hyperparameters) == {**CDK_JSON_TRAINING_HYPERPARAMETERS, **rendered}


def test_a_null_override_removes_a_default():
    overrides = (
        '{"early_stopping": false, "early_stopping_patience": null, "early_stopping_min_epochs": null}'
    )
    merged = AppConfig.from_context(
        {**DEFAULTS, "hyperparameter_overrides": overrides}
    ).training_hyperparameters
    assert merged["early_stopping"] == "False"
    assert "early_stopping_patience" not in merged and "early_stopping_min_epochs" not in merged


def test_training_from_scratch_at_cifar_size_is_a_valid_variant():
    overrides = '{"use_pretrained_model": 0, "num_layers": 20, "image_shape": "3,32,32", "resize": 32}'
    merged = AppConfig.from_context(
        {**DEFAULTS, "hyperparameter_overrides": overrides}
    ).training_hyperparameters
    assert (merged["use_pretrained_model"], merged["image_shape"], merged["num_layers"]) == (
        "0",
        "3,32,32",
        "20",
    )


def test_distributed_training_takes_a_kv_store():
    context = {
        **DEFAULTS,
        "training_instance_count": "2",
        "hyperparameter_overrides": '{"kv_store": "dist_sync"}',
    }
    assert AppConfig.from_context(context).training_hyperparameters["kv_store"] == "dist_sync"


SERVERLESS = {"endpoint_mode": "serverless", "data_capture_enabled": "false"}
SCALED = {"autoscaling_enabled": "true", "autoscaling_min_instances": "2", "autoscaling_max_instances": "3"}

# (settings that contradict each other, the whole message or how it starts)
CONTRADICTIONS = [
    (
        {"workflow_type": "EXPRESS", "workflow_timeout_minutes": "6"},
        "context 'workflow_timeout_minutes'=6 is invalid: an EXPRESS workflow runs for at most 5 minutes",
    ),
    (
        {"endpoint_mode": "serverless"},
        "context 'endpoint_mode'='serverless' is invalid: SageMaker does not capture data on serverless endpoints "
        "(data capture and Model Monitor are among its feature exclusions: "
        "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html",
    ),
    (
        {**SERVERLESS, "autoscaling_enabled": "true"},
        "context 'autoscaling_enabled'=True is invalid: a serverless endpoint scales itself",
    ),
    (
        {"autoscaling_min_instances": "5"},
        "context 'autoscaling_min_instances'=5 is invalid: at most autoscaling_max_instances (4)",
    ),
    (
        {**SCALED, "endpoint_instance_count": "1"},
        "context 'endpoint_instance_count'=1 is invalid: an autoscaled endpoint starts within "
        "autoscaling_min_instances..autoscaling_max_instances (2..3)",
    ),
    (
        {**SCALED, "endpoint_instance_count": "4"},
        "context 'endpoint_instance_count'=4 is invalid: an autoscaled endpoint starts within",
    ),
    (
        {"batch_max_concurrency": "11"},
        "context 'batch_max_concurrency'=11 is invalid: the endpoint serves at most 10 batch images at once "
        "(1 instance(s) x 10 images each (endpoint_instance_count))",
    ),
    (
        {**SERVERLESS, "serverless_max_concurrency": "10", "batch_max_concurrency": "11"},
        "context 'batch_max_concurrency'=11 is invalid: the endpoint serves at most 10 batch images at once "
        "(serverless_max_concurrency)",
    ),
    # The deploy uploads the dataset under dataset/: an intake there would classify every training image.
    (
        {"intake_prefix": "dataset/incoming/"},
        "context 'intake_prefix'='dataset/incoming/' is invalid: it overlaps dataset/, which the app itself writes",
    ),
    ({"intake_prefix": "data_capture/"}, "context 'intake_prefix'='data_capture/' is invalid: it overlaps"),
    (
        {"model_version": "2", "model_data_url": "s3://my-bucket/model.tar.gz"},
        "context 'model_version'=2 is invalid: serve either a registered version or a brought model_data_url",
    ),
]

# (settings that look alike but hold together)
CONSISTENT = [
    {"workflow_type": "EXPRESS", "workflow_timeout_minutes": "5"},
    SERVERLESS,
    {"data_capture_enabled": "false"},
    {**SCALED, "endpoint_instance_count": "3"},
    {**SCALED, "autoscaling_enabled": "false", "endpoint_instance_count": "1"},
    {"endpoint_instance_count": "2", "batch_max_concurrency": "11"},
    {"autoscaling_enabled": "true", "autoscaling_max_instances": "2", "batch_max_concurrency": "11"},
    {**SERVERLESS, "serverless_max_concurrency": "10", "batch_max_concurrency": "10"},
    # Not a prefix the app writes, though it shares the letters of dataset/ and data_capture/.
    {"intake_prefix": "data/"},
]


@pytest.mark.parametrize(("changes", "message"), CONTRADICTIONS)
def test_contradicting_settings_are_refused_naming_one_of_them(changes, message):
    assert refusal(**changes).startswith(message)


def test_the_serverless_refusal_names_the_fix():
    assert "turn capture off explicitly with -c data_capture_enabled=false" in refusal(
        endpoint_mode="serverless"
    )


@pytest.mark.parametrize("changes", CONSISTENT)
def test_settings_that_hold_together_are_accepted(changes):
    config = AppConfig.from_context({**DEFAULTS, **changes})
    assert {key: str(getattr(config, key)).lower() for key in changes} == {
        k: v.lower() for k, v in changes.items()
    }


def test_a_typo_in_a_key_is_refused_with_the_key_meant():
    assert refusal(confidence_treshold="0.9", zzz="1") == (
        "unknown context key(s) 'confidence_treshold', 'zzz' (did you mean confidence_threshold?); "
        "docs/CONFIGURATION.md lists every setting"
    )
    assert refusal(zzz="1") == "unknown context key(s) 'zzz'; docs/CONFIGURATION.md lists every setting"


def test_cdk_own_context_keys_are_not_settings():
    context = {**DEFAULTS, "@aws-cdk/core:newStyleStackSynthesis": True, "aws:cdk:enable-path-metadata": True}
    assert AppConfig.from_context(context).confidence_threshold == 0.93


def test_a_missing_setting_is_reported():
    context = {k: v for k, v in DEFAULTS.items() if k not in ("dataset_dir", "use_spot_training")}
    with pytest.raises(
        ConfigError, match=r"^context key\(s\) dataset_dir, use_spot_training missing: cdk.json"
    ):
        AppConfig.from_context(context)


def test_config_is_frozen():
    config = AppConfig.from_context(DEFAULTS)
    with pytest.raises(ValidationError, match="frozen"):
        config.confidence_threshold = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.hyperparameters["epochs"] = "1"  # type: ignore[index]


def test_configuration_reference_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"
    assert doc.read_text() == reference(), (
        "docs/CONFIGURATION.md is stale: run `.venv/bin/python -m stacks.config_reference > docs/CONFIGURATION.md`"
    )


def test_the_reference_shows_a_make_context_that_passes_json():
    # The user's shell hands CONTEXT to make; make's recipe shell splits it into the words `cdk synth` takes.
    (example,) = [
        line.strip() for line in reference().splitlines() if 'CONTEXT="-c hyperparameter_overrides' in line
    ]
    (argument,) = shlex.split(example.removeprefix("make synth "))
    option, setting = shlex.split(argument.removeprefix("CONTEXT="))
    key, value = setting.split("=", 1)
    assert (option, key) == ("-c", "hyperparameter_overrides")
    assert AppConfig.from_context({**DEFAULTS, key: value}).hyperparameter_overrides == {"epochs": "5"}
