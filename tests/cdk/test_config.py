"""Settings: cdk.json defaults parse, and every bad `-c key=value` fails synth with one line naming key and value."""

from __future__ import annotations

import pytest

from stacks.config import AppConfig, ConfigError, cdk_json_context


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
            "hyperparameters": '{"epochs": 5, "early_stopping": false}',
            "model_data_url": "s3://my-bucket/models/model.tar.gz",
        }
    )
    assert config.confidence_threshold == 0.8
    assert config.use_spot_training is True
    assert config.endpoint_instance_count == 2
    assert config.workflow_type == "EXPRESS"
    assert dict(config.hyperparameters) == {"early_stopping": "false", "epochs": "5"}
    assert config.model_data_url == "s3://my-bucket/models/model.tar.gz"


def test_hyperparameter_overrides_change_only_what_they_name(defaults):
    config = AppConfig.from_context(
        {**defaults, "hyperparameter_overrides": '{"epochs": 50, "momentum": 0.9}'}
    )
    expected = {**AppConfig.from_context(defaults).hyperparameters, "epochs": "50", "momentum": "0.9"}
    assert dict(config.training_hyperparameters) == expected
    assert config.hyperparameters["num_layers"] == config.training_hyperparameters["num_layers"] == "18"


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
        ("project_name", "scones vision", "letters, digits"),
    ],
)
def test_bad_value_names_key_value_and_what_is_allowed(defaults, key, value, allowed):
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context({**defaults, key: value})
    message = str(raised.value)
    assert f"'{key}'" in message and repr(value) in message and allowed in message


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
