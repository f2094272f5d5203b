"""CF-1.8 NetCDF and Cloud Optimized GeoTIFF writers for the fused rain products.

Builders return :class:`xarray.Dataset` objects with every CF attribute set (so the same object is
the asset value and the file); writers take a *local* path, which the caller obtains from an atomic
context (``ProductStoreResource.atomic_local_file`` or :func:`atomic_local_path`), so an interrupted
write never leaves a partial product at the final path.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.atomic import atomic_path
from fusion_ops.products.errors import ProductInputError
from fusion_ops.products.merge import FLAG_BITS, FLAG_MEANINGS

WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)
#: CF-1.8 (section 2.2) allows char, byte, short, int, float and double only: no unsigned or 64-bit
#: integers. The source flag is a signed byte, its ``flag_masks`` of the same type.
FLAG_DTYPE = "int8"
#: ``time`` and ``time_bnds``: whole minutes since 1970 fit a 32-bit int until the year 6053.
TIME_DTYPE = "int32"
REFERENCES = (
    "Chen, Chandrasekar, Tan & Cifelli (2019), GRL 46:10669; "
    "Chen, Chandrasekar, Cifelli & Xie (2020), IEEE TGRS 58:982"
)


@dataclass(frozen=True)
class Provenance:
    """What a product was made from, recorded as global attributes of every file."""

    model_versions: Mapping[str, str] = field(default_factory=dict)
    input_files: Sequence[str] = ()
    software_version: str = ""
    configuration_hash: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def attrs(self) -> dict[str, str]:
        """Global attributes (strings only, so NetCDF and GeoTIFF tags can both carry them)."""
        out = {
            "model_versions": json.dumps(dict(sorted(self.model_versions.items()))),
            "input_files": json.dumps(sorted(self.input_files)),
            "software_version": self.software_version,
            "configuration_hash": self.configuration_hash,
        }
        out.update({k: str(v) for k, v in self.extra.items()})
        return out


def software_version() -> str:
    """``rainfuse <version>`` of the installed distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"rainfuse {version('rainfuse')}"
    except PackageNotFoundError:
        return "rainfuse (not installed)"


def _crs_variable() -> xr.DataArray:
    return xr.DataArray(
        np.int32(0),
        attrs={
            "grid_mapping_name": "latitude_longitude",
            "longitude_of_prime_meridian": 0.0,
            "semi_major_axis": 6378137.0,
            "inverse_flattening": 298.257223563,
            "crs_wkt": WGS84_WKT,
            "spatial_ref": WGS84_WKT,
            "long_name": "WGS 84 geographic coordinates",
        },
    )


def _grid_coords(lat_deg: np.ndarray, lon_deg: np.ndarray) -> dict[str, xr.Variable]:
    lat = np.asarray(lat_deg, dtype="float64")
    lon = np.asarray(lon_deg, dtype="float64")
    if lat.ndim != 1 or lon.ndim != 1 or lat.size < 2 or lon.size < 2:
        raise ProductInputError("product grid", "lat/lon must be 1-D with at least two cells")
    return {
        "lat": xr.Variable(
            "lat",
            lat,
            {
                "standard_name": "latitude",
                "long_name": "latitude of cell centre",
                "units": "degrees_north",
                "axis": "Y",
            },
        ),
        "lon": xr.Variable(
            "lon",
            lon,
            {
                "standard_name": "longitude",
                "long_name": "longitude of cell centre",
                "units": "degrees_east",
                "axis": "X",
            },
        ),
    }


def _global_attrs(title: str, day: str, provenance: Provenance) -> dict[str, str]:
    attrs = {
        "Conventions": "CF-1.8",
        "title": title,
        "institution": "rainfuse",
        "source": "fusion of gauge-calibrated ground radar (MLP-1), spaceborne radar (MLP-2) "
        "and geostationary satellite (MLP-3) rain, adjusted to rain gauges (wradlib)",
        "references": REFERENCES,
        "product_day": day,
        "history": f"created by {provenance.software_version or software_version()}",
    }
    attrs.update(provenance.attrs())
    return attrs


