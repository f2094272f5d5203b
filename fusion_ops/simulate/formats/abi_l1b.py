"""GOES-R ABI L1b radiance (``RadM``) netCDF writer on the ABI fixed grid.

The layout follows the GOES-R Product User's Guide (PUG) volume 3 as the operational files carry
it: ``Rad`` packed as 10-14 bit unsigned counts in int16 with ``scale_factor``/``add_offset``/
``_FillValue``/``_Unsigned``, ``DQF``, the ``goes_imager_projection`` grid mapping, int16 packed
scan angles ``x``/``y``, time variables (J2000 epoch seconds), band identification, and the
calibration constants readers need (``esun``/``kappa0``/``earth_sun_distance_anomaly_in_AU`` for
the reflective bands 1-6, ``planck_fk1``/``fk2``/``bc1``/``bc2`` for the emissive bands 7-16).

The fixed grid: scan angles step 14, 28 or 56 microradians (0.5, 1, 2 km at nadir) from the
full-disk edge at +-0.151872 rad; a sector is a block of whole 2 km pixels so that the 0.5, 1
and 2 km grids of one scene nest exactly, as in real mesoscale scenes.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import netCDF4
import numpy as np
from pyproj import CRS, Transformer

from fusion_ops.atomic import atomic_path

__all__ = [
    "ABI_BANDS",
    "AbiBand",
    "AbiGrid",
    "AbiWriteError",
    "abi_filename",
    "abi_lat_lon",
    "abi_sector_grid",
    "brightness_temperature_to_radiance",
    "reflectance_to_radiance",
    "write_abi_l1b",
]

PERSPECTIVE_POINT_HEIGHT_M = 35786023.0
SEMI_MAJOR_M = 6378137.0
SEMI_MINOR_M = 6356752.31414
INVERSE_FLATTENING = 298.2572221
_FULL_DISK_HALF_WIDTH_URAD = 151872  # 5424 pixels x 56 urad / 2
_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)


class AbiWriteError(ValueError):
    """Bad input for an ABI L1b file (names the target and the reason)."""


@dataclass(frozen=True)
class AbiBand:
    """Per-band constants of the L1b product (PUG vol. 3 table 5.1.3.6-1 style)."""

    band: int
    wavelength_um: float
    resolution_km: float
    bit_depth: int
    rad_scale: float
    rad_offset: float

    @property
    def step_urad(self) -> int:
        return int(round(self.resolution_km * 28))

    @property
    def emissive(self) -> bool:
        return self.band >= 7


# Radiance packing per band: identical in the GOES-16/17/18 products (checked on real G17 files).
ABI_BANDS: dict[int, AbiBand] = {
    b.band: b
    for b in (
        AbiBand(1, 0.47, 1.0, 10, 0.8121064, -25.936647),
        AbiBand(2, 0.64, 0.5, 12, 0.15859237, -20.289911),
        AbiBand(3, 0.87, 1.0, 10, 0.37691253, -12.037643),
        AbiBand(4, 1.38, 2.0, 11, 0.07073108, -4.5223684),
        AbiBand(5, 1.61, 1.0, 10, 0.09580004, -3.0596137),
        AbiBand(6, 2.25, 2.0, 10, 0.030088475, -0.9609507),
        AbiBand(7, 3.89, 2.0, 14, 0.001564351, -0.0376),
        AbiBand(8, 6.17, 2.0, 12, 0.007104763, -0.5586),
        AbiBand(9, 6.93, 2.0, 11, 0.022539102, -0.8236),
        AbiBand(10, 7.34, 2.0, 12, 0.02004128, -0.9561),
        AbiBand(11, 8.44, 2.0, 12, 0.03335779, -1.3022),
        AbiBand(12, 9.61, 2.0, 11, 0.05443998, -1.5394),
        AbiBand(13, 10.33, 2.0, 12, 0.04572892, -1.6443),
        AbiBand(14, 11.19, 2.0, 12, 0.049492206, -1.7187),
        AbiBand(15, 12.27, 2.0, 12, 0.05277411, -1.7558),
        AbiBand(16, 13.27, 2.0, 10, 0.17605852, -5.2392),
    )
}

# Bandpass-weighted solar irradiance (W m-2 um-1) of bands 1-6, per satellite.
_ESUN = {
    "G16": (2017.1648, 1631.3351, 957.0699, 360.9018, 242.5404, 77.6472),
    "G17": (2041.6865, 1628.0801, 955.5531, 361.51877, 242.64404, 77.00672),  # real G17 files
}
# Planck constants (fk1 W m-1, fk2 K, bc1 K, bc2 1) of bands 7-16: band -> (G16, G17), the G17
# ones from the real G17 RadM1 files.
_PLANCK_BY_BAND = {
    7: ((202263.0, 3698.19, 0.43361, 0.99939), (203135.0, 3703.5, 0.44554, 0.99938)),
    8: ((50687.0, 2331.58, 1.55228, 0.99783), (50687.1, 2331.58, 1.54088, 0.99669)),
    9: ((35828.3, 2076.95, 0.34427, 0.99948), (35759.1, 2075.61, 0.33955, 0.99919)),
    10: ((30174.0, 1961.38, 0.05651, 0.99991), (30160.0, 1961.08, 0.05653, 0.99986)),
    11: ((19779.9, 1703.83, 0.18733, 0.99964), (19712.5, 1701.89, 0.19396, 0.99946)),
    12: ((13432.1, 1497.61, 0.09102, 0.99976), (13418.5, 1497.10, 0.09143, 0.99971)),
    13: ((10803.3, 1392.74, 0.07550, 0.99975), (10835.6, 1394.12, 0.07786, 0.99974)),
    14: ((8510.22, 1286.67, 0.22516, 0.99920), (8495.35, 1285.52, 0.21781, 0.99922)),
    15: ((6454.62, 1173.03, 0.21702, 0.99916), (6439.94, 1172.14, 0.22019, 0.99914)),
    16: ((5101.27, 1084.53, 0.06266, 0.99974), (5063.58, 1081.86, 0.06224, 0.99974)),
}
_PLANCK = {
    platform: tuple(pair[k] for pair in _PLANCK_BY_BAND.values())
    for k, platform in enumerate(("G16", "G17"))
}
_PLATFORM = {  # orbital slot, instrument flight model, nominal sub-satellite longitude
    "G16": ("GOES-East", "FM1", -75.2),
    "G17": ("GOES-West", "FM2", -137.2),
}


@dataclass
class AbiGrid:
    """A fixed-grid sector of one band: pixel-centre scan angles in radians.

    ``x_rad`` increases west to east; ``y_rad`` decreases north to south (row 0 is north).
    """

    band: int
    x_rad: np.ndarray
    y_rad: np.ndarray
    satellite_lon_deg: float = -75.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y_rad.size, self.x_rad.size)

    @property
    def step_rad(self) -> float:
        return ABI_BANDS[self.band].step_urad * 1e-6

    def crs(self) -> CRS:
        """The geostationary projection (metres = radians x perspective height)."""
        return CRS.from_dict(
            {
                "proj": "geos",
                "h": PERSPECTIVE_POINT_HEIGHT_M,
                "lon_0": self.satellite_lon_deg,
                "a": SEMI_MAJOR_M,
                "b": SEMI_MINOR_M,
                "sweep": "x",
                "units": "m",
            }
        )

    def area_extent_m(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the pixel edges in projection metres."""
        h, half = PERSPECTIVE_POINT_HEIGHT_M, self.step_rad / 2
        return (
            (self.x_rad[0] - half) * h,
            (self.y_rad[-1] - half) * h,
            (self.x_rad[-1] + half) * h,
            (self.y_rad[0] + half) * h,
        )


