"""Real-time Level II chunks cut from the real KLBB volume, assembled and read as the file.

Also through the daily ground-radar path (issue #18): ``day_volume_urls`` on a chunk root lists
one URL per volume, and ``ingest_radar_day`` reads them into the inventory (``ok`` / ``partial``
/ ``quarantined``), profiles and grid as it reads the archive file.
"""

from __future__ import annotations

import datetime as dt
import struct
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fusion_ops.grid import GaugePoints, ProductGrid
from fusion_ops.radar.blocks import day_volume_urls, inventory_quarantine, summarize_radar_day
from fusion_ops.radar.profiles import INVENTORY_COLUMNS, ingest_radar_day
from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.ground_radar import (
    is_chunk_volume_url,
    list_volumes,
    read_volume,
    read_volume_with_status,
    volume_site_from_name,
    volume_time_from_name,
)
from fusion_ops.readers.level2_chunks import (
    assemble_chunks,
    chunk_volume_at,
    list_chunk_volumes,
    read_chunk_day,
    read_chunk_volume,
)

SITE = "KLBB"
VOLUME_NUMBER = 123
PREFIX = "20160601-150025"
DAY = dt.date(2016, 6, 1)
#: Lubbock and two gauges near it; three heights, so that a partial volume's missing upper
#: sweeps show in its profiles
GRID = ProductGrid.from_centres(33.2, 34.1, -102.3, -101.3, 0.05, heights_m=(500.0, 1000.0, 3000.0))
GAUGES = GaugePoints(("LBB1", "LBB2"), (33.75, 33.50), (-101.70, -101.95), 1500.0, GRID.heights_m)


def _records(data: bytes) -> list[bytes]:
    """The LDM records after the 24-byte volume header, each with its 4-byte length."""
    out, pos = [], 24
    while pos + 4 <= len(data):
        size = abs(struct.unpack_from(">i", data, pos)[0])
        out.append(data[pos : pos + 4 + size])
        pos += 4 + size
    assert pos == len(data)
    return out


@pytest.fixture(scope="module")
def klbb_bytes(klbb_path) -> bytes:
    return Path(klbb_path).read_bytes()


@pytest.fixture(scope="module")
def chunks(klbb_bytes) -> dict[str, bytes]:
    """Real-time key name -> content: S = header + metadata record, one record per I / E chunk."""
    recs = _records(klbb_bytes)
    assert len(recs) == 46
    out = {f"{PREFIX}-001-S": klbb_bytes[:24] + recs[0]}
    for i, rec in enumerate(recs[1:], start=2):
        kind = "E" if i == len(recs) else "I"
        out[f"{PREFIX}-{i:03d}-{kind}"] = rec
    return out


@pytest.fixture(scope="module")
def plain(klbb_path):
    return read_volume(klbb_path)


def _write(root: Path, chunks: dict[str, bytes], volume_number: int = VOLUME_NUMBER) -> None:
    folder = root / SITE / str(volume_number)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in chunks.items():
        (folder / name).write_bytes(data)


def _assert_same_volume(vol, plain) -> None:
    assert len(vol.sweeps) == len(plain.sweeps) == 11
    assert vol.site_id == plain.site_id == SITE
    assert vol.time == plain.time
    for a, b in zip(vol.sweeps, plain.sweeps, strict=True):
        assert a.elevation_deg == b.elevation_deg
        np.testing.assert_array_equal(a.fields["reflectivity"], b.fields["reflectivity"])


def test_single_chunk_is_not_a_volume(tmp_path, chunks):
    # the problem of the issue: one chunk alone holds no complete volume
    one = tmp_path / "one"
    one.write_bytes(chunks[f"{PREFIX}-001-S"])
    with pytest.raises(UnreadableFileError, match="no message-31 radials"):
        read_volume(str(one))


