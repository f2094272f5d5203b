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
# Before any test module imports the code location (its partitions come from the configuration).
os.environ.setdefault(
    "RAINFUSE_CONFIG", str(Path(__file__).resolve().parent / "rainfuse-test.yaml")
)
SHARED_DATA = Path(os.environ.get("RAINFUSE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skips (with the reason) where a fresh clone has no copy."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real observations not present at {SHARED_DATA} (CI always has them)")
    return SHARED_DATA


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 HTTP endpoint on loopback (moto in server mode, its own process).

    Yields ``(endpoint_url, storage_options)``. Clients talk HTTP to it exactly as to AWS.
    """
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the local S3 server did not start") from None
            time.sleep(0.2)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint},
    }
    try:
        yield endpoint, options
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def s3_bucket(s3_server):
    """A fresh, empty bucket on the local S3 server; yields ``(bucket, storage_options)``."""
    import uuid

    import s3fs

    _, options = s3_server
    fs = s3fs.S3FileSystem(**options)
    bucket = f"rainfuse-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    return bucket, options
