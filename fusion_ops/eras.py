"""Which instruments exist on a date: the era table of the archives a backfill meets.

Plain data and small pure functions (no I/O, no Dagster): an asset or a planner passes a date and
gets back which sources it can plan for that partition, and why a source is absent.  Every date
below is taken from a published source, listed here and in ``docs/ingest.md`` ("Which instruments
exist on a date"); where no per-site date was found, the answer is ``"unknown"`` between the
network-wide bounds, and the reader's content decides (a volume without ZDR is single-pol).

Sources (the key after each date names one of them):

``weatherwary``
    "WSR-88D Dual-Polarization Update Schedule", WeatherWary,
    http://www.weatherwary.com/wsr-88d-dual-polarization-update-schedule/ (2011): completion
    dates of the first upgraded sites: KVNX 2011-03-04, KIWA 2011-06-05, KMHX 2011-06-26,
    KICT 2011-07-17, KPBZ 2011-07-17.
``mesonet``
    Oklahoma Mesonet OK-First news, "Vance Radar Will Be Down From Feb. 14-Mar. 4",
    https://xwww.mesonet.org/index.php/okfirst/news (2011): KVNX, the first radar to get
    dual-pol, down 2011-02-14 to 2011-03-04 for the installation.
``roc_slides``
    ROC "First operational NEXRAD with Dual-Pol modification at Vance Air Force Base",
    https://slideplayer.com./amp/8299033 ; and M. Istok, T. Crum, "WSR-88D Data Status And
    Plans", NWS Family of Services meeting, 21 June 2012, https://slideplayer.com./amp/9895899 :
    operational deployment started Sep 2011 (after the beta sites), 73 sites done by June 2012, KLGX (Langley Hill) operational Sep 2011, remaining 87 sites "through late summer
    2013".
``disastermapping``
    "Status of Nationwide Weather Radar Upgrades", 2011-09-30,
    https://disastermapping.wordpress.com/2011/09/30/nexrad-radar-upgrades-ongoing/ : upgraded
    by 2011-09-30: KVNX, KICT, KPBZ, Portland OR (KRTX), KIWA, KMHX and the new KLGX.
``pbdn``
    Palm Beach Daily News weather blog, "New advanced radar systems coming soon to Florida",
    https://weathermatters.blog.palmbeachdailynews.com/tag/dual-polarization-radar/ (late 2011):
    KMLB installation on Jan. 3 [2012], KAMX Jan. 30 to Feb. 12 [2012].
``local10``
    Local10 (WPLG), "Miami radar gets an upgrade", https://www.local10.com/news/miami-radar-gets-an-upgrade
    (February 2012): KAMX completed; Key West (KBYX) and Melbourne (KMLB) already upgraded;
    Tampa (KTBW) "scheduled to be upgraded between February 27th and March 11th".
``njwo``
    NWS Mount Holly public information statement, 2011-12-13,
    https://njwo.wordpress.com/2011/12/13/dual-polarization-upgrade-to-wsr-88d-radar-at-fort-dix-coming-soon/ :
    KDIX installation expected 2012-01-30 to 2012-02-12.
``nws_abq``
    NWS Albuquerque, "WSR-88D Dual-Polarization Upgrade", http://www.srh.noaa.gov/abq/?n=dualpol :
    KFDX and KABX "complete as of Saturday, May 5, 2012".
``iawx``
    "All Iowa dual-polarization installations complete", 2013-03-29,
    https://archive.iawx.net/2013/03/29/all-iowa-dual-polarization-installations-complete :
    KOAX completed "yesterday" (2013-03-28); "about 6-7" sites left in the country.
``nws_complete``
    14 News, "Huge nationwide Doppler radar upgrade now complete" (spring 2013),
    http://www.14news.com/story/22098291/huge-nationwide-doppler-radar-upgrade-now-complete/ :
    122 NWS sites plus 37 FAA/DoD radars; and M. Smith, "Congratulations to the National Weather
    Service", 2013-04-30, https://www.mikesmithenterprisesblog.com/2013/04/congratulations-to-national-weather.html .
``build10``
    ROC "Update on WSR-88D Level II Build 10 Changes", 12 March 2008 (Unidata nws-changes),
    https://mailinglists.unidata.ucar.edu/archives/nws-changes/2008/msg00078.html : Build 10
    loaded on KPAH 2008-03-11, super-resolution Level II from 2008-03-12; 11 April 2008,
    https://mailinglists.unidata.ucar.edu/archives/nws-changes/2008/msg00121.html : KVWX sends
    MSG31 from 2008-04-08 (MSG31 the default of Build 10); rollout "March to August 2008"
    (https://github.com/bwiggs/go-nexrad/issues/13, citing the ROC Build 10 FAQ).
``tin16_12``
    NWS Technical Implementation Notice 16-12, "NEXRAD Level-II format at NCEI Archive Changes
    Scheduled to Begin June 1, 2016" (quoted in https://github.com/bwiggs/go-nexrad/issues/12):
    the archive keeps the internal (bzip2) compression from 2016-06-01; historical data unchanged.
    The AWS archive README ("All files in the archive use the same compressed format (.gz)",
    ``KAKQ20010101_080138.gz``; ``_V06`` in 2015 names such as ``KABX20150303_001050_V06.gz``),
    quoted in https://github.com/aarande/nexradaws/pull/8 ; keys without ``.gz`` from 2016-06-02
    (https://github.com/awslabs/open-data-docs/issues/20); both forms of the same 2016-06-01 KLBB
    volume (https://github.com/openradar/open-radar-data/pull/45).
``trmm``
    NASA PMM "TRMM Satellite Out of Station-keeping Fuel",
    https://pmm.nasa.gov/mission-updates/gpm-news/trmm-satellite-out-station-keeping-fuel
    (data "since December 1997"); JAXA "Completion of TRMM/PR Normal Mission Operation",
    https://earth.jaxa.jp/en/earthview/2014/10/08/2871/index.html (PR normal operation completed
    2014-10-07 UTC); NASA GPM "TRMM Precipitation Radar Data Suspended" / "TRMM PR Data
    Distribution Resumes", https://gpm.nasa.gov/category/keywords/trmm?page=1 (last production
    orbit #96230 of 2014-10-07; experimental PR data around 350 km from 2015-02-12 for "about 40
    days"); NASA SVS "TRMM's Mission Ends", https://svs.gsfc.nasa.gov/11852 (science operations
    and data collection stopped 2015-04-08).
``gpm``
    E. F. Stocker, "GPM Mission Data and Data Access", EGU 2014,
    https://slideplayer.com./amp/3345450 : DPR commanded to science observation mode, first data,
    2014-03-08 (launch 2014-02-27 UTC, 02-28 JST).
``goes``
    NOAA CLASS GOES-R ABI L0 collection description (Google Dataset Search,
    https://datasetsearch.research.google.com/search?query=noaa+class): GOES-16 GOES-East from
    2017-12-18, GOES-17 GOES-West from 2019-02-12; CBS4 Denver,
    https://www.cbsnews.com/amp/colorado/news/goes-17-satellite-now-operational/ (GOES-17
    GOES-West 2019-02-12); KJRH "New weather satellite is now fully
    operational" (GOES-16, 2017-12-18); NOAA NESDIS "Earth from Orbit: NOAA's GOES-18 is now
    GOES West", https://www.nesdis.noaa.gov/news/earth-orbit-noaas-goes-18-now-goes-west
    (2023-01-04, replacing GOES-17); CBS News Bay Area, 2025-04-06,
    https://www.cbsnews.com/sanfrancisco/news/noaas-most-advanced-weather-monitoring-system-operational-soon/
    (GOES-19 "will become operational April 7, 2025", replacing GOES-16 as GOES-East); the
    earliest GOES-16 L1b key found, ``noaa-goes16/ABI-L1b-RadC/2017/059/...`` (2017-02-28), read
    by Unidata netcdf-c's byte-range tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from fusion_ops.readers.nexrad_sites import is_icao, known_icaos

Capability = str  # "single" | "dual" | "unknown"


class UnknownSiteError(ValueError):
    """A site id that is not a WSR-88D of the NEXRAD site table."""


def _day(value: dt.date | dt.datetime | str) -> dt.date:
    """A calendar day from a date, a datetime (its UTC day as given) or an ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# ---------------------------------------------------------------------------------------------
