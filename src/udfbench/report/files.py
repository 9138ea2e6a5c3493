"""Writing what the reading side makes (reports, checks, comparisons, histories): whole or not at all.

Every file that ``report/`` writes goes through ``write_text_atomically``: a temporary file in the
same folder, then a rename over the target, so that an interrupted write or a full disk never leaves
half a report where a whole one was expected. A file or folder that cannot be written is a
``UserError`` naming it (one line, exit 2), never a traceback: for ``check`` and ``history`` exit 1
means a verdict, so a failed write must not read as one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import pandas as pd

from udfbench.errors import UserError


def cannot_write(path: Path, err: OSError) -> UserError:
    return UserError(f"cannot write it: {err.strerror or err}", where=str(path))


def make_folder(folder: Path) -> Path:
    """``folder`` and its parents, made where missing."""
    if folder.exists() and not folder.is_dir():
        raise UserError("is a file, not a folder", where=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(folder, err) from None
    return folder


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and ``os.replace``: a
    reader sees the old file or the new one, never a part. The temporary file is removed whatever
    stops the write (an OSError, Ctrl-C)."""
    # O_EXCL with a random name: two writers never share a temporary file; 0o666 lets the umask
    # give the file the permissions an ordinary write would.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise cannot_write(path, err) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(partial, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(err, OSError):
            raise cannot_write(path, err) from None
        raise
    return path


def write_csv_atomically(path: Path, frame: pd.DataFrame) -> Path:
    return write_text_atomically(path, frame.to_csv(index=False))
