"""The shared preprocessing: odd colour modes are converted, broken files are reported, never guessed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from udfbench.inputs.decode import BadImage, load_batch, load_image

SIZE = (24, 32)  # height, width


@pytest.mark.parametrize(
    ("mode", "suffix"), [("L", "jpg"), ("RGBA", "png"), ("CMYK", "jpg"), ("P", "png"), ("RGB", "png")]
)
def test_colour_modes_become_rgb_in_unit_range(tmp_path: Path, mode: str, suffix: str) -> None:
    path = tmp_path / f"x.{suffix}"
    Image.new(mode, (300, 200), color=(200, 100, 50, 255)[: len(mode)] if mode != "P" else 3).save(path)
    array = load_image(str(path), SIZE)
    assert array.shape == (24, 32, 3) and array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0


def test_bytes_arrow_buffers_and_paths_give_identical_arrays(seeds) -> None:
    path = seeds[0].path
    data = Path(path).read_bytes()
    assert np.array_equal(load_image(path, SIZE), load_image(data, SIZE))
    assert np.array_equal(load_image(path, SIZE), load_image(pa.py_buffer(data), SIZE))


def _broken_files(folder: Path) -> list[str]:
    good = folder / "good.jpg"
    Image.new("RGB", (64, 64), "white").save(good)
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    text = folder / "text.jpg"
    text.write_text("hello")
    return [str(truncated), str(empty), str(text), str(folder / "missing.jpg")]


def test_unreadable_images_raise_bad_image_naming_the_file(tmp_path: Path) -> None:
    for path in _broken_files(tmp_path):
        with pytest.raises(BadImage, match=Path(path).name):
            load_image(path, SIZE)


def test_unreadable_bytes_and_buffers_raise_bad_image(tmp_path: Path) -> None:
    for path in _broken_files(tmp_path)[:-1]:
        data = Path(path).read_bytes()
        for source in (data, pa.py_buffer(data)):
            with pytest.raises(BadImage, match=f"<{len(data)} bytes>"):
                load_image(source, SIZE)


def test_load_batch_skips_or_fails_on_bad_images(tmp_path: Path) -> None:
    bad = _broken_files(tmp_path)
    sources = [str(tmp_path / "good.jpg"), *bad, str(tmp_path / "good.jpg")]
    images, good = load_batch(sources, SIZE, skip_bad=True)
    assert images.shape == (2, 24, 32, 3)
    assert good.tolist() == [True, False, False, False, False, True]
    with pytest.raises(BadImage):
        load_batch(sources, SIZE, skip_bad=False)


def test_a_seed_over_pillows_limit_is_said_once_not_on_every_decode(tmp_path: Path) -> None:
    # Pillow's DecompressionBombWarning came three times (and from every worker) for one such seed.
    from tests.commands import run_cli, write_config

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    Image.new("L", (9500, 9500), 128).save(seeds / "cat.1.jpeg")  # 90 million pixels, over 89.5
    Image.new("RGB", (64, 64), (20, 90, 40)).save(seeds / "dog.1.jpeg")
    config = write_config(
        tmp_path,
        f"""
        dataset: {{sizes: [4], seed_images: {seeds}}}
        model: {{image_size: 48}}
        strategies: [python]
        warmup: 0
        repeats: 1
        """,
    )
    said = f"udfbench: warning: dataset.seed_images: {seeds / 'cat.1.jpeg'} is 9500x9500 pixels (90 million)"
    checked = run_cli("validate", str(config), timeout=120)
    assert checked.returncode == 0 and checked.stderr.startswith(said) and checked.stderr.count("\n") == 1
    ran = run_cli("run", str(config), "--out", str(tmp_path / "run"), timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stderr.count(said) == 1 and "DecompressionBomb" not in ran.stderr + ran.stdout