def _flag_attrs() -> dict[str, object]:
    names = list(FLAG_BITS)
    return {
        "long_name": "sources contributing to the merged rain (bitwise)",
        "flag_masks": np.array([FLAG_BITS[n] for n in names], dtype=FLAG_DTYPE),
        "flag_meanings": " ".join(FLAG_MEANINGS[n] for n in names),
        "grid_mapping": "crs",
    }


def _flag_values(source_flag: np.ndarray) -> np.ndarray:
    """The bitwise source flag as a CF byte (the bits of :data:`FLAG_BITS` all fit in 7 bits)."""
    flag = np.asarray(source_flag)
    if flag.size and (flag.min() < 0 or flag.max() > np.iinfo(FLAG_DTYPE).max):
        raise ProductInputError("source flag", f"values outside 0-127: {flag.min()}..{flag.max()}")
    return flag.astype(FLAG_DTYPE)


def hourly_product_dataset(
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    rain_mm_h: np.ndarray,
    std_mm_h: np.ndarray,
    source_flag: np.ndarray,
    provenance: Provenance,
) -> xr.Dataset:
    """Hourly fused rain rate of one UTC day, ``(time, lat, lon)``; time is each hour's start.

    ``rain_mm_h`` is the mean rate over ``[time, time + 1 h)`` (``cell_methods: time: mean``),
    bounded by ``time_bnds``.
    """
    coords = _grid_coords(lat_deg, lon_deg)
    shape = (np.shape(rain_mm_h)[0], coords["lat"].size, coords["lon"].size)
    for name, arr in (("rain", rain_mm_h), ("std", std_mm_h), ("flag", source_flag)):
        if np.shape(arr) != shape:
            raise ProductInputError(
                "hourly product", f"{name} has shape {np.shape(arr)}, not {shape}"
            )
    start = pd.Timestamp(day)
    times = start + pd.to_timedelta(np.arange(shape[0]), unit="h")
    bounds = np.stack([times, times + pd.Timedelta(hours=1)], axis=1)
    grid = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "rainfall_rate": (
                grid,
                np.asarray(rain_mm_h, dtype="float32"),
                {
                    "standard_name": "rainfall_rate",
                    "long_name": "fused gauge-adjusted hourly rain rate",
                    "units": "mm h-1",
                    "cell_methods": "time: mean",
                    "grid_mapping": "crs",
                    "ancillary_variables": "rainfall_rate_stddev source_flag",
                },
            ),
            "rainfall_rate_stddev": (
                grid,
                np.asarray(std_mm_h, dtype="float32"),
                {
                    "standard_name": "rainfall_rate standard_error",
                    "long_name": "uncertainty (standard deviation) of the fused rain rate",
                    "units": "mm h-1",
                    "grid_mapping": "crs",
                },
            ),
            "source_flag": (grid, _flag_values(source_flag), _flag_attrs()),
            "time_bnds": (("time", "nv"), bounds),
            "crs": _crs_variable(),
        },
        coords={
            "time": xr.Variable(
                "time",
                times.to_numpy(),
                {
                    "standard_name": "time",
                    "long_name": "start of the hour",
                    "axis": "T",
                    "bounds": "time_bnds",
                },
            ),
            **coords,
        },
        attrs=_global_attrs("rainfuse hourly fused rainfall", day, provenance),
    )
    _encode_time(ds)
    return ds


