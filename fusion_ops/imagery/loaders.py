"""Readers for the real image-fusion scenes (MATLAB ``.mat`` files) in ``../shared/data/imagery``.

Every reader returns float32 tensors in ``(C, H, W)`` layout plus the facts a fusion method needs
(ratio, MTF gains, sampling phase, dynamic range).  Bad files raise :class:`ImageryFileError`
naming the file and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io
import torch

from fusion_ops.imagery.degrade import (
    GENERIC_MTF_MS,
    GENERIC_MTF_PAN,
    WV2_MTF_MS,
    WV2_MTF_PAN,
    centred_phase,
)

#: Landsat-7 ETM+ pairs: MS pixel j is centred at PAN coordinate 2j - 0.5 (measured).
LANDSAT7_PHASE_PX: float = -0.5
#: Samson: 156 bands evenly spaced over 401-889 nm.
SAMSON_WAVELENGTHS_NM = np.linspace(401.0, 889.0, 156)
#: Camera database: 31 samples, 400-700 nm at 10 nm.
CAMERA_WAVELENGTHS_NM = np.arange(400.0, 701.0, 10.0)


class ImageryFileError(ValueError):
    """A scene file is missing, unreadable or lacks the expected variables/shapes."""


@dataclass
class PanScene:
    """A pansharpening pair: coarse MS and fine PAN of the same area."""

    name: str
    ms: torch.Tensor  # (C, h, w)
    pan: torch.Tensor  # (1, h*ratio, w*ratio)
    ratio: int
    mtf_ms: tuple[float, ...]
    mtf_pan: float
    phase_px: float
    max_value: float
    rgb_bands: tuple[int, int, int] = (0, 1, 2)


@dataclass
class HsScene:
    """A hyperspectral cube with, optionally, a co-registered fine-resolution companion."""

    name: str
    hs: torch.Tensor  # (L, H, W)
    guide: torch.Tensor | None = None  # (c, H, W) MS or RGB at the same resolution as hs
    wavelengths_nm: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


def _load_mat(path: Path, keys: tuple[str, ...]) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ImageryFileError(f"{path}: file not found")
    try:
        data = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several unrelated types for corrupt files
        raise ImageryFileError(f"{path}: not a readable MATLAB file ({exc})") from exc
    missing = [k for k in keys if k not in data]
    if missing:
        raise ImageryFileError(f"{path}: missing variable(s) {missing}")
    return data


def _hwc_to_chw(arr: np.ndarray) -> torch.Tensor:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _check_pair(path: Path, ms: torch.Tensor, pan: torch.Tensor, ratio: int) -> None:
    if pan.shape[-2:] != (ms.shape[-2] * ratio, ms.shape[-1] * ratio):
        raise ImageryFileError(
            f"{path}: PAN {tuple(pan.shape[-2:])} is not ratio {ratio} x MS {tuple(ms.shape[-2:])}"
        )


def load_wv2(path: str | Path) -> PanScene:
    """Read ``imgWV2.mat`` (``I_MS`` 320x320x8, ``I_PAN`` 1280x1280, ``ratio``, ``L`` bits)."""
    path = Path(path)
    d = _load_mat(path, ("I_MS", "I_PAN", "ratio"))
    ms, pan = _hwc_to_chw(d["I_MS"]), _hwc_to_chw(d["I_PAN"])
    ratio = int(np.asarray(d["ratio"]).ravel()[0])
    _check_pair(path, ms, pan, ratio)
    bits = int(np.asarray(d.get("L", [[11]])).ravel()[0])
    n = ms.shape[0]
    mtf = WV2_MTF_MS if n == 8 else (GENERIC_MTF_MS,) * n
    rgb = tuple(int(i) - 1 for i in np.asarray(d.get("RGB_indexes", [[5, 3, 2]])).ravel())
    return PanScene(
        name=path.stem,
        ms=ms,
        pan=pan,
        ratio=ratio,
        mtf_ms=tuple(mtf),
        mtf_pan=WV2_MTF_PAN,
        phase_px=centred_phase(ratio),
        max_value=float(2**bits - 1),
        rgb_bands=rgb,  # type: ignore[arg-type]
    )


def load_landsat7(folder: str | Path, k: int) -> PanScene:
    """Read the Landsat-7 pair ``landsat7_{k}_ms.mat`` / ``landsat7_{k}_pan.mat`` (ratio 2)."""
    folder = Path(folder)
    ms_path = folder / f"landsat7_{k}_ms.mat"
    pan_path = folder / f"landsat7_{k}_pan.mat"
    ms = _hwc_to_chw(_load_mat(ms_path, ("cropped_im",))["cropped_im"])
    pan = _hwc_to_chw(_load_mat(pan_path, ("cropped_gray",))["cropped_gray"])
    _check_pair(pan_path, ms, pan, 2)
    return PanScene(
        name=f"landsat7_{k}",
        ms=ms,
        pan=pan,
        ratio=2,
        mtf_ms=(GENERIC_MTF_MS,) * ms.shape[0],
        mtf_pan=GENERIC_MTF_PAN,
        phase_px=LANDSAT7_PHASE_PX,
        max_value=255.0,
        rgb_bands=(0, 1, 2),
    )


def load_paris(path: str | Path) -> HsScene:
    """Read ``paris_data_hs_ms.mat``: Hyperion ``HSim`` 72x72x128 and ALI ``MSim`` 72x72x9."""
    path = Path(path)
    d = _load_mat(path, ("HSim", "MSim"))
    hs, ms = _hwc_to_chw(d["HSim"]), _hwc_to_chw(d["MSim"])
    if hs.shape[-2:] != ms.shape[-2:]:
        raise ImageryFileError(f"{path}: HSim {tuple(hs.shape)} and MSim {tuple(ms.shape)} differ")
    bands = np.asarray(d.get("non_del_bands", np.zeros((1, 0)))).ravel().astype(int)
    return HsScene(name=path.stem, hs=hs, guide=ms, extras={"hyperion_bands": bands})


def load_samson(path: str | Path) -> HsScene:
    """Read ``Samson.mat``: ``Y`` 156 x 9025 (reflectance, column-major 95 x 95 pixels)."""
    path = Path(path)
    d = _load_mat(path, ("Y",))
    y = np.asarray(d["Y"], dtype=np.float32)
    side = int(round(np.sqrt(y.shape[1])))
    if side * side != y.shape[1]:
        raise ImageryFileError(f"{path}: Y has {y.shape[1]} pixels, not a square scene")
    cube = y.reshape(y.shape[0], side, side, order="F")
    wl = SAMSON_WAVELENGTHS_NM if y.shape[0] == 156 else None
    extras = {k: d[k] for k in ("GT", "S_GT") if k in d}
    return HsScene(
        name=path.stem,
        hs=torch.from_numpy(np.ascontiguousarray(cube)),
        wavelengths_nm=wl,
        extras=extras,
    )


def load_camera_database(path: str | Path) -> tuple[torch.Tensor, np.ndarray]:
    """Read ``camera_csr_52.mat``: returns responses ``(n_cameras, 3, 31)`` and wavelengths (nm)."""
    path = Path(path)
    r = np.asarray(_load_mat(path, ("R",))["R"], dtype=np.float32)
    if r.ndim != 3 or r.shape[0] != 3:
        raise ImageryFileError(f"{path}: R has shape {r.shape}, expected (3, n_wavelengths, n_cam)")
    return torch.from_numpy(
        np.ascontiguousarray(r.transpose(2, 0, 1))
    ), CAMERA_WAVELENGTHS_NM.copy()


def resample_response(
    response: torch.Tensor, src_nm: np.ndarray, dst_nm: np.ndarray
) -> torch.Tensor:
    """Linearly resample spectral responses ``(..., n_src)`` onto ``dst_nm`` (zero outside)."""
    flat = response.reshape(-1, response.shape[-1]).double().numpy()
    out = np.stack([np.interp(dst_nm, src_nm, row, left=0.0, right=0.0) for row in flat])
    return torch.from_numpy(out.reshape(*response.shape[:-1], len(dst_nm))).float()
