"""Training of the calibration networks, with targets that may aggregate several samples.

A *group* is the set of samples whose mean rain rate a target measures: for MLP-1 the radar
volumes inside one gauge accumulation interval (the gauge measures the time integral, so the
network is applied per volume and the loss compares the interval mean with the gauge); for MLP-2
and MLP-3 every sample is its own group. Groups are padded to a ``(groups, members, features)``
tensor with a mask, so a minibatch is one dense forward pass.

Loss (see :mod:`fusion_ops.calibration.models` for the zero-rain treatment)::

    L = mean((log1p(R_g) - log1p(y_g))^2) + linear_weight * mean((R_g - y_g)^2) / var(y)

Training is deterministic for a given seed on CPU; early stopping keeps the weights with the
lowest loss on a held-back fraction of groups.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import torch

from fusion_ops.calibration.models import ModelSpec, RainMLP


class TooFewSamplesError(ValueError):
    """Not enough training groups to fit a network; the caller falls back to the fixed baseline."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (part of the model version)."""

    epochs: int = 100
    batch_groups: int = 128
    max_steps_per_epoch: int = 40
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    linear_weight: float = 4.0
    val_fraction: float = 0.15
    patience: int = 20
    seed: int = 0
    min_groups: int = 50
    max_members: int = 16
    #: Larger training sets are subsampled (reproducibly) to bound the training time.
    max_groups: int = 300_000
    #: Each epoch visits at most this many (freshly drawn) training groups, so the cost of an
    #: epoch, and of training, does not grow with the window (30-90 days in production).
    max_groups_per_epoch: int = 8192
    #: Networks trained from seeds ``seed, seed + 1, ...`` (each with its own validation split)
    #: whose rates are averaged: see "Ensembles" in :mod:`fusion_ops.calibration.models`.
    members: int = 1

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainResult:
    model: RainMLP
    history: list[dict[str, float]]
    n_samples: int
    n_groups: int
    best_epoch: int
    seconds: float
    #: Best epoch of every ensemble member (``best_epoch`` and ``history`` are the first's).
    member_best_epochs: tuple[int, ...] = ()


