"""Scene discovery by content: toolbox-style files, FuseBox-style pairs, sensors, bad files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from bench import imagery as bench
from fusion_ops.imagery.degrade import SENSOR_MTF, gaussian_decimate
from fusion_ops.imagery.loaders import (
    ImageryFileError,
    discover_pan_scenes,
    estimate_phase,
    load_toolbox_mat,
    load_wv2,
    sensor_code,
)


def _fine_scene(n_bands: int, side: int, seed: int) -> torch.Tensor:
    """Smooth random multiband image (textured enough to pin the sampling phase)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n_bands, side // 4, side // 4, generator=gen, dtype=torch.float64)
    up = torch.nn.functional.interpolate(base[None], size=(side, side), mode="bicubic")[0]
    return 100.0 + 50.0 * up.clamp(0, 1.5)


def _pair(n_bands: int, side: int, ratio: int, phase: float, seed: int = 0):
    """(MS as H x W x C, PAN as H x W) of a fine scene, MS decimated at ``phase``."""
    fine = _fine_scene(n_bands, side, seed)
    ms = gaussian_decimate(fine, ratio, 0.3, phase)
    pan = fine.mean(0)
    return ms.permute(1, 2, 0).numpy(), pan.numpy()


def _toolbox(path, sensor: str | None = None, side: int = 128, **extra) -> None:
    ms, pan = _pair(4, side, 4, 1.5)
    # names the loader has never heard of: found by shape; a same-size upsampled MS must not pair
    variables = {"cube_lr": ms, "hires": pan, "cube_up": np.repeat(np.repeat(ms, 4, 0), 4, 1)}
    if sensor is not None:
        variables["sensor"] = sensor
    scipy.io.savemat(path, {**variables, **extra})


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("WV2", "WV2"),
        ("WorldView-3", "WV3"),
        ("GeoEye-1", "GE1"),
        ("IKONOS", "IKONOS"),
        ("QuickBird", "QB"),
        ("Landsat-7 ETM+", "L7"),
        ("Pléiades 1B", "PLEIADES"),
    ],
)
def test_sensor_named_in_file_selects_its_gains(tmp_path, spelling: str, code: str) -> None:
    path = tmp_path / "scene.mat"
    _toolbox(path, sensor=spelling)
    assert sensor_code(spelling) == code
    scene = load_toolbox_mat(path)
    entry = SENSOR_MTF[code]
    assert scene.sensor == code
    assert scene.mtf_pan == entry.pan  # each sensor its own PAN gain
    assert scene.mtf_ms == entry.ms_gains(4)[0]
    assert scene.ratio == 4 and scene.ms.shape == (4, 32, 32) and scene.pan.shape == (1, 128, 128)
    # the old WV2 reader gave every sensor WV2's PAN gain (0.11)
    assert load_wv2(path).mtf_pan == entry.pan


def test_discovery_by_content_toolbox_and_fusebox(tmp_path) -> None:
    _toolbox(tmp_path / "toolbox_scene.mat", sensor="QuickBird", ratio=4)
    sub = tmp_path / "fusebox"
    sub.mkdir()
    ms, pan = _pair(6, 96, 2, -0.5, seed=1)
    scipy.io.savemat(sub / "7_ms.mat", {"cropped_im": np.round(ms).astype(np.uint8)})
    scipy.io.savemat(sub / "7_pan.mat", {"cropped_gray": np.round(pan).astype(np.uint8)})
    scipy.io.savemat(
        tmp_path / "responses.mat", {"R": np.random.default_rng(0).random((3, 31, 52))}
    )  # not a scene
    found = discover_pan_scenes(tmp_path, sensor="IKONOS")
    assert not found.errors
    assert [p.name for p, _ in found.skipped] == ["responses.mat"]
    by_name = {s.name: s for s in found.scenes}
    assert set(by_name) == {"toolbox_scene", "7"}
    tb, fb = by_name["toolbox_scene"], by_name["7"]
    assert (tb.layout, tb.ms.var, tb.pan.var, tb.ratio) == ("toolbox", "cube_lr", "hires", 4)
    assert (fb.layout, fb.ms.var, fb.pan.var, fb.ratio) == ("pair", "cropped_im", "cropped_gray", 2)
    # the file's sensor wins over --sensor; a file naming none takes --sensor
    assert tb.sensor == "QB" and fb.sensor == "IKONOS"
    a, b = tb.load(), fb.load()
    assert a.phase_px == 1.5 and b.phase_px == -0.5  # estimated from content
    assert b.mtf_ms == SENSOR_MTF["IKONOS"].ms_gains(6)[0] and b.mtf_pan == 0.17
    assert b.max_value == 255 and b.ms.shape == (6, 48, 48)
    # without --sensor the pair gets the generic gains
    assert discover_pan_scenes(sub).scenes[0].sensor is None