# Ground radar: the dual-polarization upgrade of the WSR-88D network
# ---------------------------------------------------------------------------------------------

#: First day any operational WSR-88D may be dual-pol: KVNX, the first site, went down for the
#: installation on 2011-02-14 (``mesonet``, ``roc_slides``).  Before it: single-pol for certain.
NETWORK_DUAL_NOT_BEFORE = dt.date(2011, 2, 14)
#: First day every WSR-88D is dual-pol for certain.  Conservative: the NWS sites were reported
#: complete by the end of April 2013 (``nws_complete``, ``iawx``) and the June 2012 plan ran
#: "through late summer 2013" (``roc_slides``); no per-site date closes the last DoD/FAA sites,
#: so the bound is the first day after 2013.
NETWORK_DUAL_FROM = dt.date(2014, 1, 1)


@dataclasses.dataclass(frozen=True)
class DualPolUpgrade:
    """What is documented of one site's upgrade.

    ``dual_not_before``: the first day the site may be dual-pol (installation start); before it,
    single-pol for certain.  ``dual_from``: the first day it is dual-pol for certain (completion,
    or a report that it was done).  ``None`` where no source gives the day: the network bound
    applies.
    """

    site: str
    dual_not_before: dt.date | None
    dual_from: dt.date | None
    sources: tuple[str, ...]
    note: str = ""


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