def daily_product_dataset(
    day: str,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    daily_mm: np.ndarray,
    std_mm: np.ndarray,
    source_flag: np.ndarray,
    n_hours: np.ndarray,
    provenance: Provenance,
) -> xr.Dataset:
    """Daily fused rain total of one UTC day, ``(time=1, lat, lon)``; time is the day's start."""
    coords = _grid_coords(lat_deg, lon_deg)
    shape = (coords["lat"].size, coords["lon"].size)
    for name, arr in (("total", daily_mm), ("std", std_mm), ("flag", source_flag), ("n", n_hours)):
        if np.shape(arr) != shape:
            raise ProductInputError(
                "daily product", f"{name} has shape {np.shape(arr)}, not {shape}"
            )
    start = pd.Timestamp(day)
    grid = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "rainfall_amount": (
                grid,
                np.asarray(daily_mm, dtype="float32")[np.newaxis],
                {
                    "standard_name": "thickness_of_rainfall_amount",
                    "long_name": "fused gauge-adjusted daily rainfall total",
                    "units": "mm",
                    "cell_methods": "time: sum",
                    "grid_mapping": "crs",
                    "ancillary_variables": "rainfall_amount_stddev source_flag",
                },
            ),
            "rainfall_amount_stddev": (
                grid,
                np.asarray(std_mm, dtype="float32")[np.newaxis],
                {
                    "standard_name": "thickness_of_rainfall_amount standard_error",
                    "long_name": "uncertainty (standard deviation) of the daily total, "
                    "hourly errors taken as independent",
                    "units": "mm",
                    "grid_mapping": "crs",
                },
            ),
            "source_flag": (
                grid,
                _flag_values(source_flag)[np.newaxis],
                _flag_attrs(),
            ),
            "hours_observed": (
                grid,
                np.asarray(n_hours, dtype="int16")[np.newaxis],
                {
                    "long_name": "number of hours with a fused estimate",
                    "units": "1",
                    "grid_mapping": "crs",
                },
            ),
            "time_bnds": (("time", "nv"), np.array([[start, start + pd.Timedelta(days=1)]])),
            "crs": _crs_variable(),
        },
        coords={
            "time": xr.Variable(
                "time",
                np.array([start.to_datetime64()]),
                {
                    "standard_name": "time",
                    "long_name": "start of the UTC day",
                    "axis": "T",
                    "bounds": "time_bnds",
                },
            ),
            **coords,
        },
        attrs=_global_attrs("rainfuse daily fused rainfall", day, provenance),
    )
    _encode_time(ds)
    return ds


TIME_ENCODING = {
    "units": "minutes since 1970-01-01 00:00:00",
    "calendar": "standard",
    "dtype": TIME_DTYPE,
}


def _encode_time(ds: xr.Dataset) -> None:
    """One time unit and type for ``time`` and ``time_bnds`` (CF), whoever writes the dataset."""
    for name in ("time", "time_bnds"):
        ds[name].encoding.update(TIME_ENCODING)


def write_netcdf(ds: xr.Dataset, local_path: str) -> None:
    """Write a product dataset as compressed NetCDF-4 (CF-1.8) to a local path.

    Only CF-1.8 data types are written (the IOOS compliance checker's ``cf:1.8`` suite passes,
    ``tests/products/test_prod_cf_compliance.py``): times as 32-bit ints in
    ``minutes since 1970-01-01`` (standard calendar), so re-writing the same day gives the same
    numbers; the source flag as a signed byte. Floats carry a NaN ``_FillValue`` of their own
    type; integer variables (source flag, hours observed) have no missing values and no
    ``_FillValue``, so readers get them back as integers. A dataset stored before these types
    (uint8 flag, int64 times) is written with them too.
    """
    if "source_flag" in ds:
        flag = ds["source_flag"]
        attrs = dict(flag.attrs)
        if "flag_masks" in attrs:
            attrs["flag_masks"] = np.asarray(attrs["flag_masks"], dtype=FLAG_DTYPE)
        ds = ds.assign(source_flag=(flag.dims, _flag_values(flag.values), attrs))
    encoding: dict[str, dict[str, object]] = {}
    for name, var in ds.data_vars.items():
        if var.ndim >= 2 and name != "time_bnds":
            encoding[name] = {"zlib": True, "complevel": 4}
            if var.dtype.kind == "f":
                encoding[name]["_FillValue"] = var.dtype.type(np.nan)
            else:
                encoding[name]["_FillValue"] = None
    encoding["time"] = dict(TIME_ENCODING)
    encoding["time_bnds"] = dict(TIME_ENCODING)
    for coord in ("lat", "lon"):
        encoding[coord] = {"_FillValue": None}
    ds.to_netcdf(local_path, engine="netcdf4", format="NETCDF4", encoding=encoding)


