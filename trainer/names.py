"""Names that become file names: the run-name rule, and the check that a path built from a name stays in its folder.

Names from configs and command lines are data. A run name names the folder train_dir/<run> and the files in it
(`<run>:v<N>.safetensors`, replays), so it must be one plain path component: `../x`, `/abs/path` or `a/b` would
write outside train_dir, or make a checkpoint name that cannot be parsed back for a resume.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["MAX_NAME_LENGTH", "RUN_NAME_RULE", "check_run_name", "path_inside"]

MAX_NAME_LENGTH = 128
_RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
RUN_NAME_RULE = (f"1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', not starting with '.' and without '..' "
                 "(it is a folder name under train_dir and part of the checkpoint file names)")


def check_run_name(name: object, what: str = "run") -> str:
    """Returns `name` if it is a valid run name, else raises ValueError naming `what`, the value and the rule."""
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a string of {RUN_NAME_RULE}, got {type(name).__name__} {name!r}")
    if len(name) > MAX_NAME_LENGTH or _RUN_NAME.fullmatch(name) is None or ".." in name:
        shown = name if len(name) <= 2 * MAX_NAME_LENGTH else name[:2 * MAX_NAME_LENGTH] + "..."
        raise ValueError(f"{what} {shown!r} is not a valid run name: use {RUN_NAME_RULE}")
    return name


def path_inside(base: str | Path, name: str) -> Path:
    """base/name, after checking that it stays inside `base`: `base` is resolved (so a symlinked train_dir or run
    folder is fine), `name` only normalised, and a name that climbs out (`..`, an absolute path) raises ValueError.
    Files are written by renaming onto the final name, which replaces a symlink there rather than following it."""
    root = Path(base).resolve()
    path = Path(os.path.normpath(root / name))
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"{name!r} would be written outside {base} (at {path}); refusing")
    return Path(base) / name