#: Sites whose upgrade has a documented day (see the module docstring for each source key).
DUAL_POL_UPGRADES: dict[str, DualPolUpgrade] = {
    u.site: u
    for u in (
        DualPolUpgrade(
            "KVNX",
            _d("2011-02-14"),
            _d("2011-03-04"),
            ("mesonet", "weatherwary"),
            "first operational dual-pol WSR-88D; down 2011-02-14 to 03-04",
        ),
        DualPolUpgrade("KIWA", None, _d("2011-06-05"), ("weatherwary",), "completion date"),
        DualPolUpgrade("KMHX", None, _d("2011-06-26"), ("weatherwary",), "completion date"),
        DualPolUpgrade("KICT", None, _d("2011-07-17"), ("weatherwary",), "completion date"),
        DualPolUpgrade("KPBZ", None, _d("2011-07-17"), ("weatherwary",), "completion date"),
        DualPolUpgrade(
            "KRTX", None, _d("2011-09-30"), ("disastermapping",), "listed as upgraded on 2011-09-30"
        ),
        DualPolUpgrade(
            "KLGX",
            None,
            _d("2011-10-01"),
            ("roc_slides", "disastermapping"),
            "new radar, operational (dual-pol) Sep 2011; no data before",
        ),
        DualPolUpgrade(
            "KMLB",
            _d("2012-01-03"),
            _d("2012-02-27"),
            ("pbdn", "local10"),
            "installation from 2012-01-03; reported done before KTBW's 2012-02-27 start",
        ),
        DualPolUpgrade(
            "KAMX",
            _d("2012-01-30"),
            _d("2012-02-27"),
            ("pbdn", "local10"),
            "installation 2012-01-30 to 02-12; completed on a Monday before KTBW's start",
        ),
        DualPolUpgrade(
            "KBYX", None, _d("2012-02-27"), ("local10",), "reported done before 2012-02-27"
        ),
        DualPolUpgrade(
            "KTBW",
            _d("2012-02-27"),
            None,
            ("local10",),
            "scheduled 2012-02-27 to 03-11; completion not documented",
        ),
        DualPolUpgrade(
            "KDIX",
            _d("2012-01-30"),
            None,
            ("njwo",),
            "installation expected 2012-01-30 to 02-12; completion not documented",
        ),
        DualPolUpgrade("KABX", None, _d("2012-05-05"), ("nws_abq",), "complete as of 2012-05-05"),
        DualPolUpgrade("KFDX", None, _d("2012-05-05"), ("nws_abq",), "complete as of 2012-05-05"),
        DualPolUpgrade("KOAX", None, _d("2013-03-28"), ("iawx",), "completion date"),
    )
}


def check_site(site: str, known_sites: Iterable[str] | None = None) -> str:
    """``site`` upper-cased, or :class:`UnknownSiteError` if it is not a WSR-88D.

    ``known_sites`` replaces Py-ART's NEXRAD site table (tests, or a caller with its own list).
    """
    icao = str(site).strip().upper()
    if not is_icao(icao):
        raise UnknownSiteError(f"not a radar site id: {site!r} (four characters, e.g. KMLB)")
    table = frozenset(s.upper() for s in known_sites) if known_sites is not None else known_icaos()
    if icao not in table:
        raise UnknownSiteError(f"{icao} is not a WSR-88D of the NEXRAD site table")
    return icao


