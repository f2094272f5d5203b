"""Compare two pipeline runs file by file: is a refactor free of any change to what it produces?

Usage::

    python tools/compare_runs.py BEFORE_DIR AFTER_DIR [--log-before F --log-after F]

Each directory is a run's data folder (``data/`` of a ``make demo``): the IO manager's asset
values under ``storage/`` and the products under ``products/`` are compared by content. File
names recorded inside values that point into a run's own folder read ``<run>`` (the two runs sit
in different folders); op outputs stored under a Dagster run id are paired by content.

* NetCDF (``.nc``): every data variable, values and dtype, bit for bit (NaN equals NaN). A float
  coordinate that moved (by rounding) is listed apart with its largest move (``COORDINATES``
  lines), and so are changed attributes (``ATTRIBUTES`` lines): they describe the values;
* Parquet: every column exactly; float ``lat``/``lon`` columns that moved are listed apart;
* JSON: the documents, leaf by leaf; keys that time the run (``*_s``, ``*seconds*``, ``*time*``,
  ``*utc*``) are run records, not differences;
* ``.bin`` model files (safetensors inside): the tensors exactly, and the metadata leaf by leaf;
* GeoTIFF: the raster bands and the georeferencing (rasterio);
* PNG: the decoded pixels.

With the two demo logs, the score tables the demo printed are compared line by line, less the
lines that time the run.

The last line is one JSON object: ``{"files": n, "identical": n, "differ": [...],
"only_before": [...], "only_after": [...], "coords_only": [...], "attrs_only": [...],
"run_records": n, "tables_identical": bool, "table_lines": n}``. The exit status is 0 when the
data and the tables are equal.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: JSON keys that time or date the run itself: listed, never counted as a science difference.
RUN_RECORD_KEY = re.compile(r"(_s$|seconds|time|utc|wall|elapsed|duration|started|finished)", re.I)
#: Lines of the demo's output that time the run.
RUN_RECORD_LINE = re.compile(
    r"(finished in|took \d|\d+(\.\d+)? ?s\b.*elapsed|^\[demo\]|^\[simulate)"
)
SECTIONS = ("storage", "products")
#: A Dagster run id: op outputs (not assets) are stored under ``<run id>/<step>/``.
RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: The two runs' folders: paths inside them (file names recorded in values) read ``<run>``.
_ROOTS: list[str] = []


def _norm(value: Any) -> Any:
    """``value`` with either run's folder written ``<run>`` (strings only)."""
    if isinstance(value, str):
        for root in _ROOTS:
            value = value.replace(root, "<run>")
    return value


