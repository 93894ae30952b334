"""Datasets that ship as Debian packages: find an installed package's files, copy them atomically.

Debian packages ``dataset-fashion-mnist``: the 70,000 Fashion-MNIST images as gzipped IDX files
under ``/usr/share/datasets/fashion-mnist``. :func:`find_package_files` locates them from
``dpkg -L`` (or a known folder); :func:`install_files` decompresses them into ``data_dir`` once,
each written to a hidden ``.partial`` name, checked, then renamed with :func:`os.replace`, so a
crash never leaves a half-written file under the name a later run trusts.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger("benign.data")

#: The IDX magic numbers torchvision's MNIST readers accept: unsigned bytes, 1 or 3 dimensions.
IDX_MAGIC_DIMS: dict[int, int] = {0x0801: 1, 0x0803: 3}
PARTIAL_SUFFIX = ".partial"


def dpkg_files(package: str) -> list[str]:
    """The paths ``dpkg -L package`` lists; empty when dpkg is missing or the package is not installed."""
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        return []
    try:
        result = subprocess.run(
            [dpkg, "-L", package], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return result.stdout.splitlines() if result.returncode == 0 else []


def find_package_files(
    package: str,
    names: Sequence[str],
    *,
    override: str | None = None,
    fallback_dirs: Sequence[str] = (),
) -> dict[str, str] | None:
    """Where an installed package keeps each of ``names`` (plain or ``.gz``), or ``None``.

    Args:
        package: the Debian package, e.g. ``dataset-fashion-mnist``.
        names: the uncompressed file names wanted, e.g. ``train-images-idx3-ubyte``.
        override: a folder to use instead of the package (tests, unusual installs); an empty
            string turns discovery off.
        fallback_dirs: folders to look in when ``dpkg`` lists nothing (e.g. no dpkg database).

    Returns:
        ``{name: path}`` when every name is found (a plain file preferred to a ``.gz`` one),
        otherwise ``None``.
    """
    if override is not None:
        candidates = _files_in([override]) if override else []
    else:
        candidates = [p for p in dpkg_files(package) if os.path.isfile(p)]
        candidates = candidates or _files_in(fallback_dirs)
    by_name: dict[str, str] = {}
    for path in sorted(candidates, key=lambda p: p.endswith(".gz")):
        base = os.path.basename(path)
        name = base[: -len(".gz")] if base.endswith(".gz") else base
        if name in names:
            by_name.setdefault(name, path)
    if not all(name in by_name for name in names):
        return None
    return {name: by_name[name] for name in names}


def _files_in(folders: Sequence[str]) -> list[str]:
    return [str(p) for folder in folders if os.path.isdir(folder) for p in Path(folder).iterdir()]


def check_idx_file(path: str | os.PathLike[str]) -> None:
    """Raise ``ValueError`` unless ``path`` is a complete uint8 IDX file (header and size agree)."""
    with open(path, "rb") as handle:
        magic = int.from_bytes(handle.read(4), "big")
        ndim = IDX_MAGIC_DIMS.get(magic)
        if ndim is None:
            raise ValueError(f"{path} is not an IDX file of unsigned bytes")
        raw_dims = handle.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise ValueError(f"{path} ends inside its IDX header")
    expected = 4 + 4 * ndim + math.prod(struct.unpack(f">{ndim}i", raw_dims))
    size = os.path.getsize(path)
    if size != expected:
        raise ValueError(f"{path} holds {size} bytes, its header says {expected}")


def partial_name(dest: str | os.PathLike[str]) -> str:
    """The hidden temporary name ``dest`` is written under: ``.<name>.<host>.<pid>.partial``."""
    folder, base = os.path.split(os.fspath(dest))
    return os.path.join(folder, f".{base}.{socket.gethostname()}.{os.getpid()}{PARTIAL_SUFFIX}")


def remove_stale_partials(folder: str | os.PathLike[str]) -> list[str]:
    """Delete this host's ``.partial`` files whose writing process is gone (a crashed earlier run)."""
    removed = []
    host = socket.gethostname()
    for path in Path(folder).glob(f".*.{host}.*{PARTIAL_SUFFIX}"):
        pid = path.name[: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def copy_atomically(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    check: Callable[[str], None] | None = None,
) -> None:
    """Copy ``source`` (decompressed when it ends in ``.gz``) to ``dest``, all or nothing.

    The bytes go to :func:`partial_name`, are flushed to disk and checked with ``check``; only
    then does :func:`os.replace` give them the name ``dest``. On an error the partial file is
    deleted; after a hard crash it stays hidden and :func:`remove_stale_partials` deletes it.
    """
    tmp = partial_name(dest)
    opener = gzip.open if os.fspath(source).endswith(".gz") else open
    try:
        with opener(source, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, length=1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_files(
    sources: Mapping[str, str],
    folder: str | os.PathLike[str],
    check: Callable[[str], None] | None = check_idx_file,
) -> list[str]:
    """Copy each ``{name: source}`` into ``folder/name`` with :func:`copy_atomically`.

    Files already in ``folder`` are kept (so a rerun after a crash finishes the job and a
    second call does nothing). Returns the names written.
    """
    os.makedirs(folder, exist_ok=True)
    remove_stale_partials(folder)
    written = []
    for name, source in sources.items():
        dest = os.path.join(folder, name)
        if os.path.isfile(dest):
            continue
        copy_atomically(source, dest, check)
        written.append(name)
    if written:
        log.info(f"copied {', '.join(written)} into {folder}")
    return written
