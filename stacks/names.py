"""Names the deployed app and its tools agree on: stacks, their outputs, the filter's metrics (docs/CONTRACTS.md).

The stacks declare them, ops and local_run read them; the Lambda asset folders keep their own copies, held in line
by tests (tests/cdk/test_error_names.py does the same for error names).
"""

from __future__ import annotations

# cdk.json's project_name: the stacks are "<project_name>-<unit>", the metrics' namespace is project_name.
DEFAULT_PROJECT_NAME = "SconesVision"
STORAGE, MODEL, WORKFLOW, MONITORING = "Storage", "Model", "Workflow", "Monitoring"

# CfnOutput ids.
BUCKET_NAME_OUTPUT = "BucketName"
ENDPOINT_NAME_OUTPUT = "EndpointName"
MODEL_NAME_OUTPUT = "ModelName"
STATE_MACHINE_ARN_OUTPUT = "StateMachineArn"
BATCH_STATE_MACHINE_ARN_OUTPUT = "BatchStateMachineArn"
TRANSFORM_STATE_MACHINE_ARN_OUTPUT = "TransformStateMachineArn"
CONFIDENCE_THRESHOLD_OUTPUT = "ConfidenceThreshold"

# The events the single-image workflow publishes on the default bus, Source project_name (docs/CONTRACTS.md).
VEHICLE_CLASSIFIED_EVENT = "Vehicle classified"
NEEDS_REVIEW_EVENT = "Vehicle needs review"

# The filter's metrics (lambda_src/filter_inferences/app.py prints them as EMF).
TOP_CONFIDENCE_METRIC = "TopConfidence"
BELOW_THRESHOLD_METRIC = "BelowThreshold"
PREDICTED_CLASS_DIMENSION = "PredictedClass"
WORKFLOW_DIMENSION = "Workflow"
SINGLE_IMAGE_WORKFLOW, BATCH_WORKFLOW = "single", "batch"
# The input key the batch map sets to BATCH_WORKFLOW on each image; without it the filter counts "single".
WORKFLOW_INPUT_KEY = "workflow"


def stack_name(project_name: str, unit: str) -> str:
    """The deployed name of one of the app's stacks, e.g. stack_name("SconesVision", MODEL)."""
    return f"{project_name}-{unit}"


def model_package_group_name(project_name: str) -> str:
    """The model registry's group, e.g. "sconesvision-vehicles"; lower case, as SageMaker writes it in ARNs."""
    return f"{project_name.lower()}-vehicles"
