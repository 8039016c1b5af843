"""PufferLib: MettaGridEnv is a native PufferEnv for pufferlib.vector (native, Serial and Multiprocessing).

CI installs pufferlib-core (with --no-deps), so there these tests must run; elsewhere they skip without it."""

import os

import numpy as np
import pytest

if os.environ.get("CI"):
    import pufferlib.vector
else:
    pufferlib = pytest.importorskip("pufferlib")
    import pufferlib.vector

from mettagrid import MettaGridEnv, make_config  # noqa: E402

CONFIG = make_config("arena", max_steps=5)


def _native_rollout(seeds: list[int], games: int, actions: np.ndarray) -> list[np.ndarray]:
    """Observations of one native env per seed, stepped with the matching slices of `actions`."""
    envs = [MettaGridEnv(CONFIG, num_envs=games) for _ in seeds]
    for env, seed in zip(envs, seeds):
        env.reset(seed)
    rows = games * CONFIG.num_agents
    out = [np.concatenate([env.observations for env in envs])]
    for step_actions in actions:
        for i, env in enumerate(envs):
            env.step(step_actions[i * rows:(i + 1) * rows])
        out.append(np.concatenate([env.observations for env in envs]))
    return out


def test_is_a_puffer_env_and_native_backend() -> None:
    env = pufferlib.vector.make(MettaGridEnv, backend=pufferlib.vector.PufferEnv,
                                env_kwargs={"config": CONFIG, "num_envs": 3})
    assert isinstance(env, MettaGridEnv) and isinstance(env, pufferlib.PufferEnv)
    assert env.num_agents == 72 and not env.emulated and env.single_action_space.n == len(env.action_names())
    obs, _ = env.reset(seed=0)
    assert obs is env.observations  # views of its own buffers


@pytest.mark.parametrize("backend,num_envs,workers", [("Serial", 2, None), ("Multiprocessing", 2, 2),
                                                       ("Multiprocessing", 2, 1)])
def test_vector_backends_match_native_and_report_episodes(backend: str, num_envs: int, workers: int | None) -> None:
    kwargs = {"num_workers": workers, "overwork": True} if workers else {}
    vecenv = pufferlib.vector.make(MettaGridEnv, backend=getattr(pufferlib.vector, backend), num_envs=num_envs,
                                   env_kwargs={"config": CONFIG, "num_envs": 2}, **kwargs)
    try:
        assert vecenv.num_agents == num_envs * 2 * 24
        actions = np.random.default_rng(0).integers(0, vecenv.single_action_space.n, (7, vecenv.num_agents),
                                                    dtype=np.int32)
        expected = _native_rollout([3 + i for i in range(num_envs)], 2, actions)  # env i is reset with seed + i
        obs, _ = vecenv.reset(seed=3)
        assert np.array_equal(obs, expected[0])
        episodes = []
        for t in range(7):
            obs, rewards, terminals, truncations, infos = vecenv.step(actions[t])
            # The returned arrays are the vecenv's own (for Multiprocessing: shared memory the workers wrote).
            own = vecenv.buf if backend == "Multiprocessing" else vars(vecenv)
            assert np.shares_memory(obs, own["observations"]) and np.shares_memory(rewards, own["rewards"])
            assert np.array_equal(obs, expected[t + 1])
            assert truncations.all() == (t == 4)
            episodes += infos
        assert len(episodes) == num_envs * 2  # every game finished one episode at step 5
        assert all(e["episode_length"] == 5 and "episode_return" in e and "agent/action.noop.success" in e
                   for e in episodes)
    finally:
        vecenv.close()


def test_multiprocessing_writes_into_shared_memory_without_copies() -> None:
    vecenv = pufferlib.vector.make(MettaGridEnv, backend=pufferlib.vector.Multiprocessing, num_envs=2,
                                   num_workers=2, overwork=True, env_kwargs={"config": CONFIG, "num_envs": 1})
    try:
        obs, _ = vecenv.reset(seed=0)
        shared = vecenv.buf["observations"]
        assert np.shares_memory(obs, shared)
        assert np.frombuffer(vecenv.shm["observations"], dtype=np.uint8).ctypes.data == shared.ctypes.data
        first = obs.copy()
        obs2, *_ = vecenv.step(np.ones(vecenv.num_agents, dtype=np.int32))
        assert np.shares_memory(obs2, shared) and not np.array_equal(obs2, first)  # the workers wrote in place
    finally:
        vecenv.close()
