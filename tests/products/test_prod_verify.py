"""Verification scores, skill checks and the synthetic day end to end."""

import numpy as np
import pytest

from fusion_ops.products.pipeline import fuse_day, verify_fused_day
from fusion_ops.products.verify import (
    MIN_GAUGE_PAIRS,
    SkillThresholds,
    nearest_cell_values,
    rmse_difference_interval,
    scores,
    skill_failures,
    summary,
)


def test_scores_known_values():
    est = np.array([0.0, 2.0, 5.0, 0.5, np.nan])
    ref = np.array([0.0, 1.0, 4.0, 3.0, 9.0])
    s = scores(est, ref, threshold_mm=1.0)
    assert s["n"] == 4
    assert s["rmse"] == pytest.approx(np.sqrt((0 + 1 + 1 + 6.25) / 4))
    assert s["bias"] == pytest.approx((0 + 1 + 1 - 2.5) / 4)
    assert s["corr"] == pytest.approx(np.corrcoef(est[:4], ref[:4])[0, 1])
    # wet ref: 1, 4, 3 -> hits at 2 and 5, miss at 0.5; no false alarm
    assert s["pod"] == pytest.approx(2 / 3) and s["far"] == 0.0 and s["csi"] == pytest.approx(2 / 3)


def test_undefined_scores_are_none():
    s = scores(np.zeros(3), np.zeros(3))
    assert s["rmse"] == 0.0 and s["corr"] is None and s["pod"] is None and s["csi"] is None
    assert scores(np.array([np.nan]), np.array([1.0]))["rmse"] is None


def test_too_few_pairs_give_no_score_but_keep_the_count():
    s = scores(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.5]), min_pairs=5)
    assert s["n"] == 3 and s["rmse"] is None and s["bias"] is None and s["csi"] is None
    assert scores(np.arange(5.0), np.arange(5.0), min_pairs=5)["rmse"] == 0.0


def test_nearest_cell_values_outside_grid_is_nan():
    lat = np.array([28.0, 28.1, 28.2])
    lon = np.array([-81.0, -80.9])
    field = np.arange(6.0).reshape(3, 2)
    v = nearest_cell_values(field, lat, lon, [28.11, 28.0, 29.0], [-80.91, -81.04, -81.0])
    assert v[0] == 3.0 and v[1] == 0.0 and np.isnan(v[2])


@pytest.fixture(scope="module")
def verified(synthetic_day):
    s = synthetic_day
    fused = fuse_day(s.day, s.lat, s.lon, s.sources, s.error_std, s.gauges)
    return fused, verify_fused_day(fused, s.gauges, s.truth_daily_mm)


def test_fused_beats_every_single_source_on_the_synthetic_day(verified, synthetic_day):
    fused, v = verified
    assert fused.adjusted and fused.withheld.sum() == 18
    assert fused.n_adjusting_gauges == 72
    for source in ("gr", "sr", "sat"):
        for ref in ("truth", "gauges"):
            assert v["fused"][ref]["rmse"] < v[source][ref]["rmse"], (source, ref)
    # Gauge adjustment itself helps against truth.
    assert (
        v["fused"]["truth"]["rmse"]
        < 0.85 * scores(fused.merged_daily_mm, synthetic_day.truth_daily_mm)["rmse"]
    )
    # Like for like on the SR swath: the fused product there beats the SR as well.
    assert v["sr"]["fused_same_support_truth"]["rmse"] < v["sr"]["truth"]["rmse"]
    assert v["sr"]["fused_same_support_truth"]["n"] == v["sr"]["truth"]["n"]
    assert "fused_same_support_truth" not in v["gr"]  # GR covers the whole small domain
    # Withheld gauges only: the verification sample is the withheld set.
    assert v["fused"]["gauges"]["n"] == 18
    assert v["fused"]["gauges"]["corr"] > 0.9


def test_daily_product_is_the_sum_of_hourly_and_flags_cover_sources(verified):
    fused, _ = verified
    assert fused.daily_mm == pytest.approx(fused.hourly_mm_h.sum(axis=0))
    assert (fused.daily_flag & 1).all()  # the radar covers the small synthetic domain
    assert (fused.daily_flag & 2).any() and not (fused.daily_flag & 2).all()  # swath only
    assert np.isfinite(fused.daily_std_mm).all() and (fused.daily_std_mm > 0).all()


