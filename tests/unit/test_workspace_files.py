"""bridge.workspace_files: a file reads as the editor shows it (UTF-8, no BOM, line endings as
they are), or as None when it is absent, and is written back with its BOM and permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bridge.workspace_files import Unreadable, read_text, read_text_or_none, write_text

LATIN_1 = "caf\xe9\r\nna\xefve\n".encode("latin-1")  # not UTF-8: "é" and "ï" are lone bytes


def test_a_bom_is_dropped_as_editors_hide_it(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert read_text(path) == "x = 1\n"
    assert read_text_or_none(str(path)) == "x = 1\n"


def test_only_a_leading_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "inner.txt"
    path.write_bytes("a\n\ufeffb\n".encode())
    assert read_text(path) == "a\n\ufeffb\n"


def test_line_endings_are_kept_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"one\r\ntwo\nthree\rfour")
    assert read_text(path) == "one\r\ntwo\nthree\rfour"


def test_a_missing_file_or_folder_reads_as_none(tmp_path: Path) -> None:
    assert read_text(tmp_path / "absent.py") is None
    (tmp_path / "file").write_text("x")
    assert read_text(tmp_path / "file" / "under_a_file.py") is None  # NotADirectoryError
    assert read_text_or_none(tmp_path / "absent.py") is None


def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(LATIN_1)
    with pytest.raises(Unreadable, match=r"latin\.txt is not UTF-8 text"):
        read_text(path)
    assert read_text_or_none(path) is None


def test_lossy_keeps_the_lines_of_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"\xef\xbb\xbf" + LATIN_1)
    assert read_text_or_none(path, lossy=True) == "caf\ufffd\r\nna\ufffdve\n"


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="cannot be read"):
        read_text(tmp_path)  # a folder: IsADirectoryError
    assert read_text_or_none(tmp_path, lossy=True) is None


def test_write_keeps_the_bom_the_permissions_and_the_given_endings(tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_bytes(b"\xef\xbb\xbfold\r\n")
    path.chmod(0o751)
    write_text(path, "new\r\nlines\n")
    assert path.read_bytes() == b"\xef\xbb\xbfnew\r\nlines\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    assert read_text(path) == "new\r\nlines\n"
    assert [p.name for p in tmp_path.iterdir()] == ["script.sh"]  # no temporary file left


def test_write_without_a_bom_adds_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_bytes(b"old\n")
    write_text(path, "é\n")
    assert path.read_bytes() == "é\n".encode()


def test_create_makes_folders_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "a.py"
    write_text(path, "a\r\n", create=True)
    assert path.read_bytes() == b"a\r\n"
    with pytest.raises(FileExistsError):
        write_text(path, "b\n", create=True)
    assert path.read_bytes() == b"a\r\n"
