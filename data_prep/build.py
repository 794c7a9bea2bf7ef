"""Turn the CIFAR-100 tarball into the dataset folder: built aside, manifest.json last, then renamed into place."""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from data_prep import __version__
from data_prep.cifar import IMAGE_SIDE, MD5, SPLIT_MEMBERS, Cifar100, read_tarball
from data_prep.download import file_md5
from data_prep.errors import ChecksumMismatch, ClassSelectionError, DatasetError, OutputError, SourceError
from data_prep.lst import LstEntry, format_lst
from data_prep.manifest import SPLITS, Manifest, content_hash, hash_files

# A file name from the tarball becomes a path: nothing that could climb out of the split folder or hide.
_PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The work folders next to OUT carry their owner's pid: ".<out>.building-<pid>-<random>", ".<out>.replaced-...".
_WORK_FOLDER = re.compile(r"\.(?P<out>.+)\.(?P<kind>building|replaced)-(?:(?P<pid>[0-9]+)-)?[^.]*")


@dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    noop: bool  # True when OUT already held exactly this dataset and nothing was written


def build_dataset(
    source: Path, out_dir: Path, *, classes: Sequence[str], verify_md5: bool = True, progress: bool = True
) -> BuildResult:
    """The dataset of docs/CONTRACTS.md ("Dataset") at OUT; label i is `classes[i]`."""
    source = Path(source)
    out_dir = Path(os.path.abspath(out_dir))
    requested = _checked_request(classes)
    if not source.is_file():
        raise SourceError(f"{source}: no such file")

    def verified_md5() -> str:
        md5 = file_md5(source)
        if verify_md5:
            _check_md5(source, md5)
        return md5

    previous = existing_dataset(out_dir, requested, verified_md5)
    if previous is not None:
        return BuildResult(previous, noop=True)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.building-{os.getpid()}-")
        )
    except OSError as error:
        raise OutputError(f"cannot write the dataset next to {out_dir}: {error.strerror or error}") from None
    staging.chmod(0o755)
    retired = staging.with_name(staging.name.replace(".building-", ".replaced-"))
    try:
        dataset, md5 = _read_verified(source, verify_md5=verify_md5, progress=progress)
        manifest = _write_dataset(staging, dataset, requested, {"name": source.name, "md5": md5}, progress)
        _replace(out_dir, staging, retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if out_dir.is_dir():  # else _replace could not put the previous dataset back: the next run does
            shutil.rmtree(retired, ignore_errors=True)
    return BuildResult(manifest, noop=False)


def existing_dataset(out_dir: Path, classes: Sequence[str], source_md5: Callable[[], str]) -> Manifest | None:
    """OUT's manifest when OUT holds, unchanged, the dataset of `classes` built from the tarball of that md5."""
    out_dir = Path(os.path.abspath(out_dir))
    requested = _checked_request(classes)  # before any download
    _clean_up_after_dead_runs(out_dir)
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder")
    if not (out_dir / Manifest.FILENAME).is_file():
        if any(out_dir.iterdir()):
            raise OutputError(
                f"{out_dir} is not empty and has no {Manifest.FILENAME}; not replacing it (choose another --out)"
            )
        return None
    try:
        previous = Manifest.load(out_dir)
    except DatasetError:
        return None  # a damaged dataset of ours: rebuilt like a missing one
    if previous.classes != requested or previous.tool_version != __version__:
        return None
    if previous.source.get("md5") != source_md5() or content_hash(out_dir) != previous.content_hash:
        return None
    return previous


def _clean_up_after_dead_runs(out_dir: Path) -> None:
    """Remove the work folders of runs that were killed (their pid is gone); restore OUT if one was mid-swap."""
    if not out_dir.parent.is_dir():
        return
    for folder in sorted(out_dir.parent.iterdir()):
        match = _WORK_FOLDER.fullmatch(folder.name)
        if not match or match["out"] != out_dir.name or not folder.is_dir() or _alive(match["pid"]):
            continue
        if match["kind"] == "replaced" and not out_dir.exists():
            os.rename(folder, out_dir)  # killed between the two renames of the swap: the previous dataset
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: str | None) -> bool:
    if pid is None:  # a work folder of an older data_prep, which named no pid
        return False
    try:
        os.kill(int(pid), 0)
    except PermissionError:  # another user's process
        pass
    except (ProcessLookupError, OverflowError):
        return False
    return True


