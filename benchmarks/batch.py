"""The batch path's local cost per image next to the single-image path's, over growing prefixes.

Run from the repository root:  python -m benchmarks.batch [--sizes 100 1000] [--paths single batch]

Both paths run the synthesized state machines in moto, with the three handlers in-process and the endpoint
emulator on 127.0.0.1, as `make demo` does; the model is a fixed function of the image bytes (the benchmark
measures the orchestration, not a model). The single-image path runs one execution per image, one after the
other; the batch path one execution of the Distributed Map over the prefix. Each (path, size) runs in its own
process, so its peak resident memory (ru_maxrss) is its own. It prints seconds per image and peak memory for
each, and the ratios: batch / single per image at each size, and each path's per-image time and peak memory at
the largest size against the smallest (flat per image is 1.0). moto's ItemReader reads at most 1,000 keys of a
prefix (local_run/workflow.py), so the batch path runs locally up to 1,000 images; the single-image path takes any
size (`--paths single --sizes 5000`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "dataset/validation/bench/"
BUCKET = "scones-vision-bench"
DEFAULT_SIZES = (100, 1000)
TIMEOUT_S = 24 * 3600


def generated_png(index: int) -> bytes:
    """A small, valid 32x32 PNG, different for every index."""
    from PIL import Image

    seed = hashlib.sha256(str(index).encode()).digest()
    pixels = bytes(seed[i % len(seed)] ^ (i & 0xFF) for i in range(32 * 32 * 3))
    buffer = io.BytesIO()
    Image.frombytes("RGB", (32, 32), pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def fixed_model(body: bytes) -> list[float]:
    """Confident for most images, below the default threshold for about one in eight."""
    first = hashlib.sha256(body).digest()[0]
    top = 0.9 if first % 8 == 0 else 0.99
    return [top, 1 - top] if first % 2 else [1 - top, top]


def measure(path: str, size: int, cdk_out: Path) -> dict[str, float]:
    """Run one path over `size` generated images in this process; seconds and peak RSS of the process."""
    import logging

    from local_run.template import load_workflow_template
    from local_run.workflow import local_workflow

    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    template = load_workflow_template(cdk_out)
    with (
        open(os.devnull, "w") as logs,
        local_workflow(template, fixed_model, bucket=BUCKET, handler_logs=logs) as wf,
    ):
        keys = [f"{PREFIX}{index:06d}.png" for index in range(size)]
        for index, key in enumerate(keys):
            wf.s3.put_object(Bucket=wf.bucket, Key=key, Body=generated_png(index))
        start = time.perf_counter()
        if path == "batch":
            result = wf.run_batch(PREFIX, timeout_s=TIMEOUT_S)
            assert result.summary["images"] == size, result.summary
        else:
            for key in keys:
                _run_one(wf, key)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_one(wf, key: str) -> None:
    arn = wf.sfn.start_execution(
        stateMachineArn=wf.state_machine_arn,
        name=f"bench-{uuid.uuid4().hex}",
        input=json.dumps({"s3_bucket": wf.bucket, "s3_key": key}),
    )["executionArn"]
    while wf.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(0.005)  # finer than the local run's polling: this measures time per image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N")
    parser.add_argument("--paths", nargs="+", default=["single", "batch"], choices=["single", "batch"])
    parser.add_argument("--one", nargs=3, metavar=("PATH", "SIZE", "CDK_OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        path, size, cdk_out = args.one
        print(json.dumps(measure(path, int(size), Path(cdk_out))))
        return 0

    from local_run.template import synthesize

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as work_dir:
        print("Synthesizing the app ...", file=sys.stderr, flush=True)
        cdk_out = synthesize(Path(work_dir) / "cdk.out")
        results: dict[tuple[str, int], dict[str, float]] = {}
        for size in args.sizes:
            for path in args.paths:
                print(f"{path} path, {size} images ...", file=sys.stderr, flush=True)
                completed = subprocess.run(
                    [sys.executable, "-m", "benchmarks.batch", "--one", path, str(size), str(cdk_out)],
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                )
                if completed.returncode != 0:
                    print(completed.stderr, file=sys.stderr)
                    return completed.returncode
                results[path, size] = json.loads(completed.stdout.strip().splitlines()[-1])
    print(render(results, args.sizes, args.paths))
    return 0


def render(results: dict[tuple[str, int], dict[str, float]], sizes: list[int], paths: list[str]) -> str:
    lines = ["| path | images | seconds | ms per image | peak RSS (MB) |", "| --- | --- | --- | --- | --- |"]
    for size in sizes:
        for path in paths:
            row = results[path, size]
            lines.append(
                f"| {path} | {size:,} | {row['seconds']:.1f} | {1000 * row['seconds'] / size:.1f} | "
                f"{row['peak_rss_mb']:.0f} |"
            )
    lines.append("")
    if set(paths) == {"single", "batch"}:
        for size in sizes:
            ratio = results["batch", size]["seconds"] / results["single", size]["seconds"]
            lines.append(f"batch / single, time per image at {size:,} images: {ratio:.2f}")
    smallest, largest = min(sizes), max(sizes)
    if smallest != largest:
        for path in paths:
            small, large = results[path, smallest], results[path, largest]
            per_image = (large["seconds"] / largest) / (small["seconds"] / smallest)
            memory = large["peak_rss_mb"] / small["peak_rss_mb"]
            lines.append(
                f"{path}: time per image at {largest:,} / at {smallest:,} images: {per_image:.2f}; "
                f"peak memory: {memory:.2f}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
