"""The training-job custom resource at its edges: every status and request type as the runtime parses it, the
attempt limit from both sides, the deadline at its bound, each malformed property. Each test here fails on a
mutant that survived the handler's other tests (mutation/README.md)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.model.test_training_job_handler import (
    NOW,
    STOP_AFTER_SECONDS,
    accuracy,
    described,
    event,
    expected_create_request,
    not_found,
    progress_at,
    properties,
)


def parsed(value):
    """`value` as a JSON decoder returns it: the Lambda runtime parses the event and botocore each response, so
    their strings are new objects, never the interned literals of the handler's code."""
    return json.loads(json.dumps(value))


def parsed_event(request_type, props, physical_id=None):
    return parsed(event(request_type, props, physical_id=physical_id))


def job(name, status, **extra):
    return described(name, parsed(status), **extra)


def base_name(handler):
    return handler.job_base_name(properties())


@pytest.mark.parametrize("request_type", ["Abort", "Zap"])
def test_a_request_type_other_than_the_three_is_refused_before_any_call(handler, sagemaker, request_type):
    # One sorts before "Create", one after "Update": only equality with each of the three may match.
    with pytest.raises(handler.MalformedProperties, match=f"unknown RequestType '{request_type}'"):
        handler.on_event(parsed_event(request_type, properties(), physical_id="sconesvision-x"), None)


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_parsed_create_or_update_is_recognised(handler, sagemaker, request_type):
    _, stubber = sagemaker
    name = base_name(handler)
    stubber.add_response("describe_training_job", job(name, "Completed"), {"TrainingJobName": name})

    request = parsed_event(request_type, properties(), physical_id="sconesvision-old")

    assert handler.on_event(request, None) == {"PhysicalResourceId": name}


