"""Write one or more simulated days as archives under one root URL (local folder or s3://).

Each day holds the instruments that existed on that date, in that date's archive formats, as
the era table :mod:`fusion_ops.eras` tells (:func:`era_plan`).  Key layout under the root:

* ``gauges/isd-history.csv`` and ``gauges/YYYY/<USAF><WBAN>.csv`` (ISD global-hourly, AA1)
* ``nexrad/YYYY/MM/DD/KMLB/<key>``: Level II of the site's polarization that day
  (:func:`fusion_ops.eras.radar_capability`; "unknown" is simulated single-pol) in the day's
  archive form (:func:`fusion_ops.eras.level2_format`): message 31 from 2008-03-11 (message 1
  before, and during the 2008 rollout), ``_V03`` single-pol or ``_V06`` dual-pol, the whole file
  gzip-compressed with the records inside uncompressed and the key ending ``.gz`` before
  2016-06-01, bzip2 LDM records and no suffix from then on: ``KMLB20050520_000000.gz``,
  ``KMLB20090520_000000_V03.gz``, ``KMLB20130520_000000_V06.gz``, ``KMLB20210520_000000_V06``
* ``spaceborne/YYYY/MM/DD/``: GPM 2A V07 HDF5 (``2A.GPM.Ku.V9-...V07A.HDF5``) from 2014-03-08,
  TRMM PR V7 HDF4 before (``2A25.YYYYMMDD.OOOOO.7.HDF`` and its ``2A23....``), none before
  1997-12-01
* ``goes/ABI-L1b-RadM/YYYY/DDD/HH/OR_ABI-L1b-RadM1-M6Cnn_G16_s..._e..._c....nc`` with the
  GOES-East platform of the day (G16, G19 from 2025-04-07), none before 2017-02-28
* ``truth/YYYY/MM/DD/truth_rain_YYYYMMDD.nc`` and ``truth/YYYY/MM/DD/gauges_truth_YYYYMMDD.csv``
  (for scoring only)
* ``manifest/YYYY/MM/DD/manifest.json`` (what was written, with sizes and summaries; ``era``:
  the era decisions of the day, ``absent``: each source not written and why)
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import fsspec
import numpy as np
import xarray as xr

from fusion_ops import eras
from fusion_ops.atomic import write_bytes_atomic
from fusion_ops.simulate.domain import Domain, Grid
from fusion_ops.simulate.formats.abi_l1b import abi_filename, write_abi_l1b
from fusion_ops.simulate.formats.nexrad_level2 import (
    RadarVolume,
    encode_level2,
    encode_level2_message1,
    gzip_file,
    level2_filename,
)
from fusion_ops.simulate.gauges import (
    isd_history_csv,
    make_stations,
    simulate_gauge_day,
    station_csv,
)
from fusion_ops.simulate.geostationary import DEFAULT_ABI_BANDS, GeoImager
from fusion_ops.simulate.ground_radar import RadarCalibration, RadarObserver, ScanStrategy
from fusion_ops.simulate.spaceborne import (
    SpaceborneConfig,
    find_overpasses,
    write_gpm_2a,
    write_trmm_v7,
)
from fusion_ops.simulate.truth import TruthConfig, TruthModel

__all__ = [
    "EraPlan",
    "SimulationConfig",
    "SimulationError",
    "era_plan",
    "simulate",
    "simulate_day",
    "stderr_progress",
]


class SimulationError(RuntimeError):
    """A simulated archive could not be written (names the key and the reason)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated archive (same config + seed = same data).

    Parameters
    ----------
    out_url : root URL (local path or ``s3://bucket/prefix``).
    start : first UTC day; days : number of days.
    radar_cadence_min, abi_cadence_min : volume and image cadence.
    gate_spacing_m, super_res_lowest : radar range/azimuth sampling (coarser = faster; no
        super resolution in message-1 volumes, before 2008).
    platform : spaceborne radar, ``TRMM`` (35 deg, V7 HDF4) or ``GPM`` (65 deg, V07 HDF5);
        None (default): the era table's, GPM when the GPM DPR has data that day, else TRMM
        when the TRMM PR has, else none.  A platform named here is written on any day.
    satellite_platform : GOES-R platform of the ABI files (``G16`` ... ``G19``); None (default):
        the GOES-East platform of the day from the era table, none before 2017-02-28.  A
        platform named here is written on any day.
    abi_bands : ABI bands written.
    truth_step_min : step of the surface-rain integration for the truth product (gauges always
        integrate 1-min rain).
    observers : which archives to write (all by default; tests write subsets).
    storage_options : passed to fsspec (e.g. an S3 endpoint).
    radar_calibration : the ground radar's reflectivity and ZDR calibration errors (none by
        default); the manifest records each day's offsets, the answer the pipeline's
        calibration monitoring should find.
    """

    out_url: str
    start: date = date(2009, 5, 20)
    days: int = 1
    seed: int = 0
    radar_cadence_min: float = 5.0
    abi_cadence_min: float = 60.0
    gate_spacing_m: float = 500.0
    super_res_lowest: bool = False
    platform: str | None = None
    satellite_platform: str | None = None
    abi_bands: tuple[int, ...] = DEFAULT_ABI_BANDS
    truth_step_min: float = 1.0
    domain: Domain = field(default_factory=Domain)
    storage_options: dict = field(default_factory=dict)
    write_imagery: bool = True
    observers: tuple[str, ...] = ("gauges", "nexrad", "spaceborne", "goes", "imagery", "truth")
    radar_calibration: RadarCalibration = field(default_factory=RadarCalibration)


Progress = Callable[[str], None]


@dataclass(frozen=True)
class EraPlan:
    """What the simulator writes on a day, from the era table (:mod:`fusion_ops.eras`).

    ``radar_capability`` is the era table's answer (``single``, ``dual`` or ``unknown``) and
    ``dual_pol`` what is simulated (only ``dual`` is dual-pol: an undocumented upgrade is not
    assumed).  ``level2_message_type`` 1 or 31; ``level2_records`` ``"uncompressed"`` inside a
    whole-file gzip or ``"bzip2"`` LDM records; ``level2_key_suffix`` ``".gz"`` or ``""``;
    ``level2_version`` the key's tag (``V03``, ``V06``, ``""`` for message 1).  ``spaceborne``
    ``TRMM``, ``GPM`` or ``""``; ``satellite_platform`` ``G16`` ... or ``""``.  ``absent``: source
    -> why nothing is written for it that day.
    """

    day: date
    radar_capability: str
    dual_pol: bool
    level2_message_type: int
    level2_records: str
    level2_key_suffix: str
    level2_version: str
    spaceborne: str
    spaceborne_from: str
    satellite_platform: str
    satellite_from: str
    absent: dict[str, str]
    notes: tuple[str, ...] = ()

    def manifest(self) -> dict:
        """The era decisions as plain values for the manifest."""
        return {
            "radar_capability": self.radar_capability,
            "radar_polarization": "dual" if self.dual_pol else "single",
            "level2_message_type": self.level2_message_type,
            "level2_records": self.level2_records,
            "level2_key_suffix": self.level2_key_suffix,
            "level2_version": self.level2_version,
            "spaceborne": self.spaceborne,
            "spaceborne_from": self.spaceborne_from,
            "satellite_platform": self.satellite_platform,
            "satellite_from": self.satellite_from,
            "notes": list(self.notes),
        }


def era_plan(cfg: SimulationConfig, day: date) -> EraPlan:
    """The era decisions of a simulated day (see :class:`EraPlan` and the module docstring).

    Raises
    ------
    SimulationError
        A day before 1991 (no WSR-88D Level II) while the ground radar is simulated, or a
        configured platform that is not one (``TRMM``/``GPM``, ``G16`` ... ``G19``).
    """
    if cfg.platform is not None and cfg.platform.upper() not in ("TRMM", "GPM"):
        raise SimulationError(f"platform {cfg.platform!r}: TRMM or GPM (None: the era table's)")
    if cfg.satellite_platform is not None and (
        cfg.satellite_platform.upper() not in eras.PLATFORM_SECTOR
    ):
        raise SimulationError(
            f"satellite_platform {cfg.satellite_platform!r}: one of "
            f"{', '.join(sorted(eras.PLATFORM_SECTOR))} (None: the era table's)"
        )
    notes: list[str] = []
    absent: dict[str, str] = {}
    site = cfg.domain.site
    try:
        capability = eras.radar_capability(site, day)
    except eras.UnknownSiteError:
        # a site of the simulator's own: the network-wide dates of the upgrade apply
        try:
            capability = eras.radar_capability(site, day, known_sites=[site])
        except eras.UnknownSiteError:
            capability = "unknown"
        notes.append(f"{site} is not in the NEXRAD site table: network-wide dual-pol dates")
    fmt = eras.level2_format(day)
    if fmt is None:
        reason = f"no WSR-88D Level II before {eras.LEVEL2_FIRST.isoformat()}"
        if "nexrad" in cfg.observers:
            raise SimulationError(f"{day}: {reason}")
        message, records, suffix, version = 0, "", "", ""
    else:
        # message 31 only where every site sends it; the 2008 rollout is simulated as message 1
        message = 31 if fmt.message_type == 31 else 1
        # on 2016-06-01 both forms are in the archive: the plain form (bzip2 records) is written
        gzip_only = fmt.compression == "gzip"
        records = "uncompressed" if gzip_only else "bzip2"
        suffix = ".gz" if gzip_only else ""
        version = "" if message == 1 else ("V06" if capability == "dual" else "V03")
        if fmt.compression is None:
            notes.append(f"{day}: the archive holds .gz and plain keys; the plain form is written")
        if message == 1 and fmt.message_type is None:
            notes.append(f"{day}: Build 10 rollout (message 1 or 31 by site); message 1 written")

    if cfg.platform is not None:
        spaceborne, spaceborne_from = cfg.platform.upper(), "config"
    else:
        radars = eras.spaceborne_radars(day)
        spaceborne_from = "era table"
        if "GPM-DPR" in radars:
            spaceborne = "GPM"
        elif "TRMM-PR" in radars:
            spaceborne = "TRMM"
        else:
            spaceborne = ""
            absent["spaceborne"] = eras.sources_available(day)["spaceborne"]["reason"]

    if cfg.satellite_platform is not None:
        satellite, satellite_from = cfg.satellite_platform.upper(), "config"
    else:
        serving = eras.abi_platforms(day, "east")
        satellite, satellite_from = (serving[0] if serving else ""), "era table"
        if not serving:
            absent["goes"] = f"no GOES-R ABI before {eras.ABI_FIRST.isoformat()}"
    return EraPlan(
        day=day,
        radar_capability=capability,
        dual_pol=capability == "dual",
        level2_message_type=message,
        level2_records=records,
        level2_key_suffix=suffix,
        level2_version=version,
        spaceborne=spaceborne,
        spaceborne_from=spaceborne_from,
        satellite_platform=satellite,
        satellite_from=satellite_from,
        absent=absent,
        notes=tuple(notes),
    )


def _level2_file(vol: RadarVolume, plan: EraPlan) -> bytes:
    """A volume in the day's archive form: message 1 or 31, whole-file gzip or bzip2 records."""
    if plan.level2_message_type == 1:
        data = encode_level2_message1(vol, records=plan.level2_records)
    else:
        data = encode_level2(vol, threads=2, records=plan.level2_records)
    return gzip_file(data) if plan.level2_key_suffix == ".gz" else data


