"""The one exception type that means "the user gave us something we cannot use".

The CLI turns it into a single line on stderr and exit status 2; everything else is a bug.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """Bad input: a config, a file, a port, a machine without Java.

    ``where`` names the file (and field) at fault so the message can be acted on.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


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
