"""No same-day leakage (issue 20): the merge of day D takes its weights and error models from the
evaluation of the days before D, never from D's own evaluation, whose held-out gauges overlap the
gauges the product withholds for its verification."""

import numpy as np
import pytest
from dagster import AssetKey, TimeWindowPartitionMapping

from assets import products
from fusion_ops.products.inputs import source_errors
from fusion_ops.products.merge import evaluation_for_day, merge, training_window_evaluation
from fusion_ops.products.provenance import chain_fallbacks, chain_model_versions
from fusion_ops.scores import sufficient_stats

DAY = "2009-05-22"


def _entry(rmse, fallback=None, version="v", n=200, seed=0):
    """An evaluation entry with sufficient statistics of pairs whose RMSE is about ``rmse``."""
    rng = np.random.default_rng(seed)
    reference = rng.gamma(1.0, 3.0, n)
    estimate = reference + rng.normal(0.0, rmse, n)
    stats = sufficient_stats(estimate, reference)
    return {
        "rmse": float(np.sqrt(np.mean((estimate - reference) ** 2))),
        "n": n,
        "stats": stats,
        "model_version": version,
        "fallback": fallback,
    }


def _record(day, rmse1, rmse2, rmse3, fallback=None, version="v"):
    mlp1 = _entry(rmse1, fallback, version, seed=1)
    mlp1["rmse_by_range"] = {"range_km": [25.0, 75.0], "rmse": [rmse1, 1.5 * rmse1], "n": [50, 30]}
    return {
        "day": day,
        "mlp1": mlp1,
        "mlp2": _entry(rmse2, fallback, version, seed=2),
        "mlp3": _entry(rmse3, fallback, version, seed=3),
        "not_planned": {},
    }


WINDOW = {
    "2009-05-20": _record("2009-05-20", 1.0, 2.0, 3.0),
    "2009-05-21": _record("2009-05-21", 1.4, 2.6, 2.2),
}


def _weights(evaluation):
    errors = source_errors(evaluation)
    range_km = np.array([[10.0, 60.0, 120.0]])
    return {
        "gr": errors.gr_model.std_mm_h(range_km),
        "sr": errors.sr_std_mm_h,
        "sat": errors.sat_std_mm_h,
    }


def test_changing_day_ds_evaluation_does_not_change_its_merge_weights():
    good = _record(DAY, 0.5, 1.0, 1.0)
    bad = _record(DAY, 9.0, 20.0, 30.0)  # D's held-out scores, whatever they are
    a = _weights(training_window_evaluation(good, WINDOW, DAY))
    b = _weights(training_window_evaluation(bad, WINDOW, DAY))
    for name in ("gr", "sr", "sat"):
        np.testing.assert_array_equal(a[name], b[name])
    # ... and so the merged rain and its sigma are the same
    rng = np.random.default_rng(0)
    cube = {k: rng.gamma(1.0, 2.0, (3, 1, 3)) for k in ("gr", "sr", "sat")}
    ma, mb = merge(cube, a), merge(cube, b)
    np.testing.assert_array_equal(ma.rain_mm_h, mb.rain_mm_h)
    np.testing.assert_array_equal(ma.std_mm_h, mb.std_mm_h)


def test_the_window_days_set_the_weights():
    pooled = training_window_evaluation(_record(DAY, 0.5, 1.0, 1.0), WINDOW, DAY)
    other = {**WINDOW, "2009-05-21": _record("2009-05-21", 3.0, 5.0, 6.0)}
    moved = training_window_evaluation(_record(DAY, 0.5, 1.0, 1.0), other, DAY)
    assert pooled["mlp2"]["rmse"] != moved["mlp2"]["rmse"]
    assert pooled["error_model_window"]["mlp2"] == ["2009-05-20", "2009-05-21"]
    # exact pooling from the sufficient statistics: the RMSE of both days' pairs together
    n1, n2 = WINDOW["2009-05-20"]["mlp2"]["n"], WINDOW["2009-05-21"]["mlp2"]["n"]
    r1, r2 = WINDOW["2009-05-20"]["mlp2"]["rmse"], WINDOW["2009-05-21"]["mlp2"]["rmse"]
    assert pooled["mlp2"]["rmse"] == pytest.approx(np.sqrt((n1 * r1**2 + n2 * r2**2) / (n1 + n2)))
    assert pooled["mlp2"]["n"] == n1 + n2
    table = pooled["mlp1"]["rmse_by_range"]
    assert table["range_km"] == [25.0, 75.0] and table["n"] == [100, 60]
    assert table["rmse"][0] == pytest.approx(np.sqrt((1.0**2 + 1.4**2) / 2))