def write_cog(
    daily_mm: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    local_path: str,
    tags: Mapping[str, str] | None = None,
    blocksize: int = 128,
) -> None:
    """Write the daily total (mm) as a Cloud Optimized GeoTIFF with rasterio's COG driver.

    The COG driver tiles internally (``blocksize`` square tiles) and builds overviews (average
    resampling) until the image fits one tile; the grid is written north-up in EPSG:4326.
    """
    import rasterio
    from rasterio.transform import Affine

    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    data = np.asarray(daily_mm, dtype="float32")
    if data.shape != (lat.size, lon.size):
        raise ProductInputError("cog", f"field shape {data.shape} does not match the grid")
    dlat = float(np.mean(np.diff(lat)))
    dlon = float(np.mean(np.diff(lon)))
    if lat[0] < lat[-1]:  # GeoTIFF rows run north to south
        data = data[::-1]
    west = float(lon.min() - dlon / 2)
    north = float(lat.max() + abs(dlat) / 2)
    transform = Affine(dlon, 0.0, west, 0.0, -abs(dlat), north)
    with rasterio.open(
        local_path,
        "w",
        driver="COG",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        nodata=float("nan"),
        BLOCKSIZE=blocksize,
        COMPRESS="DEFLATE",
        PREDICTOR=3,
        OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING="AVERAGE",
    ) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "daily rainfall total (mm)")
        dst.update_tags(1, units="mm", long_name="fused gauge-adjusted daily rainfall total")
        dst.update_tags(**dict(tags or {}))


COG_TAG_KEYS = ("model_versions", "software_version", "configuration_hash", "product_day")
"""Global attributes of the daily product copied into the COG's tags."""
QUALITY_FLAG_ATTR = "rainfuse_quality_flag"
"""Global attribute and COG tag: ``cold_start`` (a calibration model was its fallback) or ``ok``."""
FALLBACK_MODELS_ATTR = "rainfuse_fallback_models"
"""Global attribute and COG tag: the fallback models, space-separated (empty when none)."""
COG_QUALITY_TAG_KEYS = (QUALITY_FLAG_ATTR, FALLBACK_MODELS_ATTR)
"""The product's quality attributes, also copied into the COG's tags (when the product has them)."""


def write_daily_cog(daily: xr.Dataset, local_path: str) -> None:
    """Write a daily product's total as a COG (:func:`write_cog`) tagged with its provenance.

    Parameters
    ----------
    daily : the daily product (``rainfall_amount (time=1, lat, lon)`` in mm); its attributes
        named in :data:`COG_TAG_KEYS` and :data:`COG_QUALITY_TAG_KEYS` become tags.
    local_path : where to write (a local path from an atomic context).
    """
    keys = (*COG_TAG_KEYS, *COG_QUALITY_TAG_KEYS)
    tags = {k: str(daily.attrs[k]) for k in keys if k in daily.attrs}
    write_cog(
        daily["rainfall_amount"].isel(time=0).values,
        daily["lat"].values,
        daily["lon"].values,
        local_path,
        tags=tags,
    )


#: A temporary path beside a final path, moved onto it in one step on success (for use without
#: the product store: notebooks, tests); the one implementation is :func:`fusion_ops.atomic.atomic_path`.
atomic_local_path = atomic_path


def product_relative_paths(day: str, domain: str = "kmlb") -> dict[str, str]:
    """Product-store paths of one day: ``YYYY/MM/rainfuse_<kind>_<domain>_<YYYYMMDD>.<ext>``."""
    d = dt.date.fromisoformat(day)
    stem = f"{d:%Y}/{d:%m}/rainfuse_{{kind}}_{domain}_{d:%Y%m%d}"
    return {
        "hourly_nc": stem.format(kind="hourly") + ".nc",
        "daily_nc": stem.format(kind="daily") + ".nc",
        "daily_cog": stem.format(kind="daily") + ".tif",
        "map_png": stem.format(kind="daily_map") + ".png",
    }
