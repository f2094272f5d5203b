"""Drop-size physics of the simulator, measured against real disdrometer data (issue 19).

At the point-and-minute scale of ARM's laser disdrometers (``../shared/data/dsd``: 1-minute
DSDs at Bankhead National Forest, M1 and S30, 2025-06-19) the radar moments leave part of the
rain undetermined. The same least-squares fits in log space are computed on the real minutes
(rain > 0.1 mm/h) and on a large sample of wet pixels of one simulated day (1 km, one minute):

* best power law R(Z): ln R = a + b ln Z;
* R(Z, ZDR): ln R = a + b ln Z + c ZDR[dB] (a power law in Z and linear ZDR);
* R(KDP), where KDP > 0.05 deg/km: ln R = a + b ln KDP.

Both are printed (``pytest -s``); the simulator must leave a scatter like the real one, and no
formula of its own moments may give the rain back better than log-RMS 0.15.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import xarray as xr
from scipy.spatial import cKDTree

from fusion_ops.simulate import dsd
from fusion_ops.simulate.domain import Domain
from fusion_ops.simulate.truth import TruthConfig, TruthModel, column_profile

#: The README of ../shared/data (section dsd/): wet minutes, log-RMS of the fits, parameters.
README = {
    "M1": {
        "wet": 214,
        "rain_mm": 18.8,
        "r_z": 0.445,
        "r_z_zdr": 0.197,
        "r_kdp": 0.180,
        "n_kdp": 45,
        "d0_median_mm": 1.32,
        "log10_nw_median": 3.11,
        "log10_nw_sd": 0.61,
        "mu_median": 5.9,
    },
    "S30": {
        "wet": 190,
        "rain_mm": 9.4,
        "r_z": 0.453,
        "r_z_zdr": 0.228,
        "r_kdp": 0.199,
        "n_kdp": 39,
        "d0_median_mm": 1.10,
        "log10_nw_median": 3.32,
        "log10_nw_sd": 0.58,
        "mu_median": 6.2,
    },
}
WET_MM_H = 0.1
KDP_MIN_DEG_KM = 0.05
#: One simulated day of the default scenario (seed 0, the demo's first day) on a 200 km box.
SIM_DAY = datetime(2021, 5, 20, tzinfo=UTC)
SIM_DOMAIN = Domain(width_km=200.0, height_km=200.0, margin_km=60.0)


def _ls_log_rms(columns: list[np.ndarray], y: np.ndarray) -> float:
    """RMS of the residual of a least-squares fit of ``y`` on ``[1, *columns]``."""
    a = np.column_stack([np.ones(y.size), *columns])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(np.sqrt(np.mean((y - a @ coef) ** 2)))


def _fits(rain: np.ndarray, dbz: np.ndarray, zdr: np.ndarray, kdp: np.ndarray) -> dict:
    """Natural-log RMS of the three fitted relations (and how many minutes R(KDP) used)."""
    lr = np.log(rain)
    lz = dbz * np.log(10.0) / 10.0
    k = kdp > KDP_MIN_DEG_KM
    return {
        "r_z": _ls_log_rms([lz], lr),
        "r_z_zdr": _ls_log_rms([lz, zdr], lr),
        "r_kdp": _ls_log_rms([np.log(kdp[k])], lr[k]),
        "n_kdp": int(k.sum()),
    }


def _knn_log_rms(features: np.ndarray, y: np.ndarray, k: int = 16) -> float:
    """Residual of the nearest-neighbour mean of ``y`` (leave-one-out): the best any formula of
    the features can do, up to the neighbourhood's size."""
    x = (features - features.mean(axis=0)) / features.std(axis=0)
    _, idx = cKDTree(x).query(x, k + 1)
    pred = y[idx[:, 1:]].mean(axis=1)
    return float(np.sqrt(np.mean((y - pred) ** 2)))


@pytest.fixture(scope="module")
def real(shared_data) -> dict[str, dict[str, np.ndarray]]:
    """The wet minutes of both disdrometers."""
    out = {}
    for site in README:
        path = shared_data / "dsd" / f"bnfldquants{site}.c1.20250619.000000.nc"
        with xr.open_dataset(path) as ds:
            rain = ds["rain_rate"].values.astype(np.float64)
            wet = rain > WET_MM_H
            out[site] = {
                "rain": rain[wet],
                "dbz": ds["reflectivity_factor_sband20c"].values[wet].astype(np.float64),
                "zdr": ds["differential_reflectivity_sband20c"].values[wet].astype(np.float64),
                "kdp": ds["specific_differential_phase_sband20c"].values[wet].astype(np.float64),
                "d0": ds["med_diameter"].values[wet].astype(np.float64),
                "log10_nw": np.log10(ds["norm_num_concen"].values[wet].astype(np.float64)),
                "mu": ds["gammapsd_shape"].values[wet].astype(np.float64),
            }
    return out


