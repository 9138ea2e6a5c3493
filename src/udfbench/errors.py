"""The one exception type that means "the user gave us something we cannot use".

The CLI turns it into a single line on stderr and exit status 2; everything else is a bug. A file
the user hands us (a config, a run folder's CSV or JSON) that cannot be read as text becomes one too.
"""

from __future__ import annotations

import re
from pathlib import Path


class UserError(Exception):
    """Bad input: a config, a file, a port, a machine without Java.

    ``where`` names the file (and field) at fault so the message can be acted on.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


def unreadable(path: Path, err: OSError | UnicodeDecodeError) -> UserError:
    """Why a file we read (a config, a run folder's CSV or JSON) cannot be read, in one line."""
    if isinstance(err, UnicodeDecodeError):
        # A file read in chunks reports its offset into the chunk: find the byte in the whole file.
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as whole:
            err = whole
        line = err.object.count(b"\n", 0, err.start) + 1
        return UserError(
            f"not UTF-8 text: line {line} holds byte 0x{err.object[err.start]:02x}", where=str(path)
        )
    return UserError(f"cannot read it: {err.strerror or err}", where=str(path))


def read_text(path: Path) -> str:
    """A UTF-8 file's text (a leading byte-order mark dropped, as editors on Windows write one)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise unreadable(path, err) from None


class CaseFailed(Exception):
    """One benchmark case could not produce a trustworthy timing (rows lost, parity broken, task died).

    The runner records it against the case and carries on with the next one.
    """


# Signs that a task died of memory: a Python worker killed by the OOM killer, or a JVM out of heap.
_OUT_OF_MEMORY = ("OutOfMemoryError", "MemoryError", "Python worker exited unexpectedly", "worker crashed")


def short_error(err: BaseException) -> str:
    """One line from an exception, digging the Python error out of a Java stack trace.

    A task that died of memory says so, and what bounds the batches that Arrow hands a worker.
    """
    text = str(err)
    found = re.findall(r"^[\s:]*((?:[\w.]+\.)?\w*(?:Error|Exception|BadImage)\b:? .*)$", text, re.MULTILINE)
    python_side = [line for line in found if "udfbench" in line or "Error:" in line]
    fallback = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    line = (python_side or found or [fallback])[-1].strip()[:400]
    if any(sign in text for sign in _OUT_OF_MEMORY):
        line += (
            " (out of memory: image rows are large; a smaller spark.arrow_batch_size or "
            "spark.arrow_max_bytes makes smaller Arrow batches)"
        )
    return line
