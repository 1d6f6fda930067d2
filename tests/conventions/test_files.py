"""conventions.files.write_atomic: a file is the old one or the whole new one, never a part."""
import pytest

from conventions import write_atomic


def test_creates_and_replaces_a_file(tmp_path):
    path = tmp_path / "a.bin"
    write_atomic(path, lambda f: f.write(b"first"))
    write_atomic(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]  # no temporary file left behind


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def fail_midway(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail_midway)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
