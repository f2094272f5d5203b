"""``rainfuse bench imagery``: score every fusion method on every scene of a folder (Wald's protocol).

Scenes are found by content (:func:`fusion_ops.imagery.loaders.discover_pan_scenes`), anywhere
under ``--data``: toolbox-style ``.mat`` files holding an MS cube and a PAN image of an integer
ratio, and FuseBox-style ``{n}_ms.mat`` / ``{n}_pan.mat`` pairs.  The sensor (and so the MTF
gains) is the one the file names, else ``--sensor``, else unknown (generic gains); the sampling
phase is estimated from the content unless ``--phase`` is given.  A file that cannot be read is
reported on stderr and in the markdown report, naming the file and the reason, and the other
scenes still run (exit code 1; 0 when every file was usable; 2 when nothing could run).

Protocol (reduced resolution, reference = the original coarse image):

* pansharpening scenes: MS and PAN degraded by the MTF-matched Gaussian and decimated by the
  ratio at the scene's sampling phase; methods fuse the degraded pair; scores after cutting
  ``5 * ratio + 1`` pixels (21 at ratio 4, 11 at ratio 2);
* paris_data_hs_ms (when ``paris_data_hs_ms.mat`` is under ``--data``): Hyperion HS degraded by 3
  (72 -> 24 px; 3 keeps the nets' own second degradation integer), ALI MS kept fine; border 16;
* Samson (when ``Samson.mat`` and ``camera_csr_52.mat`` are under ``--data``): an RGB image is
  synthesised from the full cube through one of the 52 database cameras (``--camera``), the HS
  is degraded by 5 (95 -> 19 px); border 26.  The CSR selection (``csr_selected``) must find
  that camera (``csr_true``).

Networks are trained per scene on that scene's degraded inputs only (degraded once more by the
ratio, target = the degraded input).  The last stdout line is one JSON object
``{scene: {method: {"PSNR", "SAM" (degrees), "ERGAS", "Q2n", "infer_s"}}}`` (pansharpening
scenes also carry ``"sensor"``); the markdown table goes to ``--out``.  Progress goes to stderr.

``--full-res-speed`` times the full-resolution indices (D_lambda, D_s, QNR, HQNR) of a
1280 x 1280 8-band scene (imgWV2 when found, else a synthetic one) against the same indices from
``avg_pool2d`` box means and torchmetrics' QNR on the same input, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fusion_ops.imagery import classic
from fusion_ops.imagery.degrade import SENSOR_MTF, gaussian_decimate
from fusion_ops.imagery.loaders import (
    Discovery,
    ImageryFileError,
    PanScene,
    discover_pan_scenes,
    load_camera_database,
    load_paris,
    load_samson,
    resample_response,
    sensor_code,
)
from fusion_ops.imagery.metrics import (
    d_lambda_khan,
    full_resolution_scores,
    qnr,
    score_reduced,
    uiqi_map_direct,
)
from fusion_ops.imagery.nets.rgb_guided import normalise_responses, project_rgb, select_camera
from fusion_ops.imagery.train import (
    TrainConfig,
    fuse_mhf_net,
    fuse_rgb_guided,
    fuse_two_branch,
    train_mhf_net,
    train_rgb_guided,
    train_two_branch,
)
from orchestration.runtime.config import PROJECT_ROOT

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imagery"
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "imagery.md"
HS_METHODS = ("hs_upsample", "hs_baseline", "mhf_net", "rgb_guided")
PARIS_RATIO = 3
SAMSON_RATIO = 5
HS_GAIN = 0.3
#: Pixels a side left to score after the border cut, at least.
MIN_SCORED_PX = 16

LOG = logging.getLogger("rainfuse.bench.imagery")


def border_px(ratio: int) -> int:
    """Border cut of the protocol: 21 px at ratio 4, 11 at ratio 2."""
    return 5 * ratio + 1


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _row(scores: dict[str, float], infer_s: float, train_s: float | None = None) -> dict:
    row = {k: round(float(scores[k]), 4) for k in ("PSNR", "SAM", "ERGAS", "Q2n")}
    row["infer_s"] = round(infer_s, 3)
    if train_s is not None:
        row["_train_s"] = round(train_s, 1)
    return row


def bench_pansharpening(scene: PanScene, cfg: TrainConfig) -> dict[str, dict]:
    """All pansharpening methods on one scene at reduced resolution."""
    r, ph = scene.ratio, scene.phase_px
    ms_lr = gaussian_decimate(scene.ms, r, scene.mtf_ms, ph)
    pan_lr = gaussian_decimate(scene.pan, r, scene.mtf_pan, ph)
    runs: dict[str, Callable[[], torch.Tensor]] = {
        "EXP": lambda: classic.exp_upsample(ms_lr, r, ph),
        "Brovey": lambda: classic.brovey(ms_lr, pan_lr, r, ph),
        "GSA": lambda: classic.gsa(ms_lr, pan_lr, r, scene.mtf_ms, scene.mtf_pan, ph),
        "MTF-GLP-HPM": lambda: classic.mtf_glp_hpm(ms_lr, pan_lr, r, scene.mtf_ms, ph),
    }
    out: dict[str, dict] = {}
    for name, fn in runs.items():
        fused, dt = _timed(fn)
        out[name] = _row(score_reduced(scene.ms, fused, r, border_px(r), False), dt)
    LOG.info("%s: training two_branch_cnn (%d steps)", scene.name, cfg.steps)
    res = train_two_branch(ms_lr, pan_lr, r, scene.mtf_ms, scene.mtf_pan, ph, cfg)
    fused, dt = _timed(
        lambda: fuse_two_branch(res.model, ms_lr, pan_lr, r, scene.mtf_ms, ph, cfg.device)
    )
    out["two_branch_cnn"] = _row(
        score_reduced(scene.ms, fused, r, border_px(r), False), dt, res.seconds
    )
    return out


def bench_hs(
    name: str,
    hs: torch.Tensor,
    guide: torch.Tensor,
    ratio: int,
    cfg: TrainConfig,
    csr_init: torch.Tensor | None = None,
) -> dict[str, dict]:
    """HS methods on one scene: ``hs`` is the reference, ``guide`` the fine companion."""
    z = gaussian_decimate(hs, ratio, HS_GAIN)
    b = border_px(ratio)
    out: dict[str, dict] = {}
    fused, dt = _timed(lambda: classic.hs_upsample(z, ratio))
    out["hs_upsample"] = _row(score_reduced(hs, fused, ratio, b, False), dt)
    fused, dt = _timed(lambda: classic.glp_hs(z, guide, ratio, HS_GAIN))
    out["hs_baseline"] = _row(score_reduced(hs, fused, ratio, b, False), dt)
    LOG.info("%s: training mhf_net (%d steps)", name, cfg.steps)
    res = train_mhf_net(z, guide, ratio, HS_GAIN, None, cfg)
    fused, dt = _timed(lambda: fuse_mhf_net(res.model, z, guide, cfg.device))
    out["mhf_net"] = _row(score_reduced(hs, fused, ratio, b, False), dt, res.seconds)
    if csr_init is not None:
        LOG.info("%s: training rgb_guided (%d steps)", name, cfg.steps)
        res = train_rgb_guided(z, guide, ratio, csr_init, HS_GAIN, None, cfg)
        fused, dt = _timed(lambda: fuse_rgb_guided(res.model, z, guide, cfg.device))
        out["rgb_guided"] = _row(score_reduced(hs, fused, ratio, b, False), dt, res.seconds)
    return out


def samson_inputs(
    data: Path,
    camera: int,
    samson_path: Path | None = None,
    camera_db_path: Path | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Samson cube, its RGB through database camera ``camera``, and the resampled database.

    Files: ``samson_path`` / ``camera_db_path``, by default ``data/hyperspectral/Samson.mat`` and
    ``data/spectral_response/camera_csr_52.mat``.
    """
    scene = load_samson(samson_path or data / "hyperspectral" / "Samson.mat")
    db, db_wl = load_camera_database(
        camera_db_path or data / "spectral_response" / "camera_csr_52.mat"
    )
    if not 0 <= camera < db.shape[0]:
        raise ValueError(f"--camera must be in [0, {db.shape[0] - 1}], got {camera}")
    db_hs = normalise_responses(resample_response(db, db_wl, scene.wavelengths_nm))
    rgb = project_rgb(scene.hs, db_hs[camera])
    return scene.hs, rgb, db_hs, db


