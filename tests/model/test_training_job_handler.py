"""The training-job custom resource's handlers against a stubbed SageMaker client (exact requests asserted)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

BUCKET = "project-bucket"
ROLE_ARN = "arn:aws:iam::123456789012:role/Model-TrainingExecutionRole"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STOP_AFTER_SECONDS = 3000


def properties(**changes):
    """What CloudFormation sends: every scalar as a string, as stacks/constructs/training_job.py declares it."""
    base = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "JobNamePrefix": "sconesvision",
        "TrainingImage": IMAGE,
        "RoleArn": ROLE_ARN,
        "DatasetContentHash": "ab" * 32,
        "DatasetSynthetic": "false",
        "Hyperparameters": {"epochs": "30", "num_classes": "2", "num_training_samples": "1000"},
        "Channels": {
            name: f"s3://{BUCKET}/dataset/{name}/"
            for name in ("train", "validation", "train_lst", "validation_lst")
        },
        "OutputPath": f"s3://{BUCKET}/model-artifacts/",
        "InstanceType": "ml.g4dn.xlarge",
        "InstanceCount": "1",
        "VolumeSizeGb": "30",
        "UseSpotTraining": "false",
        "MaxRuntimeSeconds": "2400",
        "MaxWaitSeconds": "2400",
        "MinValidationAccuracy": "0.8",
    }
    return {**base, **changes}


def event(request_type, props, physical_id=None, old_props=None):
    body = {"RequestType": request_type, "ResourceProperties": props, "LogicalResourceId": "Training"}
    if physical_id is not None:
        body["PhysicalResourceId"] = physical_id
    if old_props is not None:
        body["OldResourceProperties"] = old_props
    return body


def accuracy(value, minutes_after=30):
    """One FinalMetricDataList entry of the algorithm's metric, emitted `minutes_after` the job was created."""
    return {
        "MetricName": "validation:accuracy",
        "Value": value,
        "Timestamp": NOW + timedelta(minutes=minutes_after),
    }


def described(name, status, *, secondary="Training", created=NOW - timedelta(minutes=5), **extra):
    if status == "Completed":
        extra.setdefault("FinalMetricDataList", [accuracy(0.86)])
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/model-artifacts/{name}/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 2400},
        "CreationTime": created,
        **extra,
    }


def not_found(stubber, name):
    stubber.add_client_error(
        "describe_training_job",
        service_error_code="ValidationException",
        service_message="Requested resource not found.",
        http_status_code=400,
        expected_params={"TrainingJobName": name},
    )


def expected_create_request(name, *, spot=False):
    stopping = {"MaxRuntimeInSeconds": 2400, **({"MaxWaitTimeInSeconds": 2400} if spot else {})}
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE_ARN,
        "HyperParameters": {"epochs": "30", "num_classes": "2", "num_training_samples": "1000"},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/dataset/{channel}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/x-image",
                "CompressionType": "None",
            }
            for channel in ("train", "validation", "train_lst", "validation_lst")
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/model-artifacts/"},
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spot,
    }


@pytest.fixture(autouse=True)
def is_complete_environment(monkeypatch):
    """The IsComplete function's environment, as stacks/constructs/training_job.py sets it."""
    monkeypatch.setenv("STOP_AFTER_SECONDS", str(STOP_AFTER_SECONDS))


def progress_at(handler, client, request, now=NOW):
    """isComplete at a fixed time, so the job's age is the test's to choose."""
    return handler.completion(request, client, now=now, stop_after_seconds=STOP_AFTER_SECONDS)


def test_job_name_is_a_valid_deterministic_sagemaker_name(handler):
    name = handler.job_base_name(properties())
    assert name == handler.job_base_name(properties())
    assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
    assert name.startswith("sconesvision-")
    # Each input that shapes the model changes the name; the role does not.
    for change in (
        {"DatasetContentHash": "cd" * 32},
        {"Hyperparameters": {"epochs": "31", "num_classes": "2", "num_training_samples": "1000"}},
        {"TrainingImage": IMAGE.replace("us-east-1", "eu-west-1")},
        {"InstanceType": "ml.p3.2xlarge"},
        {"UseSpotTraining": "true"},
    ):
        assert handler.job_base_name(properties(**change)) != name, change
    assert handler.job_base_name(properties(RoleArn=ROLE_ARN + "2")) == name