@pytest.fixture(scope="module")
def simulated() -> dict[str, np.ndarray]:
    """Wet pixels (rain > 0.1 mm/h) of one simulated day: the surface DSD and its moments.

    The truth state every 30 minutes; at most 500 wet pixels of each (fixed seed), about 24,000
    in all. The moments come through :func:`column_profile` at the surface, as the radar
    observer sees them.
    """
    truth = TruthModel(TruthConfig(seed=0, domain=SIM_DOMAIN))
    rng = np.random.default_rng(19)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("rain", "dbz", "zdr", "kdp", "d0", "log10_nw", "mu", "cf")
    }
    for k in range(48):
        st = truth.state(SIM_DAY + timedelta(minutes=30 * k + 7))
        jj, ii = np.nonzero(st.rain_mm_h > WET_MM_H)
        if jj.size == 0:
            continue
        pick = rng.choice(jj.size, min(500, jj.size), replace=False)
        cols = st.take((jj[pick], ii[pick]))
        p = column_profile(cols, np.zeros(pick.size, np.float32))
        parts["rain"].append(cols.rain_mm_h)
        parts["dbz"].append(10 * np.log10(p["z_lin"]))
        parts["zdr"].append(p["zdr_db"])
        parts["kdp"].append(p["kdp_deg_km"])
        parts["d0"].append(cols.d0_mm)
        parts["log10_nw"].append(cols.log10_nw)
        parts["mu"].append(cols.mu)
        parts["cf"].append(cols.convective_fraction)
    return {k: np.concatenate(v).astype(np.float64) for k, v in parts.items()}


def test_real_disdrometer_files_reproduce_the_readme(real):
    for site, facts in README.items():
        m = real[site]
        f = _fits(m["rain"], m["dbz"], m["zdr"], m["kdp"])
        print(
            f"\n{site}: {m['rain'].size} wet minutes, R(Z) {f['r_z']:.3f}, "
            f"R(Z,ZDR) {f['r_z_zdr']:.3f}, R(KDP) {f['r_kdp']:.3f} ({f['n_kdp']} min), "
            f"D0 {np.median(m['d0']):.2f} mm, log10 Nw {np.median(m['log10_nw']):.2f} "
            f"(sd {m['log10_nw'].std():.2f}), mu {np.median(m['mu']):.1f}"
        )
        assert m["rain"].size == facts["wet"]
        assert m["rain"].sum() / 60.0 == pytest.approx(facts["rain_mm"], abs=0.05)
        for key in ("r_z", "r_z_zdr", "r_kdp"):
            assert f[key] == pytest.approx(facts[key], abs=0.01), (site, key)
        assert f["n_kdp"] == facts["n_kdp"]
        assert np.median(m["d0"]) == pytest.approx(facts["d0_median_mm"], abs=0.01)
        assert np.median(m["log10_nw"]) == pytest.approx(facts["log10_nw_median"], abs=0.01)
        assert m["log10_nw"].std() == pytest.approx(facts["log10_nw_sd"], abs=0.01)
        assert np.median(m["mu"]) == pytest.approx(facts["mu_median"], abs=0.1)


def test_simulator_scatter_matches_the_disdrometers(simulated, request):
    s = simulated
    sim = _fits(s["rain"], s["dbz"], s["zdr"], s["kdp"])
    conv = s["cf"] > 0.5
    k = (s["kdp"] > KDP_MIN_DEG_KM) & conv
    sim_kdp_conv = _ls_log_rms([np.log(s["kdp"][k])], np.log(s["rain"][k]))
    rows = [("simulator", sim)]
    try:
        real = request.getfixturevalue("real")
        rows += [(site, _fits(m["rain"], m["dbz"], m["zdr"], m["kdp"])) for site, m in real.items()]
    except pytest.skip.Exception:
        pass
    print("\nlog-RMS of the best fits    R(Z)   R(Z,ZDR)  R(KDP) (n, KDP > 0.05)")
    for name, f in rows:
        print(f"{name:26s} {f['r_z']:.3f}  {f['r_z_zdr']:.3f}     {f['r_kdp']:.3f} ({f['n_kdp']})")
    print(f"simulator, R(KDP) on convective pixels only: {sim_kdp_conv:.3f} ({int(k.sum())})")
    assert s["rain"].size > 15_000
    assert 0.35 <= sim["r_z"] <= 0.55
    assert 0.15 <= sim["r_z_zdr"] <= 0.30
    # Comparable to the real 0.18-0.20: the simulated day mixes convective cores with heavy
    # stratiform rain (larger drops at the same rain rate), the real day was convective there.
    assert 0.12 <= sim["r_kdp"] <= 0.35 and sim["n_kdp"] > 1000
    assert 0.12 <= sim_kdp_conv <= 0.26
    # The polarimetric relation is much tighter than R(Z), as in the real data.
    assert sim["r_z_zdr"] < 0.7 * sim["r_z"]


