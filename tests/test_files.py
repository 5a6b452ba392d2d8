"""Leftovers of a killed job do not stop its rerun."""

from pathlib import Path

from analora.files import is_fresh_directory


def test_fresh_directory(tmp_path: Path) -> None:
    assert is_fresh_directory(tmp_path / "missing")
    out = tmp_path / "sweep"
    out.mkdir()
    assert is_fresh_directory(out)
    (out / ".write-test").write_text("")  # a write probe cut off before its unlink
    (out / ".sweep.json.k2j3").write_text("{")  # an atomic write cut off before its rename
    assert is_fresh_directory(out)
    (out / "notes.txt").write_text("mine")
    assert not is_fresh_directory(out)
    (out / "notes.txt").unlink()
    (out / ".hidden-dir").mkdir()
    assert not is_fresh_directory(out)
    assert not is_fresh_directory(tmp_path / "sweep" / ".write-test")  # a file, not a directory
