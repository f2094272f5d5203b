"""``rainfuse verify`` over several days (issue 20): the baselines per day and the ``pooled``
object, cold starts excluded and named."""

import json

import numpy as np
import pytest
from upath import UPath

from fusion_ops.products.uncertainty import uncertainty_scores
from fusion_ops.products.verification_record import pool_records, pooled_reliability_png
from fusion_ops.products.verify import rmse_difference_interval
from orchestration.cli import main as rainfuse
from orchestration.runtime.io_managers import atomic_write

DAYS = ("2009-05-20", "2009-05-21", "2009-05-22")
ESTIMATES = ["fused", "gr", "sr", "sat", "gr_adjusted", "gauge_only"]
POOLED_KEYS = [
    "rmse_gauges",
    "rmse_truth",
    "rmse_truth_beyond_150km",
    "coverage_1sigma",
    "coverage_2sigma",
    "crps",
]


def _compact(rmse):
    return {
        "rmse_truth": rmse,
        "rmse_gauges": rmse + 0.5,
        "bias_gauges": -0.2,
        "corr_gauges": 0.9,
        "csi_1mm": 0.8,
        "csi_10mm": 0.6,
        "rmse_truth_gr_coverage": rmse,
        "rmse_truth_beyond_150km": rmse + 1.0,
        "rmse_truth_blocked_sector": rmse + 2.0,
    }


def _record(day, seed, cold=False):
    """A verification record as this version writes it, with known gauge samples."""
    rng = np.random.default_rng(seed)
    n = 20
    gauge = rng.gamma(2.0, 5.0, n)
    offsets = {
        "fused": 1.0,
        "gr": 3.0,
        "sr": 6.0,
        "sat": 4.0,
        "gr_adjusted": 1.5,
        "gauge_only": 2.5,
    }
    samples = {"station_id": [f"G{i:02d}" for i in range(n)], "gauge_mm": gauge.tolist()}
    for name, spread in offsets.items():
        samples[name] = (gauge + spread * rng.standard_normal(n)).tolist()
    samples["sr"][:15] = [None] * 15  # the swath saw five gauges
    sigma = np.full(n, 1.0)
    samples["fused_sigma"] = sigma.tolist()

    def truth_entry(rmse):
        return {
            "truth": {"rmse": rmse, "n": 100},
            "truth_regions": {"beyond_150km": {"rmse": rmse + 1.0, "n": 10}},
        }

    rmse = {"fused": 2.0, "gr": 4.0, "sr": 9.0, "sat": 5.0, "gr_adjusted": 2.5, "gauge_only": 3.0}
    record = {
        "day": day,
        "summary": {name: _compact(rmse[name]) for name in ("fused", "gr", "sr", "sat")},
        "scores": {name: truth_entry(rmse[name]) for name in ("fused", "gr", "sr", "sat")},
        "failures": [],
        "quality_flag": "cold_start" if cold else "ok",
        "fallback_models": ["mlp1", "mlp2", "mlp3"] if cold else [],
        "baselines": {
            name: {
                "method": "add",
                "summary": _compact(rmse[name]),
                "scores": truth_entry(rmse[name]),
            }
            for name in ("gr_adjusted", "gauge_only")
        },
        "uncertainty": {
            "gauges": uncertainty_scores(samples["fused"], sigma, gauge),
            "truth": uncertainty_scores(np.zeros(50), np.ones(50), rng.standard_normal(50)),
        },
        "withheld_samples": samples,
    }
    return record


@pytest.fixture()
def records():
    return {
        DAYS[0]: _record(DAYS[0], 0, cold=True),
        DAYS[1]: _record(DAYS[1], 1),
        DAYS[2]: _record(DAYS[2], 2),
    }


def _column(records, name):
    out = []
    for day in DAYS[1:]:
        out += [np.nan if v is None else v for v in records[day]["withheld_samples"][name]]
    return np.asarray(out, float)


