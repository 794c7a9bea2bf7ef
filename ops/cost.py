"""`make cost`: each path's cost per hour deployed and per 1,000 images, from a price table (docs/COST.md)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.assembly import MANIFEST_FILE, CloudAssembly, resolve
from ops.errors import OpsError
from ops.settings import app_config
from stacks import names

PRICES_FILE = Path(__file__).resolve().with_name("prices_us_east_1.json")
PER = 1000
HOURS_PER_MONTH = 730
# Assumptions, not measurements; printed under the table.
LAMBDA_SECONDS, SUMMARY_SECONDS = 0.1, 2.0
TRANSFORM_IMAGES_PER_SECOND, TRANSFORM_STARTUP_MINUTES = 20.0, 5.0
SERVERLESS_SECONDS = 0.1
IMAGE_KB = 3.1  # a 32x32 PNG and the endpoint's JSON answer
# Express bills 50 MB + definition + execution data in 64 MB chunks, duration in 100 ms steps:
# https://aws.amazon.com/step-functions/pricing/ (these executions stay within one chunk).
EXPRESS_GB, EXPRESS_STEP_S = 64 / 1024, 0.1
# A Distributed Map's ItemReader lists 1,000 keys a request; its ResultWriter writes manifest.json and 3 result
# files (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html), read by the summary.
KEYS_PER_LIST, RESULT_FILES = 1000, 4
# Memory of a Lambda without MemorySize: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
LAMBDA_DEFAULT_MB = 128


@dataclass(frozen=True)
class Shape:
    """What the synthesized Workflow stack says, or the defaults below."""

    source: str
    workflow_type: str
    single_states: int
    chain_mb: tuple[int, ...]
    batch_states: int
    items_per_child: int
    summary_mb: tuple[int, ...]
    transform_states: int


def default_shape(config) -> Shape:
    # The app as stacks/ builds it: serialize, classify, filter, publish the outcome event, succeed; check, map,
    # summary; check, name, describe endpoint, describe endpoint config, job.
    source = "defaults (no cdk.out/: `make synth` reads the app)"
    return Shape(
        source, config.workflow_type, 5, (256, 256, 128), 3, config.batch_images_per_child, (256,), 5
    )


def read_shape(assembly: CloudAssembly, stack: str) -> Shape:
    """States a classified image passes (every state but the Fail ones) and the Lambdas' memory, per machine."""
    template = assembly.template(stack)
    resources = template["Resources"]
    memory = {
        logical_id: resource["Properties"].get("MemorySize", LAMBDA_DEFAULT_MB)
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }

    def machine(output: str) -> tuple[dict, dict[str, Any], list[str]]:
        logical_id = template["Outputs"][output]["Value"]["Ref"]
        properties = resources[logical_id]["Properties"]
        text = resolve(properties["DefinitionString"], lambda key: key[0], region="", account_id="")
        lambdas = [name for name in memory if re.search(rf"\b{name}\b", text)]
        return properties, json.loads(text), lambdas

    def states(definition: dict) -> int:
        return sum(state["Type"] != "Fail" for state in definition["States"].values())

    def classified_path(definition: dict) -> int:
        """The states from StartAt along Next: the single-image machine also has the below-threshold branch."""
        count, name = 0, definition["StartAt"]
        while name is not None:
            count, name = count + 1, definition["States"][name].get("Next")
        return count

    single_properties, single, chain = machine(names.STATE_MACHINE_ARN_OUTPUT)
    _, batch, batch_lambdas = machine(names.BATCH_STATE_MACHINE_ARN_OUTPUT)
    batcher = next((s.get("ItemBatcher", {}) for s in batch["States"].values() if s["Type"] == "Map"), {})
    _, transform, _ = machine(names.TRANSFORM_STATE_MACHINE_ARN_OUTPUT)
    return Shape(
        f"{assembly.directory}/ {stack}",
        single_properties.get("StateMachineType", "STANDARD"),
        classified_path(single),
        tuple(memory[name] for name in chain),
        states(batch),
        int(batcher.get("MaxItemsPerBatch", 1)),
        tuple(memory[name] for name in batch_lambdas if name not in chain),
        states(transform),
    )


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    try:
        table = json.loads(path.read_text())
        prices = {name: float(entry["usd"]) for name, entry in table["unit_prices"].items()}
        return prices | {key: table[key] for key in ("sagemaker_instance_hourly", "region", "read_on")}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise OpsError(f"cannot read the price table {path}: {error!r}") from None


def hourly(prices, usage: str, instance_type: str) -> float:
    table = prices["sagemaker_instance_hourly"][usage]
    if instance_type not in table:
        raise OpsError(
            f"{PRICES_FILE.name} has no {usage} price for {instance_type}; it has {', '.join(table)}"
        )
    return table[instance_type]


def lambda_usd(prices, memory_mb, invocations: float, seconds: float = LAMBDA_SECONDS) -> float:
    per_call = sum(
        prices["lambda_request"] + mb / 1024 * seconds * prices["lambda_arm_gb_second"] for mb in memory_mb
    )
    return invocations * per_call


def express_usd(prices, seconds: float) -> float:
    billed_s = math.ceil(round(seconds / EXPRESS_STEP_S, 6)) * EXPRESS_STEP_S
    return (
        prices["stepfunctions_express_request"]
        + billed_s * EXPRESS_GB * prices["stepfunctions_express_gb_second"]
    )


