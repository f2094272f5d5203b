"""GOES ABI L1b through satpy: calibrated bands, product-grid features, native-resolution bands.

* calibration: satpy's ``abi_l1b`` reader (reflectance % for C01-C06, brightness temperature K
  for C07-C16);
* remote files: ``fsspec`` -> ``satpy.readers.core.remote.FSFile`` (same code for s3 and local);
* product grid: a regular lat/lon ``pyresample`` area (cell centres as
  :class:`~fusion_ops.grid.ProductGrid`), nearest-neighbour resampling within 5 km;
* hourly features: mean of each band per hour and cell, plus the coldest C13 and two brightness
  temperature differences used for rain screening (C08-C13 water vapour minus window, C14-C15
  split window);
* native-resolution bands: :func:`read_abi_native` keeps the 0.5/1/2 km bands as they are.

Each file is opened (header and ``Rad`` variable) before satpy sees it, so a truncated, corrupt
or empty file becomes a quarantine record and the other bands still load.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence

import fsspec
import h5py
import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.grid import ProductGrid
from fusion_ops.readers.errors import QuarantineRecord, UnreadableFileError, describe_exception
from fusion_ops.readers.remote import fs_options

ABI_NAME = re.compile(
    r"OR_ABI-L1b-Rad(?P<sector>[FCM]\d?)-M\d(?P<channel>C\d{2})_G(?P<sat>\d{2})_"
    r"s(?P<start>\d{14})_e\d{14}_c\d{14}\.nc$"
)
REFLECTIVE = tuple(f"C{i:02d}" for i in range(1, 7))
EMISSIVE = tuple(f"C{i:02d}" for i in range(7, 17))
READER = "abi_l1b"


def parse_abi_name(url: str) -> dict[str, str] | None:
    m = ABI_NAME.search(os.path.basename(str(url)))
    return m.groupdict() if m else None


def scan_start(url: str) -> pd.Timestamp | None:
    """Scan start time of an ABI file from its name (``sYYYYJJJHHMMSSs``)."""
    info = parse_abi_name(url)
    if not info:
        return None
    s = info["start"]
    return pd.Timestamp(pd.to_datetime(s[:13], format="%Y%j%H%M%S"), tz="UTC")


def list_abi_files(
    root_url: str,
    day,
    product: str = "ABI-L1b-RadC",
    hours: Iterable[int] = range(24),
    channels: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> list[str]:
    """ABI files of a day under the NOAA key layout ``{root}/{product}/YYYY/JJJ/HH/OR_...nc``."""
    day = pd.Timestamp(day)
    opts = fs_options(root_url, storage_options)
    fs, root = fsspec.core.url_to_fs(str(root_url), **opts)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if proto in ("file", "local") else f"{proto}://"
    out = []
    for h in hours:
        folder = f"{root.rstrip('/')}/{product}/{day:%Y}/{day.dayofyear:03d}/{h:02d}"
        try:
            names = fs.ls(folder, detail=False)
        except (FileNotFoundError, OSError):
            continue
        for n in names:
            info = parse_abi_name(n)
            if info and (channels is None or info["channel"] in channels):
                out.append(prefix + n)
    return sorted(out)


def _check_file(url: str, storage_options: dict | None) -> None:
    """Open the file and read its ``Rad`` variable header; raise UnreadableFileError if bad."""
    if parse_abi_name(url) is None:
        raise UnreadableFileError(url, "file name does not follow the ABI L1b pattern", READER)
    opts = fs_options(url, storage_options)
    try:
        with fsspec.open(str(url), "rb", **opts) as fh:
            data = fh.read()
    except OSError as exc:
        raise UnreadableFileError(url, describe_exception(exc), READER) from exc
    if not data:
        raise UnreadableFileError(url, "empty file", READER)
    if data[:8] != b"\x89HDF\r\n\x1a\n":
        raise UnreadableFileError(url, f"not a netCDF-4 file (first bytes {data[:8]!r})", READER)
    try:
        # h5py, not xarray: only Rad is needed, and decoding the file's ~40 other variables'
        # metadata took half of the satellite ingest
        with h5py.File(io.BytesIO(data), "r") as ds:
            if "Rad" not in ds:
                raise UnreadableFileError(url, "no Rad variable", READER)
            rad = np.asarray(ds["Rad"][()])
            if rad.ndim != 2 or rad.size == 0:
                raise UnreadableFileError(url, f"Rad has shape {rad.shape}", READER)
    except UnreadableFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py/h5netcdf raise many types on bad bytes
        raise UnreadableFileError(
            url, f"corrupt or truncated: {describe_exception(exc)}", READER
        ) from exc


def _satpy_inputs(urls: Sequence[str], storage_options: dict | None) -> list:
    local = [u for u in urls if "://" not in str(u) or str(u).startswith("file://")]
    if len(local) == len(urls):
        return [str(u).removeprefix("file://") for u in urls]
    from satpy.readers.core.remote import FSFile

    opts = fs_options(str(urls[0]), storage_options)
    return [FSFile(f) for f in fsspec.open_files(list(urls), **opts)]


def load_scene(
    urls: Sequence[str],
    channels: Sequence[str] | None = None,
    storage_options: dict | None = None,
):
    """Validated files of one scan -> (satpy Scene with calibrated channels, quarantine)."""
    from satpy import Scene

    quarantine: list[QuarantineRecord] = []
    good = []
    for u in urls:
        try:
            _check_file(u, storage_options)
            good.append(u)
        except UnreadableFileError as err:
            quarantine.append(QuarantineRecord.from_error(err))
    if not good:
        return None, quarantine
    chans = sorted({parse_abi_name(u)["channel"] for u in good})
    if channels is not None:
        chans = [c for c in chans if c in channels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = Scene(reader="abi_l1b", filenames=_satpy_inputs(good, storage_options))
        scn.load(chans)
    return scn, quarantine


def read_abi_native(
    urls: Sequence[str],
    channels: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> tuple[dict[str, xr.DataArray], list[QuarantineRecord]]:
    """Calibrated bands at native resolution (dims ``y, x``), for the imagery fusion products."""
    scn, quarantine = load_scene(urls, channels, storage_options)
    if scn is None:
        return {}, quarantine
    out = {}
    dataset_ids = scn.keys()  # iterating a Scene yields arrays, not ids
    for did in dataset_ids:
        da = scn[did]
        arr = xr.DataArray(
            np.asarray(da.values, dtype=np.float32),
            dims=("y", "x"),
            coords={"y": da["y"].values, "x": da["x"].values},
            attrs={
                "units": str(da.attrs.get("units", "")),
                "calibration": getattr(did["calibration"], "name", str(did["calibration"])),
                "resolution_m": float(did["resolution"]),
                "start_time": str(da.attrs.get("start_time", "")),
            },
        )
        out[did["name"]] = arr
    return out, quarantine


def grid_area(grid: ProductGrid):
    """pyresample area of the product grid (cell centres = ``grid.lat``/``grid.lon``)."""
    from pyresample import create_area_def

    d = grid.spacing_deg
    lat, lon = grid.lat, grid.lon
    return create_area_def(
        "rainfuse_grid",
        {"proj": "longlat", "datum": "WGS84"},
        area_extent=(lon[0] - d / 2, lat[0] - d / 2, lon[-1] + d / 2, lat[-1] + d / 2),
        shape=(lat.size, lon.size),
    )


#: Nearest-neighbour index maps, one per (source area, product grid, radius): an ABI sector keeps
#: its fixed-grid footprint from scan to scan, so the k-d tree is built once, not once per scan.
_NEAREST_INDEX_CACHE: dict[tuple, np.ndarray] = {}


def _area_key(area) -> tuple:
    return (area.crs.to_wkt(), tuple(np.round(area.area_extent, 3)), tuple(area.shape))


def nearest_index(source_area, target_area, radius_of_influence_m: float) -> np.ndarray:
    """Flat source index of the nearest pixel for every target cell (-1 where none in range)."""
    key = (_area_key(source_area), _area_key(target_area), float(radius_of_influence_m))
    cached = _NEAREST_INDEX_CACHE.get(key)
    if cached is not None:
        return cached
    from pyresample import kd_tree

    valid_in, valid_out, index, _ = kd_tree.get_neighbour_info(
        source_area, target_area, radius_of_influence_m, neighbours=1
    )
    source_of_valid = np.flatnonzero(valid_in)
    mapping = np.full(int(np.prod(target_area.shape)), -1, dtype=np.int64)
    found = index < source_of_valid.size
    targets = np.flatnonzero(valid_out)
    mapping[targets[found]] = source_of_valid[index[found]]
    mapping = mapping.reshape(target_area.shape)
    if len(_NEAREST_INDEX_CACHE) > 32:
        _NEAREST_INDEX_CACHE.clear()
    _NEAREST_INDEX_CACHE[key] = mapping
    return mapping


def scene_on_grid(scn, grid: ProductGrid, radius_of_influence_m: float = 5000.0) -> xr.Dataset:
    """Nearest-neighbour resampling of a loaded scene to the product grid (rows south -> north).

    Uses pyresample's neighbour search once per source geometry (cached index map), then a
    plain gather per band and scan.
    """
    area = grid_area(grid)
    data_vars = {}
    dataset_ids = scn.keys()  # a satpy Scene iterates over DataArrays, not over its keys
    for did in dataset_ids:
        band = scn[did]
        mapping = nearest_index(band.attrs["area"], area, radius_of_influence_m)
        values = np.asarray(band.values, dtype=np.float32).ravel()
        arr = np.where(mapping >= 0, values[np.maximum(mapping, 0)], np.float32(np.nan))
        kind = "refl" if did["name"] in REFLECTIVE else "bt"
        unit = "%" if kind == "refl" else "K"
        # area rows run north -> south; the product grid runs south -> north
        data_vars[f"{kind}_{did['name'].lower()}"] = (("lat", "lon"), arr[::-1], {"units": unit})
    return xr.Dataset(data_vars, coords={"lat": grid.lat, "lon": grid.lon})


def hourly_features(
    urls: Sequence[str],
    grid: ProductGrid,
    channels: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> tuple[xr.Dataset, list[QuarantineRecord]]:
    """Hourly features on the product grid from every scan in ``urls``.

    Returns
    -------
    features : xarray.Dataset
        Dims ``(time, lat, lon)`` (``time`` = hour start, UTC); per band the hourly mean
        (``bt_cNN`` K, ``refl_cNN`` %), plus ``bt_c13_min`` (coldest window BT in the hour),
        ``btd_c08_c13`` and ``btd_c14_c15`` (K), and ``n_scenes``.  Empty ``time`` when no scan.
    quarantine : list of QuarantineRecord
    """
    by_scan: dict[pd.Timestamp, list[str]] = defaultdict(list)
    quarantine: list[QuarantineRecord] = []
    for u in urls:
        t = scan_start(u)
        if t is None:
            quarantine.append(
                QuarantineRecord(str(u), "file name does not follow the ABI L1b pattern", READER)
            )
            continue
        by_scan[t].append(u)
    per_hour: dict[pd.Timestamp, list[xr.Dataset]] = defaultdict(list)
    for t in sorted(by_scan):
        try:
            scn, q = load_scene(by_scan[t], channels, storage_options)
        except Exception as exc:  # noqa: BLE001 - satpy failure on a whole scan
            quarantine.extend(
                QuarantineRecord(str(u), describe_exception(exc), READER) for u in by_scan[t]
            )
            continue
        quarantine.extend(q)
        if scn is None:
            continue
        per_hour[t.floor("h")].append(scene_on_grid(scn, grid))
    hours = sorted(per_hour)
    if not hours:
        return empty_features(grid), quarantine
    frames = []
    for h in hours:
        stack = xr.concat(per_hour[h], dim="scene", join="outer")
        mean = stack.mean("scene", skipna=True)
        if "bt_c13" in stack:
            mean["bt_c13_min"] = stack["bt_c13"].min("scene", skipna=True)
        mean["n_scenes"] = xr.DataArray(np.int16(len(per_hour[h])))
        frames.append(mean.expand_dims(time=[h.tz_localize(None).to_datetime64()]))
    feats = xr.concat(frames, dim="time", join="outer")
    if "bt_c08" in feats and "bt_c13" in feats:
        feats["btd_c08_c13"] = feats["bt_c08"] - feats["bt_c13"]
    if "bt_c14" in feats and "bt_c15" in feats:
        feats["btd_c14_c15"] = feats["bt_c14"] - feats["bt_c15"]
    for v in feats.data_vars:
        if v.startswith(("bt", "btd")):
            feats[v].attrs["units"] = "K"
        elif v.startswith("refl"):
            feats[v].attrs["units"] = "%"
    for v in list(feats.data_vars):
        if v != "n_scenes":
            feats[v] = feats[v].astype(np.float32)
    return feats, quarantine


def empty_features(grid: ProductGrid) -> xr.Dataset:
    """Feature dataset with zero hours (a day without imagery)."""
    return xr.Dataset(
        {"n_scenes": (("time",), np.zeros(0, np.int16))},
        coords={"time": np.zeros(0, "datetime64[ns]"), "lat": grid.lat, "lon": grid.lon},
    )


def native_scene_dataset(
    urls: Sequence[str],
    channels: Sequence[str] | None = None,
    storage_options: dict | None = None,
) -> tuple[xr.Dataset, list[QuarantineRecord]]:
    """One scan's bands at native resolution in one Dataset.

    Bands of the same resolution share dims ``y_<res>m, x_<res>m`` (fixed-grid scan angles,
    rad); variables ``CNN`` keep their calibration in ``units``.
    """
    bands, quarantine = read_abi_native(urls, channels, storage_options)
    data_vars = {}
    coords = {}
    for name, da in sorted(bands.items()):
        res = int(round(da.attrs["resolution_m"]))
        ydim, xdim = f"y_{res}m", f"x_{res}m"
        coords[ydim] = da["y"].values
        coords[xdim] = da["x"].values
        data_vars[name] = ((ydim, xdim), da.values, dict(da.attrs))
    ds = xr.Dataset(data_vars, coords=coords)
    starts = [scan_start(u) for u in urls if scan_start(u) is not None]
    if starts:
        ds.attrs["scan_start"] = min(starts).isoformat()
    for v in ds.data_vars:
        ds[v].encoding.update(zlib=True, complevel=4)
    return ds, quarantine


#: ABI L1b products, in the order ``product="auto"`` tries them.
ABI_PRODUCTS = ("ABI-L1b-RadC", "ABI-L1b-RadM", "ABI-L1b-RadF")


def abi_day_files(
    archive_url: str,
    day,
    product: str,
    platform: str,
    storage_options: dict | None = None,
) -> list[str]:
    """ABI files of the day of one platform (``_G16_`` etc. in the name).

    Parameters
    ----------
    archive_url : str
        Root of the ABI archive (NOAA key layout, see :func:`list_abi_files`).
    day : date
        UTC day.
    product : str
        ``ABI-L1b-RadC``, ``ABI-L1b-RadM``, ``ABI-L1b-RadF``, or ``auto``: the first of
        :data:`ABI_PRODUCTS` with files of the platform that day.
    platform : str
        ``G16``, ``G17``, ``G18`` or ``G19``.
    storage_options : dict, optional
        fsspec options, secrets already resolved.

    Returns
    -------
    list of str
        Sorted URLs; empty when no product has files.
    """
    products = list(ABI_PRODUCTS) if product == "auto" else [product]
    for prod in products:
        files = list_abi_files(archive_url, day, prod, storage_options=storage_options)
        files = [f for f in files if f"_{platform}_" in f.rsplit("/", 1)[-1]]
        if files:
            return files
    return []


def files_by_scan(urls: Iterable[str]) -> dict[pd.Timestamp, list[str]]:
    """ABI files grouped by scan start (from the name); files without one are left out.

    Parameters
    ----------
    urls : iterable of str
        ABI L1b file names or URLs.

    Returns
    -------
    dict of Timestamp to list of str
        Scan start (UTC) -> the scan's files, in the order given.
    """
    by_scan: dict[pd.Timestamp, list[str]] = {}
    for url in urls:
        start = scan_start(url)
        if start is not None:
            by_scan.setdefault(start, []).append(url)
    return by_scan


def nearest_scan(urls: Iterable[str], day, hour_utc: float) -> list[str]:
    """The files of the scan starting nearest ``day`` at ``hour_utc``.

    Parameters
    ----------
    urls : iterable of str
        ABI L1b files (e.g. :func:`abi_day_files`).
    day : date
        UTC day.
    hour_utc : float
        Hour of the day (UTC, fractional) to get nearest to.

    Returns
    -------
    list of str
        The scan's files; empty when no file has a scan start.  Of two scans equally near, the
        first in the files' order.
    """
    by_scan = files_by_scan(urls)
    if not by_scan:
        return []
    target = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=hour_utc)
    return by_scan[min(by_scan, key=lambda t: abs(t - target))]


def native_scene_near(
    urls: Sequence[str], day, hour_utc: float, storage_options: dict | None = None
) -> tuple[xr.Dataset, list[QuarantineRecord]]:
    """The scan nearest ``hour_utc`` of ``day`` (:func:`nearest_scan`) at native resolution.

    Parameters
    ----------
    urls : sequence of str
        The day's ABI L1b files.
    day : date
        UTC day.
    hour_utc : float
        Hour of the day (UTC) to get nearest to.
    storage_options : dict, optional
        fsspec options, secrets already resolved.

    Returns
    -------
    scene : xarray.Dataset
        As :func:`native_scene_dataset`; an empty Dataset when no file has a scan start.
    quarantine : list of QuarantineRecord
    """
    scan = nearest_scan(urls, day, hour_utc)
    if not scan:
        return xr.Dataset(), []
    return native_scene_dataset(scan, storage_options=storage_options)


def feature_grid(grid: ProductGrid, feature_spacing_deg: float) -> ProductGrid:
    """The grid of the hourly features: ``grid``, or the same domain at ``feature_spacing_deg``.

    Parameters
    ----------
    grid : ProductGrid
        The product grid.
    feature_spacing_deg : float
        Cell size of the features (degrees); 0 keeps ``grid``.

    Returns
    -------
    ProductGrid
    """
    return grid.respaced(feature_spacing_deg) if feature_spacing_deg > 0 else grid


def feature_figures(features: xr.Dataset) -> dict:
    """Figures of a day of hourly features (:func:`hourly_features`), as plain values.

    Parameters
    ----------
    features : xarray.Dataset
        The day's features.

    Returns
    -------
    dict
        ``hours`` and ``scenes`` (int) and ``bands`` (sorted ``bt_*``/``refl_*`` names).
    """
    n_hours = int(features.sizes.get("time", 0))
    return {
        "hours": n_hours,
        "scenes": int(features["n_scenes"].sum()) if n_hours else 0,
        "bands": sorted(v for v in features.data_vars if v.startswith(("bt_", "refl_"))),
    }


def c13_coverage(features: xr.Dataset) -> float | None:
    """Fraction of finite C13 brightness temperatures of a day of hourly features.

    Parameters
    ----------
    features : xarray.Dataset
        The day's features (:func:`hourly_features`).

    Returns
    -------
    float or None
        None when the day has no hour or no ``bt_c13``.
    """
    if int(features.sizes.get("time", 0)) and "bt_c13" in features:
        return float(np.isfinite(features["bt_c13"]).mean())
    return None


def scene_figures(scene: xr.Dataset) -> dict:
    """Figures of a native-resolution scene (:func:`native_scene_dataset`), as plain values.

    Parameters
    ----------
    scene : xarray.Dataset
        The scene; empty when the day had none.

    Returns
    -------
    dict
        ``bands`` (int), ``scan_start`` (ISO string, empty without one) and ``shapes`` (band
        -> list of its dimension sizes).
    """
    return {
        "bands": len(scene.data_vars),
        "scan_start": str(scene.attrs.get("scan_start", "")),
        "shapes": {v: list(scene[v].shape) for v in scene.data_vars},
    }
