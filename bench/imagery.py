"""``rainfuse bench imagery``: score every fusion method on every real scene (Wald's protocol).

Protocol (reduced resolution, reference = the original coarse image):

* pansharpening (imgWV2 ratio 4, landsat7_1..5 ratio 2): MS and PAN degraded by the MTF-matched
  Gaussian and decimated by the ratio at the scene's sampling phase; methods fuse the degraded
  pair; scores after cutting ``5 * ratio + 1`` pixels (21 at ratio 4, 11 at ratio 2);
* paris_data_hs_ms: Hyperion HS degraded by 3 (72 -> 24 px; 3 keeps the nets' own second
  degradation integer), ALI MS kept fine; border 16;
* Samson: an RGB image is synthesised from the full cube through one of the 52 database
  cameras (``--camera``), the HS is degraded by 5 (95 -> 19 px); border 26.  The CSR selection
  (``csr_selected``) must find that camera (``csr_true``).

Networks are trained per scene on that scene's degraded inputs only (degraded once more by the
ratio, target = the degraded input).  The last stdout line is one JSON object
``{scene: {method: {"PSNR", "SAM" (degrees), "ERGAS", "Q2n", "infer_s"}}}``; the markdown table
goes to ``--out``.  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fusion_ops.imagery import classic
from fusion_ops.imagery.degrade import gaussian_decimate
from fusion_ops.imagery.loaders import (
    ImageryFileError,
    PanScene,
    load_camera_database,
    load_landsat7,
    load_paris,
    load_samson,
    load_wv2,
    resample_response,
)
from fusion_ops.imagery.metrics import score_reduced
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
PAN_METHODS = ("EXP", "Brovey", "GSA", "MTF-GLP-HPM", "two_branch_cnn")
HS_METHODS = ("hs_upsample", "hs_baseline", "mhf_net", "rgb_guided")
PARIS_RATIO = 3
SAMSON_RATIO = 5
HS_GAIN = 0.3

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
    data: Path, camera: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Samson cube, its RGB through database camera ``camera``, and the resampled database."""
    scene = load_samson(data / "hyperspectral" / "Samson.mat")
    db, db_wl = load_camera_database(data / "spectral_response" / "camera_csr_52.mat")
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
    if "landsat7_mean" in meta:
        lines += ["## landsat7 mean over the five pairs", "", "| method | SAM | ERGAS | Q2n |"]
        lines += ["|---|---|---|---|"]
        for m, row in meta["landsat7_mean"].items():
            lines.append(f"| {m} | {row['SAM']:.3f} | {row['ERGAS']:.3f} | {row['Q2n']:.4f} |")
        lines.append("")
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
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="imagery data folder")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report path")
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
        "--scenes", default="all", help="comma list among imgWV2,landsat7,paris,Samson or all"
    )
    p.add_argument("--no-timing", action="store_true", help="skip the 1024 x 1024 timing")
    return p.parse_args(argv)


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
    wanted = (
        {"imgWV2", "landsat7", "paris", "Samson"}
        if args.scenes == "all"
        else set(args.scenes.split(","))
    )
    t_start = time.perf_counter()
    results: dict[str, dict] = {}
    meta: dict = {"mode": "quick" if args.quick else "full", "threads": args.threads}
    meta["device"] = args.device
    try:
        if "imgWV2" in wanted:
            scene = load_wv2(data / "pansharpening" / "imgWV2.mat")
            LOG.info("imgWV2: scoring")
            results["imgWV2"] = bench_pansharpening(scene, cfg_pan)
        if "landsat7" in wanted:
            for k in range(1, 6):
                scene = load_landsat7(data / "pansharpening", k)
                LOG.info("%s: scoring", scene.name)
                results[scene.name] = bench_pansharpening(scene, cfg_pan)
            names = [f"landsat7_{k}" for k in range(1, 6)]
            meta["landsat7_mean"] = {
                m: {
                    q: float(np.mean([results[n][m][q] for n in names]))
                    for q in ("SAM", "ERGAS", "Q2n")
                }
                for m in PAN_METHODS
            }
        if "paris" in wanted:
            scene = load_paris(data / "hyperspectral" / "paris_data_hs_ms.mat")
            LOG.info("paris_data_hs_ms: scoring")
            results["paris_data_hs_ms"] = bench_hs(
                "paris_data_hs_ms", scene.hs, scene.guide, PARIS_RATIO, cfg_hs
            )
        if "Samson" in wanted:
            hs, rgb, db_hs, _ = samson_inputs(data, args.camera)
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
        infer = {} if args.no_timing else run_infer_timing(args.device)
    except ImageryFileError as exc:
        print(f"bench imagery: {exc}", file=sys.stderr)
        return 2
    meta["total_s"] = time.perf_counter() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_markdown(results, infer, meta))
    LOG.info("wrote %s (%.0f s)", args.out, meta["total_s"])
    print(json.dumps(_strip_private(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