def stderr_progress(msg: str) -> None:
    print(f"[simulate {datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


class _Writer:
    """Atomic writes under the root; records every key for the manifest."""

    def __init__(self, url: str, storage_options: dict) -> None:
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        self.written: list[dict] = []

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes, kind: str, **meta) -> None:
        path = self.path(key)
        try:
            write_bytes_atomic(data, path, self.fs)
        except OSError as err:
            raise SimulationError(f"cannot write {path}: {err}") from err
        self.written.append({"key": key, "kind": kind, "bytes": len(data), **meta})

    def read_text(self, key: str) -> str | None:
        path = self.path(key)
        if not self.fs.exists(path):
            return None
        return self.fs.cat_file(path).decode()


def _truth_day(truth: TruthModel, day: date, step_min: float) -> xr.Dataset:
    """Hourly and daily surface rain (and rain-weighted Z-R) on the lat/lon product grid."""
    dom = truth.domain
    lat, lon = dom.product_grid()
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    px, py = dom.to_xy_km(glat, glon)
    half = max(np.abs(px).max(), np.abs(py).max()) + 2 * dom.grid_km
    g = Grid.centred(half, dom.grid_km)
    day0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    n_per_hour = int(round(60 / step_min))
    hourly = np.zeros((24, lat.size, lon.size), np.float32)
    zr_a = np.zeros_like(hourly)
    zr_b = np.zeros_like(hourly)
    for h in range(24):
        acc = np.zeros((g.ny, g.nx))
        acc_a = np.zeros_like(acc)
        acc_b = np.zeros_like(acc)
        for m in range(n_per_hour):
            t = day0 + timedelta(hours=h, minutes=(m + 0.5) * step_min)
            st = truth.state(t, grid=g, rain_only=True)
            r = st.rain_mm_h.astype(np.float64)
            acc += r
            acc_a += r * st.zr_a
            acc_b += r * st.zr_b
        mm = acc * step_min / 60.0
        hourly[h] = g.bilinear(mm, px, py)
        with np.errstate(invalid="ignore", divide="ignore"):
            zr_a[h] = g.bilinear(np.where(acc > 0, acc_a / acc, np.nan), px, py)
            zr_b[h] = g.bilinear(np.where(acc > 0, acc_b / acc, np.nan), px, py)
    times = np.array(
        [np.datetime64(day0.replace(tzinfo=None) + timedelta(hours=h + 1), "ns") for h in range(24)]
    )
    ds = xr.Dataset(
        {
            "rain_hourly_mm": (
                ("time", "lat", "lon"),
                hourly,
                {
                    "units": "mm",
                    "long_name": "true surface rain accumulated over the hour ending at time",
                    "cell_methods": "time: sum",
                },
            ),
            "rain_daily_mm": (
                ("lat", "lon"),
                hourly.sum(axis=0),
                {"units": "mm", "long_name": "true surface rain accumulated over the UTC day"},
            ),
            "zr_a": (
                ("time", "lat", "lon"),
                zr_a,
                {
                    "units": "mm6 m-3 (mm h-1)^-b",
                    "long_name": "rain-weighted truth Z-R coefficient a (Z = a R^b)",
                },
            ),
            "zr_b": (
                ("time", "lat", "lon"),
                zr_b,
                {"units": "1", "long_name": "rain-weighted truth Z-R exponent b"},
            ),
        },
        coords={
            "time": ("time", times),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "rainfuse synthetic truth (for scoring only)",
            "day": day.isoformat(),
        },
    )
    return ds


