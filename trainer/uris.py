"""The schemes a policy or checkpoint URI may have, from the text alone (no fsspec, no torch: the configs use it).

A plain path or `file://` names the local disk. `memory://` (fsspec's in-process filesystem, for tests), `s3://`,
`gs://` (also spelled `gcs://`) and `http://` / `https://` go through fsspec (the `remote` extra), with s3fs, gcsfs
or aiohttp for their backends; http(s) is read-only.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["BACKEND_PACKAGES", "READ_ONLY_SCHEMES", "REMOTE_SCHEMES", "check_writable_uri", "is_remote", "uri_scheme"]

BACKEND_PACKAGES: dict[str, str | None] = {"memory": None, "s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs",
                                           "http": "aiohttp", "https": "aiohttp"}
"""Each remote scheme and the package fsspec needs for it (None: fsspec alone)."""
REMOTE_SCHEMES = tuple(BACKEND_PACKAGES)
"""The schemes read (and, but for READ_ONLY_SCHEMES, written) through fsspec."""
READ_ONLY_SCHEMES = ("http", "https")
"""Schemes policies can be loaded from but not written to."""

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")


def uri_scheme(uri: str | Path) -> str:
    """The lower-case scheme of a URI: '' for a plain path (or a Path), 'file' for file://, else one of REMOTE_SCHEMES;
    any other scheme raises ValueError naming it and those supported."""
    if isinstance(uri, Path):
        return ""
    text = str(uri)
    m = _SCHEME.match(text)
    if m is None:
        if "://" in text:
            raise ValueError(f"URI {text!r}: {text.split('://', 1)[0]!r} is not a URI scheme")
        return ""
    scheme = m.group("scheme").lower()
    if scheme != "file" and scheme not in BACKEND_PACKAGES:
        raise ValueError(f"URI {text!r}: unsupported scheme {scheme!r} (expected a plain path, file://, "
                         f"{', '.join(s + '://' for s in REMOTE_SCHEMES)})")
    if not text[m.end():].strip("/"):
        raise ValueError(f"URI {text!r} names no path")
    return scheme


def is_remote(uri: str | Path) -> bool:
    """Whether a URI is read and written through fsspec (any scheme but file:// and plain paths)."""
    return uri_scheme(uri) not in ("", "file")


def check_writable_uri(uri: str | Path) -> str:
    """Returns `uri` if checkpoints can be written there, else raises ValueError (an unknown or read-only scheme)."""
    scheme = uri_scheme(uri)
    if scheme in READ_ONLY_SCHEMES:
        raise ValueError(f"URI {str(uri)!r}: {scheme}:// is read-only (policies can be loaded from it, not written); "
                         "write to a local folder, file://, memory://, s3:// or gs://")
    return str(uri)
