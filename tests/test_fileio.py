"""Outputs are put in place whole: a failure while writing leaves the last good output (or none),
and an output that would replace a user's other files is refused before any work."""

from __future__ import annotations

import pytest

from adaptlab.errors import UserError
from adaptlab.fileio import check_replaceable, previous, publish_dir, publish_file, refuse_existing, write_file


def test_a_published_folder_replaces_the_old_one_only_when_complete(tmp_path):
    out = tmp_path / "out"
    with publish_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
        assert not out.exists()  # nothing visible until the block ends
    assert (out / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError), publish_dir(out) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with publish_dir(out, durable=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert [p.name for p in out.iterdir()] == ["b.txt"] and not previous(out).exists()


def test_a_published_file_is_whole_or_absent(tmp_path):
    path = tmp_path / "deep" / "eval.json"
    write_file(path, "{}")
    with pytest.raises(OSError), publish_file(path) as tmp:
        tmp.write_text("{half")
        raise OSError("disk full")
    assert path.read_text() == "{}" and [p.name for p in path.parent.iterdir()] == ["eval.json"]
    write_file(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_an_output_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="mine: folder is not empty and holds no index \\(index.json\\)"):
        check_replaceable(tmp_path / "mine", "index.json", "index")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="file: is a file; give a folder for the index"):
        check_replaceable(tmp_path / "file", "index.json", "index")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "index.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".index.json.123.tmp").write_text("left by a killed run")
    for accepted in ("old", "empty", "new"):
        check_replaceable(tmp_path / accepted, "index.json", "index")
    with pytest.raises(UserError, match="old: already exists; choose another --out"):
        refuse_existing(tmp_path / "old")