def simulate_day(
    cfg: SimulationConfig,
    day: date,
    truth: TruthModel | None = None,
    progress: Progress | None = stderr_progress,
) -> dict:
    """Simulate and write one UTC day; returns the manifest (also written as JSON).

    The instruments and formats are those of the day (:func:`era_plan`): the manifest's ``era``
    records the decisions and ``absent`` each requested source not written, with the reason.

    Raises
    ------
    SimulationError
        A key cannot be written, or the ground radar is asked for before 1991.
    """
    say = progress or (lambda _m: None)
    plan = era_plan(cfg, day)
    truth = truth or TruthModel(TruthConfig(seed=cfg.seed, domain=cfg.domain))
    w = _Writer(cfg.out_url, cfg.storage_options)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    day0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ymd = f"{day:%Y/%m/%d}"

    on = set(cfg.observers)
    # Gauges ------------------------------------------------------------------------------
    if "gauges" in on:
        t0 = time.perf_counter()
        stations = make_stations(truth, cfg.seed)
        gd = simulate_gauge_day(truth, stations, day, cfg.seed)
        last = cfg.start + timedelta(days=cfg.days - 1)
        w.put(
            "gauges/isd-history.csv",
            isd_history_csv(stations, cfg.start, last).encode(),
            "gauge_station_list",
        )
        for k, s in enumerate(stations):
            key = f"gauges/{day:%Y}/{s.station_id}.csv"
            text = station_csv(s, {day: gd.reported_hourly_mm[k]}, w.read_text(key))
            w.put(key, text.encode(), "gauge_isd")
        rows = ["station,network,latitude,longitude,hour_end_utc,true_mm,reported_mm"]
        for k, s in enumerate(stations):
            for h in range(24):
                end = day0 + timedelta(hours=h)
                rep = gd.reported_hourly_mm[k, h]
                rows.append(
                    f"{s.station_id},{s.network},{s.latitude_deg},{s.longitude_deg},{end:%Y-%m-%dT%H:%M:%SZ},"
                    f"{gd.true_hourly_mm[k, h]:.3f},{'' if not np.isfinite(rep) else f'{rep:.3f}'}"
                )
        w.put(
            f"truth/{ymd}/gauges_truth_{day:%Y%m%d}.csv",
            ("\n".join(rows) + "\n").encode(),
            "truth_gauges",
        )
        timings["gauges_s"] = time.perf_counter() - t0
        say(
            f"{day} gauges: {len(stations)} stations, max hourly {np.nanmax(gd.reported_hourly_mm):.1f} mm"
        )

    # Ground radar ------------------------------------------------------------------------
    if "nexrad" in on:
        t0 = time.perf_counter()
        strategy = ScanStrategy(
            gate_spacing_m=cfg.gate_spacing_m,
            # message 1 has 1-degree radials only: super resolution came with Build 10
            super_res_lowest=cfg.super_res_lowest and plan.level2_message_type == 31,
            dual_pol=plan.dual_pol,
        )
        radar = RadarObserver(truth, strategy, seed=cfg.seed, calibration=cfg.radar_calibration)
        cadence_s = cfg.radar_cadence_min * 60.0
        times = radar.scan_times(day0, cfg.radar_cadence_min)
        for n, t in enumerate(times):
            vol = radar.volume(t, duration_s=min(cadence_s - 10.0, 290.0))
            data = _level2_file(vol, plan)
            name = level2_filename(cfg.domain.site, t, plan.level2_version, plan.level2_key_suffix)
            w.put(
                f"nexrad/{ymd}/{cfg.domain.site}/{name}", data, "nexrad_level2", time=t.isoformat()
            )
            if n % 24 == 0:
                say(f"{day} radar {n + 1}/{len(times)} volumes")
        timings["radar_s"] = time.perf_counter() - t0

    # Spaceborne radar --------------------------------------------------------------------
    if "spaceborne" in on and plan.spaceborne:
        t0 = time.perf_counter()
        sb_cfg = SpaceborneConfig(platform=plan.spaceborne)
        for ov in find_overpasses(truth, day, sb_cfg, cfg.seed, first_day=cfg.start):
            if plan.spaceborne == "TRMM":
                files, summary = write_trmm_v7(truth, ov, sb_cfg, cfg.seed)
                w.put(
                    f"spaceborne/{ymd}/{summary['name']}",
                    files[summary["name"]],
                    "spaceborne_2a",
                    **summary,
                )
                w.put(
                    f"spaceborne/{ymd}/{summary['companion']}",
                    files[summary["companion"]],
                    "spaceborne_2a23",
                    granule=summary["name"],
                )
            else:
                buf = io.BytesIO()
                summary = write_gpm_2a(buf, truth, ov, sb_cfg, cfg.seed)
                key = f"spaceborne/{ymd}/{summary['name']}"
                w.put(key, buf.getvalue(), "spaceborne_2a", **summary)
            say(
                f"{day} spaceborne {summary['name']} ({summary['rain_footprints']} rain footprints)"
            )
        timings["spaceborne_s"] = time.perf_counter() - t0
    elif "spaceborne" in on:
        say(f"{day} spaceborne: none ({plan.absent['spaceborne']})")

    # Geostationary -----------------------------------------------------------------------
    if "goes" in on and plan.satellite_platform:
        t0 = time.perf_counter()
        imager = GeoImager(
            truth,
            bands=cfg.abi_bands,
            width_km=max(cfg.domain.width_km, cfg.domain.height_km),
            platform=plan.satellite_platform,
        )
        n_img = int(round(24 * 60 / cfg.abi_cadence_min))
        for k in range(n_img):
            start = day0 + timedelta(minutes=k * cfg.abi_cadence_min)
            end = start + timedelta(seconds=28.7)
            created = end + timedelta(seconds=4.3)  # deterministic creation stamp -> stable keys
            for band, (grid, values) in imager.scene(start + timedelta(seconds=14)).items():
                buf = io.BytesIO()
                write_abi_l1b(
                    buf, band, values, grid, start, end, platform=imager.platform, created=created
                )
                name = abi_filename(band, start, end, created, imager.platform, "M1")
                key = f"goes/ABI-L1b-RadM/{start:%Y/%j/%H}/{name}"
                w.put(key, buf.getvalue(), "abi_l1b", band=band, time=start.isoformat())
        say(f"{day} geostationary: {n_img} scenes x {len(cfg.abi_bands)} bands")
        timings["geostationary_s"] = time.perf_counter() - t0
    elif "goes" in on:
        say(f"{day} geostationary: none ({plan.absent['goes']})")

    # Imagery scenes ------------------------------------------------------------------------
    t0 = time.perf_counter()
    if cfg.write_imagery and "imagery" in on:
        _write_imagery(w, truth, day, cfg, say)
    timings["imagery_s"] = time.perf_counter() - t0

    # Truth ---------------------------------------------------------------------------------
    if "truth" in on:
        t0 = time.perf_counter()
        ds = _truth_day(truth, day, cfg.truth_step_min)
        enc = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars}
        data = bytes(ds.to_netcdf(engine="h5netcdf", encoding=enc))
        w.put(f"truth/{ymd}/truth_rain_{day:%Y%m%d}.nc", data, "truth_rain")
        timings["truth_s"] = time.perf_counter() - t0
        say(
            f"{day} truth: domain mean {float(ds.rain_daily_mm.mean()):.2f} mm, max {float(ds.rain_daily_mm.max()):.1f} mm"
        )

    timings["total_s"] = time.perf_counter() - t_start
    reg = truth.regime(day)
    manifest = {
        "day": day.isoformat(),
        "seed": cfg.seed,
        "root": cfg.out_url,
        "config": {
            k: (v if isinstance(v, int | float | str | bool | None) else str(v))
            for k, v in asdict(cfg).items()
            if k not in ("storage_options",)
        },
        "regime": {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(reg).items()
        },
        "era": plan.manifest(),
        "radar_calibration_db": _calibration_of_day(cfg, day0 + timedelta(hours=12)),
        "absent": {k: v for k, v in plan.absent.items() if k in on},
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "counts": _count(w.written),
        "files": list(w.written),
    }
    w.put(f"manifest/{ymd}/manifest.json", json.dumps(manifest, indent=1).encode(), "manifest")
    say(f"{day} done in {timings['total_s']:.0f} s ({len(w.written)} files)")
    return manifest


