"""Where a NEXRAD radar stands when its volume does not say: the site table and the ICAO sources.

Message-31 volumes carry the site position in their volume data block; legacy message-1 volumes
(before 2008) carry none.  For those the position comes from the NEXRAD site table shipped with
Py-ART (``pyart.io.nexrad_common.NEXRAD_LOCATIONS``), keyed by the four-letter ICAO of the site,
taken from the Archive II volume header (bytes 20-24) where it is filled, else from the file name
(``KMLB20050520_000127.gz``).  A volume whose site is found in neither way has no position: the
reader raises rather than placing the radar at 0 N 0 E.
"""

from __future__ import annotations

import dataclasses
import functools
import re

_ICAO = re.compile(r"^[A-Z][A-Z0-9]{3}$")
_ICAO_IN_NAME = re.compile(r"^(?P<icao>[A-Z][A-Z0-9]{3})\d{8}_\d{6}")


@dataclasses.dataclass(frozen=True)
class SiteLocation:
    """A radar site from the site table, with where its ICAO was read (``header`` or ``name``)."""

    icao: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    icao_from: str


def is_icao(text: str | None) -> bool:
    """True for a plausible four-character site id (``KLBB``, ``TJUA``)."""
    return bool(text) and _ICAO.match(str(text)) is not None


def icao_from_header(data: bytes) -> str | None:
    """The ICAO in bytes 20-24 of an Archive II volume header, or None where it is not filled.

    Legacy ``ARCHIVE2.`` files (message 1) leave these bytes zero.
    """
    text = data[20:24].decode("ascii", "replace").strip("\x00 ").upper()
    return text if is_icao(text) else None


def icao_from_name(url: str) -> str | None:
    """The ICAO that starts an archive file name (``KMLB20090520_000127_V03.gz``), or None."""
    m = _ICAO_IN_NAME.match(str(url).rstrip("/").rsplit("/", 1)[-1])
    return m["icao"] if m else None


@functools.lru_cache(maxsize=1)
def known_icaos() -> frozenset[str]:
    """Every site id of Py-ART's NEXRAD site table, upper case."""
    from pyart.io.nexrad_common import NEXRAD_LOCATIONS

    return frozenset(str(k).upper() for k in NEXRAD_LOCATIONS)


def table_location(icao: str) -> tuple[float, float, float] | None:
    """``(latitude, longitude, altitude m)`` of a NEXRAD site from Py-ART's table, or None."""
    from pyart.io.nexrad_common import NEXRAD_LOCATIONS, get_nexrad_location

    if icao.upper() not in NEXRAD_LOCATIONS:
        return None
    lat, lon, alt = get_nexrad_location(icao)
    return float(lat), float(lon), float(alt)


def find_site(data: bytes, url: str) -> SiteLocation | None:
    """The table's site for a volume: by its header ICAO, else by its file name's; else None."""
    for source, icao in (("header", icao_from_header(data)), ("name", icao_from_name(url))):
        if icao is None:
            continue
        loc = table_location(icao)
        if loc is not None:
            return SiteLocation(icao, loc[0], loc[1], loc[2], source)
    return None


__all__ = [
    "SiteLocation",
    "find_site",
    "icao_from_header",
    "icao_from_name",
    "is_icao",
    "table_location",
]
