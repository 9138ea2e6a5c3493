"""Seed images (generated, or a user's folder) and the synthetic datasets drawn from them.

As in the founding study, a dataset of N rows is N image paths drawn at random, with replacement,
from a handful of seed images; the label is taken from the file name (``cat.1.jpeg`` is a cat).
Everything is a pure function of the seed, so a run can be reproduced from its config.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from udfbench.errors import UserError
from udfbench.plan.config import BUILTIN, BenchConfig

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

# (name, width, height): varied sizes, a few hundred to a few thousand pixels a side, like real photos.
BUILTIN_SEEDS: tuple[tuple[str, int, int], ...] = (
    ("cat.1.jpeg", 640, 480),
    ("cat.2.jpeg", 1600, 1200),
    ("cat.3.jpeg", 3000, 2000),
    ("dog.1.jpeg", 480, 360),
    ("dog.2.jpeg", 2048, 1536),
    ("dog.3.jpeg", 1200, 1800),
)


@dataclass(frozen=True)
class SeedImage:
    path: str
    truth: str  # the label from the file name, "" when the name carries none


def _draw_animal(kind: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A recognisable cartoon face over a noisy background, so JPEG sizes and decode costs are real."""
    base = rng.integers(40, 200, size=3)
    noise = rng.normal(0, 28, size=(height // 4 + 1, width // 4 + 1, 3))
    background = np.clip(base + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(background).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    cx, cy, r = width / 2, height / 2, min(width, height) * 0.3
    fur = (230, 140, 40) if kind == "cat" else (120, 80, 50)
    if kind == "cat":  # pointed ears
        for side in (-1, 1):
            ear = [
                (cx + side * r * 0.9, cy - r * 0.4),
                (cx + side * r * 0.6, cy - r * 1.5),
                (cx + side * r * 0.1, cy - r * 0.8),
            ]
            draw.polygon(ear, fill=fur)
    else:  # floppy ears
        for side in (-1, 1):
            draw.ellipse(
                [cx + side * r * 0.7 - r * 0.35, cy - r * 0.8, cx + side * r * 0.7 + r * 0.35, cy + r * 0.5],
                fill=(70, 45, 25),
            )
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
    for side in (-1, 1):
        draw.ellipse(
            [cx + side * r * 0.4 - r * 0.12, cy - r * 0.3, cx + side * r * 0.4 + r * 0.12, cy - r * 0.05],
            fill=(20, 20, 20),
        )
    draw.ellipse([cx - r * 0.12, cy + r * 0.1, cx + r * 0.12, cy + r * 0.28], fill=(40, 20, 20))
    return image.filter(ImageFilter.GaussianBlur(radius=max(1, min(width, height) // 400)))


def write_builtin_seeds(folder: Path, seed: int = 0) -> list[SeedImage]:
    """Generate the built-in seed JPEGs into ``folder`` (deterministic for a given ``seed``)."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = []
    for index, (name, width, height) in enumerate(BUILTIN_SEEDS):
        path = folder / name
        if not path.exists():
            rng = np.random.default_rng([seed, index])
            _draw_animal(name.split(".")[0], width, height, rng).save(path, quality=90)
        seeds.append(SeedImage(str(path), name.split(".")[0]))
    return seeds


def read_seed_folder(folder: Path, classes: list[str]) -> list[SeedImage]:
    """Every JPEG/PNG in ``folder``, sorted by name; unreadable files are kept (a case decides)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no .jpg, .jpeg or .png files in {folder}", where="dataset.seed_images")
    for file in files:
        try:
            file.name.encode("utf-8")
        except UnicodeEncodeError:  # the JVM, results.csv and meta.json hold paths as UTF-8 text
            raise UserError(
                f"file name {os.fsencode(file.name)!r} in {folder} is not UTF-8: rename it",
                where="dataset.seed_images",
            ) from None
    return [SeedImage(str(p), p.name.split(".")[0] if p.name.split(".")[0] in classes else "") for p in files]


def seeds_digest(seeds: list[SeedImage]) -> str:
    """A digest of the seed images' names and bytes: two runs drew from the same images if it matches."""
    digest = hashlib.sha256()
    for seed in seeds:
        path = Path(seed.path)
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:16]


def draw_rows(seeds: list[SeedImage], size: int, seed: int) -> pd.DataFrame:
    """``size`` rows drawn with replacement from ``seeds``: columns id, path, truth.

    The draw depends only on (seed, size), so each size is reproducible on its own.
    """
    rng = np.random.default_rng([seed, size])
    picks = rng.integers(0, len(seeds), size=size)
    return pd.DataFrame(
        {
            "id": np.arange(size, dtype=np.int64),
            "path": [seeds[i].path for i in picks],
            "truth": [seeds[i].truth for i in picks],
        }
    )


def read_seeds(config: BenchConfig, folder: Path) -> list[SeedImage]:
    """The seed images: the built-in set written into ``folder``, or the configured folder's files."""
    d = config.dataset
    if d.seed_images == BUILTIN:
        return write_builtin_seeds(folder, seed=d.seed)
    return read_seed_folder(Path(d.seed_images), list(config.model.classes))
