"""Fixed reflectivity-rain (Z-R) relations, the baselines MLP-1 must beat.

``Z = a R^b`` with Z in mm^6 m^-3 and R in mm/h. The three relations of the study:

* ``zr_200_1.6``: Marshall-Palmer (stratiform);
* ``zr_300_1.4``: WSR-88D convective default;
* ``zr_250_1.2``: tropical (Rosenfeld).

The conversion itself is wradlib's :func:`wradlib.zr.z_to_r`.
"""

from __future__ import annotations

import numpy as np
import wradlib

#: name -> (a, b); the names are the keys of the evaluation JSON.
ZR_RELATIONS: dict[str, tuple[float, float]] = {
    "zr_200_1.6": (200.0, 1.6),
    "zr_300_1.4": (300.0, 1.4),
    "zr_250_1.2": (250.0, 1.2),
}

#: Below this reflectivity a gate is treated as no rain (noise, drizzle, clear-air echo).
MIN_RAIN_DBZ = 10.0
#: Reflectivity cap against hail contamination (the WSR-88D precipitation algorithm uses 53 dBZ).
HAIL_CAP_DBZ = 53.0


def rain_rate_from_dbz(
    dbz: np.ndarray,
    a: float,
    b: float,
    min_dbz: float = MIN_RAIN_DBZ,
    max_dbz: float = HAIL_CAP_DBZ,
) -> np.ndarray:
    """Rain rate (mm/h) from reflectivity (dBZ) through ``Z = a R^b``.

    NaN reflectivity (no valid echo) gives 0 mm/h: the radar saw the column and found nothing
    above the noise floor. Values below ``min_dbz`` give 0; values above ``max_dbz`` are capped.
    """
    dbz = np.asarray(dbz, dtype=np.float64)
    capped = np.minimum(np.nan_to_num(dbz, nan=-99.0), max_dbz)
    rate = wradlib.zr.z_to_r(wradlib.trafo.idecibel(capped), a=a, b=b)
    return np.where(capped >= min_dbz, rate, 0.0)


def rain_rate_zr(dbz: np.ndarray, name: str) -> np.ndarray:
    """Rain rate (mm/h) with one of :data:`ZR_RELATIONS` by name."""
    if name not in ZR_RELATIONS:
        raise KeyError(f"unknown Z-R relation {name!r}; known: {sorted(ZR_RELATIONS)}")
    a, b = ZR_RELATIONS[name]
    return rain_rate_from_dbz(dbz, a, b)
