"""``python -m bench.models``: fusion-network and MLP throughput on CPU (and CUDA).

Fusion networks (``--part fusion``), each with its default width/depth, on random inputs of the
shapes the per-scene trainers use (batch 8 of 64 x 64 output patches, the imagery trainer's
defaults):

* ``two_branch``: pansharpening, 4 MS bands, ratio 4 (MS upsampled, PAN + PAN detail, prior);
* ``mhf_net``: MS/HS unfolding net, RGB guide (3 bands) and 31 HS bands, ratio 8;
* ``rgb_guided``: RGB-guided HS super-resolution, 31 HS bands, ratio 8.

``train_step_s`` is one optimiser step (forward, L1 loss, backward, Adam); inference throughput is
megapixels of fused output per second on one tile (512 x 512 on CPU, 2048 x 2048 on CUDA), no
gradient. CUDA figures are added, with the device named, when a CUDA device is present.

MLP calibration networks (``--part mlp``): samples per second of the project's trainer
(``fusion_ops.calibration.training.train_model``, a fixed number of epochs, no early stop) and of
``predict_rain_rate`` on a product-grid-sized feature matrix, for MLP-1/2/3; on CUDA too when a
CUDA device is present.

Neither part needs Dagster, the radar libraries or wradlib, so both run on a bare GPU machine with
PyTorch and NumPy (``python -m bench.models --part fusion --result FILE`` from the repository root);
``rainfuse bench all --import-gpu FILE`` (repeatable) then adds such results to BENCHMARKS.md as
their own section.

Medians of ``--repeats`` timed repetitions after warm-up. The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench._report import emit_result, graceful_sigterm, machine_description, not_measured, say

CPU_TILE = 512
CUDA_TILE = 2048
BATCH, PATCH = 8, 64


def _median_time(
    fn: Callable[[], Any], repeats: int, warmup: int, sync: Callable[[], None]
) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _sync_for(device: Any) -> Callable[[], None]:
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def fusion_cases() -> list[tuple[str, Callable[[], Any], Callable[[int, int, Any], tuple]]]:
    """(name, network factory, inputs(batch, out_size, device)) for each fusion network."""
    import torch

    from fusion_ops.imagery.nets.mhf_net import MHFNet
    from fusion_ops.imagery.nets.rgb_guided import RGBGuidedHSNet
    from fusion_ops.imagery.nets.two_branch import TwoBranchPansharpenNet

    def pan_inputs(b: int, size: int, dev: Any) -> tuple:
        return (
            torch.rand(b, 4, size, size, device=dev),
            torch.rand(b, 2, size, size, device=dev),
            torch.rand(b, 4, size, size, device=dev),
        )

    def hs_inputs(n_guide: int, n_hs: int, ratio: int) -> Callable[[int, int, Any], tuple]:
        def make(b: int, size: int, dev: Any) -> tuple:
            guide = torch.rand(b, n_guide, size, size, device=dev)
            return guide, torch.rand(b, n_hs, size // ratio, size // ratio, device=dev)

        return make

    return [
        ("two_branch", lambda: TwoBranchPansharpenNet(4), pan_inputs),
        ("mhf_net", lambda: MHFNet(3, 31, 8), hs_inputs(3, 31, 8)),
        ("rgb_guided", lambda: RGBGuidedHSNet(31, 8), hs_inputs(3, 31, 8)),
    ]


def bench_fusion_net(
    name: str,
    factory: Callable[[], Any],
    inputs: Callable[[int, int, Any], tuple],
    device: Any,
    repeats: int,
    tile: int,
) -> dict[str, Any]:
    """Training step time and inference megapixels/s of one network on one device."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = factory().to(device)
    sync = _sync_for(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = inputs(BATCH, PATCH, device)
    with torch.no_grad():
        target = torch.rand_like(net(*batch))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.l1_loss(net(*batch), target)
        loss.backward()
        opt.step()

    train_s = _median_time(step, repeats, 2, sync)
    net.eval()
    tile_in = inputs(1, tile, device)

    def infer() -> None:
        with torch.no_grad():
            net(*tile_in)

    infer_s = _median_time(infer, max(3, repeats // 2), 1, sync)
    mpix = tile * tile / 1e6
    return {
        "model": name,
        "device": _device_name(device),
        "shape": f"train {BATCH}x{PATCH}^2, infer {tile}^2",
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_step_s": round(train_s, 4),
        "train_per_s": round(BATCH * PATCH * PATCH / train_s / 1e6, 3),
        "infer_s": round(infer_s, 4),
        "infer_per_s": round(mpix / infer_s, 3),
        "status": "ok",
    }


def fusion_section(quick: bool = False) -> dict[str, Any]:
    import torch

    try:
        cases = fusion_cases()
    except ImportError as error:
        return not_measured(f"the fusion networks are not available: {error}")
    repeats = 3 if quick else 7
    devices = [(torch.device("cpu"), CPU_TILE // (2 if quick else 1))]
    if torch.cuda.is_available():
        devices.append((torch.device("cuda"), CUDA_TILE))
    results = []
    for device, tile in devices:
        for name, factory, inputs in cases:
            say(f"fusion: {name} on {device}")
            try:
                results.append(bench_fusion_net(name, factory, inputs, device, repeats, tile))
            except Exception as error:  # noqa: BLE001 - one network's failure is reported
                results.append(
                    {
                        "model": name,
                        "device": str(device),
                        **not_measured(f"{type(error).__name__}: {error}"[:500]),
                    }
                )
    cpu_two = next(
        (
            r
            for r in results
            if r["model"] == "two_branch"
            and r.get("status") == "ok"
            and str(r["device"]).startswith("cpu")
        ),
        None,
    )
    return {
        "status": "ok" if any(r.get("status") == "ok" for r in results) else "failed",
        "results": results,
        "headline": {
            "model": "two_branch (cpu)",
            "train_step_s": cpu_two["train_step_s"] if cpu_two else None,
            "infer_mpix_s": cpu_two["infer_per_s"] if cpu_two else None,
        },
        "cuda_available": torch.cuda.is_available(),
        "note": (
            f"train (MPix/s) = output pixels of one {BATCH} x {PATCH}^2 batch per training step; "
            "inference on one tile, no gradient. Medians of repeats after warm-up. "
            + ("" if torch.cuda.is_available() else "No CUDA device on this machine: CPU only.")
        ),
    }


# ---------------------------------------------------------------------------------------------
# MLP


def mlp_specs() -> list[Any]:
    from fusion_ops.calibration.features import ABI_FEATURE_FILLS, mlp1_spec, mlp2_spec, mlp3_spec

    return [mlp1_spec(), mlp2_spec(), mlp3_spec(list(ABI_FEATURE_FILLS))]


def bench_mlp(
    spec: Any, n_train: int, epochs: int, n_infer: int, repeats: int, device: Any = None
) -> dict[str, Any]:
    """Trainer and inference samples/s of one calibration network on random realistic data.

    Both calls return NumPy arrays or CPU models, so their own timers include the device's work.
    """
    import numpy as np
    import torch

    device = torch.device("cpu") if device is None else device

    from fusion_ops.calibration.models import predict_rain_rate
    from fusion_ops.calibration.training import TrainConfig, train_model

    rng = np.random.default_rng(0)
    n_feat = len(spec.features)
    x = rng.normal(size=(n_train, n_feat)).astype(np.float32)
    # a smooth target with zeros, like rain: the loss path is the real one
    y = np.maximum(0.0, x[:, : min(3, n_feat)].sum(axis=1) * 3.0).astype(np.float32)
    cfg = TrainConfig(epochs=epochs, patience=epochs + 1, min_groups=10)
    # warm-up: torch imports parts of itself (and sympy) lazily on the first optimiser step
    train_model(
        spec, x[:2000], y[:2000], config=TrainConfig(epochs=1, min_groups=10), device=device
    )
    runs = []
    for _ in range(max(1, repeats // 2)):
        res = train_model(spec, x, y, config=cfg, device=device)
        n_epochs = len(res.history)
        runs.append(res.n_groups * (1 - cfg.val_fraction) * n_epochs / res.seconds)
    model = res.model
    xi = rng.normal(size=(n_infer, n_feat)).astype(np.float32)
    infer = []
    predict_rain_rate(model, xi[:1000], device=device)
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict_rain_rate(model, xi, device=device)
        infer.append(time.perf_counter() - t0)
    return {
        "model": spec.name,
        "device": _device_name(device),
        "shape": f"{n_feat} features, hidden {list(spec.hidden)}",
        "train_step_s": None,
        "train_per_s": round(statistics.median(runs), 0),
        "infer_per_s": round(n_infer / statistics.median(infer), 0),
        "train_samples": n_train,
        "train_epochs": epochs,
        "infer_samples": n_infer,
        "status": "ok",
    }


def mlp_section(quick: bool = False) -> dict[str, Any]:
    try:
        specs = mlp_specs()
    except ImportError as error:
        return not_measured(f"the calibration networks are not available: {error}")
    n_train = 20_000 if quick else 100_000
    epochs = 3 if quick else 5
    # a product grid (270 x 306 cells at 0.01 deg) for 24 hours
    n_infer = 500_000 if quick else 2_000_000
    repeats = 3 if quick else 5
    import torch

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    results = []
    for device in devices:
        for spec in specs:
            say(f"mlp: {spec.name} on {device}")
            try:
                results.append(bench_mlp(spec, n_train, epochs, n_infer, repeats, device))
            except Exception as error:  # noqa: BLE001 - reported per network
                results.append(
                    {
                        "model": spec.name,
                        "device": str(device),
                        **not_measured(f"{type(error).__name__}: {error}"[:500]),
                    }
                )
    first = next(
        (
            r
            for r in results
            if r["model"] == "mlp1"
            and r.get("status") == "ok"
            and str(r.get("device", "")).startswith("cpu")
        ),
        None,
    )
    window: dict[str, Any]
    try:
        from bench import window_training
        from fusion_ops.calibration.training import TrainConfig

        days = 3 if quick else 30
        say(f"mlp: training on a {days}-day window")
        window = window_training.run(
            window_training.default_storage(), days, TrainConfig().epochs, early_stop=True
        )
    except Exception as error:  # noqa: BLE001 - reported, the throughput figures stand
        window = not_measured(f"{type(error).__name__}: {error}"[:500])
    return {
        "window_training": window,
        "status": "ok" if any(r.get("status") == "ok" for r in results) else "failed",
        "results": results,
        "headline": {
            "model": "mlp1 (cpu)",
            "train_samples_s": first["train_per_s"] if first else None,
            "infer_samples_s": first["infer_per_s"] if first else None,
        },
        "note": (
            f"Training: `train_model` on {n_train:,} random samples for {epochs} epochs "
            "(validation included), samples/s = training samples x epochs / seconds. Inference: "
            f"`predict_rain_rate` on {n_infer:,} rows (a day of hourly product-grid cells)."
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.models", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--part", choices=["fusion", "mlp"], required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: usable cores)"
    )
    parser.add_argument("--result", help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    graceful_sigterm()
    import torch

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    result = fusion_section(args.quick) if args.part == "fusion" else mlp_section(args.quick)
    result["torch_threads"] = threads
    # enough to stand on its own when measured on another machine (see ``bench all --import-gpu``)
    result["part"] = args.part
    result["machine"] = machine_description()
    result["measured_utc"] = started.replace(microsecond=0).isoformat()
    result["section_wall_s"] = round(time.perf_counter() - t0, 1)
    result["command"] = " ".join(["python -m bench.models", *(argv or sys.argv[1:])])
    return emit_result(result, args.result)


if __name__ == "__main__":
    raise SystemExit(main())
