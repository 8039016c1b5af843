"""The native env: determinism, seeding, zero-copy buffers, memory, and buffer validation."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mettagrid
from mettagrid import MettaGridEnv


def _rollout_digest(env: MettaGridEnv, seed: int, steps: int, action_seed: int = 1) -> str:
    env.reset(seed=seed)
    acts = np.random.default_rng(action_seed).integers(0, env.single_action_space.n, size=(steps, env.num_agents),
                                                       dtype=np.int32)
    h = hashlib.sha256()
    for a in acts:
        obs, rew, term, trunc, infos = env.step(a)
        h.update(obs.tobytes())
        h.update(rew.tobytes())
        h.update(term.tobytes())
        h.update(trunc.tobytes())
        for info in infos:
            h.update(repr(sorted(info.items())).encode())
    return h.hexdigest()


def _short_arena() -> mettagrid.GameConfig:
    cfg = mettagrid.arena_combat(max_steps=60)
    return cfg


def test_same_seed_same_rollout() -> None:
    cfg = _short_arena()
    a = _rollout_digest(MettaGridEnv(cfg, num_envs=2), seed=7, steps=150)
    b = _rollout_digest(MettaGridEnv(cfg, num_envs=2), seed=7, steps=150)
    assert a == b


def test_threads_do_not_change_results() -> None:
    cfg = _short_arena()
    one = _rollout_digest(MettaGridEnv(cfg, num_envs=5, num_threads=1), seed=3, steps=130)
    three = _rollout_digest(MettaGridEnv(cfg, num_envs=5, num_threads=3), seed=3, steps=130)
    assert one == three


def test_same_result_in_another_process(tmp_path: Path) -> None:
    code = (
        "import mettagrid, sys; sys.path.insert(0, %r); from test_env import _rollout_digest, _short_arena; "
        "print(_rollout_digest(mettagrid.MettaGridEnv(_short_arena(), num_envs=2), seed=11, steps=90))"
    ) % str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip()
    assert out == _rollout_digest(MettaGridEnv(_short_arena(), num_envs=2), seed=11, steps=90)


def test_different_seed_different_map() -> None:
    env = MettaGridEnv(_short_arena())
    env.reset(seed=1)
    first = env.grid_objects()
    env.reset(seed=2)
    second = env.grid_objects()
    assert not np.array_equal(first["agent_row"] * 1000 + first["agent_col"],
                              second["agent_row"] * 1000 + second["agent_col"])
    env.reset(seed=1)
    again = env.grid_objects()
    assert np.array_equal(first["object_row"], again["object_row"])
    assert np.array_equal(first["agent_col"], again["agent_col"])


def test_games_in_one_env_get_different_maps_and_new_maps_per_episode() -> None:
    env = MettaGridEnv(mettagrid.navigation(max_steps=5), num_envs=2)
    env.reset(seed=0)
    g0, g1 = env.grid_objects(0), env.grid_objects(1)
    assert not np.array_equal(g0["object_row"] * 100 + g0["object_col"], g1["object_row"] * 100 + g1["object_col"])
    before = env.grid_objects(0)
    ended = []
    for _ in range(5):
        *_, infos = env.step(np.zeros(env.num_agents, dtype=np.int32))
        ended += infos
    assert [i["env"] for i in ended] == [0, 1]
    after = env.grid_objects(0)
    assert not np.array_equal(before["object_row"] * 100 + before["object_col"],
                              after["object_row"] * 100 + after["object_col"])


def test_step_returns_views_of_the_buffers() -> None:
    env = MettaGridEnv("navigation", num_envs=3)
    obs, _ = env.reset(seed=0)
    assert obs is env.observations
    o, r, d, t, _ = env.step(np.zeros(env.num_agents, dtype=np.int32))
    assert o is env.observations and r is env.rewards and d is env.terminals and t is env.truncations


def test_adopts_caller_buffers() -> None:
    cfg = mettagrid.navigation(num_agents=2)
    n = 2 * 2
    big_obs = np.zeros((n + 2, 200, 3), dtype=np.uint8)
    buf = {
        "observations": big_obs[1:n + 1],
        "rewards": np.zeros(n, dtype=np.float32),
        "terminals": np.zeros(n, dtype=bool),
        "truncations": np.zeros(n, dtype=bool),
        "masks": np.zeros(n, dtype=bool),
        "actions": np.zeros(n, dtype=np.int32),
    }
    env = MettaGridEnv(cfg, num_envs=2, buf=buf)
    env.reset(seed=0)
    assert np.shares_memory(env.observations, big_obs)
    assert (big_obs[1:n + 1, 0, 0] == 0xFE).all()  # the first token of every row is a global token
    assert (big_obs[0] == 0).all() and (big_obs[n + 1] == 0).all()  # neighbouring rows untouched
    assert buf["masks"].all()


@pytest.mark.parametrize(
    "key, bad",
    [
        ("observations", np.zeros((2, 200, 3), dtype=np.float32)),
        ("observations", np.zeros((3, 200, 3), dtype=np.uint8)),
        ("rewards", np.zeros(2, dtype=np.float64)),
        ("terminals", np.zeros(5, dtype=bool)),
        ("observations", np.zeros((2, 200, 6), dtype=np.uint8)[:, :, ::2]),
    ],
)
def test_bad_buffers_are_rejected(key: str, bad: np.ndarray) -> None:
    cfg = mettagrid.navigation(num_agents=2)
    buf = {"observations": np.zeros((2, 200, 3), dtype=np.uint8), "rewards": np.zeros(2, dtype=np.float32),
           "terminals": np.zeros(2, dtype=bool), "truncations": np.zeros(2, dtype=bool)}
    buf[key] = bad
    with pytest.raises(ValueError, match=key):
        MettaGridEnv(cfg, buf=buf)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        MettaGridEnv("navigation", num_envs=0)
    with pytest.raises(ValueError, match="num_threads"):
        MettaGridEnv("navigation", num_threads=0)
    with pytest.raises(ValueError, match="preset"):
        MettaGridEnv("no_such_preset")
    with pytest.raises(ValueError, match="render_mode"):
        MettaGridEnv("navigation", render_mode="human")


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_memory_stays_flat_over_many_resets() -> None:
    env = MettaGridEnv(mettagrid.arena(max_steps=3), num_envs=2)
    zeros = np.zeros(env.num_agents, dtype=np.int32)
    for i in range(300):
        env.reset(seed=i)
        env.step(zeros)
    start = _rss_kb()
    for i in range(3000):
        env.reset(seed=i)
        for _ in range(3):  # each third step ends the episode and resets inside step
            env.step(zeros)
    growth = _rss_kb() - start
    assert growth < 2048, f"resident memory grew by {growth} kB over 3000 resets"


def test_infos_carry_episode_stats_only_when_a_game_ends() -> None:
    env = MettaGridEnv(mettagrid.arena(max_steps=4), num_envs=2)
    env.reset(seed=0)
    zeros = np.zeros(env.num_agents, dtype=np.int32)
    for _ in range(3):
        *_, infos = env.step(zeros)
        assert infos == []
    *_, infos = env.step(zeros)
    assert [i["env"] for i in infos] == [0, 1]
    info = infos[0]
    assert info["episode_length"] == 4
    assert info["agent/action.noop.success"] == 4.0
    assert info["game/steps"] == 4.0
    assert "game/tokens_written" in info


def test_render_ansi_shows_the_map() -> None:
    env = MettaGridEnv(mettagrid.navigation(layout="maze", size=11), render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    rows = text.splitlines()[1:]
    assert len(rows) == 11 and all(len(r) == 11 for r in rows)
    assert rows[0] == "#" * 11
    assert sum(r.count("^") for r in rows) == 1  # one agent facing up
    assert sum(r.count("_") for r in rows) == 3  # three altars


def test_final_observations_hold_the_ended_episodes_last_observation() -> None:
    steps = 7
    short = MettaGridEnv(mettagrid.arena_combat(max_steps=steps), num_envs=2, final_observations=True)
    long = MettaGridEnv(mettagrid.arena_combat(max_steps=2 * steps), num_envs=2)
    short.reset(seed=3)
    long.reset(seed=3)
    acts = np.random.default_rng(2).integers(0, short.single_action_space.n, size=(steps, short.num_agents),
                                             dtype=np.int32)
    for a in acts:
        short.step(a)
        long.step(a)
    final, same_state = short.final_observations.copy(), long.observations.copy()
    # The same state, seen with another time limit: only the episode-completion token differs.
    assert (final[:, 0] == [0xFE, 8, 255]).all()
    assert (same_state[:, 0] == [0xFE, 8, round(255 * steps / (2 * steps))]).all()
    assert np.array_equal(final[:, 1:], same_state[:, 1:])
    assert not np.array_equal(final, short.observations)  # those are the next episode's first


def test_final_observations_do_not_change_results() -> None:
    cfg = _short_arena()
    with_final = _rollout_digest(MettaGridEnv(cfg, num_envs=2, final_observations=True), seed=5, steps=130)
    assert with_final == _rollout_digest(MettaGridEnv(cfg, num_envs=2), seed=5, steps=130)


def test_group_returns_use_the_ended_episodes_groups() -> None:
    env = MettaGridEnv(mettagrid.teams(agents_per_team=3, max_steps=40), num_envs=1)
    checked = 0
    for seed in range(6):
        env.reset(seed=seed)
        acts = np.random.default_rng(seed).integers(0, env.single_action_space.n, size=(40, 6), dtype=np.int32)
        for t, a in enumerate(acts):
            if t == 39:
                groups = env.grid_objects()["agent_group"].copy()  # membership in the episode about to end
            *_, infos = env.step(a)
        rec = env.episode_record()
        assert np.array_equal(rec["groups"], groups)
        for gi, name in enumerate(["red", "blue"]):
            assert infos[0][f"group/{name}/episode_return"] == pytest.approx(float(rec["returns"][groups == gi].mean()))
        checked += not np.array_equal(groups, env.grid_objects()["agent_group"])
    assert checked > 0  # membership changed between episodes in some of these seeds
