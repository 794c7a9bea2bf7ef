"""Settings: cdk.json defaults parse, and every bad `-c key=value` fails synth with one line naming key and value."""

from __future__ import annotations

import json

import pytest

from stacks.config import AppConfig, ConfigError, cdk_json_context
from tests.cdk.helpers import CDK_JSON_TRAINING_HYPERPARAMETERS, assert_refused_in_one_line


@pytest.fixture(scope="module")
def defaults() -> dict:
    return cdk_json_context()


def test_cdk_json_defaults_are_the_documented_ones(defaults):
    config = AppConfig.from_context(defaults)
    assert config.confidence_threshold == 0.93
    assert config.workflow_type == "STANDARD"
    assert config.removal_policy == "destroy" and not config.retain_data
    assert config.capture_sampling_percentage == 100
    assert config.training_instance_type == "ml.g4dn.xlarge"
    assert config.endpoint_instance_type == "ml.m5.large"
    assert config.model_data_url is None


def test_command_line_text_values_are_parsed_to_types(defaults):
    config = AppConfig.from_context(
        {
            **defaults,
            "confidence_threshold": "0.8",
            "use_spot_training": "true",
            "endpoint_instance_count": "2",
            "workflow_type": "express",
            "hyperparameters": '{"epochs": 5, "early_stopping": false, "resize": 224}',
            "model_data_url": "s3://my-bucket/models/model.tar.gz",
        }
    )
    assert config.confidence_threshold == 0.8
    assert config.use_spot_training is True
    assert config.endpoint_instance_count == 2
    assert config.workflow_type == "EXPRESS"
    # Rendered as the algorithm's reference writes its values: True/False, not JSON's true/false.
    assert dict(config.hyperparameters) == {"early_stopping": "False", "epochs": "5", "resize": "224"}
    assert config.model_data_url == "s3://my-bucket/models/model.tar.gz"


def test_default_hyperparameters_are_rendered_as_the_algorithm_documents_them(defaults):
    assert (
        dict(AppConfig.from_context(defaults).training_hyperparameters) == CDK_JSON_TRAINING_HYPERPARAMETERS
    )


@pytest.mark.parametrize(
    ("given", "rendered"),
    [
        ('{"early_stopping": true}', {"early_stopping": "True"}),
        ('{"early_stopping": "TRUE"}', {"early_stopping": "True"}),
        ('{"use_pretrained_model": false}', {"use_pretrained_model": "0"}),
        ('{"image_shape": " 3, 224,224 "}', {"image_shape": "3,224,224"}),
        ('{"learning_rate": 0.01, "epochs": "12"}', {"learning_rate": "0.01", "epochs": "12"}),
    ],
)
def test_override_values_are_rendered_as_documented(defaults, given, rendered):
    config = AppConfig.from_context({**defaults, "hyperparameter_overrides": given})
    assert dict(config.hyperparameter_overrides) == rendered
    assert rendered.items() <= config.training_hyperparameters.items()


def test_hyperparameter_overrides_change_only_what_they_name(defaults):
    config = AppConfig.from_context({**defaults, "hyperparameter_overrides": '{"epochs": 50, "beta_1": 0.8}'})
    expected = {**AppConfig.from_context(defaults).hyperparameters, "epochs": "50", "beta_1": "0.8"}
    assert dict(config.training_hyperparameters) == expected
    assert config.hyperparameters["num_layers"] == config.training_hyperparameters["num_layers"] == "18"


def test_a_null_override_removes_a_default(defaults):
    overrides = (
        '{"early_stopping": false, "early_stopping_patience": null, "early_stopping_min_epochs": null}'
    )
    hyperparameters = AppConfig.from_context(
        {**defaults, "hyperparameter_overrides": overrides}
    ).training_hyperparameters
    assert hyperparameters["early_stopping"] == "False"
    assert (
        "early_stopping_patience" not in hyperparameters
        and "early_stopping_min_epochs" not in hyperparameters
    )


def test_training_from_scratch_at_cifar_size_is_a_valid_variant(defaults):
    overrides = '{"use_pretrained_model": 0, "num_layers": 20, "image_shape": "3,32,32", "resize": 32}'
    hyperparameters = AppConfig.from_context(
        {**defaults, "hyperparameter_overrides": overrides}
    ).training_hyperparameters
    assert (hyperparameters["use_pretrained_model"], hyperparameters["image_shape"]) == ("0", "3,32,32")


DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"


