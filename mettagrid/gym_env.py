"""Gymnasium interfaces: a single-agent `gymnasium.Env` and a multi-agent `gymnasium.vector.VectorEnv`.

`MettaGridGymEnv` is one game with one agent (e.g. `gymnasium.make("mettagrid/Navigation-v0")`): observations
are fresh uint8 arrays, rewards floats, terminated/truncated Python bools, and `reset(seed=s)` fully determines
the episode. On the step that ends an episode its info holds the episode stats (`episode_return`,
`episode_length`, `episode_seed`, `group`, `agent/<stat>`, `game/<stat>`).

`MettaGridVectorEnv` steps `num_envs` games in one C++ call and exposes one sub-env per agent (the
CleanRL/SuperSuit convention), so it has `num_envs * num_agents` sub-envs, rows ordered game by game. It resets
a finished game inside the step that ends it (`AutoresetMode.SAME_STEP`): that step returns the next episode's
first observations, the ended step's rewards and dones, and in `infos` the usual same-step keys:
`final_obs` (an object array, one observation per sub-env, None where nothing ended) with mask `_final_obs`,
and `final_info` (a dict of arrays of the per-agent episode stats, each with its `_<key>` mask) with mask
`_final_info`.

Final observations: the core starts the next episode inside the step that ends one, so the observation after
the last step no longer exists. Both classes present the last observation of the ended episode that the core
produced (the one the agents acted on) as its final observation; the single-agent env also keeps rendering the
ended episode until `reset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from mettagrid import _adapters
from mettagrid.config import GameConfig
from mettagrid.env import MettaGridEnv
from mettagrid.resolve import resolve_config

__all__ = ["MettaGridGymEnv", "MettaGridVectorEnv"]

_INT64 = np.dtype(np.int64)


class MettaGridGymEnv(gymnasium.Env):
    """A single-agent game as a gymnasium.Env; reuses one native single-game env across resets."""

    metadata = {"render_modes": list(_adapters.ADAPTER_RENDER_MODES), "render_fps": _adapters.RENDER_FPS}

    def __init__(
        self,
        config: "GameConfig | dict[str, Any] | str | Path" = "navigation",
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.render_mode = _adapters.check_render_mode(render_mode, self.metadata["render_modes"])
        self._lock = _adapters.new_lock()
        self._env = MettaGridEnv(resolve_config(config, overrides), num_envs=1, seed=0,
                                 final_observations=True)
        if self._env.num_agents != 1:
            raise ValueError(f"MettaGridGymEnv is single-agent but this game has {self._env.num_agents} agents: use "
                             "gymnasium.make_vec (one sub-env per agent), MettaGridVectorEnv, or "
                             "mettagrid.parallel_env")
        self.config: GameConfig = self._env.config
        self._init_args: dict[str, Any] = {"config": self.config, "render_mode": render_mode}
        self.observation_space = spaces.Box(0, 255, self._env.single_observation_space.shape, dtype=np.uint8)
        self.action_space = spaces.Discrete(int(self._env.single_action_space.n))
        self._clock = _adapters.EpisodeClock(self._env)
        self._actions = np.zeros(1, dtype=np.int32)
        self._groups = np.asarray(self._env.grid_objects(0)["agent_group"]).copy()
        self._final_snapshot: dict[str, Any] | None = None
        self._live = False

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (and copies) as its config and render mode: the copy is a fresh env that needs reset()."""
        return _adapters.reduce(self, self._init_args)

    @property
    def native_env(self) -> MettaGridEnv:
        """The native single-game env this adapter drives (for stats and introspection)."""
        return self._env

    def action_names(self) -> list[str]:
        """The meaning of each action index (noop is 0)."""
        return self._env.action_names()

    @_adapters.serialized
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode; `seed` fully determines it. `options` is accepted and unused."""
        seed = _adapters.check_seed(seed, "reset")
        super().reset(seed=seed)
        game_seed = seed if seed is not None else _adapters.draw_seed(self.np_random)
        self._env.reset(game_seed)
        self._clock.restart()
        self._final_snapshot = None
        self._groups = np.asarray(self._env.grid_objects(0)["agent_group"]).copy()
        self._live = True
        if self.render_mode == "human":
            self.render()
        return self._env.observations[0].copy(), {}

    @_adapters.serialized
    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Steps the game with the agent's action; returns (observation, reward, terminated, truncated, info)."""
        if not self._live:
            raise RuntimeError("step called before reset() or after the episode ended: call reset()")
        if isinstance(action, (int, np.integer)) and not isinstance(action, (bool, np.bool_)):
            value = int(action)
        else:
            arr = np.asarray(action)
            if arr.size != 1 or arr.dtype.kind not in "iu":
                raise TypeError(f"action must be one integer, got {action!r}")
            value = int(arr.reshape(()))
        if not 0 <= value < self.action_space.n:
            raise ValueError(f"action {value} is out of range: expected 0 <= action < {self.action_space.n}")
        self._actions[0] = value

        if self._clock.ending().size > 0:  # the ended episode's last state, for render()
            self._final_snapshot = self._env.grid_objects(0)
        _, rewards, terminals, truncations, ended = self._env.step(self._actions)
        self._clock.advance([e["env"] for e in ended])
        info: dict[str, Any] = {}
        if ended:
            info = _adapters.agent_episode_infos(self._env, 0, self._groups)[0]
            self._live = False
        obs = (self._env.final_observations if ended else self._env.observations)[0].copy()  # type: ignore[index]
        if self.render_mode == "human":
            self.render()
        return obs, float(rewards[0]), bool(terminals[0]), bool(truncations[0]), info

    @_adapters.serialized
    def render(self) -> Any:
        """Text ("ansi"), an RGB image ("rgb_array"), or text printed to the terminal ("human", returns None)."""
        if self.render_mode is None:
            raise ValueError("render() needs a render_mode: create the env with render_mode in "
                             f"{self.metadata['render_modes']}")
        snap = self._final_snapshot if self._final_snapshot is not None else self._env.grid_objects(0)
        return _adapters.render_snapshot(self.config, snap, self.render_mode)

    def close(self) -> None:
        """Releases nothing: the native env owns no external resources."""
        self._env.close()