def test_pooled_scores_over_the_gauges_of_every_day(records):
    pooled = pool_records(records)
    assert list(pooled)[:8] == [*ESTIMATES, "fused_minus_gr_adjusted", "fused_minus_gauge_only"]
    for name in ESTIMATES:
        assert list(pooled[name]) == POOLED_KEYS
    gauge = _column(records, "gauge_mm")
    fused = _column(records, "fused")
    assert pooled["fused"]["rmse_gauges"] == pytest.approx(np.sqrt(np.mean((fused - gauge) ** 2)))
    sr = _column(records, "sr")
    ok = np.isfinite(sr)
    assert ok.sum() == 10
    assert pooled["sr"]["rmse_gauges"] == pytest.approx(np.sqrt(np.mean((sr[ok] - gauge[ok]) ** 2)))
    # truth: pooled exactly from each day's RMSE and count (every day 2.0 mm)
    assert pooled["fused"]["rmse_truth"] == pytest.approx(2.0)
    assert pooled["gauge_only"]["rmse_truth_beyond_150km"] == pytest.approx(4.0)
    # only the fused product has a sigma
    inside = np.abs(fused - gauge) <= 1.0
    assert pooled["fused"]["coverage_1sigma"] == pytest.approx(inside.mean())
    assert pooled["fused"]["crps"] > 0
    for name in ESTIMATES[1:]:
        assert pooled[name]["coverage_1sigma"] is pooled[name]["crps"] is None


def test_pooled_differences_are_paired_bootstraps_with_a_fixed_seed(records):
    pooled = pool_records(records)
    gauge, fused = _column(records, "gauge_mm"), _column(records, "fused")
    for key, baseline in (
        ("fused_minus_gr_adjusted", "gr_adjusted"),
        ("fused_minus_gauge_only", "gauge_only"),
    ):
        assert list(pooled[key]) == ["mean", "ci95"]
        expected = rmse_difference_interval(fused, _column(records, baseline), gauge, seed=0)
        assert pooled[key]["mean"] == pytest.approx(expected["difference_mm"])
        assert pooled[key]["ci95"] == [expected["low_mm"], expected["high_mm"]]
        low, high = pooled[key]["ci95"]
        assert low <= pooled[key]["mean"] <= high
    assert pool_records(records) == pooled  # reproducible


def test_cold_start_days_are_excluded_and_named(records):
    pooled = pool_records(records)
    assert pooled["days"] == list(DAYS[1:]) and pooled["excluded_cold_start"] == [DAYS[0]]
    assert "cold-start" in pooled["note"] and DAYS[0] in pooled["note"]
    assert pooled["gauge_samples"] == 40
    everything = pool_records({d: {**r, "quality_flag": "ok"} for d, r in records.items()})
    assert everything["gauge_samples"] == 60 and everything["note"] == "every day pooled"
    old = {d: {k: v for k, v in r.items() if k != "withheld_samples"} for d, r in records.items()}
    assert pool_records(old) is None
    assert pooled_reliability_png(records)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def storage(tmp_path, monkeypatch, records):
    config = tmp_path / "rainfuse.yaml"
    config.write_text(
        f"storage: {{url: {tmp_path / 'storage'}}}\npartitions: {{start_date: '2009-05-20'}}\n"
    )
    monkeypatch.setenv("RAINFUSE_CONFIG", str(config))
    base = UPath(str(tmp_path / "storage")) / "product_verification"
    for day, record in records.items():
        atomic_write(record, base / day)
    return tmp_path


def test_verify_json_has_the_baselines_per_day_and_pooled(storage, capsys):
    png = storage / "reliability.png"
    code = rainfuse(["verify", "--start", DAYS[0], "--end", DAYS[2], "--reliability-png", str(png)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    result = json.loads(out[-1])
    assert list(result) == [*DAYS, "pooled"]
    for day in DAYS:
        assert list(result[day]) == [*ESTIMATES, "cold_start"]
        assert list(result[day]["gr_adjusted"]) == list(_compact(1.0))
    assert result[DAYS[0]]["cold_start"] is True and result[DAYS[1]]["cold_start"] is False
    pooled = result["pooled"]
    for name in ESTIMATES:
        assert list(pooled[name]) == POOLED_KEYS
    assert set(pooled["fused_minus_gauge_only"]) == {"mean", "ci95"}
    assert pooled["excluded_cold_start"] == [DAYS[0]]
    table = "\n".join(out[:-1])
    assert "GR gauge-adjusted" in table and "gauge-only kriging" in table
    assert "pooled withheld gauge-days" in table and "cold-start day(s) excluded" in table
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
