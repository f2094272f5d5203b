"""Unreadable input: a specific exception and the quarantine record that replaces a silent drop.

Every reader raises :class:`UnreadableFileError` (naming the file, the reason and the reader) when a
file is truncated, corrupt, empty or in the wrong format.  Callers that process a day of files use
:func:`read_all` so that one bad file becomes a :class:`QuarantineRecord` and the rest of the day is
still processed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")


class UnreadableFileError(Exception):
    """A file could not be read.

    Parameters
    ----------
    file : str
        Path or URL of the file.
    reason : str
        Human-readable reason (e.g. ``"truncated bzip2 record"``).
    reader : str
        Name of the reader that failed (e.g. ``"nexrad_level2"``).
    """

    def __init__(self, file: str, reason: str, reader: str) -> None:
        self.file = str(file)
        self.reason = reason
        self.reader = reader
        super().__init__(f"{reader}: cannot read {self.file}: {reason}")


@dataclasses.dataclass(frozen=True)
class QuarantineRecord:
    """One skipped input file, with why and by whom it was rejected."""

    file: str
    reason: str
    reader: str
    time_utc: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    @classmethod
    def from_error(cls, err: UnreadableFileError) -> QuarantineRecord:
        return cls(file=err.file, reason=err.reason, reader=err.reader)

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def describe_exception(exc: BaseException) -> str:
    """Short reason string for an arbitrary library exception."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def read_all(
    files: Iterable[str],
    reader: Callable[[str], T],
    reader_name: str,
) -> tuple[list[tuple[str, T]], list[QuarantineRecord]]:
    """Apply ``reader`` to every file; unreadable files become quarantine records.

    Parameters
    ----------
    files : iterable of str
        Paths or URLs.
    reader : callable
        Reads one file; raises :class:`UnreadableFileError` (or any exception) on bad input.
    reader_name : str
        Used in the quarantine record when ``reader`` raised something other than
        :class:`UnreadableFileError`.

    Returns
    -------
    results : list of (file, result)
    quarantine : list of QuarantineRecord
    """
    results: list[tuple[str, T]] = []
    quarantine: list[QuarantineRecord] = []
    for f in files:
        try:
            results.append((f, reader(f)))
        except UnreadableFileError as err:
            quarantine.append(QuarantineRecord.from_error(err))
        except Exception as exc:  # noqa: BLE001 - any library failure is a quarantine, not a crash
            quarantine.append(
                QuarantineRecord(file=str(f), reason=describe_exception(exc), reader=reader_name)
            )
    return results, quarantine


def quarantine_frame(records: Iterable[QuarantineRecord]) -> pd.DataFrame:
    """Quarantine records as a table (columns file, reason, reader, time_utc), possibly empty."""
    rows: list[dict[str, Any]] = [r.as_dict() for r in records]
    return pd.DataFrame(rows, columns=["file", "reason", "reader", "time_utc"])


def quarantine_markdown(records: Iterable[QuarantineRecord]) -> str:
    """Markdown table of quarantine records (for UI metadata)."""
    recs = list(records)
    if not recs:
        return "No files quarantined."
    lines = ["| file | reader | reason |", "|---|---|---|"]
    for r in recs:
        reason = r.reason.replace("|", "/")
        lines.append(f"| {r.file} | {r.reader} | {reason} |")
    return "\n".join(lines)