def test_create_starts_the_job_with_the_exact_request(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    not_found(stubber, name)
    stubber.add_response(
        "create_training_job",
        {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"},
        expected_create_request(name),
    )
    assert handler.on_event(event("Create", properties()), None) == {"PhysicalResourceId": name}


def test_create_with_spot_sets_the_wait_time(handler, sagemaker):
    _, stubber = sagemaker
    props = properties(UseSpotTraining="true")
    name = handler.job_base_name(props)
    not_found(stubber, name)
    stubber.add_response(
        "create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name, spot=True)
    )
    handler.on_event(event("Create", props), None)


def test_create_adopts_a_completed_job_with_the_same_inputs(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "Completed"), {"TrainingJobName": name})
    assert handler.on_event(event("Create", properties()), None) == {"PhysicalResourceId": name}


def test_create_after_a_failed_job_uses_the_next_attempt_name(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "Failed"), {"TrainingJobName": name})
    not_found(stubber, f"{name}-r2")
    stubber.add_response(
        "create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(f"{name}-r2")
    )
    assert handler.on_event(event("Create", properties()), None) == {"PhysicalResourceId": f"{name}-r2"}


def test_create_refuses_the_demo_dataset(handler, sagemaker):
    with pytest.raises(handler.DemoDatasetRefused, match="make data"):
        handler.on_event(event("Create", properties(DatasetSynthetic="true")), None)


def test_update_with_unchanged_inputs_keeps_the_job(handler, sagemaker):
    name = handler.job_base_name(properties())
    # Only the role changed: no SageMaker call at all, same physical id, so no retraining and no Delete.
    update = event("Update", properties(RoleArn=ROLE_ARN + "2"), physical_id=name, old_props=properties())
    assert handler.on_event(update, None) == {"PhysicalResourceId": name}


def test_update_with_a_changed_hyperparameter_starts_a_new_job(handler, sagemaker):
    _, stubber = sagemaker
    old_name = handler.job_base_name(properties())
    changed = properties(Hyperparameters={"epochs": "40", "num_classes": "2", "num_training_samples": "1000"})
    new_name = handler.job_base_name(changed)
    not_found(stubber, new_name)
    request = expected_create_request(new_name)
    request["HyperParameters"]["epochs"] = "40"
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"}, request)
    update = event("Update", changed, physical_id=old_name, old_props=properties())
    assert handler.on_event(update, None) == {"PhysicalResourceId": new_name}


def test_delete_while_running_stops_the_job_and_waits_for_it(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "InProgress"), {"TrainingJobName": name})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})
    assert handler.on_event(event("Delete", properties(), physical_id=name), None) == {
        "PhysicalResourceId": name
    }
    stubber.add_response("describe_training_job", described(name, "Stopping"), {"TrainingJobName": name})
    assert handler.is_complete(event("Delete", properties(), physical_id=name), None) == {"IsComplete": False}
    stubber.add_response("describe_training_job", described(name, "Stopped"), {"TrainingJobName": name})
    assert handler.is_complete(event("Delete", properties(), physical_id=name), None) == {"IsComplete": True}


def test_delete_of_a_finished_job_leaves_it_alone(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "Completed"), {"TrainingJobName": name})
    handler.on_event(event("Delete", properties(), physical_id=name), None)
    stubber.add_response("describe_training_job", described(name, "Completed"), {"TrainingJobName": name})
    assert handler.is_complete(event("Delete", properties(), physical_id=name), None) == {"IsComplete": True}


def test_delete_with_an_invented_physical_id_stops_the_job_named_by_the_properties(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "InProgress"), {"TrainingJobName": name})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})
    handler.on_event(event("Delete", properties(), physical_id="Model-Training1DBE9C16-ABCDEF"), None)


