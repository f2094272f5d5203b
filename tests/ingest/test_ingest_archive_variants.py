"""Every NEXRAD Level II archive variant through the one ground-radar path (issue #18, item 1).

Whole-file gzip / Unix compress (.Z) / bzip2 told by content, message-1 (pre-2008) volumes placed
from the NEXRAD site table, single- vs dual-pol capability, archive key names, and ``s3://``: a
message-1 ``.bz2`` and a ``.gz`` key (beside an ``_MDM`` key, skipped) listed, read and ingested
through the daily path from the S3 test server (the real-time chunks from ``s3://`` are in
``test_ingest_level2_chunks.py``).
Real files: Py-ART's message-1 sample (KLOT 2003-01-01 00:09:21, its original archive name) and
the KLBB message-31 volume of ``../shared/data``.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from fusion_ops.grid import GaugePoints, ProductGrid
from fusion_ops.radar.blocks import day_volume_urls
from fusion_ops.radar.profiles import INVENTORY_COLUMNS, ingest_radar_day
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.ground_radar import list_volumes, read_volume, volume_time_from_name
from fusion_ops.readers.level2 import decompress_records

KLBB = "radar/KLBB20160601_150025_V06"
KLBB_LAT, KLBB_LON = 33.654, -101.814
# Py-ART's NEXRAD table: KLOT (Chicago) 41.60444 N, 88.08472 W, 663 ft
KLOT_LAT, KLOT_LON = 41.60444, -88.08472


def compress_z(data: bytes, max_bits: int = 16) -> bytes:
    """``data`` as Unix ``compress`` writes it (.Z: LZW, block mode, codes of 9..max_bits bits).

    unlzw3 only decompresses; this encoder writes the same stream (``gzip -d`` reads it too).
    The code width grows when the decoder's table fills (first 256 codes in 9 bits, then the
    codes from ``2**(w-1) - 256`` in ``w`` bits), and at each growth the stream is padded to a
    whole group of 8 codes of the old width (compress's 8-code blocks).
    """
    header = bytes([0x1F, 0x9D, 0x80 | max_bits])
    if not data:
        return header
    table: dict[int, int] = {}
    get = table.get
    codes: list[int] = []
    w, next_code, limit = data[0], 257, 1 << max_bits
    for b in data[1:]:
        c = get((w << 8) | b)
        if c is not None:
            w = c
            continue
        codes.append(w)
        if next_code < limit:
            table[(w << 8) | b] = next_code
            next_code += 1
        w = b
    codes.append(w)
    arr = np.asarray(codes, dtype="<u4")
    parts = [header]
    for width in range(9, max_bits + 1):
        start = 0 if width == 9 else (1 << (width - 1)) - 256
        stop = arr.size if width == max_bits else (1 << width) - 256
        seg = arr[start:stop]
        if not seg.size:
            break
        bits = np.unpackbits(seg.view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
        bits = bits[:, :width].ravel()
        last = stop >= arr.size
        group = 8 if last else 8 * width
        bits = np.concatenate([bits, np.zeros(-bits.size % group, np.uint8)])
        parts.append(np.packbits(bits, bitorder="little").tobytes())
        if last:
            break
    return b"".join(parts)


def test_compress_z_roundtrips_through_unlzw3():
    import unlzw3

    rng = np.random.default_rng(0)
    for data in (b"a", b"abababababababa", rng.integers(0, 256, 200_000, np.uint8).tobytes()):
        assert unlzw3.unlzw(compress_z(data)) == data


@pytest.fixture(scope="module")
def msg1_bytes() -> bytes:
    import pyart.testing

    with open(pyart.testing.NEXRAD_ARCHIVE_MSG1_FILE, "rb") as fh:
        return fh.read()


def _reflectivity(vol, sweep=0):
    return vol.sweeps[sweep].fields["reflectivity"]


# --- message 1 ---------------------------------------------------------------------------------


def test_message1_volume_reads_placed_from_the_site_table(tmp_path, msg1_bytes):
    from pyart.io.nexrad_common import get_nexrad_location

    path = tmp_path / "KLOT20030101_000921.bz2"  # the sample's original archive name
    path.write_bytes(msg1_bytes)
    assert bz2.decompress(msg1_bytes)[20:24] == b"\x00" * 4  # no ICAO in a legacy header
    vol = read_volume(str(path))
    assert vol.site_id == "KLOT"
    lat, lon, alt = get_nexrad_location("KLOT")
    assert (vol.latitude_deg, vol.longitude_deg) == (lat, lon)
    assert vol.latitude_deg == pytest.approx(KLOT_LAT) and vol.longitude_deg == pytest.approx(
        KLOT_LON
    )
    assert vol.altitude_m == pytest.approx(663 * 0.3048)
    assert str(vol.time) == "2003-01-01T00:09:21"
    assert len(vol.sweeps) == 7
    assert [round(s.elevation_deg, 1) for s in vol.sweeps] == [0.5, 0.5, 1.5, 1.5, 2.5, 3.5, 4.4]
    # the split cuts' Doppler sweeps carry no reflectivity in message 1
    assert [("reflectivity" in s.fields) for s in vol.sweeps] == [1, 0, 1, 0, 1, 1, 1]
    assert _reflectivity(vol).shape == (360, 460)
    assert vol.max_reflectivity_dbz() == pytest.approx(57.5)
    assert "differential_reflectivity" not in vol.field_names()
    assert vol.capability == "single"


def test_message1_site_from_the_header_icao_before_the_name(tmp_path, msg1_bytes):
    raw = bytearray(bz2.decompress(msg1_bytes))
    raw[20:24] = b"KLOT"
    # the header names KLOT; the (wrong) name names KMLB: the header wins
    path = tmp_path / "KMLB20030101_000921.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    vol = read_volume(str(path))
    assert vol.site_id == "KLOT"
    assert (vol.latitude_deg, vol.longitude_deg) == pytest.approx((KLOT_LAT, KLOT_LON))
    assert vol.max_reflectivity_dbz() == pytest.approx(57.5)


@pytest.mark.parametrize("icao", [b"XXXX", b"\x00\x00\x00\x00"])
def test_volume_whose_site_cannot_be_found_raises(tmp_path, msg1_bytes, icao):
    raw = bytearray(bz2.decompress(msg1_bytes))
    raw[20:24] = icao
    path = tmp_path / "legacy_volume.bz2"
    path.write_bytes(bz2.compress(bytes(raw)))
    with pytest.raises(UnreadableFileError) as err:
        read_volume(str(path))
    assert err.value.file == str(path)
    assert err.value.reader == "nexrad_level2"
    assert "site unknown" in err.value.reason
    assert str(path) in str(err.value)


# --- whole-file wrappers around the real KLBB message-31 volume ----------------------------------


@pytest.fixture(scope="module")
def klbb_bytes(klbb_path) -> bytes:
    with open(klbb_path, "rb") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def klbb_z(klbb_bytes) -> bytes:
    return compress_z(klbb_bytes)  # ~3 s: encode once for the module


@pytest.mark.parametrize(
    ("suffix", "wrapping"),
    [
        (".gz", "gzip"),
        (".Z", "compress"),
        (".bz2", "bzip2"),
        ("", "gzip"),  # told by content: no suffix needed
        (".Z", "gzip of bzip2"),  # nested, and never told by the name
    ],
    ids=["gz", "Z", "bz2", "gz-no-suffix", "gz-of-bz2-misnamed"],
)
def test_wrapped_klbb_reads_like_the_plain_file(
    tmp_path, klbb, klbb_bytes, klbb_z, suffix, wrapping
):
    data = {
        "gzip": lambda: gzip.compress(klbb_bytes, compresslevel=1),
        "compress": lambda: klbb_z,
        "bzip2": lambda: bz2.compress(klbb_bytes, compresslevel=1),
        "gzip of bzip2": lambda: gzip.compress(bz2.compress(klbb_bytes, 1), compresslevel=1),
    }[wrapping]()
    assert data[:2] in (b"\x1f\x8b", b"\x1f\x9d", b"BZ")
    path = tmp_path / f"KLBB20160601_150025_V06{suffix}"
    path.write_bytes(data)
    vol = read_volume(str(path))
    assert vol.site_id == "KLBB"
    assert vol.latitude_deg == pytest.approx(KLBB_LAT, abs=1e-3)
    assert vol.longitude_deg == pytest.approx(KLBB_LON, abs=1e-3)
    assert vol.capability == "dual"
    assert len(vol.sweeps) == len(klbb.sweeps) == 11
    assert str(vol.time) == str(klbb.time) == "2016-06-01T15:00:25"
    np.testing.assert_array_equal(_reflectivity(vol), _reflectivity(klbb))
    for a, b in zip(vol.sweeps, klbb.sweeps, strict=True):
        assert a.fields.keys() == b.fields.keys()
        for name in a.fields:
            np.testing.assert_array_equal(a.fields[name], b.fields[name])
    assert vol.max_reflectivity_dbz() == pytest.approx(71.5)


def test_uncompressed_message31_volume_takes_the_fast_path(tmp_path, klbb, klbb_bytes):
    # an Archive II volume whose bzip2 LDM records were unpacked (no record is "BZh")
    plain = klbb_bytes[:24] + decompress_records(klbb_bytes)
    path = tmp_path / "KLBB20160601_150025_V06"
    path.write_bytes(gzip.compress(plain, compresslevel=1))
    vol = read_volume(str(path))
    assert vol.capability == "dual" and len(vol.sweeps) == 11
    np.testing.assert_array_equal(_reflectivity(vol), _reflectivity(klbb))
    assert vol.latitude_deg == klbb.latitude_deg and vol.altitude_m == klbb.altitude_m


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<html>NoSuchKey</html>", "unknown format: first bytes b'<html>No' (hex 3c 68"),
        (b"\x1f\x8b\x08\x00garbled-gzip-body", "corrupt gzip file"),
        (b"\x1f\x9d\x90\xff\xff\xff\xff", "corrupt Unix compress (.Z) file"),
        (b"BZh9garbled", "corrupt bzip2 file"),
        (None, "truncated gzip file"),
    ],
    ids=["html", "gzip", "Z", "bzip2", "truncated-gzip"],
)
def test_unknown_or_garbled_file_is_named_with_its_first_bytes(tmp_path, content, reason):
    if content is None:
        content = gzip.compress(b"AR2V0006." + bytes(range(256)) * 40)[:-20]
    path = tmp_path / "KLBB20160601_150025_V06.gz"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError) as err:
        read_volume(str(path))
    assert err.value.file == str(path)
    assert reason in err.value.reason


# --- listing -------------------------------------------------------------------------------------


def test_list_volumes_accepts_every_key_form_skips_mdm(tmp_path):
    folder = tmp_path / "nexrad" / "2016" / "06" / "01" / "KLBB"
    folder.mkdir(parents=True)
    names = [
        "KLBB20160601_150025_V06",
        "KLBB20160601_000127_V03.gz",
        "KLBB20160601_120000_V06.bz2",
        "KLBB20160601_050000_V01.Z",
        "KLBB20160601_030000.gz",  # before version numbers
        "KLBB20160601_070000",
        "KLBB20160601_150025_V06_MDM",  # model data messages: not a volume
        "KLBB20160601_151000_V09",  # no such version
        "KLBB20160602_000000_V06",  # another day
        "KMLB20160601_000000_V06",  # another site
        "KLBB20160601_160000_V06.zip",
    ]
    for name in names:
        (folder / name).write_bytes(b"x")
    urls = list_volumes(str(tmp_path / "nexrad"), "2016-06-01", "KLBB")
    assert [u.rsplit("/", 1)[-1] for u in urls] == [
        "KLBB20160601_000127_V03.gz",
        "KLBB20160601_030000.gz",
        "KLBB20160601_050000_V01.Z",
        "KLBB20160601_070000",
        "KLBB20160601_120000_V06.bz2",
        "KLBB20160601_150025_V06",
    ]
    times = [volume_time_from_name(u) for u in urls]
    assert times == sorted(times)
    assert times[0] == pd.Timestamp("2016-06-01T00:01:27Z")
    assert volume_time_from_name("KLBB20160601_150025_V06_MDM") is None


# --- s3:// ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_gz_volume_listed_and_read_from_s3(s3_bucket, klbb, klbb_bytes):
    import s3fs

    bucket, opts = s3_bucket
    fs = s3fs.S3FileSystem(**opts)
    day = f"{bucket}/level2/2016/06/01/KLBB"
    fs.pipe_file(f"{day}/KLBB20160601_150025_V06.gz", gzip.compress(klbb_bytes))
    fs.pipe_file(f"{day}/KLBB20160601_150025_V06_MDM", b"model data messages")
    fs.pipe_file(f"{bucket}/level2/2016/06/02/KLBB/KLBB20160602_000000_V06.gz", b"next day")
    assert sorted(k.rsplit("/", 1)[-1] for k in fs.ls(day)) == [
        "KLBB20160601_150025_V06.gz",
        "KLBB20160601_150025_V06_MDM",  # in the listing, and skipped
    ]
    urls = list_volumes(f"s3://{bucket}/level2", "2016-06-01", "KLBB", opts)
    assert urls == [f"s3://{day}/KLBB20160601_150025_V06.gz"]
    vol = read_volume(urls[0], storage_options=opts)
    assert vol.site_id == "KLBB" and vol.capability == "dual"
    assert vol.latitude_deg == pytest.approx(KLBB_LAT, abs=1e-3)
    assert vol.longitude_deg == pytest.approx(KLBB_LON, abs=1e-3)
    assert len(vol.sweeps) == 11 and vol.max_reflectivity_dbz() == pytest.approx(71.5)
    np.testing.assert_array_equal(_reflectivity(vol), _reflectivity(klbb))
    # and through the daily path
    assert day_volume_urls(f"s3://{bucket}/level2", dt.date(2016, 6, 1), ["KLBB"], opts) == urls
    grid = ProductGrid.from_centres(33.4, 33.9, -102.1, -101.5, 0.1, (1000.0,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inv = ingest_radar_day(urls, grid, None, storage_options=opts).inventory
    assert list(inv["status"]) == ["ok"] and list(inv["capability"]) == ["dual"]
    assert list(inv["site_id"]) == ["KLBB"] and inv["max_reflectivity_dbz"].iloc[0] == 58.0
    assert inv["time"].iloc[0] == pd.Timestamp("2016-06-01T15:00:25Z")


@pytest.mark.integration
def test_message1_volume_listed_and_ingested_from_s3(s3_bucket, msg1_bytes):
    import s3fs
    from pyart.io.nexrad_common import get_nexrad_location

    bucket, opts = s3_bucket
    fs = s3fs.S3FileSystem(**opts)
    day = f"{bucket}/level2/2003/01/01/KLOT"
    fs.pipe_file(f"{day}/KLOT20030101_000921.bz2", msg1_bytes)  # its original archive name
    fs.pipe_file(f"{day}/KLOT20030101_000921_MDM", b"model data messages")
    fs.pipe_file(f"{day}/KLOT20030101_000921.bz2.md5", b"checksum")
    urls = day_volume_urls(f"s3://{bucket}/level2", dt.date(2003, 1, 1), ["KLOT", "KMLB"], opts)
    assert urls == [f"s3://{day}/KLOT20030101_000921.bz2"]
    vol = read_volume(urls[0], storage_options=opts)
    lat, lon, _ = get_nexrad_location("KLOT")
    assert vol.site_id == "KLOT" and (vol.latitude_deg, vol.longitude_deg) == (lat, lon)
    assert vol.latitude_deg == pytest.approx(KLOT_LAT)
    assert vol.longitude_deg == pytest.approx(KLOT_LON)
    assert len(vol.sweeps) == 7 and vol.capability == "single"
    assert vol.max_reflectivity_dbz() == pytest.approx(57.5)
    grid = ProductGrid.from_centres(41.2, 42.0, -88.5, -87.7, 0.1, (1000.0, 2000.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rday = ingest_radar_day(urls, grid, GaugePoints(("g1",), (41.7,), (-88.0,)), None, opts)
    inv = rday.inventory
    assert list(inv["status"]) == ["ok"] and list(inv["site_id"]) == ["KLOT"]
    assert list(inv["capability"]) == ["single"] and rday.quarantine == []
    # gates beyond the grid's farthest corner (~62 km) are cut: not the whole volume's 57.5 dBZ
    assert inv["max_reflectivity_dbz"].iloc[0] == 47.0
    assert inv["time"].iloc[0] == pd.Timestamp("2003-01-01T00:09:21Z")
    assert rday.grid.attrs["site_latitude_deg"] == pytest.approx(KLOT_LAT)
    assert rday.grid.attrs["site_longitude_deg"] == pytest.approx(KLOT_LON)
    assert set(rday.profiles["site_id"]) == {"KLOT"} and len(rday.profiles) == 16


# --- the day's inventory -------------------------------------------------------------------------


def test_inventory_reports_capability_and_quarantines_unknown_site(tmp_path, msg1_bytes):
    ok = tmp_path / "KLOT20030101_000921.bz2"
    ok.write_bytes(msg1_bytes)
    lost = tmp_path / "legacy_volume.bz2"  # no ICAO in the header, none in the name
    lost.write_bytes(msg1_bytes)
    grid = ProductGrid.from_centres(41.2, 42.0, -88.5, -87.7, 0.1, (1000.0, 2000.0))
    gauges = GaugePoints(("g1",), (41.7,), (-88.0,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        day = ingest_radar_day([str(ok), str(lost)], grid, gauges)
    inv = day.inventory
    assert list(inv.columns) == list(INVENTORY_COLUMNS) and "capability" in inv.columns
    assert list(inv["status"]) == ["ok", "quarantined"]
    assert list(inv["capability"]) == ["single", ""]
    assert inv["site_id"].iloc[0] == "KLOT"
    assert "site unknown" in inv["reason"].iloc[1]
    assert [q.file for q in day.quarantine] == [str(lost)]
    assert day.grid.attrs["site_latitude_deg"] == pytest.approx(KLOT_LAT)
    assert np.isfinite(day.grid["reflectivity"].values.astype(float)).any()
    assert (day.grid["reflectivity"].values != 255).any()  # not an all-empty grid
    empty = ingest_radar_day([], grid, gauges).inventory
    assert list(empty.columns) == list(INVENTORY_COLUMNS)
    # typed like the other string columns (status, reason), with rows and without
    assert inv["capability"].dtype == inv["status"].dtype
    assert empty["capability"].dtype == empty["status"].dtype


def test_inventory_capability_dual_for_klbb(tmp_path, klbb_path):
    path = tmp_path / "KLBB20160601_150025_V06.gz"
    with open(klbb_path, "rb") as fh:
        path.write_bytes(gzip.compress(fh.read(), compresslevel=1))
    grid = ProductGrid.from_centres(33.4, 33.9, -102.1, -101.5, 0.1, (1000.0,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        day = ingest_radar_day([str(path)], grid, None)
    assert list(day.inventory["capability"]) == ["dual"]
    assert list(day.inventory["status"]) == ["ok"]
