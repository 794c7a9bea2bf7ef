"""How long `cdk synth` of the whole app takes, next to `cdk synth` of an app holding one S3 bucket.

Run from the repository root: .venv/bin/python -m benchmarks.synth (--help for the options);
benchmarks/README.md says what it measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ONE_BUCKET_APP = """\
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

app = cdk.App()
s3.Bucket(cdk.Stack(app, "OneBucket"), "Bucket")
app.synth()
"""


def synth_seconds(app_dir: Path, outdir: Path, app_command: str | None = None) -> float:
    command = [
        str(app_dir / "node_modules" / ".bin" / "cdk"),
        "synth",
        "--quiet",
        "--no-notices",
        "-o",
        str(outdir),
    ]
    if app_command:
        command += ["--app", app_command]
    # As the Makefile runs it: Node 24 from the project's node_modules first on PATH, and Python free to write
    # bytecode, so the untimed warm-up round compiles the imported modules once for every timed round.
    env = {
        **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
        "PATH": f"{app_dir / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    start = time.perf_counter()
    subprocess.run(
        command, cwd=app_dir, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--app-dir", type=Path, default=REPO_ROOT, help="the checkout to time (default: this one)"
    )
    args = parser.parse_args(argv)
    app_dir = args.app_dir.resolve()

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as work:
        work_dir = Path(work)
        one_bucket = work_dir / "one_bucket.py"
        one_bucket.write_text(ONE_BUCKET_APP)
        contenders = {
            "full app": lambda out: synth_seconds(app_dir, out),
            "one-bucket app": lambda out: synth_seconds(
                app_dir, out, f"{app_dir / '.venv' / 'bin' / 'python'} {one_bucket}"
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for round_number in range(args.rounds + 1):
            order = list(contenders)
            if round_number % 2:
                order.reverse()
            for name in order:
                seconds = contenders[name](work_dir / f"out-{round_number}-{name.replace(' ', '-')}")
                if round_number:  # round 0 warms caches up and is not counted
                    times[name].append(seconds)
            if round_number:
                print(f"round {round_number}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in contenders),
                      file=sys.stderr)  # fmt: skip

    ratios = [full / floor for full, floor in zip(times["full app"], times["one-bucket app"], strict=True)]
    print(f"cdk synth of {app_dir}, {args.rounds} rounds (median)")
    for name, values in times.items():
        print(f"  {name:<15} {statistics.median(values):6.2f} s")
    print(f"  full / one-bucket  {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
