"""ABI C01/C03 sharpened with the 0.5 km red band on the real GOES-17 meso scene."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusion_ops.imagery.abi import AbiSharpenError, sharpen_native_scene
from fusion_ops.imagery.classic import exp_upsample


@pytest.fixture(scope="module")
def abi_scene(shared_data):
    from fusion_ops.readers.satellite import native_scene_dataset

    files = sorted(str(p) for p in (shared_data / "satellite").glob("*M6C0[123]_*.nc"))
    ds, quarantine = native_scene_dataset(files, channels=["C01", "C02", "C03"])
    assert not quarantine
    # a 200 x 200 km corner keeps the test fast
    return ds.isel(
        y_500m=slice(0, 400), x_500m=slice(0, 400), y_1000m=slice(0, 200), x_1000m=slice(0, 200)
    )


def test_abi_sharpened_on_fine_grid(abi_scene) -> None:
    out, metrics = sharpen_native_scene(abi_scene, targets=("C01", "C03"))
    assert set(out.data_vars) == {"C01", "C03"}
    assert out["C01"].dims == ("y_500m", "x_500m") and out["C01"].shape == (400, 400)
    assert np.isfinite(out["C01"].values).all()
    # night scene: the reflective bands sit at their noise floor; the injection must not add
    # more than interpolation alone does (2 x 2 averages compared with the 1 km input)
    ref = abi_scene["C03"].values
    back = out["C03"].values.reshape(200, 2, 200, 2).mean((1, 3))
    exp = exp_upsample(torch.from_numpy(ref)[None], 2, 0.5)[0].numpy()
    exp_back = exp.reshape(200, 2, 200, 2).mean((1, 3))
    assert np.abs(back - ref).mean() < 1.5 * np.abs(exp_back - ref).mean() + 1e-4
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0.0 <= metrics["C01_HQNR"] <= 1.0


def test_abi_missing_fine_band(abi_scene) -> None:
    with pytest.raises(AbiSharpenError, match="C02"):
        sharpen_native_scene(abi_scene.drop_vars("C02"))