def run_infer_timing(device: str, size: int = 1024, n_bands: int = 8) -> dict[str, float]:
    """Inference seconds of each network on a ``size`` x ``size`` PAN scene (WorldView-2-like:
    ``n_bands`` MS bands at ratio 4).  The two-branch CNN pansharpens it; MHF-Net fuses the MS
    with the PAN as guide; the RGB-guided net fuses it with a 3-band fine image.  Weights are
    untrained (inference cost does not depend on them); input preparation is included."""
    from fusion_ops.imagery.nets.mhf_net import MHFNet
    from fusion_ops.imagery.nets.rgb_guided import RGBGuidedHSNet
    from fusion_ops.imagery.nets.two_branch import TwoBranchPansharpenNet
    from fusion_ops.imagery.train import resolve_device

    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(0)
    ratio = 4
    ms = torch.rand(n_bands, size // ratio, size // ratio, generator=gen) + 0.5
    pan = torch.rand(1, size, size, generator=gen) + 0.5
    rgb = torch.rand(3, size, size, generator=gen) + 0.5
    nets: dict[str, tuple[torch.nn.Module, Callable[[torch.nn.Module], torch.Tensor]]] = {
        "two_branch_cnn": (
            TwoBranchPansharpenNet(n_bands),
            lambda m: fuse_two_branch(m, ms, pan, ratio, 0.3, None, dev),  # type: ignore[arg-type]
        ),
        "mhf_net": (
            MHFNet(1, n_bands, ratio, rank=min(32, n_bands)),
            lambda m: fuse_mhf_net(m, ms, pan, dev),  # type: ignore[arg-type]
        ),
        "rgb_guided": (
            RGBGuidedHSNet(n_bands, ratio),
            lambda m: fuse_rgb_guided(m, ms, rgb, dev),  # type: ignore[arg-type]
        ),
    }
    times: dict[str, float] = {}
    for name, (net, run) in nets.items():
        t0, c0 = time.perf_counter(), time.process_time()
        out = run(net)
        times[name] = time.perf_counter() - t0
        # CPU seconds / threads: the wall time on an otherwise idle machine with that many cores
        times[f"{name}_cpu_per_thread"] = (time.process_time() - c0) / torch.get_num_threads()
        if out.shape != (n_bands, size, size):
            raise RuntimeError(f"{name} returned {tuple(out.shape)}")
        LOG.info(
            "inference %s on %dx%d: %.2f s wall, %.2f s CPU/thread",
            name,
            size,
            size,
            times[name],
            times[f"{name}_cpu_per_thread"],
        )
    return times


# --------------------------------------------------------------------------- full-resolution speed


def _direct_qnr_part(
    fused: torch.Tensor,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gain_pan: float,
    phase_px: float | None,
    window: int = 32,
) -> dict[str, float]:
    """D_lambda, D_s and QNR from :func:`uiqi_map_direct` (``avg_pool2d``), pair by pair."""
    c = fused.shape[0]
    w_lo = max(2, window // ratio)
    pan_lr = gaussian_decimate(pan, ratio, gain_pan, phase_px)[0]
    dl = [
        abs(
            float(uiqi_map_direct(fused[i], fused[j], window).mean())
            - float(uiqi_map_direct(ms[i], ms[j], w_lo).mean())
        )
        for i in range(c)
        for j in range(i + 1, c)
    ]
    ds = [
        abs(
            float(uiqi_map_direct(fused[b], pan[0], window).mean())
            - float(uiqi_map_direct(ms[b], pan_lr, w_lo).mean())
        )
        for b in range(c)
    ]
    d_l, d_s_ = float(np.mean(dl)) if dl else 0.0, float(np.mean(ds))
    return {"D_lambda": d_l, "D_s": d_s_, "QNR": (1 - d_l) * (1 - d_s_)}


def _speed_scene(data: Path) -> tuple[str, PanScene | None]:
    """The largest discovered scene with a 1280 x 1280 (or larger) PAN, if any."""
    if not data.is_dir():
        return "synthetic", None
    found = discover_pan_scenes(data)
    big = [s for s in found.scenes if min(s.pan.hw) >= 1280]
    if not big:
        return "synthetic", None
    src = max(big, key=lambda s: s.pan.hw[0] * s.pan.hw[1])
    return src.name, src.load()


def run_full_res_speed(
    data: Path, full_baseline: bool = False, torchmetrics_baseline: bool = True
) -> dict:
    """Seconds for the full-resolution indices of a 1280 x 1280 8-band scene, ours and baselines.

    Input: the largest scene found under ``data`` with a PAN of at least 1280 x 1280 (imgWV2 in
    ../shared), cropped to 1280 x 1280 and fused by GSA at full resolution; without one, a
    seeded synthetic 8-band scene of that size.  ``fast_s``: :func:`full_resolution_scores`
    (D_lambda, D_s, QNR, D_lambda_K, HQNR); ``fast_qnr_s``: D_lambda + D_s + QNR alone.
    ``avgpool_s``: the same D_lambda/D_s/QNR from ``avg_pool2d`` box means, estimated from one
    fine and one coarse band pair x the number of pairs (run in full with ``full_baseline``).
    ``torchmetrics_s``: torchmetrics' spectral and spatial distortion indices on the same images
    (float32, its Gaussian 11 x 11 window; the MTF-degraded PAN passed as ``pan_lr``).  Every
    ``*_s`` (wall) has a ``*_cpu_s`` twin (process CPU seconds / torch threads, the wall time on
    an otherwise idle machine); the ``ratio_*`` use CPU seconds against ``fast_qnr``.
    """
    name, scene = _speed_scene(data)
    if scene is None:
        gen = torch.Generator().manual_seed(0)
        ms = torch.rand(8, 320, 320, generator=gen) * 1000 + 200
        pan = torch.nn.functional.interpolate(ms.mean(0)[None, None], scale_factor=4.0)[0]
        pan = pan + 20 * torch.rand(pan.shape, generator=gen)
        ratio, gains, gain_pan, phase = 4, (0.3,) * 8, 0.15, None
    else:
        ratio, gains, gain_pan, phase = (
            scene.ratio,
            scene.mtf_ms,
            scene.mtf_pan,
            scene.phase_px,
        )
        side = 1280 // ratio
        ms, pan = scene.ms[:, :side, :side], scene.pan[:, : side * ratio, : side * ratio]
    fused = classic.gsa(ms, pan, ratio, gains, gain_pan, phase)
    c = fused.shape[0]
    out: dict = {
        "scene": name,
        "shape": list(fused.shape),
        "threads": torch.get_num_threads(),
        "device": "cpu",
    }

    def timed(key: str, fn: Callable[[], object]) -> object:
        """Run ``fn``; store wall seconds under ``key`` and process CPU seconds per thread."""
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        out[key] = time.perf_counter() - t0
        out[key.removesuffix("_s") + "_cpu_s"] = (
            time.process_time() - c0
        ) / torch.get_num_threads()
        return result

    scores = timed(
        "fast_s", lambda: full_resolution_scores(fused, ms, pan, ratio, gains, gain_pan, phase)
    )
    q_part = timed("fast_qnr_s", lambda: qnr(fused, ms, pan, ratio, gain_pan, phase))
    timed("khan_s", lambda: d_lambda_khan(fused, ms, ratio, gains, phase))
    out["scores"] = {k: round(v, 6) for k, v in scores.items()}  # type: ignore[union-attr]
    n_pairs = c * (c - 1) // 2 + c
    if full_baseline:
        direct = timed(
            "avgpool_s", lambda: _direct_qnr_part(fused, ms, pan, ratio, gain_pan, phase)
        )
        out["avgpool_estimated"] = False
        out["avgpool_max_abs_diff"] = max(
            abs(direct[k] - q_part[k])  # type: ignore[index]
            for k in ("D_lambda", "D_s", "QNR")
        )
    else:
        timed("avgpool_one_fine_pair_s", lambda: uiqi_map_direct(fused[0], fused[1], 32).mean())
        timed(
            "avgpool_one_coarse_pair_s",
            lambda: uiqi_map_direct(ms[0], ms[1], max(2, 32 // ratio)).mean(),
        )
        for suffix in ("_s", "_cpu_s"):
            out["avgpool" + suffix] = n_pairs * (
                out["avgpool_one_fine_pair" + suffix] + out["avgpool_one_coarse_pair" + suffix]
            )
        out["avgpool_estimated"] = True
    out["ratio_avgpool"] = out["avgpool_cpu_s"] / out["fast_qnr_cpu_s"]
    if torchmetrics_baseline:
        from torchmetrics.functional.image import (
            spatial_distortion_index,
            spectral_distortion_index,
        )

        pan_lr = gaussian_decimate(pan, ratio, gain_pan, phase)
        f32 = [
            t.float()[None] for t in (fused, ms, pan.expand(c, -1, -1), pan_lr.expand(c, -1, -1))
        ]
        tm_dl, tm_ds = timed(
            "torchmetrics_s",
            lambda: (
                float(spectral_distortion_index(f32[0], f32[1])),
                float(spatial_distortion_index(f32[0], f32[1], f32[2], f32[3])),
            ),
        )  # type: ignore[misc]
        out["torchmetrics_scores"] = {
            "D_lambda": round(tm_dl, 6),
            "D_s": round(tm_ds, 6),
            "QNR": round((1 - tm_dl) * (1 - tm_ds), 6),
        }
        out["ratio_torchmetrics"] = out["torchmetrics_cpu_s"] / out["fast_qnr_cpu_s"]
    for k, v in list(out.items()):
        if k.endswith("_s") or k.startswith("ratio_"):
            out[k] = round(float(v), 3)
    return out


# --------------------------------------------------------------------------- report


def _group_means(results: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """Mean SAM/ERGAS/Q2n per method over scenes named ``{stem}_{k}`` (two or more of them)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        m = re.fullmatch(r"(.+)_\d+", n)
        if m:
            groups.setdefault(m.group(1), []).append(n)
    means: dict[str, dict] = {}
    for stem, members in groups.items():
        if len(members) < 2:
            continue
        methods = [m for m in results[members[0]] if isinstance(results[members[0]][m], dict)]
        means[stem] = {
            m: {
                q: float(np.mean([results[n][m][q] for n in members]))
                for q in ("SAM", "ERGAS", "Q2n")
            }
            for m in methods
            if all(isinstance(results[n].get(m), dict) for n in members)
        }
        means[stem]["_n"] = len(members)  # type: ignore[assignment]
    return means


def to_markdown(results: dict[str, dict], infer: dict[str, float], meta: dict) -> str:
    """Markdown report: one table per scene, plus the 1024 x 1024 inference times."""
    lines = [
        "# Image fusion benchmark (reduced resolution, Wald's protocol)",
        "",
        f"Generated by `rainfuse bench imagery` ({meta['mode']}, {meta['threads']} threads, "
        f"device {meta['device']}, total {meta['total_s']:.0f} s).",
        "SAM in degrees; border cut 5 x ratio + 1 px; nets trained on each scene's own "
        "degraded inputs.",
        "",
    ]
    for scene, methods in results.items():
        lines += [f"## {scene}", "", "| method | PSNR | SAM | ERGAS | Q2n | infer_s | train_s |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for m, row in methods.items():
            if not isinstance(row, dict):
                continue
            lines.append(
                f"| {m} | {row['PSNR']:.2f} | {row['SAM']:.3f} | {row['ERGAS']:.3f} | "
                f"{row['Q2n']:.4f} | {row['infer_s']:.3f} | {row.get('_train_s', '')} |"
            )
        extra = {k: v for k, v in methods.items() if not isinstance(v, dict)}
        if extra:
            lines += ["", ", ".join(f"`{k}` = {v}" for k, v in extra.items())]
        lines.append("")
    for stem, rows in meta.get("means", {}).items():
        lines += [f"## {stem} mean over {rows['_n']} scenes", "", "| method | SAM | ERGAS | Q2n |"]
        lines += ["|---|---|---|---|"]
        for m, row in rows.items():
            if isinstance(row, dict):
                lines.append(f"| {m} | {row['SAM']:.3f} | {row['ERGAS']:.3f} | {row['Q2n']:.4f} |")
        lines.append("")
    if meta.get("scene_notes"):
        lines += ["## How each scene was read", ""]
        for scene, notes in meta["scene_notes"].items():
            lines.append(f"* **{scene}**: " + "; ".join(notes))
        lines.append("")
    if meta.get("file_errors"):
        lines += ["## Files not used", ""]
        lines += [f"* {e}" for e in meta["file_errors"]] + [""]
    lines += ["## Inference on a 1024 x 1024 PAN-grid scene", "", "| network | seconds |"]
    lines += ["|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in infer.items()] + [""]
    return "\n".join(lines)


def _strip_private(results: dict[str, dict]) -> dict[str, dict]:
    clean: dict[str, dict] = {}
    for scene, methods in results.items():
        clean[scene] = {}
        for m, row in methods.items():
            if isinstance(row, dict):
                clean[scene][m] = {k: v for k, v in row.items() if not k.startswith("_")}
            else:
                clean[scene][m] = row
    return clean


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rainfuse bench imagery", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder searched for scenes")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"markdown report path (default {DEFAULT_OUT}; --full-res-speed: none)",
    )
    p.add_argument(
        "--sensor",
        default=None,
        help="sensor of scenes whose files do not name one: "
        + ", ".join(f"{k} ({v.name})" for k, v in SENSOR_MTF.items()),
    )
    p.add_argument(
        "--phase",
        type=float,
        default=None,
        help="sampling phase (fine pixels) of every pansharpening scene; default: estimated",
    )
    p.add_argument("--quick", action="store_true", help="fewer training steps (smoke run)")
    p.add_argument("--steps", type=int, default=None, help="training steps per network")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 by default: on a shared, oversubscribed 2-core machine two "
        "threads made training ~10x slower than one; use 2 on an idle machine)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera", type=int, default=20, help="database camera used for Samson RGB")
    p.add_argument(
        "--scenes",
        default="all",
        help="comma list of scene names (a name also selects {name}_1, {name}_2, ...), paris, "
        "Samson, or all",
    )
    p.add_argument("--no-timing", action="store_true", help="skip the 1024 x 1024 timing")
    p.add_argument(
        "--full-res-speed",
        action="store_true",
        help="only time the full-resolution indices (1280 x 1280 x 8) against the baselines",
    )
    p.add_argument(
        "--full-baseline",
        action="store_true",
        help="with --full-res-speed: run the avg_pool2d baseline in full (minutes) instead of "
        "estimating it from one band pair",
    )
    p.add_argument(
        "--no-torchmetrics",
        action="store_true",
        help="with --full-res-speed: skip the torchmetrics baseline (~40 s)",
    )
    return p.parse_args(argv)


def _select(found: Discovery, tokens: set[str] | None) -> tuple[list, set[str]]:
    """Discovered scenes the ``--scenes`` tokens ask for, and the tokens nothing matched."""
    if tokens is None:
        return list(found.scenes), set()
    chosen, used = [], set()
    for src in found.scenes:
        hit = {t for t in tokens if src.name == t or re.fullmatch(re.escape(t) + r"_\d+", src.name)}
        if hit:
            chosen.append(src)
            used |= hit
    return chosen, tokens - used


def _find(data: Path, filename: str) -> Path | None:
    hits = sorted(p for p in data.rglob(filename) if p.is_file())
    return hits[0] if hits else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rainfuse bench imagery``; returns the process exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("fusion_ops.imagery.train").setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data: Path = args.data
    if args.sensor is not None and sensor_code(args.sensor) is None:
        print(
            f"bench imagery: unknown --sensor {args.sensor!r}; known: {', '.join(SENSOR_MTF)}",
            file=sys.stderr,
        )
        return 2
    if args.full_res_speed:
        out = run_full_res_speed(data, args.full_baseline, not args.no_torchmetrics)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(
                "# Full-resolution indices, 1280 x 1280 x 8\n\n```json\n"
                + json.dumps(out, indent=1)
                + "\n```\n"
            )
        print(json.dumps(out))
        return 0
    if not data.is_dir():
        print(f"imagery data folder not found: {data}", file=sys.stderr)
        return 2
    pan_steps = args.steps or (60 if args.quick else 150)
    hs_steps = args.steps or (60 if args.quick else 200)
    log_every = max(1, pan_steps // 4)
    cfg_pan = TrainConfig(
        steps=pan_steps,
        batch=8,
        patch=48,
        lr=2e-3,
        seed=args.seed,
        log_every=log_every,
        device=args.device,
    )
    cfg_hs = TrainConfig(
        steps=hs_steps,
        batch=4,
        patch=24,
        lr=2e-3,
        seed=args.seed,
        log_every=log_every,
        device=args.device,
    )
    tokens = None if args.scenes == "all" else set(args.scenes.split(","))
    hs_tokens = {"paris", "Samson"}
    t_start = time.perf_counter()
    results: dict[str, dict] = {}
    meta: dict = {"mode": "quick" if args.quick else "full", "threads": args.threads}
    meta["device"] = args.device
    meta["scene_notes"], meta["file_errors"] = {}, []

    def fail(exc: Exception) -> None:
        print(f"bench imagery: {exc}", file=sys.stderr)
        meta["file_errors"].append(str(exc))

    found = discover_pan_scenes(data, args.sensor)
    for exc in found.errors:
        fail(exc)
    for path, why in found.skipped:
        LOG.info("skipped %s: %s", path, why)
    chosen, unmatched = _select(found, None if tokens is None else tokens - hs_tokens)
    if unmatched:
        names = ", ".join(s.name for s in found.scenes) or "none"
        print(
            f"bench imagery: no scene named {sorted(unmatched)} (found: {names})", file=sys.stderr
        )
        return 2
    for src in chosen:
        need = 2 * border_px(src.ratio) + MIN_SCORED_PX
        if min(src.ms.hw) < need:
            fail(
                ImageryFileError(
                    f"{src.ms.path}: MS {src.ms.hw} is too small for the reduced-resolution "
                    f"protocol at ratio {src.ratio} (at least {need} px a side: two borders of "
                    f"{border_px(src.ratio)} plus {MIN_SCORED_PX} scored)"
                )
            )
            continue
        try:
            scene = src.load(args.phase)
        except ImageryFileError as exc:
            fail(exc)
            continue
        meta["scene_notes"][scene.name] = [
            f"{', '.join(Path(f).name for f in src.files)}: MS {src.ms.var}, PAN {src.pan.var}, "
            f"ratio {scene.ratio}, phase {scene.phase_px:g}",
            *scene.notes,
        ]
        LOG.info("%s: scoring (%s)", scene.name, "; ".join(meta["scene_notes"][scene.name]))
        results[scene.name] = {**bench_pansharpening(scene, cfg_pan), "sensor": scene.sensor}
    meta["means"] = _group_means(results, list(results))
    paris = _find(data, "paris_data_hs_ms.mat")
    if tokens is None or "paris" in tokens:
        if paris is None:
            if tokens is not None:
                fail(ImageryFileError(f"{data}: paris_data_hs_ms.mat not found"))
        else:
            try:
                hs_scene = load_paris(paris)
                LOG.info("paris_data_hs_ms: scoring")
                results["paris_data_hs_ms"] = bench_hs(
                    "paris_data_hs_ms", hs_scene.hs, hs_scene.guide, PARIS_RATIO, cfg_hs
                )
            except ImageryFileError as exc:
                fail(exc)
    samson, camera_db = _find(data, "Samson.mat"), _find(data, "camera_csr_52.mat")
    if tokens is None or "Samson" in tokens:
        if samson is None or camera_db is None:
            if tokens is not None:
                fail(ImageryFileError(f"{data}: Samson.mat or camera_csr_52.mat not found"))
        else:
            try:
                hs, rgb, db_hs, _ = samson_inputs(data, args.camera, samson, camera_db)
            except ImageryFileError as exc:
                fail(exc)
            else:
                z = gaussian_decimate(hs, SAMSON_RATIO, HS_GAIN)
                selected, errors = select_camera(z, rgb, db_hs, SAMSON_RATIO, HS_GAIN)
                LOG.info(
                    "Samson: CSR selected %d (true %d), fit error %.4f",
                    selected,
                    args.camera,
                    float(errors[selected]),
                )
                res = bench_hs("Samson", hs, rgb, SAMSON_RATIO, cfg_hs, csr_init=db_hs[selected])
                res["csr_selected"] = selected
                res["csr_true"] = args.camera
                results["Samson"] = res
    if not results:
        print(f"bench imagery: no scene could be scored under {data}", file=sys.stderr)
        return 2
    infer = {} if args.no_timing else run_infer_timing(args.device)
    meta["total_s"] = time.perf_counter() - t_start
    out_path: Path = args.out or DEFAULT_OUT
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(to_markdown(results, infer, meta))
    LOG.info("wrote %s (%.0f s)", out_path, meta["total_s"])
    print(json.dumps(_strip_private(results)))
    return 1 if meta["file_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