def test_simulator_dsd_parameters_in_the_real_ranges(simulated):
    s = simulated
    d0, nw, mu = np.median(s["d0"]), np.median(s["log10_nw"]), np.median(s["mu"])
    sd = s["log10_nw"].std()
    print(
        f"\nsimulator: D0 median {d0:.2f} mm (ln sd {np.log(s['d0']).std():.2f}), "
        f"log10 Nw median {nw:.2f} (sd {sd:.2f}), mu median {mu:.1f}"
    )
    assert 1.1 <= d0 <= 1.3  # real 1.10 (S30) and 1.32 (M1)
    assert 3.1 <= nw <= 3.3  # real 3.11 and 3.32
    assert 0.5 <= sd <= 0.7  # real 0.58 and 0.61
    assert 5.0 <= mu <= 7.0  # real 5.9 and 6.2
    # Heavy convective rain falls in Bringi et al. (2003)'s maritime cluster.
    heavy = (s["rain"] > 8.0) & (s["cf"] > 0.5)
    assert 1.3 <= np.median(s["d0"][heavy]) <= 2.0
    assert 3.5 <= np.median(s["log10_nw"][heavy]) <= 4.5


def test_no_formula_of_the_simulated_moments_recovers_the_rain(simulated):
    s = simulated
    lr = np.log(s["rain"])
    lz = s["dbz"] * np.log(10.0) / 10.0
    zdr = s["zdr"]
    quadratic = _ls_log_rms([lz, zdr, zdr**2, lz**2, lz * zdr], lr)
    log_zdr = np.log(np.maximum(zdr, 1e-3))
    quadratic_log = _ls_log_rms([lz, log_zdr, log_zdr**2, lz**2, lz * log_zdr], lr)
    knn = _knn_log_rms(np.column_stack([s["dbz"], zdr]), lr)
    k = s["kdp"] > KDP_MIN_DEG_KM
    knn3 = _knn_log_rms(np.column_stack([s["dbz"][k], zdr[k], np.log(s["kdp"][k])]), lr[k])
    print(
        f"\nsimulator, best formulas of the moments: quadratic in (ln Z, ZDR) {quadratic:.3f}, "
        f"in (ln Z, ln ZDR) {quadratic_log:.3f}, nearest-neighbour mean in (Z, ZDR) {knn:.3f}, "
        f"in (Z, ZDR, KDP) where KDP > 0.05 {knn3:.3f}"
    )
    for value in (quadratic, quadratic_log, knn, knn3):
        assert value >= 0.15


# ---------------------------------------------------------------------------- the physics
def test_permittivity_and_the_rayleigh_limits():
    eps = dsd.water_permittivity_liebe(2.8, 20.0)
    assert eps.real == pytest.approx(78.1, abs=0.5) and eps.imag == pytest.approx(12.0, abs=0.5)
    k2 = abs((eps - 1) / (eps + 2)) ** 2
    assert k2 == pytest.approx(0.93, abs=0.005)
    lh, lv = dsd.spheroid_depolarization(np.array([1.0, 0.7]))
    assert lh[0] == pytest.approx(1 / 3, abs=1e-4) and lv[0] == pytest.approx(1 / 3, abs=1e-4)
    assert lv[1] > 1 / 3 > lh[1]
    assert 2 * lh[1] + lv[1] == pytest.approx(1.0)
    # Brandes et al. (2002): nearly spherical below 1 mm, 0.94 at 2 mm, 0.72 at 5 mm.
    r = dsd.axis_ratio_brandes(np.array([0.5, 2.0, 5.0]))
    np.testing.assert_allclose(r, [0.999, 0.938, 0.717], atol=0.005)
    v = dsd.terminal_velocity_brandes_ms(np.array([1.0, 2.0, 5.0]))
    np.testing.assert_allclose(v, [3.95, 6.5, 9.1], atol=0.2)