@pytest.mark.parametrize(
    ("overrides", "named", "allowed"),
    [
        # Unknown name, value not allowed, out of range, ill-typed.
        (
            {"optimiser": "adam"},
            "'optimiser'='adam'",
            "not a hyperparameter of the algorithm; known: augmentation_type",
        ),
        ({"optimizer": "adamw"}, "'optimizer'='adamw'", f"expected one of sgd, adam, rmsprop, nag ({DOC})"),
        (
            {"augmentation_type": "flip"},
            "'augmentation_type'='flip'",
            "one of crop, crop_color, crop_color_transform",
        ),
        ({"precision_dtype": "bfloat16"}, "'precision_dtype'='bfloat16'", "one of float32, float16"),
        ({"kv_store": "local"}, "'kv_store'='local'", "one of dist_sync, dist_async"),
        ({"learning_rate": 1.5}, "'learning_rate'=1.5", "a float in [0, 1]"),
        ({"beta_1": -0.1}, "'beta_1'=-0.1", "a float in [0, 1]"),
        ({"learning_rate": "fast"}, "'learning_rate'='fast'", "a float in [0, 1]"),
        ({"epochs": 0}, "'epochs'=0", "a positive integer"),
        ({"epochs": 2.5}, "'epochs'=2.5", "a positive integer"),
        ({"epochs": True}, "'epochs'=True", "a positive integer"),
        ({"top_k": 1}, "'top_k'=1", "an integer larger than 1"),
        ({"num_layers": 19}, "'num_layers'=19", "one of 18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110"),
        ({"use_pretrained_model": 2}, "'use_pretrained_model'=2", "0 or 1"),
        ({"early_stopping": "yes"}, "'early_stopping'='yes'", "True or False"),
        ({"image_shape": "3,224"}, "'image_shape'='3,224'", "three positive integers"),
        ({"lr_scheduler_step": "10;20"}, "'lr_scheduler_step'='10;20'", "comma-separated positive integers"),
        # The documented dependencies between them.
        (
            {"image_shape": "3,32,32"},
            "'image_shape'='3,32,32'",
            "pretrained network (use_pretrained_model=1) takes a fixed 224x224",
        ),
        (
            {"num_layers": 20},
            "'num_layers'='20'",
            "pretrained network (use_pretrained_model=1) has one of 18, 34",
        ),
        ({"resize": None}, "'resize'=None", "required when training on image content types"),
        ({"resize": 200}, "'resize'='200'", "at least the image_shape's height and width (224)"),
        ({"early_stopping": False}, "'early_stopping_min_epochs'='10'", "used only when early_stopping=True"),
        ({"momentum": 0.9}, "'momentum'='0.9'", "used only with optimizer sgd or nag, not adam"),
        ({"optimizer": "sgd", "beta_2": 0.99}, "'beta_2'='0.99'", "used only with optimizer adam, not sgd"),
        ({"gamma": 0.9}, "'gamma'='0.9'", "used only with optimizer rmsprop, not adam"),
        ({"use_weighted_loss": 1}, "'use_weighted_loss'='1'", "used only when multi_label=1"),
        (
            {"lr_scheduler_factor": 0.5},
            "'lr_scheduler_factor'='0.5'",
            "used only together with lr_scheduler_step",
        ),
        ({"checkpoint_frequency": 31}, "'checkpoint_frequency'='31'", "at most epochs (30)"),
        (
            {"kv_store": "dist_sync"},
            "'kv_store'='dist_sync'",
            "distributed training only (training_instance_count > 1)",
        ),
    ],
)
def test_bad_hyperparameter_fails_in_one_line_naming_it_its_value_and_what_is_allowed(
    defaults, overrides, named, allowed
):
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context({**defaults, "hyperparameter_overrides": json.dumps(overrides)})
    message = str(raised.value)
    assert "\n" not in message
    source = (
        "hyperparameters" if named.strip("'").split("'")[0] not in overrides else "hyperparameter_overrides"
    )
    assert message.startswith(f"context '{source}' is invalid: hyperparameter {named}: "), message
    assert allowed in message, message