def test_chunks_assemble_into_the_archive_file(tmp_path, chunks, klbb_bytes, plain):
    _write(tmp_path, chunks)
    # another volume number on the previous day: not listed for 2016-06-01
    _write(tmp_path, {"20160531-235900-001-S": chunks[f"{PREFIX}-001-S"]}, volume_number=122)
    (tmp_path / SITE / "notes.txt").write_text("not a chunk")
    volumes = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    assert len(volumes) == 1
    v = volumes[0]
    assert (v.volume_number, str(v.start)) == (VOLUME_NUMBER, "2016-06-01 15:00:25+00:00")
    assert [c.number for c in v.chunks] == list(range(1, 47))
    assert v.chunks[0].kind == "S" and v.chunks[-1].kind == "E" and not v.partial
    data, used = assemble_chunks(v)
    assert data == klbb_bytes  # plain concatenation is the archive file, byte for byte
    assert len(used) == 46
    read = read_chunk_volume(v)
    assert read.status == "ok" and not read.partial and read.n_chunks == 46
    assert read.missing_chunks == () and read.reason == ""
    _assert_same_volume(read.volume, plain)


def test_volume_without_end_is_partial(tmp_path, chunks, plain):
    names = sorted(chunks)[:25]  # S and I chunks 2-25: the end of the volume not yet uploaded
    _write(tmp_path, {n: chunks[n] for n in names})
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    assert v.partial and not v.has_end and v.missing_chunks == ()
    read = read_chunk_volume(v)
    assert read.partial and read.status == "partial" and read.n_chunks == 25
    assert "no end chunk (E)" in read.reason and "read chunks 1-25" in read.reason
    n = len(read.volume.sweeps)
    assert 1 <= n < len(plain.sweeps)
    for a, b in zip(read.volume.sweeps, plain.sweeps[:n], strict=True):
        np.testing.assert_array_equal(a.fields["reflectivity"], b.fields["reflectivity"])
    rays = sum(np.isfinite(s.fields["reflectivity"]).any(axis=1).sum() for s in read.volume.sweeps)
    all_rays = sum(np.isfinite(s.fields["reflectivity"]).any(axis=1).sum() for s in plain.sweeps)
    assert rays < all_rays


def test_gap_reads_up_to_the_gap(tmp_path, chunks, plain):
    names = [n for n in sorted(chunks) if "-030-" not in n]
    _write(tmp_path, {n: chunks[n] for n in names})
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    assert v.has_end and v.missing_chunks == (30,) and v.partial
    read = read_chunk_volume(v)
    assert read.partial and read.n_chunks == 29 and read.missing_chunks == (30,)
    assert "missing chunks [30]" in read.reason
    # chunk 29 ends inside the 6th elevation: the 5 elevations before it, as the file has them
    assert len(read.volume.sweeps) == 5
    for a, b in zip(read.volume.sweeps, plain.sweeps, strict=False):
        assert a.azimuth_res_deg == b.azimuth_res_deg
        np.testing.assert_array_equal(a.fields["reflectivity"], b.fields["reflectivity"])


@pytest.mark.parametrize(
    ("n_chunks", "n_sweeps"),
    [(8, 1), (13, 2), (29, 5), (40, 9)],
    ids=["in-2nd", "at-end-of-2nd", "in-6th", "at-end-of-9th"],
)
def test_partial_volume_keeps_no_part_of_a_turn(tmp_path, chunks, plain, n_chunks, n_sweeps):
    # a record holds 120 rays; read by their number alone, 120 rays of a 0.5-deg sweep would be
    # a whole turn at 3 deg: the elevation in progress is cut by its radial status instead
    _write(tmp_path, {n: chunks[n] for n in sorted(chunks)[:n_chunks]})
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    read = read_chunk_volume(v)
    assert read.partial and read.reason.endswith(f", {n_sweeps} complete sweeps")
    assert len(read.volume.sweeps) == n_sweeps
    for a, b in zip(read.volume.sweeps, plain.sweeps, strict=False):
        assert (a.elevation_deg, a.azimuth_res_deg) == (b.elevation_deg, b.azimuth_res_deg)
        for name in b.fields:
            np.testing.assert_array_equal(a.fields[name], b.fields[name])