def test_summary_and_skill_check(verified):
    _, v = verified
    s = summary(v)
    assert set(s) == {"fused", "gr", "sr", "sat"}
    assert set(s["fused"]) == {"rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm"}
    assert skill_failures(v, SkillThresholds(max_rmse_gauges_mm=20, max_rmse_truth_mm=20)) == []
    failures = skill_failures(v, SkillThresholds(max_rmse_truth_mm=0.1, min_corr_gauges=0.9999))
    assert any("RMSE vs truth" in f for f in failures)
    assert any("correlation" in f for f in failures)
    worse = {**v, "gr": {"truth": {"rmse": 0.01}, "gauges": {"rmse": 0.01}}}
    assert any(
        "does not beat gr" in f for f in skill_failures(worse, SkillThresholds(20, 20, 0, 0))
    )


def test_absent_source_is_none_in_summary(synthetic_day):
    s = synthetic_day
    sources = {**s.sources, "sr": None}
    fused = fuse_day(s.day, s.lat, s.lon, sources, s.error_std, s.gauges)
    summ = summary(verify_fused_day(fused, s.gauges, None))
    assert summ["sr"] is None
    assert "rmse_truth" not in summ["fused"] and summ["fused"]["rmse_gauges"] > 0


def test_a_broken_source_is_screened_out_by_the_gauges(synthetic_day):
    s = synthetic_day
    broken = {**s.sources, "gr": np.full_like(s.sources["gr"], 100.0)}  # a mis-decoded grid
    fused = fuse_day(s.day, s.lat, s.lon, broken, s.error_std, s.gauges)
    assert set(fused.excluded) == {"gr"} and "gauges" in fused.excluded["gr"]
    assert not (fused.daily_flag & 1).any()
    v = verify_fused_day(fused, s.gauges, s.truth_daily_mm)
    assert v["fused"]["truth"]["rmse"] < v["gr"]["truth"]["rmse"] / 50
    # The healthy day keeps every source.
    healthy = fuse_day(s.day, s.lat, s.lon, s.sources, s.error_std, s.gauges)
    assert healthy.excluded == {}


def test_gauge_scaled_errors_down_weight_a_persistently_biased_source(synthetic_day):
    from fusion_ops.products.pipeline import gauge_scaled_error_std

    s = synthetic_day
    daily = {k: (None if v is None else np.nansum(v, axis=0)) for k, v in s.sources.items()}
    biased = {**daily, "sat": daily["sat"] + 20.0}
    std, origin = gauge_scaled_error_std(biased, s.error_std, s.lat, s.lon, s.gauges)
    assert origin["sr"] == "evaluation" and std["sr"] == s.error_std["sr"]
    assert "adjusting gauges" in origin["gr"] and "adjusting gauges" in origin["sat"]
    # The range shape of the GR error is kept, only its level changes.
    ratio = np.asarray(std["gr"]) / np.asarray(s.error_std["gr"])
    assert np.nanstd(ratio) < 1e-9 * np.nanmean(ratio) + 1e-12
    assert float(np.nanmean(std["sat"])) > 2 * float(np.nanmean(std["gr"]))
    unbiased, _ = gauge_scaled_error_std(daily, s.error_std, s.lat, s.lon, s.gauges)
    assert float(np.nanmean(std["sat"])) > 1.5 * float(np.nanmean(unbiased["sat"]))
    few = s.gauges.iloc[:5]
    _, origin_few = gauge_scaled_error_std(biased, s.error_std, s.lat, s.lon, few)
    assert origin_few["gr"] == "evaluation"


def test_a_source_that_only_adds_error_at_the_gauges_is_left_out(synthetic_day):
    from fusion_ops.products.pipeline import drop_sources_that_hurt

    s = synthetic_day
    # false alarms everywhere: +5 mm/h of satellite rain in every hour (120 mm/day)
    biased = {**s.sources, "sat": s.sources["sat"] + 5.0}
    dropped = drop_sources_that_hurt(biased, s.error_std, s.lat, s.lon, s.gauges)
    assert set(dropped) == {"sat"} and "adjusting gauges" in dropped["sat"]
    fused = fuse_day(s.day, s.lat, s.lon, biased, s.error_std, s.gauges)
    assert "sat" in fused.excluded and not (fused.daily_flag & 4).any()
    assert drop_sources_that_hurt(s.sources, s.error_std, s.lat, s.lon, s.gauges) == {}


