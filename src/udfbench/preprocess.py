"""Image decode, convert, resize and scale: the one function every strategy shares.

Every strategy must feed the model identical arrays, so that timings differ only in how Spark moves
rows and predictions can be compared row by row.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

# Images are read from paths (the founding study's way), from bytes (Spark's binaryFile source, a
# table's cells sent by Spark) or from Arrow buffers (cells a worker read from a table itself, left
# where Arrow decoded them); None stands for a file or cell that could not be read.
ImageSource = str | bytes | pa.Buffer | None


class BadImage(Exception):
    """A file that is missing, empty, truncated or not an image."""


def _describe(source: str | bytes) -> str:
    return source if isinstance(source, str) else f"<{len(source)} bytes>"


def load_image(source: ImageSource, size: tuple[int, int]) -> np.ndarray:
    """Decode ``source`` into a float32 array of shape (height, width, 3) scaled to [0, 1].

    ``size`` is (height, width). Grayscale, palette, RGBA and CMYK images are converted to RGB
    (alpha is dropped). JPEG ``draft`` mode lets libjpeg decode large photos at a reduced scale that
    is still at least the target size, which is what any sensible production pipeline does.
    """
    height, width = size
    if source is None:  # bytes mode: Spark could not read the file
        raise BadImage("the file could not be read")
    try:
        # A BufferReader reads bytes and Arrow buffers in place.
        with Image.open(source if isinstance(source, str) else pa.BufferReader(source)) as image:
            image.draft("RGB", (width, height))
            rgb = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise BadImage(f"{_describe(source)}: {err}") from None
    return np.asarray(rgb, dtype=np.float32) / np.float32(255.0)


def load_batch(
    sources: Iterable[ImageSource],
    size: tuple[int, int],
    skip_bad: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a batch; returns (images of the good rows, boolean mask of good rows).

    With ``skip_bad`` false the first bad image raises ``BadImage``.
    """

    def decode_one(source: ImageSource) -> np.ndarray | None:
        try:
            return load_image(source, size)
        except BadImage:
            if not skip_bad:
                raise
            return None

    decoded = [decode_one(source) for source in sources]
    good = np.array([image is not None for image in decoded], dtype=bool)
    images = [image for image in decoded if image is not None]
    stacked = np.stack(images) if images else np.zeros((0, *size, 3), dtype=np.float32)
    return stacked, good