def test_in_progress_job_is_not_complete(handler, sagemaker):
    client, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "InProgress"), {"TrainingJobName": name})
    result = progress_at(handler, client, event("Create", properties(), physical_id=name))
    assert result == {"IsComplete": False}


def test_completed_job_returns_the_artifact(handler, sagemaker):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    stubber.add_response("describe_training_job", described(name, "Completed"), {"TrainingJobName": name})
    result = handler.is_complete(event("Create", properties(), physical_id=name), None)
    assert result == {
        "IsComplete": True,
        "Data": {
            "ModelArtifactUrl": f"s3://{BUCKET}/model-artifacts/{name}/output/model.tar.gz",
            "ModelArtifactKey": f"model-artifacts/{name}/output/model.tar.gz",
            "TrainingJobName": name,
            "ValidationAccuracy": "0.86",
        },
    }


def completed_with(handler, stubber, metrics, **changes):
    name = handler.job_base_name(properties())
    job = described(name, "Completed", FinalMetricDataList=metrics)
    stubber.add_response("describe_training_job", job, {"TrainingJobName": name})
    return name, event("Update", properties(**changes), physical_id=name)


def test_gate_passes_a_job_at_the_bar(handler, sagemaker):
    client, stubber = sagemaker
    _, request = completed_with(handler, stubber, [accuracy(0.8)])
    assert progress_at(handler, client, request)["Data"]["ValidationAccuracy"] == "0.8"


def test_gate_refuses_a_job_below_the_bar_naming_value_bar_and_job(handler, sagemaker):
    client, stubber = sagemaker
    name, request = completed_with(handler, stubber, [accuracy(0.74)])
    expected = (
        f"validation accuracy 0.74 is below min_validation_accuracy 0.80 (job {name}); it is not served"
    )
    with pytest.raises(handler.ValidationAccuracyTooLow, match=re.escape(expected)) as refused:
        progress_at(handler, client, request)
    assert "-c model_version=N" in str(refused.value)


def test_a_new_bar_re_checks_the_same_job(handler, sagemaker):
    # An Update that only raises the bar keeps the job (the bar is not hashed) and is_complete judges it anew.
    client, stubber = sagemaker
    assert handler.job_base_name(properties()) == handler.job_base_name(
        properties(MinValidationAccuracy="0.9")
    )
    _, request = completed_with(handler, stubber, [accuracy(0.86)], MinValidationAccuracy="0.9")
    with pytest.raises(handler.ValidationAccuracyTooLow, match="0.86 is below min_validation_accuracy 0.90"):
        progress_at(handler, client, request)


def test_gate_refuses_a_job_without_the_metric(handler, sagemaker):
    client, stubber = sagemaker
    loss = {"MetricName": "train:accuracy", "Value": 0.99, "Timestamp": NOW}
    name, request = completed_with(handler, stubber, [loss])
    with pytest.raises(
        handler.ValidationAccuracyMissing, match=f"job {name} reported no validation:accuracy"
    ):
        progress_at(handler, client, request)


def test_gate_reads_the_latest_of_several_values(handler, sagemaker):
    client, stubber = sagemaker
    # Listed out of order: the latest (0.77) decides, not the first (0.9) nor the best.
    metrics = [
        accuracy(0.9, minutes_after=10),
        accuracy(0.77, minutes_after=40),
        accuracy(0.85, minutes_after=20),
    ]
    _, request = completed_with(handler, stubber, metrics)
    with pytest.raises(handler.ValidationAccuracyTooLow, match="validation accuracy 0.77 is below"):
        progress_at(handler, client, request)


def test_gate_does_not_round_a_value_just_below_the_bar_up_to_it(handler, sagemaker):
    client, stubber = sagemaker
    _, request = completed_with(handler, stubber, [accuracy(0.7995)])
    with pytest.raises(
        handler.ValidationAccuracyTooLow, match="accuracy 0.7995 is below min_validation_accuracy 0.80"
    ):
        progress_at(handler, client, request)