def radar_capability(
    site: str, date: dt.date | dt.datetime | str, known_sites: Iterable[str] | None = None
) -> Capability:
    """``"single"``, ``"dual"`` or ``"unknown"``: the polarization of a WSR-88D on a day.

    Single-pol for certain before the site's documented installation start (else before the
    network's first, 2011-02-14); dual-pol for certain from its documented completion (else from
    2014-01-01); ``"unknown"`` between, where the volume's content decides (no ZDR: single-pol).
    Raises :class:`UnknownSiteError` for a site that is not a WSR-88D.
    """
    icao = check_site(site, known_sites)
    day = _day(date)
    rec = DUAL_POL_UPGRADES.get(icao)
    not_before = (rec.dual_not_before if rec else None) or NETWORK_DUAL_NOT_BEFORE
    dual_from = (rec.dual_from if rec else None) or NETWORK_DUAL_FROM
    if day < not_before:
        return "single"
    if day >= dual_from:
        return "dual"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# Level II: message type, compression and key names
# ---------------------------------------------------------------------------------------------

#: No WSR-88D Level II before 1991 (the first radars of the network were commissioned in 1991).
LEVEL2_FIRST = dt.date(1991, 1, 1)
#: Build 10 (super-resolution, message 31) first loaded on KPAH, 2008-03-11 (``build10``).
BUILD10_FIRST = dt.date(2008, 3, 11)
#: Every site on message 31 for certain.  The rollout ran "March to August 2008" (``build10``);
#: the bound is the first day after 2008.
BUILD10_ALL = dt.date(2009, 1, 1)
#: NCEI archives the internal bzip2 compression from 2016-06-01 (TIN 16-12); keys without
#: ``.gz`` from 2016-06-02; on 2016-06-01 both forms exist (``tin16_12``).
UNCOMPRESSED_KEYS_FIRST = dt.date(2016, 6, 1)
UNCOMPRESSED_KEYS_ONLY = dt.date(2016, 6, 2)


@dataclasses.dataclass(frozen=True)
class Level2Format:
    """What the Level II archive holds on a day; a tuple of two where either can occur.

    ``message_types``: radial message types (1: legacy; 31: Build 10 on).  ``compressions``:
    ``"gzip"`` (the whole file, records inside uncompressed) or ``"bzip2-records"`` (bzip2 LDM
    records inside, as transmitted).  ``key_suffixes``: the end of the archive key (``".gz"`` or
    ``""``).  ``version_examples``: ``_V0x`` tags of keys documented for the period (the tag is
    read from the volume header, never assumed from the date).
    """

    message_types: tuple[int, ...]
    compressions: tuple[str, ...]
    key_suffixes: tuple[str, ...]
    version_examples: tuple[str, ...]
    note: str = ""

    @property
    def message_type(self) -> int | None:
        """The message type where only one can occur, else None (the reader tells)."""
        return self.message_types[0] if len(self.message_types) == 1 else None

    @property
    def compression(self) -> str | None:
        return self.compressions[0] if len(self.compressions) == 1 else None

    @property
    def key_suffix(self) -> str | None:
        return self.key_suffixes[0] if len(self.key_suffixes) == 1 else None


def level2_format(date: dt.date | dt.datetime | str) -> Level2Format | None:
    """The Level II format of a day, or None before 1991 (no Level II)."""
    day = _day(date)
    if day < LEVEL2_FIRST:
        return None
    if day < BUILD10_FIRST:
        msgs: tuple[int, ...] = (1,)
        note = "legacy message 1 (before Build 10)"
        versions: tuple[str, ...] = ("",)
    elif day < BUILD10_ALL:
        msgs = (1, 31)
        note = "Build 10 rollout (2008-03-11 to 2008): message 1 or 31 by site"
        versions = ("", "V01", "V02", "V03")
    else:
        msgs = (31,)
        note = "message 31"
        versions = ("V03", "V06") if day < UNCOMPRESSED_KEYS_FIRST else ("V06",)
    if day < UNCOMPRESSED_KEYS_FIRST:
        comps: tuple[str, ...] = ("gzip",)
        suffixes: tuple[str, ...] = (".gz",)
    elif day < UNCOMPRESSED_KEYS_ONLY:
        comps, suffixes = ("gzip", "bzip2-records"), (".gz", "")
        note += "; 2016-06-01: both .gz and uncompressed keys"
    else:
        comps, suffixes = ("bzip2-records",), ("",)
    return Level2Format(msgs, comps, suffixes, versions, note)


