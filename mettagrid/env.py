"""The native vectorized env: many games stepped in one C++ call, writing into buffers owned by Python."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from mettagrid import _core, spec_builder
from mettagrid._grouped import GroupedVecEnv, game_groups
from mettagrid.config import GameConfig
from mettagrid.curriculum import Curriculum, Task
from mettagrid.presets import PRESETS
from mettagrid.resolve import resolve_config

# PufferLib's vectorization checks isinstance(env, pufferlib.PufferEnv). Importing pufferlib costs seconds
# (it imports torch), so MettaGridEnv implements the contract itself and only becomes a PufferEnv subclass
# when pufferlib is already loaded, i.e. when PufferLib is the caller.
_PUFFER_SUBCLASSES: dict[type, type] = {}


def _with_puffer_base(cls: type) -> type:
    puffer = sys.modules.get("pufferlib")
    base = getattr(puffer, "PufferEnv", None) if puffer is not None else None
    if base is None or issubclass(cls, base):
        return cls
    sub = _PUFFER_SUBCLASSES.get(cls)
    if sub is None:
        sub = type(cls.__name__, (cls, base), {"__module__": cls.__module__, "__doc__": cls.__doc__,
                                                "__qualname__": cls.__qualname__})
        _PUFFER_SUBCLASSES[cls] = sub
    return sub

__all__ = ["GLOBAL_LOCATION", "INVENTORY_FEATURE_BASE", "MAX_ENV_BYTES", "PADDING_LOCATION", "MettaGridEnv",
           "env_memory_bytes", "feature_spec", "resolve_config"]

# The most memory one env's buffers and games may need (observation buffers, maps and per-agent state); a larger
# env fails with MemoryError before anything is allocated. METTAGRID_MAX_ENV_BYTES overrides it.
MAX_ENV_BYTES: int = int(os.environ.get("METTAGRID_MAX_ENV_BYTES", 16 * 1024**3))

# The token format, as the core defines it: the location byte of global tokens and of padding, and the feature id
# of inventory item 0 (item i is INVENTORY_FEATURE_BASE + i; the base features' ids are _core.FEATURE_IDS).
GLOBAL_LOCATION: int = _core.GLOBAL_LOCATION
PADDING_LOCATION: int = _core.PADDING_LOCATION
INVENTORY_FEATURE_BASE: int = _core.FIRST_INVENTORY_FEATURE

# A typical maximum value of each base feature, by its name (policies divide observations by it).
_NORMALIZATION: dict[str, float] = {
    "type_id": 255.0, "agent:group": 10.0, "agent:frozen": 1.0, "agent:orientation": 3.0, "color": 255.0,
    "agent:glyph": 255.0, "converting": 1.0, "swappable": 1.0, "episode_completion_pct": 255.0,
    "last_action": 255.0, "last_reward": 100.0,
}
_INVENTORY_NORMALIZATION = 100.0
_MAX_UNNAMED = 32  # compiled unnamed configs kept for reuse (named tasks are kept for the env's life)


def feature_spec(config: GameConfig) -> dict[str, dict[str, float | int]]:
    """Observation features: name -> {"id": feature id, "normalization": a typical maximum value}."""
    spec: dict[str, dict[str, float | int]] = {
        name: {"id": fid, "normalization": _NORMALIZATION[name]} for name, fid in _core.FEATURE_IDS.items()}
    for i, item in enumerate(config.inventory_item_names):
        spec[f"inv:{item}"] = {"id": INVENTORY_FEATURE_BASE + i, "normalization": _INVENTORY_NORMALIZATION}
    return spec


def env_memory_bytes(config: GameConfig, num_envs: int, final_observations: bool = False) -> dict[str, int]:
    """An upper estimate of the memory an env of `num_envs` games of `config` allocates, by part, in bytes."""
    if config.obs_mode == "grid":
        per_row = (INVENTORY_FEATURE_BASE + len(config.inventory_item_names)) * config.obs_height * config.obs_width
    else:
        per_row = config.num_observation_tokens * 3
    rows = num_envs * config.num_agents
    h, w = config.map_builder.size()
    items = len(config.inventory_item_names)
    return {"observations": rows * per_row * (2 if final_observations else 1),
            "agents": rows * (64 + 16 * items + 8 * (64 + 8 * items)),  # state, inventories and stats per agent
            "maps": num_envs * h * w * 16}


def _check_buffer(name: str, arr: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"buf[{name!r}] must be a numpy array, got {type(arr).__name__}")
    if arr.shape != shape or arr.dtype != np.dtype(dtype):
        raise ValueError(f"buf[{name!r}] has shape {arr.shape} and dtype {arr.dtype}, "
                         f"expected shape {shape} and dtype {np.dtype(dtype)}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ValueError(f"buf[{name!r}] must be C-contiguous and writeable")
    return arr


class MettaGridEnv:
    """`num_envs` games of one config, stepped together in C++ (PufferLib's native PufferEnv contract).

    Rows of every buffer are agents: game i owns rows [i * agents_per_env, (i + 1) * agents_per_env).
    `step` returns views of the buffers (no copies); a finished game is reset inside the same step, so the
    returned observation is the new episode's first while the done flags and rewards belong to the step
    that ended it. `infos` is a list with one dict per finished episode.

    Games may play different configs (curricula): `set_game_config(i, config)` gives game i a config for its
    next episode, and `curriculum=` draws a task for every episode (see `mettagrid.curriculum` for when draws
    happen). Such configs must keep `num_agents`, the actions, the items and the observation shape of `config`
    (with a curriculum and no `config`, its first task); each distinct config is compiled once.

    `group_size=G` plays the games in groups of G that share every episode's seed (the same map, agent order and
    episode boundaries; for GRPO): group g holds the games g, g + K, g + 2K, ... (K = num_envs / G, see
    `game_groups`), a curriculum draws one task per group, and group members start each episode together.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "name": "mettagrid"}

    def __new__(cls, *args: Any, **kwargs: Any) -> "MettaGridEnv":
        return super().__new__(_with_puffer_base(cls))

    def __init__(
        self,
        config: "GameConfig | dict[str, Any] | str | Path | None" = None,
        num_envs: int = 1,
        num_threads: int = 1,
        buf: dict[str, np.ndarray] | None = None,
        seed: int | None = 0,
        render_mode: str | None = None,
        curriculum: Curriculum | None = None,
        final_observations: bool = False,
        group_size: int = 1,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode = {render_mode!r}, expected one of {self.metadata['render_modes']} or None")
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs = {num_envs!r}, expected an integer >= 1")
        if not isinstance(num_threads, (int, np.integer)) or num_threads < 1:
            raise ValueError(f"num_threads = {num_threads!r}, expected an integer >= 1")
        if (isinstance(group_size, (bool, np.bool_)) or not isinstance(group_size, (int, np.integer)) or group_size < 1
                or num_envs % group_size):
            raise ValueError(f"group_size = {group_size!r}, expected an integer >= 1 that divides "
                             f"num_envs = {num_envs}")
        if curriculum is not None and not isinstance(curriculum, Curriculum):
            raise TypeError(f"curriculum must be a mettagrid.curriculum.Curriculum, got {type(curriculum).__name__}")
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= seed < 1 << 64):
            raise ValueError(f"seed = {seed!r}, expected None or an integer in [0, 2**64)")
        self.curriculum = curriculum
        base_name = ""
        if config is None:
            config = "arena"
            if curriculum is not None:
                tasks = curriculum.tasks()
                base_name, config = next(iter(tasks.items())) if tasks else curriculum.sample(np.random.default_rng(0))
        self.config: GameConfig = resolve_config(config)
        need = env_memory_bytes(self.config, int(num_envs), bool(final_observations))
        if sum(need.values()) > MAX_ENV_BYTES:
            parts = ", ".join(f"{k} {v / 1024**3:.2f} GiB" for k, v in need.items())
            raise MemoryError(f"num_envs={num_envs} games of this config need about {sum(need.values()) / 1024**3:.1f}"
                              f" GiB ({parts}), more than the limit of {MAX_ENV_BYTES / 1024**3:.1f} GiB "
                              "(set METTAGRID_MAX_ENV_BYTES to raise it)")
        # Calls from several Python threads are serialized: this lock covers the Python state (tasks, infos, seeds),
        # and the core takes a lock of its own in every call (it releases the GIL while it steps).
        self._lock = threading.RLock()
        # What a pickled or copied env is rebuilt from (see __reduce__): the resolved config, not the caller's buffers.
        self._init_args: dict[str, Any] = {
            "config": self.config, "num_envs": int(num_envs), "num_threads": int(num_threads), "seed": seed,
            "render_mode": render_mode, "curriculum": curriculum, "final_observations": bool(final_observations),
            "group_size": int(group_size)}
        self.render_mode = render_mode
        self.num_envs = int(num_envs)
        self.agents_per_env = self.config.num_agents
        self.num_agents = self.num_envs * self.agents_per_env
        self._compile_count = 0
        self._compiled: dict[Any, tuple[GameConfig, Any]] = {}
        self._unnamed: list[Any] = []  # cache keys of unnamed configs, oldest first (at most _MAX_UNNAMED kept)
        self._base = Task(base_name, self.config)
        base_spec = self._compile(self._base)
        self._base_spec = base_spec
        self.group_size = int(group_size)
        self._core = (_core.VecEnv(base_spec, self.num_envs, int(num_threads)) if self.group_size == 1 else
                      GroupedVecEnv(base_spec, self.num_envs, int(num_threads), self.group_size))
        # Per game: the task (name, config) and compiled spec of its current episode, and those queued for its
        # next one (None: none queued, the current one continues).
        self._current: list[tuple[Task, Any]] = [(self._base, base_spec)] * self.num_envs
        self._pending: list[tuple[Task, Any] | None] = [None] * self.num_envs
        self._curriculum_rng = np.random.default_rng(0)
        if curriculum is not None:
            for name, cfg in curriculum.tasks().items():  # fail fast on an incompatible task
                self._compile(Task(name, resolve_config(cfg)))
        self._action_names = self.config.action_names()
        self._agent_stat_names = list(self._core.agent_stat_names)
        self._game_stat_names = list(self._core.game_stat_names)

        if self.config.obs_mode == "grid":
            n_feat = INVENTORY_FEATURE_BASE + len(self.config.inventory_item_names)
            obs_shape: tuple[int, ...] = (n_feat, self.config.obs_height, self.config.obs_width)
        else:
            obs_shape = (self.config.num_observation_tokens, 3)
        self.single_observation_space = spaces.Box(0, 255, obs_shape, dtype=np.uint8)
        self.single_action_space = spaces.Discrete(len(self._action_names))
        self.observation_space = spaces.Box(0, 255, (self.num_agents, *obs_shape), dtype=np.uint8)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_agents, len(self._action_names)))
        self.agent_ids = np.arange(self.num_agents)
        self._actions_shape = (self.num_agents,)
        self.infos: list[dict[str, Any]] = []
        self._set_buffers(buf, obs_shape, final_observations)

        self._initial_seed = 0 if seed is None else int(seed)
        self._reset_count = 0
        self._reset_core(self._initial_seed)  # a usable state before the first reset()

    # ------------------------------------------------------------ pickling and copying

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (and copies) as its constructor arguments: the copy is a freshly constructed env.

        The copy has the same config, num_envs, num_threads, seed, render_mode, curriculum (with its state) and
        final_observations, and buffers of its own; it does not continue the original's episodes (the C++ game
        state is not carried): reset(seed=s) on both gives the same episodes.
        """
        return (_rebuild_env, (self._init_args,))

    # ------------------------------------------------------------ buffers

    def _set_buffers(self, buf: dict[str, np.ndarray] | None, obs_shape: tuple[int, ...], final: bool) -> None:
        n = self.num_agents
        if buf is None:
            self.observations = np.zeros((n, *obs_shape), dtype=np.uint8)
            self.rewards = np.zeros(n, dtype=np.float32)
            self.terminals = np.zeros(n, dtype=bool)
            self.truncations = np.zeros(n, dtype=bool)
            self.masks = np.ones(n, dtype=bool)
            self.actions = np.zeros(n, dtype=np.int32)
            self.teacher_actions = np.zeros(n, dtype=np.int32)
        else:
            if not isinstance(buf, dict):
                raise TypeError(f"buf must be a dict of numpy arrays, got {type(buf).__name__}")
            for key in ("observations", "rewards", "terminals", "truncations"):
                if key not in buf:
                    raise ValueError(f"buf is missing {key!r}")
            self.observations = _check_buffer("observations", buf["observations"], (n, *obs_shape), np.uint8)
            self.rewards = _check_buffer("rewards", buf["rewards"], (n,), np.float32)
            self.terminals = _check_buffer("terminals", buf["terminals"], (n,), np.bool_)
            self.truncations = _check_buffer("truncations", buf["truncations"], (n,), np.bool_)
            self.masks = buf["masks"] if "masks" in buf else np.ones(n, dtype=bool)
            self.actions = buf["actions"] if "actions" in buf else np.zeros(n, dtype=np.int32)
            self.teacher_actions = buf["teacher_actions"] if "teacher_actions" in buf else np.zeros(n, dtype=np.int32)
        self.masks[:] = True
        # With final_observations=True the rows of games whose episode ended in the last step hold that episode's
        # last observations (the auto-reset has already put the next episode's first into `observations`).
        self.final_observations: np.ndarray | None = None
        if final:
            given = buf.get("final_observations") if buf is not None else None
            self.final_observations = (np.zeros((n, *obs_shape), dtype=np.uint8) if given is None else
                                       _check_buffer("final_observations", given, (n, *obs_shape), np.uint8))
        self._core.set_buffers(self.observations.reshape(-1), self.rewards, self.terminals, self.truncations,
                               None if self.final_observations is None else self.final_observations.reshape(-1))

    # ------------------------------------------------------------ the PufferEnv contract

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Starts new episodes in every game; game i is seeded from (seed, i). Returns (observations, infos)."""
        with self._lock:
            if seed is None:
                seed = self._initial_seed if self._reset_count == 0 else _mix(self._initial_seed, self._reset_count)
            self._reset_count += 1
            self._reset_core(int(seed) & 0xFFFFFFFFFFFFFFFF)
            self.infos = []
            return self.observations, []

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Steps every game with one action per agent row; returns views of the env's buffers and infos."""
        if (type(actions) is not np.ndarray or actions.dtype != np.int32 or actions.shape != self._actions_shape
                or not actions.flags.c_contiguous):
            actions = self._check_actions(actions)
        with self._lock:
            ended = self._core.step(actions)
            if ended:
                self.infos = [self._episode_info(i) for i in ended]
                if self.curriculum is not None or any(self._pending[i] is not None for i in ended):
                    self._after_episodes(ended, self.infos)
            else:
                self.infos = []
            return self.observations, self.rewards, self.terminals, self.truncations, self.infos

    def _check_actions(self, actions: Any) -> np.ndarray:
        arr = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"actions must be integers, got dtype {arr.dtype}")
        if arr.shape != (self.num_agents,):
            if arr.shape == (self.num_agents, 1):
                arr = arr.reshape(self.num_agents)
            else:
                raise ValueError(f"actions has shape {arr.shape}, expected ({self.num_agents},)")
        if arr.dtype != np.int32 or not arr.flags.c_contiguous:
            if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
                bad = int(np.argmax((arr > np.iinfo(np.int32).max) | (arr < np.iinfo(np.int32).min)))
                raise ValueError(f"action {int(arr[bad])} for agent {bad} is out of range: expected 0 <= action < "
                                 f"{len(self._action_names)}")
            arr = np.ascontiguousarray(arr, dtype=np.int32)
        return arr

    def async_reset(self, seed: int | None = None) -> None:
        """PufferLib's asynchronous reset: reset now, results through recv()."""
        _, self.infos = self.reset(seed)

    def send(self, actions: Any) -> None:
        """PufferLib's asynchronous step: step now, results through recv()."""
        self.step(actions)

    def recv(self) -> tuple[Any, ...]:
        """PufferLib's receive: observations, rewards, terminals, truncations, teacher actions, infos, ids, masks."""
        return (self.observations, self.rewards, self.terminals, self.truncations, self.teacher_actions, self.infos,
                self.agent_ids, self.masks)

    @property
    def emulated(self) -> bool:
        """Native envs are not emulated."""
        return False

    @property
    def done(self) -> bool:
        """Native envs reset finished games themselves."""
        return False

    @property
    def driver_env(self) -> "MettaGridEnv":
        """The env itself (for PufferLib's multiprocessing backend)."""
        return self

    @property
    def agent_per_batch(self) -> int:
        """Agent rows per step."""
        return self.num_agents

    def close(self) -> None:
        """Releases nothing: the env owns no external resources."""

    # ------------------------------------------------------------ per-game configs and curricula

    def set_game_config(self, env_index: int, config: "GameConfig | dict[str, Any] | str | Path | Task",
                        name: str | None = None) -> None:
        """Gives game `env_index` a config for its next episode, whether reset() or an auto-reset starts it.

        The config stays in use after that episode (unless a curriculum draws another). It must keep this env's
        num_agents, actions, items and observation shape; otherwise ValueError names the field. `name` (or a
        Task's name, or a preset's name) is reported as `info["task"]` for its episodes.
        """
        if not isinstance(env_index, (int, np.integer)) or not 0 <= env_index < self.num_envs:
            raise IndexError(f"env_index = {env_index!r} is out of range [0, {self.num_envs})")
        if isinstance(config, Task):
            task = config if name is None else Task(str(name), config.config)
        else:
            if name is None and isinstance(config, str) and config in PRESETS:
                name = config
            task = Task("" if name is None else str(name), resolve_config(config))
        with self._lock:
            self._queue(int(env_index), task)

    def game_config(self, env: int = 0) -> GameConfig:
        """The config of a game's current episode."""
        return self._current[env][0].config

    def game_task(self, env: int = 0) -> str:
        """The task name of a game's current episode ('' when it plays an unnamed config)."""
        return self._current[env][0].name

    @property
    def compile_count(self) -> int:
        """How many configs this env has compiled (each distinct task once)."""
        return self._compile_count

    def _compile(self, task: Task) -> Any:
        """The compiled spec of a task, compiled once per distinct (name, config) and checked against this env."""
        key: Any = task.name if task.name else ("", task.config.model_dump_json())
        hit = self._compiled.get(key)
        if hit is not None and (hit[0] is task.config or hit[0] == task.config):
            return hit[1]
        try:
            compiled = spec_builder.compile_spec(task.config)
        except ValueError as e:
            raise ValueError(f"task {task.name or '(unnamed)'!r}: {e}") from None
        self._compile_count += 1
        base = getattr(self, "_base_spec", None)
        if base is not None:
            try:
                base.check_compatible(compiled)
            except ValueError as e:
                raise ValueError(f"task {task.name or '(unnamed)'!r}: {e}") from None
        self._compiled[key] = (task.config, compiled)
        if not task.name:
            self._unnamed.append(key)
            if len(self._unnamed) > _MAX_UNNAMED:  # games still playing an evicted config keep their own reference
                self._compiled.pop(self._unnamed.pop(0), None)
        return compiled

    def _queue(self, env: int, task: Task) -> None:
        compiled = self._compile(task)
        self._core.set_next_spec(env, compiled)
        self._pending[env] = (task, compiled)

    def _promote(self, env: int) -> None:
        """A game started an episode: its queued task, if any, is now current (the core applied it)."""
        nxt = self._pending[env]
        if nxt is not None:
            self._current[env] = nxt
            self._pending[env] = None

    def _draw(self, env: int, drawn: dict[int, Task]) -> Task:
        """The curriculum's task for a game's next episode: one draw per group of games (`drawn` holds this call's)."""
        group = env % (self.num_envs // self.group_size)
        if group not in drawn:
            drawn[group] = self.curriculum.sample(self._curriculum_rng)
        return drawn[group]

    def _reset_core(self, seed: int) -> None:
        if self.curriculum is not None:
            self._curriculum_rng = np.random.default_rng([seed, 0x6375727269])  # "curri"
            drawn: dict[int, Task] = {}
            for i in range(self.num_envs):
                self._queue(i, self._draw(i, drawn))
        self._core.reset(seed)
        for i in range(self.num_envs):
            self._promote(i)
        if self.curriculum is not None:
            drawn = {}
            for i in range(self.num_envs):
                self._queue(i, self._draw(i, drawn))

    def _after_episodes(self, ended: list[int], infos: list[dict[str, Any]]) -> None:
        drawn: dict[int, Task] = {}
        for i, info in zip(ended, infos):
            self._promote(i)
            if self.curriculum is not None:
                self.curriculum.update(info.get("task", ""), info["episode_return"])
                self._queue(i, self._draw(i, drawn))

    # ------------------------------------------------------------ episode records and stats

    def _episode_info(self, env: int) -> dict[str, Any]:
        ep = self._core.episode(env)
        info: dict[str, Any] = {
            "env": env,
            "episode_return": float(ep["returns"].mean()),
            "episode_length": int(ep["length"]),
            "episode_seed": np.uint64(ep["seed"]),  # 64-bit: np.uint64, never a Python int
        }
        means = ep["agent_stats"].mean(axis=0)
        for name, v in zip(self._agent_stat_names, means):
            info[f"agent/{name}"] = float(v)
        for name, v in zip(ep["game_stat_names"], ep["game_stats"]):
            info[f"game/{name}"] = float(v)
        task, _ = self._current[env]  # the finished episode's task (the next one is not promoted yet)
        if task.name:
            info["task"] = task.name
        returns = ep["returns"]
        cfg = task.config
        if len(cfg.groups) > 1:
            groups = ep["groups"]  # each agent's group in the finished episode
            for gi, gname in enumerate(cfg.groups):
                sel = returns[groups == gi]
                if sel.size:
                    info[f"group/{gname}/episode_return"] = float(sel.mean())
        return info

    def episode_record(self, env: int = 0) -> dict[str, Any]:
        """The last finished episode of a game: length, seed, per-agent returns and stats, game stats."""
        return self._core.episode(env)

    def episode_stats(self, env: int = 0) -> dict[str, Any]:
        """The running stats of a game's current episode, by name."""
        with self._lock:
            live = self._core.live_stats(env)
            names = self._current[env][1].game_stat_names
        return {"agent": {n: live["agent_stats"][:, i] for i, n in enumerate(self._agent_stat_names)},
                "game": {n: float(v) for n, v in zip(names, live["game_stats"])}}

    # ------------------------------------------------------------ introspection

    def action_names(self) -> list[str]:
        """The action list (noop is 0)."""
        return list(self._action_names)

    def feature_spec(self) -> dict[str, dict[str, float | int]]:
        """Observation feature name -> {"id", "normalization"}."""
        return feature_spec(self.config)

    @property
    def item_names(self) -> list[str]:
        """Inventory items in id order."""
        return list(self.config.inventory_item_names)

    @property
    def object_type_names(self) -> list[str]:
        """Object type names in the order of `grid_objects()['object_type']`."""
        return list(self.config.objects)

    @property
    def agent_stat_names(self) -> list[str]:
        """Per-agent stat names."""
        return list(self._agent_stat_names)

    @property
    def game_stat_names(self) -> list[str]:
        """Per-game stat names."""
        return list(self._game_stat_names)

    def grid_objects(self, env: int = 0) -> dict[str, Any]:
        """A snapshot of one game: agent and object positions, orientations, inventories and flags."""
        return self._core.snapshot(env)

    def current_step(self, env: int = 0) -> int:
        """Steps taken in a game's current episode."""
        return int(self._core.current_step(env))

    def episode_seed(self, env: int = 0) -> int:
        """The seed of a game's current episode (games of one group share it; see `group_size`)."""
        return int(self._core.episode_seed(env))

    @property
    def game_groups(self) -> np.ndarray:
        """The group of each game (num_envs,): games that share every episode's seed share it (see `group_size`)."""
        return game_groups(self.num_envs, self.group_size)

    def episode_max_steps(self, env: int = 0) -> int:
        """The step at which a game's current episode ends (max_steps, or the random first length); 0: never."""
        return int(self._core.episode_max_steps(env))

    def render(self, env: int = 0) -> Any:
        """ANSI text (render_mode 'ansi' or None) or an RGB image ('rgb_array') of one game."""
        from mettagrid import render as _render

        with self._lock:
            config, snap = self.game_config(env), self.grid_objects(env)
        if self.render_mode == "rgb_array":
            return _render.render_rgb(config, snap)
        return _render.render_ansi(config, snap)


def _rebuild_env(args: dict[str, Any]) -> MettaGridEnv:
    """Unpickles a MettaGridEnv: a new env built from its constructor arguments."""
    return MettaGridEnv(**args)


def _mix(seed: int, k: int) -> int:
    x = (seed * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return x
