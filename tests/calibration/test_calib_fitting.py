"""Train or fall back: the decision, what the model file records, and the reported summary."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_mlp2_samples, make_mlp3_samples

from fusion_ops.calibration import features as F
from fusion_ops.calibration import fitting
from fusion_ops.calibration.versioning import load_model_or_fallback

WINDOW = ["2009-05-18", "2009-05-19"]
TINY = fitting.FitSettings(
    window_days=2, min_groups=10, epochs=3, hidden=(4,), members=1, cadence_days=1
)


def test_model_spec_per_network():
    assert fitting.model_spec("mlp1", [8], []).name == "mlp1"
    assert fitting.model_spec("mlp2", (8, 8), []).hidden == (8, 8)
    spec = fitting.model_spec("mlp3", (4,), ["bt_c14", "gr_rain_mm_h", "bt_c08", "time"])
    # ABI features only, in the fixed feature order
    assert spec.features == ("bt_c08", "bt_c14")


def test_training_targets_per_gauge_hour_or_per_row():
    train = pd.DataFrame(
        {"group": ["b", "a", "b"], "gauge_rate_mm_h": [2.0, 1.0, 2.0], "gr_rain_mm_h": [5, 6, 7]}
    )
    groups, y = fitting.training_targets("mlp1", train)
    assert groups.tolist() == ["b", "a", "b"] and y.tolist() == [1.0, 2.0]
    groups, y = fitting.training_targets("mlp3", train)
    assert groups is None and y.tolist() == [5, 6, 7]


def test_no_samples_fall_back_and_say_why():
    fit = fitting.fit_or_fallback("mlp1", pd.DataFrame(), WINDOW, "2009-05-20", TINY)
    assert fit.fallback == "zr_300_1.4"
    assert fit.reason == "mlp1: no samples in the window 2009-05-18..2009-05-19"
    assert fit.version.startswith("fb-")
    assert fit.summary == {
        "window": WINDOW,
        "samples": 0,
        "status": "fallback: zr_300_1.4",
        "model_version": fit.version,
        "reason": fit.reason,
    }
    model, meta = load_model_or_fallback(fit.data)
    assert model is None and meta["fallback"] == "zr_300_1.4" and meta["version"] == fit.version
    assert meta["info"] == {"window": WINDOW, "serves": "2009-05-20", "cadence_days": 1}


def test_too_few_groups_fall_back_to_the_standard_product():
    samples = make_mlp2_samples(20, seed=0)
    settings = dataclasses.replace(TINY, min_groups=21)
    fit = fitting.fit_or_fallback("mlp2", samples, WINDOW, "2009-05-20", settings)
    assert fit.fallback == "sr_standard" and "20 training groups" in fit.reason
    assert fit.summary["samples"] == 20 and fit.summary["status"] == "fallback: sr_standard"


def test_held_out_gauges_never_train_mlp1():
    samples = pd.DataFrame({"group": ["a"] * 3, "gauge_rate_mm_h": 1.0, "heldout": True})
    for c in fitting.model_spec("mlp1", (4,), []).features:
        samples[c] = 30.0
    fit = fitting.fit_or_fallback("mlp1", samples, WINDOW, "2009-05-20", TINY)
    assert fit.fallback == "zr_300_1.4" and fit.summary["samples"] == 0


def test_enough_samples_train_reproducibly(one_thread):
    samples = make_mlp3_samples(300, seed=4)
    fit = fitting.fit_or_fallback("mlp3", samples, WINDOW, "2009-05-20", TINY)
    assert fit.fallback is None and fit.reason == ""
    model, meta = load_model_or_fallback(fit.data)
    assert model is not None and meta["version"] == fit.version
    assert meta["info"]["n_groups"] == 300 and meta["info"]["serves"] == "2009-05-20"
    assert meta["train_config"]["epochs"] == 3 and meta["train_config"]["min_groups"] == 10
    s = fit.summary
    assert s["status"] == "trained" and s["samples"] == 300 and s["groups"] == 300
    assert s["members"] == 1 and len(s["member_best_epochs"]) == 1 and s["device"] == "cpu"
    assert s["features"] == ["bt_c08", "bt_c11", "bt_c13", "bt_c14", "refl_c02", "solar_zenith_deg"]
    assert np.isfinite(s["val_loss"]) and 0 <= s["best_epoch"] < 3
    # same samples, same seeds: the same weights
    again = fitting.fit_or_fallback("mlp3", samples, WINDOW, "2009-05-20", TINY)
    assert again.version == fit.version


def test_model_attrs_tie_outputs_to_their_model():
    attrs = fitting.model_attrs("mlp2", {"version": "abc123", "fallback": None})
    assert attrs == {
        "model": "mlp2",
        "model_version": "abc123",
        "model_fallback": "",
        "model_versions": json.dumps({"mlp2": "abc123"}),
        "model_capability": "",
    }
    assert fitting.model_attrs("mlp3", {"version": "fb-1", "fallback": "tb_curve"})[
        "model_fallback"
    ] == ("tb_curve")
    # the Z-R fallback reads reflectivity only
    fb = fitting.model_attrs("mlp1", {"version": "fb-2", "fallback": "zr_250_1.2"})
    assert fb["model_capability"] == "single-pol"


def _mlp1_window(polarimetric: bool, n_groups: int = 80) -> pd.DataFrame:
    """MLP-1 samples: one volume row per gauge hour, rain from reflectivity (Marshall-Palmer)."""
    rng = np.random.default_rng(3)
    dbz = rng.uniform(10, 50, n_groups)
    rows = {name: dbz + rng.normal(0, 1, n_groups) for name in F.level_names("dbz")}
    for name in F.level_names("zdr") + F.level_names("kdp"):
        rows[name] = rng.uniform(0, 2, n_groups) if polarimetric else np.full(n_groups, np.nan)
    rows.update(
        range_km=rng.uniform(10, 150, n_groups),
        beam_height_km=rng.uniform(0.2, 2.5, n_groups),
        gauge_rate_mm_h=(10 ** (dbz / 10) / 200) ** (1 / 1.6),
        group=[f"g{k}" for k in range(n_groups)],
        heldout=np.zeros(n_groups, bool),
        day="2009-05-19",
    )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("polarimetric", "capability"), [(True, "dual-pol"), (False, "single-pol")]
)
def test_mlp1_trained_on_single_pol_days_reads_reflectivity_only(polarimetric, capability):
    window = _mlp1_window(polarimetric)
    settings = fitting.FitSettings(
        epochs=3, members=1, min_groups=10, hidden=(4,), dry_fraction=1.0
    )
    fit = fitting.fit_or_fallback("mlp1", window, ["2009-05-19"], "2009-05-20", settings)
    assert fit.fallback is None and fit.summary["capability"] == capability
    features = fit.summary["features"]
    assert any(f.startswith("zdr_") for f in features) is polarimetric
    assert any(f.startswith("kdp_") for f in features) is polarimetric
    assert sum(f.startswith("dbz_") for f in features) == len(F.PROFILE_HEIGHTS_M)
    _, meta = load_model_or_fallback(fit.data)
    assert fitting.model_attrs("mlp1", meta)["model_capability"] == capability


@pytest.mark.parametrize("name", ["mlp1", "mlp2", "mlp3"])
def test_every_network_has_a_fallback_and_a_target(name):
    assert fitting.FALLBACKS[name] and fitting.TARGETS[name].endswith("_mm_h")
