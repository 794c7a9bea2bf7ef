"""Deployment unit of the inference workflow: the Lambdas and the single-image, batch and transform state machines."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import names
from stacks.config import AppConfig
from stacks.constructs.batch_workflow import BatchClassification
from stacks.constructs.inference_chain import ChainEnd, InferenceChain
from stacks.constructs.intake import PhotoIntake
from stacks.constructs.state_machine import traced_state_machine
from stacks.constructs.transform_workflow import TransformStateMachine
from stacks.constructs.workflow_functions import InferenceFunctions
from stacks.nag import acknowledge_wildcards
from stacks.refs import EndpointRef, ModelRef


class WorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        endpoint: EndpointRef,
        model: ModelRef,
        class_names: Sequence[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.functions = InferenceFunctions(
            self, "Functions", config=config, bucket=bucket, endpoint=endpoint, class_names=class_names
        )
        single = Construct(self, "Workflow")
        chain = InferenceChain(
            single,
            "Chain",
            functions=self.functions,
            end=ChainEnd.FAIL_EXECUTION,
            event_source=config.project_name,
        )
        self.state_machine = traced_state_machine(
            single,
            config=config,
            definition=chain.definition,
            state_machine_type=sfn.StateMachineType[config.workflow_type],
            timeout=Duration.minutes(config.workflow_timeout_minutes),
            # Execution data holds the base64 image: it stays out of the logs, the history keeps it.
            include_execution_data=False,
        )
        acknowledge_wildcards(
            self.state_machine.role,
            reason="LambdaInvoke's generated policy: '<function arn>:*' is the function's versions and aliases; "
            "X-Ray and CloudWatch Logs delivery actions take no resource-level permissions.",
            resources=["*", *(f"{handler.function.function_arn}:*" for handler in self.functions.all)],
        )
        CfnOutput(self, names.STATE_MACHINE_ARN_OUTPUT, value=self.state_machine.state_machine_arn)
        if config.intake_prefix:
            PhotoIntake(
                self, "Intake", bucket=bucket, prefix=config.intake_prefix, state_machine=self.state_machine
            )
        batch = BatchClassification(self, "Batch", config=config, bucket=bucket, functions=self.functions)
        CfnOutput(
            self,
            names.BATCH_STATE_MACHINE_ARN_OUTPUT,
            value=batch.state_machine.state_machine_arn,
            description='Classifies every image under a prefix: input {"s3_bucket": ..., "prefix": ...}',
        )
        CfnOutput(
            self,
            names.CONFIDENCE_THRESHOLD_OUTPUT,
            value=repr(config.confidence_threshold),
            description="Executions whose top confidence is below this fail with ThresholdConfidenceNotMet",
        )
        transform = TransformStateMachine(
            self, "Transform", config=config, bucket=bucket, endpoint=endpoint, model=model
        )
        CfnOutput(
            self, names.TRANSFORM_STATE_MACHINE_ARN_OUTPUT, value=transform.state_machine.state_machine_arn
        )
