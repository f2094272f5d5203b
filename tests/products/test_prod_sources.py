"""A product records which sources it had: the era plan, what was merged, model capability."""

import json
from types import SimpleNamespace

import xarray as xr

from fusion_ops import eras
from fusion_ops.calibration.fitting import model_attrs
from fusion_ops.products.provenance import (
    MODEL_CAPABILITY_ATTR,
    SOURCES_ATTR,
    fusion_provenance,
    model_capabilities,
    sources_record,
)

KNOWN = ["KMLB"]


def test_2009_day_plans_no_abi_and_a_single_pol_radar():
    plan = eras.sources_available("2009-05-20", ["KMLB"], None, known_sites=KNOWN)
    rec = sources_record(plan, present=["gr", "sr"], excluded={}, n_gauges=40)
    assert rec["gauges"] == {"planned": True, "used": True, "reason": ""}
    assert rec["ground_radar"]["used"] and rec["ground_radar"]["capability"] == {"KMLB": "single"}
    assert rec["spaceborne"]["used"] and rec["spaceborne"]["radars"] == ["TRMM-PR"]
    sat = rec["satellite"]
    assert sat["planned"] is False and sat["used"] is False
    assert sat["reason"].startswith("not in the era: ")


def test_modern_day_plans_every_source_and_names_a_screened_one():
    plan = eras.sources_available("2021-05-20", ["KMLB"], "G16", known_sites=KNOWN)
    rec = sources_record(plan, ["gr", "sr", "sat"], {"sat": "bias 3.1 x the gauges"}, 40)
    assert rec["ground_radar"]["capability"] == {"KMLB": "dual"}
    assert rec["spaceborne"]["radars"] == ["GPM-DPR"]
    assert rec["satellite"]["planned"] is True and rec["satellite"]["platform"] == "G16"
    assert rec["satellite"]["used"] is False
    assert rec["satellite"]["reason"] == "screened out: bias 3.1 x the gauges"
    # planned but absent that day (no overpass) is told apart from "not in the era"
    rec = sources_record(plan, ["gr"], {}, 0)
    assert rec["spaceborne"]["reason"] == "no data that day"
    assert rec["gauges"]["used"] is False


def test_model_capability_recorded_from_the_chain_outputs():
    gr = xr.Dataset(attrs=model_attrs("mlp1", {"version": "fb-1", "fallback": "zr_250_1.2"}))
    sat = xr.Dataset(attrs=model_attrs("mlp3", {"version": "v3", "fallback": None}))
    assert model_capabilities(gr, sat) == {"mlp1": "single-pol"}


def test_provenance_attributes_are_json():
    # fusion_provenance reads these attributes of the day's fusion and error model only
    fused = SimpleNamespace(
        adjustment_method="none",
        adjustment_cv_rmse_mm=float("nan"),
        adjusted=False,
        n_adjusting_gauges=0,
        excluded={},
        error_origin="defaults",
    )
    errors = SimpleNamespace(origin="defaults", sr_std_mm_h=1.0, sat_std_mm_h=2.0)
    plan = eras.sources_available("2009-05-20", ["KMLB"], None, known_sites=KNOWN)
    sources = sources_record(plan, ["gr"], {}, 3)
    prov = fusion_provenance(
        fused, errors, {}, [], "abc", "auto", [], 5.0, {}, sources, {"mlp1": "single-pol"}
    )
    attrs = prov.attrs()
    assert json.loads(attrs[SOURCES_ATTR])["satellite"]["planned"] is False
    assert json.loads(attrs[MODEL_CAPABILITY_ATTR]) == {"mlp1": "single-pol"}


def test_a_network_without_its_source_in_the_era_is_not_a_cold_start():
    from fusion_ops.products.provenance import chain_fallbacks

    sat = xr.Dataset(attrs=model_attrs("mlp3", {"version": "fb-3", "fallback": "tb_curve"}))
    gr = xr.Dataset(attrs=model_attrs("mlp1", {"version": "v1", "fallback": None}))
    evaluation = {"mlp3": {"fallback": "tb_curve"}, "not_planned": {"mlp3": "no GOES-R ABI"}}
    assert chain_fallbacks(evaluation, gr, sat) == {}
    # planned but untrained: still a cold start
    assert chain_fallbacks({"mlp3": {"fallback": "tb_curve"}}, gr, sat) == {"mlp3": "tb_curve"}
