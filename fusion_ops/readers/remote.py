"""fsspec options shared by the readers."""

from __future__ import annotations

_CREDENTIAL_KEYS = {"anon", "key", "secret", "token", "profile", "username"}


def fs_options(url: str, storage_options: dict | None) -> dict:
    """Copy of ``storage_options``; public buckets (``s3://`` without credentials) go anonymous."""
    opts = dict(storage_options or {})
    if str(url).startswith("s3://") and not (_CREDENTIAL_KEYS & opts.keys()):
        opts["anon"] = True
    return opts
