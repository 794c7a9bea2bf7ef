"""How fast `python -m data_prep` is, next to `gzip -dc` and next to the seed notebook's approach.

Run from the repository root: .venv/bin/python -m benchmarks.data_prep (--help for the options);
benchmarks/README.md says what it measures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_prep.synthetic import write_synthetic_tarball

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_CLASSES = (8, 48)  # the notebook's hard-coded fine labels: bicycle, motorcycle
IMAGES_WRITTEN = 1200  # 500 + 100 of each of the two classes


def seed_style(tarball: Path, out: Path) -> None:
    """The seed notebook's pipeline: extract everything, filter a table of rows, one `plt.imsave` per image.

    pandas is not installed here; its row filter (`df[df.labels.isin([8, 48])]`) is a list comprehension,
    which is cheaper than the DataFrame it stands for.
    """
    # Imported here, in the timed process: the notebook pays for these imports too.
    import pickle
    import tarfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    extracted = out / "extracted"
    with tarfile.open(tarball, "r:gz") as tar:
        tar.extractall(extracted, filter="data")
    for split in ("train", "test"):
        with open(extracted / "cifar-100-python" / split, "rb") as file:
            dataset = pickle.load(file, encoding="bytes")
        rows = [
            (row, filename.decode("utf-8"), label)
            for row, (filename, label) in enumerate(
                zip(dataset[b"filenames"], dataset[b"fine_labels"], strict=True)
            )
            if label in SEED_CLASSES
        ]
        (out / split).mkdir(parents=True)
        lines = []
        for index, (row, filename, label) in enumerate(rows):
            pixels = dataset[b"data"][row]
            red, green, blue = (pixels[start : start + 1024].reshape(32, 32) for start in (0, 1024, 2048))
            plt.imsave(out / split / filename, np.dstack((red, green, blue)))
            lines.append(f"{index}\t{SEED_CLASSES.index(label)}\t{filename}\n")
        (out / f"{split}.lst").write_text("".join(lines))


def _commands(tarball: Path, out: Path) -> dict[str, list[str]]:
    return {
        "gzip -dc": ["sh", "-c", 'exec gzip -dc "$0" > /dev/null', str(tarball)],
        "data_prep": [
            sys.executable, "-m", "data_prep", "--source", str(tarball), "--out", str(out / "data_prep"),
            "--quiet", "--no-verify",  # the md5 is still computed: the same work as a verified run
        ],
        "seed-style": [
            sys.executable, "-c", "import sys; from pathlib import Path; from benchmarks.data_prep import seed_style; "
            "seed_style(Path(sys.argv[1]), Path(sys.argv[2]))", str(tarball), str(out / "seed"),
        ],
        # Not a contender: the cost of creating as many (empty) files as data_prep writes, on this file system.
        "create files": [
            sys.executable, "-c", "import os, sys; os.makedirs(sys.argv[1]); [os.close(os.open(f'{sys.argv[1]}/{i}', "
            "os.O_CREAT | os.O_WRONLY)) for i in range(int(sys.argv[2]))]", str(out / "created"), str(IMAGES_WRITTEN),
        ],
    }  # fmt: skip


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _same_output(out: Path) -> bool:
    """Both wrote the same files, and the same pixels (the seed's `imsave` adds an alpha channel)."""
    from PIL import Image

    for split in ("train", "test"):
        names = sorted(path.name for path in (out / "data_prep" / split).iterdir())
        if names != sorted(path.name for path in (out / "seed" / split).iterdir()):
            return False
        with (
            Image.open(out / "data_prep" / split / names[0]) as ours,
            Image.open(out / "seed" / split / names[0]) as seed,
        ):
            if ours.convert("RGB").tobytes() != seed.convert("RGB").tobytes():
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.data_prep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up (default: 5)")
    parser.add_argument("--tarball", type=Path, help="an existing tarball to use instead of a synthetic one")
    # The repository's file system, where `make data` writes: temp folders may sit on a slower one.
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO_ROOT / ".cache",
        help="where the tarball and outputs go, in a fresh subfolder removed at the end (default: %(default)s)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="data_prep-benchmark-", dir=args.workdir))
    try:
        tarball = args.tarball
        if tarball is None:
            start = time.perf_counter()
            tarball = write_synthetic_tarball(
                workdir / "cifar-100-python.tar.gz", train_per_class=500, test_per_class=100
            )
            print(f"wrote a full-size synthetic tarball ({tarball.stat().st_size / 1e6:.0f} MB) "
                  f"in {time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
        names = list(_commands(tarball, workdir))
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_number in range(args.rounds + 1):
            out = workdir / f"round{round_number}"
            commands = _commands(tarball, out)
            # Rotating the order spreads any drift in machine load evenly over the contenders.
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            measured = {name: _timed(commands[name]) for name in order}
            if round_number == 0:
                if not _same_output(out):
                    raise SystemExit("data_prep and the seed-style run wrote different files")
            else:
                for name, seconds in measured.items():
                    times[name].append(seconds)
            shutil.rmtree(out)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"{args.rounds} rounds, whole-process wall time in seconds (median, min-max):")
        for name in names:
            print(f"  {name:12} {medians[name]:6.2f}  ({min(times[name]):.2f}-{max(times[name]):.2f})")
        for baseline in ("gzip -dc", "seed-style"):
            per_round = [
                ours / theirs for ours, theirs in zip(times["data_prep"], times[baseline], strict=True)
            ]
            print(
                f"data_prep / {baseline}: {statistics.median(per_round):.2f} "
                f"(per round {min(per_round):.2f}-{max(per_round):.2f})"
            )
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    if not __package__:
        # Run as a file, this folder would come first on sys.path and `import data_prep` would find this file.
        raise SystemExit(
            "run it as a module from the repository root: .venv/bin/python -m benchmarks.data_prep"
        )
    main()
