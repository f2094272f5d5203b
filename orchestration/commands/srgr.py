"""``rainfuse srgr --gr FILE --sr FILE [--sr2 FILE]``: GR calibration offset against GPM/TRMM.

Matches a ground-radar volume (NEXRAD Level II or ODIM_H5) with a spaceborne radar granule on its
native bins (GPM 2A Ku/DPR, or a TRMM PR V7 2A25 with its 2A23 as ``--sr2``) by
:func:`fusion_ops.calibration.srgr.match_volumes`, prints a short summary (one row per sweep,
sweeps outside the time window named) and then ONE JSON line::

    {"n": int, "median_db": x, "mean_db": x, "ci95_db": [lo, hi], "seconds": s,
     "read_seconds": s, "match_seconds": s, "skipped_sweeps": [elevation, ...],
     "sweeps": [{"elevation_deg": e, "n": int, "median_db": x}, ...]}

``median_db`` / ``mean_db`` are GR minus SR after the SR's Ku-to-S conversion (dB); ``ci95_db``
is the 95 % interval of the median; ``seconds`` is reading plus matching (wall clock, without
the Python start-up). Values without samples are null. An unreadable file exits 2 with one line
naming the file and the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainfuse srgr",
        description="Match a ground-radar volume with a GPM/TRMM granule (Schwaller & Morris "
        "2011 volume matching) and report the GR - SR offset; the last line is one JSON object.",
    )
    parser.add_argument("--gr", required=True, metavar="FILE", help="GR volume (Level II, ODIM)")
    parser.add_argument(
        "--sr", required=True, metavar="FILE", help="GPM 2A granule or TRMM V7 2A25 (HDF5/HDF4)"
    )
    parser.add_argument(
        "--sr2", default=None, metavar="FILE", help="the 2A23 of a TRMM 2A25 (rain type, BB)"
    )
    parser.add_argument("--max-range-km", type=float, default=150.0, help="GR range (150)")
    parser.add_argument(
        "--max-time-diff-s", type=float, default=600.0, help="sweeps further apart skipped (600)"
    )
    parser.add_argument(
        "--melting-layer",
        choices=["convert", "exclude"],
        default="convert",
        help="convert SR bins in the melting layer (Cao et al. stages) or drop those samples",
    )
    return parser


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


def _fmt(x: float) -> str:
    return "   n/a" if not math.isfinite(x) else f"{x:+6.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("PYART_QUIET", "1")
    from fusion_ops.calibration.srgr import (
        GR_FIELD,
        SRGRInputError,
        match_volumes,
        read_inputs,
        summarise_bias,
    )
    from fusion_ops.readers.errors import UnreadableFileError

    t0 = time.perf_counter()
    try:
        gr, sr = read_inputs(args.gr, args.sr, sr2_path=args.sr2)
        t1 = time.perf_counter()
        matches = match_volumes(
            gr,
            sr,
            max_range_m=args.max_range_km * 1000.0,
            max_time_diff_s=args.max_time_diff_s,
            melting_layer=args.melting_layer,
        )
    except UnreadableFileError as error:
        print(
            f"rainfuse srgr: cannot read {error.file}: {' '.join(error.reason.split())}",
            file=sys.stderr,
        )
        return 2
    except SRGRInputError as error:
        print(f"rainfuse srgr: {error}", file=sys.stderr)
        return 2
    t2 = time.perf_counter()

    bias = summarise_bias(matches)
    skipped = {s["sweep"]: s for s in matches.attrs.get("skipped_sweeps", [])}
    print(f"GR {gr.site_id} {str(gr.time)[:19]}Z  {args.gr}")
    print(f"SR {sr.attrs.get('swath', '')} {str(matches.attrs.get('sr_time'))[:19]}Z  {args.sr}")
    if sr.attrs.get("note"):
        print(f"   note: {sr.attrs['note']}")
    print("sweep  elev(deg)      n  median(dB)  mean(dB)")
    sweeps = []
    for e, sweep in enumerate(gr.sweeps):
        if GR_FIELD not in sweep.fields:
            continue
        sub = summarise_bias(matches[matches["sweep"] == e])
        elevation = round(float(sweep.elevation_deg), 2)
        sweeps.append(
            {"elevation_deg": elevation, "n": sub["n"], "median_db": _num(sub["median_db"])}
        )
        line = (
            f"{e:5d}  {sweep.elevation_deg:9.2f}  {sub['n']:5d}  {_fmt(sub['median_db']):>10}"
            f"  {_fmt(sub['mean_db']):>8}"
        )
        if e in skipped:
            line += f"  skipped: {skipped[e]['reason']}"
        print(line)
    lo, hi = bias["ci95"]
    print(
        f"all    GR - SR (S band): n = {bias['n']}, median {_fmt(bias['median_db']).strip()} dB "
        f"(95 % {_fmt(lo).strip()} .. {_fmt(hi).strip()}), mean {_fmt(bias['mean_db']).strip()}"
        f" dB; read {t1 - t0:.2f} s, match {t2 - t1:.2f} s"
    )
    summary = {
        "n": bias["n"],
        "median_db": _num(bias["median_db"]),
        "mean_db": _num(bias["mean_db"]),
        "ci95_db": [_num(lo), _num(hi)],
        "seconds": round(t2 - t0, 3),
        "read_seconds": round(t1 - t0, 3),
        "match_seconds": round(t2 - t1, 3),
        "skipped_sweeps": [round(float(s["elevation_deg"]), 2) for s in skipped.values()],
        "sweeps": sweeps,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
