"""Session fixtures of the operations tests: real PostgreSQL, Redis and Chromium on 127.0.0.1.

The services come from :mod:`bench.services` (shared with the Celery benchmark). A missing server
binary is installed from Debian's packages when the tests run as root (as CI does on a fresh
machine); elsewhere the tests that need it skip, naming the package to install.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from bench.services import NotInstalled, Postgres, find_binary
from bench.services import postgres_server as start_postgres
from bench.services import redis_server as start_redis


def _enter_or_skip(stack: contextlib.ExitStack, service: Any) -> Any:
    try:
        return stack.enter_context(service)
    except NotInstalled as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free loopback port."""
    with contextlib.ExitStack() as stack:
        yield _enter_or_skip(stack, start_postgres(install=True))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server on a free loopback port (no persistence); yields its URL."""
    with contextlib.ExitStack() as stack:
        yield _enter_or_skip(stack, start_redis(install=True))


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """The path of ``chromium`` (headless page rendering)."""
    try:
        return find_binary("chromium", "chromium", install=True)
    except NotInstalled as error:
        pytest.skip(str(error))
