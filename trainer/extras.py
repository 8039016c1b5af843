"""The `train` extra (torch, safetensors, rich) that everything but the configs needs, and the one clear error
when it is missing: `import trainer` and the configs work without it; the commands check for it first."""

from __future__ import annotations

import importlib
import sys

__all__ = ["TRAIN_PACKAGES", "require_train_extra"]

TRAIN_PACKAGES = ("torch", "safetensors", "rich")
"""The import names of the `train` extra's packages."""


def require_train_extra(command: str | None = None) -> None:
    """Imports torch, safetensors and rich; if one is missing, raises an ImportError naming the `train` extra, or
    for a command (`command` is its name, e.g. 'trainer.train') prints that as one `error:` line and exits with 2."""
    for package in TRAIN_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError as e:
            message = (f"{command or 'the trainer'} needs {package}, which cannot be imported ({e}): "
                       f"pip install 'metta-gridworld[train]' (torch, safetensors, rich)")
            if command is None:
                raise ImportError(message, name=package) from e
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