def test_days_of_d_or_later_never_enter_the_window():
    later = {**WINDOW, DAY: _record(DAY, 9.0, 9.0, 9.0), "2009-05-23": _record("x", 9.0, 9, 9)}
    a = training_window_evaluation(_record(DAY, 0.5, 1.0, 1.0), WINDOW, DAY)
    b = training_window_evaluation(_record(DAY, 0.5, 1.0, 1.0), later, DAY)
    assert a == b


def test_without_an_earlier_day_the_documented_defaults_are_used():
    evaluation = training_window_evaluation(_record(DAY, 0.5, 1.0, 1.0), {}, DAY)
    errors = source_errors(evaluation)
    assert all(origin.startswith("default") for origin in errors.origin.values())
    assert evaluation["error_model_window"] == {"mlp1": [], "mlp2": [], "mlp3": []}


def test_days_with_the_same_model_state_are_preferred():
    window = {**WINDOW, "2009-05-19": _record("2009-05-19", 5.0, 8.0, 9.0, fallback="zr_300_1.4")}
    trained = training_window_evaluation(_record(DAY, 1, 1, 1), window, DAY)
    assert trained["error_model_window"]["mlp1"] == ["2009-05-20", "2009-05-21"]
    cold = training_window_evaluation(_record(DAY, 1, 1, 1, fallback="zr_300_1.4"), window, DAY)
    assert cold["error_model_window"]["mlp1"] == ["2009-05-19"]
    assert cold["mlp1"]["rmse"] == pytest.approx(window["2009-05-19"]["mlp1"]["rmse"])


def test_ds_models_identity_is_kept_for_provenance_and_the_cold_start_flag():
    day = _record(DAY, 0.5, 1.0, 1.0, fallback="zr_300_1.4", version="d-version")
    day["not_planned"] = {"mlp3": "no ABI"}
    evaluation = training_window_evaluation(day, WINDOW, DAY)
    assert (
        chain_fallbacks(evaluation)
        == chain_fallbacks(day)
        == {"mlp1": "zr_300_1.4", "mlp2": "zr_300_1.4"}
    )
    assert chain_model_versions(evaluation) == chain_model_versions(day)
    assert "stats" not in evaluation["mlp3"] and evaluation["not_planned"] == {"mlp3": "no ABI"}


def test_the_asset_input_loads_the_window_and_splits_off_d():
    mapping = products.fused_rain_hourly.get_partition_mapping(AssetKey(products.EVALUATION))
    assert isinstance(mapping, TimeWindowPartitionMapping)
    assert mapping.start_offset == -products.EVALUATION_WINDOW_DAYS and mapping.end_offset == 0
    bad = _record(DAY, 9.0, 20.0, 30.0)
    loaded = {**WINDOW, DAY: bad}  # what Dagster hands over for several partitions
    assert evaluation_for_day(loaded, DAY) == training_window_evaluation(bad, WINDOW, DAY)
    # the first partition (one day: D itself, handed over bare) and no evaluation at all
    alone = evaluation_for_day(bad, DAY)
    assert "rmse" not in alone["mlp2"] and alone["mlp2"]["model_version"] == "v"
    assert evaluation_for_day(None, DAY)["error_model_window"]["mlp1"] == []
