"""Metadata values that let the Dagster UI tell the story: inline PNG previews and tables."""

from __future__ import annotations

import base64
import io
from numbers import Integral, Real
from typing import Any

import numpy as np
from dagster import MetadataValue


def png_markdown(png: bytes, caption: str) -> MetadataValue:
    """An inline PNG image (a data URL in markdown), shown on the asset's page."""
    return MetadataValue.md(f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})")


def figure_markdown(fig: Any, caption: str, dpi: int = 60) -> MetadataValue:
    """A matplotlib figure as :func:`png_markdown`; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return png_markdown(buffer.getvalue(), caption)


def floats(values: dict[str, float]) -> dict[str, MetadataValue]:
    """Each value as a float metadata entry (charted per partition in the UI)."""
    return {k: MetadataValue.float(float(v)) for k, v in values.items()}


def summary_metadata(summary: dict[str, Any]) -> dict[str, MetadataValue]:
    """A library function's summary (plain values) as typed metadata entries.

    Booleans, integers and reals become charted numbers, strings text, ``None`` null, and
    lists, tuples and mappings JSON.
    """
    out: dict[str, MetadataValue] = {}
    for key, value in summary.items():
        if value is None:
            out[key] = MetadataValue.null()
        elif isinstance(value, bool | np.bool_):
            out[key] = MetadataValue.bool(bool(value))
        elif isinstance(value, Integral):
            out[key] = MetadataValue.int(int(value))
        elif isinstance(value, Real):
            out[key] = MetadataValue.float(float(value))
        elif isinstance(value, str):
            out[key] = MetadataValue.text(value)
        else:
            out[key] = MetadataValue.json(list(value) if isinstance(value, tuple) else value)
    return out