def test_matlab_v73_file(tmp_path) -> None:
    """MATLAB -v7.3 files are HDF5 (arrays stored transposed); scipy cannot read them."""
    ms, pan = _pair(4, 64, 4, 1.5)
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, arr in (("I_MS", ms), ("I_PAN", pan)):
            f.create_dataset(name, data=arr.T).attrs["MATLAB_class"] = np.bytes_("double")
        text = np.array([ord(c) for c in "GeoEye1"], dtype=np.uint16)[:, None]
        f.create_dataset("sensor", data=text).attrs["MATLAB_class"] = np.bytes_("char")
    header = b"MATLAB 7.3 MAT-file, created by a test".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as fh:
        fh.write(header)
    scene = load_toolbox_mat(path)
    assert scene.sensor == "GE1" and scene.mtf_pan == 0.16
    assert scene.ms.shape == (4, 16, 16)
    assert torch.allclose(scene.ms[:, 3, 5].double(), torch.from_numpy(ms[3, 5]), atol=1e-4)


def test_bad_files_are_named_and_the_rest_run(tmp_path, capsys) -> None:
    _toolbox(tmp_path / "good.mat", sensor="WV3", side=256)  # MS 64 px: 21 px borders fit
    _toolbox(tmp_path / "tiny.mat", sensor="WV3", side=64)
    (tmp_path / "broken.mat").write_bytes(b"not a MATLAB file at all")
    _toolbox(tmp_path / "wrong_ratio.mat", ratio=3)
    ms, _ = _pair(4, 64, 4, 1.5)
    scipy.io.savemat(tmp_path / "9_ms.mat", {"im": ms})  # no 9_pan.mat
    found = discover_pan_scenes(tmp_path)
    assert [s.name for s in found.scenes] == ["good", "tiny"]
    errors = sorted(str(e) for e in found.errors)
    assert len(errors) == 3
    assert "9_ms.mat: no partner file 9_pan.mat" in errors[0]
    assert "broken.mat: not a readable MATLAB file" in errors[1]
    assert "wrong_ratio.mat: variable ratio = 3" in errors[2]
    with pytest.raises(ImageryFileError, match="broken.mat"):
        load_toolbox_mat(tmp_path / "broken.mat")
    # the bench reports them (stderr and report), scores the good scene, exits 1
    out_md = tmp_path / "report.md"
    argv = ["--data", str(tmp_path), "--out", str(out_md), "--steps", "1", "--no-timing"]
    assert bench.main(argv) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert set(result) == {"good"} and result["good"]["sensor"] == "WV3"
    assert {"EXP", "GSA", "MTF-GLP-HPM", "two_branch_cnn"} <= set(result["good"])
    assert "broken.mat: not a readable MATLAB file" in captured.err
    report = out_md.read_text()
    assert "## Files not used" in report and "wrong_ratio.mat" in report
    assert "tiny.mat: MS (16, 16) is too small" in report
    assert "WorldView-3 B/G/R/NIR gains" in report  # 4 bands of an 8-band table


def test_real_scenes_found_by_content(shared_data) -> None:
    found = discover_pan_scenes(shared_data / "imagery", sensor="L7")
    assert not found.errors
    by_name = {s.name: s for s in found.scenes}
    assert set(by_name) == {"imgWV2"} | {f"landsat7_{k}" for k in range(1, 6)}
    wv2 = by_name["imgWV2"]
    assert (wv2.layout, wv2.ms.var, wv2.pan.var, wv2.ratio, wv2.sensor) == (
        "toolbox",
        "I_MS",
        "I_PAN",
        4,
        "WV2",
    )
    ls = by_name["landsat7_3"].load()
    assert ls.sensor == "L7" and ls.ratio == 2 and ls.ms.shape == (6, 400, 400)
    assert ls.phase_px == -0.5  # the data README's measured phase, found from content
    phase, r2 = estimate_phase(ls.ms, ls.pan, 2, ls.mtf_pan)
    assert phase == -0.5 and r2 > 0.9
