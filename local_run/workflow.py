"""The synthesized workflow stood up in moto (S3, IAM, Lambda, Step Functions) with the endpoint emulator."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from moto import mock_aws

from local_run.lambda_runtime import InProcessFunction, environment_variables
from local_run.moto_seams import local_definition, patched_moto
from local_run.sagemaker_emulator import MAX_REQUEST_BYTES, CaptureWriter, Predictor, SageMakerRuntimeEmulator
from local_run.template import ACCOUNT_ID, REGION, WorkflowTemplate
from ops.batch import batch_summary, ended_badly, start_execution, wait_for_execution
from ops.errors import RunFailed
from stacks.names import NEEDS_REVIEW_EVENT, VEHICLE_CLASSIFIED_EVENT

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
# One ListObjectsV2 page: all moto 5.2.5's ItemReader reads (Step Functions reads every page).
MOTO_ITEM_READER_KEYS = 1000
POLL_S = 0.02


class BatchRunError(RunFailed):
    """The local batch execution did not cover its prefix; the message says how."""


@dataclass(frozen=True)
class BatchResult:
    summary: dict[str, Any]  # the batch state machine's output (docs/CONTRACTS.md, "Batch classification")
    seconds: float


@dataclass(frozen=True)
class LocalWorkflow:
    s3: Any
    sfn: Any
    bucket: str
    state_machine_arn: str
    batch_state_machine_arn: str | None
    emulator: SageMakerRuntimeEmulator
    sqs: Any
    events: Any
    outcome_queue_url: str  # a rule on the default bus sends it every outcome event (docs/CONTRACTS.md)

    def published_events(self) -> list[dict[str, Any]]:
        """The outcome events published since the last call, as EventBridge delivered them."""
        events = []
        while messages := self.sqs.receive_message(
            QueueUrl=self.outcome_queue_url, MaxNumberOfMessages=10
        ).get("Messages", []):
            events += [json.loads(message["Body"]) for message in messages]
            self.sqs.delete_message_batch(
                QueueUrl=self.outcome_queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return events

    def run_batch(self, prefix: str, *, timeout_s: float) -> BatchResult:
        """One execution of the batch state machine over s3://<bucket>/<prefix>, and its summary."""
        started = time.monotonic()
        arn = start_execution(
            self.sfn, self.batch_state_machine_arn, "batch", {"s3_bucket": self.bucket, "prefix": prefix}
        )
        execution = wait_for_execution(self.sfn, arn, timeout_s=timeout_s, poll_s=POLL_S)
        if execution["status"] != "SUCCEEDED":
            raise ended_badly(execution)
        summary = batch_summary(execution.get("output"))
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        listed = sum(page.get("KeyCount", 0) for page in pages)
        if summary["images"] != listed:
            raise BatchRunError(
                f"{arn} classified {summary['images']} of the {listed} objects under {prefix}: moto's ItemReader "
                f"lists only the first {MOTO_ITEM_READER_KEYS:,} keys of a prefix"
            )
        return BatchResult(summary, time.monotonic() - started)


@contextlib.contextmanager
def local_workflow(
    template: WorkflowTemplate, predictor: Predictor, *, bucket: str, handler_logs: TextIO
) -> Iterator[LocalWorkflow]:
    """The bucket, the endpoint emulator, the template's functions and state machines, in moto."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=bucket)
        capture = template.data_capture(bucket)
        emulator = stack.enter_context(
            SageMakerRuntimeEmulator(
                {template.endpoint_name: predictor},
                capture=CaptureWriter(s3, bucket, capture) if capture is not None else None,
                account_id=ACCOUNT_ID,
                region=REGION,
                max_request_bytes=MAX_REQUEST_BYTES[template.endpoint_mode],
            )
        )
        runtime = {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.url,
        }
        specs = {**template.functions, **(template.batch.functions if template.batch else {})}
        lambda_client = boto3.client("lambda", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="local-run-lambda", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY)
        )["Role"]["Arn"]
        functions = {}
        for logical_id, spec in specs.items():
            environment = {**runtime, "AWS_LAMBDA_FUNCTION_NAME": logical_id, **spec.environment}
            arn = lambda_client.create_function(
                FunctionName=logical_id,
                Runtime="python3.11",  # what moto records; the handlers run on this process's Python
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": b"PK"},  # moto only stores it; the handler runs from spec.code_dir
            )["FunctionArn"]
            functions[logical_id] = InProcessFunction(
                logical_id, arn, spec.code_dir, spec.handler, environment, handler_logs
            )
            stack.callback(functions[logical_id].unload)
        # moto's threads read os.environ name by name: a name an invocation removed mid-read failed an execution
        # with `Exception: 'AWS_REGION'`. So every function's variable stays set for the run; invocations change values.
        stack.enter_context(
            environment_variables(
                {name: value for f in functions.values() for name, value in f.environment.items()}
            )
        )
        stack.enter_context(patched_moto(functions))
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arns = {logical_id: function.arn for logical_id, function in functions.items()}

        def state_machine(name: str, definition: str) -> str:
            role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
            created = sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn)
            return created["stateMachineArn"]

        single_arn, batch_arn = state_machine(template.stack_name, template.definition(arns)), None
        if template.batch:
            batch_definition = local_definition(template.batch.definition(arns, bucket=bucket))
            batch_arn = state_machine(f"{template.stack_name}-Batch", batch_definition)
        serve_standin(template)
        sqs, events, queue_url = outcome_queue()
        yield LocalWorkflow(s3, sfn, bucket, single_arn, batch_arn, emulator, sqs, events, queue_url)


def serve_standin(template: WorkflowTemplate) -> None:
    """The endpoint, its config and model in moto's SageMaker, which the classifier describes for the events' model;
    the stand-in is no registered package, so its events say model_version null."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    model = template.served_model_name
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={"Image": "stand-in", "ModelDataUrl": "s3://stand-in/model.tar.gz"},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/stand-in",
    )
    variant = {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large"}
    config = f"{template.endpoint_name}-config"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config, ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sagemaker.create_endpoint(EndpointName=template.endpoint_name, EndpointConfigName=config)


def outcome_queue() -> tuple[Any, Any, str]:
    """An SQS queue a rule on moto's default bus fills with the outcome events, as a dispatch system would subscribe."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="local-run-outcomes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events", region_name=REGION)
    pattern = {"detail-type": [VEHICLE_CLASSIFIED_EVENT, NEEDS_REVIEW_EVENT]}
    events.put_rule(Name="local-run-outcomes", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="local-run-outcomes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return sqs, events, queue_url
