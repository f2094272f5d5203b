"""Small PNG quicklooks of ingested sources (matplotlib, Agg backend), returned as bytes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from fusion_ops.grid import ProductGrid

#: Resolution of the quicklooks (dots per inch of a 4.5 x 4 inch figure).
PREVIEW_DPI = 60


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(4.5, 4))


def _png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PREVIEW_DPI, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def gauge_totals_png(totals: pd.DataFrame, bbox_deg: tuple[float, float, float, float]) -> bytes:
    """Map of the stations' daily totals over the domain.

    Parameters
    ----------
    totals : DataFrame
        One row per station: ``lat, lon, total_mm``.
    bbox_deg : tuple of float
        ``(lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg)``: the map's extent.

    Returns
    -------
    bytes
        The PNG image.
    """
    lat_min_deg, lat_max_deg, lon_min_deg, lon_max_deg = bbox_deg
    fig, ax = _figure()
    if not totals.empty:
        sc = ax.scatter(totals["lon"], totals["lat"], c=totals["total_mm"], s=14, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="daily total (mm)")
    ax.set_xlim(lon_min_deg, lon_max_deg)
    ax.set_ylim(lat_min_deg, lat_max_deg)
    ax.set_title(f"gauge totals ({len(totals)} stations)")
    return _png_bytes(fig)


def max_reflectivity_png(
    dbz: np.ndarray, grid: ProductGrid, gauges: pd.DataFrame | None = None
) -> bytes:
    """Map of a maximum reflectivity field at the grid's lowest level, gauges as dots.

    Parameters
    ----------
    dbz : ndarray
        ``(lat, lon)`` reflectivity (dBZ) on ``grid``; NaN where there is none.
    grid : ProductGrid
        The field's grid (its first height is named in the title).
    gauges : DataFrame, optional
        Gauge positions ``lat, lon``.

    Returns
    -------
    bytes
        The PNG image.
    """
    fig, ax = _figure()
    extent = (grid.lon[0], grid.lon[-1], grid.lat[0], grid.lat[-1])
    im = ax.imshow(dbz, origin="lower", extent=extent, vmin=0, vmax=65, cmap="turbo")
    fig.colorbar(im, ax=ax, label="dBZ")
    if gauges is not None and not gauges.empty:
        ax.plot(gauges["lon"], gauges["lat"], "k.", ms=2)
    ax.set_title(f"max reflectivity at {grid.heights_m[0] / 1000:.1f} km")
    return _png_bytes(fig)
