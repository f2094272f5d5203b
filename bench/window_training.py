"""``python -m bench.window_training``: training time of each calibration network on a
production-sized window (default 30 days of samples) on the CPU.

The samples are the real daily samples the pipeline stored (``mlp1_samples``, ``mlp2_samples``,
``mlp3_samples`` of the configured asset storage, e.g. after ``make demo``), with the stored days
repeated until the window has ``--days`` days: the network, its inputs and the number of training
groups are then exactly those of a 30-day window at the scenario's sample density. Training uses
the assets' own selection (MLP-1 gauge hours) and the production :class:`TrainConfig`; with
``--no-early-stop`` every epoch runs (the worst case). Without stored samples, random samples of
the same per-day size stand in and the result says so.

The last printed line is one JSON object: ``{"days": N, "models": {name: {"seconds": s,
"groups": g, "samples": n, "epochs": e, "source": "storage"|"random"}}, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Per-day sizes used when no stored samples exist (the demo scenario's order of magnitude).
RANDOM_ROWS_PER_DAY = {"mlp1": 60_000, "mlp2": 6_000, "mlp3": 40_000}
MODELS = ("mlp1", "mlp2", "mlp3")


def stored_days(storage: Path, name: str) -> list[Path]:
    """The stored daily sample files of ``{name}_samples`` (sorted by day)."""
    folder = storage / f"{name}_samples"
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def window_frame(files: list[Path], days: int) -> pd.DataFrame:
    """``days`` days of samples from the stored days, cycling through them (group ids kept unique)."""
    frames = []
    for k in range(days):
        frame = pd.read_parquet(files[k % len(files)])
        if "group" in frame:
            frame = frame.assign(group=frame["group"].astype(str) + f"|w{k}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _random_frame(name: str, days: int, seed: int = 0) -> pd.DataFrame:
    from fusion_ops.calibration import features as F

    rng = np.random.default_rng(seed)
    n = RANDOM_ROWS_PER_DAY[name] * days
    if name == "mlp1":
        spec = F.mlp1_spec()
    elif name == "mlp2":
        spec = F.mlp2_spec()
    else:
        spec = F.mlp3_spec(list(F.ABI_FEATURE_FILLS))
    frame = pd.DataFrame(rng.normal(size=(n, len(spec.features))), columns=list(spec.features))
    target = np.maximum(0.0, frame.iloc[:, :3].sum(axis=1).to_numpy() * 2.0)
    if name == "mlp1":
        frame["dbz_h00500"] = rng.uniform(-10, 50, n)
        frame["group"] = [f"g{i // 12}" for i in range(n)]
        frame["gauge_rate_mm_h"] = np.repeat(target[::12], 12)[:n]
        frame["heldout"] = False
    else:
        frame["gr_rain_mm_h"] = target
    return frame


def train_window(
    name: str, frame: pd.DataFrame, epochs: int, early_stop: bool, device: str = "cpu"
) -> dict[str, Any]:
    """Train one network on a window's samples the way the model asset does; time it."""
    from assets.calibration import TARGETS, CalibrationConfig
    from fusion_ops.calibration import features as F
    from fusion_ops.calibration import samples as S
    from fusion_ops.calibration.training import TrainConfig, train_model
    from fusion_ops.calibration.windows import select_mlp1_training

    if name == "mlp1":
        frame = select_mlp1_training(frame, CalibrationConfig().dry_fraction)
        spec = F.mlp1_spec()
        groups, y = S.group_targets(frame, TARGETS[name])
    elif name == "mlp2":
        spec = F.mlp2_spec()
        groups, y = None, frame[TARGETS[name]].to_numpy()
    else:
        spec = F.mlp3_spec(list(frame.columns))
        groups, y = None, frame[TARGETS[name]].to_numpy()
    x = F.matrix(frame, spec)
    members = CalibrationConfig().members  # the model assets' ensemble size
    config = TrainConfig(
        epochs=epochs, patience=epochs + 1 if not early_stop else 20, members=members
    )
    t0 = time.perf_counter()
    result = train_model(spec, x, y, groups, config, device)
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "groups": result.n_groups,
        "samples": result.n_samples,
        "epochs": len(result.history),
        "members": members,
    }


def run(storage: Path | None, days: int, epochs: int, early_stop: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"days": days, "epochs_max": epochs, "early_stop": early_stop}
    models: dict[str, Any] = {}
    for name in MODELS:
        files = stored_days(storage, name) if storage else []
        if files:
            frame, source = window_frame(files, days), f"storage ({len(files)} stored days)"
        else:
            frame, source = _random_frame(name, days), "random"
        print(f"[bench] {name}: {len(frame):,} rows over {days} days ({source})", flush=True)
        models[name] = {**train_window(name, frame, epochs, early_stop), "source": source}
    out["models"] = models
    out["max_seconds"] = max(m["seconds"] for m in models.values())
    return out


def default_storage() -> Path | None:
    """The configured asset storage when it is a local folder that exists (else ``None``)."""
    try:
        from orchestration.runtime.config import load_config

        url = load_config().storage.url
    except Exception:  # noqa: BLE001 - no configuration: random samples
        return None
    return Path(url) if "://" not in url and Path(url).is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.window_training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument("--storage", type=Path, default=None, help="asset storage folder")
    parser.add_argument("--no-early-stop", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: usable cores)")
    args = parser.parse_args(argv)
    import torch

    from fusion_ops.calibration.training import TrainConfig

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    storage = args.storage or default_storage()
    result = run(storage, args.days, args.epochs or TrainConfig().epochs, not args.no_early_stop)
    result["torch_threads"] = torch.get_num_threads()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