def _merge_manifest(manifest: dict, extra: dict, cfg: SimulationConfig) -> None:
    """Fold a partial run's manifest (same day) into ``manifest`` and store the result."""
    manifest["files"] = [*manifest["files"], *extra["files"]]
    manifest["counts"] = _count(manifest["files"])
    manifest["absent"] = {**manifest.get("absent", {}), **extra.get("absent", {})}
    for key, value in extra["timings"].items():
        manifest["timings"][key] = round(manifest["timings"].get(key, 0.0) + value, 2)
    manifest["config"]["observers"] = str(cfg.observers)
    day = date.fromisoformat(manifest["day"])
    _Writer(cfg.out_url, cfg.storage_options).put(
        f"manifest/{day:%Y/%m/%d}/manifest.json",
        json.dumps(manifest, indent=1).encode(),
        "manifest",
    )


def _count(files: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        out[f["kind"]] = out.get(f["kind"], 0) + 1
    return out


def _write_imagery(
    w: _Writer, truth: TruthModel, day: date, cfg: SimulationConfig, say: Progress
) -> None:
    """Daily HS/MS/PAN/RGB scene from ``fusion_ops.imagery.scenes`` with the truth's clouds.

    The scene (128 x 128 PAN pixels of 0.0025 deg, about 32 km, west of the radar over land)
    takes the cloud optical depth of the truth at 16 UTC (local noon), interpolated to its grid.
    """
    try:
        from fusion_ops.imagery import scenes
    except ImportError:
        say(f"{day} imagery: fusion_ops.imagery.scenes not available, skipped")
        return
    n, pixel_deg = 128, 0.0025
    lat_c, lon_c = cfg.domain.center_lat_deg, cfg.domain.center_lon_deg - 0.3
    lat_north, lon_west = lat_c + n * pixel_deg / 2, lon_c - n * pixel_deg / 2
    lat = lat_north - pixel_deg * (np.arange(n) + 0.5)
    lon = lon_west + pixel_deg * (np.arange(n) + 0.5)
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    x, y = cfg.domain.to_xy_km(glat, glon)
    noon = datetime(day.year, day.month, day.day, 16, tzinfo=UTC)
    cod = truth.grid.bilinear(truth.state(noon).cloud_optical_depth, x, y)
    seed = cfg.seed * 1000 + day.toordinal() % 1000
    views = scenes.synthetic_scene((n, n), seed=seed, cloud_optical_depth=np.maximum(cod, 0.0))
    ds = scenes.scene_to_dataset(views, float(lat_north), float(lon_west), pixel_deg)
    ds.attrs.update(time=noon.isoformat(), source="rainfuse simulate (truth cloud optical depth)")
    data = bytes(ds.to_netcdf(engine="h5netcdf"))
    w.put(f"imagery/{day:%Y/%m/%d}/scene_{day:%Y%m%d}.nc", data, "imagery_scene")
    say(f"{day} imagery: scene {n}x{n}, cloud cover {float((cod > 1).mean()):.0%}")


def _simulate_one_day(cfg: SimulationConfig, day: date, quiet: bool) -> dict:
    # Runs in a worker process: the truth is a pure function of (seed, time), so a fresh model
    # per process gives the same files as one shared model.
    return simulate_day(cfg, day, None, None if quiet else stderr_progress)


def simulate(
    cfg: SimulationConfig, progress: Progress | None = stderr_progress, workers: int = 1
) -> list[dict]:
    """Simulate ``cfg.days`` days from ``cfg.start``; returns the manifests in day order.

    ``workers > 1`` simulates days in that many processes (days are independent).
    """
    days = [cfg.start + timedelta(days=k) for k in range(cfg.days)]
    if workers > 1 and len(days) > 1:
        from concurrent.futures import ProcessPoolExecutor

        if progress:
            progress(f"{len(days)} days in {min(workers, len(days))} processes")
        # The yearly ISD files are read-modify-write: gauges are written by this process alone.
        others = replace(cfg, observers=tuple(o for o in cfg.observers if o != "gauges"))
        import multiprocessing

        # spawn, not fork: forking a process that already runs threads (bz2 encoder pool, torch,
        # a test server) can deadlock the child
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(days)), mp_context=spawn) as pool:
            futures = [pool.submit(_simulate_one_day, others, d, progress is None) for d in days]
            manifests = [f.result() for f in futures]
        if "gauges" in cfg.observers:
            truth = TruthModel(TruthConfig(seed=cfg.seed, domain=cfg.domain))
            gauges_only = replace(cfg, observers=("gauges",))
            for day, manifest in zip(days, manifests, strict=True):
                _merge_manifest(manifest, simulate_day(gauges_only, day, truth, progress), cfg)
        return manifests
    truth = TruthModel(TruthConfig(seed=cfg.seed, domain=cfg.domain))
    out = []
    for k, day in enumerate(days):
        if progress:
            progress(f"day {k + 1}/{cfg.days}: {day}")
        out.append(simulate_day(cfg, day, truth, progress))
    return out


def _calibration_of_day(cfg: SimulationConfig, noon: datetime) -> dict[str, float]:
    """The radar's reflectivity and ZDR offsets at the day's noon (dB; 0 for a perfect radar)."""
    z_db, zdr_db = cfg.radar_calibration.biases_db(cfg.domain.site, noon, cfg.seed)
    return {
        "reflectivity": round(float(z_db), 3),
        "differential_reflectivity": round(float(zdr_db), 3),
    }
