"""The data model shared by the readers and the radar processing (no dependency on either).

* :class:`Sweep` and :class:`RadarVolume` - a ground-radar volume as every reader returns it:
  float32 arrays with NaN for missing data, rays binned onto a nominal azimuth grid (so that the
  same scan strategy always has the same array layout and gate->grid maps can be cached), with
  :func:`nominal_azimuth_res` / :func:`to_nominal_azimuths` that put rays there;
* the targets that gates and pixels are mapped onto live in :mod:`fusion_ops.grid`.

:mod:`fusion_ops.readers` and :mod:`fusion_ops.radar` both import this module and it imports
neither, so the readers do not depend on the radar processing that consumes their output.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Sweep:
    """One sweep on a nominal azimuth grid.

    Attributes
    ----------
    elevation_deg : float
        Fixed (nominal) elevation angle.
    azimuth_res_deg : float
        Nominal azimuth spacing; ray ``i`` is centred at ``(i + 0.5) * azimuth_res_deg``.
    range_m : ndarray (ngate,)
        Gate centre ranges.
    fields : dict of name -> float32 ndarray (nazimuth, ngate), NaN = no data.
    start_time : numpy.datetime64 or None
        Time of the sweep's earliest ray (UTC), where the reader provides it (the volume's
        :attr:`RadarVolume.time` is the start of the whole volume).
    """

    elevation_deg: float
    azimuth_res_deg: float
    range_m: np.ndarray
    fields: dict[str, np.ndarray]
    start_time: np.datetime64 | None = None

    @property
    def n_azimuth(self) -> int:
        return int(round(360.0 / self.azimuth_res_deg))

    @property
    def azimuth_deg(self) -> np.ndarray:
        return (np.arange(self.n_azimuth) + 0.5) * self.azimuth_res_deg

    def geometry_key(self) -> tuple[float, int, float, float, int]:
        """What the gate->grid map of this sweep depends on (rounded to survive jitter)."""
        r = self.range_m
        dr = float(r[1] - r[0]) if r.size > 1 else 0.0
        return (
            round(float(self.elevation_deg), 1),
            self.n_azimuth,
            round(float(r[0]), 0),
            round(dr, 1),
            int(r.size),
        )


@dataclasses.dataclass
class RadarVolume:
    """A ground-radar volume in the rainfuse layout (see :class:`Sweep`)."""

    site_id: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    time: np.datetime64
    sweeps: list[Sweep]
    beamwidth_deg: float = 1.0
    source: str = ""

    def field_names(self) -> list[str]:
        names: list[str] = []
        for s in self.sweeps:
            for k in s.fields:
                if k not in names:
                    names.append(k)
        return names

    @property
    def capability(self) -> str:
        """``"dual"`` (dual-polarisation) where any sweep has differential reflectivity (ZDR),
        else ``"single"`` (e.g. NEXRAD before the 2011-2013 upgrade, message-1 volumes).

        It reflects the moments read: read ``differential_reflectivity`` (the readers' default
        fields do) to tell the two apart.
        """
        return "dual" if "differential_reflectivity" in self.field_names() else "single"

    def geometry_key(self) -> tuple:
        return (
            self.site_id,
            round(self.latitude_deg, 4),
            round(self.longitude_deg, 4),
            round(self.altitude_m, 0),
            round(self.beamwidth_deg, 2),
            tuple(s.geometry_key() for s in self.sweeps),
        )

    def max_reflectivity_dbz(self) -> float:
        vals = [
            np.nanmax(s.fields["reflectivity"])
            for s in self.sweeps
            if "reflectivity" in s.fields and np.isfinite(s.fields["reflectivity"]).any()
        ]
        return float(max(vals)) if vals else float("nan")


def nominal_azimuth_res(azimuth_deg: np.ndarray) -> float:
    """Nominal azimuth spacing of a sweep: 0.5 deg (super-resolution) or 1 deg, else 360/nrays."""
    n = azimuth_deg.size
    for res in (0.5, 1.0):
        if abs(n - 360.0 / res) <= 0.02 * 360.0 / res:
            return res
    return 360.0 / max(n, 1)


def to_nominal_azimuths(
    azimuth_deg: np.ndarray, data: np.ndarray, azimuth_res_deg: float
) -> np.ndarray:
    """Place rays (rows of ``data``) in their nominal azimuth bin; empty bins stay NaN."""
    n_az = int(round(360.0 / azimuth_res_deg))
    idx = np.floor(np.mod(azimuth_deg, 360.0) / azimuth_res_deg).astype(np.int64) % n_az
    out = np.full((n_az, data.shape[1]), np.nan, dtype=np.float32)
    out[idx] = data
    return out
