"""The synthesized workflow, stood up locally: moto (S3, IAM, Lambda, Step Functions) plus the endpoint emulator.

`local_workflow(...)` is a context manager: on exit (normal, error or Ctrl-C) the emulator stops, moto's
state is dropped, the Lambda seam is removed and every environment variable it set is restored.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from moto import mock_aws

from local_run.batch import BatchResult, BatchRunError, local_definition, run_batch
from local_run.endpoint_config import declared_data_capture
from local_run.lambda_runtime import InProcessFunction, environment_variables
from local_run.moto_lambda_seam import route_invocations
from local_run.moto_result_writer_seam import write_result_files
from local_run.sagemaker_emulator import CaptureWriter, Predictor, SageMakerRuntimeEmulator
from local_run.template import FunctionSpec, WorkflowTemplate

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
LAMBDA_RUNTIME = "python3.11"  # what moto records; the handlers run on this process's Python
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class LocalWorkflow:
    s3: Any
    sfn: Any
    bucket: str
    state_machine_arn: str
    emulator: SageMakerRuntimeEmulator
    capture: CaptureWriter | None  # None when the template's endpoint config captures nothing
    template: WorkflowTemplate
    functions: Mapping[str, InProcessFunction]  # by logical id, which is also the function's local name
    batch_state_machine_arn: str | None = None  # the template's batch state machine, when it has one

    def run_batch(self, prefix: str, *, timeout_s: float) -> BatchResult:
        """One execution of the batch state machine over s3://<bucket>/<prefix> (local_run.batch.run_batch)."""
        if self.batch_state_machine_arn is None:
            raise BatchRunError(f"{self.template.stack_name} has no batch state machine")
        return run_batch(
            self.sfn,
            self.s3,
            self.batch_state_machine_arn,
            bucket=self.bucket,
            prefix=prefix,
            timeout_s=timeout_s,
        )


@contextlib.contextmanager
def local_workflow(
    template: WorkflowTemplate,
    predictor: Predictor,
    *,
    bucket: str,
    handler_logs: TextIO,
) -> Iterator[LocalWorkflow]:
    """Create the bucket, the endpoint emulator, the template's functions and its state machine, locally."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=bucket)
        emulator = stack.enter_context(endpoint_emulator(template, predictor, s3, bucket))
        runtime_environment = {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.url,
        }
        batch = template.batch
        specs = {**template.functions, **(batch.functions if batch is not None else {})}
        functions = _create_functions(specs, runtime_environment, handler_logs)
        # moto runs executions on threads of its own, whose boto3 clients read os.environ name by name (urllib's
        # proxy lookup): a name an invocation removes mid-read is a KeyError there, and an execution failed with
        # `Exception`. So every function's variable stays defined for the whole run, an invocation only changes
        # values, and the names go when the run ends. A handler may thus see a sibling function's variables.
        stack.enter_context(
            environment_variables(
                {
                    name: value
                    for function in functions.values()
                    for name, value in function.environment.items()
                }
            )
        )
        for function in functions.values():
            stack.callback(function.unload)
        stack.enter_context(route_invocations({function.name: function for function in functions.values()}))
        stack.enter_context(write_result_files())
        sfn = boto3.client("stepfunctions", region_name=REGION)
        function_arns = {logical_id: function.arn for logical_id, function in functions.items()}
        definition = template.definition(function_arns, region=REGION, account_id=ACCOUNT_ID)
        state_machine_arn = sfn.create_state_machine(
            name=template.stack_name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{template.stack_name}-StateMachine",
        )["stateMachineArn"]
        batch_state_machine_arn = None
        if batch is not None:
            batch_definition = batch.definition(
                function_arns, region=REGION, account_id=ACCOUNT_ID, bucket=bucket
            )
            batch_state_machine_arn = sfn.create_state_machine(
                name=f"{template.stack_name}-Batch",
                definition=local_definition(batch_definition),
                roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{template.stack_name}-BatchStateMachine",
            )["stateMachineArn"]
        yield LocalWorkflow(
            s3=s3,
            sfn=sfn,
            bucket=bucket,
            state_machine_arn=state_machine_arn,
            emulator=emulator,
            capture=emulator.capture,
            template=template,
            functions=functions,
            batch_state_machine_arn=batch_state_machine_arn,
        )


def endpoint_emulator(
    template: WorkflowTemplate, predictor: Predictor, s3: Any, bucket: str
) -> SageMakerRuntimeEmulator:
    """The emulator of the endpoint the classifier calls, capturing into `bucket` as the template's endpoint config
    declares (none, when it declares no data capture)."""
    settings = declared_data_capture(template, bucket=bucket, region=REGION, account_id=ACCOUNT_ID)
    return SageMakerRuntimeEmulator(
        {template.endpoint_name: predictor},
        capture=CaptureWriter(s3, bucket, settings) if settings is not None else None,
        account_id=ACCOUNT_ID,
        region=REGION,
    )


def _create_functions(
    specs: Mapping[str, FunctionSpec], runtime_environment: Mapping[str, str], handler_logs: TextIO
) -> dict[str, InProcessFunction]:
    """Register each function with moto's Lambda (so the definition's ARNs exist) and build its runner."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    role_arn = boto3.client("iam", region_name=REGION).create_role(
        RoleName="local-run-lambda", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY)
    )["Role"]["Arn"]
    functions = {}
    for logical_id, spec in specs.items():
        arn = lambda_client.create_function(
            FunctionName=logical_id,
            Runtime=LAMBDA_RUNTIME,
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _zip_folder(spec.code_dir)},
            Environment={"Variables": dict(spec.environment)},
        )["FunctionArn"]
        functions[logical_id] = InProcessFunction(
            name=logical_id,
            arn=arn,
            code_dir=spec.code_dir,
            handler=spec.handler,
            environment={**runtime_environment, "AWS_LAMBDA_FUNCTION_NAME": logical_id, **spec.environment},
            log_stream=handler_logs,
        )
    return functions


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