def _band(band: int) -> AbiBand:
    if band not in ABI_BANDS:
        raise AbiWriteError(f"ABI band {band!r} does not exist (1-16)")
    return ABI_BANDS[band]


def _lonlat_to_scan(lon: float, lat: float, satellite_lon_deg: float) -> tuple[float, float]:
    crs = AbiGrid(13, np.zeros(1), np.zeros(1), satellite_lon_deg).crs()
    x_m, y_m = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    if not (np.isfinite(x_m) and np.isfinite(y_m)):
        raise AbiWriteError(f"({lat}, {lon}) is not visible from {satellite_lon_deg} E")
    return x_m / PERSPECTIVE_POINT_HEIGHT_M, y_m / PERSPECTIVE_POINT_HEIGHT_M


def abi_sector_grid(
    center_lat: float,
    center_lon: float,
    width_km: float,
    band: int,
    satellite_lon_deg: float = -75.0,
) -> AbiGrid:
    """A square mesoscale-like sector around a point at the band's native resolution.

    The sector is ``round(width_km / 2)`` whole 2 km fixed-grid pixels on a side (at nadir
    scale; a real M1 sector is 1000 km = 500 pixels), so the 0.5/1/2 km grids nest exactly.
    """
    info = _band(band)
    if width_km <= 0:
        raise AbiWriteError(f"sector width {width_km} km must be positive")
    x_c, y_c = _lonlat_to_scan(center_lon, center_lat, satellite_lon_deg)
    n2 = max(1, int(round(width_km / 2.0)))
    # index of the west / north edge on the 2 km full-disk grid (pixel i spans edge+i*56 urad)
    i0 = int(round((x_c * 1e6 + _FULL_DISK_HALF_WIDTH_URAD) / 56.0 - n2 / 2))
    j0 = int(round((_FULL_DISK_HALF_WIDTH_URAD - y_c * 1e6) / 56.0 - n2 / 2))
    k = 56 // info.step_urad  # native pixels per 2 km pixel
    n = n2 * k
    step = info.step_urad
    x_urad = -_FULL_DISK_HALF_WIDTH_URAD + i0 * 56 + step * (np.arange(n) + 0.5)
    y_urad = _FULL_DISK_HALF_WIDTH_URAD - j0 * 56 - step * (np.arange(n) + 0.5)
    return AbiGrid(band, x_urad * 1e-6, y_urad * 1e-6, satellite_lon_deg)


