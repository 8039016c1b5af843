"""Pictures of a game: ANSI text and RGB images drawn with NumPy (GIFs of episodes: mettagrid.replay).

Every function takes the game's config and a snapshot from `MettaGridEnv.grid_objects()`, so the same code
draws the native env and every adapter. In the RGB image:

- walls are dark grey squares, blocks (swappable walls) brown crates;
- each converter type has its own shape and colour: mines are triangles, generators diamonds, in the colour
  of their ore; the altar is a pink heart, the armory a grey shield, the lasery an orange cross, the lab a
  teal ring, the factory olive bars and the temple a golden gate; other user-defined types get a shape and
  colour from their type id;
- a converter that is converting or cooling down is drawn faded; one that holds output items has a white dot
  in its top-right corner (ready to collect);
- agents are outlined discs in their group's colour (a group named after a colour gets that colour) with a
  dark pointer towards the side they face; frozen agents are tinted ice-blue inside a cyan frame.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from mettagrid.config import ConverterConfig, GameConfig, WallConfig

__all__ = ["ansi_redraw", "print_ansi", "render_ansi", "render_rgb"]

_ARROWS = "^v<>"

_FLOOR = np.array([238, 234, 224], dtype=np.uint8)
_GRID_LINE = np.array([222, 217, 204], dtype=np.uint8)
_WALL = (72, 72, 82)
_BLOCK = (170, 122, 66)
_AGENT_POINTER = np.array([20, 20, 20], dtype=np.uint8)
_ICE = np.array([170, 225, 255], dtype=np.float32)
_ICE_FRAME = np.array([0, 190, 230], dtype=np.uint8)
_DOT = np.array([255, 255, 255], dtype=np.uint8)

# Named colours, used for the default converters' families and for groups named after a colour.
_NAMED = {
    "red": (205, 45, 45), "blue": (45, 95, 215), "green": (40, 150, 60), "yellow": (235, 195, 20),
    "orange": (240, 130, 20), "purple": (140, 70, 190), "pink": (230, 80, 150), "cyan": (20, 180, 200),
    "white": (250, 250, 250), "black": (30, 30, 30), "brown": (140, 90, 40), "grey": (128, 128, 128),
    "gray": (128, 128, 128),
}
# Groups not named after a colour take these, by group index.
_GROUP_PALETTE = [(245, 175, 20), (45, 95, 215), (205, 45, 45), (40, 150, 60), (140, 70, 190), (20, 180, 200),
                  (240, 110, 160), (120, 80, 40), (250, 250, 250), (90, 90, 90)]
# (shape, colour) of the default object types, by name; a colour of None means "the colour in the name".
_KNOWN: dict[str, tuple[str, tuple[int, int, int] | None]] = {
    "mine": ("triangle", None),
    "generator": ("diamond", None),
    "altar": ("heart", (225, 60, 120)),
    "armory": ("shield", (110, 120, 140)),
    "lasery": ("cross", (240, 130, 20)),
    "lab": ("ring", (20, 160, 160)),
    "factory": ("bars", (110, 115, 40)),
    "temple": ("gate", (210, 170, 30)),
}
_FALLBACK_SHAPES = ["square", "diamond", "triangle", "ring", "cross", "bars", "gate", "shield"]
_FALLBACK_COLOURS = [(200, 90, 40), (60, 140, 200), (150, 60, 160), (60, 160, 110), (190, 160, 40),
                     (100, 100, 200), (200, 70, 90), (70, 120, 60)]


# ------------------------------------------------------------------ text


def _xterm256(rgb: tuple[int, int, int] | np.ndarray) -> int:
    """The nearest colour of the xterm 256-colour palette (its 6 x 6 x 6 cube and its grey ramp)."""
    levels = np.array([0, 95, 135, 175, 215, 255])
    v = np.asarray(rgb, dtype=np.int64)
    cube = np.abs(levels[:, None] - v[None, :]).argmin(axis=0)
    candidates = [(int(((levels[cube] - v) ** 2).sum()), 16 + 36 * int(cube[0]) + 6 * int(cube[1]) + int(cube[2]))]
    grey = int(np.clip(round((v.mean() - 8) / 10), 0, 23))
    candidates.append((int(((8 + 10 * grey - v) ** 2).sum()), 232 + grey))
    return min(candidates)[1]


# Text styles (SGR parameters): the floor dim grey, walls light grey (the image's dark grey is unreadable on the
# dark background most terminals have); other objects and agents take their image colours.
_TEXT_FLOOR = "38;5;242"
_TEXT_WALL = "38;5;250"
_TEXT_FROZEN = "1;38;5;51"


def render_ansi(config: GameConfig, snap: dict[str, Any], color: bool = False,
                crop: tuple[int, int] | None = None) -> str:
    """The grid as text under a `step N/M` line: object chars, agents as arrows of their orientation (`*` when frozen).

    With `color`, ANSI 256-colour codes: each object in its picture's colour (bold and underlined while a converter
    holds output), agents bold in their group's colour (frozen ones cyan), the floor dim.
    `crop=(rows, cols)` keeps only that much of the map, from its top-left corner (to fit a terminal).
    """
    h, w = int(snap["height"]), int(snap["width"])
    rows, cols = (h, w) if crop is None else (max(0, min(h, crop[0])), max(0, min(w, crop[1])))
    grid = [["."] * w for _ in range(h)]
    style = [[_TEXT_FLOOR] * w for _ in range(h)]
    chars = [obj.char or "?" for obj in config.objects.values()]
    looks = [_TEXT_WALL if isinstance(obj, WallConfig) and not obj.swappable and name == "wall"
             else f"38;5;{_xterm256(_object_style(name, obj)[1])}" for name, obj in config.objects.items()]
    converter = [isinstance(obj, ConverterConfig) for obj in config.objects.values()]
    inventory = np.asarray(snap["object_inventory"])
    for i, (t, r, c) in enumerate(zip(snap["object_type"], snap["object_row"], snap["object_col"])):
        grid[r][c] = chars[t]
        if color:
            style[r][c] = ("1;4;" if converter[t] and inventory[i].any() else "") + looks[t]
    groups = [f"1;38;5;{_xterm256(c)}" for c in _group_colours(config)]
    for i in range(len(snap["agent_row"])):
        r, c = snap["agent_row"][i], snap["agent_col"][i]
        frozen = snap["agent_frozen"][i] > 0
        grid[r][c] = "*" if frozen else _ARROWS[snap["agent_orientation"][i]]
        style[r][c] = _TEXT_FROZEN if frozen else groups[snap["agent_group"][i] % len(groups)]
    lines = [f"step {snap['step']}/{snap['max_steps']}"]
    for r in range(rows):
        if not color:
            lines.append("".join(grid[r][:cols]))
            continue
        parts, last = [], None
        for c in range(cols):  # a style code only where the style changes along the row
            if style[r][c] != last:
                parts.append(f"\x1b[0;{style[r][c]}m")
                last = style[r][c]
            parts.append(grid[r][c])
        lines.append("".join(parts) + ("\x1b[0m" if parts else ""))
    return "\n".join(lines)


def ansi_redraw(text: str) -> str:
    """`text` as an in-place redraw of a terminal screen: cursor home, each line cleared after its end, the rest of
    the screen cleared (no flicker, unlike clearing the whole screen first)."""
    return "\x1b[H" + "".join(line + "\x1b[K\n" for line in text.split("\n")) + "\x1b[J"


def print_ansi(config: GameConfig, snap: dict[str, Any]) -> None:
    """Prints the text picture: coloured and redrawn in place on a terminal (the adapters' "human" mode), plain
    text otherwise."""
    out = sys.stdout
    if out.isatty():
        out.write(ansi_redraw(render_ansi(config, snap, color=True)))
    else:
        out.write(render_ansi(config, snap) + "\n")
    out.flush()


# ------------------------------------------------------------------ shapes


@functools.lru_cache(maxsize=16)
def _shape_masks(cell: int) -> dict[str, np.ndarray]:
    """Boolean (cell, cell) masks of every shape, in cell coordinates u (right) and v (down) in [-1, 1]."""
    yy, xx = np.mgrid[0:cell, 0:cell].astype(np.float32)
    u = (xx + 0.5) / cell * 2 - 1
    v = (yy + 0.5) / cell * 2 - 1
    au, av = np.abs(u), np.abs(v)
    hx, hy = u * 1.35, -(v * 1.35) + 0.25  # heart curve: (x^2 + y^2 - 1)^3 <= x^2 y^3
    masks = {
        "full": np.ones((cell, cell), dtype=bool),
        "square": (au <= 0.72) & (av <= 0.72),
        "crate": (au <= 0.84) & (av <= 0.84),
        "triangle": (v >= -0.8) & (v <= 0.72) & (au <= (v + 0.8) / 1.52 * 0.88),
        "diamond": au + av <= 0.86,
        "heart": (hx ** 2 + hy ** 2 - 1) ** 3 - hx ** 2 * hy ** 3 <= 0,
        "shield": ((au <= 0.72) & (v >= -0.78) & (v <= 0.05)) | ((v > 0.05) & (au <= 0.72 * (0.85 - v) / 0.8)),
        "cross": (np.abs(au - av) <= 0.24) & (np.maximum(au, av) <= 0.82),
        "ring": (u ** 2 + v ** 2 <= 0.82 ** 2) & (u ** 2 + v ** 2 >= 0.42 ** 2),
        "bars": (au <= 0.8) & (av <= 0.8) & (np.floor((v + 0.8) / 0.32).astype(int) % 2 == 0),
        "gate": ((av <= 0.8) & (v <= -0.45) & (au <= 0.85)) | ((v > -0.45) & (v <= 0.8) & (au >= 0.35) & (au <= 0.7)),
        "disc": u ** 2 + v ** 2 <= 0.8 ** 2,
        "dot": (u - 0.62) ** 2 + (v + 0.62) ** 2 <= 0.3 ** 2,
        "frame": (np.maximum(au, av) >= 0.8),
    }
    # A pointer per orientation (0 up, 1 down, 2 left, 3 right): a wedge from the centre to the disc's edge.
    along = [-v, v, -u, u]
    across = [au, au, av, av]
    for o in range(4):
        masks[f"pointer{o}"] = (along[o] >= 0.05) & (along[o] <= 0.8) & (across[o] <= 0.45 * (0.8 - along[o]))
    return masks


def _edge(mask: np.ndarray) -> np.ndarray:
    """The mask's outermost pixels (mask minus its 4-neighbour erosion)."""
    pad = np.pad(mask, 1, constant_values=False)
    inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


def _object_style(name: str, obj: ConverterConfig | WallConfig) -> tuple[str, tuple[int, int, int]]:
    if isinstance(obj, WallConfig):
        if obj.swappable:
            return "crate", _BLOCK
        if name == "wall":
            return "full", _WALL
        return "full", _FALLBACK_COLOURS[obj.type_id % len(_FALLBACK_COLOURS)]
    family, _, colour_word = name.partition("_")
    if family in _KNOWN:
        shape, colour = _KNOWN[family]
        if colour is None:
            colour = _NAMED.get(colour_word, _FALLBACK_COLOURS[obj.type_id % len(_FALLBACK_COLOURS)])
        return shape, colour
    return (_FALLBACK_SHAPES[obj.type_id % len(_FALLBACK_SHAPES)],
            _FALLBACK_COLOURS[obj.type_id % len(_FALLBACK_COLOURS)])


def _group_colours(config: GameConfig) -> np.ndarray:
    out = []
    for i, name in enumerate(config.groups):
        out.append(_NAMED.get(name.lower(), _GROUP_PALETTE[i % len(_GROUP_PALETTE)]))
    return np.array(out, dtype=np.float32)


def _paint(tiles: np.ndarray, rows: np.ndarray, cols: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """Paints `colour` (one RGB, or one per tile) over `mask` in the tiles at (rows, cols)."""
    if rows.size == 0:
        return
    colour = np.asarray(colour, dtype=np.uint8)
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    tiles[rows, cols] = np.where(mask[None, :, :, None], colour, tiles[rows, cols])


# ------------------------------------------------------------------ images


def render_rgb(config: GameConfig, snap: dict[str, Any], cell: int = 16) -> np.ndarray:
    """The whole map as an (height * cell, width * cell, 3) uint8 RGB image."""
    if not isinstance(cell, (int, np.integer)) or not 4 <= cell <= 64:
        raise ValueError(f"cell = {cell!r}, expected an integer pixel size in 4..64")
    h, w = int(snap["height"]), int(snap["width"])
    masks = _shape_masks(int(cell))
    img = np.empty((h * cell, w * cell, 3), dtype=np.uint8)
    img[:] = _FLOOR
    img[cell - 1::cell, :] = _GRID_LINE
    img[:, cell - 1::cell] = _GRID_LINE
    # tiles[r, c] is the (cell, cell, 3) block of grid cell (r, c): a view, so painting it paints the image.
    tiles = img.reshape(h, cell, w, cell, 3).transpose(0, 2, 1, 3, 4)
    floor = _FLOOR.astype(np.float32)

    otype = np.asarray(snap["object_type"])
    orow = np.asarray(snap["object_row"])
    ocol = np.asarray(snap["object_col"])
    busy = np.asarray(snap["object_converting"]) > 0
    holding = np.asarray(snap["object_inventory"]).sum(axis=1) > 0 if len(otype) else np.zeros(0, dtype=bool)
    for t, (name, obj) in enumerate(config.objects.items()):
        sel = otype == t
        if not sel.any():
            continue
        shape, colour = _object_style(name, obj)
        mask = masks[shape]
        fill = np.array(colour, dtype=np.float32)
        edge = _edge(mask) if shape != "full" else None
        for faded in (False, True):
            part = sel & (busy == faded)
            if not part.any():
                continue
            c = fill * 0.6 + floor * 0.4 if faded else fill
            _paint(tiles, orow[part], ocol[part], mask, c)
            if edge is not None:
                _paint(tiles, orow[part], ocol[part], edge, c * 0.55)
        if isinstance(obj, ConverterConfig):
            ready = sel & holding
            _paint(tiles, orow[ready], ocol[ready], masks["dot"], _DOT)
            _paint(tiles, orow[ready], ocol[ready], _edge(masks["dot"]), _AGENT_POINTER)

    arow = np.asarray(snap["agent_row"])
    acol = np.asarray(snap["agent_col"])
    if arow.size:
        groups = _group_colours(config)
        colours = groups[np.asarray(snap["agent_group"]) % len(groups)]
        frozen = np.asarray(snap["agent_frozen"]) > 0
        colours[frozen] = colours[frozen] * 0.35 + _ICE * 0.65
        disc = masks["disc"]
        _paint(tiles, arow, acol, disc, colours)
        _paint(tiles, arow, acol, _edge(disc), colours * 0.4)
        orient = np.asarray(snap["agent_orientation"])
        for o in range(4):
            sel = orient == o
            _paint(tiles, arow[sel], acol[sel], masks[f"pointer{o}"], _AGENT_POINTER)
        _paint(tiles, arow[frozen], acol[frozen], masks["frame"], _ICE_FRAME)
    return img
