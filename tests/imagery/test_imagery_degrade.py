"""Wald degradation: MTF gain at Nyquist, sampling phase, shapes, and the real scene loaders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusion_ops.imagery.degrade import (
    DegradationError,
    _shifted_gaussian_taps,
    gaussian_decimate,
    mtf_sigma_px,
    upsample,
    wald_reduce,
)
from fusion_ops.imagery.loaders import (
    ImageryFileError,
    load_camera_database,
    load_landsat7,
    load_paris,
    load_samson,
    load_wv2,
)


@pytest.mark.parametrize(("gain", "ratio"), [(0.35, 4), (0.27, 4), (0.11, 4), (0.3, 2), (0.15, 3)])
def test_gaussian_gain_at_nyquist(gain: float, ratio: int) -> None:
    taps, half = _shifted_gaussian_taps(mtf_sigma_px(gain, ratio), 0.0)
    m = torch.arange(-half, half + 2, dtype=torch.float64)
    response = float((taps * torch.cos(2 * math.pi * m / (2 * ratio))).sum())
    assert response == pytest.approx(gain, abs=2e-3)


@pytest.mark.parametrize(("ratio", "phase"), [(4, None), (4, 2.0), (2, -0.5), (3, None)])
def test_decimation_samples_at_phase(ratio: int, phase: float | None) -> None:
    n = 16 * ratio
    ramp = torch.arange(n, dtype=torch.float64).expand(1, n, n).clone()
    lr = gaussian_decimate(ramp, ratio, 0.3, phase)
    expected_phase = (ratio - 1) / 2 if phase is None else phase
    interior = lr[0, 0, 3:-3]
    j = torch.arange(lr.shape[-1], dtype=torch.float64)[3:-3]
    # a symmetric blur leaves a ramp unchanged: the value is the sampled coordinate
    assert torch.allclose(interior, ratio * j + expected_phase, atol=1e-6)


@pytest.mark.parametrize(("ratio", "phase"), [(4, None), (2, -0.5), (3, 0.0)])
def test_upsample_inverts_phase_on_ramps(ratio: int, phase: float | None) -> None:
    n = 12
    coarse_x = torch.arange(n, dtype=torch.float64)
    ph = (ratio - 1) / 2 if phase is None else phase
    coarse = (ratio * coarse_x + ph).expand(1, n, n).clone()
    fine = upsample(coarse, ratio, phase)
    x = torch.arange(n * ratio, dtype=torch.float64)
    inside = slice(2 * ratio, (n - 2) * ratio)
    assert torch.allclose(fine[0, 0, inside], x[inside], atol=1e-9)


@pytest.mark.parametrize(("c", "h", "w", "ratio"), [(1, 9, 15, 3), (5, 20, 12, 2), (8, 35, 25, 5)])
def test_shapes_any_size_ratio(c: int, h: int, w: int, ratio: int) -> None:
    ms = torch.rand(c, h, w)
    pan = torch.rand(1, h * ratio, w * ratio)
    ms_lr, pan_lr = wald_reduce(ms, pan, ratio, [0.3] * c, 0.15)
    assert ms_lr.shape == (c, h // ratio, w // ratio)
    assert pan_lr.shape == (1, h, w)
    assert upsample(ms_lr, ratio).shape == (c, (h // ratio) * ratio, (w // ratio) * ratio)
    batched = gaussian_decimate(torch.rand(2, c, h, w), ratio, 0.3)
    assert batched.shape == (2, c, h // ratio, w // ratio)


def test_bad_inputs_raise() -> None:
    with pytest.raises(DegradationError, match="ratio"):
        wald_reduce(torch.rand(3, 8, 8), torch.rand(1, 20, 20), 4, 0.3, 0.15)
    with pytest.raises(DegradationError, match="gain"):
        gaussian_decimate(torch.rand(1, 8, 8), 2, 1.5)
    with pytest.raises(DegradationError, match="3 MTF gains"):
        gaussian_decimate(torch.rand(2, 8, 8), 2, [0.3, 0.3, 0.3])


def test_loaders_real_scenes(shared_data) -> None:
    root = shared_data / "imagery"
    wv2 = load_wv2(root / "pansharpening" / "imgWV2.mat")
    assert wv2.ms.shape == (8, 320, 320) and wv2.pan.shape == (1, 1280, 1280)
    assert wv2.ratio == 4 and wv2.mtf_ms == (0.35,) * 7 + (0.27,) and wv2.mtf_pan == 0.11
    assert wv2.phase_px == 1.5 and wv2.max_value == 2047
    ls = load_landsat7(root / "pansharpening", 3)
    assert ls.ms.shape == (6, 400, 400) and ls.pan.shape == (1, 800, 800)
    assert ls.phase_px == -0.5
    paris = load_paris(root / "hyperspectral" / "paris_data_hs_ms.mat")
    assert paris.hs.shape == (128, 72, 72) and paris.guide.shape == (9, 72, 72)
    samson = load_samson(root / "hyperspectral" / "Samson.mat")
    assert samson.hs.shape == (156, 95, 95)
    assert float(samson.hs.min()) >= 0.0 and float(samson.hs.max()) <= 1.0
    assert np.isclose(samson.wavelengths_nm[0], 401) and np.isclose(samson.wavelengths_nm[-1], 889)
    db, wl = load_camera_database(root / "spectral_response" / "camera_csr_52.mat")
    assert db.shape == (52, 3, 31) and wl[0] == 400 and wl[-1] == 700


def test_loader_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(ImageryFileError, match="file not found"):
        load_wv2(tmp_path / "nope.mat")
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file at all")
    with pytest.raises(ImageryFileError, match=str(bad.name)):
        load_wv2(bad)