def _checked_request(classes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(classes, str):
        raise ClassSelectionError(f"classes must be a sequence of names, not the single string {classes!r}")
    requested = tuple(classes)
    repeated = sorted({name for name in requested if requested.count(name) > 1})
    if repeated:
        raise ClassSelectionError(f"each class may be given once; repeated: {', '.join(repeated)}")
    if len(requested) < 2:
        raise ClassSelectionError(f"a classifier needs at least two classes, got {len(requested)}")
    return requested


def _check_md5(source: Path, actual: str) -> None:
    if actual != MD5:
        raise ChecksumMismatch(source.name, MD5, actual)


def _read_verified(source: Path, *, verify_md5: bool, progress: bool) -> tuple[Cifar100, str]:
    with tqdm(
        total=source.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"reading {source.name}", disable=None if progress else True,
    ) as bar:  # fmt: skip
        try:
            dataset, md5 = read_tarball(source, on_compressed_bytes=bar.update)
        except SourceError:
            # A damaged copy of the official file is best reported as what it is: not the official file.
            if verify_md5:
                _check_md5(source, file_md5(source))
            raise
    if verify_md5:
        _check_md5(source, md5)
    return dataset, md5


def _file_names(split: str, names: list[str], rows: np.ndarray) -> Iterator[str]:
    """The dataset's own file names, made unique within the split by appending the row where they repeat."""
    seen: set[str] = set()
    for name, row in zip(names, rows, strict=True):
        if not _PLAIN_FILE_NAME.fullmatch(name):
            raise SourceError(f"{SPLIT_MEMBERS[split]}: {name!r} is not a plain file name")
        stem = name.removesuffix(".png")
        unique = f"{stem}.png" if f"{stem}.png" not in seen else f"{stem}_row{row}.png"
        if unique in seen:
            raise SourceError(
                f"{SPLIT_MEMBERS[split]}: cannot give row {row} ({name!r}) a file name of its own"
            )
        seen.add(unique)
        yield unique


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_dataset(
    staging: Path, dataset: Cifar100, requested: tuple[str, ...], source: dict[str, str], progress: bool
) -> Manifest:
    names_in_tarball = dataset.fine_label_names
    # Each fine label of the tarball -> its index in `requested`, or -1 when not requested.
    label_of_fine = np.full(len(names_in_tarball), -1, dtype=np.int64)
    for index, name in enumerate(requested):
        if name not in names_in_tarball:
            close = difflib.get_close_matches(name, names_in_tarball, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see the tarball's meta fine_label_names"
            raise ClassSelectionError(f"unknown class {name!r}: {hint}")
        label_of_fine[names_in_tarball.index(name)] = index
    files, counts = {}, {}
    for split in SPLITS:
        data = dataset.splits[split]
        labels = label_of_fine[data.fine_labels]
        rows = np.flatnonzero(labels >= 0)
        labels = labels[rows]
        names = list(_file_names(split, [data.filenames[row] for row in rows], rows))
        # CIFAR rows are the red, green and blue planes one after another; PNG wants pixels of (r, g, b).
        images = data.data[rows].reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1)
        files.update({f"{split}/{name}": _png(image) for name, image in zip(names, images, strict=True)})
        files[f"{split}.lst"] = format_lst(map(LstEntry, range(len(names)), labels.tolist(), names)).encode()
        counts[split] = dict(
            zip(requested, np.bincount(labels, minlength=len(requested)).tolist(), strict=True)
        )
    manifest = Manifest(
        classes=requested,
        splits=counts,
        source=source,
        content_hash=hash_files(files.items()),
        synthetic=dataset.synthetic,
        tool_version=__version__,
    )
    try:
        for split in SPLITS:
            (staging / split).mkdir()
        with tqdm(total=len(files), unit="file", desc="writing", disable=None if progress else True) as bar:
            for relative_path, contents in files.items():
                (staging / relative_path).write_bytes(contents)
                bar.update()
        (staging / Manifest.FILENAME).write_text(manifest.to_json(), encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write the dataset: {error}") from None
    return manifest


def _replace(out_dir: Path, staging: Path, retired: Path) -> None:
    """Put the finished dataset at OUT, the previous one moved aside first; on any failure OUT is as it was."""
    try:
        if out_dir.exists():
            os.rename(out_dir, retired)
        os.rename(staging, out_dir)
    except BaseException as error:
        if retired.exists() and not out_dir.exists():
            os.rename(retired, out_dir)
        if isinstance(error, OSError):
            raise OutputError(f"cannot move the dataset into {out_dir}: {error.strerror or error}") from None
        raise
