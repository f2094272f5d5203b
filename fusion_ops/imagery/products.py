"""Imagery products: scene -> trained nets -> fused images, metrics, model bytes and quicklooks.

Pure functions the Dagster assets call (no Dagster import here).  Models are serialised with
safetensors (never pickle); the architecture arguments travel in the file's string metadata.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import torch
import xarray as xr
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from fusion_ops.imagery import classic
from fusion_ops.imagery.degrade import gaussian_decimate
from fusion_ops.imagery.metrics import hqnr, score_reduced
from fusion_ops.imagery.nets.mhf_net import MHFNet
from fusion_ops.imagery.nets.two_branch import TwoBranchPansharpenNet
from fusion_ops.imagery.train import (
    TrainConfig,
    fuse_mhf_net,
    fuse_two_branch,
    train_mhf_net,
    train_two_branch,
)

MS_GAIN = 0.3
PAN_GAIN = 0.15


class ModelFileError(ValueError):
    """A model file is not a safetensors file of the expected network."""


def model_to_bytes(model: torch.nn.Module, kind: str, arch: dict[str, Any], info: dict) -> bytes:
    """safetensors bytes with ``kind``, architecture arguments and ``info`` in the metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for name in ("hs_scale", "guide_scale"):
        if hasattr(model, name):
            tensors[f"_{name}"] = getattr(model, name).detach().cpu().contiguous()
    meta = {"kind": kind, "arch": json.dumps(arch), "info": json.dumps(info)}
    return st_save(tensors, metadata=meta)


def _metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ModelFileError("model bytes too short for a safetensors file")
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"not a safetensors file ({exc})") from exc
    return header.get("__metadata__", {})


def model_from_bytes(data: bytes) -> torch.nn.Module:
    """Rebuild a two-branch or MHF-Net model from :func:`model_to_bytes` output."""
    meta = _metadata(data)
    tensors = st_load(data)
    arch = json.loads(meta.get("arch", "{}"))
    kind = meta.get("kind")
    if kind == "two_branch":
        model: torch.nn.Module = TwoBranchPansharpenNet(**arch)
    elif kind == "mhf_net":
        model = MHFNet(**arch)
    else:
        raise ModelFileError(f"unknown model kind {kind!r}")
    extras = {k[1:]: tensors.pop(k) for k in list(tensors) if k.startswith("_")}
    model.load_state_dict(tensors)
    for name, value in extras.items():
        setattr(model, name, value)
    return model.eval()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def pansharpen_dataset(
    scene: xr.Dataset, cfg: TrainConfig
) -> tuple[torch.nn.Module, dict[str, float]]:
    """Train the two-branch CNN on the scene's MS/PAN (Wald); returns model and training info."""
    ms, pan, ratio = (
        _t(scene["ms"].values),
        _t(scene["pan"].values[None]),
        int(scene.attrs["ratio_ms"]),
    )
    res = train_two_branch(ms, pan, ratio, MS_GAIN, PAN_GAIN, None, cfg)
    return res.model, {
        "final_loss": res.losses[-1],
        "first_loss": res.losses[0],
        "train_s": res.seconds,
    }


def apply_pansharpen(
    scene: xr.Dataset, model: torch.nn.Module, device: str | torch.device = "cpu"
) -> tuple[xr.Dataset, dict[str, float]]:
    """Fused MS on the PAN grid plus quality metrics (HQNR at full resolution, and against the
    synthetic truth when the scene carries it)."""
    ms, pan, ratio = (
        _t(scene["ms"].values),
        _t(scene["pan"].values[None]),
        int(scene.attrs["ratio_ms"]),
    )
    fused = fuse_two_branch(model, ms, pan, ratio, MS_GAIN, None, device)  # type: ignore[arg-type]
    metrics = {f"cnn_{k}": v for k, v in hqnr(fused, ms, pan, ratio, MS_GAIN, PAN_GAIN).items()}
    if "ms_truth" in scene:
        truth = _t(scene["ms_truth"].values)
        for name, img in (("cnn", fused), ("exp", classic.exp_upsample(ms, ratio))):
            for k, v in score_reduced(truth, img, ratio, 0, False).items():
                metrics[f"{name}_{k}"] = v
    ds = xr.Dataset(
        {"ms_fused": (("ms_band", "lat", "lon"), fused.numpy())},
        coords={k: scene[k] for k in ("lat", "lon", "ms_band_centre_nm") if k in scene.coords},
        attrs={"method": "two_branch_cnn", "ratio": ratio, "units": "1"},
    )
    return ds, metrics


def hs_fusion(
    scene: xr.Dataset, guide: np.ndarray, cfg: TrainConfig
) -> tuple[torch.nn.Module, xr.Dataset, dict[str, float]]:
    """MHF-Net: coarse HS + fine guide (e.g. the pansharpened MS) -> fine HS, with metrics."""
    hs = _t(scene["hs"].values)
    g = _t(guide)
    ratio = int(scene.attrs["ratio_hs"])
    res = train_mhf_net(hs, g, ratio, MS_GAIN, None, cfg, rank=8, stages=2, width=16)
    fused = fuse_mhf_net(res.model, hs, g, cfg.device)  # type: ignore[arg-type]
    metrics: dict[str, float] = {"final_loss": res.losses[-1], "train_s": res.seconds}
    # consistency with the coarse input (no reference needed)
    back = gaussian_decimate(fused, ratio, MS_GAIN)
    metrics["consistency_rmse"] = float((back - hs).pow(2).mean().sqrt())
    if "reflectance" in scene:
        truth = _t(scene["reflectance"].values)
        for name, img in (("mhf", fused), ("upsample", classic.hs_upsample(hs, ratio))):
            for k, v in score_reduced(truth, img, ratio, 0, False).items():
                metrics[f"{name}_{k}"] = v
    ds = xr.Dataset(
        {"hs_fused": (("wavelength", "lat", "lon"), fused.numpy())},
        coords={k: scene[k] for k in ("lat", "lon", "wavelength") if k in scene.coords},
        attrs={"method": "mhf_net", "ratio": ratio, "units": "1"},
    )
    return res.model, ds, metrics


def _stretch(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, [2, 98])
    return np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1)


def quicklook_png(
    before: np.ndarray, after: np.ndarray, bands: tuple[int, int, int], title: str
) -> bytes:
    """Side-by-side PNG (before | after) of three bands as RGB, 2-98 % stretch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3), dpi=80)
    for ax, img, name in zip(axes, (before, after), ("before", "after"), strict=True):
        ax.imshow(_stretch(np.stack([img[b] for b in bands], -1)), interpolation="nearest")
        ax.set_title(f"{title}: {name}", fontsize=8)
        ax.axis("off")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
