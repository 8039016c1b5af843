"""Agent-steps per second of the reference MettaGrid (Metta AI's `mettagrid` on PyPI), for comparison.

Run it with the Python of a SEPARATE virtual environment that has the reference installed (it has the same
import name as this repository's package, so it must never go into the project's venv):

    python3 -m venv ../ref-venv && ../ref-venv/bin/pip install mettagrid
    ../ref-venv/bin/python benchmarks/reference_mettagrid.py --game arena --num-envs 8 --seconds 2

`benchmarks/env_sps.py --reference` runs it for every row of its per-core table. The last line of stdout is
one JSON object with the results.

What is timed (the lowest-overhead stepping path the reference offers, written against mettagrid 0.26.x):
the C++ `mettagrid.mettagrid_c.MettaGrid` object itself. Its Python wrappers (`Simulation`, and
`PufferMettaGridEnv` on top of it, which also needs pufferlib) add per-step Python work on top of
`MettaGrid.step()`, so they are left out. `num_envs` games each get their own `MettaGrid`, bound with
`set_buffers` to row slices of one shared set of buffers (the layout of a PufferLib native vector env);
per step the actions row is copied into the shared action buffer and the games are stepped one after
another in a Python loop (the reference has no native multi-game stepping). When the episode reaches
max_steps, every game is rebuilt as the reference's own envs do (a new map from its map builder and a new
`MettaGrid`); that reset cost is inside the timing, as ours is (our env resets finished games inside step).

The games, the closest equivalents of this repository's presets that the reference's config API allows:

arena: 24 agents; a 53 x 53 map of four 25 x 25 rooms (2 x 2, one-cell walls between and around them),
    each room filled by the reference's RandomMapBuilder with 6 agents, 10 mine_red, 5 generator_red,
    5 altar, 20 block and 20 wall; 11 x 11 observation window, 200 tokens of 3 bytes; max_steps 1000.
    The reference has no converter objects any more; mines, generators and altars are GridObjects whose
    on-use handler does the conversion instantly (mine: +1 ore_red; generator: 1 ore_red -> 1
    battery_red; altar: 3 battery_red -> 1 heart), with no cooldowns. Rewards: heart 1, ore_red 0.01
    (capped at 0.1), battery_red 0.1 (capped at 0.5); inventory limit 50 (heart 255). Blocks are plain
    walls (the reference has no swap action).
navigation: 1 agent in a 15 x 15 room with a wall border, 3 altars (on use: +1 heart, the reward) and
    7 walls; 11 x 11 window, 200 tokens; max_steps 200.

Actions: the reference's action set is noop + move_north/south/west/east (moving into an object uses
it), 5 actions; change_vibe and attack are disabled. Ours has 14 (arena) and 8 (navigation) actions, most
of which are cheap rotations/colour changes, so under uniform random actions the reference moves more often.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("METTAGRID_LOG_LEVEL", "WARNING")

import numpy as np  # noqa: E402


def _fail(msg: str) -> None:
    print(json.dumps({"impl": "reference", "error": msg}))
    sys.exit(2)


try:
    import mettagrid
    import mettagrid.config.mettagrid_c_config as cc
    from mettagrid.config.filter import actorHas
    from mettagrid.config.handler_config import Handler
    from mettagrid.config.mettagrid_config import (
        ActionsConfig,
        AgentConfig,
        ChangeVibeActionConfig,
        GameConfig,
        GridObjectConfig,
        InventoryConfig,
        MoveActionConfig,
        NoopActionConfig,
        ObsConfig,
        ResourceLimitsConfig,
        WallConfig,
    )
    from mettagrid.config.mutation import updateActor
    from mettagrid.config.reward_config import inventoryReward
    from mettagrid.map_builder.random_map import RandomMapBuilder
    from mettagrid.mettagrid_c import MettaGrid
except ImportError as e:  # not the reference package, or an incompatible version of it
    where = getattr(sys.modules.get("mettagrid"), "__file__", None)
    _fail(f"cannot import the reference MettaGrid API ({e}); imported mettagrid from {where}. Run this script with "
          f"the Python of a venv that has `pip install mettagrid` (0.26.x), not the project's venv.")

try:
    from importlib.metadata import version as _dist_version

    REF_VERSION = _dist_version("mettagrid")
except Exception:  # pragma: no cover
    REF_VERSION = "unknown"


def _converter(name: str, needs: dict[str, int], deltas: dict[str, int]) -> GridObjectConfig:
    filters = [actorHas(needs)] if needs else []
    return GridObjectConfig(name=name, on_use_handler=Handler(filters=filters, mutations=[updateActor(deltas)]))


def _agent(rewards: dict) -> AgentConfig:
    return AgentConfig(
        inventory=InventoryConfig(default_limit=50,
                                  limits={"heart": ResourceLimitsConfig(base=255, resources=["heart"])}),
        rewards=rewards,
    )


def _actions() -> ActionsConfig:
    return ActionsConfig(noop=NoopActionConfig(), move=MoveActionConfig(),
                         change_vibe=ChangeVibeActionConfig(enabled=False))


ROOM_OBJECTS = {"mine_red": 10, "generator_red": 5, "altar": 5, "block": 20, "wall": 20}


def arena_game() -> GameConfig:
    objects = {
        "wall": WallConfig(name="wall"),
        "block": WallConfig(name="block"),
        "mine_red": _converter("mine_red", {}, {"ore_red": 1}),
        "generator_red": _converter("generator_red", {"ore_red": 1}, {"ore_red": -1, "battery_red": 1}),
        "altar": _converter("altar", {"battery_red": 3}, {"battery_red": -3, "heart": 1}),
    }
    rewards = {
        "heart": inventoryReward("heart"),
        "ore_red": inventoryReward("ore_red", weight=0.01, max=0.1),
        "battery_red": inventoryReward("battery_red", weight=0.1, max=0.5),
    }
    return GameConfig(
        num_agents=24, max_steps=1000, episode_truncates=True,
        obs=ObsConfig(width=11, height=11, num_tokens=200),
        actions=_actions(), objects=objects, agent=_agent(rewards),
        # Not used to build maps here (arena_map does, room by room); it only has to be a valid builder.
        map_builder=RandomMapBuilder.Config(width=53, height=53, agents=24, border_width=1),
    )


def arena_map(seed: int) -> list[list[str]]:
    """2 x 2 rooms of 25 x 25 (each from the reference's RandomMapBuilder) inside one-cell walls: 53 x 53."""
    room, wall = 25, 1
    size = 2 * room + 3 * wall
    grid = np.full((size, size), "wall", dtype="<U50")
    for r in range(2):
        for c in range(2):
            cfg = RandomMapBuilder.Config(width=room, height=room, border_width=0, objects=dict(ROOM_OBJECTS),
                                          agents=6, seed=seed * 4 + r * 2 + c)
            y, x = wall + r * (room + wall), wall + c * (room + wall)
            grid[y:y + room, x:x + room] = cfg.create().build().grid
    return grid.tolist()


def navigation_game() -> GameConfig:
    objects = {"wall": WallConfig(name="wall"), "altar": _converter("altar", {}, {"heart": 1})}
    return GameConfig(
        num_agents=1, max_steps=200, episode_truncates=True,
        obs=ObsConfig(width=11, height=11, num_tokens=200),
        actions=_actions(), objects=objects, agent=_agent({"heart": inventoryReward("heart")}),
        map_builder=RandomMapBuilder.Config(width=15, height=15, border_width=1, objects={"altar": 3, "wall": 7},
                                            agents=1),
    )


def navigation_map(seed: int) -> list[list[str]]:
    cfg = RandomMapBuilder.Config(width=15, height=15, border_width=1, objects={"altar": 3, "wall": 7}, agents=1,
                                  seed=seed)
    return cfg.create().build().grid.tolist()


GAMES = {"arena": (arena_game, arena_map), "navigation": (navigation_game, navigation_map)}


class RefVecEnv:
    """num_envs reference games bound to row slices of shared buffers, stepped one after another."""

    def __init__(self, game: str, num_envs: int, seed: int = 0) -> None:
        make_game, self._make_map = GAMES[game]
        self.game = make_game()
        self.c_cfg, self._renames = cc.convert_to_cpp_game_config(self.game)
        self.num_envs = num_envs
        self.agents_per_env = self.game.num_agents
        self.num_agents = num_envs * self.agents_per_env
        self.max_steps = self.game.max_steps
        self.num_actions = len(self.game.actions.actions())
        n, obs = self.num_agents, self.game.obs
        self.observations = np.zeros((n, obs.num_tokens, obs.token_dim), dtype=np.uint8)
        self.terminals = np.zeros(n, dtype=bool)
        self.truncations = np.zeros(n, dtype=bool)
        self.rewards = np.zeros(n, dtype=np.float32)
        self.actions = np.zeros(n, dtype=np.int32)
        self.vibe_actions = np.zeros(n, dtype=np.int32)
        self._seed = seed
        self._episode = 0
        self.reset_seconds = 0.0
        self.resets = 0
        self.sims: list = []
        self.reset()

    def reset(self) -> None:
        t0 = time.perf_counter()
        sims = []
        a = self.agents_per_env
        for i in range(self.num_envs):
            seed = (self._seed * 1_000_003 + self._episode * self.num_envs + i) & 0x7FFFFFFF
            grid = self._make_map(seed)
            if self._renames:
                grid = cc.rename_map_agents(grid, self._renames)
            sim = MettaGrid(self.c_cfg, grid, seed)
            rows = slice(i * a, (i + 1) * a)
            sim.set_buffers(self.observations[rows], self.terminals[rows], self.truncations[rows],
                            self.rewards[rows], self.actions[rows], self.vibe_actions[rows])
            sims.append(sim)
        self.sims = sims
        self._episode += 1
        self._t = 0
        self.reset_seconds += time.perf_counter() - t0
        self.resets += 1

    def step(self, actions: np.ndarray) -> None:
        self.actions[:] = actions
        for sim in self.sims:
            sim.step()
        self._t += 1
        if self._t >= self.max_steps:  # every game ends together (no early termination in these games)
            self.reset()


def run(game: str, num_envs: int, seconds: float, repeats: int, warmup: float, seed: int = 0) -> dict:
    env = RefVecEnv(game, num_envs, seed)
    rng = np.random.default_rng(seed)
    k = 256
    action_rows = list(rng.integers(0, env.num_actions, size=(k, env.num_agents), dtype=np.int32))

    # warmup, and a chunk size of about 10 ms between clock reads
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < warmup or steps < 10:
        env.step(action_rows[steps % k])
        steps += 1
    chunk = max(1, int(0.01 * steps / max(time.perf_counter() - t0, 1e-9)))

    samples, i = [], 0
    for _ in range(repeats):
        env.reset_seconds, env.resets = 0.0, 0
        n, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            for _ in range(chunk):
                env.step(action_rows[i])
                i = (i + 1) % k
            n += chunk
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        cpu = time.process_time() - cpu_start
        samples.append({"agent_sps": n * env.num_agents / elapsed,
                        "agent_sps_cpu": n * env.num_agents / max(cpu, 1e-9), "steps": n, "seconds": elapsed,
                        "cpu_seconds": cpu,
                        "reset_seconds": env.reset_seconds, "resets": env.resets})
    sps = [s["agent_sps"] for s in samples]
    return {
        "impl": "reference",
        "reference_version": REF_VERSION,
        "reference_module": mettagrid.__file__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "game": game,
        "num_envs": num_envs,
        "num_threads": 1,
        "agents_per_env": env.agents_per_env,
        "num_agents": env.num_agents,
        "num_actions": env.num_actions,
        "agent_sps_best": max(sps),
        "agent_sps_median": statistics.median(sps),
        "agent_sps_cpu_best": max(s["agent_sps_cpu"] for s in samples),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--game", choices=sorted(GAMES), default="arena")
    p.add_argument("--num-envs", type=int, default=1)
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=float, default=0.5, help="warmup seconds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        result = run(args.game, args.num_envs, args.seconds, args.repeats, args.warmup, args.seed)
    except Exception as e:  # report, as JSON, why the reference could not run
        _fail(f"{type(e).__name__}: {e}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
