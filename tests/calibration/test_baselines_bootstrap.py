"""MLP-1 over its best baseline: the RMSE ratio's paired bootstrap interval covers the true ratio,
is reproducible, and ``rainfuse evaluate`` pools the stored held-out pairs into it."""

import json

import numpy as np
import pytest

from fusion_ops.calibration import evaluation as E
from fusion_ops.scores import score_from_stats, sufficient_stats
from orchestration.commands import evaluate
from orchestration.runtime.io_managers import atomic_write


def _pairs(n, sd_model, sd_base, seed):
    rng = np.random.default_rng(seed)
    gauge = rng.gamma(1.0, 3.0, n)
    return gauge, gauge + rng.normal(0, sd_model, n), gauge + rng.normal(0, sd_base, n)


def test_interval_contains_the_true_ratio():
    covered = 0
    for seed in range(20):
        gauge, model, base = _pairs(1500, 0.8, 1.0, seed)
        out = E.rmse_ratio_ci(model, base, gauge)
        lo, hi = out["ci95"]
        assert lo < out["ratio"] < hi and out["n"] == 1500
        assert 0.05 < hi - lo < 0.2
        covered += lo <= 0.8 <= hi
    assert covered >= 17  # a 95 % interval: 19 of 20 expected


def test_reproducible_and_missing_pairs_left_out():
    gauge, model, base = _pairs(400, 0.5, 1.0, 3)
    base[:50] = np.nan
    one, two = E.rmse_ratio_ci(model, base, gauge), E.rmse_ratio_ci(model, base, gauge)
    assert one == two and one["n"] == 350
    expected = np.sqrt(np.sum((model - gauge)[50:] ** 2) / np.sum((base - gauge)[50:] ** 2))
    assert one["ratio"] == pytest.approx(expected)
    nan = E.rmse_ratio_ci(model[49:51], base[49:51], gauge[49:51])  # one finite pair
    assert nan["n"] == 1 and np.isnan(nan["ratio"])


def test_best_baseline_is_the_one_the_model_gains_least_against():
    gauge, model, weak = _pairs(800, 0.8, 2.0, 4)
    strong = gauge + np.random.default_rng(5).normal(0, 0.9, gauge.size)
    strong[::2] = np.nan  # the dual-pol blend exists on part of the samples only
    pairs = {"gauge": gauge, "mlp1": model, "zr_mfb": weak, "dualpol_blend": strong}
    out = E.versus_best_baseline(pairs)
    assert out["baseline"] == "dualpol_blend" and out["n"] == 400
    assert out == {**E.rmse_ratio_ci(model, strong, gauge), "baseline": "dualpol_blend"}
    none = E.versus_best_baseline({"gauge": gauge, "mlp1": model})
    assert none["baseline"] is None and np.isnan(none["ratio"])


def test_evaluate_pools_the_stored_pairs(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "rainfuse.yaml"
    cfg.write_text(f"storage: {{url: {tmp_path / 'storage'}}}\n")
    monkeypatch.setenv("RAINFUSE_CONFIG", str(cfg))
    from upath import UPath

    pooled = {k: [] for k in ("gauge", "mlp1", "zr_mfb", "dualpol_blend")}
    for k, (day, fallback) in enumerate(
        (("2009-05-20", "zr_300_1.4"), ("2009-05-21", None), ("2009-05-22", None))
    ):
        gauge, model, base = _pairs(200, 0.7, 1.0, 10 + k)
        blend = gauge + np.random.default_rng(20 + k).normal(0, 1.2, gauge.size)
        series = {"gauge": gauge, "mlp1": model, "zr_mfb": base, "dualpol_blend": blend}
        rec = {"day": day}
        for est in E.ESTIMATORS:
            stats = sufficient_stats(series.get(est, model), gauge)
            owner = E.OWNERS[est]
            rec[est] = {
                **score_from_stats(stats),
                "stats": stats,
                "fallback": fallback if owner == "mlp1" else None,
            }
        rec["mlp1_pairs"] = {k: [round(float(v), 4) for v in s] for k, s in series.items()}
        if fallback is None:
            for key, values in rec["mlp1_pairs"].items():
                pooled[key].extend(values)
        atomic_write(rec, UPath(tmp_path / "storage" / "calibration_evaluation" / day))
    assert evaluate.main(["--start", "2009-05-20", "--end", "2009-05-22"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    versus = result["mlp1_vs_best_baseline"]
    expected = E.versus_best_baseline({k: np.asarray(v) for k, v in pooled.items()})
    assert versus["baseline"] == expected["baseline"] == "zr_mfb" and versus["n"] == 400
    assert versus["ratio"] == pytest.approx(expected["ratio"], abs=1e-4)
    assert versus["ci95"] == pytest.approx(expected["ci95"], abs=1e-4)
    assert result["zr_mfb"]["n"] == 400 and result["dualpol_blend"]["n"] == 400
    assert any(line.startswith("MLP-1 RMSE / best baseline (zr_mfb): ") for line in out)
