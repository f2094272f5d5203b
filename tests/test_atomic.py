"""fusion_ops.atomic: the one "temporary name, then move" of the project, local and fsspec."""

import fsspec
import pytest

from fusion_ops.atomic import atomic_fs_path, atomic_path, write_bytes_atomic


class Interrupted(Exception):
    pass


def test_moves_into_place_on_success_and_creates_the_folder(tmp_path):
    final = tmp_path / "a" / "b" / "value.json"
    with atomic_path(final) as tmp:
        assert tmp != str(final) and tmp.startswith(str(final.parent / ".value.json."))
        assert tmp.endswith(".tmp")
        with open(tmp, "w") as handle:
            handle.write("{}")
        assert not final.exists()
    assert final.read_text() == "{}"
    assert [p.name for p in final.parent.iterdir()] == ["value.json"]


def test_failure_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    final = tmp_path / "value.bin"
    write_bytes_atomic(b"old", final)
    with pytest.raises(Interrupted), atomic_path(final) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise Interrupted
    assert final.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["value.bin"]


def test_fsspec_local_and_object_store_targets(tmp_path):
    local = fsspec.filesystem("file")
    with atomic_fs_path(local, str(tmp_path / "x" / "p.nc")) as tmp:
        assert tmp.startswith(str(tmp_path / "x" / ".p.nc."))
        with open(tmp, "wb") as handle:
            handle.write(b"nc")
    assert (tmp_path / "x" / "p.nc").read_bytes() == b"nc"

    memory = fsspec.filesystem("memory")
    with atomic_fs_path(memory, "/bucket/y/p.tif") as tmp:
        assert tmp.endswith(
            "p.tif"
        )  # a scratch file named like the object (writers see the suffix)
        with open(tmp, "wb") as handle:
            handle.write(b"tif")
        assert not memory.exists("/bucket/y/p.tif")
    assert memory.cat_file("/bucket/y/p.tif") == b"tif"
    with pytest.raises(Interrupted), atomic_fs_path(memory, "/bucket/y/q.tif") as tmp:
        raise Interrupted
    assert not memory.exists("/bucket/y/q.tif")
    write_bytes_atomic(b"abc", "/bucket/z.bin", memory)
    assert memory.cat_file("/bucket/z.bin") == b"abc"
