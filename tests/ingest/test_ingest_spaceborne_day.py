"""A day of 2A granules: footprints joined in granule order, tagged with their file; summary."""

from __future__ import annotations

import numpy as np
import pytest

from fusion_ops.readers.spaceborne import (
    concat_granules,
    empty_footprints,
    footprint_figures,
    read_2a,
    read_2a_day,
)

KU7 = "2A.GPM.Ku.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
V05 = "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5"


@pytest.fixture(scope="module")
def ku(shared_data):
    return read_2a(str(shared_data / "spaceborne" / KU7))


def test_concat_keeps_granule_order_and_length(ku):
    first, second = ku.isel(footprint=slice(60, 100)), ku.isel(footprint=slice(0, 60))
    out = concat_granules(
        [("s3://b/day/g2.HDF5", first), ("/x/empty.HDF5", empty_footprints()), ("g1.HDF5", second)]
    )
    assert out.sizes["footprint"] == 100
    assert list(out["granule"].values[:40]) == ["g2.HDF5"] * 40
    assert list(out["granule"].values[40:]) == ["g1.HDF5"] * 60
    np.testing.assert_array_equal(out["scan"].values[:40], ku["scan"].values[60:])
    np.testing.assert_array_equal(out["zku_dbz"].values[40:], ku["zku_dbz"].values[:60])
    assert out.attrs == {}  # granule attributes (swath, version) do not survive the join


def test_concat_of_no_footprints_is_empty_with_granule():
    for granules in ([], [("a.HDF5", empty_footprints())]):
        out = concat_granules(granules)
        assert out.sizes["footprint"] == 0 and "granule" in out.coords
        assert set(out.data_vars) == set(empty_footprints().data_vars)


def test_read_2a_day_quarantines_bad_granules(shared_data, tmp_path):
    sb = shared_data / "spaceborne"
    bad = tmp_path / "empty.HDF5"
    bad.write_bytes(b"")
    urls = [str(sb / KU7), str(bad), str(sb / V05)]
    bbox = (-90.0, 90.0, -180.0, 180.0)
    out, n_granules, quarantine = read_2a_day(urls, bbox)
    assert n_granules == 2 and [q.file for q in quarantine] == [str(bad)]
    n_ku = read_2a(urls[0], bbox).sizes["footprint"]
    n_v05 = read_2a(urls[2], bbox).sizes["footprint"]
    assert out.sizes["footprint"] == n_ku + n_v05
    assert set(out["granule"].values) == {KU7, V05}
    # a bbox without footprints: an empty day, still read
    out, n_granules, quarantine = read_2a_day(urls[:1], (0.0, 0.1, 0.0, 0.1), {})
    assert out.sizes["footprint"] == 0 and n_granules == 1 and quarantine == []


def _counts(ds):
    figures = footprint_figures(ds)
    return figures["raining_footprints"], figures["max_rate_mm_h"]


def test_footprint_figures(ku):
    rate = ku["precip_rate_near_surface_mm_h"].values
    figures = footprint_figures(ku)
    assert list(figures) == ["footprints", "raining_footprints", "max_rate_mm_h"]
    assert figures["footprints"] == ku.sizes["footprint"]
    assert figures["raining_footprints"] == int(np.nansum(rate > 0))
    assert figures["max_rate_mm_h"] == (float(np.nanmax(rate)) if np.isfinite(rate).any() else 0.0)
    assert footprint_figures(empty_footprints()) == {
        "footprints": 0,
        "raining_footprints": 0,
        "max_rate_mm_h": 0.0,
    }
    dry = ku.isel(footprint=slice(0, 3)).copy()
    dry["precip_rate_near_surface_mm_h"][:] = np.nan
    assert _counts(dry) == (0, 0.0)
    wet = ku.isel(footprint=slice(0, 3)).copy()
    wet["precip_rate_near_surface_mm_h"].values[:] = [0.0, 2.5, np.nan]
    assert _counts(wet) == (1, 2.5)