def pad_groups(
    x: np.ndarray, groups: np.ndarray, max_members: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange samples by group: ``(G, M, F)`` features, ``(G, M)`` mask, group codes ``(G,)``.

    Members beyond ``max_members`` in a group are dropped (evenly spread members are kept).
    """
    codes, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    inv_sorted = inverse[order]
    starts = np.searchsorted(inv_sorted, np.arange(codes.size))
    rank = np.arange(order.size) - starts[inv_sorted]
    counts = np.bincount(inverse, minlength=codes.size)
    m = int(min(max_members, counts.max() if counts.size else 1))
    # when a group has more members than fit, keep an evenly strided subset
    stride = np.maximum(1, np.ceil(counts / m)).astype(int)
    keep = (rank % stride[inv_sorted] == 0) & (rank // stride[inv_sorted] < m)
    slot = rank // stride[inv_sorted]
    xg = np.zeros((codes.size, m, x.shape[1]), dtype=np.float32)
    mask = np.zeros((codes.size, m), dtype=bool)
    rows = order[keep]
    xg[inv_sorted[keep], slot[keep]] = x[rows]
    mask[inv_sorted[keep], slot[keep]] = True
    return xg, mask, codes


def group_mean_rate(model: RainMLP, xg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean predicted rate over the valid members of each group."""
    rate = model(xg)
    weights = mask.float()
    return (rate * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _loss(pred: torch.Tensor, y: torch.Tensor, y_var: float, linear_weight: float) -> torch.Tensor:
    log_term = torch.mean((torch.log1p(pred) - torch.log1p(y)) ** 2)
    lin_term = torch.mean((pred - y) ** 2) / y_var
    return log_term + linear_weight * lin_term


def train_model(
    spec: ModelSpec,
    x: np.ndarray,
    y_group: np.ndarray,
    groups: np.ndarray | None = None,
    config: TrainConfig | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Fit a network to samples.

    Parameters
    ----------
    spec : the network's features and layers.
    x : ``(n_samples, n_features)`` inputs (NaN allowed: filled per the spec).
    y_group : target rain rate (mm/h) per *group*, aligned with ``np.unique(groups)``;
        when ``groups`` is None, one target per sample.
    groups : group label per sample (for example ``station|interval``), or None.
    config : optimisation settings.
    device : torch device for training.

    Raises
    ------
    TooFewSamplesError
        When there are fewer than ``config.min_groups`` groups with a finite target.
    """
    config = config or TrainConfig()
    t0 = time.perf_counter()
    x = np.asarray(x, dtype=np.float32)
    if groups is None:
        groups = np.arange(x.shape[0])
    xg, mask, codes = pad_groups(x, np.asarray(groups), config.max_members)
    y = np.asarray(y_group, dtype=np.float32)
    if y.shape != codes.shape:
        raise ValueError(f"{spec.name}: {y.size} targets for {codes.size} groups")
    ok = np.isfinite(y) & (y >= 0)
    xg, mask, y = xg[ok], mask[ok], y[ok]
    if y.size > config.max_groups:
        keep = np.sort(np.random.default_rng(config.seed).choice(y.size, config.max_groups, False))
        xg, mask, y = xg[keep], mask[keep], y[keep]
    if y.size < config.min_groups:
        raise TooFewSamplesError(
            f"{spec.name}: {y.size} training groups, at least {config.min_groups} needed"
        )

    # the training tensors go to the device once, for every member
    tensors = tuple(torch.from_numpy(a).to(device) for a in (xg, mask, y))
    members = [
        _fit_member(
            dataclasses.replace(spec, members=1), xg, mask, y, tensors, config, config.seed + k
        )
        for k in range(config.members)
    ]
    model = members[0][0]
    if config.members > 1:
        model = RainMLP(dataclasses.replace(spec, members=config.members))
        model.copy_normalisation(members[0][0])
        for body, (member, _, _) in zip(model.bodies, members, strict=True):
            body.load_state_dict(member.bodies[0].state_dict())
    return TrainResult(
        model=model.eval(),
        history=members[0][1],
        n_samples=int(mask.sum()),
        n_groups=int(y.size),
        best_epoch=members[0][2],
        seconds=time.perf_counter() - t0,
        member_best_epochs=tuple(m[2] for m in members),
    )


def _fit_member(
    spec: ModelSpec,
    xg: np.ndarray,
    mask: np.ndarray,
    y: np.ndarray,
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    config: TrainConfig,
    seed: int,
) -> tuple[RainMLP, list[dict[str, float]], int]:
    """One network: seeded split and initialisation, early stopping on the held-back groups."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = RainMLP(spec)
    model.set_normalisation(xg[mask])
    perm = torch.randperm(y.size, generator=gen).numpy()
    n_val = max(1, int(round(config.val_fraction * y.size)))
    val_idx, train_idx = perm[:n_val], perm[n_val:]

    xg_t, mask_t, y_t = tensors
    device = xg_t.device
    model = model.to(device)
    y_var = float(max(np.var(y[train_idx]), 1e-3))
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    train_t = torch.from_numpy(train_idx).to(device)
    val_t = torch.from_numpy(val_idx).to(device)

    # large windows keep the number of optimiser steps per epoch bounded (training time)
    per_epoch = min(train_idx.size, config.max_groups_per_epoch)
    batch = max(config.batch_groups, int(np.ceil(per_epoch / config.max_steps_per_epoch)))
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        model.train()
        order = train_t[torch.randperm(train_t.numel(), generator=gen)[:per_epoch].to(device)]
        total = 0.0
        for start in range(0, order.numel(), batch):
            idx = order[start : start + batch]
            pred = group_mean_rate(model, xg_t[idx], mask_t[idx])
            loss = _loss(pred, y_t[idx], y_var, config.linear_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        sched.step()
        model.eval()
        with torch.no_grad():
            pv = group_mean_rate(model, xg_t[val_t], mask_t[val_t])
            val = float(_loss(pv, y_t[val_t], y_var, config.linear_weight))
        history.append({"epoch": epoch, "train": total / max(1, order.numel()), "val": val})
        if val < best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= config.patience:
            break
    model.load_state_dict(best[2])
    return model.cpu().eval(), history, best[1]
