"""Which sources a daily partition plans, from the era table and the run's configuration.

:func:`partition_sources` asks :func:`fusion_ops.eras.sources_available` with the configured
radar sites and satellite platform: an asset whose source did not exist that day (no GOES-R ABI
before 2017, a platform that no longer serves its sector) materializes an empty value that says
why, its checks pass with that reason, and the product records which sources it had.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fusion_ops import eras
from orchestration.runtime.config import RainfuseConfig, load_config

#: The configured satellite platform that follows the era table (GOES-East of the day).
AUTO_PLATFORM = "auto"


def satellite_platform(configured: str, day: dt.date | str) -> str | None:
    """The ABI platform to read on ``day``: the configured one, or GOES-East's for ``"auto"``.

    Returns None for ``"auto"`` on a day no GOES-R platform serves GOES-East (before 2017).
    """
    if configured.strip().lower() != AUTO_PLATFORM:
        return configured.strip().upper()
    serving = eras.abi_platforms(day, "east")
    return serving[0] if serving else None


def satellite_plan(configured: str, day: dt.date | str) -> dict[str, Any]:
    """The satellite entry of a day's plan for a configured platform (``auto`` or ``G16``...).

    Returns ``{"available", "platform", "bucket", "reason", "configured"}``.
    """
    platform = satellite_platform(configured, day)
    entry = dict(eras.sources_available(day, (), platform)["satellite"])
    if platform is None:
        entry["reason"] = (
            f"no GOES-R ABI before {eras.ABI_FIRST.isoformat()} (platform: auto = GOES-East)"
        )
    entry["configured"] = configured
    return entry


_NOAA_GOES_BUCKET = re.compile(r"^s3://noaa-goes\d{2}(?=/|$)")


def satellite_archive_url(url: str, bucket: str) -> str:
    """The archive URL for the planned platform's bucket.

    NOAA keeps one bucket per platform (``s3://noaa-goes16``, ``s3://noaa-goes19``): a configured
    URL on one of them is moved to the day's ``bucket``, so ``platform: auto`` reads G19 from
    ``noaa-goes19`` after 2025-04-07 with ``url: s3://noaa-goes16``. Any other URL (a mirror or a
    local folder holding every platform) is returned as it is.
    """
    if bucket and _NOAA_GOES_BUCKET.match(url):
        return _NOAA_GOES_BUCKET.sub(f"s3://{bucket}", url, count=1)
    return url


def partition_sources(day: dt.date | str, config: RainfuseConfig | None = None) -> dict[str, Any]:
    """:func:`fusion_ops.eras.sources_available` for one partition of the configured pipeline.

    Parameters
    ----------
    day : the partition's UTC day.
    config : the configuration (the run's file when omitted).

    Returns
    -------
    dict
        The era table's answer (``gauges``, ``ground_radar`` per site, ``spaceborne``,
        ``satellite``: each with ``available`` and ``reason``), the configured platform under
        ``satellite["configured"]``.
    """
    config = config or load_config()
    plan = eras.sources_available(day, config.sources.ground_radar.sites, None)
    plan["satellite"] = satellite_plan(config.sources.satellite.platform, day)
    return plan


def planned(plan: dict[str, Any], source: str) -> tuple[bool, str]:
    """``(available, reason)`` of ``gauges``, ``spaceborne`` or ``satellite`` in a plan;
    ``ground_radar``: available when any configured site is."""
    entry = plan[source]
    if source == "ground_radar":
        reasons = [f"{site}: {e['reason']}" for site, e in entry.items() if not e["available"]]
        return any(e["available"] for e in entry.values()), "; ".join(reasons)
    return bool(entry["available"]), str(entry.get("reason", ""))


#: The source each calibration network calibrates against the ground radar, as a plan names it.
MODEL_SOURCES = {"mlp2": "spaceborne", "mlp3": "satellite"}


def models_not_planned(day: dt.date | str, config: RainfuseConfig | None = None) -> dict[str, str]:
    """Network name -> why its source is not planned that day (e.g. MLP-3 before GOES-R ABI)."""
    plan = partition_sources(day, config)
    out = {}
    for name, source in MODEL_SOURCES.items():
        available, why = planned(plan, source)
        if not available:
            out[name] = why
    return out