def test_moments_of_an_exponential_dsd():
    """Marshall-Palmer (N0 = 8000, Lambda = 4.1 R^-0.21) at 10 mm/h, against closed forms."""
    d, dd = dsd.diameter_bins_mm()
    lam = 4.1 * 10.0**-0.21
    m = dsd.spectrum_moments(8000.0 * np.exp(-lam * d), d, dd)
    # Sixth moment N0 6!/Lambda^7: oblate drops give more at horizontal polarisation (about
    # +0.5 dB), less at vertical.
    z6 = 8000.0 * 720.0 / lam**7
    assert z6 < m.z_h_mm6_m3 < 1.2 * z6 and m.z_v_mm6_m3 < z6
    assert m.rain_mm_h == pytest.approx(10.0, rel=0.25)
    assert 0.8 < float(m.zdr_db) < 2.0
    # KDP with Brandes shapes: below the classic R = 40.5 KDP^0.85 of equilibrium shapes.
    classic = (float(m.rain_mm_h) / 40.5) ** (1 / 0.85)
    assert 0.5 * classic < float(m.kdp_deg_km) < classic


def test_moment_table_matches_the_quadrature():
    rng = np.random.default_rng(0)
    d0 = np.exp(rng.uniform(np.log(0.35), np.log(3.5), 500))
    mu = rng.uniform(0.0, 20.0, 500)
    d, dd = dsd.diameter_bins_mm()
    n = dsd.normalized_gamma_per_mm_m3(d[None, :], 1.0, d0[:, None], mu[:, None])
    exact = dsd.spectrum_moments(n, d, dd)
    table = dsd.unit_moments(d0, mu)
    for a, b in (
        (exact.z_h_mm6_m3, table.z_h_mm6_m3),
        (exact.kdp_deg_km, table.kdp_deg_km),
        (exact.rain_mm_h, table.rain_mm_h),
    ):
        np.testing.assert_allclose(b, a, rtol=5e-3)
    np.testing.assert_allclose(table.zdr_db, exact.zdr_db, atol=0.01)
    # The normalisation: Nw is the water content's intercept, so W = pi rho_w Nw D0^4 / 3.67^4.
    w_g_m3 = (np.pi / 6) * 1e-3 * (n * dd) @ d**3
    np.testing.assert_allclose(w_g_m3, np.pi * 1e-3 * d0**4 / 3.67**4, rtol=0.03)


def test_nw_is_solved_for_the_truth_rain():
    rng = np.random.default_rng(1)
    rain = rng.lognormal(0.0, 1.3, 2000)
    cf = rng.random(2000)
    f = dsd.sample_point_dsd(rng, rain, cf, np.full(2000, 250.0), np.full(2000, 1.4))
    main = dsd.gamma_moments(f.nw_per_mm_m3, f.d0_mm, f.mu)
    np.testing.assert_allclose(main.rain_mm_h, rain * (1 - f.small_share), rtol=1e-5)
    np.testing.assert_allclose(f.rain_mm_h, rain, rtol=1e-6)
    # Z and ZDR are those of the two modes together; the small mode barely adds to Z.
    assert np.all(f.z_h_mm6_m3 >= main.z_h_mm6_m3)
    assert np.median(f.z_h_mm6_m3 / main.z_h_mm6_m3) < 1.05
    # The mean D0 follows the Z-R relation it was given.
    assert np.median(f.d0_mm[rain > 5]) > np.median(f.d0_mm[rain < 0.5]) + 0.2


def test_truth_state_carries_the_dsd():
    truth = TruthModel(TruthConfig(seed=0, domain=SIM_DOMAIN))
    st = truth.state(SIM_DAY + timedelta(hours=19))
    wet = st.rain_mm_h > 0
    assert wet.sum() > 1000
    for name in ("d0_mm", "mu", "log10_nw", "z_per_rain", "zdr_rain_db", "kdp_per_rain"):
        v = getattr(st, name)
        assert np.isfinite(v[wet]).all() and np.isnan(v[~wet]).all(), name
    # The DSD reproduces the truth rain and its moments.
    m = dsd.gamma_moments(10 ** st.log10_nw[wet], st.d0_mm[wet], st.mu[wet])
    np.testing.assert_allclose(
        m.rain_mm_h / (1 - st.small_share[wet]), st.rain_mm_h[wet], rtol=1e-3
    )
    # Spatially smooth: neighbouring wet cells have close D0 (correlation of ln D0 > 0.8).
    both = wet[:, 1:] & wet[:, :-1]
    a, b = np.log(st.d0_mm[:, 1:][both]), np.log(st.d0_mm[:, :-1][both])
    assert np.corrcoef(a, b)[0, 1] > 0.8
    # ZDR is no function of the rain rate: at the same rain, it spreads.
    band = wet & (st.rain_mm_h > 4) & (st.rain_mm_h < 6)
    assert st.zdr_rain_db[band].std() > 0.15
    # rain_only skips the drops (and the clouds).
    fast = truth.state(SIM_DAY + timedelta(hours=19), rain_only=True)
    np.testing.assert_array_equal(fast.rain_mm_h, st.rain_mm_h)
    assert np.isnan(fast.d0_mm).all()
