"""What the Gymnasium and PettingZoo adapters share: seeding, episode-end bookkeeping, infos, the global state.

The core resets a finished game inside the `step` that ends its episode, so after that step its buffers hold
the next episode's first observation. Episodes end only at their time limit (GAME.md), which the adapters
know in advance: before a step that will end a game's episode they keep a copy of that game's observation rows
(and, for single-game adapters, a snapshot of the game), and present those as the ended episode's final data.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

import numpy as np
from gymnasium import spaces

from mettagrid.config import GameConfig
from mettagrid.env import MettaGridEnv
from mettagrid.render import print_ansi, render_ansi, render_rgb

__all__: list[str] = []

ADAPTER_RENDER_MODES = ["ansi", "rgb_array", "human"]
RENDER_FPS = 10
# Channels of the global state (then one channel per inventory item).
STATE_CHANNELS = ["object_type_id", "agent", "agent_group", "agent_orientation", "agent_frozen", "converting"]


_F = TypeVar("_F", bound=Callable[..., Any])


def serialized(method: _F) -> _F:
    """Runs an adapter method under the adapter's lock (one call at a time when several threads share it)."""

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


def new_lock() -> threading.RLock:
    """The lock that `serialized` methods of an adapter take."""
    return threading.RLock()


def rebuild(cls: type, kwargs: dict[str, Any]) -> Any:
    """Unpickles an adapter: a new one built from its constructor arguments (see `reduce`)."""
    return cls(**kwargs)


def reduce(adapter: Any, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """`__reduce__` of the adapters: rebuilt from constructor arguments (a fresh env, not the same episode),
    keeping the registry spec that gymnasium.make / make_vec attached."""
    spec = adapter.__dict__.get("spec")
    return (rebuild, (type(adapter), kwargs), {"spec": spec} if spec is not None else None)


def check_render_mode(render_mode: str | None, modes: list[str]) -> str | None:
    """Raises a clear error for a render mode the adapter does not offer."""
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"render_mode = {render_mode!r}, expected one of {modes} or None")
    return render_mode


def check_seed(seed: Any, where: str) -> int | None:
    """A seed must be None or a non-negative integer."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{where}: seed = {seed!r}, expected None or a non-negative integer")
    return int(seed)


def draw_seed(rng: np.random.Generator) -> int:
    """The seed of an unseeded reset, drawn from the adapter's generator."""
    return int(rng.integers(0, 1 << 63))


class EpisodeClock:
    """Knows each game's time limit so the step that ends an episode is known before it is taken.

    Steps are counted in Python integers so the common case (no episode ends on this step) costs nothing.
    """

    _NONE = np.zeros(0, dtype=np.int64)

    def __init__(self, env: MettaGridEnv) -> None:
        self.env = env
        self.t = 0
        self.end = np.full(env.num_envs, -1, dtype=np.int64)  # the value of t after each game's last step; -1: never
        self.next_end = -1

    def restart(self, games: Any = None) -> None:
        """Reads the remaining steps of the given games (all by default) from the core."""
        for g in range(self.env.num_envs) if games is None else games:
            limit = self.env.episode_max_steps(int(g))
            self.end[g] = self.t + limit - self.env.current_step(int(g)) if limit > 0 else -1
        live = self.end[self.end >= 0]
        self.next_end = int(live.min()) if live.size else -1

    def ending(self) -> np.ndarray:
        """Games whose episode the next step ends."""
        if self.next_end != self.t + 1:
            return self._NONE
        return np.flatnonzero(self.end == self.t + 1)

    def advance(self, ended: Any) -> None:
        """Counts one step and restarts the clocks of the games that were reset."""
        self.t += 1
        if len(ended):
            self.restart(ended)


def agent_episode_infos(env: MettaGridEnv, game: int, groups: np.ndarray) -> list[dict[str, Any]]:
    """One info dict per agent of a game's last finished episode: its return, length, seed, group and stats."""
    rec = env.episode_record(game)
    group_names = list(env.config.groups)
    common = {"episode_length": int(rec["length"]), "episode_seed": np.uint64(rec["seed"])}
    game_stats = {f"game/{n}": v for n, v in zip(env.game_stat_names, rec["game_stats"].tolist())}
    stat_names = [f"agent/{n}" for n in env.agent_stat_names]
    out = []
    for a, (ret, stats) in enumerate(zip(rec["returns"].tolist(), rec["agent_stats"].tolist())):
        info: dict[str, Any] = {"episode_return": ret, **common, "group": group_names[int(groups[a])]}
        info.update(zip(stat_names, stats))
        info.update(game_stats)
        out.append(info)
    return out


def state_space(config: GameConfig, height: int, width: int) -> spaces.Box:
    """The space of `global_state`: uint8 channels x height x width."""
    return spaces.Box(0, 255, (len(STATE_CHANNELS) + len(config.inventory_item_names), height, width), dtype=np.uint8)


def global_state(config: GameConfig, snap: dict[str, Any]) -> np.ndarray:
    """The whole map as channels (see STATE_CHANNELS, then inventories) x height x width, uint8."""
    h, w = snap["height"], snap["width"]
    n_items = len(config.inventory_item_names)
    state = np.zeros((len(STATE_CHANNELS) + n_items, h, w), dtype=np.uint8)
    type_ids = np.array([o.type_id for o in config.objects.values()], dtype=np.uint8)
    orow, ocol = snap["object_row"], snap["object_col"]
    state[0, orow, ocol] = type_ids[snap["object_type"]]
    state[5, orow, ocol] = snap["object_converting"] > 0
    inv = len(STATE_CHANNELS)
    state[inv:, orow, ocol] = np.asarray(snap["object_inventory"]).T
    arow, acol = snap["agent_row"], snap["agent_col"]
    state[1, arow, acol] = 1
    state[2, arow, acol] = snap["agent_group"]
    state[3, arow, acol] = snap["agent_orientation"]
    state[4, arow, acol] = snap["agent_frozen"] > 0
    state[inv:, arow, acol] = np.asarray(snap["agent_inventory"]).T
    return state


def render_snapshot(config: GameConfig, snap: dict[str, Any], render_mode: str | None) -> Any:
    """Renders a snapshot in an adapter's render mode (text, image, or printed text for "human")."""
    if render_mode == "rgb_array":
        return render_rgb(config, snap)
    if render_mode == "ansi":
        return render_ansi(config, snap)
    if render_mode == "human":
        print_ansi(config, snap)
    return None
