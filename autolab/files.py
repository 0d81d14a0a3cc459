"""Writing a file so that no reader, and no crash, ever sees it half-written."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """`data` at `path`, through a sibling temporary file renamed over it; the directory is
    made first. A kill mid-write leaves the old file (or none), never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
