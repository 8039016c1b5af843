"""Gymnasium: the registered ids, the single-agent Env (check_env) and the multi-agent VectorEnv."""

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import mettagrid
from mettagrid import ENV_IDS, MettaGridEnv, MettaGridGymEnv, MettaGridVectorEnv, make_config

SINGLE = [i for i, spec in ENV_IDS.items() if spec.agents == 1]
MULTI = [i for i, spec in ENV_IDS.items() if spec.agents > 1]


def test_ids_registered_and_documented() -> None:
    assert SINGLE and MULTI
    doc = (Path(__file__).resolve().parents[2] / "docs" / "INTERFACES.md").read_text()
    for env_id, spec in ENV_IDS.items():
        assert env_id.startswith("mettagrid/") and env_id in gymnasium.registry
        registered = gymnasium.registry[env_id]
        assert registered.vector_entry_point == "mettagrid.gym_env:MettaGridVectorEnv"
        assert make_config(spec.preset, **spec.options).num_agents == spec.agents
        assert f"`{env_id}`" in doc and env_id in mettagrid.registration.__doc__


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("env_id", SINGLE)
def test_check_env(env_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_env(gymnasium.make(env_id, max_steps=50).unwrapped)
    check_env(gymnasium.make(env_id, render_mode="rgb_array", max_steps=50).unwrapped)


@pytest.mark.filterwarnings("error")
def test_single_agent_episode_types_and_copies() -> None:
    env = gymnasium.make("mettagrid/Navigation-v0", max_steps=20)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs in env.observation_space and info == {}
    native = env.unwrapped.native_env
    total, steps = 0.0, 0
    while True:
        prev = obs
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
        assert not np.shares_memory(obs, native.observations) and obs is not prev
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert steps == 20 and truncated and not terminated
    assert info["episode_length"] == 20 and info["episode_return"] == pytest.approx(total)
    assert info["group"] == "agent" and "agent/action.noop.success" in info
    with pytest.raises(RuntimeError, match="call reset"):
        env.unwrapped.step(0)


def test_single_agent_matches_native_and_final_observation() -> None:
    steps = 5
    env = MettaGridGymEnv("navigation", max_steps=steps)
    native = MettaGridEnv(make_config("navigation", max_steps=steps), num_envs=1, final_observations=True)
    obs, _ = env.reset(seed=4)
    native.reset(4)
    for t in range(steps):
        assert np.array_equal(obs, native.observations[0])
        obs, reward, _, truncated, _ = env.step(t % 7)
        native.step(np.array([t % 7], dtype=np.int32))
        assert reward == float(native.rewards[0]) and truncated == (t == steps - 1)
    assert np.array_equal(obs, native.final_observations[0])  # the ended episode's last observation
    assert obs[0].tolist() == [0xFE, 8, 255]  # episode completion 100%: not the next episode's first


def test_seeded_resets_determine_the_episode() -> None:
    def rollout(seed: int | None, env: gymnasium.Env) -> list[np.ndarray]:
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(30):
            out.append(env.step(t % 5)[0])
        return out

    a, b = MettaGridGymEnv("navigation"), MettaGridGymEnv("navigation")
    assert all(np.array_equal(x, y) for x, y in zip(rollout(9, a), rollout(9, b)))
    assert not all(np.array_equal(x, y) for x, y in zip(rollout(9, a), rollout(10, b)))
    rollout(9, a), rollout(9, b)
    assert all(np.array_equal(x, y) for x, y in zip(rollout(None, a), rollout(None, b)))


def test_make_rejects_multi_agent_ids() -> None:
    for env_id in MULTI:
        with pytest.raises(ValueError, match="make_vec"):
            gymnasium.make(env_id)
    with pytest.raises(ValueError, match="single-agent"):
        MettaGridGymEnv("navigation", num_agents=2)


def test_single_agent_misuse() -> None:
    env = MettaGridGymEnv("navigation")
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(env.action_space.n)
    with pytest.raises(TypeError, match="one integer"):
        env.step(1.0)
    with pytest.raises(ValueError, match="render_mode"):
        env.render()
    with pytest.raises(ValueError, match="render_mode"):
        MettaGridGymEnv("navigation", render_mode="rgb")


def test_single_agent_render_modes(capsys: pytest.CaptureFixture[str]) -> None:
    img = gymnasium.make("mettagrid/NavigationMaze-v0", render_mode="rgb_array")
    img.reset(seed=0)
    assert img.render().shape == (15 * 16, 15 * 16, 3)
    text = gymnasium.make("mettagrid/Navigation-v0", render_mode="ansi", max_steps=3)
    text.reset(seed=0)
    for _ in range(3):
        text.step(0)
    assert text.render().startswith("step 2/3")  # after the end: the ended episode
    human = gymnasium.make("mettagrid/Navigation-v0", render_mode="human")
    human.reset(seed=0)
    human.step(0)
    assert capsys.readouterr().out.count("step ") == 2


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_make_vec_every_id(env_id: str) -> None:
    envs = gymnasium.make_vec(env_id, num_envs=2, max_steps=10)
    agents = ENV_IDS[env_id].agents
    assert isinstance(envs, MettaGridVectorEnv) and isinstance(envs, VectorEnv)
    assert envs.num_envs == 2 * agents and envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    obs, infos = envs.reset(seed=0)
    assert obs in envs.observation_space and infos == {}
    for _ in range(10):
        obs, rewards, terms, truncs, infos = envs.step(envs.action_space.sample())
    assert obs.shape == (2 * agents, *envs.single_observation_space.shape) and rewards.shape == (2 * agents,)
    assert truncs.all() and not terms.any() and infos["_final_info"].all()
    envs.close()


def test_vector_matches_native_with_same_step_autoreset() -> None:
    steps, games = 4, 3
    cfg = make_config("teams", max_steps=steps)
    envs = MettaGridVectorEnv(cfg, num_envs=games)
    native = MettaGridEnv(cfg, num_envs=games, final_observations=True)
    obs, _ = envs.reset(seed=5)
    native.reset(5)
    rng = np.random.default_rng(0)
    returns = np.zeros(envs.num_envs)
    for t in range(2 * steps):
        assert np.array_equal(obs, native.observations)
        actions = rng.integers(0, envs.single_action_space.n, envs.num_envs)
        obs, rewards, terms, truncs, infos = envs.step(actions)
        native.step(actions.astype(np.int32))
        assert np.array_equal(rewards, native.rewards) and np.array_equal(truncs, native.truncations)
        assert not np.shares_memory(obs, envs.native_env.observations)  # copies, as Gymnasium expects
        assert not np.shares_memory(rewards, envs.native_env.rewards)
        assert not np.shares_memory(truncs, envs.native_env.truncations)
        returns += rewards
        if t % steps == steps - 1:
            assert truncs.all() and infos["_final_obs"].all() and infos["_final_info"].all()
            assert all(np.array_equal(infos["final_obs"][i], native.final_observations[i]) for i in range(envs.num_envs))
            assert all(infos["final_obs"][i][0].tolist() == [0xFE, 8, 255] for i in range(envs.num_envs))
            final = infos["final_info"]
            assert final["_episode_return"].all() and (final["episode_length"] == steps).all()
            assert final["episode_return"] == pytest.approx(
                np.concatenate([native.episode_record(g)["returns"] for g in range(games)]))
            assert set(final["group"]) == {"red", "blue"}
            returns[:] = 0
        else:
            assert infos == {} and not truncs.any()


def test_vector_desynced_games_end_separately() -> None:
    cfg = make_config("navigation", max_steps=6)
    cfg.desync_episodes = True
    envs = MettaGridVectorEnv(cfg, num_envs=8)
    native = MettaGridEnv(cfg, num_envs=8, final_observations=True)
    envs.reset(seed=1)
    native.reset(1)
    first_end = np.zeros(8, dtype=int)
    for t in range(1, 13):
        _, _, _, truncs, infos = envs.step(np.zeros(8, dtype=np.int64))
        native.step(np.zeros(8, dtype=np.int32))
        if infos:
            mask = infos["_final_obs"]
            assert np.array_equal(mask, truncs)
            assert all(np.array_equal(infos["final_obs"][i], native.final_observations[i]) for i in np.flatnonzero(mask))
            assert all(infos["final_obs"][i][0].tolist() == [0xFE, 8, 255] for i in np.flatnonzero(mask))
            assert all(infos["final_obs"][i] is None for i in np.flatnonzero(~mask))
        first_end[(first_end == 0) & truncs] = t
    assert first_end.min() >= 1 and len(set(first_end.tolist())) > 1  # random first lengths: not all in step


def test_record_episode_statistics_wrapper() -> None:
    envs = RecordEpisodeStatistics(gymnasium.make_vec("mettagrid/Arena-v0", num_envs=1, max_steps=8))
    envs.reset(seed=0)
    for _ in range(8):
        _, _, _, _, infos = envs.step(envs.action_space.sample())
    assert infos["_episode"].all() and (infos["episode"]["l"] == 8).all()
    assert infos["episode"]["r"] == pytest.approx(infos["final_info"]["episode_return"], abs=1e-5)


def test_vector_misuse_and_render() -> None:
    envs = MettaGridVectorEnv("teams", num_envs=2, render_mode="rgb_array")
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(16, dtype=np.int64))
    with pytest.raises(TypeError, match="one integer seed"):
        envs.reset(seed=[1, 2])
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros(15, dtype=np.int64))
    with pytest.raises(ValueError, match="out of range"):
        envs.step(np.full(16, 99))
    frames = envs.render()
    assert len(frames) == 2 and frames[0].shape == (400, 400, 3)
    assert isinstance(MettaGridVectorEnv("teams", render_mode="ansi").render()[0], str)