def test_partial_volume_without_a_whole_turn_is_unreadable(tmp_path, chunks):
    _write(tmp_path, {n: chunks[n] for n in sorted(chunks)[:2]})  # S and 120 rays
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    with pytest.raises(UnreadableFileError, match="no complete sweep: no radial ends an elevation"):
        read_chunk_volume(v)


def test_volume_without_start_is_refused(tmp_path, chunks):
    names = [n for n in sorted(chunks) if not n.endswith("-S")]
    _write(tmp_path, {n: chunks[n] for n in names[:3]})
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    with pytest.raises(UnreadableFileError) as err:
        read_chunk_volume(v)
    reason = err.value.reason
    assert "no start chunk (S)" in reason
    assert f"{PREFIX}-002-I" in reason and f"{PREFIX}-004-I" in reason
    reads, quarantine = read_chunk_day(str(tmp_path), "2016-06-01", SITE)
    assert reads == [] and len(quarantine) == 1
    assert quarantine[0].reader == "level2_chunks" and quarantine[0].reason == reason
    assert quarantine[0].file.endswith(f"{SITE}/{VOLUME_NUMBER}/{PREFIX}")


def test_bare_bzip2_chunk_gets_its_length(tmp_path, chunks, klbb_bytes):
    bare = dict(chunks)
    bare[f"{PREFIX}-002-I"] = chunks[f"{PREFIX}-002-I"][4:]  # without the 4-byte length
    _write(tmp_path, bare)
    (v,) = list_chunk_volumes(str(tmp_path), "2016-06-01", SITE)
    data, _ = assemble_chunks(v)
    assert data == klbb_bytes


@pytest.mark.integration
def test_chunks_from_s3(s3_bucket, chunks, plain):
    import s3fs

    bucket, opts = s3_bucket
    fs = s3fs.S3FileSystem(**opts)
    for name, data in chunks.items():
        fs.pipe_file(f"{bucket}/{SITE}/{VOLUME_NUMBER}/{name}", data)
    # a second volume whose end is still missing
    for name in sorted(chunks)[:20]:
        later = name.replace(PREFIX, "20160601-150500")
        fs.pipe_file(f"{bucket}/{SITE}/{VOLUME_NUMBER + 1}/{later}", chunks[name])
    reads, quarantine = read_chunk_day(f"s3://{bucket}", "2016-06-01", SITE, storage_options=opts)
    assert quarantine == []
    assert [r.status for r in reads] == ["ok", "partial"]
    assert reads[0].url == f"s3://{bucket}/{SITE}/{VOLUME_NUMBER}/{PREFIX}"
    _assert_same_volume(reads[0].volume, plain)
    assert reads[1].n_chunks == 20 and len(reads[1].volume.sweeps) < 11


# --- through the daily ground-radar path ---------------------------------------------------------

COMPLETE, PARTIAL, HEADLESS = "20160601-150025", "20160601-150500", "20160601-151000"


def _write_day(root: Path, chunks: dict[str, bytes]) -> None:
    """Three real-time volumes of KLBB on 2016-06-01 (the real volume's chunks under each name).

    123: complete; 124: the end not yet uploaded (S and chunks 2-25); 125: no start chunk (2-4).
    """
    names = sorted(chunks)
    _write(root, chunks, VOLUME_NUMBER)
    _write(root, {n.replace(PREFIX, PARTIAL): chunks[n] for n in names[:25]}, VOLUME_NUMBER + 1)
    _write(root, {n.replace(PREFIX, HEADLESS): chunks[n] for n in names[1:4]}, VOLUME_NUMBER + 2)


