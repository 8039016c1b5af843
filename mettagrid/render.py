"""Pictures of a game: ANSI text and RGB images drawn with NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from mettagrid.config import GameConfig

__all__ = ["render_ansi", "render_rgb"]

_ARROWS = "^v<>"
_GROUP_ANSI = [33, 36, 35, 32, 34, 31, 37, 93, 96, 95]


def render_ansi(config: GameConfig, snap: dict[str, Any], color: bool = False) -> str:
    """The grid as text: object chars, agents as arrows of their orientation (`*` when frozen)."""
    h, w = snap["height"], snap["width"]
    grid = [["." for _ in range(w)] for _ in range(h)]
    chars = [obj.char or "?" for obj in config.objects.values()]
    for t, r, c in zip(snap["object_type"], snap["object_row"], snap["object_col"]):
        grid[r][c] = chars[t]
    for i in range(len(snap["agent_row"])):
        ch = "*" if snap["agent_frozen"][i] > 0 else _ARROWS[snap["agent_orientation"][i]]
        if color:
            ch = f"\x1b[{_GROUP_ANSI[snap['agent_group'][i] % len(_GROUP_ANSI)]}m{ch}\x1b[0m"
        grid[snap["agent_row"][i]][snap["agent_col"][i]] = ch
    header = f"step {snap['step']}/{snap['max_steps']}"
    return header + "\n" + "\n".join("".join(row) for row in grid)


def render_rgb(config: GameConfig, snap: dict[str, Any], cell: int = 8) -> np.ndarray:
    """The grid as an (height * cell, width * cell, 3) uint8 image."""
    h, w = snap["height"], snap["width"]
    img = np.full((h * cell, w * cell, 3), 235, dtype=np.uint8)
    palette = np.array([[60, 60, 60], [200, 40, 40], [40, 90, 200], [40, 160, 60], [230, 120, 30], [30, 170, 200],
                        [150, 60, 190], [220, 200, 40], [120, 80, 40], [240, 100, 160], [90, 90, 160],
                        [100, 160, 120], [200, 200, 200], [90, 60, 30], [160, 130, 90]], dtype=np.uint8)
    for t, r, c in zip(snap["object_type"], snap["object_row"], snap["object_col"]):
        img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = palette[int(t) % len(palette)]
    for i in range(len(snap["agent_row"])):
        r, c = snap["agent_row"][i], snap["agent_col"][i]
        img[r * cell + 1:(r + 1) * cell - 1, c * cell + 1:(c + 1) * cell - 1] = (20, 20, 20)
    return img
