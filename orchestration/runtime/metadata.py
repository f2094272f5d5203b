"""Metadata values that let the Dagster UI tell the story: inline PNG previews and tables."""

from __future__ import annotations

import base64
import io
from typing import Any

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