def test_dependency_rules_hold_for_the_combined_set_only(defaults):
    # kv_store is fine once training is distributed; the same override failed above on one instance.
    config = AppConfig.from_context(
        {**defaults, "training_instance_count": "2", "hyperparameter_overrides": '{"kv_store": "dist_sync"}'}
    )
    assert config.training_hyperparameters["kv_store"] == "dist_sync"


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        (
            "training_instance_type",
            "ml.m5.large",
            "trains (GPU) on the families ml.p2, ml.p3, ml.g4dn, ml.g5",
        ),
        ("training_instance_type", "ml.g4dn.3xlarge", "SageMaker offers ml.g4dn as xlarge, 2xlarge, 4xlarge"),
        (
            "endpoint_instance_type",
            "ml.inf1.xlarge",
            "serves (CPU or GPU) on the families ml.t2, ml.m4, ml.m5",
        ),
        ("endpoint_instance_type", "ml.c6g.large", "serves (CPU or GPU) on the families"),
        ("endpoint_instance_type", "ml.m5.medium", "SageMaker offers ml.m5 as large, xlarge"),
    ],
)
def test_instance_type_outside_what_the_algorithm_runs_on_is_rejected(defaults, key, value, allowed):
    assert_refused_in_one_line(defaults, key, value, allowed)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("training_instance_type", "ml.p3.2xlarge"),
        ("training_instance_type", "ml.g5.xlarge"),
        ("endpoint_instance_type", "ml.c5.large"),
        ("endpoint_instance_type", "ml.g4dn.xlarge"),
    ],
)
def test_instance_types_the_algorithm_runs_on_are_accepted(defaults, key, value):
    assert getattr(AppConfig.from_context({**defaults, key: value}), key) == value


def test_config_is_frozen(defaults):
    config = AppConfig.from_context(defaults)
    with pytest.raises(AttributeError):
        config.confidence_threshold = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.hyperparameters["epochs"] = "1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("confidence_threshold", "1.7", "(0.0, 1.0]"),
        ("confidence_threshold", "0", "(0.0, 1.0]"),
        ("confidence_threshold", "high", "a number"),
        ("confidence_threshold", "nan", "a number"),
        ("workflow_type", "BATCH", "STANDARD, EXPRESS"),
        ("removal_policy", "keep", "destroy, retain"),
        ("training_instance_type", "m5.large", "SageMaker instance type"),
        ("endpoint_instance_type", "ml.m5", "SageMaker instance type"),
        ("endpoint_instance_count", "0", "[1, 10]"),
        ("endpoint_instance_count", "1.5", "integer"),
        ("capture_sampling_percentage", "101", "[1, 100]"),
        ("log_retention_days", "8", "retention periods"),
        ("use_spot_training", "maybe", "true or false"),
        ("hyperparameters", "{epochs: 5}", "JSON object"),
        ("hyperparameters", '{"num_classes": 3}', "come from the dataset manifest"),
        ("hyperparameter_overrides", '{"num_training_samples": 9}', "come from the dataset manifest"),
        ("model_data_url", "https://example.com/model.tar.gz", "s3://bucket/key"),
        ("model_data_url", "s3://bucket/model.zip", "model.tar.gz"),
        ("workflow_input_prefix", "dataset", "ending in '/'"),
        ("batch_images_per_child", "0", "[1, 20]"),
        ("batch_images_per_child", "21", "[1, 20]"),
        ("project_name", "scones vision", "letters, digits"),
        # Serving: the endpoint's mode, its data capture and its scaling.
        ("endpoint_mode", "async", "realtime, serverless"),
        ("data_capture_enabled", "sometimes", "true or false"),
        (
            "serverless_memory_mb",
            "1500",
            "serverless memory sizes (MB): (1024, 2048, 3072, 4096, 5120, 6144)",
        ),
        ("serverless_memory_mb", "512", "[1024, 6144]"),
        ("serverless_memory_mb", "8192", "[1024, 6144]"),
        ("serverless_max_concurrency", "0", "[1, 200]"),
        ("serverless_max_concurrency", "201", "[1, 200]"),
        ("autoscaling_enabled", "on-demand", "true or false"),
        ("autoscaling_min_instances", "0", "[1, 20]"),
        ("autoscaling_max_instances", "21", "[1, 20]"),
        ("autoscaling_target_invocations", "0", "[1, 100000]"),
    ],
)
def test_bad_value_names_key_value_and_what_is_allowed(defaults, key, value, allowed):
    assert_refused_in_one_line(defaults, key, value, allowed)


def test_express_workflow_longer_than_five_minutes_is_a_contradiction(defaults):
    context = {**defaults, "workflow_type": "EXPRESS", "workflow_timeout_minutes": "6"}
    with pytest.raises(
        ConfigError, match=r"'workflow_timeout_minutes'=6 is invalid: an EXPRESS workflow runs for"
    ):
        AppConfig.from_context(context)
    assert AppConfig.from_context({**context, "workflow_timeout_minutes": "5"}).workflow_timeout_minutes == 5


