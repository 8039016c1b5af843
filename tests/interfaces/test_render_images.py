"""Pictures: the RGB image shows walls, each object type, agents with orientation, group and frozen marks."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from mettagrid import MettaGridEnv, make_config
from mettagrid.config import AsciiMapBuilder, GameConfig, GroupConfig
from mettagrid.render import ansi_redraw, render_ansi, render_rgb
from mettagrid.replay import episode_frames, gif_cell, save_episode_gif, save_gif

CELL = 16


def _tile(img: np.ndarray, r: int, c: int) -> np.ndarray:
    return img[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL]


def _all_objects_game() -> MettaGridEnv:
    rows = ["#################",
            "#.mbgnBG_oSLFTs.#",
            "#.1...2.........#",
            "#################"]
    config = GameConfig(num_agents=2, groups={"red": GroupConfig(id=1), "blue": GroupConfig(id=2)},
                        map_builder=AsciiMapBuilder(map_data=rows))
    return MettaGridEnv(config)


def test_every_object_type_has_its_own_look() -> None:
    env = _all_objects_game()
    snap = env.grid_objects()
    img = render_rgb(env.config, snap, cell=CELL)
    assert img.shape == (4 * CELL, 17 * CELL, 3) and img.dtype == np.uint8
    floor = _tile(img, 2, 3)
    tiles = {name: _tile(img, r, c) for name, r, c in
             [("wall", 0, 0)] + [(env.object_type_names[t], r, c) for t, r, c in
                                 zip(snap["object_type"], snap["object_row"], snap["object_col"]) if r == 1]}
    assert len(tiles) == 14  # the wall and the 13 other default types
    for name, tile in tiles.items():
        assert not np.array_equal(tile, floor), name
    names = list(tiles)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.array_equal(tiles[a], tiles[b]), (a, b)
    assert (tiles["wall"] == tiles["wall"][0, 0]).all()  # walls are solid


def test_agents_show_orientation_group_and_frozen() -> None:
    env = _all_objects_game()
    snap = env.grid_objects()
    (r0, c0), (r1, c1) = zip(snap["agent_row"], snap["agent_col"])
    assert snap["agent_group"].tolist() == [0, 1]
    img = render_rgb(env.config, snap, cell=CELL)
    red, blue = _tile(img, r0, c0), _tile(img, r1, c1)
    assert red[CELL // 2, 3, 0] > 150 and blue[CELL // 2, 3, 2] > 150  # groups named after colours get them
    looks = []
    for o in range(4):
        snap["agent_orientation"][:] = o
        looks.append(_tile(render_rgb(env.config, snap, cell=CELL), r0, c0).copy())
    assert all(not np.array_equal(looks[i], looks[j]) for i in range(4) for j in range(i + 1, 4))
    snap["agent_frozen"][0] = 3
    frozen = _tile(render_rgb(env.config, snap, cell=CELL), r0, c0)
    assert not np.array_equal(frozen, looks[3])
    assert (frozen[0, :] == [0, 190, 230]).all()  # the cyan frame


def test_converter_state_is_visible() -> None:
    env = _all_objects_game()
    snap = env.grid_objects()
    i = int(np.flatnonzero(snap["object_type"] == env.object_type_names.index("mine_red"))[0])
    r, c = snap["object_row"][i], snap["object_col"][i]
    snap["object_converting"][i] = 0
    snap["object_inventory"][i] = 0
    idle = _tile(render_rgb(env.config, snap, cell=CELL), r, c).copy()
    snap["object_converting"][i] = 1
    busy = _tile(render_rgb(env.config, snap, cell=CELL), r, c).copy()
    snap["object_inventory"][i, 0] = 1
    ready = _tile(render_rgb(env.config, snap, cell=CELL), r, c)
    assert not np.array_equal(idle, busy) and not np.array_equal(busy, ready)


def test_arena_image_and_text() -> None:
    env = MettaGridEnv("arena", render_mode="rgb_array")
    img = env.render()
    assert img.shape == (53 * CELL, 53 * CELL, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 8
    text = render_ansi(env.config, env.grid_objects())
    lines = text.splitlines()
    assert lines[0] == "step 0/1000" and len(lines) == 54 and set(lines[1]) == {"#"}
    assert sum(line.count(ch) for line in lines for ch in "^v<>") == 24
    with pytest.raises(ValueError, match="cell"):
        render_rgb(env.config, env.grid_objects(), cell=2)


def test_save_gif(tmp_path: Path) -> None:
    from PIL import Image

    frames = [np.full((8, 12, 3), i * 40, dtype=np.uint8) for i in range(4)]
    path = save_gif(frames, tmp_path / "a.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (12, 8)
    with pytest.raises(ValueError, match="no frames"):
        save_gif([], tmp_path / "b.gif")
    with pytest.raises(ValueError, match="frame 1 has shape"):
        save_gif([frames[0], np.zeros((4, 4, 3), dtype=np.uint8)], tmp_path / "b.gif")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        save_gif([frames[0].astype(np.float32)], tmp_path / "b.gif")


def test_save_episode_gif(tmp_path: Path) -> None:
    from PIL import Image

    path = save_episode_gif(make_config("teams", max_steps=6), tmp_path / "ep.gif", seed=1, cell=4)
    with Image.open(path) as gif:
        assert gif.n_frames >= 2 and gif.size == (100, 100)


@pytest.mark.parametrize("game, size", [("navigation", 15), ("arena", 53)])
def test_default_gif_cells_show_which_way_agents_face(game: str, size: int, tmp_path: Path) -> None:
    from PIL import Image

    env = MettaGridEnv(game, num_envs=1, seed=0)
    frame = episode_frames(env, max_frames=1)[0]
    assert frame.shape == (size * 16, size * 16, 3) and frame.shape[1] <= 1024  # 16 px cells, arena 848 px wide
    snap = env.grid_objects(0)
    for r, c in zip(snap["agent_row"], snap["agent_col"]):  # every agent's dark pointer is drawn, not a speck
        assert ((frame[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] == [20, 20, 20]).all(axis=2).sum()) >= 12
    path = save_episode_gif(make_config(game, max_steps=3), tmp_path / "ep.gif")
    with Image.open(path) as gif:
        assert gif.size == (size * 16, size * 16)
    # maps over 64 cells across get smaller cells so a frame stays near 1024 px, never under 8
    assert [gif_cell(64, 64), gif_cell(80, 20), gif_cell(100, 128), gif_cell(300, 300)] == [16, 12, 8, 8]


def test_ansi_colour_and_crop() -> None:
    env = MettaGridEnv("arena_combat", seed=0)
    snap = env.grid_objects()
    plain = render_ansi(env.config, snap)
    coloured = render_ansi(env.config, snap, color=True)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain  # the same characters, with colour codes around them
    assert "\x1b[0;38;5;250m#" in coloured  # walls light grey
    assert len(set(re.findall(r"\x1b\[0;([0-9;]*)m", coloured))) >= 6  # floor, wall, block, converters, agents
    cropped = render_ansi(env.config, snap, crop=(5, 10)).split("\n")
    assert cropped == [plain.split("\n")[0]] + [line[:10] for line in plain.split("\n")[1:6]]
    assert ansi_redraw("ab\ncd") == "\x1b[Hab\x1b[K\ncd\x1b[K\n\x1b[J"


def test_missing_pillow_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"metta-gridworld\[gif\]"):
        save_gif([np.zeros((4, 4, 3), dtype=np.uint8)], tmp_path / "x.gif")
    with pytest.raises(ImportError, match="Pillow"):
        save_episode_gif("navigation", tmp_path / "x.gif")
