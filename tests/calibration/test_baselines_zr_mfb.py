"""Z-R with the training window's mean-field bias: recovers a known bias and relation, uses the
training gauges only, and is scored at the held-out gauges on the day evaluated."""

import numpy as np
import pandas as pd
from conftest import make_mlp1_samples, make_mlp2_samples, make_mlp3_samples

from fusion_ops.calibration import baselines as B
from fusion_ops.calibration import evaluation as E
from fusion_ops.calibration.features import level_names
from fusion_ops.calibration.samples import is_heldout_station
from fusion_ops.calibration.versioning import save_fallback_bytes


def _zr_samples(n_hours: int, bias: float, a: float, b: float, seed: int) -> pd.DataFrame:
    """Gauge hours of 4 volumes whose lowest level follows ``Z = a R^b`` exactly; the gauges
    read ``bias`` times the hourly mean of the volume rates."""
    rng = np.random.default_rng(seed)
    hourly = np.where(rng.random(n_hours) < 0.8, rng.lognormal(0.5, 1.0, n_hours), 0.0)
    g = np.repeat(np.arange(n_hours), 4)
    # between the 10 dBZ floor and the 53 dBZ cap of every relation tried
    rate = np.where(hourly[g] > 0, np.clip(hourly[g] * rng.gamma(4.0, 0.25, g.size), 0.3, 60), 0)
    volume_mean = np.bincount(g, rate) / 4
    dbz = np.full((g.size, len(level_names("dbz"))), np.nan)
    with np.errstate(divide="ignore"):
        dbz[:, 2] = np.where(rate > 0, 10 * np.log10(a * np.maximum(rate, 1e-9) ** b), np.nan)
    dbz[:, 3] = dbz[:, 2] - 1.0  # higher levels do not matter: the lowest valid one is used
    frame = pd.DataFrame(dbz, columns=level_names("dbz"))
    frame["group"] = [f"s{k % 40}|h{k}" for k in g]
    frame["station_id"] = [f"s{k % 40}" for k in g]
    frame["gauge_rate_mm_h"] = bias * volume_mean[g]
    frame["range_km"] = 50.0
    frame["heldout"] = False
    return frame


def test_recovers_a_known_bias_and_the_relation():
    window = _zr_samples(300, bias=1.7, a=200.0, b=1.6, seed=0)
    fit = B.fit_zr_mfb(window, ("2009-05-18", "2009-05-19"))
    assert fit.fitted and fit.relation == "zr_200_1.6" and (fit.a, fit.b) == (200.0, 1.6)
    assert abs(fit.bias - 1.7) < 0.02, fit.bias
    assert fit.n_hours == 300 and fit.params()["window"] == ["2009-05-18", "2009-05-19"]
    other = B.fit_zr_mfb(_zr_samples(300, bias=0.6, a=300.0, b=1.4, seed=1))
    assert other.relation == "zr_300_1.4" and abs(other.bias - 0.6) < 0.01, other


def test_held_out_gauges_do_not_enter_the_fit_and_thin_windows_are_not_fitted():
    train = _zr_samples(200, bias=1.5, a=300.0, b=1.4, seed=2)
    held = _zr_samples(200, bias=5.0, a=300.0, b=1.4, seed=3)
    held["group"] = "held-" + held["group"]
    held["heldout"] = True
    fit = B.fit_zr_mfb(pd.concat([train, held], ignore_index=True))
    assert abs(fit.bias - 1.5) < 0.02
    assert B.fit_zr_mfb(None) == B.ZrMfb(reason="no training-window samples")
    thin = B.fit_zr_mfb(train.iloc[:20])
    assert not thin.fitted and thin.bias == 1.0 and thin.relation == "zr_300_1.4"
    assert "fewer than 10" in thin.reason


def test_evaluate_day_fits_on_the_model_window_and_scores_the_held_out_day():
    """The loader hands the window's samples; the biased relation is near perfect on the day."""
    window_days = ["2009-05-19", "2009-05-20"]
    stored = {
        ("mlp1", d): _zr_samples(150, bias=2.0, a=300.0, b=1.4, seed=10 + k)
        for k, d in enumerate(window_days)
    }
    day = _zr_samples(120, bias=2.0, a=300.0, b=1.4, seed=20)
    day["heldout"] = True
    files = {
        "mlp1": save_fallback_bytes("mlp1", "zr_300_1.4", "test", {"window": window_days}),
        "mlp2": save_fallback_bytes("mlp2", "sr_standard", "test", {"window": window_days}),
        "mlp3": save_fallback_bytes("mlp3", "tb_curve", "test", {"window": window_days}),
    }
    asked = []

    def loader(name, d):
        asked.append((name, d))
        return stored.get((name, d))

    samples = {"mlp1": day, "mlp2": make_mlp2_samples(30, 6), "mlp3": make_mlp3_samples(40, 7)}
    record = E.evaluate_day("2009-05-21", samples, files, sample_loader=loader).record
    assert ("mlp1", "2009-05-19") in asked and ("mlp3", "2009-05-20") in asked
    assert all(d in window_days for _, d in asked)  # never the evaluated day
    params = record["zr_mfb"]["params"]
    assert params["fitted"] and abs(params["bias"] - 2.0) < 0.02
    assert record["zr_mfb"]["rmse"] < 0.02 * record["zr_300_1.4"]["rmse"]
    # no ZDR in these samples: the dual-pol blend has no pairs, and the ratio is to zr_mfb
    assert record["dualpol_blend"]["n"] == 0
    assert record["mlp1_vs_best_baseline"]["baseline"] == "zr_mfb"
    assert record["mlp1_pairs"]["dualpol_blend"] == [None] * record["mlp1"]["n"]


def test_dual_pol_hours_need_zdr_in_every_volume_with_echo():
    """The blend scores an hour only when each of its volumes with rain echo has a ZDR there;
    an echo-free volume of a dual-pol radar is dry; a single-pol radar gives no blend at all."""
    samples = make_mlp1_samples(60, seed=4)
    samples["heldout"] = is_heldout_station(samples["station_id"].to_numpy())
    low = np.nan_to_num(samples[level_names("dbz")].bfill(axis=1).iloc[:, 0].to_numpy(), nan=-99.0)
    echo_hours = set(samples.loc[low >= 10.0, "group"])
    hourly = E.mlp1_hourly(samples, None)
    assert hourly["dualpol_blend"].notna().all()
    dry = ~hourly.index.isin(echo_hours)
    assert dry.any() and (hourly.loc[dry, "dualpol_blend"] == 0).all()
    single = samples.copy()
    single[level_names("zdr") + level_names("kdp")] = np.nan
    assert E.mlp1_hourly(single, None)["dualpol_blend"].isna().all()
    mixed = samples.copy()
    lost = mixed[low >= 10.0].groupby("group").head(1).index  # one echo volume per wet hour
    mixed.loc[lost, level_names("zdr")] = np.nan
    blend = E.mlp1_hourly(mixed, None)["dualpol_blend"]
    np.testing.assert_array_equal(blend.isna().to_numpy(), ~dry)
