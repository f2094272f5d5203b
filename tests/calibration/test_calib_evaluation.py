"""The day's held-out evaluation record, its score table and the model checks' decisions."""

import math

import numpy as np
import pytest
from conftest import make_mlp1_samples, make_mlp2_samples, make_mlp3_samples

from fusion_ops.calibration import evaluation as E
from fusion_ops.calibration.samples import is_heldout_station
from fusion_ops.calibration.versioning import save_fallback_bytes
from fusion_ops.scores import score_from_stats

NAN = float("nan")


def _scores(rmse, corr=0.9, n=100, fallback=None, nbias=0.0):
    return {"rmse": rmse, "corr": corr, "nbias": nbias, "n": n, "fallback": fallback}


def _record(**overrides):
    record = {est: _scores(2.0, corr=0.5) for est in E.ESTIMATORS}
    record.update(overrides)
    return record


def test_check_passes_when_the_network_beats_every_baseline():
    record = _record(mlp1=_scores(1.0), **{"zr_300_1.4": _scores(1.5)})
    out = E.check_against_baselines(record, "mlp1", ["zr_200_1.6", "zr_300_1.4"], False)
    assert out == E.CheckOutcome(
        passed=True,
        decided=True,
        reason=None,
        rmse={"mlp1_rmse": 1.0, "zr_200_1.6_rmse": 2.0, "zr_300_1.4_rmse": 1.5},
    )


def test_check_fails_on_rmse_or_on_correlation():
    worse = _record(mlp2=_scores(2.5))
    out = E.check_against_baselines(worse, "mlp2", ["sr_standard"], False)
    assert out.decided and not out.passed and out.reason is None
    # MLP-3 must also correlate better than the Tb curve
    low_corr = _record(mlp3=_scores(1.0, corr=0.4))
    assert E.check_against_baselines(low_corr, "mlp3", ["tb_curve"], False).passed
    out = E.check_against_baselines(low_corr, "mlp3", ["tb_curve"], True)
    assert out.decided and not out.passed


def test_check_is_undecided_with_a_fallback_or_too_few_pairs():
    fallback = _record(mlp1=_scores(NAN, fallback="zr_300_1.4"))
    out = E.check_against_baselines(fallback, "mlp1", ["zr_300_1.4"], False)
    assert (out.passed, out.decided) == (False, False)
    assert out.reason == "no trained model yet: fallback zr_300_1.4 in use"
    assert (out.severity, out.cold_start) == ("warn", True)
    assert out.rmse == {"mlp1_rmse": -1.0, "zr_300_1.4_rmse": 2.0}  # NaN charted as -1
    few = _record(mlp2=_scores(0.1, n=E.MIN_CHECK_PAIRS - 1))
    out = E.check_against_baselines(few, "mlp2", ["sr_standard"], False)
    assert (out.passed, out.decided, out.reason) == (False, False, "only 19 held-out pairs")
    assert (out.severity, out.cold_start) == ("warn", False)


def test_cold_start_warns_and_a_trained_model_failure_errs():
    """Issue 22: the first day's fallbacks warn ("no trained model yet"); a trained loser errs."""
    cold = _record(
        mlp1=_scores(NAN, fallback="zr_300_1.4"),
        mlp2=_scores(NAN, fallback="sr_standard"),
        mlp3=_scores(NAN, fallback="tb_curve"),
    )
    for net, baselines, fallback in (
        ("mlp1", ["zr_200_1.6", "zr_300_1.4", "zr_250_1.2"], "zr_300_1.4"),
        ("mlp2", ["sr_standard"], "sr_standard"),
        ("mlp3", ["tb_curve"], "tb_curve"),
    ):
        out = E.check_against_baselines(cold, net, baselines, net == "mlp3")
        assert (out.passed, out.severity) == (False, "warn")
        assert out.reason == f"no trained model yet: fallback {fallback} in use"
    trained_loses = _record(mlp2=_scores(2.5))
    out = E.check_against_baselines(trained_loses, "mlp2", ["sr_standard"], False)
    assert (out.passed, out.severity, out.reason, out.cold_start) == (False, "error", None, False)
    trained_wins = _record(mlp2=_scores(1.5))
    out = E.check_against_baselines(trained_wins, "mlp2", ["sr_standard"], False)
    assert (out.passed, out.severity) == (True, "error")


def test_score_markdown():
    record = _record(mlp1=_scores(0.7021, corr=NAN, n=51, fallback="zr_300_1.4", nbias=-0.05))
    lines = E.score_markdown(record).split("\n")
    assert lines[:3] == [
        "| estimator | rmse (mm/h) | corr | nbias | n | fallback |",
        "|---|---|---|---|---|---|",
        "| mlp1 | 0.702 | nan | -0.050 | 51 | zr_300_1.4 |",
    ]
    assert lines[3] == "| zr_200_1.6 | 2.000 | 0.500 | 0.000 | 100 |  |"
    assert [line.split(" | ")[0][2:] for line in lines[2:]] == list(E.ESTIMATORS)


@pytest.fixture(scope="module")
def fallback_day():
    mlp1 = make_mlp1_samples(200, seed=5)
    mlp1["heldout"] = is_heldout_station(mlp1["station_id"].to_numpy())
    samples = {"mlp1": mlp1, "mlp2": make_mlp2_samples(80, 6), "mlp3": make_mlp3_samples(90, 7)}
    files = {
        "mlp1": save_fallback_bytes("mlp1", "zr_300_1.4", "test", {}),
        "mlp2": save_fallback_bytes("mlp2", "sr_standard", "test", {}),
        "mlp3": save_fallback_bytes("mlp3", "tb_curve", "test", {}),
    }
    return samples, E.evaluate_day("2009-05-21", samples, files)


def test_fallback_models_score_as_their_baselines(fallback_day):
    samples, ev = fallback_day
    record = ev.record
    assert record["day"] == "2009-05-21"
    held_groups = samples["mlp1"].loc[samples["mlp1"]["heldout"], "group"].nunique()
    assert 0 < record["mlp1"]["n"] == held_groups  # gauge hours at held-out gauges only
    for net, base in (("mlp1", "zr_300_1.4"), ("mlp2", "sr_standard"), ("mlp3", "tb_curve")):
        assert record[net]["stats"] == record[base]["stats"]
        assert record[net]["fallback"] == record[base]["fallback"] == ev.fallbacks[net]
        assert record[net]["model_version"] == ev.model_versions[net]
        assert record[base]["model_version"] is None and record[base]["model"] == net
    assert record["mlp2"]["n"] == 80
    # the stored sufficient statistics give the scores back exactly (pooling over days)
    for est in E.ESTIMATORS:
        again = score_from_stats(record[est]["stats"])
        assert again["n"] == record[est]["n"]
        assert math.isclose(again["rmse"], record[est]["rmse"], rel_tol=1e-12)
    assert set(record["mlp1"]["rmse_by_range"]) == {"range_km", "rmse", "n"}


def test_panels_and_summary(fallback_day):
    _, ev = fallback_day
    assert list(ev.panels) == list(E.SCATTER_PANELS)
    est, ref, label = ev.panels["mlp2"]
    assert label == "GR" and est.dtype == np.float64 and est.shape == ref.shape == (80,)
    assert ev.panels["mlp1"][2] == "gauge"
    summary = E.rmse_summary(ev.record)
    assert list(summary) == [f"{est}_rmse" for est in E.ESTIMATORS]
    assert summary["mlp2_rmse"] == ev.record["mlp2"]["rmse"]
