"""The three calibration networks (MLP-1, MLP-2, MLP-3): one small multilayer perceptron class.

* MLP-1: ground-radar (GR) vertical profile (reflectivity, ZDR, KDP at fixed heights) plus range
  and beam height -> surface rain rate at a gauge.
* MLP-2: spaceborne-radar (SR) profile plus precipitation type, bright-band height and clutter-free
  bottom -> GR rain rate averaged over the SR footprint.
* MLP-3: geostationary (ABI) multispectral features -> GR rain rate in a product-grid cell.

Input normalisation travels with the weights: the per-feature fill value (for NaN inputs), mean
and standard deviation are buffers of the module, so they are in the ``state_dict`` that
:mod:`fusion_ops.calibration.versioning` writes with safetensors. So is the range of every feature
in the training data: the networks see inputs clipped to it. A network extrapolates badly: an
MLP-2 trained on three days predicted up to 38,000 mm/h for a dozen footprints of the next day's
swath. With the clip, the learned correction stays at its value on the edge of the training data,
and the physical prior (computed from the unclipped inputs) still follows a heavier profile.

Zero rain
---------
The network predicts ``u = softplus(o)`` and the rain rate is ``R = exp(u) - 1`` (mm/h): the
output is non-negative by construction, ``u`` lives in ``log1p`` space where the heavy tail of
rain rates is tame, and zero rain is the target ``u = 0`` that ``softplus`` approaches smoothly.
Training (:mod:`fusion_ops.calibration.training`) minimises the squared error of ``log1p(R)``
plus a weighted squared error of ``R`` itself, which keeps the linear bias near zero (a pure
log-space fit would underestimate the mean). Rates below :data:`NO_RAIN_MM_H` at inference are
reported as exactly 0 mm/h.

Ensembles
---------
A spec with ``members > 1`` holds that many networks over the same inputs and normalisation,
trained from different seeds; the rate is the mean of their rates. With the few wet gauge hours
of a short window, one network's answer depends noticeably on its random start; the mean of a
few does not (bagging), at a proportional cost in training and inference time.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch
from torch import nn

#: Predicted rates below this are reported as 0 mm/h (below a tipping-bucket's resolution per hour).
NO_RAIN_MM_H = 0.05


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a network is: its name, ordered input features and their NaN fill values, layers.

    Parameters
    ----------
    name : ``"mlp1"``, ``"mlp2"`` or ``"mlp3"``.
    features : ordered input column names.
    fill_values : value substituted for NaN, per feature (same order).
    hidden : widths of the hidden layers.
    prior : the fixed estimator the network corrects (see :func:`prior_rate`), or ``""``:
        ``"zr:A:B"`` (Z = A R^B on the lowest valid ``dbz_h*`` feature), ``"column:NAME"``
        (the rate in feature NAME, e.g. the SR standard product) or ``"tb:NAME"`` (the
        auto-estimator Tb curve on feature NAME).
    members : number of networks whose rates are averaged (an ensemble; 1 = one network).
    """

    name: str
    features: tuple[str, ...]
    fill_values: tuple[float, ...]
    hidden: tuple[int, ...] = (64, 64)
    prior: str = ""
    members: int = 1

    def __post_init__(self) -> None:
        if len(self.features) != len(self.fill_values):
            raise ValueError(
                f"{self.name}: {len(self.features)} features but {len(self.fill_values)} fill values"
            )
        if self.members < 1:
            raise ValueError(f"{self.name}: members must be >= 1, got {self.members}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        raw = json.loads(text)
        return cls(
            name=raw["name"],
            features=tuple(raw["features"]),
            fill_values=tuple(float(v) for v in raw["fill_values"]),
            hidden=tuple(int(v) for v in raw["hidden"]),
            prior=str(raw.get("prior", "")),
            members=int(raw.get("members", 1)),
        )


class RainMLP(nn.Module):
    """Feature vector -> rain rate (mm/h), with its input normalisation as buffers."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        n = len(spec.features)
        self.register_buffer("input_fill", torch.tensor(spec.fill_values, dtype=torch.float32))
        self.register_buffer("input_mean", torch.zeros(n))
        self.register_buffer("input_std", torch.ones(n))
        self.register_buffer("input_min", torch.full((n,), -torch.inf))
        self.register_buffer("input_max", torch.full((n,), torch.inf))
        self.bodies = nn.ModuleList(_body(n, spec) for _ in range(spec.members))

    def set_normalisation(self, x: np.ndarray) -> None:
        """Fit the input mean/std and range on training features (NaN filled first)."""
        xt = self.fill(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        std = xt.std(dim=0)
        # a constant feature (e.g. ZDR on a single-pol radar) must not divide by zero
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        self.input_mean.copy_(xt.mean(dim=0))
        self.input_std.copy_(std)
        self.input_min.copy_(xt.min(dim=0).values)
        self.input_max.copy_(xt.max(dim=0).values)

    def copy_normalisation(self, other: RainMLP) -> None:
        """Take the input normalisation and range of another network over the same features."""
        for name in ("input_mean", "input_std", "input_min", "input_max"):
            getattr(self, name).copy_(getattr(other, name))

    def fill(self, x: torch.Tensor) -> torch.Tensor:
        fill = self.input_fill.to(x.device)
        return torch.where(torch.isnan(x), fill.expand_as(x), x)

    def log1p_rate(self, x: torch.Tensor) -> torch.Tensor:
        """``log1p`` of the rain rate, shape ``x.shape[:-1]``.

        With a prior rate P the output is ``softplus(log P + f(x))``: for ``f = 0`` that is
        exactly ``log1p(P)``, so an untrained (zero-initialised) network reproduces the prior and
        training learns the correction.
        """
        seen = torch.minimum(torch.maximum(self.fill(x), self.input_min), self.input_max)
        z = (seen - self.input_mean) / self.input_std
        log_prior = torch.log(prior_rate(self.spec, x).clamp(min=1e-3)) if self.spec.prior else None
        per_member = []
        for body in self.bodies:
            out = body(z).squeeze(-1)
            if log_prior is not None:
                out = out + log_prior
            per_member.append(nn.functional.softplus(out))
        if len(per_member) == 1:
            return per_member[0]
        # the ensemble averages rates, not log rates (an unbiased mean in mm/h)
        return torch.log1p(torch.stack([torch.expm1(u) for u in per_member]).mean(dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rain rate (mm/h), continuous (no zero threshold; used in training)."""
        return torch.expm1(self.log1p_rate(x))


def _body(n_features: int, spec: ModelSpec) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_features
    for h in spec.hidden:
        layers += [nn.Linear(width, h), nn.SiLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    if spec.prior:
        # start from the prior: the correction is zero until the data say otherwise
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def prior_rate(spec: ModelSpec, x: torch.Tensor) -> torch.Tensor:
    """The fixed estimator's rate (mm/h) from raw features ``x`` (NaN allowed), shape x[:-1]."""
    kind, _, arg = spec.prior.partition(":")
    if kind == "zr":
        a, b = (float(v) for v in arg.split(":"))
        idx = [j for j, n in enumerate(spec.features) if n.startswith("dbz_h")]
        dbz = x[..., idx]
        valid = ~torch.isnan(dbz)
        first = torch.argmax(valid.to(torch.int8), dim=-1, keepdim=True)
        low = torch.gather(torch.nan_to_num(dbz, nan=-99.0), -1, first).squeeze(-1)
        low = torch.where(valid.any(dim=-1), low, torch.full_like(low, -99.0)).clamp(max=53.0)
        rate = (10.0 ** (low / 10.0) / a) ** (1.0 / b)
        return torch.where(low >= 10.0, rate, torch.zeros_like(rate))
    if kind in ("column", "tb"):
        if arg not in spec.features:
            raise ValueError(f"{spec.name}: prior feature {arg!r} is not an input feature")
        v = x[..., spec.features.index(arg)]
        if kind == "column":
            return torch.nan_to_num(v, nan=0.0).clamp(min=0.0)
        rate = (1.1183e11 * torch.exp(-3.6382e-2 * torch.nan_to_num(v, nan=300.0) ** 1.2)).clamp(
            max=72.0
        )
        return torch.where(rate >= 0.1, rate, torch.zeros_like(rate))
    raise ValueError(f"{spec.name}: unknown prior {spec.prior!r}")


def build_model(spec: ModelSpec) -> RainMLP:
    """A fresh network for ``spec``."""
    return RainMLP(spec)


@torch.no_grad()
def predict_rain_rate(
    model: RainMLP,
    x: np.ndarray,
    device: torch.device | str = "cpu",
    batch_size: int = 262_144,
) -> np.ndarray:
    """Apply a trained network to a feature matrix ``(n, n_features)``; rates in mm/h (float32).

    Rates below :data:`NO_RAIN_MM_H` are returned as 0. Rows are processed in batches so a full
    product grid fits any device.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(model.spec.features):
        raise ValueError(
            f"{model.spec.name}: expected features of shape (n, {len(model.spec.features)}), "
            f"got {x.shape}"
        )
    model = model.to(device).eval()
    out = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], batch_size):
        chunk = torch.from_numpy(x[start : start + batch_size]).to(device)
        out[start : start + chunk.shape[0]] = model(chunk).float().cpu().numpy()
    out[out < NO_RAIN_MM_H] = 0.0
    return out
