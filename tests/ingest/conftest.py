"""Fixtures of the ingest tests: the real KLBB Level II volume of ``../shared/data``."""

from __future__ import annotations

import pytest

from fusion_ops.readers.ground_radar import read_volume

KLBB = "radar/KLBB20160601_150025_V06"


@pytest.fixture(scope="module")
def klbb_path(shared_data):
    """Path of the real KLBB message-31 volume (Lubbock, 2016-06-01 15:00Z, dual-pol)."""
    return str(shared_data / KLBB)


@pytest.fixture(scope="module")
def klbb(klbb_path):
    """The KLBB volume through the project's reader."""
    return read_volume(klbb_path)