def test_unknown_key_is_rejected_with_the_known_ones(defaults):
    with pytest.raises(
        ConfigError, match=r"unknown context key\(s\) 'threshold'; known keys are: .*confidence_threshold"
    ):
        AppConfig.from_context({**defaults, "threshold": "0.9"})


def test_cdk_own_context_keys_are_not_settings(defaults):
    context = {**defaults, "@aws-cdk/core:newStyleStackSynthesis": True, "aws:cdk:enable-path-metadata": True}
    assert AppConfig.from_context(context).confidence_threshold == 0.93


def test_missing_setting_is_reported(defaults):
    context = {k: v for k, v in defaults.items() if k != "dataset_dir"}
    with pytest.raises(ConfigError, match="dataset_dir missing"):
        AppConfig.from_context(context)


def test_serving_defaults_are_a_fixed_realtime_endpoint_that_captures(defaults):
    config = AppConfig.from_context(defaults)
    assert config.endpoint_mode == "realtime"
    assert config.data_capture_enabled is True
    assert config.autoscaling_enabled is False
    assert (config.autoscaling_min_instances, config.autoscaling_max_instances) == (1, 4)
    assert config.autoscaling_target_invocations == 70
    assert (config.serverless_memory_mb, config.serverless_max_concurrency) == (2048, 5)


def test_serving_options_from_the_command_line_are_parsed(defaults):
    serverless = AppConfig.from_context(
        {
            **defaults,
            "endpoint_mode": "Serverless",
            "data_capture_enabled": "false",
            "serverless_memory_mb": "6144",
            "serverless_max_concurrency": "200",
        }
    )
    assert serverless.endpoint_mode == "serverless" and serverless.data_capture_enabled is False
    assert (serverless.serverless_memory_mb, serverless.serverless_max_concurrency) == (6144, 200)
    scaled = AppConfig.from_context(
        {
            **defaults,
            "autoscaling_enabled": "true",
            "autoscaling_min_instances": "2",
            "autoscaling_max_instances": "2",
            "endpoint_instance_count": "2",
            "autoscaling_target_invocations": "300",
        }
    )
    assert scaled.autoscaling_enabled and scaled.autoscaling_target_invocations == 300
    # Capture off on a real-time endpoint is allowed (Model Monitor plots then have no data).
    assert AppConfig.from_context({**defaults, "data_capture_enabled": "false"}).endpoint_mode == "realtime"


def test_serverless_with_capture_is_refused_with_the_reason_and_the_fix(defaults):
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context({**defaults, "endpoint_mode": "serverless"})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("context 'endpoint_mode'='serverless' is invalid: ")
    assert "SageMaker does not capture data on serverless endpoints" in message
    assert "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html" in message
    assert "-c data_capture_enabled=false" in message


def test_serverless_with_autoscaling_is_refused(defaults):
    context = {**defaults, "endpoint_mode": "serverless", "data_capture_enabled": "false"}
    with pytest.raises(
        ConfigError, match=r"^context 'autoscaling_enabled'=True is invalid: a serverless endpoint"
    ):
        AppConfig.from_context({**context, "autoscaling_enabled": "true"})
    assert AppConfig.from_context(context).endpoint_mode == "serverless"


def test_autoscaling_range_must_be_ordered(defaults):
    with pytest.raises(
        ConfigError,
        match=r"^context 'autoscaling_min_instances'=5 is invalid: at most autoscaling_max_instances \(4\)",
    ):
        AppConfig.from_context({**defaults, "autoscaling_min_instances": "5"})


@pytest.mark.parametrize("count", ["1", "4"])
def test_autoscaled_endpoint_must_start_inside_its_range(defaults, count):
    context = {
        **defaults,
        "autoscaling_enabled": "true",
        "autoscaling_min_instances": "2",
        "autoscaling_max_instances": "3",
        "endpoint_instance_count": count,
    }
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context(context)
    assert str(raised.value) == (
        f"context 'endpoint_instance_count'={int(count)!r} is invalid: an autoscaled endpoint starts within "
        "autoscaling_min_instances..autoscaling_max_instances (2..3)"
    )
    # The same count is the fixed size of an endpoint that does not scale.
    assert AppConfig.from_context({**context, "autoscaling_enabled": "false"}).endpoint_instance_count == int(
        count
    )