def _files(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for section in SECTIONS:
        base = root / section
        if base.exists():
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    out[str(path.relative_to(root))] = path
    return out


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _same_value(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return bool(np.array_equal(np.asarray(x), np.asarray(y)))
    return bool(x == y)


def _same_attrs(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(_same_value(a[k], b[k]) for k in a)


def _compare_netcdf(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """Data variables must be identical; coordinate and attribute changes are listed apart."""
    import xarray as xr

    problems, notes = [], []
    with xr.open_dataset(a, decode_times=False) as da, xr.open_dataset(b, decode_times=False) as db:
        for name in sorted(set(da.variables) | set(db.variables)):
            if name not in da.variables or name not in db.variables:
                problems.append(f"variable {name} only in one run")
                continue
            va, vb = da[name], db[name]
            if va.dims != vb.dims or not _arrays_equal(va.values, vb.values):
                if name in da.coords and va.shape == vb.shape and va.dtype.kind == "f":
                    moved = float(np.nanmax(np.abs(va.values - vb.values)))
                    notes.append(f"coordinate {name} moved by at most {moved:.1e}")
                else:
                    problems.append(
                        f"variable {name} differs{_max_difference(va.values, vb.values)}"
                    )
            if not _same_attrs(va.attrs, vb.attrs):
                notes.append(f"attributes of {name}")
        for key in sorted(set(da.attrs) | set(db.attrs)):
            if not _same_value(_norm(da.attrs.get(key)), _norm(db.attrs.get(key))):
                notes.append(f"global attr {key}")
    return problems, notes


def _max_difference(x: np.ndarray, y: np.ndarray) -> str:
    if x.shape == y.shape and x.dtype.kind in "fiu" and y.dtype.kind in "fiu":
        diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
        if np.isfinite(diff).any():
            return f" (max abs difference {float(np.nanmax(diff)):.3g})"
    return ""


def _compare_parquet(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """Every column, exactly (text with the run folders normalised); float coordinate columns
    (``lat``, ``lon``) that moved by rounding only are listed apart."""
    import pandas as pd

    fa, fb = pd.read_parquet(a), pd.read_parquet(b)
    if list(fa.columns) != list(fb.columns) or len(fa) != len(fb):
        return [
            f"columns or rows differ: {list(fa.columns)} x {len(fa)} vs {list(fb.columns)} x {len(fb)}"
        ], []
    problems, notes = [], []
    for column in fa.columns:
        x, y = fa[column].to_numpy(), fb[column].to_numpy()
        if x.dtype.kind == "O" or y.dtype.kind == "O":
            x = np.array([_norm(v) for v in x], dtype=object)
            y = np.array([_norm(v) for v in y], dtype=object)
            same = bool(pd.Series(x).equals(pd.Series(y)))
        else:
            same = _arrays_equal(x, y)
        if same:
            continue
        if column in ("lat", "lon") and x.dtype.kind == "f" and y.dtype.kind == "f":
            notes.append(
                f"coordinate column {column} moved by at most {float(np.nanmax(np.abs(x - y))):.1e}"
            )
        else:
            problems.append(f"column {column} differs{_max_difference(x, y)}")
    return problems, notes


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], f"{prefix}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _same_leaf(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def _compare_json(a: Path, b: Path) -> tuple[list[str], list[str]]:
    return _compare_documents(json.loads(a.read_text()), json.loads(b.read_text()))


def _compare_documents(da: Any, db: Any) -> tuple[list[str], list[str]]:
    la = {k: _norm(v) for k, v in _leaves(da)}
    lb = {k: _norm(v) for k, v in _leaves(db)}
    problems, records = [], []
    for key in sorted(set(la) | set(lb)):
        if key in la and key in lb and _same_leaf(la[key], lb[key]):
            continue
        last = key.rsplit("/", 1)[-1]
        (records if RUN_RECORD_KEY.search(last) else problems).append(key)
    return problems, records


def _compare_safetensors(a: Path, b: Path) -> list[str]:
    from safetensors.numpy import load

    ta, tb = load(a.read_bytes()), load(b.read_bytes())
    problems = [f"tensor {k}" for k in sorted(set(ta) | set(tb)) if k not in ta or k not in tb]
    problems += [
        f"tensor {k}" for k in sorted(set(ta) & set(tb)) if not _arrays_equal(ta[k], tb[k])
    ]
    meta_a, meta_b = _safetensors_metadata(a), _safetensors_metadata(b)
    different, _records = _compare_documents(
        {k: _maybe_json(v) for k, v in meta_a.items()},
        {k: _maybe_json(v) for k, v in meta_b.items()},
    )
    problems += [f"model metadata {key}" for key in different]
    return problems


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _safetensors_metadata(path: Path) -> dict[str, str]:
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    return header.get("__metadata__", {})


def _compare_geotiff(a: Path, b: Path) -> list[str]:
    import rasterio

    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        problems = [] if _arrays_equal(ra.read(), rb.read()) else ["raster values"]
        if ra.transform != rb.transform or ra.crs != rb.crs:
            problems.append("georeferencing")
    return problems


def _compare_png(a: Path, b: Path) -> list[str]:
    from matplotlib.image import imread

    return [] if _arrays_equal(imread(a), imread(b)) else ["pixels"]


def compare_file(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """(differences of the science, differences that only record the run) of one file pair."""
    suffix = a.suffix.lower()
    if a.read_bytes() == b.read_bytes():
        return [], []
    if suffix == ".nc":
        return _compare_netcdf(a, b)
    if suffix == ".parquet":
        return _compare_parquet(a, b)
    if suffix == ".json":
        return _compare_json(a, b)
    if suffix == ".bin":
        return _compare_safetensors(a, b), []
    if suffix in (".tif", ".tiff"):
        return _compare_geotiff(a, b), []
    if suffix == ".png":
        return _compare_png(a, b), []
    return ["bytes differ"], []


def table_lines(log: Path, root: Path | None = None) -> list[str]:
    """The demo's score tables: its output from the first table heading, less run timings.

    Paths inside the run's folder ``root`` (the parent of its data folder) read ``<run>``.
    """
    text = log.read_text().splitlines()
    start = next((i for i, line in enumerate(text) if line.startswith("== ")), len(text))
    lines = [line for line in text[start:] if not RUN_RECORD_LINE.search(line)]
    if root is not None:
        lines = [line.replace(str(root.resolve()), "<run>") for line in lines]
    return lines


def _pair_run_outputs(before: dict[str, Path], after: dict[str, Path]) -> dict[str, str]:
    """Op outputs stored under a run id: each before file paired with an after file of the same
    step whose content compares equal (run ids differ between runs)."""

    def step(rel: str) -> str | None:
        parts = rel.split("/")
        return (
            "/".join(parts[:1] + parts[2:]) if len(parts) > 2 and RUN_ID.match(parts[1]) else None
        )

    pairs: dict[str, str] = {}
    free = {rel for rel in after if step(rel)}
    for rel in sorted(r for r in before if step(r)):
        for candidate in sorted(c for c in free if step(c) == step(rel)):
            if not compare_file(before[rel], after[candidate])[0]:
                pairs[rel] = candidate
                free.discard(candidate)
                break
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--log-before", type=Path)
    parser.add_argument("--log-after", type=Path)
    args = parser.parse_args(argv)
    _ROOTS[:] = [str(args.before.parent.resolve()), str(args.after.parent.resolve())]
    before, after = _files(args.before), _files(args.after)
    pairs = {rel: rel for rel in set(before) & set(after)}
    pairs.update(_pair_run_outputs(before, after))
    summary: dict[str, Any] = {
        "files": len(set(before) | set(after)) - len(pairs) + len(set(before) & set(after)),
        "identical": 0,
        "differ": [],
        "only_before": sorted(set(before) - set(pairs)),
        "only_after": sorted(set(after) - set(pairs.values())),
        "attrs_only": [],
        "coords_only": [],
        "run_records": 0,
    }
    for rel in sorted(pairs):
        problems, records = compare_file(before[rel], after[pairs[rel]])
        if problems:
            summary["differ"].append(rel)
            print(f"DIFFERS {rel}: {'; '.join(problems)}")
            continue
        summary["identical"] += 1
        coords = [r for r in records if r.startswith(("coordinate", "coordinate column"))]
        attributes = [r for r in records if r.startswith(("global attr", "attributes"))]
        summary["run_records"] += len(records) - len(attributes) - len(coords)
        if coords:
            summary["coords_only"].append(rel)
            print(f"COORDINATES {rel}: {'; '.join(coords)}")
        if attributes:
            summary["attrs_only"].append(rel)
            print(f"ATTRIBUTES {rel}: {'; '.join(attributes)}")
    for rel in summary["only_before"]:
        print(f"ONLY BEFORE {rel}")
    for rel in summary["only_after"]:
        print(f"ONLY AFTER {rel}")
    if args.log_before and args.log_after:
        la = table_lines(args.log_before, args.before.parent)
        lb = table_lines(args.log_after, args.after.parent)
        summary["tables_identical"] = la == lb
        summary["table_lines"] = len(la)
        for x, y in zip(la, lb, strict=False):
            if x != y:
                print(f"TABLE LINE DIFFERS:\n  before: {x}\n  after:  {y}")
    print(
        f"{summary['identical']} of {summary['files']} files equal in their data "
        f"({len(summary['coords_only'])} with coordinates moved by rounding, "
        f"{len(summary['attrs_only'])} with attributes changed); {len(summary['differ'])} differ; "
        f"{len(summary['only_before'])} only before, {len(summary['only_after'])} only after"
    )
    print(json.dumps(summary))
    ok = not (summary["differ"] or summary["only_before"] or summary["only_after"])
    return 0 if ok and summary.get("tables_identical", True) else 1


if __name__ == "__main__":
    sys.exit(main())
