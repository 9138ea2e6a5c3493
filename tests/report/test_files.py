"""Every file the reading side writes is written whole or not at all, and a file that cannot be
written is one line naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from udfbench.errors import UserError
from udfbench.report.files import make_folder, write_text_atomically


def test_a_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    assert write_text_atomically(target, "new ✓") == target
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_write_that_fails_keeps_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    (tmp_path / "summary.csv").mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(UserError) as caught:
        write_text_atomically(tmp_path / "summary.csv", "a,b\n")
    assert str(caught.value) == f"{tmp_path / 'summary.csv'}: cannot write it: Is a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_a_write_an_interrupt_stops_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def interrupted(source, target) -> None:  # Ctrl-C between the write and the rename
        raise KeyboardInterrupt

    target = tmp_path / "report.html"
    target.write_text("old")
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomically(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_folder_below_a_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="a_file/check.md: cannot write it: Not a directory"):
        write_text_atomically(tmp_path / "a_file" / "check.md", "x")
    with pytest.raises(UserError, match="a_file: is a file, not a folder"):
        make_folder(tmp_path / "a_file")
    with pytest.raises(UserError, match="a_file/below: cannot write it: Not a directory"):
        make_folder(tmp_path / "a_file" / "below")
