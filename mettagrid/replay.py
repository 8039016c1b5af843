"""Replays of episodes: animated GIFs (RGB frames from `mettagrid.render`, written with Pillow, the `gif`
extra) and step-by-step replays for the browser viewer (one self-contained HTML file, no extra needed).

    from mettagrid.replay import episode_frames, record_episode, save_episode_gif, save_gif
    save_episode_gif("arena", "arena.gif", seed=0)          # one episode, random actions, 16 px cells
    save_gif([env.render() for _ in ...], "frames.gif")     # any RGB frames, e.g. from render_mode="rgb_array"
    frames = episode_frames(env, policy)                    # an env's game 0 for one episode, as RGB frames
    record_episode("arena", policy).save_html("arena.html")  # open it in a browser: play, step, click to inspect

A recorded replay keeps, for every agent and object, only the steps where a field changed (position,
orientation, frozen, last action and its success, reward, return, inventory; converters' state and inventory). Its JSON
(`Replay.to_dict()`, `save_json(path)`, gzip-compressed when the path ends in .gz) has: version, title, width,
height, num_steps, cell, item, action, group and object type names, `converter` (per type: whether it is a
converter), `recipes` (per type: null, or a converter's {"input": {item: n}, "output": {item: n}}), `sprites` (PNG
data URIs drawn by `mettagrid.render`), and `agents` / `objects`, each entity holding `series`: per field a
list of [step, value] change points.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mettagrid.config import ConverterConfig, GameConfig
from mettagrid.env import MettaGridEnv
from mettagrid._viewer import VIEWER_HTML
from mettagrid.render import render_rgb

__all__ = ["Replay", "episode_frames", "gif_cell", "record_episode", "require_gif_support", "save_episode_gif",
           "save_gif"]


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as e:  # the `gif` extra is optional
        raise ImportError("writing GIFs needs Pillow: pip install 'metta-gridworld[gif]' "
                          "(or pip install pillow)") from e
    return Image


def require_gif_support() -> None:
    """Raises an ImportError naming the `gif` extra when Pillow is missing (call it before long work)."""
    _pil()


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0, loop: int = 0) -> Path:
    """Writes RGB frames (each (H, W, 3) uint8, all one size) to an animated GIF (atomically); returns the path."""
    frames = list(frames)
    if not frames:
        raise ValueError("save_gif: no frames")
    if fps <= 0:
        raise ValueError(f"save_gif: fps = {fps!r}, expected > 0")
    shape = np.shape(frames[0])
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"save_gif: frame {i} must be an (H, W, 3) uint8 array, got "
                             f"{type(f).__name__} {getattr(f, 'shape', '')} {getattr(f, 'dtype', '')}")
        if f.shape != shape:
            raise ValueError(f"save_gif: frame {i} has shape {f.shape}, frame 0 has {shape}")
    image = _pil()
    images = [image.fromarray(f) for f in frames]
    data = io.BytesIO()
    images[0].save(data, format="GIF", save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)),
                   loop=loop, optimize=False)
    return _write_atomic(Path(path), data.getvalue())


def _play_episode(env: MettaGridEnv, policy: Callable[[np.ndarray], np.ndarray] | None, seed: int,
                  max_frames: int | None, on_frame: Callable[[], None]) -> None:
    """Resets `env`, then steps all its games (by `policy` or at random) until game 0's episode is about to end,
    calling `on_frame()` after the reset and after every step."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames = {max_frames}, expected >= 1 or None")
    obs, _ = env.reset(seed)
    rng = np.random.default_rng(seed)
    n_actions = int(env.single_action_space.n)
    length = env.episode_max_steps(0)
    limit = max_frames if max_frames is not None else (length + 1 if length > 0 else 1001)
    on_frame()
    frames = 1
    # The core starts the next episode inside the step that ends this one, so the last step is not shown.
    while frames < limit and (length == 0 or env.current_step(0) + 1 < length):
        actions = policy(obs) if policy is not None else rng.integers(0, n_actions, env.num_agents, dtype=np.int32)
        obs, *_ = env.step(actions)
        on_frame()
        frames += 1


