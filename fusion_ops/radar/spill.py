"""A day of uint8-packed grid volumes, accumulated block by block in memory or in a scratch file.

A radar-day at 5-minute cadence is 288 volumes x 16 heights x the product grid x 3 moments of
uint8 codes (about 1.1 GB for the default domain).  Holding them all in memory made the
``ground_radar`` step the peak of a day's materialization.  :class:`VolumeCodeStore` instead keeps
one block of :data:`VOLUME_BLOCK` volumes in memory and, when given a scratch file, appends each
full block to it (HDF5, growable ``volume`` axis, gzip chunks aligned with the blocks).
:meth:`VolumeCodeStore.arrays` then returns lazy (dask) arrays reading that file back, so writing
the day's dataset with xarray streams it block by block.  The file lives as long as those arrays:
it is removed when the last of them is garbage-collected (or at :meth:`VolumeCodeStore.close`).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Sequence

import numpy as np

#: volumes per in-memory block, per compression chunk along ``volume`` and per lazy (dask) chunk;
#: the calibration assets read the stored grid in blocks of up to 24 volumes, so chunks of 24
#: volumes decompress each chunk once.
VOLUME_BLOCK = 24


def spatial_chunks(n_heights: int, ny: int, nx: int) -> tuple[int, int, int]:
    """Compression chunk of one volume: 2 heights x about 1/8 of the grid each way.

    The same shape HDF5's own guess gave the whole-day array (e.g. 2 x 34 x 39 for 270 x 306),
    so compression and partial reads behave as before.
    """
    return (min(2, n_heights), max(1, -(-ny // 8)), max(1, -(-nx // 8)))


class VolumeCodeStore:
    """Accumulate ``(height, lat, lon)`` uint8 code volumes of several moments.

    Parameters
    ----------
    moments : names of the packed moments (each volume supplies any subset; missing = fill code)
    shape : ``(n_heights, ny, nx)`` of one volume
    fill_code : the "no data" code of a volume that lacks a moment
    capacity : most volumes that will be appended (the in-memory store preallocates them)
    scratch_path : HDF5 file to spill full blocks to (created, and removed once nothing reads it
        any more); ``None`` keeps every volume in memory.
    """

    def __init__(
        self,
        moments: Sequence[str],
        shape: tuple[int, int, int],
        fill_code: int,
        capacity: int,
        scratch_path: str | os.PathLike | None = None,
    ) -> None:
        self.moments = list(moments)
        self.shape = tuple(int(s) for s in shape)
        self.fill_code = np.uint8(fill_code)
        self.n_volumes = 0
        self._path = None if scratch_path is None else os.fspath(scratch_path)
        # in memory: the whole capacity at once (no copy at the end); spilled: one block
        rows = int(capacity) if self._path is None else VOLUME_BLOCK
        self._block = {m: np.full((rows, *self.shape), self.fill_code, np.uint8) for m in moments}
        self._n_block = 0
        self._file = None
        # open HDF5 handles of the scratch file; closed and the file removed when the store is
        # garbage-collected (after the last lazy array reading it), at close() or at exit
        self._handles: list = []
        self._finalizer = weakref.finalize(self, _release, self._handles, self._path)

    def append(self, codes: dict[str, np.ndarray]) -> None:
        """Add one volume: ``moment -> (height, lat, lon)`` uint8 codes."""
        for m, values in codes.items():
            if values.shape != self.shape:
                raise ValueError(f"{m}: volume shape {values.shape}, expected {self.shape}")
            self._block[m][self._n_block] = values
        self._n_block += 1
        self.n_volumes += 1
        if self._path is not None and self._n_block == VOLUME_BLOCK:
            self._flush()

    def _flush(self) -> None:
        n = self._n_block
        if n == 0 or self._path is None:
            return
        self._write(n)
        for m in self.moments:
            self._block[m].fill(self.fill_code)
        self._n_block = 0

    def _write(self, n: int) -> None:
        import h5py

        if self._file is None:
            self._file = h5py.File(self._path, "w")
            self._handles.append(self._file)
            for m in self.moments:
                self._file.create_dataset(
                    m,
                    shape=(0, *self.shape),
                    maxshape=(None, *self.shape),
                    dtype=np.uint8,
                    chunks=(VOLUME_BLOCK, *spatial_chunks(*self.shape)),
                    # fast level: the file is read back once, when the day's output is written
                    compression="gzip",
                    compression_opts=1,
                    fillvalue=self.fill_code,
                )
        start = self._file[self.moments[0]].shape[0]
        for m in self.moments:
            self._file[m].resize(start + n, axis=0)
            self._file[m][start : start + n] = self._block[m][:n]

    def arrays(self) -> dict[str, object]:
        """Every appended volume per moment: ``(volume, height, lat, lon)`` uint8.

        NumPy arrays when the store is in memory; dask arrays (chunks of :data:`VOLUME_BLOCK`
        volumes) reading the scratch file otherwise.  The dask arrays keep the store (and so the
        file) alive: the file is removed when the last array reading it is garbage-collected, or
        at :meth:`close`.  Call once, after the last :meth:`append`.
        """
        self._flush()
        if self._path is None or self._file is None:
            # in memory, or spilled but no volume at all: plain (possibly empty) arrays
            n = self.n_volumes if self._path is None else 0
            out = {m: self._block[m][:n] for m in self.moments}
            self._block = {}
            return out
        import dask.array as da

        self._block = {}
        self._file.flush()
        self._file.close()
        self._handles.clear()
        self._file = None
        return {
            m: da.from_array(
                _ScratchArray(self, m),
                chunks=(VOLUME_BLOCK, *self.shape),
                name=f"rainfuse-spilled-{m}-{os.path.basename(self._path)}",
                lock=True,  # one HDF5 read at a time (h5py serialises them anyway)
            )
            for m in self.moments
        }

    def _read(self, name: str, key: object) -> np.ndarray:
        import h5py

        if not self._handles:
            self._handles.append(h5py.File(self._path, "r"))
        return self._handles[0][name][key]

    def close(self) -> None:
        """Close and remove the scratch file now (arrays from :meth:`arrays` become unreadable)."""
        self._finalizer()


class _ScratchArray:
    """Array-like view of one moment of a spilled store (what ``dask.array.from_array`` wraps)."""

    def __init__(self, store: VolumeCodeStore, name: str) -> None:
        self._store = store  # keeps the scratch file alive while any dask array uses it
        self._name = name
        self.shape = (store.n_volumes, *store.shape)
        self.dtype = np.dtype(np.uint8)
        self.ndim = len(self.shape)

    def __getitem__(self, key: object) -> np.ndarray:
        return self._store._read(self._name, key)


def _release(handles: list, path: str | None) -> None:
    """Close the scratch file's handles and remove it (the store's finalizer)."""
    for handle in handles:
        # already closed, or the interpreter is shutting down
        with contextlib.suppress(Exception):
            handle.close()
    handles.clear()
    if path is not None and os.path.exists(path):
        os.remove(path)


__all__ = ["VOLUME_BLOCK", "VolumeCodeStore", "spatial_chunks"]
