"""`python -m data_prep`: build the dataset from the CIFAR-100 tarball (downloaded and cached by default)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data_prep import __version__
from data_prep.build import build_dataset
from data_prep.cifar import MD5, URL
from data_prep.download import download, is_url
from data_prep.errors import DataPrepError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLASSES = ("bicycle", "motorcycle")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description=(
            "Build the image-classification dataset from the CIFAR-100 python tarball:\n"
            "OUT/train/*.png, OUT/test/*.png, OUT/train.lst, OUT/test.lst and OUT/manifest.json.\n"
            "A second run with the same tarball and classes changes nothing."
        ),
        epilog=(
            "examples:\n"
            "  python -m data_prep\n"
            "  python -m data_prep --source ~/cifar-100-python.tar.gz --classes bicycle motorcycle pickup_truck\n"
            "  python -m data_prep.synthetic .cache/synthetic.tar.gz\n"
            "  python -m data_prep --source .cache/synthetic.tar.gz --no-verify"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source",
        default=URL,
        help="URL to download (cached) or path of a local tarball (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "data", help="dataset folder to write (default: %(default)s)"
    )
    parser.add_argument(
        "--classes",
        nargs="+",
        default=list(DEFAULT_CLASSES),
        metavar="NAME",
        help=f"CIFAR-100 fine label names; class index i is the i-th name (default: {' '.join(DEFAULT_CLASSES)})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / ".cache",
        help="where downloads are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify_md5",
        action="store_false",
        help=f"accept a tarball whose md5 is not the official {MD5} (for synthetic or modified files)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--version", action="version", version=f"data_prep {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = not args.quiet
    try:
        if is_url(args.source):
            source = download(
                args.source, args.cache_dir, expected_md5=MD5 if args.verify_md5 else None, progress=progress
            )
        else:
            source = Path(args.source)
        result = build_dataset(
            source, args.out, classes=args.classes, verify_md5=args.verify_md5, progress=progress
        )
    except DataPrepError as error:
        print(f"data_prep: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("data_prep: interrupted; the dataset folder was left as it was", file=sys.stderr)
        return 130
    manifest = result.manifest
    counts = "; ".join(
        f"{split} " + ", ".join(f"{name} {count}" for name, count in per_class.items())
        for split, per_class in manifest.splits.items()
    )
    if result.noop:
        print(f"data_prep: {args.out} is already up to date ({counts}); nothing to do")
    else:
        print(f"data_prep: wrote {args.out} ({counts}; content hash {manifest.content_hash[:12]})")
    return 0