class MettaGridVectorEnv(VectorEnv):
    """`num_envs` games stepped in C++, one gymnasium sub-env per agent (num_envs * num_agents sub-envs)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["ansi", "rgb_array"],
                "render_fps": _adapters.RENDER_FPS}

    def __init__(
        self,
        config: "GameConfig | dict[str, Any] | str | Path" = "arena",
        num_envs: int = 1,
        num_threads: int = 1,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.render_mode = _adapters.check_render_mode(render_mode, self.metadata["render_modes"])
        self._lock = _adapters.new_lock()
        self._env = MettaGridEnv(resolve_config(config, overrides), num_envs=num_envs,
                                 num_threads=num_threads, seed=0, final_observations=True)
        self.config: GameConfig = self._env.config
        self._init_args: dict[str, Any] = {"config": self.config, "num_envs": num_envs, "num_threads": num_threads,
                                           "render_mode": render_mode}
        self.num_games = self._env.num_envs
        self.agents_per_game = self._env.agents_per_env
        self.num_envs = self._env.num_agents
        self.single_observation_space = spaces.Box(0, 255, self._env.single_observation_space.shape, dtype=np.uint8)
        self.single_action_space = spaces.Discrete(int(self._env.single_action_space.n))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._clock = _adapters.EpisodeClock(self._env)
        self._groups = np.zeros((self.num_games, self.agents_per_game), dtype=np.int64)
        self._a32 = np.zeros(self.num_envs, dtype=np.int32)
        self._live = False

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (and copies) as its constructor arguments: the copy is a fresh vector env that needs reset()."""
        return _adapters.reduce(self, self._init_args)

    @property
    def native_env(self) -> MettaGridEnv:
        """The native env this adapter drives (for stats and introspection)."""
        return self._env

    def action_names(self) -> list[str]:
        """The meaning of each action index (noop is 0)."""
        return self._env.action_names()

    @_adapters.serialized
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts new episodes in every game (game i seeded from (seed, i)); `options` is accepted and unused."""
        if isinstance(seed, (list, tuple, np.ndarray)):
            raise TypeError("reset: pass one integer seed; sub-envs are the agents of shared games, so per-sub-env "
                            "seeds do not apply (game i is seeded from (seed, i))")
        seed = _adapters.check_seed(seed, "reset")
        super().reset(seed=seed)
        game_seed = seed if seed is not None else _adapters.draw_seed(self.np_random)
        self._env.reset(game_seed)
        self._clock.restart()
        for g in range(self.num_games):
            self._groups[g] = self._env.grid_objects(g)["agent_group"]
        self._live = True
        return self._env.observations.copy(), {}

    @_adapters.serialized
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every game with one action per sub-env; finished games restart in the same step."""
        if not self._live:
            raise RuntimeError("step called before reset(): call reset() first")
        obs, rewards, terminals, truncations, ended_infos = self._env.step(self._as_int32(actions))
        ended = [e["env"] for e in ended_infos]
        self._clock.advance(ended)
        infos: dict[str, Any] = {}
        if ended:
            infos = self._final_infos(ended)
            for g in ended:
                self._groups[g] = self._env.grid_objects(g)["agent_group"]
        return obs.copy(), rewards.copy(), terminals.copy(), truncations.copy(), infos

    def _as_int32(self, actions: Any) -> Any:
        """Policies give int64 actions: one range check and a cast into a reused int32 buffer is the cheap way."""
        if (type(actions) is np.ndarray and actions.dtype is _INT64 and actions.shape == self._a32.shape
                and int(actions.view(np.uint64).max()) < self.single_action_space.n):  # negatives wrap to huge
            np.copyto(self._a32, actions, casting="unsafe")
            return self._a32
        return actions  # the native env checks (and explains) everything else

    def _final_infos(self, ended: list[int]) -> dict[str, Any]:
        n, per = self.num_envs, self.agents_per_game
        shape = self.single_observation_space.shape
        mask = np.zeros(n, dtype=bool)
        final_obs = np.full(n, None, dtype=object)
        columns: dict[str, np.ndarray] = {}
        group_names = np.array(list(self.config.groups), dtype=object)

        def put(key: str, rows: slice, values: Any, dtype: Any) -> None:
            if key not in columns:
                columns[key] = np.full(n, None, dtype=object) if dtype is object else np.zeros(n, dtype=dtype)
            columns[key][rows] = values

        finals = self._env.final_observations.reshape(self.num_games, per, -1)  # type: ignore[union-attr]
        for g in ended:
            rows = slice(g * per, (g + 1) * per)
            mask[rows] = True
            game_obs = finals[g]
            for a in range(per):
                final_obs[g * per + a] = game_obs[a].reshape(shape)
            rec = self._env.episode_record(g)
            put("episode_return", rows, rec["returns"], np.float64)
            put("episode_length", rows, int(rec["length"]), np.int64)
            put("episode_seed", rows, np.uint64(rec["seed"]), np.uint64)
            put("group", rows, group_names[self._groups[g]], object)
            for j, name in enumerate(self._env.agent_stat_names):
                put(f"agent/{name}", rows, rec["agent_stats"][:, j], np.float64)
            for name, value in zip(self._env.game_stat_names, rec["game_stats"].tolist()):
                put(f"game/{name}", rows, value, np.float64)
        final_info: dict[str, Any] = {}
        for key, col in columns.items():
            final_info[key] = col
            final_info[f"_{key}"] = mask.copy()
        return {"final_obs": final_obs, "_final_obs": mask.copy(), "final_info": final_info, "_final_info": mask}

    @_adapters.serialized
    def render(self) -> tuple[Any, ...] | None:
        """One picture per game: text ("ansi") or an RGB image ("rgb_array")."""
        if self.render_mode is None:
            raise ValueError("render() needs a render_mode: create the env with render_mode in "
                             f"{self.metadata['render_modes']}")
        return tuple(_adapters.render_snapshot(self.config, self._env.grid_objects(g), self.render_mode)
                     for g in range(self.num_games))

    def close_extras(self, **kwargs: Any) -> None:
        """Releases nothing: the native env owns no external resources."""
        self._env.close()
