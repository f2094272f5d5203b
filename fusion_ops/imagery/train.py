"""Per-scene training of the fusion networks on the scene's own degraded inputs (Wald's protocol).

No high-resolution reference is ever used: the coarse input is the training target and the inputs
are both sources degraded once more by the ratio (scale invariance assumption of Wald's
protocol).  Networks with a physical observation model (MHF-Net, RGB-guided) add reconstruction
losses at the working scale: the output, degraded spatially, must match the coarse input; degraded
spectrally, the fine input.

Training is deterministic for a given ``seed`` (crops, augmentations and initial weights come from
seeded generators) on CPU; progress goes to the ``fusion_ops.imagery.train`` logger and to an
optional ``progress(step, loss)`` callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from fusion_ops.imagery.classic import mtf_glp_hpm
from fusion_ops.imagery.degrade import crop_to_multiple, gaussian_decimate, upsample
from fusion_ops.imagery.nets.mhf_net import MHFNet
from fusion_ops.imagery.nets.rgb_guided import CSRLayer, RGBGuidedHSNet
from fusion_ops.imagery.nets.two_branch import TwoBranchPansharpenNet

LOG = logging.getLogger(__name__)
Progress = Callable[[int, float], None]


@dataclass
class TrainConfig:
    """Optimisation settings shared by the per-scene trainers."""

    steps: int = 400
    lr: float = 2e-3
    batch: int = 8
    patch: int = 64
    seed: int = 0
    log_every: int = 50
    device: str | torch.device = "cpu"
    progress: Progress | None = field(default=None, repr=False)


@dataclass
class TrainResult:
    """Trained network plus its loss history (one value per step)."""

    model: torch.nn.Module
    losses: list[float]
    seconds: float


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when available (checked only when called, never at import)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of the last two axes."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def _crops(
    tensors: Sequence[torch.Tensor], patch: int, batch: int, gen: torch.Generator, align: int = 1
) -> list[torch.Tensor]:
    """Same random crops (and dihedral transforms) from co-registered ``(C, H, W)`` tensors.

    Tensors may be on grids that differ by integer factors; crops are taken at positions that are
    multiples of ``align`` on the finest grid so that they stay co-registered.
    """
    finest = max(t.shape[-1] for t in tensors)
    h = max(t.shape[-2] for t in tensors)
    p = min(patch, h, finest)
    p -= p % align
    outs: list[list[torch.Tensor]] = [[] for _ in tensors]
    for _ in range(batch):
        y0 = int(torch.randint(0, (h - p) // align + 1, (1,), generator=gen)) * align
        x0 = int(torch.randint(0, (finest - p) // align + 1, (1,), generator=gen)) * align
        k = int(torch.randint(0, 8, (1,), generator=gen))
        for i, t in enumerate(tensors):
            f = finest // t.shape[-1]
            crop = t[:, y0 // f : (y0 + p) // f, x0 // f : (x0 + p) // f]
            outs[i].append(_dihedral(crop, k))
    return [torch.stack(o) for o in outs]


def _log(cfg: TrainConfig, name: str, step: int, loss: float) -> None:
    if cfg.progress is not None:
        cfg.progress(step, loss)
    if cfg.log_every and (step % cfg.log_every == 0 or step == cfg.steps - 1):
        LOG.info("%s step %d/%d loss %.5f", name, step + 1, cfg.steps, loss)


def _optimise(
    name: str,
    model: torch.nn.Module,
    cfg: TrainConfig,
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    extra_params: Sequence[torch.nn.Parameter] = (),
) -> TrainResult:
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad] + list(extra_params)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 1), pct_start=0.1
    )
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        loss = batch_loss(gen)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        _log(cfg, name, step, losses[-1])
    model.eval()
    return TrainResult(model=model, losses=losses, seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- pansharpening


@dataclass
class PanInputs:
    """Network-ready (normalised) inputs on the PAN grid plus the scale to undo normalisation."""

    ms_up: torch.Tensor  # (C, H, W) / ms_scale
    prior: torch.Tensor  # (C, H, W) MTF-GLP-HPM result / ms_scale
    pan_pair: torch.Tensor  # (2, H, W): standardised PAN and its high-pass detail
    ms_scale: torch.Tensor  # (C, 1, 1)


def prepare_pan_inputs(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    phase_px: float | None,
    ms_scale: torch.Tensor | None = None,
) -> PanInputs:
    """Upsample the MS, standardise the PAN and extract its MTF high-pass detail."""
    up = upsample(ms, ratio, phase_px)
    scale = (
        up.mean(dim=(1, 2), keepdim=True).abs().clamp_min(1e-6) if ms_scale is None else ms_scale
    )
    g = sum(gains_ms) / len(gains_ms) if isinstance(gains_ms, Sequence) else float(gains_ms)
    p = pan[:1]
    p_lp = upsample(gaussian_decimate(p, ratio, g, phase_px), ratio, phase_px)
    sd = p_lp.std().clamp_min(1e-6)
    # PAN detail scaled to the MS intensity so that the net sees detail in MS units
    rel = float(up.mean() / scale.mean())
    pan_pair = torch.cat([(p - p.mean()) / sd, (p - p_lp) / sd * rel])
    prior = mtf_glp_hpm(ms, pan[:1], ratio, gains_ms, phase_px)
    return PanInputs(ms_up=up / scale, prior=prior / scale, pan_pair=pan_pair, ms_scale=scale)


def train_two_branch(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    gain_pan: float,
    phase_px: float | None = None,
    cfg: TrainConfig | None = None,
    net: TwoBranchPansharpenNet | None = None,
) -> TrainResult:
    """Train (or fine-tune ``net``) on the scene itself: inputs degraded by ``ratio``, target ``ms``."""
    cfg = cfg or TrainConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    ms_lr = gaussian_decimate(ms, ratio, gains_ms, phase_px)
    pan_lr = gaussian_decimate(pan, ratio, gain_pan, phase_px)
    inp = prepare_pan_inputs(ms_lr, pan_lr, ratio, gains_ms, phase_px)
    target = ms / inp.ms_scale
    model = (net or TwoBranchPansharpenNet(ms.shape[0])).to(dev)
    data = [t.to(dev) for t in (inp.ms_up, inp.pan_pair, inp.prior, target)]

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        ms_b, pan_b, prior_b, tgt_b = _crops(data, cfg.patch, cfg.batch, gen)
        return F.l1_loss(model(ms_b, pan_b, prior_b), tgt_b)

    return _optimise("two_branch", model, cfg, batch_loss)


@torch.no_grad()
def fuse_two_branch(
    model: TwoBranchPansharpenNet,
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gains_ms: float | Sequence[float],
    phase_px: float | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Pansharpen ``ms`` with ``pan`` using a trained two-branch network; returns ``(C, H, W)``."""
    dev = resolve_device(device)
    inp = prepare_pan_inputs(ms, pan, ratio, gains_ms, phase_px)
    model = model.to(dev).eval()
    out = model(inp.ms_up[None].to(dev), inp.pan_pair[None].to(dev), inp.prior[None].to(dev))[
        0
    ].cpu()
    return out * inp.ms_scale


