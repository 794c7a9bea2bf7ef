"""`python -m ops cost`: what each path costs per hour deployed and per 1,000 classifications.

Each path's formula is a pure function of counts, assumptions and a price table (ops/prices_us_east_1.json);
docs/COST.md writes every formula out so it can be redone with another region's prices. The counts (states per
execution, the Lambdas' memory, the batch's items per child) come from the synthesized Workflow template in
cdk.out/ when it is there, else from the documented defaults below, and the output says which.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ops.assembly import MANIFEST_FILE, CloudAssembly
from ops.errors import OpsError
from ops.settings import add_settings_options, app_config

PRICES_FILE = Path(__file__).resolve().with_name("prices_us_east_1.json")
HOURS_PER_MONTH = 730
PER = 1000
TARGET_BATCH_USD_PER_1000 = 0.01
GB_MB = 1024
KB_PER_GB = 1024 * 1024

# Assumptions, not measurements (no AWS account here): each is printed with the table and stated in docs/COST.md.
LAMBDA_SECONDS = {"SerializeImage": 0.100, "ClassifyImage": 0.150, "FilterInferences": 0.005}
LAMBDA_SECONDS_OTHER = 0.100
# Step Functions' own time per state of an Express execution, on top of the tasks it waits for.
EXPRESS_SECONDS_PER_STATE = 0.020
SUMMARY_SECONDS = 2.0
# ResultWriter writes manifest.json and one file per outcome, SUCCEEDED, FAILED and PENDING, at these sizes:
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
RESULT_WRITER_FILES = 4
# ListObjectsV2 returns at most 1,000 keys per request.
KEYS_PER_LIST = 1000
# A 32x32 PNG of the dataset is ~3 KB; the endpoint answers a JSON list of probabilities.
IMAGE_KB = 3.0
RESPONSE_KB = 0.1
# Pricing page, Express memory: "50 MB + state machine definition size + execution data size", in 64 MB chunks.
EXPRESS_BASE_MB = 50
EXPRESS_MEMORY_CHUNK_MB = 64
EXPRESS_DURATION_STEP_S = 0.1
# Lambda's default memory when a function's template omits MemorySize
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
LAMBDA_DEFAULT_MB = 128
# SageMaker Serverless Inference memory sizes
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html).
SERVERLESS_MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)


class PriceTableError(OpsError):
    """The price table lacks a price the costs need (an instance type, a unit price) or is malformed."""


@dataclass(frozen=True)
class Prices:
    """The price table's values, in USD per the unit each name says (ops/prices_us_east_1.json has the pages)."""

    region: str
    read_on: str
    stepfunctions_state_transition: float
    stepfunctions_express_request: float
    stepfunctions_express_gb_second: float
    lambda_request: float
    lambda_arm_gb_second: float
    s3_get_request: float
    s3_put_list_request: float
    sagemaker_serverless_gb_second: float
    sagemaker_data_processed_gb: float
    real_time_hourly: Mapping[str, float]
    transform_hourly: Mapping[str, float]

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> Prices:
        # The unit prices are the float fields (annotations are strings here: `from __future__ import annotations`).
        unit_names = [f.name for f in fields(cls) if f.type == "float"]
        try:
            table = json.loads(path.read_text())
            instances = table["sagemaker_instance_hourly"]
            return cls(
                region=table["region"],
                read_on=table["read_on"],
                **{name: float(table["unit_prices"][name]["usd"]) for name in unit_names},
                real_time_hourly={k: float(v) for k, v in instances["real_time_inference"].items()},
                transform_hourly={k: float(v) for k, v in instances["batch_transform"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PriceTableError(f"cannot read the price table {path}: {error!r}") from None

    def with_hourly(self, overrides: Mapping[str, float]) -> Prices:
        """The same table with `--price TYPE=USD_PER_HOUR` overrides, for real-time and transform alike."""
        return replace(
            self,
            real_time_hourly={**self.real_time_hourly, **overrides},
            transform_hourly={**self.transform_hourly, **overrides},
        )

    def hourly(self, table: Mapping[str, float], instance_type: str, purpose: str) -> float:
        if instance_type not in table:
            raise PriceTableError(
                f"no {self.region} {purpose} price for {instance_type} in {PRICES_FILE.name} (it has: "
                f"{', '.join(sorted(table))}); give it with --price {instance_type}=USD_PER_HOUR"
            )
        return table[instance_type]


# --- What the synthesized definitions say ------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaStep:
    state: str
    memory_mb: int


@dataclass(frozen=True)
class WorkflowShape:
    """One execution of a chain: the states it passes through and the Lambdas it invokes on the way."""

    states_per_execution: int
    lambda_steps: tuple[LambdaStep, ...]
    definition_kb: float


@dataclass(frozen=True)
class BatchShape:
    parent_states: int
    child: WorkflowShape
    items_per_child: int
    summary_steps: tuple[LambdaStep, ...]


# The workflow as stacks/workflow_stack.py builds it (serialize -> classify -> filter -> VehicleClassified), for
# when cdk.out/ has no Workflow template.
DEFAULT_SINGLE = WorkflowShape(
    states_per_execution=4,
    lambda_steps=(
        LambdaStep("SerializeImage", 256),
        LambdaStep("ClassifyImage", 256),
        LambdaStep("FilterInferences", 128),
    ),
    definition_kb=4.0,
)
# The batch contract (WAVE 2): a Distributed Map over the prefix whose EXPRESS children run the single-image chain,
# then a summary Lambda, then the end: 3 parent states, one image per child.
DEFAULT_BATCH = BatchShape(
    parent_states=3,
    child=DEFAULT_SINGLE,
    items_per_child=1,
    summary_steps=(LambdaStep("Summary", 256),),
)

_TOKEN = re.compile(r"\{ref:([A-Za-z0-9]+)\}")


def resolved_definition(definition_string: Any) -> tuple[dict[str, Any], int]:
    """A state machine's DefinitionString as a dict, each CloudFormation reference in it as `{ref:<LogicalId>}`,
    and the definition's size in bytes."""
    if isinstance(definition_string, str):
        text = definition_string
    elif isinstance(definition_string, dict) and "Fn::Join" in definition_string:
        separator, parts = definition_string["Fn::Join"]
        text = separator.join(part if isinstance(part, str) else _reference_token(part) for part in parts)
    else:
        raise PriceTableError(f"unexpected DefinitionString shape: {str(definition_string)[:80]}")
    return json.loads(text), len(text.encode())


def _reference_token(part: Any) -> str:
    if isinstance(part, dict):
        if "Fn::GetAtt" in part:
            return f"{{ref:{part['Fn::GetAtt'][0]}}}"
        if "Ref" in part:
            return f"{{ref:{part['Ref']}}}"
    return "{ref:unresolved}"


def success_path(machine: Mapping[str, Any]) -> list[str]:
    """The states one execution passes through when nothing fails: from StartAt along Next (a Choice by its
    Default) to a Succeed state or an End. A below-threshold image runs as many: its last state is a Fail."""
    states = machine["States"]
    path: list[str] = []
    name = machine["StartAt"]
    while name is not None and name not in path:
        path.append(name)
        state = states[name]
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            break
        name = state.get("Default") if state["Type"] == "Choice" else state.get("Next")
    return path


def _lambda_steps(
    machine: Mapping[str, Any], path: Sequence[str], resources: Mapping[str, Any]
) -> tuple[LambdaStep, ...]:
    steps = []
    for name in path:
        state = machine["States"][name]
        if state["Type"] != "Task":
            continue
        # A task either names the function as its Resource, or calls lambda:invoke with a FunctionName parameter.
        text = json.dumps([state.get("Resource"), state.get("Parameters", {}).get("FunctionName")])
        for logical_id in _TOKEN.findall(text):
            resource = resources.get(logical_id, {})
            if resource.get("Type") == "AWS::Lambda::Function":
                memory = resource.get("Properties", {}).get("MemorySize", LAMBDA_DEFAULT_MB)
                steps.append(LambdaStep(name, int(memory)))
                break
    return tuple(steps)


def _distributed_map(machine: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for name, state in machine["States"].items():
        processor = state.get("ItemProcessor", {})
        if state["Type"] == "Map" and processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            return name, state
    return None


def _per_image_processor(processor: Mapping[str, Any]) -> Mapping[str, Any]:
    """The states a child runs per image: its own, or, when the child is one inline Map over its batch's
    items (an ItemBatcher's child), that map's."""
    path = success_path(processor)
    only = processor["States"][path[0]] if len(path) == 1 else {}
    if (
        only.get("Type") == "Map"
        and only.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "INLINE"
    ):
        return only["ItemProcessor"]
    return processor


def workflow_shapes(template: Mapping[str, Any]) -> tuple[WorkflowShape | None, BatchShape | None]:
    """The single-image workflow (a state machine of Lambda tasks and no Map) and the batch workflow (one with a
    Distributed Map) of a synthesized Workflow template; None for either one it does not hold."""
    resources = template.get("Resources", {})
    single: WorkflowShape | None = None
    batch: BatchShape | None = None
    for resource in resources.values():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        machine, size = resolved_definition(resource["Properties"]["DefinitionString"])
        path = success_path(machine)
        found = _distributed_map(machine)
        if found is None:
            steps = _lambda_steps(machine, path, resources)
            if steps and single is None:
                single = WorkflowShape(len(path), steps, size / 1024)
            continue
        if batch is None:
            map_name, map_state = found
            processor = _per_image_processor(map_state["ItemProcessor"])
            child_path = success_path(processor)
            child = WorkflowShape(
                len(child_path),
                _lambda_steps(processor, child_path, resources),
                len(json.dumps(processor).encode()) / 1024,
            )
            batcher = map_state.get("ItemBatcher", {})
            batch = BatchShape(
                parent_states=len(path),
                child=child,
                items_per_child=int(batcher.get("MaxItemsPerBatch", 1)),
                summary_steps=_lambda_steps(machine, [n for n in path if n != map_name], resources),
            )
    return single, batch


# --- The formulas (per 1,000 images) -----------------------------------------------------------------------


@dataclass(frozen=True)
class PathCost:
    """A path's cost: per hour it stays deployed doing nothing, and per 1,000 classifications, by part."""

    path: str
    hourly: float
    parts: tuple[tuple[str, float], ...]
    # Every workflow path invokes the endpoint once per image; Batch Transform and the endpoints themselves do not.
    calls_endpoint: bool = True

    @property
    def per_1000(self) -> float:
        return sum(usd for _, usd in self.parts)


def lambda_seconds(state: str) -> float:
    return LAMBDA_SECONDS.get(state, LAMBDA_SECONDS_OTHER)


def lambda_parts(steps: Iterable[LambdaStep], invocations: float, prices: Prices) -> list[tuple[str, float]]:
    """Each step invoked `invocations` times: requests, and GB-seconds at the configured memory."""
    steps = tuple(steps)
    gb_seconds = sum(step.memory_mb / GB_MB * lambda_seconds(step.state) for step in steps)
    return [
        ("Lambda requests", invocations * len(steps) * prices.lambda_request),
        ("Lambda GB-seconds", invocations * gb_seconds * prices.lambda_arm_gb_second),
    ]


def express_billed_mb(definition_kb: float, data_kb: float) -> int:
    """Express memory per the pricing page: 50 MB + definition + execution data, billed in 64 MB chunks."""
    used_mb = EXPRESS_BASE_MB + (definition_kb + data_kb) / GB_MB
    return math.ceil(used_mb / EXPRESS_MEMORY_CHUNK_MB) * EXPRESS_MEMORY_CHUNK_MB


def express_billed_seconds(seconds: float) -> float:
    """Express duration, rounded up to the next 100 ms (rounded first to the ms so float noise cannot add a step)."""
    steps = math.ceil(round(seconds / EXPRESS_DURATION_STEP_S, 6))
    return steps * EXPRESS_DURATION_STEP_S


def express_execution_seconds(shape: WorkflowShape, items: int = 1) -> float:
    """One execution over `items` images, one after the other: its Lambdas plus Step Functions' time per state."""
    per_item = sum(lambda_seconds(step.state) for step in shape.lambda_steps)
    return items * (per_item + shape.states_per_execution * EXPRESS_SECONDS_PER_STATE)


def express_payload_kb(image_kb: float) -> float:
    """The state carries the image base64-encoded (4 bytes per 3) plus the probabilities."""
    return image_kb * 4 / 3 + RESPONSE_KB


def standard_single(shape: WorkflowShape, prices: Prices) -> PathCost:
    return PathCost(
        "single image, STANDARD workflow",
        0.0,
        (
            ("state transitions", PER * shape.states_per_execution * prices.stepfunctions_state_transition),
            *lambda_parts(shape.lambda_steps, PER, prices),
            ("S3 GET", PER * prices.s3_get_request),
        ),
    )


def express_single(shape: WorkflowShape, prices: Prices, *, image_kb: float = IMAGE_KB) -> PathCost:
    gb = express_billed_mb(shape.definition_kb, express_payload_kb(image_kb)) / GB_MB
    seconds = express_billed_seconds(express_execution_seconds(shape))
    return PathCost(
        "single image, EXPRESS workflow",
        0.0,
        (
            ("Express requests", PER * prices.stepfunctions_express_request),
            ("Express GB-seconds", PER * seconds * gb * prices.stepfunctions_express_gb_second),
            *lambda_parts(shape.lambda_steps, PER, prices),
            ("S3 GET", PER * prices.s3_get_request),
        ),
    )


def distributed_map(
    shape: BatchShape, prices: Prices, *, images: int, image_kb: float = IMAGE_KB
) -> PathCost:
    """One batch of `images` images, scaled to 1,000: the parent's transitions (one per child execution started,
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html), the EXPRESS children, the
    per-image Lambdas and S3 GETs, the ItemReader's LISTs, the ResultWriter's and the summary's PUTs."""
    children = math.ceil(images / shape.items_per_child)
    gb = (
        express_billed_mb(shape.child.definition_kb, shape.items_per_child * express_payload_kb(image_kb))
        / GB_MB
    )
    seconds = express_billed_seconds(express_execution_seconds(shape.child, shape.items_per_child))
    lists = math.ceil(images / KEYS_PER_LIST)
    scale = PER / images
    batch_parts = [
        ("state transitions", (shape.parent_states + children) * prices.stepfunctions_state_transition),
        ("Express requests", children * prices.stepfunctions_express_request),
        ("Express GB-seconds", children * seconds * gb * prices.stepfunctions_express_gb_second),
        *lambda_parts(shape.child.lambda_steps, images, prices),
        ("S3 GET", (images + RESULT_WRITER_FILES) * prices.s3_get_request),
        ("S3 LIST + PUT", (lists + RESULT_WRITER_FILES + 1) * prices.s3_put_list_request),
        (
            "summary Lambda",
            sum(
                prices.lambda_request + step.memory_mb / GB_MB * SUMMARY_SECONDS * prices.lambda_arm_gb_second
                for step in shape.summary_steps
            ),
        ),
    ]
    return PathCost(
        f"batch: Distributed Map, EXPRESS children, {shape.items_per_child} "
        f"image{'' if shape.items_per_child == 1 else 's'} each",
        0.0,
        tuple((name, usd * scale) for name, usd in batch_parts),
    )


def batch_transform(
    prices: Prices,
    *,
    images: int,
    instance_type: str,
    instance_count: int,
    images_per_second: float,
    startup_minutes: float,
) -> PathCost:
    """A transform job over `images` images, scaled to 1,000: each instance billed for the start-up minutes and
    its share of the images at `images_per_second`; one S3 GET per input and one PUT per `.out` output."""
    hourly = prices.hourly(prices.transform_hourly, instance_type, "Batch Transform")
    instance_hours = instance_count * startup_minutes / 60 + images / images_per_second / 3600
    lists = math.ceil(images / KEYS_PER_LIST)
    scale = PER / images
    return PathCost(
        f"Batch Transform ({instance_count} x {instance_type}, no endpoint)",
        0.0,
        (
            ("instance-hours", instance_hours * hourly * scale),
            ("S3 GET", images * prices.s3_get_request * scale),
            ("S3 LIST + PUT", (lists + images) * prices.s3_put_list_request * scale),
        ),
        calls_endpoint=False,
    )


def data_processed_per_1000(prices: Prices, *, image_kb: float = IMAGE_KB) -> float:
    return PER * (image_kb + RESPONSE_KB) / KB_PER_GB * prices.sagemaker_data_processed_gb


def real_time_endpoint(
    prices: Prices, *, instance_type: str, instance_count: int, per_day: int, image_kb: float = IMAGE_KB
) -> PathCost:
    """Instances bill every hour they exist; per 1,000, a day of them is shared by the day's classifications."""
    hourly = prices.hourly(prices.real_time_hourly, instance_type, "real-time inference") * instance_count
    return PathCost(
        f"endpoint, real-time ({instance_count} x {instance_type})",
        hourly,
        (
            (f"instance-hours shared by {per_day:,}/day", hourly * 24 * PER / per_day),
            ("data processed", data_processed_per_1000(prices, image_kb=image_kb)),
        ),
        calls_endpoint=False,
    )


def serverless_endpoint(
    prices: Prices, *, memory_mb: int, inference_seconds: float, image_kb: float = IMAGE_KB
) -> PathCost:
    """Billed per GB-second of inference at the configured memory, and per GB processed; nothing while idle
    (cold starts are not priced here)."""
    return PathCost(
        f"endpoint, serverless ({memory_mb} MB)",
        0.0,
        (
            (
                "inference GB-seconds",
                PER * inference_seconds * memory_mb / GB_MB * prices.sagemaker_serverless_gb_second,
            ),
            ("data processed", data_processed_per_1000(prices, image_kb=image_kb)),
        ),
        calls_endpoint=False,
    )


def items_per_child_within(
    shape: BatchShape, prices: Prices, *, images: int, target: float, most: int = 1000
) -> int | None:
    """The fewest images per child execution that bring the batch path to `target` per 1,000, if any does."""
    for items in range(1, most + 1):
        if distributed_map(replace(shape, items_per_child=items), prices, images=images).per_1000 <= target:
            return items
    return None


# --- The command -------------------------------------------------------------------------------------------


def register(
    commands: argparse._SubParsersAction,
    *,
    positive_int: Callable[[str], int],
) -> None:
    """Adds `cost` to `python -m ops`, with the CLI's own parser for counts."""
    cost = commands.add_parser(
        "cost",
        help="print what each path costs per hour deployed and per 1,000 classifications (offline)",
        description="Cost per hour deployed and per 1,000 classifications of each path, from the us-east-1 price "
        f"table {PRICES_FILE.name}, the settings and, when present, the synthesized templates. "
        "docs/COST.md has every formula.",
    )
    cost.add_argument(
        "--images", type=positive_int, default=1000, help="images in one batch (default: %(default)s)"
    )
    cost.add_argument(
        "--per-day",
        type=positive_int,
        default=10000,
        help="classifications a day sharing a real-time endpoint's hours (default: %(default)s)",
    )
    cost.add_argument(
        "--price",
        action="append",
        default=[],
        type=_hourly_price,
        metavar="TYPE=USD_PER_HOUR",
        help="an instance type's hourly price, for types the table lacks or another region (repeatable)",
    )
    cost.add_argument(
        "--transform-instance-type",
        help="Batch Transform instance type (default: the setting transform_instance_type)",
    )
    cost.add_argument(
        "--transform-images-per-second",
        type=_positive_float,
        default=20.0,
        help="images one transform instance classifies a second; an assumption (default: %(default)s)",
    )
    cost.add_argument(
        "--transform-startup-minutes",
        type=_non_negative_float,
        default=5.0,
        help="billed minutes per instance before the first image; an assumption (default: %(default)s)",
    )
    cost.add_argument(
        "--serverless-memory-mb",
        type=int,
        choices=SERVERLESS_MEMORY_SIZES_MB,
        help="serverless endpoint memory (default: the setting serverless_memory_mb)",
    )
    cost.add_argument(
        "--inference-seconds",
        type=_positive_float,
        default=0.1,
        help="model time per image on a serverless endpoint; an assumption (default: %(default)s)",
    )
    cost.add_argument(
        "--items-per-child",
        type=positive_int,
        help="images per child execution of the batch (default: the template's ItemBatcher, else 1)",
    )
    add_settings_options(
        cost,
        cdk_command="synth",
        cdk_out_use="the cloud assembly to read states and memory from, when present",
    )
    cost.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    config = app_config(args)
    prices = Prices.load().with_hourly(dict(args.price))
    single, batch, source = _shapes(args.cdk_out, config.project_name)
    if args.items_per_child:
        batch = replace(batch, items_per_child=args.items_per_child)
    transform_type = args.transform_instance_type or config.transform_instance_type
    costs = [
        standard_single(single, prices),
        express_single(single, prices),
        distributed_map(batch, prices, images=args.images),
        batch_transform(
            prices,
            images=args.images,
            instance_type=transform_type,
            instance_count=config.transform_instance_count,
            images_per_second=args.transform_images_per_second,
            startup_minutes=args.transform_startup_minutes,
        ),
    ]
    real_time = real_time_endpoint(
        prices,
        instance_type=config.endpoint_instance_type,
        instance_count=config.endpoint_instance_count,
        per_day=args.per_day,
    )
    serverless = serverless_endpoint(
        prices,
        memory_mb=args.serverless_memory_mb or config.serverless_memory_mb,
        inference_seconds=args.inference_seconds,
    )
    print(render(costs, real_time, serverless, prices=prices, images=args.images, source=source))
    print(render_target(costs[2], batch, prices, images=args.images))
    return 0


def _shapes(cdk_out: Path, project_name: str) -> tuple[WorkflowShape, BatchShape, str]:
    stack = f"{project_name}-Workflow"
    if not (cdk_out / MANIFEST_FILE).exists():
        return (
            DEFAULT_SINGLE,
            DEFAULT_BATCH,
            f"defaults (no {cdk_out}/: run `make synth` to read the templates)",
        )
    single, batch = workflow_shapes(CloudAssembly(cdk_out).template(stack))
    found = [name for name, shape in (("single image", single), ("batch", batch)) if shape]
    source = f"{cdk_out}/ {stack} ({', '.join(found) or 'no workflow found'}; defaults for the rest)"
    return single or DEFAULT_SINGLE, batch or replace(DEFAULT_BATCH, child=single or DEFAULT_SINGLE), source


def _usd(value: float, digits: int = 4) -> str:
    return f"${value:,.{digits}f}"


def render(
    costs: Sequence[PathCost],
    real_time: PathCost,
    serverless: PathCost,
    *,
    prices: Prices,
    images: int,
    source: str,
) -> str:
    """One row per path: per hour deployed, per 1,000 without endpoint hours, and with each endpoint option."""
    header = ("path", "per hour deployed", "per 1,000", "+ real-time endpoint", "+ serverless endpoint")
    rows = [
        (
            cost.path,
            _usd(cost.hourly),
            _usd(cost.per_1000),
            _usd(cost.per_1000 + real_time.per_1000) if cost.calls_endpoint else "no endpoint",
            _usd(cost.per_1000 + serverless.per_1000) if cost.calls_endpoint else "no endpoint",
        )
        for cost in costs
    ]
    rows += [
        (real_time.path, _usd(real_time.hourly), _usd(real_time.per_1000), "", ""),
        (serverless.path, _usd(serverless.hourly), _usd(serverless.per_1000), "", ""),
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"Cost per path in {prices.region} (USD, prices read {prices.read_on}: {PRICES_FILE.name}; "
        "formulas in docs/COST.md)",
        f"batch size {images:,} images; states and memory from {source}",
        "",
        *(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in [header, *rows]
        ),
        "",
        f"real-time endpoint: {_usd(real_time.hourly * HOURS_PER_MONTH, 2)} a month ({HOURS_PER_MONTH} h) while it "
        "exists, whatever the traffic",
        "",
        "per 1,000, by part:",
    ]
    for cost in [*costs, real_time, serverless]:
        lines.append(f"  {cost.path}")
        lines.extend(f"    {name:<40} {_usd(usd, 6):>10}" for name, usd in cost.parts)
    lines += [
        "",
        "assumptions (not measured): Lambda seconds "
        + ", ".join(f"{state} {seconds * 1000:.0f} ms" for state, seconds in LAMBDA_SECONDS.items())
        + f" (other Lambdas {LAMBDA_SECONDS_OTHER * 1000:.0f} ms, the batch summary {SUMMARY_SECONDS:.0f} s); "
        f"Express {EXPRESS_SECONDS_PER_STATE * 1000:.0f} ms per state; images of {IMAGE_KB:g} KB; no retries, "
        "no free tier; serverless cold starts not priced",
    ]
    return "\n".join(lines)


def render_target(batch_cost: PathCost, shape: BatchShape, prices: Prices, *, images: int) -> str:
    """Whether the batch path meets the one-cent target, and what would bring it there."""
    within = batch_cost.per_1000 <= TARGET_BATCH_USD_PER_1000
    verdict = "at or below" if within else "ABOVE"
    lines = [
        "",
        f"figure to beat: the batch path costs {_usd(batch_cost.per_1000)} per 1,000 images without endpoint "
        f"hours: {verdict} the target of {_usd(TARGET_BATCH_USD_PER_1000)}",
    ]
    if not within:
        largest, usd = max(batch_cost.parts, key=lambda part: part[1])
        needed = items_per_child_within(shape, prices, images=images, target=TARGET_BATCH_USD_PER_1000)
        lines.append(f"  its largest part: {largest} ({_usd(usd)} per 1,000)")
        if needed is not None:
            lines.append(
                f"  {needed} or more images per child execution (a Distributed Map ItemBatcher) bring it within "
                "(--items-per-child shows any count)"
            )
    return "\n".join(lines)


def _hourly_price(text: str) -> tuple[str, float]:
    instance_type, equals, value = text.partition("=")
    try:
        price = float(value)
    except ValueError:
        price = -1.0
    if not instance_type or not equals or not price >= 0:
        raise argparse.ArgumentTypeError(
            f"expected TYPE=USD_PER_HOUR such as ml.m5.large=0.115, got {text!r}"
        )
    return instance_type, price


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of zero or more, got {text!r}")
    return value