def gif_cell(height: int, width: int) -> int:
    """The default pixels per cell of a GIF of a height x width map: 16 (enough to see which way each agent faces),
    less for maps over 64 cells across so a frame stays near 1024 pixels wide, never under 8."""
    return max(8, min(16, 1024 // max(1, height, width)))


def episode_frames(
    env: MettaGridEnv,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
    cell: int | None = None,
) -> list[np.ndarray]:
    """Resets `env` and renders its game 0 at every step of one episode (`cell` pixels per cell, default
    `gif_cell` of the map); all its games act, by `policy(observations) -> actions` or uniformly at random."""
    frames: list[np.ndarray] = []

    def frame() -> None:
        snap = env.grid_objects(0)
        frames.append(render_rgb(env.game_config(0), snap, cell or gif_cell(int(snap["height"]), int(snap["width"]))))

    _play_episode(env, policy, seed, max_frames, frame)
    return frames


# ------------------------------------------------------------------ browser replays


def _png_data_uri(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 image as a data: URI of a PNG (encoded here, no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _one_cell_snapshot(num_items: int, obj: tuple[int, int, bool] | None = None,
                       agent: tuple[int, int, bool] | None = None) -> dict[str, Any]:
    """A 1 x 1 snapshot holding one object (type, converting, holds items) or one agent (group, orientation, frozen)."""
    i32 = lambda *v: np.array(v, dtype=np.int32)  # noqa: E731
    snap: dict[str, Any] = {"height": 1, "width": 1, "object_type": i32(), "object_row": i32(), "object_col": i32(),
                            "object_converting": i32(), "object_inventory": np.zeros((0, num_items), np.uint8),
                            "agent_row": i32(), "agent_col": i32(), "agent_group": i32(), "agent_frozen": i32(),
                            "agent_orientation": i32()}
    if obj is not None:
        inventory = np.zeros((1, num_items), np.uint8)
        inventory[0, :1] = obj[2]
        snap.update(object_type=i32(obj[0]), object_row=i32(0), object_col=i32(0), object_converting=i32(int(obj[1])),
                    object_inventory=inventory)
    if agent is not None:
        snap.update(agent_row=i32(0), agent_col=i32(0), agent_group=i32(agent[0]), agent_orientation=i32(agent[1]),
                    agent_frozen=i32(int(agent[2])))
    return snap


def _sprites(config: GameConfig, height: int, width: int, cell: int) -> dict[str, Any]:
    """The viewer's pictures, drawn by render_rgb: the empty floor, each object type in its 4 looks (idle, busy,
    idle holding items, busy holding items) and each group's agent (normal, frozen) x 4 orientations."""
    n = max(1, len(config.inventory_item_names))
    empty = _one_cell_snapshot(n)
    floor = render_rgb(config, {**empty, "height": height, "width": width}, cell)
    objects = [[_png_data_uri(render_rgb(config, _one_cell_snapshot(n, obj=(t, busy, ready)), cell))
                for ready in (False, True) for busy in (False, True)] for t in range(len(config.objects))]
    agents = [[[_png_data_uri(render_rgb(config, _one_cell_snapshot(n, agent=(g, o, frozen)), cell)) for o in range(4)]
               for frozen in (False, True)] for g in range(len(config.groups))]
    return {"floor": _png_data_uri(floor), "objects": objects, "agents": agents}


class Replay:
    """One game of an env recorded step by step, keeping only the changes; `record()` after reset and each step."""

    _AGENT_FIELDS = {"r": "agent_row", "c": "agent_col", "orientation": "agent_orientation", "frozen": "agent_frozen",
                     "action": "agent_last_action", "success": "agent_last_action_success", "reward": "agent_reward",
                     "return": "agent_return"}
    _OBJECT_FIELDS = {"r": "object_row", "c": "object_col", "converting": "object_converting"}

    def __init__(self, env: MettaGridEnv, game: int = 0, title: str | None = None, cell: int = 16) -> None:
        if not 0 <= game < env.num_envs:
            raise ValueError(f"game = {game}, expected 0 <= game < num_envs = {env.num_envs}")
        self.env, self.game, self.cell = env, game, cell
        self.title = title or env.game_task(game) or "mettagrid"
        self.num_steps = -1
        self._prev: dict[str, np.ndarray] = {}
        self.agents: list[dict[str, list[list[Any]]]] = []
        self.objects: list[dict[str, list[list[Any]]]] = []
        self._agent_groups: list[int] = []
        self._object_types: list[int] = []
        self.config: GameConfig | None = None

    def _track(self, series: list[dict[str, list[list[Any]]]], name: str, values: np.ndarray, t: int,
               convert: Callable[[Any], Any]) -> None:
        prev = self._prev.get(name)
        changed = range(len(values)) if prev is None else np.flatnonzero(
            (values != prev).reshape(len(values), -1).any(axis=1))
        for i in changed:
            series[i].setdefault(name.split(":")[1], []).append([t, convert(values[i])])
        self._prev[name] = values.copy()

    def record(self) -> None:
        """Adds the game's current state as the next step (the first call: step 0, after reset)."""
        snap = self.env.grid_objects(self.game)
        if self.config is None:
            self.config = self.env.game_config(self.game)
            self.items = list(self.config.inventory_item_names)
            self.height, self.width = int(snap["height"]), int(snap["width"])
            self.agents = [{} for _ in range(len(snap["agent_row"]))]
            self.objects = [{} for _ in range(len(snap["object_type"]))]
            self._agent_groups = [int(g) for g in snap["agent_group"]]
            self._object_types = [int(t) for t in snap["object_type"]]
        elif len(snap["object_type"]) != len(self.objects) or len(snap["agent_row"]) != len(self.agents):
            raise ValueError("Replay.record: the game started another episode; record one episode per Replay")
        self.num_steps += 1
        t = self.num_steps
        items = self.items

        def inventory(row: np.ndarray) -> dict[str, int]:
            return {items[k]: int(row[k]) for k in np.flatnonzero(row)}

        for field, key in self._AGENT_FIELDS.items():
            conv = (lambda v: round(float(v), 6)) if field in ("reward", "return") else int
            self._track(self.agents, f"agent:{field}", np.asarray(snap[key]), t, conv)
        self._track(self.agents, "agent:inventory", np.asarray(snap["agent_inventory"]), t, inventory)
        for field, key in self._OBJECT_FIELDS.items():
            self._track(self.objects, f"object:{field}", np.asarray(snap[key]), t, int)
        self._track(self.objects, "object:inventory", np.asarray(snap["object_inventory"]), t, inventory)

    def to_dict(self) -> dict[str, Any]:
        """The replay as plain JSON-ready data (see the module docstring for its fields)."""
        if self.config is None:
            raise ValueError("Replay.to_dict: nothing recorded yet; call record() after reset()")
        config = self.config
        return {
            "version": 1, "title": self.title, "width": self.width, "height": self.height,
            "num_steps": self.num_steps, "cell": self.cell, "items": self.items,
            "actions": self.env.action_names(), "groups": list(config.groups),
            "object_types": list(config.objects),
            "converter": [isinstance(o, ConverterConfig) for o in config.objects.values()],
            "recipes": [{"input": dict(o.input_resources), "output": dict(o.output_resources)}
                        if isinstance(o, ConverterConfig) else None for o in config.objects.values()],
            "sprites": _sprites(config, self.height, self.width, self.cell),
            "agents": [{"group": g, "series": s} for g, s in zip(self._agent_groups, self.agents)],
            "objects": [{"type": t, "series": s} for t, s in zip(self._object_types, self.objects)],
        }

    def save_json(self, path: str | Path) -> Path:
        """Writes the replay's JSON (gzip-compressed when `path` ends in .gz), atomically; returns the path."""
        data = json.dumps(self.to_dict(), separators=(",", ":")).encode()
        return _write_atomic(Path(path), gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)

    def save_html(self, path: str | Path) -> Path:
        """Writes the browser viewer with this replay inside (one self-contained file), atomically; returns the path."""
        # `<` only occurs inside JSON strings; as \u003c no name can end the script element or open a comment in it
        data = json.dumps(self.to_dict(), separators=(",", ":")).replace("<", "\\u003c")
        return _write_atomic(Path(path), VIEWER_HTML.replace("__REPLAY_JSON__", data).encode())


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def record_episode(
    env: "MettaGridEnv | GameConfig | dict[str, Any] | str | Path",
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    title: str | None = None,
    cell: int = 16,
) -> Replay:
    """Plays one episode (game 0 of `env`, or of a one-game env built from a config or preset name; random actions
    unless `policy(observations) -> actions`) and records it; `max_steps` caps the recorded steps."""
    if not isinstance(env, MettaGridEnv):
        title = title or (env if isinstance(env, str) else None)
        env = MettaGridEnv(env, num_envs=1, seed=seed)
    replay = Replay(env, 0, title, cell)
    _play_episode(env, policy, seed, None if max_steps is None else max_steps + 1, replay.record)
    return replay


def save_episode_gif(
    config: "GameConfig | dict[str, Any] | str | Path",
    path: str | Path,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
    cell: int | None = None,
    fps: float = 10.0,
) -> Path:
    """Plays one episode of a game (random actions unless `policy(observations) -> actions`) into a GIF, `cell`
    pixels per cell (default `gif_cell` of the map: 16 up to 64 cells across)."""
    _pil()  # fail before playing when Pillow is missing
    env = MettaGridEnv(config, num_envs=1, seed=seed)
    return save_gif(episode_frames(env, policy, seed, max_frames, cell), path, fps=fps)
