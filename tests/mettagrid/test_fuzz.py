"""Property-based fuzzing of configs, maps and action streams: every generated case either raises a clear Python
error when the config or an action is refused, or runs, deterministically, with observations in range.

A bounded number of cases runs in the normal suite (and under the sanitizers, .ci/sanitize); the soak behind the
`slow` marker runs many more: `python -m pytest tests/mettagrid/test_fuzz.py -m slow`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mettagrid import MettaGridEnv
from mettagrid.config import GameConfig

ITEMS = ["ore_red", "ore_blue", "battery_red", "heart", "laser", "armor"]
OBJECT_NAMES = ["wall", "block", "mine_red", "generator_red", "altar", "armory", "lasery"]

@st.composite
def map_builders(draw: Any, agents: int, depth: int = 0) -> dict[str, Any]:
    """A map builder placing `agents` agents (of the first group), with a few objects."""
    kind = draw(st.sampled_from(["random", "maze", "ascii"] + (["room_grid"] if depth < 2 and agents else [])))
    objects = draw(st.dictionaries(st.sampled_from(OBJECT_NAMES), st.integers(0, 4), max_size=4))
    if kind == "random":
        side = st.integers(3, 16)
        return {"type": "random", "width": draw(side), "height": draw(side), "border_width": draw(st.integers(0, 2)),
                "objects": objects, "agents": agents}
    if kind == "maze":
        side = st.integers(3, 19)
        return {"type": "maze", "width": draw(side), "height": draw(side),
                "algorithm": draw(st.sampled_from(["prim", "kruskal"])), "objects": objects, "agents": agents}
    if kind == "ascii":
        width = draw(st.integers(max(agents, 1), 12))
        rows = ["#" * width] + [draw(st.text(alphabet="#..mn_", min_size=width, max_size=width))
                                for _ in range(draw(st.integers(1, 6)))]
        body = list("".join(rows))
        free = [i for i, ch in enumerate(body) if i >= width and ch == "."]
        for i in draw(st.permutations(free))[:agents]:
            body[i] = "@"
        text = "".join(body)
        return {"type": "ascii", "map_data": [text[i:i + width] for i in range(0, len(text), width)]}
    rooms = [(r, c) for r in range(1, 4) for c in range(1, 4) if agents % (r * c) == 0]
    rows, cols = draw(st.sampled_from(rooms))
    return {"type": "room_grid", "rows": rows, "cols": cols, "border_width": draw(st.integers(0, 2)),
            "room": draw(map_builders(agents // (rows * cols), depth + 1))}


# Mutations that make a valid config (usually) invalid: each must be refused with a clear error, never a crash.
MUTATIONS: list[tuple[str, Any]] = [
    ("num_agents", st.integers(-1, 9)), ("max_steps", st.integers(-2, 3)), ("obs_width", st.integers(0, 17)),
    ("num_observation_tokens", st.integers(-1, 3)), ("inventory_item_names", st.lists(st.sampled_from(ITEMS + [""]))),
    ("groups", st.dictionaries(st.sampled_from(["red", "blue"]), st.fixed_dictionaries({"id": st.integers(-1, 2)}))),
    ("agent", st.fixed_dictionaries({"default_resource_limit": st.integers(-1, 300),
                                     "initial_inventory": st.dictionaries(st.sampled_from(ITEMS), st.integers(-2, 300)),
                                     "freeze_duration": st.integers(-2, 12)})),
    ("map_builder", st.fixed_dictionaries({"type": st.sampled_from(["random", "maze", "room_grid", "nope"]),
                                           "width": st.integers(-1, 2000), "height": st.integers(-1, 3),
                                           "agents": st.integers(-1, 3)})),
]


@st.composite
def game_configs(draw: Any) -> dict[str, Any]:
    """A config that is valid most of the time; a quarter of them get one invalid-leaning mutation."""
    agents = draw(st.integers(1, 6))
    cfg: dict[str, Any] = {
        "num_agents": agents,
        "max_steps": draw(st.integers(0, 25)),
        "desync_episodes": draw(st.booleans()),
        "obs_width": draw(st.sampled_from([3, 5, 7, 11, 15])),
        "obs_height": draw(st.sampled_from([3, 5, 7, 11, 15])),
        "num_observation_tokens": draw(st.integers(1, 300)),
        "obs_mode": draw(st.sampled_from(["tokens", "grid"])),
        "map_builder": draw(map_builders(agents)),
    }
    if draw(st.booleans()):
        cfg["agent"] = {"freeze_duration": draw(st.integers(0, 12)),
                        "initial_inventory": draw(st.dictionaries(st.sampled_from(ITEMS), st.integers(0, 50),
                                                                  max_size=2)),
                        "rewards": {"inventory": draw(st.dictionaries(st.sampled_from(ITEMS), st.floats(-2, 2),
                                                                      max_size=2))}}
    if draw(st.booleans()):
        cfg["actions"] = {fam: {"enabled": draw(st.booleans())} for fam in
                          draw(st.lists(st.sampled_from(["attack", "swap", "put_items", "get_items", "change_color",
                                                         "change_glyph"]), max_size=3, unique=True))}
    if draw(st.integers(0, 3)) == 0:
        key, strategy = draw(st.sampled_from(MUTATIONS))
        cfg[key] = draw(strategy)
    return cfg


def _run(cfg: GameConfig, num_envs: int, seed: int, actions: np.ndarray) -> list[np.ndarray]:
    env = MettaGridEnv(cfg, num_envs=num_envs, num_threads=min(num_envs, 2), seed=seed)
    out = [env.reset(seed=seed)[0].copy()]
    for row in actions:
        act = np.resize(row, env.num_agents).astype(np.int64)
        if (act < 0).any() or (act >= env.single_action_space.n).any():
            with pytest.raises(ValueError, match="out of range"):
                env.step(act)
            act = np.abs(act) % env.single_action_space.n
        obs, rewards, terms, truncs, infos = env.step(act)
        assert np.isfinite(rewards).all() and obs.dtype == np.uint8
        for info in infos:
            assert 0 <= info["env"] < num_envs and info["episode_length"] >= 1
        out.append(obs.copy())
        out.append(rewards.copy())
    return out


def _check_case(cfg_dict: dict[str, Any], num_envs: int, seed: int, actions: np.ndarray) -> None:
    try:
        cfg = GameConfig.model_validate(cfg_dict)
    except (pydantic.ValidationError, ValueError):
        return  # refused with a clear error naming the field
    try:
        first = _run(cfg, num_envs, seed, actions)
    except (ValueError, MemoryError) as e:
        assert str(e)  # refused by the core (e.g. more objects than free cells), with a message
        return
    second = _run(cfg, num_envs, seed, actions)  # the same seed and actions give bit-identical results
    assert all((a == b).all() for a, b in zip(first, second))


CASE = given(cfg=game_configs(), num_envs=st.integers(1, 3), seed=st.integers(0, 2**64 - 1),
             actions=st.lists(st.lists(st.integers(-3, 40), min_size=1, max_size=8), min_size=1, max_size=12).map(
                 lambda rows: np.array([np.resize(r, 8) for r in rows])))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@CASE
def test_fuzz_configs_and_actions(cfg: dict[str, Any], num_envs: int, seed: int, actions: np.ndarray) -> None:
    _check_case(cfg, num_envs, seed, actions)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@CASE
def test_fuzz_soak(cfg: dict[str, Any], num_envs: int, seed: int, actions: np.ndarray) -> None:
    _check_case(cfg, num_envs, seed, actions)
