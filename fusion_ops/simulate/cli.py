"""``rainfuse simulate``: write a synthetic observing system under one root URL.

Usage::

    rainfuse simulate --start 2009-05-20 --days 2 --out ./data/sim [--seed 0]
        [--radar-cadence-min 5] [--abi-cadence-min 60] [--gate-spacing-m 500]
        [--platform TRMM|GPM] [--satellite-platform G16|G17|G18|G19] [--no-imagery]
        [--workers N] [--quiet | --summary]

Each day holds the instruments of its date in that date's archive formats (the era table of
``fusion_ops.eras``: single- or dual-pol Level II, message 1 before 2008, ``.gz`` keys before
mid-2016, TRMM PR V7 HDF4 before the GPM era, no ABI before 2017-02-28); ``--platform`` and
``--satellite-platform`` force a spaceborne radar or GOES-R platform on every day.

Progress goes to stderr (``--summary``: only one line per day, at the end; ``--quiet``: none);
the last line on stdout is a JSON summary (files per kind per day).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from fusion_ops.simulate.archive import (
    SimulationConfig,
    SimulationError,
    simulate,
    stderr_progress,
)
from fusion_ops.simulate.ground_radar import RadarCalibration

__all__ = ["build_parser", "day_summary_line", "main"]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--start {text!r} is not a date (YYYY-MM-DD)") from err


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def build_parser(prog: str = "rainfuse simulate") -> argparse.ArgumentParser:
    """Argument parser of the simulate command (reusable as a sub-parser)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--start", type=_day, default=date(2009, 5, 20), help="first UTC day (YYYY-MM-DD)"
    )
    p.add_argument("--days", type=int, default=1, help="number of days")
    p.add_argument("--out", required=True, help="root URL: a local folder or s3://bucket/prefix")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed = same data)")
    p.add_argument(
        "--radar-cadence-min", type=_positive, default=5.0, help="minutes between radar volumes"
    )
    p.add_argument(
        "--abi-cadence-min", type=_positive, default=60.0, help="minutes between ABI scenes"
    )
    p.add_argument("--gate-spacing-m", type=_positive, default=500.0, help="radar gate spacing (m)")
    p.add_argument(
        "--platform",
        choices=["TRMM", "GPM"],
        default=None,
        help="spaceborne radar on every day (default: the era table's, none before 1997-12)",
    )
    p.add_argument(
        "--satellite-platform",
        choices=["G16", "G17", "G18", "G19"],
        default=None,
        help="GOES-R platform of the ABI files on every day (default: the era table's GOES-East)",
    )
    p.add_argument("--no-imagery", action="store_true", help="skip the daily imagery scenes")
    cal = p.add_argument_group("ground-radar calibration errors (none by default)")
    cal.add_argument("--radar-z-bias-db", type=float, default=0.0, help="fixed Z offset (dB)")
    cal.add_argument(
        "--radar-z-drift-sigma-db",
        type=float,
        default=0.0,
        help="sd of a slowly drifting Z offset (dB; about 1.5 for a real radar)",
    )
    cal.add_argument("--radar-zdr-bias-db", type=float, default=0.0, help="fixed ZDR offset (dB)")
    cal.add_argument(
        "--radar-zdr-sigma-db",
        type=float,
        default=0.0,
        help="sd of the radar's own ZDR offset (dB; about 0.2 for a real radar)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes simulating days in parallel")
    quiet = p.add_mutually_exclusive_group()
    quiet.add_argument("--quiet", action="store_true", help="no progress on stderr")
    quiet.add_argument(
        "--summary",
        action="store_true",
        help="no progress while simulating, then one line per day on stderr (files and seconds)",
    )
    return p


def day_summary_line(manifest: dict) -> str:
    """One line for a simulated day: files written per kind and the seconds it took."""
    counts = manifest.get("counts", {})
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()) if kind != "manifest")
    seconds = manifest.get("timings", {}).get("total_s", 0.0)
    return f"{manifest['day']}: {sum(counts.values())} files in {seconds:.0f} s ({kinds})"


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; returns a process exit code (0 ok, 2 bad arguments or write failure)."""
    args = build_parser().parse_args(argv)
    if args.days < 1:
        print("rainfuse simulate: --days must be >= 1", file=sys.stderr)
        return 2
    cfg = SimulationConfig(
        out_url=args.out,
        start=args.start,
        days=args.days,
        seed=args.seed,
        radar_cadence_min=args.radar_cadence_min,
        abi_cadence_min=args.abi_cadence_min,
        gate_spacing_m=args.gate_spacing_m,
        platform=args.platform,
        satellite_platform=args.satellite_platform,
        write_imagery=not args.no_imagery,
        radar_calibration=RadarCalibration(
            z_bias_db=args.radar_z_bias_db,
            z_drift_sigma_db=args.radar_z_drift_sigma_db,
            zdr_bias_db=args.radar_zdr_bias_db,
            zdr_sigma_db=args.radar_zdr_sigma_db,
        ),
    )
    try:
        quiet = args.quiet or args.summary
        manifests = simulate(
            cfg, progress=None if quiet else stderr_progress, workers=max(1, args.workers)
        )
    except SimulationError as err:
        print(f"rainfuse simulate: {err}", file=sys.stderr)
        return 2
    if args.summary:
        for manifest in manifests:
            stderr_progress(day_summary_line(manifest))
    summary = {m["day"]: m["counts"] for m in manifests}
    print(json.dumps({"out": args.out, "days": summary}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