# --------------------------------------------------------------------------- MS/HS fusion


def spectral_angle_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (radians, via ``sqrt(2 (1 - cos))``, smooth at 0) of ``(B, L, H, W)``."""
    cos = F.cosine_similarity(pred, target, dim=1, eps=1e-8)
    return (2.0 * (1.0 - cos).clamp_min(0.0) + 1e-10).sqrt().mean()


def _hs_scale(hs: torch.Tensor) -> torch.Tensor:
    return hs.mean(dim=(1, 2), keepdim=True).abs().clamp_min(1e-6)


def _wald_pair(
    hs: torch.Tensor, guide: torch.Tensor, ratio: int, gain: float, phase_px: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hs_w, hs2, guide2)``: the coarse HS cropped to a multiple of the ratio (the Wald
    target) and both inputs, co-registered, degraded once more by the ratio."""
    hs_w = crop_to_multiple(hs, ratio)
    guide_w = guide[..., : hs_w.shape[-2] * ratio, : hs_w.shape[-1] * ratio]
    hs2 = gaussian_decimate(hs_w, ratio, gain, phase_px)
    guide2 = gaussian_decimate(guide_w, ratio, gain, phase_px)
    return hs_w, hs2, guide2


def _optimise_hs(
    name: str,
    model: torch.nn.Module,
    cfg: TrainConfig,
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    hs_scale: torch.Tensor,
    guide_attr: str,
    guide_scale: torch.Tensor,
) -> TrainResult:
    """:func:`_optimise`, then keep the input normalisation scales on the model for fusing."""
    res = _optimise(name, model, cfg, batch_loss)
    res.model.hs_scale = hs_scale  # type: ignore[attr-defined]
    setattr(res.model, guide_attr, guide_scale)
    return res


def _fuse_hs(
    model: torch.nn.Module,
    hs: torch.Tensor,
    guide: torch.Tensor,
    guide_scale: torch.Tensor,
    device: str | torch.device,
) -> torch.Tensor:
    """Run a trained HS network ``model(guide, hs)`` on normalised inputs; back to HS units."""
    dev = resolve_device(device)
    hs_s = getattr(model, "hs_scale", _hs_scale(hs))
    model = model.to(dev).eval()
    return model((guide / guide_scale)[None].to(dev), (hs / hs_s)[None].to(dev))[0].cpu() * hs_s


