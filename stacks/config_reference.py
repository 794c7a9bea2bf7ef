"""docs/CONFIGURATION.md, generated from the settings' model, the algorithm's interface and cdk.json (COMMAND)."""

from __future__ import annotations

import json
from typing import Any

from stacks import algorithm, config

COMMAND = ".venv/bin/python -m stacks.config_reference > docs/CONFIGURATION.md"
# The checks of AppConfig._reject_contradictions and algorithm.validated_hyperparameters, as a reader needs them.
SETTING_RULES = (
    f"`workflow_type=EXPRESS` runs for at most {config.EXPRESS_MAX_MINUTES} minutes, so "
    f"`workflow_timeout_minutes` is at most {config.EXPRESS_MAX_MINUTES} with it.",
    "`endpoint_mode=serverless` needs `data_capture_enabled=false` (SageMaker captures nothing on serverless "
    "endpoints) and `autoscaling_enabled=false` (it scales itself).",
    "`autoscaling_min_instances` is at most `autoscaling_max_instances`; an autoscaled endpoint starts with "
    "`endpoint_instance_count` between them.",
    f"`batch_max_concurrency` is at most {config.BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE} per endpoint instance "
    "(`endpoint_instance_count`, or `autoscaling_max_instances` when autoscaled), or `serverless_max_concurrency` "
    "on a serverless endpoint.",
)
HYPERPARAMETER_RULES = (
    "`use_pretrained_model=1` takes `image_shape` 3,224,224 and `num_layers` 18, 34, 50, 101, 152 or 200.",
    "`resize` is required (the project trains on image content types) and at least the `image_shape`'s height "
    "and width.",
    "`lr_scheduler_factor` is used only together with `lr_scheduler_step`; `kv_store` only with "
    "`training_instance_count` above 1; `checkpoint_frequency` is at most `epochs`.",
)


def _code(value: Any) -> str:
    if value in ("", None):
        return "empty"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _refusal(**changes: Any) -> str:
    try:
        config.AppConfig.from_context({**config.cdk_json_context(), **changes})
    except config.ConfigError as error:
        return f"scones-vision: {error}"
    raise AssertionError(f"{changes} was accepted")


def reference() -> str:
    defaults = config.cdk_json_context()
    lines = [
        "# Configuration",
        "",
        f"<!-- Generated from stacks/config.py, stacks/algorithm.py and cdk.json by `{COMMAND}`; do not edit. -->",
        "",
        "Every setting lives in `cdk.json` under `context`, with its default. `-c key=value` overrides it; through",
        "make, pass the options in `CONTEXT`:",
        "",
        "```sh",
        'make synth CONTEXT="-c confidence_threshold=0.9 -c use_spot_training=true"',
        "```",
        "",
        "A JSON value goes in single quotes inside the double quotes, with its own double quotes escaped:",
        "",
        "```sh",
        """make synth CONTEXT="-c hyperparameter_overrides='{\\"epochs\\": 5}'\"""",
        "```",
        "",
        "The app reads the settings once into a frozen `stacks.config.AppConfig`. A bad value, an unknown key (a typo",
        "is not ignored; the CDK's own `@aws-cdk/...` and `aws:cdk:...` keys pass) or settings that contradict each",
        "other stop synth with one line:",
        "",
        "```",
        _refusal(confidence_threshold="1.7"),
        _refusal(confidence_treshold="0.9"),
        "```",
        "",
        "## Settings",
        "",
        _row("key", "default", "expected", "meaning"),
        _row("---", "---", "---", "---"),
    ]
    for name, field in config.AppConfig.model_fields.items():
        default = "see below" if name == "hyperparameters" else _code(defaults[name])
        lines.append(_row(f"`{name}`", default, config.expected(name), field.description or ""))
    lines += ["", "Settings that must agree:", "", *(f"- {rule}" for rule in SETTING_RULES)]
    lines += [
        "",
        "## Hyperparameters",
        "",
        f"The algorithm's, from its [reference]({algorithm.HYPERPARAMETERS_DOC}), rendered as it writes them. "
        "`num_classes` and",
        "`num_training_samples` come from the dataset manifest. An override of `null` removes a default.",
        "",
        _row("name", "allowed", "algorithm's default", "cdk.json"),
        _row("---", "---", "---", "---"),
    ]
    for name, spec in algorithm.HYPERPARAMETERS.items():
        in_cdk_json = _code(defaults["hyperparameters"].get(name)).replace("empty", "")
        algorithms_default = _code(spec.default).replace("empty", "none")
        lines.append(_row(f"`{name}`", spec.allowed, algorithms_default, in_cdk_json))
    lines += ["", "Hyperparameters that must agree:", ""]
    for name, (other, wanted) in algorithm.USED_ONLY_WHEN.items():
        lines.append(f"- `{name}` is used only when `{other}` is {' or '.join(wanted)}.")
    lines += [*(f"- {rule}" for rule in HYPERPARAMETER_RULES), "", "## Instance types", ""]
    lines += [
        f"Sizes from botocore's SageMaker service model in the families the [algorithm]({algorithm.ALGORITHM_DOC})",
        "runs on: training on GPU, serving and Batch Transform on x86 CPU or those GPUs.",
    ]
    for setting, families in (
        ("training_instance_type", algorithm.TRAINING_INSTANCE_TYPES),
        ("endpoint_instance_type", algorithm.ENDPOINT_INSTANCE_TYPES),
        ("transform_instance_type", algorithm.TRANSFORM_INSTANCE_TYPES),
    ):
        lines += ["", f"`{setting}`:", ""]
        lines += [f"- `ml.{family}`: {', '.join(sizes)}" for family, sizes in families.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
