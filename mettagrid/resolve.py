"""From what a game is named by (a preset name, a GameConfig, a dict, a YAML/JSON path) to a GameConfig, with
overrides: the one way every env, adapter, curriculum and the trainer do it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from mettagrid.config import GameConfig, deep_merge, load_config
from mettagrid.presets import PRESETS

__all__ = ["ConfigSource", "resolve_config"]

ConfigSource = Union[GameConfig, dict[str, Any], str, Path]
"""What names a game: a GameConfig, a dict of its fields, a preset name (mettagrid.PRESETS) or a YAML/JSON path."""


def resolve_config(source: ConfigSource, overrides: Mapping[str, Any] | None = None) -> GameConfig:
    """The GameConfig that `source` names, with `overrides` applied.

    For a preset, the overrides that are parameters of its function are passed to it (`{"size": 11}` for
    navigation); every other override sets a GameConfig field, nested dicts merged into the field's value
    (`{"max_steps": 50, "agent": {"freeze_duration": 5}}`), on any kind of source. A key that is neither is a
    TypeError naming it; a source that is neither a preset nor an existing file, or values the config refuses,
    a ValueError.
    """
    overrides = dict(overrides or {})
    preset = PRESETS.get(source) if isinstance(source, str) else None
    params = list(inspect.signature(preset).parameters) if preset is not None else []
    unknown = sorted(k for k in overrides if k not in params and k not in GameConfig.model_fields)
    if unknown:
        what = f"preset {source!r}" if preset else "config"
        options = f"parameters of {source}() ({', '.join(params)}) or GameConfig fields" if preset else "GameConfig fields"
        raise TypeError(f"{what}: unknown option(s) {unknown}; the options are {options}")
    if preset is not None:
        args = {k: overrides.pop(k) for k in params if k in overrides}
        try:
            config = preset(**args)
        except ValueError as e:
            raise ValueError(f"preset {source!r} rejected its arguments {args}: {e}") from None
    elif isinstance(source, (str, Path)) and not Path(source).exists():
        raise ValueError(f"config {str(source)!r} is neither a preset ({', '.join(PRESETS)}) nor an existing file "
                         f"(relative paths are from {Path.cwd()})")
    else:
        config = load_config(source)
    if not overrides:
        return config
    return GameConfig.model_validate(deep_merge(config.model_dump(), overrides))