def endpoint(prices, config, per_day: int) -> tuple[str, float, float]:
    """(what it is, per hour, per 1,000 images at `per_day` a day): a real-time endpoint bills every hour."""
    data = PER * IMAGE_KB / 1024**2 * prices["sagemaker_data_processed_gb"]
    if config.endpoint_mode == "serverless":
        gb_seconds = PER * SERVERLESS_SECONDS * config.serverless_memory_mb / 1024
        return (
            f"serverless, {config.serverless_memory_mb} MB",
            0.0,
            gb_seconds * prices["sagemaker_serverless_gb_second"] + data,
        )
    count, kind = config.endpoint_instance_count, config.endpoint_instance_type
    per_hour = count * hourly(prices, "real_time_inference", kind)
    return f"real-time, {count} x {kind}", per_hour, per_hour * 24 * PER / per_day + data


PARTS = ("Step Fns", "Lambda", "S3", "compute")


def paths(
    shape: Shape, prices, config, *, images: int, per_day: int
) -> list[tuple[str, float, tuple[float, ...]]]:
    """(path, per hour deployed, USD per 1,000 images for each of PARTS); compute is the endpoint or instances."""
    _, endpoint_hourly, endpoint_per_1000 = endpoint(prices, config, per_day)
    chain_seconds = LAMBDA_SECONDS * len(shape.chain_mb)
    transition = prices["stepfunctions_state_transition"]
    if shape.workflow_type == "EXPRESS":
        single_sfn = PER * express_usd(prices, chain_seconds)
    else:
        single_sfn = PER * shape.single_states * transition
    single = (single_sfn, lambda_usd(prices, shape.chain_mb, PER), PER * prices["s3_get_request"])
    single += (endpoint_per_1000,)
    children, lists = math.ceil(images / shape.items_per_child), math.ceil(images / KEYS_PER_LIST)
    batch_usd = (
        # One transition per child execution started, on top of the parent's own states:
        # https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html
        (shape.batch_states + children) * transition
        + children * express_usd(prices, shape.items_per_child * chain_seconds),
        lambda_usd(prices, shape.chain_mb, images) + lambda_usd(prices, shape.summary_mb, 1, SUMMARY_SECONDS),
        (images + RESULT_FILES) * prices["s3_get_request"]
        + (lists + RESULT_FILES + 1) * prices["s3_put_list_request"],
    )
    batch = (*(usd * PER / images for usd in batch_usd), endpoint_per_1000)
    count, transform_type = config.transform_instance_count, config.transform_instance_type
    instance_hours = count * TRANSFORM_STARTUP_MINUTES / 60 + images / TRANSFORM_IMAGES_PER_SECOND / 3600
    transform = (
        shape.transform_states * transition,
        0.0,
        images * prices["s3_get_request"] + (images + lists) * prices["s3_put_list_request"],
        instance_hours * hourly(prices, "batch_transform", transform_type),
    )
    return [
        (f"single image, {shape.workflow_type} workflow", endpoint_hourly, single),
        (f"batch, {shape.items_per_child} images a child", endpoint_hourly, batch),
        (f"Batch Transform, {count} x {transform_type}", 0.0, tuple(usd * PER / images for usd in transform)),
    ]


def render(shape: Shape, prices, config, *, images: int, per_day: int) -> str:
    kind, endpoint_hourly, _ = endpoint(prices, config, per_day)
    row = "{:<34}{:>10}{:>11}{:>10}{:>9}{:>9}{:>10}"
    lines = [
        f"Cost in {prices['region']} (USD, on-demand prices read {prices['read_on']}; docs/COST.md)",
        f"the app as read from {shape.source}",
        "",
        row.format("path", "per hour", "per 1,000", *PARTS),
    ]
    for path, per_hour, parts in paths(shape, prices, config, images=images, per_day=per_day):
        lines.append(
            row.format(path, f"${per_hour:.4f}", f"${sum(parts):.4f}", *(f"${usd:.4f}" for usd in parts))
        )
    lines += [
        "",
        f"compute: the endpoint ({kind}), ${endpoint_hourly:.4f} an hour, "
        f"${endpoint_hourly * HOURS_PER_MONTH:.2f} a month, any traffic,",
        f"  shared by {per_day:,} images a day (--per-day); Batch Transform's instances, billed only during a job.",
        f"batch and transform: one batch of {images:,} images (--images). Assumed, not measured: a Lambda runs",
        f"  {LAMBDA_SECONDS:g} s, the batch summary {SUMMARY_SECONDS:g} s; a transform instance starts in "
        f"{TRANSFORM_STARTUP_MINUTES:g} min, then {TRANSFORM_IMAGES_PER_SECOND:g} images/s;",
        f"  a serverless inference takes {SERVERLESS_SECONDS:g} s. No retries, no free tier.",
    ]
    return "\n".join(lines)


def command(args) -> int:
    config = app_config(args)
    stack = names.stack_name(config.project_name, names.WORKFLOW)
    if (args.cdk_out / MANIFEST_FILE).exists():
        shape = read_shape(CloudAssembly(args.cdk_out), stack)
    else:
        shape = default_shape(config)
    print(render(shape, load_prices(), config, images=args.images, per_day=args.per_day))
    return 0
