"""Reading and re-writing CIFAR-style tarballs, to derive broken variants of the synthetic fixture."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def read_members(tarball: Path) -> dict[str, dict]:
    """Every pickled member, loaded the way the official files are documented to be loaded."""
    with tarfile.open(tarball, "r:gz") as tar:
        return {
            member.name: pickle.load(tar.extractfile(member), encoding="bytes")
            for member in tar
            if member.isfile()
        }


def write_members(path: Path, members: dict[str, object]) -> Path:
    """A gzipped tar of `members`, pickling every value that is not already bytes."""
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, value in members.items():
            payload = value if isinstance(value, bytes) else pickle.dumps(value, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def image_of_row(row: np.ndarray) -> np.ndarray:
    """A CIFAR row (1024 red, 1024 green, 1024 blue values) as a 32x32x3 image."""
    return row.reshape(3, 32, 32).transpose(1, 2, 0)


def python2_pickle(value: object) -> bytes:
    """`value` pickled the way Python 2 and numpy 1.x wrote the official CIFAR files (protocol 2).

    Python 3 cannot write these: its pickles store bytes through `_codecs.encode` and name `numpy._core`,
    while Python 2 stored `str` as BINSTRING and named `numpy.core.multiarray`.
    """
    return b"\x80\x02" + _python2_opcodes(value) + b"."


def _binstring(data: bytes) -> bytes:
    return b"T" + struct.pack("<i", len(data)) + data


def _python2_opcodes(value: object) -> bytes:
    if isinstance(value, bytes):
        return _binstring(value)
    if isinstance(value, bool) or not isinstance(value, int | list | dict | np.ndarray):
        raise TypeError(f"not needed for CIFAR pickles: {type(value).__name__}")
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, list):
        return b"](" + b"".join(_python2_opcodes(item) for item in value) + b"e"
    if isinstance(value, dict):
        items = b"".join(_python2_opcodes(key) + _python2_opcodes(item) for key, item in value.items())
        return b"}(" + items + b"u"
    if value.dtype != np.uint8:
        raise TypeError("only uint8 arrays are needed")
    shape = b"(" + b"".join(_python2_opcodes(size) for size in value.shape) + b"t"
    dtype = b"cnumpy\ndtype\n" + _binstring(b"u1") + b"K\x00K\x01\x87R" + b"(K\x03" + _binstring(b"|")
    dtype += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _binstring(b"b") + b"\x87R"
    state = b"(K\x01" + shape + dtype + b"\x89" + _binstring(value.tobytes()) + b"tb"
    return array + state
