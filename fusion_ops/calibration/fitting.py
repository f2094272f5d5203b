"""Train a calibration network on a window's samples, or fall back (flagged) when they are too few.

The result is always a model file (safetensors bytes, see :mod:`fusion_ops.calibration.versioning`):
either a trained ensemble or a marker naming the fixed estimator to use instead, so every later
step can say which model, or which fallback, made its output.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from fusion_ops.calibration import features as F
from fusion_ops.calibration import samples as S
from fusion_ops.calibration.baselines import FALLBACK_ZR
from fusion_ops.calibration.models import ModelSpec
from fusion_ops.calibration.training import TooFewSamplesError, TrainConfig, train_model
from fusion_ops.calibration.versioning import (
    load_model_or_fallback,
    save_fallback_bytes,
    save_model_bytes,
)
from fusion_ops.calibration.windows import select_mlp1_training

#: The fixed estimator each network falls back to when its window holds too few samples.
FALLBACKS = {"mlp1": FALLBACK_ZR, "mlp2": "sr_standard", "mlp3": "tb_curve"}
#: The sample column each network is trained to reproduce (rain rate, mm/h).
TARGETS = {"mlp1": "gauge_rate_mm_h", "mlp2": "gr_rain_mm_h", "mlp3": "gr_rain_mm_h"}


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """Training window and effort of the calibration networks (the model assets' run config).

    Attributes
    ----------
    window_days : days of samples a model is trained on.
    cadence_days : retraining period (days).
    min_groups : fewer training groups than this -> flagged fallback.
    epochs : maximum training epochs.
    hidden : hidden layer widths.
    dry_fraction : share of the dry, echo-free MLP-1 gauge hours kept for training.
    members : networks per model (consecutive seeds, rates averaged).
    """

    window_days: int = 3
    cadence_days: int = 1
    min_groups: int = 50
    epochs: int = 100
    hidden: tuple[int, ...] = (64, 64)
    dry_fraction: float = 0.2
    members: int = 3

    def train_config(self) -> TrainConfig:
        """The optimiser settings (part of the model version)."""
        return TrainConfig(epochs=self.epochs, min_groups=self.min_groups, members=self.members)


@dataclasses.dataclass(frozen=True)
class FitOutcome:
    """A model file and what to report about it.

    Attributes
    ----------
    data : the model file (safetensors bytes): a trained network or a fallback marker.
    version : the model version (hash of weights and configuration, ``fb-...`` for a fallback).
    fallback : the fixed estimator in use, ``None`` when a network was trained.
    reason : why the fallback is used (empty when trained).
    summary : plain values for the asset's metadata (window, sample count, status, ...).
    """

    data: bytes
    version: str
    fallback: str | None
    reason: str
    summary: dict[str, Any]


def model_spec(
    name: str, hidden: Sequence[int], columns: Sequence[str], polarimetric: bool = True
) -> ModelSpec:
    """The feature spec of network ``name`` (``mlp1``, ``mlp2``, ``mlp3``).

    ``columns`` are the sample columns: MLP-3 uses the ABI features present among them.
    ``polarimetric=False`` gives MLP-1 the reflectivity features only (single-pol training days:
    ZDR/KDP inputs that are always "unknown" would be dead weights, and a dual-pol model fed zeros
    for them on a single-pol day would extrapolate).
    """
    widths = tuple(hidden)
    if name == "mlp1":
        return F.mlp1_spec(widths, polarimetric=polarimetric)
    if name == "mlp2":
        return F.mlp2_spec(widths)
    return F.mlp3_spec(list(columns), widths)


def training_targets(name: str, train: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray]:
    """``(groups, targets)`` for :func:`~fusion_ops.calibration.training.train_model`.

    MLP-1 is trained on gauge hours (the mean rate of a group of volume rows against one gauge
    value); MLP-2 and MLP-3 on single rows (``groups`` is ``None``).
    """
    if name == "mlp1":
        return S.group_targets(train, TARGETS[name])
    return None, train[TARGETS[name]].to_numpy()


def fit_or_fallback(
    name: str,
    window_samples: pd.DataFrame,
    window: Sequence[str],
    day: str,
    settings: FitSettings,
    device: torch.device | str = "cpu",
) -> FitOutcome:
    """Train network ``name`` on a window's samples, or write its flagged fallback.

    Parameters
    ----------
    name : ``mlp1``, ``mlp2`` or ``mlp3``.
    window_samples : the samples of the training days (:func:`~fusion_ops.calibration.windows.
        window_samples`); MLP-1 samples are thinned by
        :func:`~fusion_ops.calibration.windows.select_mlp1_training` first.
    window : the training days (recorded in the model file).
    day : the served day (recorded in the model file).
    settings : training window and effort.
    device : torch device that trains.

    Returns
    -------
    FitOutcome
        The model file with its version; the fallback marker (:data:`FALLBACKS`) when the window
        has no samples or fewer than ``settings.min_groups`` training groups.
    """
    train = window_samples
    if name == "mlp1" and len(train):
        train = select_mlp1_training(train, settings.dry_fraction)
    cfg = settings.train_config()
    info = {"window": window, "serves": day, "cadence_days": settings.cadence_days}
    summary: dict[str, Any] = {"window": list(window), "samples": len(train)}
    try:
        if train.empty:
            raise TooFewSamplesError(f"{name}: no samples in the window {window[0]}..{window[-1]}")
        polarimetric = name != "mlp1" or F.has_polarimetric_data(train)
        spec = model_spec(name, settings.hidden, list(train.columns), polarimetric)
        x = F.matrix(train, spec)
        groups, y = training_targets(name, train)
        t0 = time.perf_counter()
        result = train_model(spec, x, y, groups, cfg, device)
        data = save_model_bytes(result.model, cfg.as_dict(), {**info, "n_groups": result.n_groups})
        _, loaded = load_model_or_fallback(data)
        summary.update(
            status="trained",
            model_version=loaded["version"],
            groups=result.n_groups,
            train_seconds=round(time.perf_counter() - t0, 2),
            best_epoch=result.best_epoch,
            member_best_epochs=list(result.member_best_epochs),
            members=settings.members,
            val_loss=float(result.history[result.best_epoch]["val"]),
            device=str(device),
            features=list(spec.features),
        )
        if name == "mlp1":
            summary["capability"] = F.mlp1_capability(spec.features)
        return FitOutcome(data, loaded["version"], None, "", summary)
    except TooFewSamplesError as err:
        fallback = FALLBACKS[name]
        data = save_fallback_bytes(name, fallback, str(err), info)
        _, loaded = load_model_or_fallback(data)
        summary.update(
            status=f"fallback: {fallback}", model_version=loaded["version"], reason=str(err)
        )
        return FitOutcome(data, loaded["version"], fallback, str(err), summary)


def model_attrs(name: str, meta: Mapping[str, Any]) -> dict[str, str]:
    """Attributes that tie an output to the model that made it.

    Parameters
    ----------
    name : the network (``mlp1``, ``mlp2``, ``mlp3``).
    meta : the model file's metadata (from
        :func:`~fusion_ops.calibration.versioning.load_model_or_fallback`).

    Returns
    -------
    dict
        ``model``, ``model_version``, ``model_fallback`` (empty when trained),
        ``model_versions`` (JSON ``{name: version}``) and ``model_capability`` (MLP-1:
        ``dual-pol`` or ``single-pol`` by its input features, ``single-pol`` for the Z-R fallback;
        empty for the other networks), all strings (NetCDF attributes).
    """
    capability = ""
    if name == "mlp1":
        spec = meta.get("spec")
        capability = F.mlp1_capability(spec.features) if spec is not None else "single-pol"
    return {
        "model": name,
        "model_version": str(meta["version"]),
        "model_fallback": str(meta["fallback"] or ""),
        "model_versions": json.dumps({name: str(meta["version"])}),
        "model_capability": capability,
    }
