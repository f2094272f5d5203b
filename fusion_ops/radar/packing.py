"""Compact storage of gridded radar moments: fixed-step uint8 codes, compressed NetCDF.

Reflectivity is stored in 0.5 dB steps from -32 dBZ (codes 0..254 cover -32..95 dBZ), code 255 is
"no data".  The packing is expressed as CF ``scale_factor``/``add_offset`` encoding, so xarray and
any CF reader unpack it transparently.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from fusion_ops.atomic import atomic_path

FILL_CODE = 255

#: moment -> (step, offset): value = offset + step * code
PACKING: dict[str, tuple[float, float]] = {
    "reflectivity": (0.5, -32.0),
    "differential_reflectivity": (1.0 / 16.0, -8.0),
    "specific_differential_phase": (0.1, -2.0),
}


def pack(values: np.ndarray, step: float, offset: float) -> np.ndarray:
    """Quantise to uint8 codes (nearest step, clipped to 0..254); NaN -> 255."""
    codes = np.rint((np.asarray(values, dtype=np.float32) - offset) / step)
    codes = np.clip(np.nan_to_num(codes, nan=FILL_CODE), 0, 254)
    codes[~np.isfinite(values)] = FILL_CODE
    return codes.astype(np.uint8)


def unpack(codes: np.ndarray, step: float, offset: float) -> np.ndarray:
    """uint8 codes back to float32 values; 255 -> NaN."""
    out = offset + step * codes.astype(np.float32)
    out[codes == FILL_CODE] = np.nan
    return out


def max_over_volumes(codes: np.ndarray, name: str = "reflectivity") -> np.ndarray:
    """Decode the maximum of uint8 codes of moment ``name`` over their first axis (volumes).

    A cell whose every code is 255 ("no data") or 0 (the bottom of the range, e.g. -32 dBZ)
    has no maximum: NaN.

    Parameters
    ----------
    codes : ndarray of uint8
        Codes ``(volume, ...)``, e.g. a day's lowest level ``(volume, lat, lon)``.
    name : str
        Moment whose packing (:data:`PACKING`) decodes the codes.

    Returns
    -------
    ndarray of float64
        ``offset + step * max code``, shape ``codes.shape[1:]``.
    """
    step, offset = PACKING[name]
    max_code = np.where(codes == FILL_CODE, 0, codes).max(axis=0)
    return np.where(max_code > 0, offset + step * max_code, np.nan)


def cf_code_attrs(name: str) -> dict:
    """CF attributes of uint8 codes of moment ``name`` held in memory (decoded on file read)."""
    step, offset = PACKING[name]
    units = {"reflectivity": "dBZ", "differential_reflectivity": "dB"}.get(name, "deg/km")
    return {
        "scale_factor": np.float32(step),
        "add_offset": np.float32(offset),
        "_FillValue": np.uint8(FILL_CODE),
        "units": units,
    }


def pack_dbz(dbz: np.ndarray) -> np.ndarray:
    """Reflectivity (dBZ) -> uint8 codes in 0.5 dB steps."""
    return pack(dbz, *PACKING["reflectivity"])


def unpack_dbz(codes: np.ndarray) -> np.ndarray:
    return unpack(codes, *PACKING["reflectivity"])


def set_compact_encoding(ds: xr.Dataset, complevel: int = 4) -> xr.Dataset:
    """Attach uint8 CF packing + zlib encoding to the packed moments of ``ds`` (in place).

    Anything that writes the dataset with ``to_netcdf`` (the IO manager included) then stores it
    compactly; reading it back gives float values within half a step.
    """
    for name, (step, offset) in PACKING.items():
        if name in ds:
            # values outside the packable range would wrap around: clip them first
            lo, hi = offset, offset + 254 * step
            ds[name] = ds[name].clip(lo, hi)
            ds[name].encoding.update(
                dtype="uint8",
                scale_factor=np.float32(step),
                add_offset=np.float32(offset),
                _FillValue=np.uint8(FILL_CODE),
                zlib=True,
                complevel=complevel,
            )
    for name in ds.data_vars:
        if name not in PACKING:
            ds[name].encoding.update(zlib=True, complevel=complevel)
    return ds


def write_compact_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write ``ds`` packed and compressed, atomically (temporary file + rename)."""
    set_compact_encoding(ds)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