# ---------------------------------------------------------------------------------------------
# Spaceborne radars
# ---------------------------------------------------------------------------------------------

#: ``(name, first day, last day inclusive or None, note)`` of each window with public data.
SPACEBORNE_WINDOWS: tuple[tuple[str, dt.date, dt.date | None, str], ...] = (
    ("TRMM-PR", dt.date(1997, 12, 1), dt.date(2014, 10, 7), "normal and extended operation"),
    ("TRMM-PR", dt.date(2015, 2, 12), dt.date(2015, 4, 8), "experimental, around 350 km"),
    ("GPM-DPR", dt.date(2014, 3, 8), None, "science mode from 2014-03-08"),
)


def spaceborne_radars(date: dt.date | dt.datetime | str) -> tuple[str, ...]:
    """The spaceborne radars with data on a day: ``"TRMM-PR"``, ``"GPM-DPR"`` (in that order)."""
    day = _day(date)
    found: list[str] = []
    for name, first, last, _ in SPACEBORNE_WINDOWS:
        if first <= day and (last is None or day <= last) and name not in found:
            found.append(name)
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# GOES-R ABI
# ---------------------------------------------------------------------------------------------

#: First GOES-R ABI L1b day found in the archive (``noaa-goes16/ABI-L1b-RadC/2017/059``).
ABI_FIRST = dt.date(2017, 2, 28)

#: ``(platform, sector, first day, last day exclusive or None, S3 bucket, role)``.
ABI_PLATFORMS: tuple[tuple[str, str, dt.date, dt.date | None, str, str], ...] = (
    ("G16", "east", ABI_FIRST, dt.date(2017, 12, 18), "noaa-goes16", "pre-operational (checkout)"),
    ("G16", "east", dt.date(2017, 12, 18), dt.date(2025, 4, 7), "noaa-goes16", "GOES-East"),
    ("G19", "east", dt.date(2025, 4, 7), None, "noaa-goes19", "GOES-East"),
    ("G17", "west", dt.date(2019, 2, 12), dt.date(2023, 1, 4), "noaa-goes17", "GOES-West"),
    ("G18", "west", dt.date(2023, 1, 4), None, "noaa-goes18", "GOES-West"),
)
PLATFORM_SECTOR = {"G16": "east", "G19": "east", "G17": "west", "G18": "west"}
PLATFORM_BUCKET = {p: b for p, _, _, _, b, _ in ABI_PLATFORMS}


def abi_platforms(date: dt.date | dt.datetime | str, sector: str = "east") -> tuple[str, ...]:
    """The GOES-R platform serving ``sector`` (``"east"`` | ``"west"``) on a day, or ``()``."""
    if sector not in ("east", "west"):
        raise ValueError(f"sector must be 'east' or 'west', not {sector!r}")
    day = _day(date)
    return tuple(
        p
        for p, sec, first, end, _, _ in ABI_PLATFORMS
        if sec == sector and first <= day and (end is None or day < end)
    )


def _abi_absent_reason(day: dt.date, platform: str) -> str:
    sector = PLATFORM_SECTOR[platform]
    if day < ABI_FIRST:
        return f"no GOES-R ABI before {ABI_FIRST.isoformat()}"
    serving = abi_platforms(day, sector)
    spans = [
        (first, end)
        for p, sec, first, end, _, _ in ABI_PLATFORMS
        if p == platform and sec == sector
    ]
    first = min(s for s, _ in spans)
    ends = [e for _, e in spans]
    span = f"{first.isoformat()} to {max(ends).isoformat()}" if None not in ends else ""
    span = span or f"from {first.isoformat()}"
    other = (
        f"; GOES-{sector.capitalize()} that day is {serving[0]} ({PLATFORM_BUCKET[serving[0]]})"
        if serving
        else f"; no GOES-R platform serves GOES-{sector.capitalize()} that day"
    )
    return f"{platform} serves GOES-{sector.capitalize()} {span}{other}"