def test_gauges_refit_the_range_dependence_of_the_radar_error(synthetic_day):
    from fusion_ops.products.merge import range_from_site_km
    from fusion_ops.products.pipeline import gauge_scaled_error_std

    s = synthetic_day
    daily = {k: (None if v is None else np.nansum(v, axis=0)) for k, v in s.sources.items()}
    site = (float(s.lat.mean()), float(s.lon.mean()))
    range_km = range_from_site_km(s.lat, s.lon, *site)
    # the radar loses everything beyond 40 km today (shallow rain under a high beam)
    gr = np.where(range_km > 40.0, 0.0, daily["gr"])
    std, origin = gauge_scaled_error_std(
        {**daily, "gr": gr},
        s.error_std,
        s.lat,
        s.lon,
        s.gauges,
        gr_range_km=range_km,
        range_bin_km=10.0,
    )
    assert "range dependence fitted" in origin["gr"]
    near = np.nanmean(np.asarray(std["gr"])[range_km < 20])
    far = np.nanmean(np.asarray(std["gr"])[range_km > 60])
    assert far > 2 * near


def test_rmse_difference_interval_excludes_zero_for_a_consistent_margin():
    rng = np.random.default_rng(1)
    obs = rng.gamma(2.0, 3.0, 60)
    better = obs + rng.normal(0, 0.5, 60)
    worse = obs + rng.normal(0, 2.0, 60)
    d = rmse_difference_interval(better, worse, obs)
    assert d["n"] == 60 and d["confidence"] == 0.95
    expected = np.sqrt(np.mean((better - obs) ** 2)) - np.sqrt(np.mean((worse - obs) ** 2))
    assert d["difference_mm"] == pytest.approx(expected)
    assert d["low_mm"] <= d["difference_mm"] <= d["high_mm"] < 0.0
    assert rmse_difference_interval(better, worse, obs) == d  # seeded: reproducible


def test_rmse_difference_interval_spans_zero_when_one_gauge_decides():
    # 48 gauges where the first estimate is better, one where it is far off (like a convective
    # gauge among light-rain neighbours): it "loses" on RMSE, but the sample says little
    obs = np.linspace(0.0, 12.0, 49)
    first = obs + np.where(np.arange(49) % 2, 0.2, -0.2)
    second = obs + np.where(np.arange(49) % 2, 0.6, -0.6)
    first[10] = obs[10] - 5.6
    d = rmse_difference_interval(first, second, obs)
    assert d["difference_mm"] > 0.0
    assert d["low_mm"] < 0.0 < d["high_mm"]


def test_rmse_difference_interval_needs_enough_pairs():
    obs = np.arange(MIN_GAUGE_PAIRS + 2, dtype=float)
    a = obs + 1.0
    a[:3] = np.nan
    d = rmse_difference_interval(a, obs + 2.0, obs)
    assert d["n"] == MIN_GAUGE_PAIRS - 1 and d["difference_mm"] is None and d["low_mm"] is None
    same = rmse_difference_interval(obs + 1.0, obs + 1.0, obs)
    assert same["difference_mm"] == 0.0 and same["low_mm"] == same["high_mm"] == 0.0


def test_verification_reports_the_margin_over_each_source(verified):
    _, v = verified
    for source in ("gr", "sr", "sat"):
        d = v[source]["fused_minus_source_gauges"]
        assert d["n"] >= MIN_GAUGE_PAIRS
        assert d["low_mm"] <= d["difference_mm"] <= d["high_mm"]
    # the difference is taken where both have a value: the SR swath's withheld gauges only
    assert v["sr"]["fused_minus_source_gauges"]["n"] == v["sr"]["gauges"]["n"]
    gr = v["gr"]["fused_minus_source_gauges"]
    assert gr["difference_mm"] == pytest.approx(
        v["fused"]["gauges"]["rmse"] - v["gr"]["gauges"]["rmse"]
    )
    worse = {
        **v,
        "gr": {**v["gr"], "gauges": {"rmse": 0.01}},
    }
    note = [f for f in skill_failures(worse, SkillThresholds(20, 20, 0, 0)) if "gr" in f]
    assert "bootstrap interval [" in note[0]
