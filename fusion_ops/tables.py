"""Markdown tables: the one formatter behind every score table in metadata, reports and the CLI."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def fixed(digits: int = 3, signed: bool = False, missing: str = "-") -> Callable[[Any], str]:
    """A cell formatter: numbers with ``digits`` decimals (``+`` when ``signed``), ``missing`` for
    ``None`` or NaN, anything else as text."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return missing
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return f"{value:{'+' if signed else ''}.{digits}f}"

    return cell


def markdown_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    cell: Callable[[Any], str] | None = None,
) -> str:
    """A GitHub-flavoured Markdown table.

    Parameters
    ----------
    header : column titles.
    rows : one sequence of values per row; a cell that is already a string is written as it is.
    cell : how a non-string value is written (default :func:`fixed` with 3 decimals).
    """
    fmt = cell or fixed()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        texts = [v if isinstance(v, str) else fmt(v) for v in row]
        lines.append("| " + " | ".join(t.replace("|", "/") for t in texts) + " |")
    return "\n".join(lines)
