"""Input features of the three networks, built the same way for training samples and for maps.

Names are fixed so a trained spec can be applied to any later day:

* MLP-1: ``dbz_h{height_m:05d}``, ``zdr_h...``, ``kdp_h...`` at :data:`PROFILE_HEIGHTS_M` above the
  radar, ``range_km`` and ``beam_height_km`` (centre of the 0.5 degree beam at that range, 4/3 earth,
  from wradlib) so that the network can learn how the profile above a point relates to the rain
  below it at each distance;
* MLP-2: ``zku_h...`` (SR attenuation-corrected Ku reflectivity at the same heights), one-hot
  precipitation type, bright-band height, clutter-free bottom height, local zenith angle;
* MLP-3: the ABI features present on the product grid (brightness temperatures, reflectances,
  solar zenith angle), by name.

NaN means "no valid echo" for reflectivity (filled with :data:`NO_ECHO_DBZ`) and "unknown" for the
polarimetric moments (filled with 0, their rain-free value). A window whose samples come mostly
from a single-pol radar (:func:`has_polarimetric_data`) trains MLP-1 on the reflectivity levels,
range and beam height only (``mlp1_spec(polarimetric=False)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fusion_ops.calibration.models import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

PROFILE_HEIGHTS_M: tuple[int, ...] = tuple(range(500, 8001, 500))
NO_ECHO_DBZ = -10.0
LOWEST_ELEVATION_DEG = 0.5
#: Ground-radar coverage used for training and maps (beyond it the lowest beam is above 3 km).
MAX_GR_RANGE_KM = 200.0
SR_TYPE_CODES = {1: "stratiform", 2: "convective", 3: "other"}


def level_names(prefix: str, heights_m: tuple[int, ...] = PROFILE_HEIGHTS_M) -> list[str]:
    return [f"{prefix}_h{int(h):05d}" for h in heights_m]


def beam_height_km(range_km: np.ndarray, elevation_deg: float = LOWEST_ELEVATION_DEG) -> np.ndarray:
    """Height (km above the site) of the beam centre at ground range ``range_km`` (4/3 earth)."""
    # imported here: the specs below are needed where wradlib is not (a bare GPU worker)
    import wradlib

    r = np.asarray(range_km, dtype=np.float64) * 1000.0
    return wradlib.georef.bin_altitude(r, elevation_deg, 0.0, re=6_371_000.0, ke=4.0 / 3.0) / 1e3


#: The fixed estimators the networks start from and correct (see ``ModelSpec.prior``).
MLP1_PRIOR = "zr:250:1.2"
MLP2_PRIOR = "column:precip_rate_near_surface_mm_h"
MLP3_PRIOR = "tb:bt_c14"


#: The polarimetric feature prefixes of MLP-1 (absent on a single-pol radar).
POLARIMETRIC_PREFIXES = ("zdr", "kdp")


def mlp1_spec(
    hidden: tuple[int, ...] = (64, 64), prior: str = MLP1_PRIOR, polarimetric: bool = True
) -> ModelSpec:
    """MLP-1's features; ``polarimetric=False``: reflectivity only (a single-pol radar's model)."""
    prefixes = ("dbz", *POLARIMETRIC_PREFIXES) if polarimetric else ("dbz",)
    names = [n for prefix in prefixes for n in level_names(prefix)]
    fills = [NO_ECHO_DBZ] * len(PROFILE_HEIGHTS_M)
    fills += [0.0] * (len(names) - len(fills))
    names += ["range_km", "beam_height_km"]
    fills += [MAX_GR_RANGE_KM, 3.0]
    return ModelSpec("mlp1", tuple(names), tuple(fills), hidden, prior)


def mlp2_spec(hidden: tuple[int, ...] = (64, 64), prior: str = MLP2_PRIOR) -> ModelSpec:
    names = level_names("zku")
    fills = [NO_ECHO_DBZ] * len(names)
    names += [f"type_{t}" for t in SR_TYPE_CODES.values()]
    fills += [0.0] * len(SR_TYPE_CODES)
    names += ["bright_band_height_km", "clutter_free_bottom_km", "local_zenith_deg"]
    fills += [0.0, 1.0, 0.0]
    names += ["precip_rate_near_surface_mm_h"]
    fills += [0.0]
    return ModelSpec("mlp2", tuple(names), tuple(fills), hidden, prior)


#: ABI features MLP-3 uses when present (names of the ingest's hourly features: band means
#: ``bt_cNN`` in K and ``refl_cNN`` in %, the hour's coldest window BT, two BT differences; plus
#: the solar zenith angle added here); missing ones are NaN-filled with these values.
ABI_FEATURE_FILLS: dict[str, float] = {
    **{f"bt_c{b:02d}": 290.0 for b in range(7, 17)},
    "bt_c13_min": 290.0,
    "btd_c08_c13": -40.0,
    "btd_c14_c15": 1.0,
    **{f"refl_c{b:02d}": 0.0 for b in range(1, 7)},
    "solar_zenith_deg": 120.0,
}
#: The band of the fixed Tb-rain curve (11.2 um).
TB_CURVE_BAND = "bt_c14"


def mlp3_spec(
    feature_names: list[str], hidden: tuple[int, ...] = (64, 64), prior: str = MLP3_PRIOR
) -> ModelSpec:
    """Spec over the ABI features available (in the fixed order of :data:`ABI_FEATURE_FILLS`)."""
    names = [n for n in ABI_FEATURE_FILLS if n in set(feature_names)]
    if not any(n.startswith("bt_c") for n in names):
        raise ValueError(
            f"mlp3: no ABI brightness-temperature feature among {sorted(feature_names)}; expected "
            f"names like {list(ABI_FEATURE_FILLS)[:3]}"
        )
    if prior and prior.partition(":")[2] not in names:
        prior = ""  # no band 14: the network starts from scratch
    return ModelSpec(
        "mlp3", tuple(names), tuple(ABI_FEATURE_FILLS[n] for n in names), hidden, prior
    )


#: Share of MLP-1 sample rows with a finite ZDR or KDP from which a window trains the dual-pol
#: network (a window across a site's upgrade follows the radar most of its rows came from).
MIN_POLARIMETRIC_SHARE = 0.5


def has_polarimetric_data(table, min_share: float = MIN_POLARIMETRIC_SHARE) -> bool:
    """Whether at least ``min_share`` of the MLP-1 sample rows carry a finite ZDR or KDP."""
    cols = [c for c in table.columns if c.split("_h")[0] in POLARIMETRIC_PREFIXES]
    if not cols or len(table) == 0:
        return False
    finite = np.isfinite(table[cols].to_numpy(dtype=np.float64)).any(axis=1)
    return bool(finite.mean() >= min_share)


def mlp1_capability(features: tuple[str, ...] | list[str]) -> str:
    """``"dual-pol"`` when a model's features include ZDR/KDP, else ``"single-pol"``."""
    polarimetric = any(f.split("_h")[0] in POLARIMETRIC_PREFIXES for f in features)
    return "dual-pol" if polarimetric else "single-pol"


