"""Real-time Level II chunks cut from the real KLBB volume, assembled and read as the file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fusion_ops.readers.errors import UnreadableFileError
from fusion_ops.readers.ground_radar import read_volume
from fusion_ops.readers.level2_chunks import (
    assemble_chunks,
    list_chunk_volumes,
    read_chunk_day,
    read_chunk_volume,
)

SITE = "KLBB"
VOLUME_NUMBER = 123
PREFIX = "20160601-150025"


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
    assert len(read.volume.sweeps) < len(plain.sweeps)


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
