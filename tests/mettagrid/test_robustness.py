"""Bad input gets a clear Python error, never a crash or a runaway allocation: YAML bombs, huge envs, seeds,
episode records before any episode, overflowing nested maps, and the cache of unnamed configs."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import mettagrid.env as env_module
from mettagrid import MettaGridEnv, _core, load_config, make_config
from mettagrid.config import MAX_CONFIG_NODES, load_yaml


def _alias_bomb(levels: int) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghijk"[:levels]:
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def test_yaml_alias_bomb_is_refused_without_expanding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(9))
    assert path.stat().st_size < 500
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"bomb\.yaml: the YAML expands to more than 1,000,000 values"):
        load_config(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # refused before anything is built (the expansion would be gigabytes)
    # The same shape below the limit still loads, with aliases expanded as YAML defines them.
    small = load_yaml(_alias_bomb(2), "small")
    assert len(small["c"]) == 9 and small["c"][0] == small["b"] and 9**3 < MAX_CONFIG_NODES


def test_recursive_and_invalid_yaml_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_steps: [1,\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid YAML"):
        load_config(bad)
    rec = tmp_path / "rec.yaml"
    rec.write_text("a: &a [1, *a]\n")
    with pytest.raises(ValueError, match=r"rec\.yaml: .*(recursive|invalid YAML)"):
        load_config(rec)
    js = tmp_path / "bad.json"
    js.write_text("{")
    with pytest.raises(ValueError, match=r"bad\.json: invalid JSON"):
        load_config(js)


def test_oversized_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mettagrid.config as config_module

    monkeypatch.setattr(config_module, "MAX_CONFIG_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * 200)
    with pytest.raises(ValueError, match=r"big\.yaml: 2,000 bytes, more than the 1,000"):
        load_config(path)


def test_huge_env_raises_memory_error_before_allocating() -> None:
    cfg = make_config("arena")
    cfg.num_observation_tokens = 65536
    tracemalloc.start()
    with pytest.raises(MemoryError, match=r"num_envs=4096 games of this config need about \d+\.\d GiB .*"
                                          r"observations .*METTAGRID_MAX_ENV_BYTES"):
        MettaGridEnv(cfg, num_envs=4096)
    assert tracemalloc.get_traced_memory()[1] < 50 * 1024 * 1024
    tracemalloc.stop()
    need = env_module.env_memory_bytes(cfg, 4096, final_observations=True)
    assert need["observations"] == 2 * 4096 * 24 * 65536 * 3


def test_constructor_seed_is_checked() -> None:
    for bad in (-1, 1 << 64, 1.5, "3", True):
        with pytest.raises(ValueError, match=r"seed = .*expected None or an integer in \[0, 2\*\*64\)"):
            MettaGridEnv("navigation", seed=bad)  # type: ignore[arg-type]
    assert MettaGridEnv("navigation", seed=(1 << 64) - 1).reset()[0].shape == (1, 200, 3)


def test_episode_record_before_any_episode_ended() -> None:
    env = MettaGridEnv(make_config("navigation", max_steps=3), num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="game 1 has not finished an episode yet"):
        env.episode_record(1)
    for _ in range(3):
        env.step(np.zeros(2, dtype=np.int32))
    rec = env.episode_record(1)
    assert rec["length"] == 3 and rec["returns"].shape == (1,)


def test_nested_room_grids_do_not_overflow() -> None:
    """Four levels of 64 x 64 room grids around a 1024 x 1024 room: far beyond int range, refused cleanly."""
    spec = make_config("arena").to_spec()
    grid, leaf = spec.map_nodes[0], spec.map_nodes[1]
    leaf.width = leaf.height = 1024
    chain = []
    for i in range(4):
        node = _core.MapNodeSpec()
        node.kind, node.rows, node.cols, node.spacing, node.border = grid.kind, 64, 64, 0, grid.border
        node.width = node.height = 1024
        node.children = [i + 1]
        node.object_counts, node.agent_counts = grid.object_counts, grid.agent_counts
        chain.append(node)
    spec.map_nodes = [*chain, leaf]
    spec.map_root = 0
    assert _core.map_size(spec) == (1025, 1025)  # saturated just past the largest map
    with pytest.raises(ValueError, match="larger than 1024 x 1024"):
        _core.build_map(spec, 1)


def test_unnamed_configs_are_not_cached_forever() -> None:
    env = MettaGridEnv(make_config("navigation", max_steps=50), num_envs=1)
    for k in range(env_module._MAX_UNNAMED + 20):
        env.set_game_config(0, make_config("navigation", max_steps=60 + k))
    assert env.compile_count == 1 + env_module._MAX_UNNAMED + 20
    assert len(env._compiled) <= env_module._MAX_UNNAMED + 1
    env.reset(seed=0)  # the last queued config (max_steps 60 + 51) is the one played
    assert env.episode_max_steps(0) == 60 + env_module._MAX_UNNAMED + 19
    env.set_game_config(0, make_config("navigation", max_steps=60 + env_module._MAX_UNNAMED + 19))
    assert env.compile_count == 1 + env_module._MAX_UNNAMED + 20  # a recent one is still cached
