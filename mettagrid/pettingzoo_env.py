"""PettingZoo interface: one game as a `ParallelEnv` (and as an `AECEnv` through `parallel_to_aec`).

    import mettagrid
    env = mettagrid.parallel_env("arena", seed=0)
    observations, infos = env.reset()
    while env.agents:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

Agents are named ``agent_0`` ... ``agent_{n-1}`` (row i of the native env). An episode ends for every agent at
once (its time limit): that step reports each agent's termination or truncation, its reward and, in its info,
its episode stats (`episode_return`, `episode_length`, `episode_seed`, `group`, `agent/<stat>`, `game/<stat>`);
then `agents` is empty until `reset`. Observations are fresh arrays, never views of the env's buffers.

Final observations: the core starts the next episode inside the step that ends one (same-step auto-reset), so
the observation after the last step no longer exists. The observations returned on that step are the last ones
of the ended episode that the core produced (the ones the agents acted on), never the next episode's; `render`
and `state` likewise keep showing the ended episode until `reset`.

Seeding: `reset(seed=s)` fully determines the episode (map, agent order shuffle, everything) and seeds the
generator that draws the seeds of later unseeded resets. An unseeded first reset uses the constructor's `seed`
(random when that is None as well).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

try:
    from pettingzoo import AECEnv, ParallelEnv
    from pettingzoo.utils.conversions import parallel_to_aec
except ImportError as e:  # an optional extra
    raise ImportError("mettagrid's PettingZoo interface needs pettingzoo: "
                      "pip install 'metta-gridworld[pettingzoo]'") from e

from mettagrid import _adapters
from mettagrid.config import GameConfig
from mettagrid.env import MettaGridEnv
from mettagrid.resolve import resolve_config

__all__ = ["MettaGridParallelEnv", "aec_env", "parallel_env"]

_INT_TYPES = frozenset({int} | {np.dtype(c).type for c in "bBhHiIlLqQ"})


class MettaGridParallelEnv(ParallelEnv):
    """One game as a PettingZoo ParallelEnv; reuses one native single-game env across resets."""

    metadata = {"name": "mettagrid_v0", "render_modes": list(_adapters.ADAPTER_RENDER_MODES),
                "render_fps": _adapters.RENDER_FPS, "is_parallelizable": True}

    def __init__(
        self,
        config: "GameConfig | dict[str, Any] | str | Path" = "arena",
        render_mode: str | None = None,
        seed: int | None = None,
        **overrides: Any,
    ) -> None:
        self.render_mode = _adapters.check_render_mode(render_mode, self.metadata["render_modes"])
        self._lock = _adapters.new_lock()
        self._seed = _adapters.check_seed(seed, "parallel_env")
        self._env = MettaGridEnv(resolve_config(config, overrides), num_envs=1, seed=0,
                                 final_observations=True)
        self.config: GameConfig = self._env.config
        self._init_args: dict[str, Any] = {"config": self.config, "render_mode": render_mode, "seed": self._seed}
        self._clock = _adapters.EpisodeClock(self._env)
        n = self._env.num_agents
        self.possible_agents: list[str] = [f"agent_{i}" for i in range(n)]
        single_obs = self._env.single_observation_space
        self.observation_spaces: dict[str, spaces.Box] = {
            a: spaces.Box(0, 255, single_obs.shape, dtype=np.uint8) for a in self.possible_agents}
        self.action_spaces: dict[str, spaces.Discrete] = {
            a: spaces.Discrete(int(self._env.single_action_space.n)) for a in self.possible_agents}
        snap = self._env.grid_objects(0)
        self.state_space: spaces.Box = _adapters.state_space(self.config, snap["height"], snap["width"])
        self.agents: list[str] = []
        self._live: set[str] = set()
        self._rng: np.random.Generator | None = None
        self._groups = np.asarray(snap["agent_group"]).copy()
        self._final_snapshot: dict[str, Any] | None = None
        self._actions = np.zeros(n, dtype=np.int32)
        self._n_actions = int(self._env.single_action_space.n)

    # ------------------------------------------------------------ spaces

    def observation_space(self, agent: str) -> spaces.Box:
        """The observation space of an agent (the same object on every call)."""
        try:
            return self.observation_spaces[agent]
        except KeyError:
            raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents[0]!r} .. "
                           f"{self.possible_agents[-1]!r}") from None

    def action_space(self, agent: str) -> spaces.Discrete:
        """The action space of an agent (the same object on every call); see `action_names()`."""
        try:
            return self.action_spaces[agent]
        except KeyError:
            raise KeyError(f"unknown agent {agent!r}; agents are {self.possible_agents[0]!r} .. "
                           f"{self.possible_agents[-1]!r}") from None

    def action_names(self) -> list[str]:
        """The meaning of each action index (noop is 0)."""
        return self._env.action_names()

    @property
    def native_env(self) -> MettaGridEnv:
        """The native single-game env this adapter drives (for stats and introspection)."""
        return self._env

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (and copies) as its config, render mode and seed: the copy is a fresh env that needs reset()."""
        return _adapters.reduce(self, self._init_args)

    # ------------------------------------------------------------ the ParallelEnv API

    @_adapters.serialized
    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Starts an episode; `seed` fully determines it. `options` is accepted and unused."""
        seed = _adapters.check_seed(seed, "reset")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset: options = {options!r}, expected a dict or None")
        if seed is None and self._rng is None:
            seed = self._seed
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        else:
            if self._rng is None:
                self._rng = np.random.default_rng()
            seed = _adapters.draw_seed(self._rng)
        self._env.reset(seed)
        self._clock.restart()
        self._final_snapshot = None
        snap = self._env.grid_objects(0)
        self._groups = np.asarray(snap["agent_group"]).copy()
        self.agents = list(self.possible_agents)
        self._live = set(self.agents)
        obs = self._env.observations.copy()
        group_names = list(self.config.groups)
        infos = {a: {"group": group_names[int(g)]} for a, g in zip(self.agents, self._groups)}
        if self.render_mode == "human":
            self.render()
        return dict(zip(self.agents, obs)), infos

    @_adapters.serialized
    def step(self, actions: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool],
                                                     dict[str, bool], dict[str, dict[str, Any]]]:
        """Steps every live agent with its action; returns dicts of observations, rewards, dones and infos."""
        if not self.agents:
            raise RuntimeError("step called with no live agents: call reset() first (the episode has ended or "
                               "never started)")
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict of agent -> action, got {type(actions).__name__}")
        if actions.keys() != self._live:
            unknown = sorted(set(actions) - self._live, key=str)
            missing = sorted(self._live - set(actions), key=str)
            raise ValueError(f"actions must name every live agent once; unknown or dead: {unknown}, "
                             f"missing: {missing}")
        self._actions[:] = self._action_array([actions[a] for a in self.agents])

        if self._clock.ending().size > 0:  # the ended episode's last state, for render() and state()
            self._final_snapshot = self._env.grid_objects(0)
        _, rewards, terminals, truncations, ended = self._env.step(self._actions)
        self._clock.advance([info["env"] for info in ended])
        obs = (self._env.final_observations if ended else self._env.observations).copy()  # type: ignore[union-attr]
        agents = self.agents
        rew = dict(zip(agents, rewards.tolist()))
        if ended:
            term = dict(zip(agents, terminals.tolist()))
            trunc = dict(zip(agents, truncations.tolist()))
            infos = dict(zip(agents, _adapters.agent_episode_infos(self._env, 0, self._groups)))
            self.agents = []
            self._live = set()
        else:  # episodes end for all agents at once, so nobody is done on any other step
            term = dict.fromkeys(agents, False)
            trunc = dict.fromkeys(agents, False)
            infos = {a: {} for a in agents}
        if self.render_mode == "human":
            self.render()
        return dict(zip(agents, obs)), rew, term, trunc, infos

    def _action_array(self, values: list[Any]) -> Any:
        n = self._n_actions
        if all(type(v) in _INT_TYPES for v in values) and 0 <= min(values) and max(values) < n:
            return values  # the common case, checked without NumPy's per-call overhead
        for agent, action in zip(self.agents, values):  # anything else: accept one integer each, or say who erred
            a = np.asarray(action)
            if a.size != 1 or a.dtype.kind not in "iu":
                raise TypeError(f"action for {agent!r} must be one integer, got {action!r}")
            if not 0 <= int(a.reshape(())) < n:
                raise ValueError(f"action {int(a.reshape(()))} for {agent!r} is out of range: expected "
                                 f"0 <= action < {n}")
        return [int(np.asarray(v).reshape(())) for v in values]

    @_adapters.serialized
    def state(self) -> np.ndarray:
        """The whole map as uint8 channels x height x width (see `state_space`; channels in the docs)."""
        return _adapters.global_state(self.config, self._snapshot())

    @_adapters.serialized
    def render(self) -> Any:
        """Text ("ansi"), an RGB image ("rgb_array"), or text printed to the terminal ("human", returns None)."""
        if self.render_mode is None:
            raise ValueError("render() needs a render_mode: create the env with render_mode in "
                             f"{self.metadata['render_modes']}")
        return _adapters.render_snapshot(self.config, self._snapshot(), self.render_mode)

    def close(self) -> None:
        """Releases nothing: the native env owns no external resources."""
        self._env.close()

    def _snapshot(self) -> dict[str, Any]:
        return self._final_snapshot if self._final_snapshot is not None else self._env.grid_objects(0)

    def __str__(self) -> str:
        return self.metadata["name"]


def parallel_env(
    config: "GameConfig | dict[str, Any] | str | Path" = "arena",
    render_mode: str | None = None,
    seed: int | None = None,
    **overrides: Any,
) -> MettaGridParallelEnv:
    """A game (a GameConfig, a dict, a preset name or a YAML/JSON path) as a PettingZoo ParallelEnv.

    Keyword overrides go to a preset's function or set GameConfig fields (mettagrid.resolve), e.g. max_steps=100.
    """
    return MettaGridParallelEnv(config, render_mode=render_mode, seed=seed, **overrides)


def aec_env(
    config: "GameConfig | dict[str, Any] | str | Path" = "arena",
    render_mode: str | None = None,
    seed: int | None = None,
    **overrides: Any,
) -> AECEnv:
    """The same game as a PettingZoo AECEnv (agents act in turn; the game steps when the last has acted)."""
    return parallel_to_aec(parallel_env(config, render_mode=render_mode, seed=seed, **overrides))
