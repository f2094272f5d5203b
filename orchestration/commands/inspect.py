"""``rainfuse inspect PATH``: what one radar, spaceborne, satellite or gauge file holds.

Detects the kind and format from the file's content and prints a description (site or platform
and position, time, sweeps or levels, moments, value ranges, gauge totals), then ONE JSON line::

    {"kind": "radar|spaceborne|satellite|gauge", "format": ..., "site": ..., "lat": ...,
     "lon": ..., "start_time": ..., ...}

(:mod:`fusion_ops.readers.inspect` lists the keys of each kind). ``PATH`` is local or an fsspec
URL (``s3://bucket/key``); storage options come from ``--anon`` / ``--endpoint-url``, else from
the environment: ``RAINFUSE_STORAGE_OPTIONS`` (a JSON object), ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, and the usual AWS credential variables. An unreadable file exits 2 with one
line naming the file and the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

_AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")


def storage_options_for(
    url: str, anon: bool = False, endpoint_url: str | None = None
) -> dict[str, Any]:
    """fsspec options for ``url`` from the flags and the environment (flags win)."""
    options: dict[str, Any] = {}
    env_json = os.environ.get("RAINFUSE_STORAGE_OPTIONS")
    if env_json:
        options.update(json.loads(env_json))
    if not str(url).startswith("s3://"):
        return options
    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint
    if anon:
        options["anon"] = True
    elif "anon" not in options and any(os.environ.get(k) for k in _AWS_CREDENTIALS):
        options["anon"] = False  # sign with the credentials the environment provides
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainfuse inspect",
        description="Describe one radar, spaceborne, satellite or gauge file (kind from content); "
        "the last line is one JSON object.",
    )
    parser.add_argument("path", help="local path or fsspec URL (s3://bucket/key)")
    parser.add_argument("--anon", action="store_true", help="read s3:// anonymously")
    parser.add_argument("--endpoint-url", default=None, help="S3 endpoint (an S3-compatible store)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("PYART_QUIET", "1")
    from fusion_ops.readers.errors import UnreadableFileError
    from fusion_ops.readers.inspect import inspect_file

    try:
        options = storage_options_for(args.path, args.anon, args.endpoint_url)
        result = inspect_file(args.path, options)
    except (UnreadableFileError, ValueError) as error:
        reason = getattr(error, "reason", None) or str(error)
        print(
            f"rainfuse inspect: cannot read {args.path}: {' '.join(reason.split())}",
            file=sys.stderr,
        )
        return 2
    for line in result.lines:
        print(line)
    print(json.dumps(result.summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
