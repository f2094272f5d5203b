"""``rainfuse evaluate`` pools stored daily evaluations and ends with the exact JSON line."""

import json

import numpy as np
import pytest

from fusion_ops.calibration.evaluation import ESTIMATORS
from fusion_ops.scores import score_from_stats, sufficient_stats
from orchestration.commands import evaluate
from orchestration.runtime.io_managers import atomic_write

KEYS = [
    "mlp1",
    "zr_200_1.6",
    "zr_300_1.4",
    "zr_250_1.2",
    "zr_mfb",
    "dualpol_blend",
    "mlp2",
    "sr_standard",
    "mlp3",
    "tb_curve",
]


def _record(day, rng, fallback=None):
    rec = {"day": day}
    ref = rng.gamma(1.0, 3.0, 50)
    for est in ESTIMATORS:
        est_values = ref * rng.normal(1.0, 0.2 if est.startswith("mlp") else 0.5, ref.size)
        stats = sufficient_stats(est_values, ref)
        owner = (
            "mlp1"
            if est.startswith(("mlp1", "zr_"))
            else ("mlp2" if est in ("mlp2", "sr_standard") else "mlp3")
        )
        rec[est] = {
            **score_from_stats(stats),
            "stats": stats,
            "fallback": fallback if owner == "mlp1" else None,
        }
    return rec, ref


@pytest.fixture()
def stored(tmp_path, monkeypatch):
    from upath import UPath

    cfg = tmp_path / "rainfuse.yaml"
    cfg.write_text(f"storage: {{url: {tmp_path / 'storage'}}}\n")
    monkeypatch.setenv("RAINFUSE_CONFIG", str(cfg))
    rng = np.random.default_rng(0)
    records = {}
    for day, fb in (("2009-05-20", "zr_300_1.4"), ("2009-05-21", None), ("2009-05-22", None)):
        rec, _ = _record(day, rng, fb)
        records[day] = rec
        atomic_write(rec, UPath(tmp_path / "storage" / "calibration_evaluation" / day))
    return records


def test_last_line_is_the_exact_json_and_pools_held_out_days(stored, capsys):
    code = evaluate.main(["--start", "2009-05-20", "--end", "2009-05-23"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    result = json.loads(out[-1])
    assert list(result) == [*KEYS, "mlp1_vs_best_baseline"]
    assert all(set(result[k]) == {"rmse", "corr", "nbias", "n"} for k in KEYS)
    # MLP-1 (and its Z-R baselines) fell back on 05-20: pooled over 05-21 and 05-22 only
    assert result["mlp1"]["n"] == 100 and result["zr_300_1.4"]["n"] == 100
    assert result["mlp2"]["n"] == 150
    # pooling is exact: the same as scoring the concatenated pairs
    stats = {
        k: stored["2009-05-21"]["mlp2"]["stats"][k]
        + stored["2009-05-22"]["mlp2"]["stats"][k]
        + stored["2009-05-20"]["mlp2"]["stats"][k]
        for k in stored["2009-05-21"]["mlp2"]["stats"]
    }
    assert result["mlp2"]["rmse"] == pytest.approx(score_from_stats(stats)["rmse"], abs=1e-4)
    assert any("mlp1 held-out days" in line and "2009-05-21" in line for line in out)


def test_no_stored_evaluation_prints_nulls_and_fails(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "rainfuse.yaml"
    cfg.write_text(f"storage: {{url: {tmp_path / 'empty'}}}\n")
    monkeypatch.setenv("RAINFUSE_CONFIG", str(cfg))
    assert evaluate.main([]) == 1
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mlp1"] == {"rmse": None, "corr": None, "nbias": None, "n": 0}
