"""Seed images and synthetic datasets: deterministic, varied, labelled from their names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from udfbench.errors import UserError
from udfbench.inputs.seeds import BUILTIN_SEEDS, draw_rows, read_seed_folder, write_builtin_seeds


def test_builtin_seeds_are_deterministic_varied_jpegs(tmp_path: Path) -> None:
    first = write_builtin_seeds(tmp_path / "a", seed=1)
    second = write_builtin_seeds(tmp_path / "b", seed=1)
    assert [Path(s.path).read_bytes() for s in first] == [Path(s.path).read_bytes() for s in second]
    sizes = set()
    for seed, (name, width, height) in zip(first, BUILTIN_SEEDS, strict=True):
        with Image.open(seed.path) as image:
            assert image.format == "JPEG" and image.size == (width, height)
            sizes.add(max(image.size))
        assert seed.truth == name.split(".")[0]
    assert min(sizes) < 1000 < max(sizes)
    assert {s.truth for s in first} == {"cat", "dog"}


def test_draw_rows_is_reproducible_per_seed_and_size(seeds) -> None:
    a, b = draw_rows(seeds, 50, seed=42), draw_rows(seeds, 50, seed=42)
    assert a.equals(b)
    assert list(a["id"]) == list(range(50))
    assert not a.equals(draw_rows(seeds, 50, seed=43))
    assert set(a["path"]) <= {s.path for s in seeds}
    assert (a["truth"] == a["path"].map(lambda p: Path(p).name.split(".")[0])).all()


def test_seed_folder_labels_by_name_and_rejects_empty(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "cat.9.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "horse.1.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    found = read_seed_folder(tmp_path, ["dog", "cat"])
    assert [(Path(s.path).name, s.truth) for s in found] == [("cat.9.png", "cat"), ("horse.1.jpg", "")]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no .jpg"):
        read_seed_folder(empty, ["dog", "cat"])
    latin1 = tmp_path / "latin1"
    latin1.mkdir()
    Image.new("RGB", (20, 20)).save(latin1 / os.fsdecode(b"cat.caf\xe9.jpg"))
    with pytest.raises(UserError, match=r"file name b'cat.caf\\xe9.jpg' in .*latin1 is not UTF-8: rename it"):
        read_seed_folder(latin1, ["dog", "cat"])
