"""Atomic writes: the one implementation of "write to a temporary name, then move into place".

Every writer of the project that must never leave a half-written file at its final name (asset
values, products, packed radar grids, simulated archives, scenes, benchmark reports) goes through
this module:

* :func:`atomic_path` - a local final path: the writer gets a hidden temporary name in the same
  folder (``.<name>.<uuid>.tmp``), which is moved onto the final name with :func:`os.replace` (one
  step on a POSIX filesystem) when the block ends without an exception, and removed when it does
  not. A hard kill leaves at most the hidden temporary, never a partial file at the final name;
* :func:`atomic_fs_path` - a final path on an fsspec filesystem: on a local one the same; on an
  object store the writer gets a file in a scratch folder, uploaded with ``fs.put_file`` on
  success (an object PUT is atomic: readers see the previous object or the whole new one);
* :func:`write_bytes_atomic` - bytes already in memory, through the same rules.

The temporary is always beside the final name (same folder, so the same filesystem, which
:func:`os.replace` needs) and keeps nothing of the final name a reader could mistake for it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

__all__ = ["atomic_fs_path", "atomic_path", "is_local_fs", "write_bytes_atomic"]


def _temporary_beside(final: str) -> str:
    directory, name = os.path.split(final)
    return os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary local path beside ``final_path``, moved onto it in one step on success.

    The folder of ``final_path`` is created if needed. An exception in the block (or an
    interruption) removes the temporary file and leaves ``final_path`` as it was.

    Parameters
    ----------
    final_path : str or path-like
        Where the file must end up.

    Yields
    ------
    str
        The temporary path to write (``.<name>.<uuid>.tmp`` in the same folder).
    """
    final = os.path.abspath(os.fspath(final_path))
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = _temporary_beside(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def is_local_fs(fs: Any) -> bool:
    """Whether an fsspec filesystem is the local one (``file``/``local`` protocol)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


@contextlib.contextmanager
def atomic_fs_path(fs: Any, path: str) -> Iterator[str]:
    """A local path to write for the final ``path`` on the fsspec filesystem ``fs``.

    Local filesystem: :func:`atomic_path`. Object store: a file in a scratch folder (named like
    the final object, so writers that look at the suffix see the right one), uploaded with
    ``fs.put_file`` when the block succeeds; nothing is uploaded when it fails.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        Filesystem of the final path.
    path : str
        Final path inside ``fs`` (no protocol).

    Yields
    ------
    str
        A local path to write.
    """
    if is_local_fs(fs):
        with atomic_path(path) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, posixpath.basename(path.rstrip("/")))
        yield local
        fs.put_file(local, path)


def write_bytes_atomic(data: bytes, path: str | os.PathLike[str], fs: Any = None) -> None:
    """Write ``data`` to ``path`` atomically (``fs``: an fsspec filesystem; None: local).

    Local: through :func:`atomic_path`. Object store: one ``fs.pipe_file`` (a single PUT).
    """
    if fs is None or is_local_fs(fs):
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            handle.write(data)
    else:
        fs.pipe_file(os.fspath(path), data)
