"""Provenance of a fused day: configuration hash, model versions and the rainfuse_* record."""

import hashlib
import json

import numpy as np
import pandas as pd
import xarray as xr

from fusion_ops.products.inputs import source_errors
from fusion_ops.products.pipeline import FusedDay
from fusion_ops.products.provenance import (
    chain_model_versions,
    configuration_hash,
    fusion_provenance,
)

SETTINGS = {"withheld_fraction": 0.2, "merge_sources": ["gr", "sat"]}
GRID = {"name": "kmlb", "grid_spacing_deg": 0.02}


def test_configuration_hash_is_a_short_sha256_of_the_sorted_json():
    digest = configuration_hash("0123456789ab", SETTINGS, GRID)
    text = json.dumps(
        {"rainfuse": "0123456789ab", "products": SETTINGS, "grid": GRID}, sort_keys=True
    )
    assert digest == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert digest == "d93f7191c222"  # pinned: products made before the refactor keep their hash


def test_configuration_hash_changes_with_every_part():
    base = configuration_hash("a", SETTINGS, GRID)
    assert configuration_hash("b", SETTINGS, GRID) != base
    assert configuration_hash("a", {**SETTINGS, "withheld_fraction": 0.3}, GRID) != base
    assert configuration_hash("a", SETTINGS, {**GRID, "name": "other"}) != base
    assert configuration_hash("a", dict(reversed(SETTINGS.items())), GRID) == base


def test_chain_model_versions_prefer_the_outputs_over_the_evaluation():
    gr = xr.Dataset(attrs={"model": "mlp1", "model_version": "mlp1-aaaa"})
    swath = pd.DataFrame({"lat": [28.0]})
    swath.attrs["model_versions"] = json.dumps({"mlp2": "mlp2-bbbb"})
    evaluation = {
        "mlp1": {"rmse": 1.2, "model_version": "mlp1-old"},
        "mlp3": {"rmse": 2.0, "model_version": "mlp3-cccc"},
        "notes": "not a model entry",
    }
    versions = chain_model_versions(evaluation, gr, swath, None)
    assert versions == {"mlp1": "mlp1-aaaa", "mlp2": "mlp2-bbbb", "mlp3": "mlp3-cccc"}
    assert chain_model_versions(None, gr) == {"mlp1": "mlp1-aaaa"}


def _fused_day() -> FusedDay:
    zeros = np.zeros((24, 2, 2))
    return FusedDay(
        day="2009-05-21",
        lat_deg=np.array([28.0, 28.02]),
        lon_deg=np.array([-81.0, -80.98]),
        hourly_mm_h=zeros,
        hourly_std_mm_h=zeros,
        hourly_flag=zeros.astype("uint8"),
        daily_mm=zeros[0],
        daily_std_mm=zeros[0],
        daily_flag=zeros[0].astype("uint8"),
        hours_observed=zeros[0].astype(int),
        merged_daily_mm=zeros[0],
        adjust_factor=np.ones((2, 2)),
        adjusted=True,
        n_adjusting_gauges=14,
        withheld=np.array([False, True]),
        excluded={"sat": "off the gauges"},
        error_origin={"gr": "gauges", "sr": "evaluation"},
        adjustment_method="multiply",
        adjustment_cv_rmse_mm={"multiply": 1.5, "none": 2.0},
    )


def test_fusion_provenance_records_the_fusion():
    errors = source_errors({"mlp1": {"rmse": 1.0}})
    provenance = fusion_provenance(
        _fused_day(),
        errors,
        {"mlp1": "v1"},
        ["asset:gr_rain_hourly/2009-05-21", "s3://b/gauges.parquet"],
        "abcdef012345",
        "auto",
        ["G002", "G007"],
        4.5,
    )
    assert provenance.model_versions == {"mlp1": "v1"}
    assert provenance.configuration_hash == "abcdef012345"
    assert provenance.software_version.startswith("rainfuse")
    attrs = provenance.attrs()
    assert json.loads(attrs["input_files"]) == [
        "asset:gr_rain_hourly/2009-05-21",
        "s3://b/gauges.parquet",
    ]
    assert json.loads(attrs["rainfuse_withheld_gauges"]) == ["G002", "G007"]
    assert json.loads(attrs["rainfuse_adjustment"]) == {
        "method": "multiply",
        "configured": "auto",
        "cv_rmse_mm": {"multiply": 1.5, "none": 2.0},
        "applied": True,
        "n_gauges": 14,
        "library": "wradlib.adjust",
    }
    assert json.loads(attrs["rainfuse_screening"]) == {"sat": "off the gauges"}
    error_model = json.loads(attrs["rainfuse_error_model"])
    assert error_model["origin"] == errors.origin
    assert error_model["weights_from"] == {"gr": "gauges", "sr": "evaluation"}
    assert error_model["sr_std_mm_h"] == errors.sr_std_mm_h
    assert error_model["sat_std_mm_h"] == errors.sat_std_mm_h
    assert attrs["rainfuse_sr_footprint_radius_km"] == "4.5"
    assert list(provenance.extra) == [
        "rainfuse_withheld_gauges",
        "rainfuse_adjustment",
        "rainfuse_screening",
        "rainfuse_error_model",
        "rainfuse_sr_footprint_radius_km",
    ]