def test_a_parsed_delete_of_a_stopped_job_is_complete(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    stubber.add_response("describe_training_job", job(name, "Stopped"), {"TrainingJobName": name})

    assert progress_at(handler, client, parsed_event("Delete", properties(), physical_id=name)) == {
        "IsComplete": True
    }


@pytest.mark.parametrize("status", ["Stopping", "Stopped", "Failed", "Completed"])
def test_delete_stops_only_an_in_progress_job(handler, sagemaker, status):
    _, stubber = sagemaker
    name = base_name(handler)
    stubber.add_response("describe_training_job", job(name, status), {"TrainingJobName": name})

    # No stop_training_job is queued: the Stubber fails the test if the handler calls it.
    assert handler.on_event(parsed_event("Delete", properties(), physical_id=name), None) == {
        "PhysicalResourceId": name
    }


def test_delete_of_a_job_that_never_existed_calls_nothing_more_and_is_complete(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    not_found(stubber, name)
    handler.on_event(parsed_event("Delete", properties(), physical_id=name), None)
    not_found(stubber, name)

    assert progress_at(handler, client, parsed_event("Delete", properties(), physical_id=name)) == {
        "IsComplete": True
    }


def test_a_parsed_in_progress_job_past_the_deadline_is_stopped(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    late = job(name, "InProgress", created=NOW - timedelta(seconds=3540))
    stubber.add_response("describe_training_job", late, {"TrainingJobName": name})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})

    # 3540 s is 59 whole minutes, and neither 60 nor 58 when divided by 59 or 61.
    with pytest.raises(handler.TrainingDeadlineExceeded, match="still running after 59 minutes, longer than"):
        progress_at(handler, client, parsed_event("Create", properties(), physical_id=name))


def test_a_job_exactly_at_the_deadline_is_left_running(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    on_time = job(name, "InProgress", created=NOW - timedelta(seconds=STOP_AFTER_SECONDS))
    stubber.add_response("describe_training_job", on_time, {"TrainingJobName": name})

    assert progress_at(handler, client, parsed_event("Create", properties(), physical_id=name)) == {
        "IsComplete": False
    }


def test_a_stopping_job_past_the_deadline_is_not_stopped_again(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    late = job(name, "Stopping", created=NOW - timedelta(seconds=STOP_AFTER_SECONDS + 60))
    stubber.add_response("describe_training_job", late, {"TrainingJobName": name})

    assert progress_at(handler, client, parsed_event("Create", properties(), physical_id=name)) == {
        "IsComplete": False
    }


def test_a_parsed_completed_job_returns_its_artifact(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    stubber.add_response("describe_training_job", job(name, "Completed"), {"TrainingJobName": name})

    result = progress_at(handler, client, parsed_event("Create", properties(), physical_id=name))

    assert result["Data"]["TrainingJobName"] == name


def test_a_stopped_job_fails_the_deploy_saying_it_was_stopped(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    stopped = job(name, "Stopped", secondary="Stopped", FailureReason="stopped by a user")
    stubber.add_response("describe_training_job", stopped, {"TrainingJobName": name})

    with pytest.raises(handler.TrainingJobFailed, match=r"stopped \(Stopped\): stopped by a user"):
        progress_at(handler, client, parsed_event("Create", properties(), physical_id=name))


def test_the_gate_reads_only_the_metric_named_exactly_validation_accuracy(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    # A later metric whose name merely starts with the gate's (it sorts after it) must not decide.
    other = {
        "MetricName": parsed("validation:accuracy:other"),
        "Value": 0.5,
        "Timestamp": NOW + timedelta(hours=1),
    }
    metrics = [{**accuracy(0.9), "MetricName": parsed("validation:accuracy")}, other]
    stubber.add_response(
        "describe_training_job",
        job(name, "Completed", FinalMetricDataList=metrics),
        {"TrainingJobName": name},
    )

    result = progress_at(handler, client, parsed_event("Create", properties(), physical_id=name))

    assert result["Data"]["ValidationAccuracy"] == "0.9"


def test_a_completed_job_with_no_metric_list_is_refused_by_the_gate(handler, sagemaker):
    client, stubber = sagemaker
    name = base_name(handler)
    completed = job(name, "Completed")
    del completed["FinalMetricDataList"]
    stubber.add_response("describe_training_job", completed, {"TrainingJobName": name})

    with pytest.raises(handler.ValidationAccuracyMissing, match="reported no validation:accuracy"):
        progress_at(handler, client, parsed_event("Create", properties(), physical_id=name))


@pytest.mark.parametrize(
    ("value", "bar", "shown"),
    [
        # Rounds down to two places: four are needed to show it is below 0.81.
        (0.8049, "0.81", "accuracy 0.8049 is below min_validation_accuracy 0.81"),
        # A bar of three places is shown with four, not rounded to 0.81 or 0.80.
        (0.8, "0.805", "accuracy 0.80 is below min_validation_accuracy 0.8050"),
    ],
)
def test_the_gate_message_shows_enough_places_to_tell_value_from_bar(handler, sagemaker, value, bar, shown):
    client, stubber = sagemaker
    name = base_name(handler)
    completed = job(name, "Completed", FinalMetricDataList=[accuracy(value)])
    stubber.add_response("describe_training_job", completed, {"TrainingJobName": name})

    with pytest.raises(handler.ValidationAccuracyTooLow, match=re.escape(shown)):
        progress_at(
            handler, client, parsed_event("Create", properties(MinValidationAccuracy=bar), physical_id=name)
        )


@pytest.mark.parametrize("bar", [None, ["0.8"], "high"])
def test_a_missing_or_malformed_bar_is_a_malformed_property(handler, sagemaker, bar):
    client, stubber = sagemaker
    name = base_name(handler)
    props = {key: value for key, value in properties(MinValidationAccuracy=bar).items() if value is not None}
    stubber.add_response("describe_training_job", job(name, "Completed"), {"TrainingJobName": name})

    with pytest.raises(handler.MalformedProperties, match="MinValidationAccuracy must be a number"):
        progress_at(handler, client, event("Create", props, physical_id=name))


@pytest.mark.parametrize("count", [None, ["1"], "one"])
def test_a_missing_or_malformed_integer_is_a_malformed_property(handler, count):
    props = {key: value for key, value in properties(InstanceCount=count).items() if value is not None}

    with pytest.raises(handler.MalformedProperties, match="InstanceCount must be an integer"):
        handler.training_job_request("sconesvision-x", props)


def test_a_missing_hashed_property_is_named(handler, sagemaker):
    props = {key: value for key, value in properties().items() if key != "OutputPath"}

    with pytest.raises(handler.MalformedProperties, match="missing resource properties: OutputPath$"):
        handler.on_event(event("Create", props), None)


def test_the_name_is_the_prefix_and_16_hex_digits_of_the_inputs_hash(handler):
    assert re.fullmatch(r"sconesvision-[0-9a-f]{16}", base_name(handler))


def test_the_name_does_not_depend_on_the_order_cloudformation_sends_a_map_in(handler):
    reordered = properties(
        Hyperparameters=dict(reversed(properties()["Hyperparameters"].items())),
        Channels=dict(reversed(properties()["Channels"].items())),
    )

    assert handler.job_base_name(reordered) == base_name(handler)


def test_the_ninth_attempt_name_is_still_tried(handler, sagemaker):
    _, stubber = sagemaker
    name = base_name(handler)
    for attempt in range(1, 9):
        taken = name if attempt == 1 else f"{name}-r{attempt}"
        stubber.add_response("describe_training_job", job(taken, "Failed"), {"TrainingJobName": taken})
    not_found(stubber, f"{name}-r9")
    stubber.add_response(
        "create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(f"{name}-r9")
    )

    assert handler.on_event(parsed_event("Create", properties()), None) == {
        "PhysicalResourceId": f"{name}-r9"
    }


def test_nine_unsuccessful_attempts_are_too_many_and_no_tenth_is_tried(handler, sagemaker):
    _, stubber = sagemaker
    name = base_name(handler)
    for attempt in range(1, 10):
        taken = name if attempt == 1 else f"{name}-r{attempt}"
        stubber.add_response("describe_training_job", job(taken, "Stopped"), {"TrainingJobName": taken})

    with pytest.raises(handler.TooManyAttempts, match=r"^9 training jobs for these inputs"):
        handler.on_event(parsed_event("Create", properties()), None)


def test_an_update_from_a_later_attempt_of_the_same_inputs_keeps_it(handler, sagemaker):
    name = f"{base_name(handler)}-r2"

    assert handler.on_event(parsed_event("Update", properties(), physical_id=name), None) == {
        "PhysicalResourceId": name
    }


def test_resource_not_found_means_no_such_job(handler, sagemaker):
    _, stubber = sagemaker
    name = base_name(handler)
    stubber.add_client_error(
        "describe_training_job",
        service_error_code=parsed("ResourceNotFound"),
        service_message="Training job not found",
        http_status_code=400,
        expected_params={"TrainingJobName": name},
    )
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name))

    assert handler.on_event(parsed_event("Create", properties()), None) == {"PhysicalResourceId": name}


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "1 validation error detected: TrainingJobName failed to satisfy constraint"),
        ("ThrottlingException", "Rate exceeded"),
        (
            "AccessDeniedException",
            "not authorized to perform sagemaker:DescribeTrainingJob, resource not found",
        ),
    ],
)
def test_other_describe_errors_are_raised_not_taken_for_a_missing_job(handler, sagemaker, code, message):
    _, stubber = sagemaker
    name = base_name(handler)
    stubber.add_client_error(
        "describe_training_job",
        service_error_code=parsed(code),
        service_message=message,
        http_status_code=400,
        expected_params={"TrainingJobName": name},
    )

    with pytest.raises(handler.ClientError, match=code):
        handler.on_event(parsed_event("Create", properties()), None)


@pytest.mark.parametrize(
    ("channels", "hyperparameters"),
    [
        (["train", "validation", "train_lst", "validation_lst"], properties()["Hyperparameters"]),
        (properties()["Channels"], ["epochs", "30"]),
    ],
)
def test_a_list_where_a_map_belongs_is_a_malformed_property(handler, channels, hyperparameters):
    props = properties(Channels=channels, Hyperparameters=hyperparameters)

    with pytest.raises(handler.MalformedProperties, match="must map"):
        handler.training_job_request("sconesvision-x", props)


def test_a_stop_after_of_one_second_is_accepted(handler):
    assert handler.load_stop_after_seconds({"STOP_AFTER_SECONDS": "1"}) == 1


def test_the_client_is_made_once_per_execution_environment(handler, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handler._sagemaker_client.cache_clear()
    try:
        assert handler._sagemaker_client() is handler._sagemaker_client()
    finally:
        handler._sagemaker_client.cache_clear()


@pytest.mark.parametrize(
    ("flag", "value"),
    # "yes" sorts after "true", "True" before it; a missing UseSpotTraining is a missing hashed property.
    [(flag, value) for flag in ("DatasetSynthetic", "UseSpotTraining") for value in ("yes", "True")]
    + [("DatasetSynthetic", None)],
)
def test_a_flag_other_than_true_or_false_is_refused_not_read_as_false(handler, sagemaker, flag, value):
    props = {key: text for key, text in properties(**{flag: value}).items() if text is not None}
    _, stubber = sagemaker
    if flag == "UseSpotTraining":
        not_found(stubber, handler.job_base_name(props))

    with pytest.raises(handler.MalformedProperties, match=f'{flag} must be "true" or "false", got {value!r}'):
        handler.on_event(parsed_event("Create", props), None)


def test_a_deleting_job_past_the_deadline_is_waited_on_not_stopped(handler, sagemaker):
    # Deleting is one of DescribeTrainingJob's statuses; it ends with the job gone ("does not exist").
    client, stubber = sagemaker
    name = base_name(handler)
    late = job(name, "Deleting", created=NOW - timedelta(seconds=STOP_AFTER_SECONDS + 60))
    stubber.add_response("describe_training_job", late, {"TrainingJobName": name})

    assert progress_at(handler, client, parsed_event("Update", properties(), physical_id=name)) == {
        "IsComplete": False
    }


def test_an_update_from_a_job_whose_name_sorts_first_starts_a_new_one(handler, sagemaker):
    _, stubber = sagemaker
    name = base_name(handler)
    not_found(stubber, name)
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name))

    old = parsed_event("Update", properties(), physical_id="sconesvision-0000000000000000")

    assert handler.on_event(old, None) == {"PhysicalResourceId": name}