def correct_gr_features(table, reflectivity_db: float = 0.0, zdr_db: float = 0.0):
    """MLP-1's GR features with calibration offsets removed (``dbz_h* - reflectivity_db``,
    ``zdr_h* - zdr_db``; the offsets of :func:`fusion_ops.calibration.monitoring.
    corrections_to_apply`, measured minus true).

    ``table`` is a DataFrame or a mapping of columns; a copy is returned with the shifted
    columns (NaN stays NaN), or ``table`` itself when both offsets are 0 (nothing applied).
    """
    offsets = {"dbz": float(reflectivity_db), "zdr": float(zdr_db)}
    if not any(offsets.values()):
        return table
    out = table.copy()
    for prefix, offset in offsets.items():
        for name in level_names(prefix):
            if offset and name in out:
                values = np.asarray(out[name])
                dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
                out[name] = (values.astype(dtype) - dtype.type(offset)).astype(dtype)
    return out


def matrix(table, spec: ModelSpec) -> np.ndarray:
    """Feature matrix ``(n, n_features)`` from a DataFrame or mapping of columns; absent = NaN."""
    n = len(next(iter(table.values()))) if isinstance(table, dict) else len(table)
    out = np.full((n, len(spec.features)), np.nan, dtype=np.float32)
    for j, name in enumerate(spec.features):
        if name in table:
            out[:, j] = np.asarray(table[name], dtype=np.float32)
    return out


def solar_zenith_deg(time, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Solar zenith angle (degrees) at ``time`` (UTC) for cells ``lat, lon`` (pyorbital)."""
    import pandas as pd
    from pyorbital.astronomy import sun_zenith_angle

    t = (
        pd.Timestamp(np.asarray(time).reshape(-1)[0])
        if not isinstance(time, str)
        else pd.Timestamp(time)
    )
    t = (t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t).to_pydatetime()
    return np.asarray(sun_zenith_angle(t, np.asarray(lon), np.asarray(lat)), dtype=np.float32)


def solar_zenith_of_rows(rows: pd.DataFrame) -> np.ndarray:
    """Solar zenith angle (degrees, float32) of every row of a table.

    Parameters
    ----------
    rows : ``time`` (UTC), ``lat`` and ``lon`` (degrees) columns.

    Returns
    -------
    numpy.ndarray
        One angle per row (one :func:`solar_zenith_deg` call per distinct time).
    """
    lat, lon = rows["lat"].to_numpy(), rows["lon"].to_numpy()
    out = np.empty(len(rows), dtype=np.float32)
    for t, idx in rows.groupby("time").indices.items():
        out[idx] = solar_zenith_deg(t, lat[idx], lon[idx])
    return out


def lowest_valid(values: np.ndarray) -> np.ndarray:
    """First finite value along the last axis (NaN where none): the lowest valid level."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    idx = np.argmax(finite, axis=-1)
    out = np.take_along_axis(values, idx[..., None], axis=-1)[..., 0]
    return np.where(finite.any(axis=-1), out, np.nan)
