"""Compare two pipeline runs file by file: is a refactor free of any change to what it produces?

Usage::

    python tools/compare_runs.py BEFORE_DIR AFTER_DIR [--log-before F --log-after F]

Each directory is a run's data folder (``data/`` of a ``make demo``): the IO manager's asset
values under ``storage/`` and the products under ``products/`` are compared by content:

* NetCDF (``.nc``): every data variable and coordinate, values and dtype, bit for bit (NaN equals
  NaN); attributes are compared too and listed apart (``ATTRIBUTES`` lines, ``attrs_only``),
  since they describe the values (and a few record the run) rather than being them;
* Parquet: the frames, exactly (:func:`pandas.testing.assert_frame_equal`, ``check_exact``);
* JSON: the documents, leaf by leaf; keys that time the run (``*_s``, ``*seconds*``, ``*time*``,
  ``*utc*``) are listed apart as run records, not as differences of the science;
* ``.bin`` model files (safetensors inside): the tensors, exactly, and the metadata;
* GeoTIFF: the raster bands and the georeferencing (rasterio);
* PNG: the decoded pixels.

With the two demo logs, the score tables the demo printed are compared line by line, less the
lines that time the run.

The last line is one JSON object: ``{"files": n, "identical": n, "differ": [...],
"only_before": [...], "only_after": [...], "attrs_only": [...], "run_records": n,
"tables_identical": bool}``. The exit status is 0 when nothing but run records differ.
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


def _compare_netcdf(a: Path, b: Path) -> tuple[list[str], list[str]]:
    import xarray as xr

    problems, attrs = [], []
    with xr.open_dataset(a, decode_times=False) as da, xr.open_dataset(b, decode_times=False) as db:
        for name in sorted(set(da.variables) | set(db.variables)):
            if name not in da.variables or name not in db.variables:
                problems.append(f"variable {name} only in one run")
                continue
            va, vb = da[name], db[name]
            if va.dims != vb.dims or not _arrays_equal(va.values, vb.values):
                problems.append(f"variable {name} differs")
            if va.attrs != vb.attrs:
                attrs.append(f"attributes of {name}")
        for key in sorted(set(da.attrs) | set(db.attrs)):
            if da.attrs.get(key) != db.attrs.get(key):
                attrs.append(f"global attr {key}")
    return problems, attrs


def _compare_parquet(a: Path, b: Path) -> list[str]:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)
    except AssertionError as error:
        return [str(error).splitlines()[0]]
    return []


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
    la = dict(_leaves(json.loads(a.read_text())))
    lb = dict(_leaves(json.loads(b.read_text())))
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
    if _safetensors_metadata(a) != _safetensors_metadata(b):
        problems.append("model metadata")
    return problems


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
        return _compare_parquet(a, b), []
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--log-before", type=Path)
    parser.add_argument("--log-after", type=Path)
    args = parser.parse_args(argv)
    before, after = _files(args.before), _files(args.after)
    summary: dict[str, Any] = {
        "files": len(set(before) | set(after)),
        "identical": 0,
        "differ": [],
        "only_before": sorted(set(before) - set(after)),
        "only_after": sorted(set(after) - set(before)),
        "attrs_only": [],
        "run_records": 0,
    }
    for rel in sorted(set(before) & set(after)):
        problems, records = compare_file(before[rel], after[rel])
        if problems:
            summary["differ"].append(rel)
            print(f"DIFFERS {rel}: {'; '.join(problems)}")
        else:
            summary["identical"] += 1
            attributes = [r for r in records if r.startswith(("global attr", "attributes"))]
            summary["run_records"] += len(records) - len(attributes)
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
        f"{summary['identical']} of {summary['files']} files identical in content; "
        f"{len(summary['differ'])} differ; {len(summary['only_before'])} only before, "
        f"{len(summary['only_after'])} only after"
    )
    print(json.dumps(summary))
    ok = not (summary["differ"] or summary["only_before"] or summary["only_after"])
    return 0 if ok and summary.get("tables_identical", True) else 1


if __name__ == "__main__":
    sys.exit(main())
