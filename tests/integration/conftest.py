"""Session fixtures of the operations tests: real PostgreSQL and Redis on 127.0.0.1."""

from ops_services import postgres_server, redis_url  # noqa: F401 (pytest fixtures)