def _ingest(urls, storage_options=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest_radar_day(urls, GRID, GAUGES, storage_options=storage_options)


@pytest.fixture(scope="module")
def plain_day(klbb_path):
    """The archive file through the daily path: what the complete chunk volume must give."""
    return _ingest([klbb_path])


def _assert_chunk_day(day, plain_day, urls) -> None:
    """The day of :func:`_write_day` read through ``ingest_radar_day``, against the file's."""
    inv, ref = day.inventory, plain_day.inventory
    assert list(inv.columns) == list(INVENTORY_COLUMNS)
    assert list(inv["url"]) == urls
    assert list(inv["status"]) == ["ok", "partial", "quarantined"]
    assert list(inv["site_id"]) == [SITE] * 3  # the quarantined one's from its URL, not "2016"
    assert list(inv["capability"]) == ["dual", "dual", ""]
    # the complete volume: the same inventory figures as the archive file
    cols = ["time", "max_reflectivity_dbz", "valid_gates_before_qc", "valid_gates_after_qc"]
    for col in cols:
        assert inv[col].iloc[0] == ref[col].iloc[0], col
    assert inv["max_reflectivity_dbz"].iloc[0] == 59.0 and inv["reason"].iloc[0] == ""
    # the partial one: its 4 complete sweeps (0.5 and 1.5 deg, split cuts), fewer gates
    assert inv["reason"].iloc[1] == (
        "partial: no end chunk (E); read chunks 1-25 of 25, 4 complete sweeps"
    )
    assert inv["valid_gates_before_qc"].iloc[1] == 519604
    assert 0 < inv["valid_gates_after_qc"].iloc[1] < ref["valid_gates_after_qc"].iloc[0]
    assert inv["max_reflectivity_dbz"].iloc[1] == 59.0  # the storm is in the lowest sweeps
    # the headless one: quarantined with the reason naming its chunks, timed by its URL
    assert inv["reason"].iloc[2].startswith("no start chunk (S)")
    assert f"{HEADLESS}-002-I, {HEADLESS}-003-I, {HEADLESS}-004-I" in inv["reason"].iloc[2]
    assert inv["time"].iloc[2] == pd.Timestamp("2016-06-01T15:10:00Z")
    assert [(q.file, q.reader) for q in day.quarantine] == [(urls[2], "level2_chunks")]
    assert [q.file for q in inventory_quarantine(inv)] == [urls[2]]  # partial is not quarantine
    # profiles: the complete volume's rows are the file's; the partial one has the low sweeps'
    n = len(plain_day.profiles)
    assert n == 6 and len(day.profiles) == 2 * n
    pd.testing.assert_frame_equal(day.profiles.iloc[:n], plain_day.profiles)
    part = day.profiles.iloc[n:].reset_index(drop=True)
    assert list(part["n_gates"]) == [230, 0, 0, 38, 0, 0]
    assert part["reflectivity_dbz"].iloc[0] == pytest.approx(0.019565, abs=1e-6)
    # LBB2's lowest level is seen by the lowest sweep alone: the same as the whole volume's
    pd.testing.assert_series_equal(part.iloc[3], plain_day.profiles.iloc[3], check_names=False)
    # one grid volume per usable volume, the complete one's codes the file's
    assert day.grid.sizes["volume"] == 2
    for name in plain_day.grid.data_vars:
        np.testing.assert_array_equal(day.grid[name].values[0], plain_day.grid[name].values[0])
    assert day.grid.attrs["site_latitude_deg"] == plain_day.grid.attrs["site_latitude_deg"]
    summary = summarize_radar_day(day, GRID)
    assert (summary.n_volumes_ok, summary.n_volumes_partial) == (2, 1)
    assert summary.max_reflectivity_dbz == 59.0 and summary.sites == [SITE]


def test_chunk_volume_urls_and_key_form(tmp_path, chunks, plain):
    _write_day(tmp_path, chunks)
    folder = f"{tmp_path}/{SITE}"
    urls = list_volumes(str(tmp_path), "2016-06-01", SITE)
    assert urls == [
        f"{folder}/123/{COMPLETE}",
        f"{folder}/124/{PARTIAL}",
        f"{folder}/125/{HEADLESS}",
    ]
    assert all(is_chunk_volume_url(u) for u in urls)
    assert not is_chunk_volume_url(f"{folder}/123/{COMPLETE}-001-S")  # a chunk, not a volume
    assert not is_chunk_volume_url("KLBB20160601_150025_V06")
    assert [volume_site_from_name(u) for u in urls] == [SITE] * 3
    assert volume_time_from_name(urls[1]) == pd.Timestamp("2016-06-01T15:05:00Z")
    assert list_volumes(str(tmp_path), "2016-06-02", SITE) == []
    assert list_volumes(str(tmp_path), "2016-06-01", "KAMA") == []
    # the URL is read by the one reader, assembled from the chunks listed under it
    read = read_volume_with_status(urls[0])
    assert (read.status, read.reason) == ("ok", "")
    _assert_same_volume(read.volume, plain)
    _assert_same_volume(read_volume(urls[0]), plain)
    part = read_volume_with_status(urls[1])
    assert part.status == "partial" and "no end chunk (E)" in part.reason
    assert [round(s.elevation_deg, 1) for s in part.volume.sweeps] == [0.5, 0.5, 1.5, 1.5]
    assert part.volume.max_reflectivity_dbz() == pytest.approx(71.5)  # as the whole volume's
    v = chunk_volume_at(urls[1])
    assert v.url == urls[1] and len(v.chunks) == 25 and not v.has_end
    with pytest.raises(UnreadableFileError, match="no start chunk"):
        read_volume(urls[2])
    with pytest.raises(UnreadableFileError, match="no chunk of the volume is listed"):
        read_volume(f"{folder}/123/20160601-160000")


def test_archive_files_win_over_chunks_of_the_same_root(tmp_path, chunks, klbb_path):
    # a root holds one layout; where a day has both, the archive's whole files are taken
    _write(tmp_path, chunks)
    day = tmp_path / "2016" / "06" / "01" / SITE
    day.mkdir(parents=True)
    (day / "KLBB20160601_150025_V06").write_bytes(Path(klbb_path).read_bytes())
    assert list_volumes(str(tmp_path), "2016-06-01", SITE) == [f"{day}/KLBB20160601_150025_V06"]


def test_chunk_day_through_the_daily_path(tmp_path, chunks, plain_day):
    _write_day(tmp_path, chunks)
    (tmp_path / SITE / "notes.txt").write_text("not a chunk")
    urls = day_volume_urls(str(tmp_path), DAY, [SITE, "KAMA"])
    assert [u.rsplit("/", 2)[-2:] for u in urls] == [
        ["123", COMPLETE],
        ["124", PARTIAL],
        ["125", HEADLESS],
    ]
    _assert_chunk_day(_ingest(urls), plain_day, urls)


@pytest.mark.integration
def test_chunk_day_from_s3_through_the_daily_path(s3_bucket, chunks, plain_day):
    import s3fs

    bucket, opts = s3_bucket
    fs = s3fs.S3FileSystem(**opts)
    root = f"{bucket}/chunks"
    names = sorted(chunks)
    volumes = {
        VOLUME_NUMBER: {n: chunks[n] for n in names},
        VOLUME_NUMBER + 1: {n.replace(PREFIX, PARTIAL): chunks[n] for n in names[:25]},
        VOLUME_NUMBER + 2: {n.replace(PREFIX, HEADLESS): chunks[n] for n in names[1:4]},
    }
    for number, keys in volumes.items():
        for name, data in keys.items():
            fs.pipe_file(f"{root}/{SITE}/{number}/{name}", data)
    urls = day_volume_urls(f"s3://{root}", DAY, [SITE, "KAMA"], opts)
    assert urls == [
        f"s3://{root}/{SITE}/123/{COMPLETE}",
        f"s3://{root}/{SITE}/124/{PARTIAL}",
        f"s3://{root}/{SITE}/125/{HEADLESS}",
    ]
    _assert_chunk_day(_ingest(urls, opts), plain_day, urls)
    # the end of the partial volume arrives: read again, the same URL gives the whole volume
    for name in names[25:]:
        fs.pipe_file(f"{root}/{SITE}/124/{name.replace(PREFIX, PARTIAL)}", chunks[name])
    read = read_volume_with_status(urls[1], storage_options=opts)
    assert read.status == "ok" and len(read.volume.sweeps) == 11
