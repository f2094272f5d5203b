"""The one exception products raise on bad input: it names the input and the reason."""

from __future__ import annotations


class ProductInputError(ValueError):
    """An input of a product step is unusable.

    Parameters
    ----------
    what : str
        The input: a file path/URL or the name of an upstream asset (``"gr_rain_hourly"``).
    reason : str
        Why it cannot be used (wrong shape, missing variable, ...).
    """

    def __init__(self, what: str, reason: str) -> None:
        self.what = str(what)
        self.reason = reason
        super().__init__(f"{self.what}: {reason}")
