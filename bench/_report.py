"""The benchmark report: machine description, headline numbers, ``results.json`` and BENCHMARKS.md.

Every section of ``rainfuse bench all`` hands back a plain dict. A section that could not be
measured (its code has not landed, a service is missing, it failed or timed out) says so with
``status`` and ``reason`` and its numbers are ``None``: the report never invents a figure.

The headline keys (:data:`HEADLINE_KEYS`) are derived here from the sections, so that the JSON
line printed by ``rainfuse bench all``, ``benchmarks/results.json`` and BENCHMARKS.md agree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from fusion_ops.atomic import atomic_path
from fusion_ops.tables import markdown_table

SCHEMA_VERSION = 1

#: Keys of the one-line JSON summary (issue 9); each is a number or ``None``.
HEADLINE_KEYS: tuple[str, ...] = (
    "ingest_over_bz2_floor",
    "ingest_over_pyart_read",
    "ingest_over_bz2_floor_simulated",
    "radar_day_wall_s",
    "radar_day_cpu_s",
    "radar_year_projected_h",
    "peak_rss_gb",
    "celery_1_worker_s",
    "celery_2_workers_s",
    "celery_speedup_2_workers",
    "fusion_train_step_s",
    "fusion_infer_mpix_s",
    "mlp_train_samples_s",
    "mlp_infer_samples_s",
    "mlp_train_window_max_s",
)

#: (headline key, comparison, threshold, what the issue asks) for the targets table.
TARGETS: tuple[tuple[str, str, float, str], ...] = (
    (
        "ingest_over_bz2_floor",
        "<=",
        3.0,
        "full ingest of one Level II volume <= 3x its bz2 floor (x)",
    ),
    ("radar_day_wall_s", "<", 300.0, "one radar-day end to end < 5 min (s)"),
    ("radar_year_projected_h", "<", 24.0, "projected radar-year < 24 h on one 2-core machine (h)"),
    ("peak_rss_gb", "<", 3.0, "peak RSS of the radar-day < 3 GB (GB)"),
    ("celery_speedup_2_workers", ">=", 1.6, "2 Celery workers >= 1.6x faster than 1 (x)"),
    (
        "mlp_train_window_max_s",
        "<",
        300.0,
        "training each calibration MLP on 30 days of samples < 5 min on 2 CPU cores (s)",
    ),
)

#: Load average per core above which the machine counts as busy (timings are then noisy).
BUSY_LOAD_PER_CORE = 0.5


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 1e9, 1)
    except ImportError:  # pragma: no cover - psutil is a dependency of the project
        return None


def _gpus() -> list[str]:
    """GPU names from ``nvidia-smi`` (no CUDA context is created in this process)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return None


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on (CPU, cores, memory, GPU, library versions, load)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("numpy", "torch", "dagster", "dagster-celery", "arm_pyart", "xarray")
        },
        "load_average_start": load_average(),
    }


def is_busy(load: Sequence[float] | None, cores: int | None) -> bool:
    """True when the 1-minute load average per core exceeds :data:`BUSY_LOAD_PER_CORE`."""
    if not load or not cores:
        return False
    return load[0] / cores > BUSY_LOAD_PER_CORE


def not_measured(reason: str, **extra: Any) -> dict[str, Any]:
    """A section result for something that could not be measured (numbers stay ``None``)."""
    return {"status": "not_measured", "reason": reason, **extra}


def _num(section: Mapping[str, Any] | None, *path: str) -> float | None:
    value: Any = section
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ratio(num: float | None, den: float | None, ndigits: int = 3) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return round(num / den, ndigits)


