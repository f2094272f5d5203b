"""Radar beam geometry under the 4/3 effective-earth model: the one implementation of the project.

A thin, documented wrapper of :mod:`wradlib.georef` (Doviak & Zrnic 1993) used by the gridding of
real volumes (:mod:`fusion_ops.radar.gridding`) and by the simulated WSR-88D
(:mod:`fusion_ops.simulate.ground_radar`), so that both place a gate at the same height and
ground distance:

* :func:`beam_height_m` - :func:`wradlib.georef.bin_altitude`: beam-centre height above mean sea
  level, ``sqrt(r^2 + (k_e a + h_0)^2 + 2 r (k_e a + h_0) sin(el)) - k_e a`` with the antenna at
  altitude ``h_0`` (``h_0 = 0``: height above the antenna);
* :func:`ground_distance_m` - great-circle distance from the radar to below the gate,
  ``k_e a arcsin(r cos(el) / (k_e a + h - h_0))`` (:func:`wradlib.georef.site_distance` with the
  height above the antenna);
* :func:`gate_geometry` - both at once.

``a`` is :data:`EARTH_RADIUS_M` and ``k_e`` :data:`EFFECTIVE_EARTH_FACTOR`. wradlib is imported
when a function is called, not with this module.

The radar data model (:class:`~fusion_ops.datamodel.RadarVolume`, :class:`~fusion_ops.datamodel.Sweep`)
lives in :mod:`fusion_ops.datamodel`, which the readers import without importing this package.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_000.0
EFFECTIVE_EARTH_FACTOR = 4.0 / 3.0


def beam_height_m(
    range_m: np.ndarray, elevation_deg: np.ndarray | float, site_altitude_m: float = 0.0
) -> np.ndarray:
    """Height of the beam centre above mean sea level (m), 4/3 effective-earth model.

    Parameters
    ----------
    range_m : array
        Slant range of the gate (m).
    elevation_deg : array or float
        Antenna elevation (degrees); broadcasts against ``range_m``.
    site_altitude_m : float
        Antenna altitude above mean sea level (m); 0 gives the height above the antenna.
    """
    import wradlib.georef

    return wradlib.georef.bin_altitude(
        np.asarray(range_m, dtype=np.float64),
        elevation_deg,
        site_altitude_m,
        re=EARTH_RADIUS_M,
        ke=EFFECTIVE_EARTH_FACTOR,
    )


def gate_geometry(
    range_m: np.ndarray, elevation_deg: np.ndarray | float, site_altitude_m: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Beam-centre height above mean sea level and ground distance (m) of gates.

    Parameters
    ----------
    range_m : array
        Slant range of the gate (m).
    elevation_deg : array or float
        Antenna elevation (degrees); broadcasts against ``range_m``.
    site_altitude_m : float
        Antenna altitude above mean sea level (m).

    Returns
    -------
    height_m, ground_m : ndarray
        :func:`beam_height_m` and the great-circle distance from the radar to below the gate.
    """
    r = np.asarray(range_m, dtype=np.float64)
    height = beam_height_m(r, elevation_deg, site_altitude_m)
    ke_r = EFFECTIVE_EARTH_FACTOR * EARTH_RADIUS_M
    el = np.deg2rad(elevation_deg)
    ground = ke_r * np.arcsin(r * np.cos(el) / (ke_r + height - site_altitude_m))
    return np.asarray(height), np.asarray(ground)


def ground_distance_m(
    range_m: np.ndarray, elevation_deg: np.ndarray | float, site_altitude_m: float = 0.0
) -> np.ndarray:
    """Great-circle distance along the surface from the radar to below the gate (m)."""
    return gate_geometry(range_m, elevation_deg, site_altitude_m)[1]
