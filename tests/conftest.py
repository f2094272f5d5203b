"""Shared fixtures: the real observations in ../shared/data and a local S3 server."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("PYART_QUIET", "1")
# Py-ART's Level II reader announces its own deprecation; it is still the reader we use.
warnings.filterwarnings("ignore", message=".*deprecat.*", module="pyart.*")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RAINFUSE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skips (with the reason) where a fresh clone has no copy."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real observations not present at {SHARED_DATA} (CI always has them)")
    return SHARED_DATA
