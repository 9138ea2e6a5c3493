"""Where tables live: pyarrow's filesystem for a URI (local, file://, s3://, s3a://, hdfs://, gs://) and
its errors on one line."""

from __future__ import annotations

import functools
import textwrap

import pyarrow.fs as pafs

# pyarrow's GCS client retries a failing request for up to 15 minutes: a table whose storage cannot be
# reached (no network, no credentials) would hold the run that long before saying why.
GCS_RETRY_LIMIT_S = 60


# A remote filesystem resolves its endpoint and credentials when it is made: once per file and
# process, not once per row group a worker reads.
@functools.lru_cache(maxsize=64)
def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri and not uri.startswith("file:"):
        return pafs.LocalFileSystem(), uri
    if uri.startswith("s3a://"):
        uri = "s3://" + uri.removeprefix("s3a://")
    if uri.startswith(("gs://", "gcs://")):
        uri += f"?retry_limit_seconds={GCS_RETRY_LIMIT_S}"
    return pafs.FileSystem.from_uri(uri)


def first_line(err: Exception) -> str:
    """What a storage error says, on one line of at most 300 characters (GCS's run to thousands)."""
    text = str(err).strip()
    return textwrap.shorten(text.splitlines()[0], 300, placeholder=" ...") if text else type(err).__name__


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")
