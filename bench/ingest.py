"""``rainfuse bench ingest``: rainfuse ground-radar ingest side by side with Py-ART.

Measures, in one process and on the same file (medians of ``--runs`` runs):

* ``bz2_floor_s``: decompressing the file's bzip2 records alone (no decoding): the floor for any
  Level II reader;
* ``pyart_read_s``: ``pyart.io.read_nexrad_archive`` with its defaults (all moments);
* ``pyart_grid_s``: ``pyart.map.grid_from_radars`` of reflectivity onto the benchmark grid;
* ``rainfuse_read_s``, ``rainfuse_qc_s``, ``rainfuse_profiles_s``, ``rainfuse_grid_s`` and their
  sum ``rainfuse_ingest_s`` (read + QC + profiles above gauges + gridding, map cache warm);
* ``rainfuse_map_build_s``: one-off cost of building the gate->grid map (cache cold);
* ``grid_speedup`` = ``pyart_grid_s / rainfuse_grid_s``;
* ``grid_agreement_dbz``: median |rainfuse - Py-ART| over cells where both grids have data, both
  gridding the same (un-QC'd) reflectivity, so that it measures the gridding alone.

The grid is radar-centred Cartesian, ``--spacing-m`` in x/y/z over ``+-half-width`` and 0..``--top``.

``--day-archive ROOT --day D --site S`` instead streams a whole day of one radar (e.g. the
synthetic archive's ``nexrad/`` folder) through the day ingest onto a lat/lon product grid
(``--domain lat_min,lat_max,lon_min,lon_max,spacing``) and reports ``day_volumes``,
``day_ingest_s``, ``day_s_per_volume`` and ``day_peak_rss_mb`` (peak resident memory of the
process).  The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import statistics
import struct
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("PYART_QUIET", "1")


def bz2_floor(path: str) -> float:
    """Seconds to decompress every bzip2 record of an Archive II file (control words skipped)."""
    with open(path, "rb") as fh:
        data = fh.read()
    t0 = time.perf_counter()
    pos = 24  # volume header
    while pos + 4 <= len(data):
        size = abs(struct.unpack(">i", data[pos : pos + 4])[0])
        pos += 4
        if size == 0:
            break
        bz2.decompress(data[pos : pos + size])
        pos += size
    return time.perf_counter() - t0


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def synthetic_gauges(lat0: float, lon0: float, n: int = 50, radius_km: float = 140.0):
    """``n`` gauge positions spread over the domain (deterministic), for the profile step."""
    from fusion_ops.grid import GaugePoints

    rng = np.random.default_rng(4)
    r = radius_km * np.sqrt(rng.uniform(0.01, 1.0, n))
    a = rng.uniform(0.0, 2 * np.pi, n)
    lat = lat0 + r * np.cos(a) / 111.2
    lon = lon0 + r * np.sin(a) / (111.2 * np.cos(np.deg2rad(lat0)))
    return GaugePoints(
        tuple(f"G{i:03d}" for i in range(n)), tuple(lat.tolist()), tuple(lon.tolist())
    )


def run(path: str, runs: int, spacing_m: float, half_width_m: float, top_m: float) -> dict:
    import pyart

    from fusion_ops.radar import gridding as G
    from fusion_ops.radar.profiles import max_needed_range_m
    from fusion_ops.radar.qc import derive_kdp, quality_control
    from fusion_ops.readers.ground_radar import DEFAULT_FIELDS, read_volume

    warnings.filterwarnings("ignore", message=".*deprecat.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    heights = tuple(float(h) for h in np.arange(0.0, top_m + 1.0, spacing_m))
    grid = G.CartesianGrid(
        -half_width_m, half_width_m, -half_width_m, half_width_m, spacing_m, heights
    )
    nz, nxy = len(heights), grid.x.size
    shape = (nz, nxy, nxy)
    limits = ((0.0, top_m), (-half_width_m, half_width_m), (-half_width_m, half_width_m))

    radar = pyart.io.read_nexrad_archive(path)
    lat0 = float(radar.latitude["data"][0])
    lon0 = float(radar.longitude["data"][0])
    gauges = synthetic_gauges(lat0, lon0)
    max_range = max_needed_range_m(lat0, lon0, grid, gauges)

    # one-off map builds (cache cold), reported separately
    G.clear_cache()
    vol = read_volume(path, DEFAULT_FIELDS, max_range)
    _, t_build = _timed(G.get_gate_map, vol, grid)
    G.get_gate_map(vol, gauges)

    rec: dict[str, list[float]] = {
        k: []
        for k in (
            "bz2_floor_s",
            "pyart_read_s",
            "pyart_grid_s",
            "rainfuse_read_s",
            "rainfuse_qc_s",
            "rainfuse_profiles_s",
            "rainfuse_grid_s",
            "rainfuse_ingest_s",
            "grid_agreement_dbz",
        )
    }
    for _ in range(runs):
        rec["bz2_floor_s"].append(bz2_floor(path))
        radar, t = _timed(pyart.io.read_nexrad_archive, path)
        rec["pyart_read_s"].append(t)
        pgrid, t = _timed(
            pyart.map.grid_from_radars,
            (radar,),
            grid_shape=shape,
            grid_limits=limits,
            fields=["reflectivity"],
        )
        rec["pyart_grid_s"].append(t)

        vol, t_read = _timed(read_volume, path, DEFAULT_FIELDS, max_range)
        # gridding agreement: same raw reflectivity through both gridders
        raw = G.grid_volume(vol, grid, ("reflectivity",))["reflectivity"].values[0]
        t0 = time.perf_counter()
        quality_control(vol)
        for s in vol.sweeps:
            derive_kdp(s)
        t_qc = time.perf_counter() - t0
        _, t_prof = _timed(G.gauge_profiles, vol, gauges)
        _, t_grid = _timed(
            G.grid_volume,
            vol,
            grid,
            ("reflectivity", "differential_reflectivity", "specific_differential_phase"),
        )
        rec["rainfuse_read_s"].append(t_read)
        rec["rainfuse_qc_s"].append(t_qc)
        rec["rainfuse_profiles_s"].append(t_prof)
        # gridding speed is compared on the same single field Py-ART grids
        _, t_grid1 = _timed(G.grid_volume, vol, grid, ("reflectivity",))
        rec["rainfuse_grid_s"].append(t_grid1)
        rec["rainfuse_ingest_s"].append(t_read + t_qc + t_prof + t_grid)

        p = np.ma.filled(pgrid.fields["reflectivity"]["data"].astype(np.float32), np.nan)
        both = np.isfinite(p) & np.isfinite(raw)
        rec["grid_agreement_dbz"].append(
            float(np.median(np.abs(p[both] - raw[both]))) if both.any() else float("nan")
        )
        del radar, pgrid, vol

    out = {k: round(statistics.median(v), 4) for k, v in rec.items()}
    out["grid_speedup"] = round(out["pyart_grid_s"] / out["rainfuse_grid_s"], 2)
    out["ingest_vs_pyart_read"] = round(out["rainfuse_ingest_s"] / out["pyart_read_s"], 3)
    out["rainfuse_map_build_s"] = round(t_build, 4)
    out.update(
        volume=os.path.basename(path),
        runs=runs,
        grid_shape=list(shape),
        grid_spacing_m=spacing_m,
        n_gauges=len(gauges.station_id),
    )
    return out


def run_day(
    root: str, day: str, site: str, domain: tuple[float, float, float, float, float]
) -> dict:
    """Stream a day of one radar through :func:`ingest_radar_day`; time and peak memory."""
    import resource

    from fusion_ops.grid import ProductGrid
    from fusion_ops.radar.profiles import ingest_radar_day, usable_volumes
    from fusion_ops.readers.ground_radar import list_volumes

    la0, la1, lo0, lo1, d = domain
    grid = ProductGrid.from_centres(la0, la1, lo0, lo1, d)
    urls = list_volumes(root, day, site)
    gauges = synthetic_gauges(0.5 * (la0 + la1), 0.5 * (lo0 + lo1), n=200, radius_km=120.0)
    t0 = time.perf_counter()
    rday = ingest_radar_day(urls, grid, gauges)
    elapsed = time.perf_counter() - t0
    n = len(usable_volumes(rday.inventory))
    return {
        "day_volumes": n,
        "day_quarantined": len(rday.quarantine),
        "day_ingest_s": round(elapsed, 2),
        "day_s_per_volume": round(elapsed / max(n, 1), 3),
        "day_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "day_grid_mb": round(rday.grid.nbytes / 2**20, 1),
        "grid_shape": [len(grid.heights_m), int(grid.lat.size), int(grid.lon.size)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rainfuse bench ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--volume", help="NEXRAD Level II file")
    parser.add_argument("--day-archive", help="Level II archive root (YYYY/MM/DD/SITE/...)")
    parser.add_argument("--day", help="UTC day of --day-archive (YYYY-MM-DD)")
    parser.add_argument("--site", default="KMLB", help="site of --day-archive")
    parser.add_argument(
        "--domain",
        default="26.763,29.463,-82.184,-79.124,0.01",
        help="lat_min,lat_max,lon_min,lon_max,spacing_deg of the day grid",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spacing-m", type=float, default=1000.0)
    parser.add_argument("--half-width-m", type=float, default=150_000.0)
    parser.add_argument("--top-m", type=float, default=8000.0)
    args = parser.parse_args(argv)
    if args.day_archive:
        if not args.day:
            print("bench ingest: --day-archive needs --day", file=sys.stderr)
            return 2
        dom = tuple(float(v) for v in args.domain.split(","))
        result = run_day(args.day_archive, args.day, args.site, dom)
        print(json.dumps(result), flush=True)
        return 0
    if not args.volume or not os.path.isfile(args.volume):
        print(f"bench ingest: no such file {args.volume}", file=sys.stderr)
        return 2
    result = run(args.volume, max(1, args.runs), args.spacing_m, args.half_width_m, args.top_m)
    for key, value in result.items():
        print(f"{key:>24}: {value}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
