"""Image decode, convert, resize and scale: the one function every strategy shares.

Every strategy must feed the model identical arrays, so that timings differ only in how Spark moves
rows and predictions can be compared row by row.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

# Pillow warns of a possible decompression bomb on every decode of an image over ~89 megapixels, in
# every process. The images are the user's own benchmark input, not untrusted uploads: a very large
# one is a cost the timings show, and the checks before a run say once which seeds are that large
# (``oversized``). Beyond twice the limit Pillow refuses to decode: that image is unreadable.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Images are read from paths (the founding study's way), from bytes (Spark's binaryFile source, a
# table's cells sent by Spark) or from Arrow buffers (cells a worker read from a table itself, left
# where Arrow decoded them); None stands for a file or cell that could not be read.
ImageSource = str | bytes | pa.Buffer | None


class BadImage(Exception):
    """A file that is missing, empty, truncated or not an image."""


NO_IMAGE = "no image bytes: a file that could not be read, or a null cell of the table"


def _describe(source: str | bytes) -> str:
    return source if isinstance(source, str) else f"<{len(source)} bytes>"


def load_image(source: ImageSource, size: tuple[int, int]) -> np.ndarray:
    """Decode ``source`` into a float32 array of shape (height, width, 3) scaled to [0, 1].

    ``size`` is (height, width). Grayscale, palette, RGBA and CMYK images are converted to RGB
    (alpha is dropped). JPEG ``draft`` mode lets libjpeg decode large photos at a reduced scale that
    is still at least the target size, which is what any sensible production pipeline does.
    """
    height, width = size
    if source is None:  # bytes mode: Spark could not read the file; a table: the cell is null
        raise BadImage(NO_IMAGE)
    try:
        # A BufferReader reads bytes and Arrow buffers in place.
        with Image.open(source if isinstance(source, str) else pa.BufferReader(source)) as image:
            image.draft("RGB", (width, height))
            rgb = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise BadImage(f"{_describe(source)}: {err}") from None
    return np.asarray(rgb, dtype=np.float32) / np.float32(255.0)


def oversized(paths: Iterable[str]) -> list[str]:
    """What to say once about images over Pillow's decompression-bomb limit: each one's size, or that
    Pillow will not decode it at all. Reads only the files' headers."""
    said = []
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            said.append(
                f"{path} has over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} million pixels, more than Pillow "
                "decodes: it is an unreadable image (see dataset.on_bad_image)"
            )
            continue
        except (OSError, ValueError, UnidentifiedImageError):
            continue  # unreadable for another reason: the case that reads it says why
        if width * height > Image.MAX_IMAGE_PIXELS:
            said.append(
                f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} million): every decode of it "
                "costs that much, as the timings will show"
            )
    return said


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
