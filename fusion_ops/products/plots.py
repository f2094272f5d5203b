"""PNG map of a daily rain total with the gauges overlaid (matplotlib, Agg backend)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import xarray as xr

MAP_DPI = 90
"""Resolution of the product map (dots per inch of a 7 x 6 inch figure)."""


def daily_map_png(
    daily_mm: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    gauge_lat_deg: np.ndarray,
    gauge_lon_deg: np.ndarray,
    gauge_daily_mm: np.ndarray,
    withheld: np.ndarray,
    title: str,
    dpi: int = MAP_DPI,
) -> bytes:
    """Render the map and return the PNG bytes.

    Gauges used in the adjustment are circles, withheld (verification) gauges are triangles;
    both are filled with their own daily total on the map's colour scale, so a disagreement
    between product and gauge shows as a marker that stands out from its background.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colors
    from matplotlib.figure import Figure

    field = np.ma.masked_invalid(np.asarray(daily_mm, float))
    finite = np.concatenate(
        [field.compressed(), np.asarray(gauge_daily_mm, float)[np.isfinite(gauge_daily_mm)]]
    )
    vmax = max(float(np.percentile(finite, 99.5)) if finite.size else 1.0, 1.0)
    norm = colors.PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax)
    fig = Figure(figsize=(7.0, 6.0), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    mesh = ax.pcolormesh(lon_deg, lat_deg, field, cmap="viridis", norm=norm, shading="nearest")
    withheld = np.asarray(withheld, bool)
    glat = np.asarray(gauge_lat_deg, float)
    glon = np.asarray(gauge_lon_deg, float)
    gmm = np.asarray(gauge_daily_mm, float)
    for mask, marker, label in ((~withheld, "o", "adjusting gauges"), (withheld, "^", "withheld")):
        ok = mask & np.isfinite(gmm)
        ax.scatter(
            glon[ok],
            glat[ok],
            c=gmm[ok],
            cmap="viridis",
            norm=norm,
            marker=marker,
            s=36,
            edgecolors="white" if marker == "o" else "red",
            linewidths=0.8,
            label=f"{label} ({int(ok.sum())})",
        )
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_title(title)
    ax.set_aspect(1.0 / np.cos(np.deg2rad(float(np.mean(lat_deg)))))
    ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    fig.colorbar(mesh, ax=ax, label="daily rainfall (mm)", shrink=0.85)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def product_map_png(
    daily: xr.Dataset,
    gauges: pd.DataFrame,
    withheld: np.ndarray,
    day: str,
    dpi: int = MAP_DPI,
) -> bytes:
    """The map of a daily product with the day's gauges overlaid (:func:`daily_map_png`).

    Parameters
    ----------
    daily : the daily product (``rainfall_amount (time=1, lat, lon)`` in mm).
    gauges : daily gauge totals with ``lat_deg``, ``lon_deg`` and ``daily_mm``.
    withheld : aligned with ``gauges``: ``True`` for a gauge withheld from the adjustment.
    day : ISO date of the UTC day (in the title).
    dpi : resolution of the PNG.

    Returns
    -------
    bytes
        The PNG file.
    """
    return daily_map_png(
        daily["rainfall_amount"].isel(time=0).values,
        daily["lat"].values,
        daily["lon"].values,
        gauges["lat_deg"].to_numpy(float),
        gauges["lon_deg"].to_numpy(float),
        gauges["daily_mm"].to_numpy(float),
        withheld,
        f"rainfuse fused daily rainfall {day}",
        dpi=dpi,
    )