def test_failed_job_fails_the_deploy_with_its_failure_reason(handler, sagemaker):
    client, stubber = sagemaker
    name = handler.job_base_name(properties())
    reason = "ClientError: Number of classes in the data (3) does not match num_classes (2)"
    failed = described(name, "Failed", secondary="Failed", FailureReason=reason)
    stubber.add_response("describe_training_job", failed, {"TrainingJobName": name})
    with pytest.raises(handler.TrainingJobFailed, match=r"failed \(Failed\): ClientError: Number of classes"):
        progress_at(handler, client, event("Update", properties(), physical_id=name))


def test_job_running_past_the_deploy_window_is_stopped(handler, sagemaker):
    client, stubber = sagemaker
    name = handler.job_base_name(properties())
    late = described(name, "InProgress", created=NOW - timedelta(seconds=STOP_AFTER_SECONDS + 60))
    stubber.add_response("describe_training_job", late, {"TrainingJobName": name})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})
    with pytest.raises(handler.TrainingDeadlineExceeded, match="it was stopped"):
        progress_at(handler, client, event("Create", properties(), physical_id=name))


def test_malformed_channels_are_rejected_before_any_job_starts(handler, sagemaker):
    _, stubber = sagemaker
    props = properties(Channels={"train": f"s3://{BUCKET}/dataset/train/"})
    not_found(stubber, handler.job_base_name(props))
    with pytest.raises(handler.MalformedProperties, match="Channels must map exactly"):
        handler.on_event(event("Create", props), None)


def test_hyperparameters_pass_through_exactly_as_the_stack_rendered_them(handler, sagemaker):
    # The handler checks only that each value is text (CloudFormation sends every scalar as a string); how a
    # value reads ("True", "1", "0.001") is the stack's business, and SageMaker gets it unchanged.
    _, stubber = sagemaker
    hyperparameters = {
        "use_pretrained_model": "True",
        "augmentation_type": "crop_color_transform",
        "early_stopping": "False",
        "learning_rate": "0.001",
        "num_classes": "2",
    }
    props = properties(Hyperparameters=hyperparameters)
    name = handler.job_base_name(props)
    not_found(stubber, name)
    stubber.add_response(
        "create_training_job",
        {"TrainingJobArn": "arn"},
        {**expected_create_request(name), "HyperParameters": hyperparameters},
    )

    handler.on_event(event("Create", props), None)


def test_non_text_hyperparameters_are_malformed_properties(handler, sagemaker):
    _, stubber = sagemaker
    props = properties(Hyperparameters={"epochs": 30})
    not_found(stubber, handler.job_base_name(props))

    with pytest.raises(handler.MalformedProperties, match="Hyperparameters must map names to strings"):
        handler.on_event(event("Create", props), None)


def test_each_step_is_logged_as_fields_on_the_handler_logger(handler, sagemaker, caplog):
    _, stubber = sagemaker
    name = handler.job_base_name(properties())
    not_found(stubber, name)
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name))
    caplog.set_level(logging.INFO, logger="training_job")

    handler.on_event(event("Create", properties()), None)

    [record] = [record for record in caplog.records if record.name == "training_job"]
    # Lambda's JSON log format prints the message and each extra field as top-level keys.
    assert (record.levelname, record.getMessage(), record.job) == ("INFO", "created training job", name)


@pytest.mark.parametrize("value", ["", "soon", "-5", "0", "1.5", "²"])
def test_a_bad_stop_after_seconds_is_a_configuration_error(handler, sagemaker, monkeypatch, value):
    monkeypatch.setenv("STOP_AFTER_SECONDS", value)

    expected = f"STOP_AFTER_SECONDS must be a positive whole number, got {value!r}"
    with pytest.raises(handler.ConfigurationError, match=re.escape(expected)):
        handler.is_complete(event("Create", properties(), physical_id="sconesvision-x"), None)