def test_delete_targets_the_later_attempt_its_physical_id_names(handler, sagemaker):
    _, stubber = sagemaker
    name = f"{base_name(handler)}-r2"
    stubber.add_response("describe_training_job", job(name, "InProgress"), {"TrainingJobName": name})
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": name})

    handler.on_event(parsed_event("Delete", properties(), physical_id=name), None)


def test_a_channel_beyond_the_four_is_a_malformed_property(handler):
    props = properties(Channels={**properties()["Channels"], "test": "s3://bucket/dataset/test/"})

    with pytest.raises(handler.MalformedProperties, match="Channels must map exactly"):
        handler.training_job_request("sconesvision-x", props)


def test_a_parsed_validation_exception_for_an_unknown_job_means_no_such_job(handler, sagemaker):
    _, stubber = sagemaker
    name = base_name(handler)
    stubber.add_client_error(
        "describe_training_job",
        service_error_code=parsed("ValidationException"),
        service_message="Requested resource not found.",
        http_status_code=400,
        expected_params={"TrainingJobName": name},
    )
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name))

    assert handler.on_event(parsed_event("Create", properties()), None) == {"PhysicalResourceId": name}


def test_parsed_true_flags_are_read_as_true(handler, sagemaker):
    _, stubber = sagemaker
    spot = properties(UseSpotTraining="true")
    name = handler.job_base_name(spot)
    not_found(stubber, name)
    stubber.add_response(
        "create_training_job", {"TrainingJobArn": "arn"}, expected_create_request(name, spot=True)
    )
    handler.on_event(parsed_event("Create", spot), None)

    with pytest.raises(handler.DemoDatasetRefused):
        handler.on_event(parsed_event("Create", properties(DatasetSynthetic="true")), None)
