"""The PettingZoo ParallelEnv (and AEC through parallel_to_aec): PettingZoo's own tests plus our contract."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test  # noqa: E402

import mettagrid  # noqa: E402
from mettagrid import MettaGridEnv, make_config  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error")  # PettingZoo's tests report most problems as warnings


@pytest.mark.parametrize("preset,max_steps",
                         [("navigation", 30), ("teams", 40), ("arena", 100), ("arena_combat", 1000)])
def test_parallel_api_test(preset: str, max_steps: int) -> None:
    parallel_api_test(mettagrid.parallel_env(preset, seed=0, max_steps=max_steps), num_cycles=1000)


@pytest.mark.parametrize("preset", ["navigation", "teams"])
def test_parallel_seed_test(preset: str) -> None:
    parallel_seed_test(lambda: mettagrid.parallel_env(preset, max_steps=60), num_cycles=100)


@pytest.mark.parametrize("preset,max_steps", [("teams", 25), ("arena", 12)])
def test_aec_api_test(preset: str, max_steps: int) -> None:
    api_test(mettagrid.aec_env(preset, seed=0, max_steps=max_steps), num_cycles=1000)


def test_render_test_every_mode(capsys: pytest.CaptureFixture[str]) -> None:
    def env_fn(render_mode: str | None = None) -> object:
        return mettagrid.aec_env("teams", render_mode=render_mode, max_steps=20)

    render_test(env_fn, custom_tests={
        "ansi": lambda text: text.startswith("step ") and len(text.splitlines()) == 26,
        "rgb_array": lambda img: img.shape == (25 * 16, 25 * 16, 3) and len(np.unique(img.reshape(-1, 3), axis=0)) > 5,
    })
    assert mettagrid.parallel_env("teams").metadata["render_modes"] == ["ansi", "rgb_array", "human"]
    assert "step 0/20" in capsys.readouterr().out  # "human" printed the text picture


def test_metadata_agents_and_spaces() -> None:
    env = mettagrid.parallel_env("teams", seed=0)
    assert env.metadata["name"] == "mettagrid_v0"
    assert env.possible_agents == [f"agent_{i}" for i in range(8)]
    assert env.agents == []  # until reset
    env.reset()
    assert env.agents == env.possible_agents and env.num_agents == 8 and env.max_num_agents == 8
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
        assert env.action_space(agent).n == len(env.action_names())
    assert env.observation_space("agent_0") is not env.observation_space("agent_1")  # seeded separately
    with pytest.raises(KeyError, match="unknown agent 'agent_8'"):
        env.observation_space("agent_8")
    with pytest.raises(KeyError, match="unknown agent"):
        env.action_space("red_0")


def test_reset_reuses_the_game() -> None:
    env = mettagrid.parallel_env("arena", seed=0, max_steps=3)
    native, core = env.native_env, env.native_env._core
    for seed in (1, 2, None):
        env.reset(seed=seed)
        while env.agents:
            env.step({a: 0 for a in env.agents})
    assert env.native_env is native and native._core is core and native.num_envs == 1


def test_matches_the_native_env_and_presents_the_ended_step() -> None:
    """Every step equals the native env; the ending step's observations are the ended episode's last ones."""
    steps = 6
    env = mettagrid.parallel_env("teams", max_steps=steps)
    native = MettaGridEnv(make_config("teams", max_steps=steps), num_envs=1, final_observations=True)
    obs, _ = env.reset(seed=11)
    native_obs, _ = native.reset(11)
    rng = np.random.default_rng(0)
    n = len(env.action_names())
    for t in range(steps):
        assert all(np.array_equal(obs[a], native_obs[i]) for i, a in enumerate(env.possible_agents))
        actions = rng.integers(0, n, 8).astype(np.int32)
        obs, rew, term, trunc, infos = env.step(dict(zip(env.agents, actions.tolist())))
        native_obs, native_rew, native_term, native_trunc, native_infos = native.step(actions)
        assert [rew[a] for a in env.possible_agents] == native_rew.tolist()
        assert [trunc[a] for a in env.possible_agents] == native_trunc.tolist() == [t == steps - 1] * 8
        assert not any(term.values())
        if t == steps - 1:  # the core already holds the next episode; the adapter shows the ended one
            assert all(np.array_equal(obs[a], native.final_observations[i]) for i, a in enumerate(env.possible_agents))
            assert all(obs[a][0].tolist() == [0xFE, 8, 255] for a in env.possible_agents)  # completion 100%
            assert env.agents == [] and len(native_infos) == 1
    record = native.episode_record(0)
    assert [infos[a]["episode_return"] for a in env.possible_agents] == pytest.approx(record["returns"].tolist())
    assert all(infos[a]["episode_length"] == steps for a in env.possible_agents)


def test_returns_in_infos_match_summed_rewards() -> None:
    env = mettagrid.parallel_env("arena", max_steps=300)
    env.reset(seed=3)
    returns = dict.fromkeys(env.agents, 0.0)
    rng = np.random.default_rng(1)
    while env.agents:
        _, rew, _, _, infos = env.step({a: int(x) for a, x in zip(env.agents, rng.integers(0, 14, 24))})
        for a, r in rew.items():
            returns[a] += r
    assert [infos[a]["episode_return"] for a in returns] == pytest.approx(list(returns.values()), abs=1e-4)
    assert sum(returns.values()) > 0  # random agents pick up some ore in 300 steps
    info = infos["agent_0"]
    assert info["episode_length"] == 300 and info["group"] == "agent"
    assert "agent/action.noop.success" in info and "game/steps" in info


def test_observations_are_fresh_copies() -> None:
    env = mettagrid.parallel_env("teams", seed=0)
    obs, _ = env.reset()
    native = env.native_env.observations
    assert not any(np.shares_memory(o, native) for o in obs.values())
    kept = {a: o.copy() for a, o in obs.items()}
    obs2, *_ = env.step({a: 1 for a in env.agents})
    assert all(np.array_equal(obs[a], kept[a]) for a in obs)  # stepping left the earlier arrays alone
    obs2["agent_0"][:] = 7
    assert not np.array_equal(env.native_env.observations[0], obs2["agent_0"])
    assert all(o.dtype == np.uint8 and env.observation_space(a).contains(o) for a, o in obs.items())


def test_seeding() -> None:
    a = mettagrid.parallel_env("arena", seed=7)
    b = mettagrid.parallel_env("arena")
    first_a, _ = a.reset()
    first_b, _ = b.reset(seed=7)
    assert all(np.array_equal(first_a[k], first_b[k]) for k in first_a)  # constructor seed = first reset's seed
    other, _ = b.reset(seed=8)
    assert not all(np.array_equal(first_a[k], other[k]) for k in first_a)
    second_a, _ = a.reset()  # unseeded resets follow from the last seeded one
    b.reset(seed=7)
    second_b, _ = b.reset()
    assert all(np.array_equal(second_a[k], second_b[k]) for k in first_a)
    assert not all(np.array_equal(second_a[k], first_a[k]) for k in first_a)


def test_state() -> None:
    env = mettagrid.parallel_env("teams", seed=0, max_steps=5)
    env.reset()
    state = env.state()
    assert state.shape == env.state_space.shape == (6 + 10, 25, 25) and env.state_space.contains(state)
    assert state[1].sum() == 8  # agent channel
    assert set(np.unique(state[2][state[1] == 1])) == {0, 1}  # both groups present
    walls = state[0] == env.config.objects["wall"].type_id
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all()  # the border
    while env.agents:
        before = env.state()
        env.step({a: 0 for a in env.agents})
    assert np.array_equal(env.state(), before)  # after the end: the ended episode, not the next one


def test_render_after_the_end_shows_the_ended_episode() -> None:
    env = mettagrid.parallel_env("navigation", render_mode="ansi", seed=0, max_steps=4)
    env.reset()
    while env.agents:
        env.step({"agent_0": 0})
    assert env.render().startswith("step 3/4")
    env.reset()
    assert env.render().startswith("step 0/4")
    img = mettagrid.parallel_env("navigation", render_mode="rgb_array", seed=0)
    img.reset()
    assert img.render().shape == (15 * 16, 15 * 16, 3)


def test_misuse_raises_clear_errors() -> None:
    env = mettagrid.parallel_env("teams", seed=0)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})
    env.reset()
    acts = {a: 0 for a in env.agents}
    with pytest.raises(ValueError, match=r"missing: \['agent_3'\]"):
        env.step({a: 0 for a in env.agents if a != "agent_3"})
    with pytest.raises(ValueError, match=r"unknown or dead: \['agent_9'\]"):
        env.step({**acts, "agent_9": 0})
    with pytest.raises(ValueError, match="action 99 for 'agent_2' is out of range"):
        env.step({**acts, "agent_2": 99})
    with pytest.raises(TypeError, match="action for 'agent_1' must be one integer"):
        env.step({**acts, "agent_1": 0.5})
    with pytest.raises(TypeError, match="dict of agent"):
        env.step([0] * 8)
    env.step({**acts, "agent_0": np.array([3]), "agent_1": np.int32(2)})  # one integer in any form is fine
    with pytest.raises(ValueError, match="render_mode"):
        mettagrid.parallel_env("teams", render_mode="video")
    with pytest.raises(ValueError, match="render_mode"):
        env.render()
    with pytest.raises(TypeError, match="seed"):
        env.reset(seed=-1)
    assert mettagrid.parallel_env(make_config("teams"), max_steps=3).config.max_steps == 3  # an override of a field
    with pytest.raises(TypeError, match="preset 'teams': unknown option.*bogus"):
        mettagrid.parallel_env("teams", bogus=1)
    with pytest.raises(ValueError, match="neither a preset"):
        mettagrid.parallel_env("no_such_game")


def test_episode_end_with_a_live_step_after_reset() -> None:
    env = mettagrid.parallel_env("navigation", seed=0, max_steps=2)
    for _ in range(2):
        env.reset()
        _, _, _, trunc, _ = env.step({"agent_0": 0})
        assert trunc == {"agent_0": False} and env.agents == ["agent_0"]
        _, _, _, trunc, _ = env.step({"agent_0": 0})
        assert trunc == {"agent_0": True} and env.agents == []
        with pytest.raises(RuntimeError, match="call reset"):
            env.step({"agent_0": 0})


def test_human_mode_prints(capsys: pytest.CaptureFixture[str]) -> None:
    env = mettagrid.parallel_env("navigation", render_mode="human", seed=0)
    env.reset()
    env.step({"agent_0": 0})
    assert env.render() is None
    assert capsys.readouterr().out.count("step ") == 3


def test_import_stays_light() -> None:
    code = ("import sys, mettagrid, mettagrid.replay, gymnasium; "
            "assert 'mettagrid/Arena-v0' in gymnasium.registry; "
            "print([m for m in ('pettingzoo', 'pufferlib', 'torch', 'PIL') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert mettagrid.parallel_env is mettagrid.pettingzoo_env.parallel_env  # imported on first use