def abi_lat_lon(grid: AbiGrid) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees, 2-D, NaN off the Earth) of every pixel centre."""
    h = PERSPECTIVE_POINT_HEIGHT_M
    xx, yy = np.meshgrid(grid.x_rad * h, grid.y_rad * h)
    tr = Transformer.from_crs(grid.crs(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xx, yy)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lat) > 90)
    return np.where(bad, np.nan, lat), np.where(bad, np.nan, lon)


def _fmt_time(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{t:%Y%j%H%M%S}{t.microsecond // 100000}"


def abi_filename(
    band: int,
    start: datetime,
    end: datetime,
    created: datetime,
    platform: str = "G16",
    sector: str = "M1",
) -> str:
    """``OR_ABI-L1b-RadM1-M6C13_G16_s20091401200000_e..._c....nc`` (times to 0.1 s)."""
    _band(band)
    scene = "RadC" if sector == "C" else "RadF" if sector == "F" else f"Rad{sector}"
    return (
        f"OR_ABI-L1b-{scene}-M6C{band:02d}_{platform}_s{_fmt_time(start)}"
        f"_e{_fmt_time(end)}_c{_fmt_time(created)}.nc"
    )


def earth_sun_distance_au(t: datetime) -> float:
    """Earth-Sun distance in AU (first harmonic of the orbit eccentricity, perihelion Jan 4)."""
    doy = t.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(2.0 * math.pi * (doy - 4) / 365.256)


def _constants(platform: str, band: int) -> tuple:
    table = "G17" if platform == "G17" else "G16"  # G18/G19 use the G16 set (close enough)
    if band <= 6:
        return _ESUN[table][band - 1]
    return _PLANCK[table][band - 7]


def brightness_temperature_to_radiance(
    bt_k: np.ndarray, band: int, platform: str = "G16"
) -> np.ndarray:
    """Inverse of the L1b Planck conversion: radiance in mW m-2 sr-1 (cm-1)-1."""
    fk1, fk2, bc1, bc2 = _constants(platform, band)
    t_eff = bc1 + bc2 * np.asarray(bt_k, np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return fk1 / np.expm1(fk2 / t_eff)


def reflectance_to_radiance(
    reflectance: np.ndarray, band: int, when: datetime, platform: str = "G16"
) -> np.ndarray:
    """Reflectance factor (0-1) to radiance in W m-2 sr-1 um-1 (divide by kappa0)."""
    esun = _constants(platform, band)
    d = earth_sun_distance_au(when)
    kappa0 = math.pi * d * d / esun
    return np.asarray(reflectance, np.float64) / kappa0


def _j2000(t: datetime) -> float:
    return (t.astimezone(UTC) - _J2000).total_seconds()


def _var(ds, name, dtype, dims=(), fill=None, **attrs):
    v = ds.createVariable(name, dtype, dims, fill_value=fill if fill is not None else False)
    for k, val in attrs.items():
        v.setncattr(k, val)
    return v


def write_abi_l1b(
    target: str | os.PathLike | IO[bytes],
    band: int,
    values: np.ndarray,
    grid: AbiGrid,
    start: datetime,
    end: datetime,
    platform: str = "G16",
    created: datetime | None = None,
) -> None:
    """Write one band of one scene as an ABI L1b ``Rad`` netCDF-4 file.

    Parameters
    ----------
    target : path (written atomically through a temporary file) or binary file object.
    band : ABI band 1-16; must match ``grid.band``.
    values : (ny, nx) brightness temperature in K (bands 7-16) or reflectance factor (0-1+,
        bands 1-6); NaN = no value (fill, DQF 3).
    grid : the sector (``abi_sector_grid``); start/end: scan times (timezone-aware).
    platform : ``G16``, ``G17``, ``G18`` or ``G19``.
    created : product creation time (``date_created``); default ``end`` + 6 s, so that the
        same inputs give the same file.

    Raises
    ------
    AbiWriteError
        Unknown band or platform, band/grid mismatch, wrong shape, naive or reversed times.
    """
    name = (
        str(target)
        if isinstance(target, str | os.PathLike)
        else getattr(target, "name", "<stream>")
    )
    info = _band(band)
    values = np.asarray(values, np.float64)
    if grid.band != band:
        raise AbiWriteError(f"{name}: grid is for band {grid.band}, values for band {band}")
    if values.shape != grid.shape:
        raise AbiWriteError(f"{name}: values shape {values.shape} != grid shape {grid.shape}")
    if start.tzinfo is None or end.tzinfo is None or end < start:
        raise AbiWriteError(f"{name}: start/end must be timezone-aware with end >= start")
    if platform not in ("G16", "G17", "G18", "G19"):
        raise AbiWriteError(f"{name}: unknown platform {platform!r}")

    mid = start + (end - start) / 2
    if info.emissive:
        rad = brightness_temperature_to_radiance(values, band, platform)
    else:
        rad = reflectance_to_radiance(values, band, mid, platform)

    top = (1 << info.bit_depth) - 2  # largest valid count; top + 1 is the fill
    counts_f = np.rint((rad - info.rad_offset) / info.rad_scale)
    nodata = ~np.isfinite(counts_f)
    clipped = ~nodata & ((counts_f < 0) | (counts_f > top))
    counts = np.where(nodata, top + 1, np.clip(np.nan_to_num(counts_f), 0, top)).astype(np.int16)
    dqf = np.where(nodata, 3, np.where(clipped, 2, 0)).astype(np.int8)

    created = end + timedelta(seconds=6) if created is None else created
    fname = abi_filename(band, start, end, created, platform)
    if isinstance(target, str | os.PathLike):
        path = Path(target)
        fname = path.name
        with atomic_path(path) as tmp:
            ds = netCDF4.Dataset(tmp, "w", format="NETCDF4")
            _fill_dataset(ds, info, counts, dqf, grid, start, end, created, platform, fname)
            ds.close()
    else:
        ds = netCDF4.Dataset(fname, "w", format="NETCDF4", memory=1024)
        _fill_dataset(ds, info, counts, dqf, grid, start, end, created, platform, fname)
        target.write(bytes(ds.close()))


def _fill_dataset(ds, info, counts, dqf, grid, start, end, created, platform, fname):
    band = info.band
    ny, nx = counts.shape
    slot, fm, sub_lon = _PLATFORM.get(platform, ("GOES-East", "FM1", -75.2))
    if platform in ("G18",):
        slot, fm, sub_lon = "GOES-West", "FM3", -137.2
    if platform in ("G19",):
        slot, fm, sub_lon = "GOES-East", "FM4", -75.2
    res_attr = f"y: {info.step_urad * 1e-6:.6f} rad x: {info.step_urad * 1e-6:.6f} rad"
    res_km = f"{info.resolution_km:g}km at nadir"
    kind = "emissive" if info.emissive else "reflective"
    coords = "band_id band_wavelength t y x"
    ifmt = "%Y-%m-%dT%H:%M:%S"

    def iso(t: datetime) -> str:
        t = t.astimezone(UTC)
        return f"{t:{ifmt}}.{t.microsecond // 100000}Z"

    ds.setncatts(
        {
            "naming_authority": "gov.nesdis.noaa",
            "Conventions": "CF-1.7",
            "standard_name_vocabulary": "CF Standard Name Table (v35, 20 July 2016)",
            "institution": "DOC/NOAA/NESDIS > U.S. Department of Commerce, National Oceanic and "
            "Atmospheric Administration, National Environmental Satellite, Data, and Information "
            "Services",
            "project": "GOES",
            "production_site": "WCDAS",
            "production_environment": "OE",
            "spatial_resolution": res_km,
            "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
            "orbital_slot": slot,
            "platform_ID": platform,
            "instrument_type": "GOES R Series Advanced Baseline Imager",
            "scene_id": "Mesoscale",
            "instrument_ID": fm,
            "title": "ABI L1b Radiances",
            "summary": f"Single {kind} band ABI L1b Radiance Products are digital maps of "
            "outgoing radiance values at the top of the atmosphere for "
            + ("IR bands." if info.emissive else "visible and near-IR bands."),
            "keywords": "SPECTRAL/ENGINEERING > "
            + (
                "INFRARED WAVELENGTHS > INFRARED RADIANCE"
                if info.emissive
                else "VISIBLE WAVELENGTHS > VISIBLE RADIANCE"
            ),
            "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Earth Science "
            "Keywords, Version 7.0.0.0.0",
            "iso_series_metadata_id": "a70be540-c38b-11e0-962b-0800200c9a66",
            "license": "Unclassified data.  Access is restricted to approved users only.",
            "processing_level": "National Aeronautics and Space Administration (NASA) L1b",
            "cdm_data_type": "Image",
            "dataset_name": fname,
            "production_data_source": "Simulated",
            "timeline_id": "ABI Mode 6",
            "date_created": iso(created),
            "time_coverage_start": iso(start),
            "time_coverage_end": iso(end),
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, fname.split("_c")[0])),
        }
    )
    ds.createDimension("y", ny)
    ds.createDimension("x", nx)
    ds.createDimension("number_of_time_bounds", 2)
    ds.createDimension("number_of_image_bounds", 2)
    ds.createDimension("band", 1)

    chunk = (min(226, ny), min(226, nx))
    top = (1 << info.bit_depth) - 2
    rad_units = "mW m-2 sr-1 (cm-1)-1" if info.emissive else "W m-2 sr-1 um-1"
    std = "toa_outgoing_radiance_per_unit_" + ("wavenumber" if info.emissive else "wavelength")
    v = ds.createVariable(
        "Rad", "i2", ("y", "x"), zlib=True, complevel=1, shuffle=True, chunksizes=chunk,
        fill_value=np.int16(top + 1),
    )  # fmt: skip
    v.set_auto_maskandscale(False)
    v.setncatts(
        {
            "long_name": "ABI L1b Radiances",
            "standard_name": std,
            "_Unsigned": "true",
            "sensor_band_bit_depth": np.int8(info.bit_depth),
            "valid_range": np.array([0, top], np.int16),
            "scale_factor": np.float32(info.rad_scale),
            "add_offset": np.float32(info.rad_offset),
            "units": rad_units,
            "resolution": res_attr,
            "coordinates": coords,
            "grid_mapping": "goes_imager_projection",
            "cell_methods": "t: point area: point",
            "ancillary_variables": "DQF",
        }
    )
    v[:] = counts

    q = ds.createVariable(
        "DQF", "i1", ("y", "x"), zlib=True, complevel=1, chunksizes=chunk, fill_value=np.int8(-1)
    )
    q.set_auto_maskandscale(False)
    n = dqf.size
    q.setncatts(
        {
            "long_name": "ABI L1b Radiances data quality flags",
            "standard_name": "status_flag",
            "_Unsigned": "true",
            "valid_range": np.array([0, 4], np.int8),
            "units": "1",
            "coordinates": coords,
            "grid_mapping": "goes_imager_projection",
            "cell_methods": "t: point area: point",
            "flag_values": np.array([0, 1, 2, 3, 4], np.int8),
            "flag_meanings": "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf "
            "no_value_pixel_qf focal_plane_temperature_threshold_exceeded_qf",
            "number_of_qf_values": np.int8(5),
            "percent_good_pixel_qf": np.float32((dqf == 0).sum() / n),
            "percent_conditionally_usable_pixel_qf": np.float32(0.0),
            "percent_out_of_range_pixel_qf": np.float32((dqf == 2).sum() / n),
            "percent_no_value_pixel_qf": np.float32((dqf == 3).sum() / n),
            "percent_focal_plane_temperature_threshold_exceeded_qf": np.float32(0.0),
        }
    )
    q[:] = dqf

    t = _var(
        ds, "t", "f8", (), np.nan,
        long_name="J2000 epoch mid-point between the start and end image scan in seconds",
        standard_name="time", units="seconds since 2000-01-01 12:00:00", axis="T",
        bounds="time_bounds",
    )  # fmt: skip
    t[...] = (_j2000(start) + _j2000(end)) / 2

    # Scan angles packed as int16 with the real files' scale (the step, negative for y).
    step = info.step_urad * 1e-6
    for axis, vals, sign in (("y", grid.y_rad, -1), ("x", grid.x_rad, 1)):
        c = ds.createVariable(axis, "i2", (axis,))
        c.set_auto_maskandscale(False)
        offset = round(float(vals[0]), 6)
        c.setncatts(
            {
                "scale_factor": np.float32(sign * step),
                "add_offset": np.float32(offset),
                "units": "rad",
                "axis": axis.upper(),
                "long_name": f"GOES fixed grid projection {axis}-coordinate",
                "standard_name": f"projection_{axis}_coordinate",
            }
        )
        c[:] = np.rint((vals - offset) / (sign * step)).astype(np.int16)

    tb = _var(
        ds, "time_bounds", "f8", ("number_of_time_bounds",), np.nan,
        long_name="Scan start and end times in seconds since epoch (2000-01-01 12:00:00)",
    )  # fmt: skip
    tb[:] = [_j2000(start), _j2000(end)]

    p = _var(
        ds, "goes_imager_projection", "i4",
        long_name="GOES-R ABI fixed grid projection", grid_mapping_name="geostationary",
        perspective_point_height=PERSPECTIVE_POINT_HEIGHT_M, semi_major_axis=SEMI_MAJOR_M,
        semi_minor_axis=SEMI_MINOR_M, inverse_flattening=INVERSE_FLATTENING,
        latitude_of_projection_origin=0.0,
        longitude_of_projection_origin=float(grid.satellite_lon_deg), sweep_angle_axis="x",
    )  # fmt: skip
    p[...] = -2147483647

    x_img, y_img = float(np.mean(grid.x_rad[[0, -1]])), float(np.mean(grid.y_rad[[0, -1]]))
    half = step / 2
    for axis, centre, bounds, what in (
        ("y", y_img, [grid.y_rad[0] + half, grid.y_rad[-1] - half], "north/south"),
        ("x", x_img, [grid.x_rad[0] - half, grid.x_rad[-1] + half], "west/east"),
    ):
        _var(
            ds, f"{axis}_image", "f4", (), np.float32(np.nan),
            long_name=f"GOES-R fixed grid projection {axis}-coordinate center of image",
            standard_name=f"projection_{axis}_coordinate", units="rad", axis=axis.upper(),
        )[...] = centre  # fmt: skip
        _var(
            ds, f"{axis}_image_bounds", "f4", ("number_of_image_bounds",), np.float32(np.nan),
            long_name=f"GOES-R fixed grid projection {axis}-coordinate {what} extent of image",
            units="rad",
        )[:] = bounds  # fmt: skip

    f999 = np.float32(-999.0)
    _var(
        ds, "nominal_satellite_subpoint_lat", "f4", (), f999,
        long_name="nominal satellite subpoint latitude (platform latitude)",
        standard_name="latitude", units="degrees_north",
    )[...] = 0.0  # fmt: skip
    _var(
        ds, "nominal_satellite_subpoint_lon", "f4", (), f999,
        long_name="nominal satellite subpoint longitude (platform longitude)",
        standard_name="longitude", units="degrees_east",
    )[...] = sub_lon  # fmt: skip
    _var(
        ds, "nominal_satellite_height", "f4", (), f999,
        long_name="nominal satellite height above GRS 80 ellipsoid (platform altitude)",
        standard_name="height_above_reference_ellipsoid", units="km",
    )[...] = PERSPECTIVE_POINT_HEIGHT_M / 1000.0  # fmt: skip

    # The extremes of a sector's latitude/longitude lie on its border: project only those pixels.
    border = [
        AbiGrid(band, grid.x_rad, grid.y_rad[[0, -1]], grid.satellite_lon_deg),
        AbiGrid(band, grid.x_rad[[0, -1]], grid.y_rad, grid.satellite_lon_deg),
    ]
    edges = [abi_lat_lon(g) for g in border]
    lat = np.concatenate([e[0].ravel() for e in edges])
    lon = np.concatenate([e[1].ravel() for e in edges])
    c_lat, c_lon = abi_lat_lon(
        AbiGrid(band, np.array([x_img]), np.array([y_img]), grid.satellite_lon_deg)
    )
    _var(
        ds, "geospatial_lat_lon_extent", "f4", (), np.float32(np.nan),
        long_name="geospatial latitude and longitude references",
        geospatial_westbound_longitude=np.float32(np.nanmin(lon)),
        geospatial_northbound_latitude=np.float32(np.nanmax(lat)),
        geospatial_eastbound_longitude=np.float32(np.nanmax(lon)),
        geospatial_southbound_latitude=np.float32(np.nanmin(lat)),
        geospatial_lat_center=np.float32(c_lat[0, 0]),
        geospatial_lon_center=np.float32(c_lon[0, 0]),
        geospatial_lat_nadir=np.float32(0.0),
        geospatial_lon_nadir=np.float32(grid.satellite_lon_deg),
        geospatial_lat_units="degrees_north", geospatial_lon_units="degrees_east",
    )  # fmt: skip
    _var(
        ds, "yaw_flip_flag", "i1", (), np.int8(-1),
        long_name="Flag indicating the spacecraft is operating in yaw flip configuration",
        _Unsigned="true", valid_range=np.array([0, 1], np.int8), units="1",
        flag_values=np.array([0, 1], np.int8), flag_meanings="false true",
    )[...] = 0  # fmt: skip
    _var(
        ds, "band_id", "i1", ("band",), None, long_name="ABI band number",
        standard_name="sensor_band_identifier", units="1",
    )[:] = band  # fmt: skip
    _var(
        ds, "band_wavelength", "f4", ("band",), np.float32(np.nan),
        long_name="ABI band central wavelength",
        standard_name="sensor_band_central_radiation_wavelength", units="um",
    )[:] = info.wavelength_um  # fmt: skip

    mid = start + (end - start) / 2
    d = earth_sun_distance_au(mid)
    if info.emissive:
        esun = kappa0 = -999.0
        fk1, fk2, bc1, bc2 = _constants(platform, band)
    else:
        esun = _constants(platform, band)
        kappa0 = math.pi * d * d / esun
        fk1 = fk2 = bc1 = bc2 = -999.0
    _var(
        ds, "esun", "f4", (), f999,
        long_name="bandpass-weighted solar irradiance at the mean Earth-Sun distance",
        standard_name="toa_shortwave_irradiance_per_unit_wavelength", units="W m-2 um-1",
        cell_methods="t: mean",
    )[...] = esun  # fmt: skip
    _var(
        ds, "kappa0", "f4", (), f999,
        long_name="Inverse of the incoming top of atmosphere radiance at current earth-sun "
        "distance (PI d2 esun-1)-1",
        units="(W m-2 um-1)-1", cell_methods="t: mean",
    )[...] = kappa0  # fmt: skip
    for pname, val, units, what in (
        ("planck_fk1", fk1, "W m-1", "wavenumber-dependent coefficient (2 h c2/ nu3)"),
        ("planck_fk2", fk2, "K", "wavenumber-dependent coefficient (h c nu/b)"),
        ("planck_bc1", bc1, "K", "spectral bandpass correction offset for brightness temperature"),
        (
            "planck_bc2",
            bc2,
            "1",
            "spectral bandpass correction scale factor for brightness temperature",
        ),
    ):
        _var(ds, pname, "f4", (), f999, long_name=what, units=units)[...] = val
    _var(
        ds, "earth_sun_distance_anomaly_in_AU", "f4", (), f999,
        long_name="earth sun distance anomaly in astronomical units", units="ua",
        cell_methods="t: mean",
    )[...] = d  # fmt: skip

    good = dqf == 0
    i_fill = np.int32(-1)
    for cname, val, what in (
        ("valid_pixel_count", int(good.sum()), "number of good and conditionally usable pixels"),
        ("missing_pixel_count", int((dqf == 3).sum()), "number of missing pixels"),
        ("saturated_pixel_count", int((dqf == 2).sum()), "number of saturated pixels"),
        ("undersaturated_pixel_count", 0, "number of undersaturated pixels"),
        (
            "focal_plane_temperature_threshold_exceeded_count", 0,
            "number of pixels whose temperatures exceeded the threshold",
        ),
    ):  # fmt: skip
        _var(
            ds, cname, "i4", (), i_fill, long_name=what, units="count",
            grid_mapping="goes_imager_projection",
        )[...] = val  # fmt: skip
    packed = counts.astype(np.float64) * np.float32(info.rad_scale) + np.float32(info.rad_offset)
    vals = packed[good] if good.any() else np.array([np.nan])
    for sname, val in (
        ("min_radiance_value_of_valid_pixels", np.min(vals)),
        ("max_radiance_value_of_valid_pixels", np.max(vals)),
        ("mean_radiance_value_of_valid_pixels", np.mean(vals)),
        ("std_dev_radiance_value_of_valid_pixels", np.std(vals)),
    ):
        _var(
            ds, sname, "f4", (), f999, long_name=sname.replace("_", " "), standard_name=std,
            units=rad_units, grid_mapping="goes_imager_projection",
        )[...] = val  # fmt: skip
    for fname_, val in (
        ("maximum_focal_plane_temperature", 81.0 if info.emissive else 300.0),
        ("focal_plane_temperature_threshold_increasing", 100.0),
        ("focal_plane_temperature_threshold_decreasing", 101.0),
        ("percent_uncorrectable_L0_errors", 0.0),
    ):
        _var(ds, fname_, "f4", (), f999, long_name=fname_.replace("_", " "))[...] = val
    _var(
        ds, "algorithm_dynamic_input_data_container", "i4",
        long_name="container for filenames of dynamic algorithm input data",
        input_ABI_L0_data=f"OR_ABI-L0-M1-M6_{platform}_s{_fmt_time(start)}_e{_fmt_time(end)}_c*.nc",
    )[...] = -2147483647  # fmt: skip
    _var(
        ds, "processing_parm_version_container", "i4",
        long_name="container for processing parameter filenames",
        L1b_processing_parm_version=f"OR-PARM-RAD_{platform}_v01r00.zip",
    )[...] = -2147483647  # fmt: skip
    _var(
        ds, "algorithm_product_version_container", "i4",
        long_name="container for algorithm package filename and product version",
        algorithm_version="OR_ABI-L1b-ALG-RAD_v01r00.zip", product_version="v01r00",
    )[...] = -2147483647  # fmt: skip