# ---------------------------------------------------------------------------------------------
# A partition's plan
# ---------------------------------------------------------------------------------------------


def sources_available(
    date: dt.date | dt.datetime | str,
    sites: Iterable[str] = (),
    satellite_platform: str | None = None,
    known_sites: Iterable[str] | None = None,
) -> dict:
    """Which sources the pipeline can plan for a day, with a reason for each absent one.

    Returns plain values::

        {"date": "2019-06-01",
         "gauges": {"available": True, "reason": ""},
         "ground_radar": {"KMLB": {"available": True, "capability": "dual",
                                   "message_types": [31], "key_suffixes": [""],
                                   "reason": ""}},
         "spaceborne": {"available": True, "radars": ["GPM-DPR"], "reason": ""},
         "satellite": {"available": True, "platform": "G16", "bucket": "noaa-goes16",
                       "reason": ""}}

    Gauges are always planned.  A ground radar is planned from 1991 on (whether the site had
    been commissioned by then is for the archive's listing to tell); an unknown site is absent
    with the :class:`UnknownSiteError` message.  The satellite is planned when the configured
    platform (``G16`` ... ``G19``) serves its sector that day.
    """
    day = _day(date)
    l2 = level2_format(day)
    known = list(known_sites) if known_sites is not None else None
    radars: dict[str, dict] = {}
    for site in sites:
        key = str(site).strip().upper()
        try:
            icao = check_site(site, known)
        except UnknownSiteError as exc:
            radars[key] = {"available": False, "capability": "", "reason": str(exc)}
            continue
        if l2 is None:
            radars[icao] = {
                "available": False,
                "capability": "",
                "reason": f"no WSR-88D Level II before {LEVEL2_FIRST.isoformat()}",
            }
            continue
        radars[icao] = {
            "available": True,
            "capability": radar_capability(icao, day, known),
            "message_types": list(l2.message_types),
            "key_suffixes": list(l2.key_suffixes),
            "reason": "",
        }

    sr = spaceborne_radars(day)
    if sr:
        spaceborne = {"available": True, "radars": list(sr), "reason": ""}
    elif day < SPACEBORNE_WINDOWS[0][1]:
        spaceborne = {
            "available": False,
            "radars": [],
            "reason": "no spaceborne precipitation radar before 1997-12-01 (TRMM PR)",
        }
    else:  # pragma: no cover - GPM covers every day after TRMM's gaps
        spaceborne = {"available": False, "radars": [], "reason": "no spaceborne radar data"}

    if satellite_platform is None:
        satellite = {
            "available": False,
            "platform": "",
            "bucket": "",
            "reason": "no satellite platform configured",
        }
    else:
        platform = str(satellite_platform).strip().upper()
        if platform not in PLATFORM_SECTOR:
            raise ValueError(
                f"unknown GOES-R platform {satellite_platform!r}: one of G16, G17, G18, G19"
            )
        if platform in abi_platforms(day, PLATFORM_SECTOR[platform]):
            satellite = {
                "available": True,
                "platform": platform,
                "bucket": PLATFORM_BUCKET[platform],
                "reason": "",
            }
        else:
            satellite = {
                "available": False,
                "platform": "",
                "bucket": "",
                "reason": _abi_absent_reason(day, platform),
            }

    return {
        "date": day.isoformat(),
        "gauges": {"available": True, "reason": ""},
        "ground_radar": radars,
        "spaceborne": spaceborne,
        "satellite": satellite,
    }


__all__ = [
    "ABI_FIRST",
    "ABI_PLATFORMS",
    "BUILD10_ALL",
    "BUILD10_FIRST",
    "DUAL_POL_UPGRADES",
    "LEVEL2_FIRST",
    "NETWORK_DUAL_FROM",
    "NETWORK_DUAL_NOT_BEFORE",
    "PLATFORM_BUCKET",
    "PLATFORM_SECTOR",
    "SPACEBORNE_WINDOWS",
    "UNCOMPRESSED_KEYS_FIRST",
    "UNCOMPRESSED_KEYS_ONLY",
    "DualPolUpgrade",
    "Level2Format",
    "UnknownSiteError",
    "abi_platforms",
    "check_site",
    "level2_format",
    "radar_capability",
    "sources_available",
    "spaceborne_radars",
]
