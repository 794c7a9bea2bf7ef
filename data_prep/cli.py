"""`python -m data_prep` (`make data`): build the dataset from the CIFAR-100 tarball, downloaded and cached."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from data_prep import __version__
from data_prep.build import BuildResult, build_dataset, existing_dataset
from data_prep.cifar import MD5, URL
from data_prep.command import EXIT_INTERRUPTED
from data_prep.download import download, is_url
from data_prep.errors import DataPrepError
from data_prep.manifest import Manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLASSES = ("bicycle", "motorcycle")
EXIT_OK, EXIT_BAD_INPUT = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Build OUT/{train,test}/*.png, OUT/{train,test}.lst and OUT/manifest.json from the CIFAR-100 "
        "python tarball. OUT is reused as it is when it already holds this tarball's dataset of these classes.",
        epilog="a synthetic tarball: python -m data_prep.synthetic .cache/synthetic.tar.gz, then "
        "--source .cache/synthetic.tar.gz --no-verify",
    )
    parser.add_argument(
        "--source", default=URL, help="URL to download (cached) or a local tarball (%(default)s)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data", help="dataset folder (%(default)s)")
    parser.add_argument(
        "--classes", nargs="+", default=list(DEFAULT_CLASSES), metavar="NAME",
        help=f"CIFAR-100 fine label names; class index i is the i-th ({' '.join(DEFAULT_CLASSES)})",
    )  # fmt: skip
    parser.add_argument(
        "--cache-dir", type=Path, default=REPO_ROOT / ".cache", help="downloads (%(default)s)"
    )
    parser.add_argument(
        "--no-verify", dest="verify_md5", action="store_false",
        help=f"accept a tarball whose md5 is not the official {MD5} (synthetic or modified files)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--version", action="version", version=f"data_prep {__version__}")
    args = parser.parse_args(argv)
    before = _content_hash(args.out)
    try:
        result = _build(args)
    except DataPrepError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"data_prep: interrupted; {_state_after_interrupt(args.out, before)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = "; ".join(
        f"{split} " + ", ".join(f"{name} {count}" for name, count in per_class.items())
        for split, per_class in result.manifest.splits.items()
    )
    if result.noop:
        print(f"data_prep: {args.out} is already up to date ({counts}); nothing to do")
    else:
        print(f"data_prep: wrote {args.out} ({counts}; content hash {result.manifest.content_hash[:12]})")
    return EXIT_OK


def _build(args: argparse.Namespace) -> BuildResult:
    progress = not args.quiet
    source = Path(args.source)
    if is_url(args.source):
        # The official file's md5 is known: a dataset built from it needs no download to be recognised.
        current = existing_dataset(args.out, args.classes, lambda: MD5) if args.verify_md5 else None
        if current is not None:
            return BuildResult(current, noop=True)
        source = download(
            args.source, args.cache_dir, expected_md5=MD5 if args.verify_md5 else None, progress=progress
        )
    return build_dataset(
        source, args.out, classes=args.classes, verify_md5=args.verify_md5, progress=progress
    )


def _content_hash(out: Path) -> str | None:
    try:
        return Manifest.load(out).content_hash
    except DataPrepError:
        return None


def _state_after_interrupt(out: Path, before: str | None) -> str:
    after = _content_hash(out)
    if after == before:
        return "no dataset was written" if after is None else f"{out} was left as it was"
    return f"{out} holds no dataset" if after is None else f"{out} already holds the new dataset"