def train_mhf_net(
    hs: torch.Tensor,
    guide: torch.Tensor,
    ratio: int,
    gain: float = 0.3,
    phase_px: float | None = None,
    cfg: TrainConfig | None = None,
    rank: int = 32,
    stages: int = 4,
    width: int = 32,
    consistency_weight: float = 0.5,
    sam_weight: float = 1.0,
) -> TrainResult:
    """Train MHF-Net on the scene: ``(degraded HS, degraded guide) -> HS``, plus consistency.

    The consistency term asks the full-scale output, degraded by the net's own learned spatial
    response, to reproduce the coarse HS input (no reference needed).
    """
    cfg = cfg or TrainConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    hs_s, g_s = _hs_scale(hs), _hs_scale(guide)
    z, y = hs / hs_s, guide / g_s
    z_w, z2, y2 = _wald_pair(z, y, ratio, gain, phase_px)
    model = MHFNet.from_data(y, z, ratio, gain, phase_px, rank=rank, stages=stages, width=width)
    model = model.to(dev)
    z, y, z2, y2, z_w = (t.to(dev) for t in (z, y, z2, y2, z_w))

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        # crops aligned to the ratio so that coarse and fine tensors stay co-registered
        y_b, z2_b, z_b = _crops([y2, z2, z_w], cfg.patch, cfg.batch, gen, align=ratio)
        pred = model(y_b, z2_b)
        loss = F.l1_loss(pred, z_b) + sam_weight * spectral_angle_loss(pred, z_b)
        if consistency_weight > 0:
            yf_b, zf_b = _crops([y, z], cfg.patch * ratio, 1, gen, align=ratio)
            x = model(yf_b, zf_b)
            loss = loss + consistency_weight * F.l1_loss(model.degrade(x), zf_b)
        return loss

    return _optimise_hs("mhf_net", model, cfg, batch_loss, hs_s, "guide_scale", g_s)


@torch.no_grad()
def fuse_mhf_net(
    model: MHFNet, hs: torch.Tensor, guide: torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Fuse a coarse HS cube with its fine guide using a trained MHF-Net."""
    return _fuse_hs(model, hs, guide, getattr(model, "guide_scale", _hs_scale(guide)), device)


def train_rgb_guided(
    hs: torch.Tensor,
    rgb: torch.Tensor,
    ratio: int,
    csr_init: torch.Tensor,
    gain: float = 0.3,
    phase_px: float | None = None,
    cfg: TrainConfig | None = None,
    width: int = 32,
    rgb_weight: float = 1.0,
    smooth_weight: float = 1e-2,
) -> TrainResult:
    """Unsupervised per-scene HS super-resolution guided by RGB (after Fu et al. 2019).

    Losses, all from the scene's own inputs: (1) the output degraded by the spatial response must
    equal the coarse HS; (2) the output seen through the learned CSR must equal the RGB;
    (3) Wald term: the net fed the inputs degraded once more must return the coarse HS;
    plus the CSR smoothness penalty.  ``csr_init`` ``(3, L)`` is the selected database response.
    """
    cfg = cfg or TrainConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    hs_s = _hs_scale(hs)
    rgb_s = rgb.mean().clamp_min(1e-6)
    z, c = hs / hs_s, rgb / rgb_s
    # CSR acting on normalised HS must produce normalised RGB: fold the scales into the init
    init = csr_init * hs_s.view(1, -1) / rgb_s
    csr = CSRLayer(init)
    z_w, z2, c2 = _wald_pair(z, c, ratio, gain, phase_px)
    model = RGBGuidedHSNet(hs.shape[0], ratio, gain, phase_px, width=width)
    model.init_from_data(c, z)
    model.csr = csr
    model = model.to(dev)
    z, c, z2, c2, z_w = (t.to(dev) for t in (z, c, z2, c2, z_w))

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        cf, zf = _crops([c, z], cfg.patch * ratio, 1, gen, align=ratio)
        x = model(cf, zf)
        loss = F.l1_loss(model.degrade(x), zf) + rgb_weight * F.l1_loss(model.csr(x), cf)
        c_b, z2_b, z_b = _crops([c2, z2, z_w], cfg.patch, cfg.batch, gen, align=ratio)
        loss = loss + F.l1_loss(model(c_b, z2_b), z_b)
        return loss + smooth_weight * model.csr.smoothness()

    return _optimise_hs("rgb_guided", model, cfg, batch_loss, hs_s, "rgb_scale", rgb_s)


@torch.no_grad()
def fuse_rgb_guided(
    model: RGBGuidedHSNet, hs: torch.Tensor, rgb: torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Super-resolve ``hs`` with ``rgb`` using a trained RGB-guided network."""
    return _fuse_hs(model, hs, rgb, getattr(model, "rgb_scale", rgb.mean()), device)


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "PanInputs",
    "TrainConfig",
    "TrainResult",
    "count_parameters",
    "fuse_mhf_net",
    "fuse_rgb_guided",
    "fuse_two_branch",
    "prepare_pan_inputs",
    "resolve_device",
    "train_mhf_net",
    "train_rgb_guided",
    "train_two_branch",
]
