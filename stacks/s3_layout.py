"""Where each kind of object lives in the project bucket (docs/CONTRACTS.md, "S3 layout")."""

DATASET_PREFIX = "dataset/"
# The four channels the built-in image-classification algorithm reads in its .lst ("image/lst") mode.
TRAIN_CHANNEL_PREFIX = "dataset/train/"
VALIDATION_CHANNEL_PREFIX = "dataset/validation/"
TRAIN_LST_CHANNEL_PREFIX = "dataset/train_lst/"
VALIDATION_LST_CHANNEL_PREFIX = "dataset/validation_lst/"
MODEL_ARTIFACTS_PREFIX = "model-artifacts/"
DATA_CAPTURE_PREFIX = "data_capture/"
# Batch Transform results: transform-results/<job name>/<input key relative to its prefix>.out
TRANSFORM_RESULTS_PREFIX = "transform-results/"
# A batch's ResultWriter files and summary: batch-results/<map run id>/{manifest.json, *.jsonl, summary.json}.
BATCH_RESULTS_PREFIX = "batch-results/"
# What the deploy and the app write; the intake prefix must stay clear of them (stacks/config.py).
APP_WRITTEN_PREFIXES = (
    DATASET_PREFIX,
    MODEL_ARTIFACTS_PREFIX,
    DATA_CAPTURE_PREFIX,
    TRANSFORM_RESULTS_PREFIX,
    BATCH_RESULTS_PREFIX,
)


def project_bucket_name(project_name: str, account: str, region: str) -> str:
    """The project bucket's name. The storage stack passes CloudFormation's account and region pseudo parameters;
    `make preflight` passes the caller's account and region to see whether the name is still free."""
    return f"{project_name.lower()}-{account}-{region}"