def project_radar_year_h(
    day_wall_s: float | None, day_cpu_s: float | None, cores: int = 2
) -> float | None:
    """Hours to backfill 365 radar-days on one ``cores``-core machine.

    Days are independent partitions, so a backfill runs ``cores`` days at once (one process per
    day). That is limited by CPU when a day already uses more than one core, and by each day's
    wall time otherwise: ``365 * max(wall, cpu) / cores``. Memory must then hold ``cores`` days
    (see ``peak_rss_gb``).
    """
    if day_wall_s is None:
        return None
    busy = max(day_wall_s, day_cpu_s or 0.0)
    return round(365.0 * busy / cores / 3600.0, 2)


def headline(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """The summary keys (:data:`HEADLINE_KEYS`) from the section results; missing -> ``None``."""

    def ok(section: Any) -> Mapping[str, Any]:
        # a failed or unmeasured section contributes no number, even a partial one
        if isinstance(section, Mapping) and section.get("status", "ok") == "ok":
            return section
        return {}

    ingest = ok(sections.get("ingest"))
    real = ok(ingest.get("real"))
    sim = ok(ingest.get("simulated"))
    day = ok(sections.get("radar_day"))
    celery = ok(sections.get("celery"))
    fusion = ok(sections.get("fusion"))
    mlp = ok(sections.get("mlp"))
    out: dict[str, float | None] = dict.fromkeys(HEADLINE_KEYS)
    out["ingest_over_bz2_floor"] = _ratio(
        _num(real, "rainfuse_ingest_s"), _num(real, "bz2_floor_s")
    )
    out["ingest_over_pyart_read"] = _ratio(
        _num(real, "rainfuse_ingest_s"), _num(real, "pyart_read_s")
    )
    out["ingest_over_bz2_floor_simulated"] = _ratio(
        _num(sim, "rainfuse_ingest_s"), _num(sim, "bz2_floor_s")
    )
    out["radar_day_wall_s"] = _num(day, "wall_s")
    out["radar_day_cpu_s"] = _num(day, "cpu_s")
    out["radar_year_projected_h"] = _num(day, "radar_year_projected_h")
    out["peak_rss_gb"] = _num(day, "peak_rss_gb")
    out["celery_1_worker_s"] = _num(celery, "workers", "1", "wall_s")
    out["celery_2_workers_s"] = _num(celery, "workers", "2", "wall_s")
    out["celery_speedup_2_workers"] = _ratio(out["celery_1_worker_s"], out["celery_2_workers_s"], 2)
    out["fusion_train_step_s"] = _num(fusion, "headline", "train_step_s")
    out["fusion_infer_mpix_s"] = _num(fusion, "headline", "infer_mpix_s")
    out["mlp_train_samples_s"] = _num(mlp, "headline", "train_samples_s")
    out["mlp_infer_samples_s"] = _num(mlp, "headline", "infer_samples_s")
    out["mlp_train_window_max_s"] = _num(mlp, "window_training", "max_seconds")
    return out


def target_table(summary: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """One row per target: value, threshold and whether it is met (``None`` = not measured)."""
    rows = []
    for key, op, threshold, text in TARGETS:
        value = summary.get(key)
        met = None
        if value is not None:
            met = {"<=": value <= threshold, "<": value < threshold, ">=": value >= threshold}[op]
        rows.append(
            {"key": key, "target": f"{op} {threshold:g}", "value": value, "met": met, "what": text}
        )
    return rows


def build_payload(
    sections: Mapping[str, Mapping[str, Any]],
    machine: Mapping[str, Any],
    options: Mapping[str, Any],
    total_wall_s: float,
    started_utc: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything ``results.json`` holds."""
    summary = headline(sections)
    started = started_utc or dt.datetime.now(dt.UTC)
    machine = dict(machine)
    machine.setdefault("load_average_end", load_average())
    cores = machine.get("usable_cores") or machine.get("logical_cores")
    # only the load before the run says whether others were using the machine: the load at the
    # end is mostly the benchmark's own (the Celery section ends with two busy workers)
    busy = is_busy(machine.get("load_average_start"), cores)
    return {
        "schema": SCHEMA_VERSION,
        "date_utc": started.replace(microsecond=0).isoformat(),
        "command": "rainfuse bench all " + " ".join(options.get("argv", [])),
        "machine": machine,
        "machine_busy": busy,
        "options": {k: v for k, v in options.items() if k != "argv"},
        "total_wall_s": round(total_wall_s, 1),
        "summary": summary,
        "targets": target_table(summary),
        "sections": dict(sections),
    }


# ---------------------------------------------------------------------------------------------
# Markdown


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return " x ".join(str(v) for v in value)
    return str(value).replace("|", "/")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """:func:`fusion_ops.tables.markdown_table` with the report's cells (``None`` is ``n/a``)."""
    return markdown_table(header, rows, cell=_fmt)


def _status_line(section: Mapping[str, Any]) -> str:
    """When and how the section was measured, and why it has no numbers if so."""
    stamp = []
    if section.get("measured_utc"):
        stamp.append(f"measured {section['measured_utc']} UTC")
    if section.get("section_wall_s") is not None:
        stamp.append(f"section took {_fmt(section['section_wall_s'])} s")
    if section.get("quick"):
        stamp.append("**--quick** (reduced sizes)")
    line = f"_{', '.join(stamp)}_\n\n" if stamp else ""
    status = section.get("status", "ok")
    if status == "ok":
        return line
    return line + f"**Not measured ({status})**: {section.get('reason', 'no reason given')}\n\n"


def _ingest_md(section: Mapping[str, Any]) -> str:
    parts = ["## 1. Level II ingest per volume\n\n", _status_line(section)]
    cols = [
        ("bz2 floor (s)", "bz2_floor_s"),
        ("Py-ART read (s)", "pyart_read_s"),
        ("Py-ART read + grid_from_radars (s)", "pyart_read_grid_s"),
        ("rainfuse full ingest (s)", "rainfuse_ingest_s"),
        ("ingest / bz2 floor", "ingest_over_bz2_floor"),
        ("ingest / Py-ART read", "ingest_over_pyart_read"),
        ("Py-ART read+grid / ingest", "pyart_read_grid_over_ingest"),
        ("grid speedup", "grid_speedup"),
        ("grid agreement (dBZ)", "grid_agreement_dbz"),
    ]
    rows = []
    for name in ("real", "simulated"):
        vol = section.get(name)
        if not isinstance(vol, Mapping):
            continue
        if vol.get("status", "ok") != "ok":
            rows.append([vol.get("volume", name)] + [None] * len(cols))
            parts.append(f"- {name}: not measured: {vol.get('reason')}\n")
            continue
        rows.append([vol.get("volume", name)] + [vol.get(k) for _, k in cols])
    if rows:
        parts.append(md_table(["volume"] + [c for c, _ in cols], rows) + "\n\n")
        first = next(
            (v for v in (section.get("real"), section.get("simulated")) if isinstance(v, Mapping)),
            {},
        )
        parts.append(
            f"Medians of {first.get('runs', '?')} runs in one process; grid "
            f"{_fmt(first.get('grid_shape'))} at {_fmt(first.get('grid_spacing_m'))} m. "
            "rainfuse full ingest = read + QC (+KDP) + profiles above gauges + gridding of "
            "reflectivity, ZDR and KDP (gate map cache warm); the bz2 floor only decompresses "
            "the file's records.\n\n"
        )
    return "".join(parts)


def _radar_day_md(section: Mapping[str, Any]) -> str:
    parts = ["## 2. One radar-day end to end\n\n", _status_line(section)]
    keys = [
        ("day", "day"),
        ("radar volumes", "n_volumes"),
        ("cadence (min)", "cadence_min"),
        ("simulation (s, not counted)", "simulate_s"),
        ("daily job wall (s)", "wall_s"),
        ("daily job CPU (s)", "cpu_s"),
        ("reference job wall (s)", "reference_wall_s"),
        ("process wall incl. imports (s)", "process_wall_s"),
        ("peak RSS (GB)", "peak_rss_gb"),
        ("projected radar-year, 2 cores (h)", "radar_year_projected_h"),
        ("projected radar-year, serial (h)", "radar_year_serial_h"),
        ("run status", "run_status"),
    ]
    rows = [[label, section.get(key)] for label, key in keys if key in section]
    if rows:
        parts.append(md_table(["measure", "value"], rows) + "\n\n")
    steps = section.get("steps") or []
    if steps:
        parts.append("Per-asset breakdown (Dagster step durations from the event log):\n\n")
        header = ["step", "status", "seconds", "share of wall"]
        rows = [[s.get("step"), s.get("status"), s.get("seconds"), s.get("share")] for s in steps]
        if any("peak_rss_gb" in s for s in steps):
            # the run is in process: the process's RSS while the step ran
            header.append("peak RSS during the step (GB)")
            rows = [[*row, s.get("peak_rss_gb")] for row, s in zip(rows, steps, strict=True)]
        parts.append(md_table(header, rows) + "\n\n")
    if section.get("projection_note"):
        parts.append(section["projection_note"] + "\n\n")
    library = section.get("library")
    if isinstance(library, Mapping) and library.get("processes"):
        parts.append("### Radar volumes of the day through fusion_ops alone (no Dagster)\n\n")
        rows = []
        for n, res in sorted(library["processes"].items(), key=lambda kv: int(kv[0])):
            rows.append(
                [
                    n,
                    res.get("n_ingested"),
                    res.get("wall_s"),
                    res.get("cpu_s"),
                    res.get("s_per_volume"),
                    res.get("peak_rss_gb"),
                    res.get("reason") or res.get("status"),
                ]
            )
        header = [
            "processes",
            "volumes",
            "wall (s)",
            "CPU (s)",
            "s/volume",
            "peak RSS (GB)",
            "status",
        ]
        parts.append(md_table(header, rows) + "\n\n")
        if library.get("speedup_2_processes") is not None:
            parts.append(f"Speedup with 2 processes: **{_fmt(library['speedup_2_processes'])}x**. ")
        parts.append((library.get("note") or "") + "\n\n")
    return "".join(parts)


def _celery_md(section: Mapping[str, Any]) -> str:
    parts = ["## 3. Scale-out: Celery profile, same day\n\n", _status_line(section)]
    workers = section.get("workers") or {}
    rows = []
    for n, res in sorted(workers.items(), key=lambda kv: int(kv[0])):
        rows.append(
            [n, res.get("wall_s"), res.get("run_s"), res.get("run_status"), res.get("reason")]
        )
    if rows:
        header = ["workers", "daily job wall (s)", "run in instance (s)", "status", "note"]
        parts.append(md_table(header, rows) + "\n\n")
    speedup = _ratio(
        _num(section, "workers", "1", "wall_s"), _num(section, "workers", "2", "wall_s"), 2
    )
    if speedup is not None and section.get("status", "ok") == "ok":
        parts.append(f"Speedup with 2 workers: **{_fmt(speedup)}x**")
        if section.get("speedup_2_workers_run") is not None:
            parts.append(
                f" (run durations in the instance, without the client's code loading: "
                f"{_fmt(section['speedup_2_workers_run'])}x)"
            )
        parts.append(".\n\n")
    graph = section.get("graph") or {}
    if graph.get("critical_path_s"):
        path = " -> ".join(f"{s['step']} ({_fmt(s['seconds'])} s)" for s in graph["critical_path"])
        parts.append(
            f"Step graph (1-worker step times): total {_fmt(graph['total_step_s'])} s, critical "
            f"path {_fmt(graph['critical_path_s'])} s: {path}. Best possible speedup with 2 "
            f"workers: **{_fmt(graph.get('best_speedup_2_workers'))}x**"
            + (
                f"; the 1-worker run spent {_fmt(graph['overhead_1_worker_s'])} s outside steps "
                "(launch, Celery dispatch)"
                if graph.get("overhead_1_worker_s") is not None
                else ""
            )
            + ".\n\n"
        )
    if section.get("setup"):
        parts.append(f"Setup: {section['setup']}\n\n")
    return "".join(parts)


def _nets_md(title: str, section: Mapping[str, Any], unit: str, preface: str = "") -> str:
    parts = [title, _status_line(section), preface]
    rows = []
    for res in section.get("results") or []:
        rows.append(
            [
                res.get("model"),
                res.get("device"),
                res.get("shape"),
                res.get("train_step_s"),
                res.get("train_per_s"),
                res.get("infer_per_s"),
                res.get("status", "ok") if res.get("status", "ok") == "ok" else res.get("reason"),
            ]
        )
    if rows:
        parts.append(
            md_table(
                [
                    "model",
                    "device",
                    "input",
                    "train step (s)",
                    f"train ({unit})",
                    f"inference ({unit})",
                    "status",
                ],
                rows,
            )
            + "\n\n"
        )
    if section.get("note"):
        parts.append(section["note"] + "\n\n")
    window = section.get("window_training") or {}
    if window.get("models"):
        parts.append(
            f"Training on a {window.get('days')}-day window of samples (the model assets' own "
            "selection and `TrainConfig`, early stopping on; stored daily samples repeated to "
            "the window length):\n\n"
        )
        parts.append(
            md_table(
                ["model", "seconds", "groups", "samples", "epochs", "samples from"],
                [
                    [
                        name,
                        m.get("seconds"),
                        m.get("groups"),
                        m.get("samples"),
                        m.get("epochs"),
                        m.get("source"),
                    ]
                    for name, m in window["models"].items()
                ],
            )
            + "\n\n"
        )
    return "".join(parts)


def cuda_speedups(section: Mapping[str, Any]) -> list[list[Any]]:
    """``[model, train CUDA/CPU, inference CUDA/CPU]`` from one machine's CPU and CUDA rows."""
    rows = [r for r in section.get("results") or [] if r.get("status", "ok") == "ok"]
    out = []
    for model in dict.fromkeys(r.get("model") for r in rows):
        by = {str(r.get("device", "")).split(" ")[0]: r for r in rows if r.get("model") == model}
        cpu, cuda = by.get("cpu"), by.get("cuda")
        if cpu and cuda:
            out.append(
                [
                    model,
                    _ratio(_num(cuda, "train_per_s"), _num(cpu, "train_per_s"), 1),
                    _ratio(_num(cuda, "infer_per_s"), _num(cpu, "infer_per_s"), 1),
                ]
            )
    return out


def _gpu_md(sections: Mapping[str, Mapping[str, Any]]) -> str:
    titles = {"fusion_gpu": ("Fusion networks", "MPix/s"), "mlp_gpu": ("MLP networks", "samples/s")}
    parts = [
        "## 6. On a CUDA GPU\n\n",
        "Measured on a GPU machine with `python -m bench.models` and added with "
        "`rainfuse bench all --import-gpu FILE`. Its CPU rows are that machine's CPU, not the "
        "machine above, so the CUDA/CPU ratios compare devices of one machine.\n\n",
    ]
    for name, section in sections.items():
        title, unit = titles.get(name, (name, ""))
        m = section.get("machine") or {}
        gpus = ", ".join(m.get("gpus") or []) or "none reported"
        torch_version = (m.get("versions") or {}).get("torch")
        preface = (
            f"GPU {gpus}; CPU {m.get('cpu')} ({section.get('torch_threads')} torch threads of "
            f"{m.get('usable_cores')} cores); torch {torch_version}; "
            f"`{section.get('command', '')}`\n\n"
        )
        parts.append(_nets_md(f"### {title}\n\n", section, unit, preface))
        ratios = cuda_speedups(section)
        if ratios:
            parts.append(
                md_table(["model", "train CUDA / CPU", "inference CUDA / CPU"], ratios) + "\n\n"
            )
    return "".join(parts)


def render_markdown(payload: Mapping[str, Any]) -> str:
    """BENCHMARKS.md from a :func:`build_payload` result."""
    machine = payload.get("machine", {})
    sections = payload.get("sections", {})
    lines = [
        "# rainfuse benchmarks\n",
        f"Measured {payload.get('date_utc')} UTC with `{payload.get('command', '').strip()}` "
        f"in {_fmt(payload.get('total_wall_s'))} s. Regenerate with `make bench`.\n",
    ]
    if payload.get("machine_busy"):
        lines.append(
            "> **The machine was busy when this run started** (load average "
            f"{machine.get('load_average_start')} at start, {machine.get('load_average_end')} at "
            "end, on "
            f"{machine.get('usable_cores')} cores): timings are noisy and pessimistic; rerun on "
            "an idle machine before quoting them.\n"
        )
    lines.append("## Machine\n")
    gpus = ", ".join(machine.get("gpus") or []) or "none"
    versions = ", ".join(f"{k} {v}" for k, v in (machine.get("versions") or {}).items() if v)
    lines.append(
        md_table(
            ["", ""],
            [
                ["CPU", machine.get("cpu")],
                [
                    "cores (usable / logical)",
                    f"{machine.get('usable_cores')} / {machine.get('logical_cores')}",
                ],
                ["memory (GB)", machine.get("memory_gb")],
                ["GPU", gpus],
                ["OS / Python", f"{machine.get('os')} / {machine.get('python')}"],
                ["libraries", versions],
                [
                    "load average at start / end",
                    f"{machine.get('load_average_start')} / {machine.get('load_average_end')}",
                ],
            ],
        )
        + "\n"
    )
    lines.append("## Targets\n")
    lines.append(
        md_table(
            ["target", "measured", "met"],
            [[t["what"], t["value"], t["met"]] for t in payload.get("targets", [])],
        )
        + "\n\n`n/a` = not measured (the section below says why).\n"
    )
    lines.append("## Summary (the last line of `rainfuse bench all`)\n")
    lines.append("```json\n" + json.dumps(payload.get("summary", {}), indent=1) + "\n```\n")
    if "ingest" in sections:
        lines.append(_ingest_md(sections["ingest"]))
    if "radar_day" in sections:
        lines.append(_radar_day_md(sections["radar_day"]))
    if "celery" in sections:
        lines.append(_celery_md(sections["celery"]))
    if "fusion" in sections:
        lines.append(_nets_md("## 4. Fusion networks\n\n", sections["fusion"], "MPix/s"))
    if "mlp" in sections:
        lines.append(_nets_md("## 5. MLP calibration networks\n\n", sections["mlp"], "samples/s"))
    gpu = {name: sections[name] for name in ("fusion_gpu", "mlp_gpu") if name in sections}
    if gpu:
        lines.append(_gpu_md(gpu))
    return "\n".join(lines).rstrip() + "\n"


def write_report(payload: Mapping[str, Any], markdown_path: Path, json_path: Path) -> None:
    """Write ``results.json`` and BENCHMARKS.md (each through a temporary name, then moved)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (json_path, json.dumps(payload, indent=1, sort_keys=False, default=str) + "\n"),
        (markdown_path, render_markdown(payload)),
    ):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)


def graceful_sigterm() -> None:
    """Make SIGTERM raise SystemExit so that ``finally`` blocks stop services and clean up."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def say(message: str) -> None:
    """Progress on stderr (stdout's last line is the JSON summary)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def emit_result(result: dict[str, Any], path: str | None) -> int:
    """Print a benchmark's result as its one JSON line (and write it to ``path``); exit status 0."""
    text = json.dumps(result, default=str)
    if path:
        Path(path).write_text(text)
    print(text, flush=True)
    return 0
