"""Other people's tools on our envs with no glue: Gymnasium's own vector envs and wrappers, SuperSuit, pickling,
copying and spawned processes; and info values that every batcher can store."""

from __future__ import annotations

import copy
import functools
import multiprocessing
import pickle
from typing import Any

import gymnasium
import numpy as np
import pytest
import supersuit
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import mettagrid
import mettagrid.curriculum
from mettagrid import MettaGridEnv, MettaGridGymEnv, MettaGridVectorEnv

NAV = "mettagrid/Navigation-v0"
# Reset seeds whose episodes' seeds include values >= 2**63 (the ones a Python int batcher cannot store).
RESET_SEEDS = (1, 2, 7)


def _storable(value: Any) -> bool:
    """True when NumPy stores the value without loss in a fixed dtype (no object arrays, no overflow)."""
    if isinstance(value, (str, np.str_)):
        return True
    if isinstance(value, (bool, np.bool_, float, np.floating, np.integer)):
        return True
    if isinstance(value, int):  # a Python int becomes int64
        return -(1 << 63) <= value < (1 << 63)
    return False


def _rollout(venv: Any, seeds: tuple[int, ...], steps: int) -> list[dict[str, Any]]:
    """Steps a vector env with random actions after each reset seed; returns the infos of steps that ended episodes."""
    ends = []
    for seed in seeds:
        venv.reset(seed=seed)
        venv.action_space.seed(seed)
        for _ in range(steps):
            *_, infos = venv.step(venv.action_space.sample())
            if "episode" in infos:
                ends.append(infos)
    return ends


# ------------------------------------------------------------------------------------------------ info values


def test_episode_seeds_above_2_63_are_uint64_in_every_adapter() -> None:
    env = MettaGridEnv(mettagrid.navigation(max_steps=5), num_envs=8, seed=3)
    env.reset(seed=3)
    a = np.zeros(env.num_agents, dtype=np.int32)
    infos = [i for _ in range(5) for i in env.step(a)[4]]
    seeds = [info["episode_seed"] for info in infos]
    assert len(seeds) == 8 and all(type(s) is np.uint64 for s in seeds)
    assert max(int(s) for s in seeds) >= 1 << 63  # the case that overflowed int64 batching
    assert [int(s) for s in seeds] == [int(env.episode_record(i["env"])["seed"]) for i in infos]
    for info in infos:
        assert all(_storable(v) for v in info.values()), info

    gym_env = gymnasium.make(NAV, max_steps=5)
    pz = mettagrid.parallel_env("teams", max_steps=5, seed=0)
    for seed in range(6):
        gym_env.reset(seed=seed)
        for _ in range(5):
            *_, info = gym_env.step(0)
        assert type(info["episode_seed"]) is np.uint64 and all(_storable(v) for v in info.values())
        pz.reset(seed=seed)
        while pz.agents:
            *_, pz_infos = pz.step(dict.fromkeys(pz.agents, 0))
            for v in pz_infos.values():
                assert all(_storable(x) for x in v.values())
        assert {type(i["episode_seed"]) for i in pz_infos.values()} == {np.uint64}


@pytest.mark.parametrize("mode", ["sync", "async", "vector_entry_point"])
def test_make_vec_with_record_episode_statistics(mode: str) -> None:
    venv = RecordEpisodeStatistics(gymnasium.make_vec(NAV, num_envs=2, vectorization_mode=mode, max_steps=20))
    ends = _rollout(venv, RESET_SEEDS, 65)
    venv.close()  # returns (the async variant used to hang here after a worker error)
    # 3 seeds x 3 ends x 2 envs (the 4th end of each seed is cut off by the next reset)
    assert sum(int(i["_episode"].sum()) for i in ends) == 18
    seeds = [int(s) for i in ends for s, m in zip(i["final_info"]["episode_seed"] if mode == "vector_entry_point"
                                                 else i["episode_seed"], i["_episode"]) if m]
    assert len(seeds) == 18 and max(seeds) >= 1 << 63
    for info in ends:
        assert info["episode"]["l"][info["_episode"]].tolist() == [20] * int(info["_episode"].sum())


def test_make_vec_modes_agree_on_episodes() -> None:
    """Sync and async wrap one MettaGridGymEnv per sub-env; they see the same episodes for the same seeds."""
    returns = {}
    for mode in ("sync", "async"):
        venv = RecordEpisodeStatistics(gymnasium.make_vec(NAV, num_envs=2, vectorization_mode=mode, max_steps=20))
        ends = _rollout(venv, (5,), 60)
        venv.close()
        returns[mode] = [(int(s), float(r)) for i in ends for s, r, m in
                         zip(i["episode_seed"], i["episode"]["r"], i["_episode"]) if m]
    assert len(returns["sync"]) == 4 and returns["sync"] == returns["async"]


@pytest.mark.parametrize("vector_cls", [SyncVectorEnv, AsyncVectorEnv])
def test_gymnasium_vector_envs_over_make(vector_cls: type) -> None:
    """CleanRL's pattern: SyncVectorEnv / AsyncVectorEnv over gymnasium.make, RecordEpisodeStatistics, reset(seed=1)."""
    fns = [functools.partial(gymnasium.make, NAV, max_steps=10) for _ in range(3)]
    venv = RecordEpisodeStatistics(vector_cls(fns))
    ends = _rollout(venv, (1, 1 << 40, 3), 44)
    venv.close()
    assert sum(int(i["_episode"].sum()) for i in ends) == 3 * 4 * 3
    assert all(i["episode_seed"].dtype == np.uint64 for i in ends)


def test_async_vector_env_with_spawn() -> None:
    """A spawned worker has not imported mettagrid: make_vec passes the registered spec, and an id written
    "mettagrid:mettagrid/..." makes Gymnasium import mettagrid (which registers the ids) first."""
    fns = [functools.partial(gymnasium.make, "mettagrid:" + NAV, max_steps=10) for _ in range(2)]
    for venv in (AsyncVectorEnv(fns, context="spawn"),
                 gymnasium.make_vec(NAV, num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"},
                                    max_steps=10)):
        venv = RecordEpisodeStatistics(venv)
        ends = _rollout(venv, (1,), 22)
        venv.close()
        assert sum(int(i["_episode"].sum()) for i in ends) == 4


# ------------------------------------------------------------------------------------------------ pickling, copying


def _same_episode(a: Any, b: Any, steps: int = 30) -> bool:
    """Resets both native envs with one seed, steps both with the same random actions; True if all outputs match."""
    rng = np.random.default_rng(0)
    oa, _ = a.reset(seed=11)
    ob, _ = b.reset(seed=11)
    same = bool((oa == ob).all())
    for _ in range(steps):
        act = rng.integers(0, a.single_action_space.n, a.num_agents, dtype=np.int32)
        ra, rb = a.step(act), b.step(act)
        same &= all(bool((x == y).all()) for x, y in zip(ra[:4], rb[:4]))
    return same


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_native_env_copies_start_fresh(clone: Any) -> None:
    env = MettaGridEnv("teams", num_envs=2, num_threads=2, seed=4, final_observations=True)
    env.reset(seed=9)
    for _ in range(7):
        env.step(np.ones(env.num_agents, dtype=np.int32))
    twin = clone(pickle.dumps(env)) if clone is pickle.loads else clone(env)
    fresh = MettaGridEnv("teams", num_envs=2, num_threads=2, seed=4, final_observations=True)
    # A copy is a freshly constructed env with the same arguments: step 0, own buffers, the original untouched.
    assert twin.current_step(0) == 0 and env.current_step(0) == 7
    assert (twin.observations == fresh.observations).all()
    assert not np.shares_memory(twin.observations, env.observations)
    assert twin.num_envs == 2 and twin.final_observations is not None and twin.config == env.config
    assert _same_episode(twin, env)


def test_native_env_copy_keeps_curriculum_state() -> None:
    cur = mettagrid.curriculum.LearningProgressCurriculum({"a": mettagrid.navigation(size=11, max_steps=5),
                                                            "b": mettagrid.navigation(size=15, max_steps=5)})
    env = MettaGridEnv(curriculum=cur, num_envs=2)
    env.reset(seed=0)
    for _ in range(12):
        env.step(np.zeros(env.num_agents, dtype=np.int32))
    twin = copy.deepcopy(env)
    assert twin.curriculum is not env.curriculum
    assert env.curriculum.counts.sum() == 4  # two episodes of each game were reported
    assert twin.curriculum.counts.tolist() == env.curriculum.counts.tolist()
    assert twin.curriculum.fast.tolist() == env.curriculum.fast.tolist()
    assert twin.curriculum.probabilities() == env.curriculum.probabilities()


def test_native_env_with_puffer_base_pickles() -> None:
    pytest.importorskip("pufferlib")
    import pufferlib

    env = MettaGridEnv("navigation", num_envs=2)
    assert isinstance(env, pufferlib.PufferEnv)
    twin = pickle.loads(pickle.dumps(env))
    assert isinstance(twin, pufferlib.PufferEnv) and _same_episode(twin, env)


def test_gymnasium_env_copies_keep_spec_and_need_reset() -> None:
    env = gymnasium.make(NAV, max_steps=12)
    obs, _ = env.reset(seed=5)
    env.step(1)
    for twin in (copy.deepcopy(env), pickle.loads(pickle.dumps(env))):
        assert twin.spec is not None and twin.spec.id == NAV and twin.unwrapped.spec.id == NAV
        with pytest.raises(RuntimeError, match="reset"):
            twin.unwrapped.step(0)  # a fresh env: the episode is not carried over
        tobs, _ = twin.reset(seed=5)
        assert (tobs == obs).all() and isinstance(twin.unwrapped, MettaGridGymEnv)
        assert twin.unwrapped.config.max_steps == 12


def test_gymnasium_vector_env_pickles() -> None:
    venv = gymnasium.make_vec("mettagrid/Teams-v0", num_envs=2, max_steps=9)
    obs, _ = venv.reset(seed=3)
    twin = pickle.loads(pickle.dumps(venv))
    assert isinstance(twin, MettaGridVectorEnv) and twin.num_envs == 16 and twin.spec.id == "mettagrid/Teams-v0"
    tobs, _ = twin.reset(seed=3)
    assert (tobs == obs).all()
    acts = np.arange(16) % 5
    assert all((a == b).all() for a, b in zip(venv.step(acts)[:4], twin.step(acts)[:4]))


def test_pettingzoo_env_copies() -> None:
    env = mettagrid.parallel_env("teams", max_steps=20, seed=8)
    first, _ = env.reset()
    env.step(dict.fromkeys(env.agents, 1))
    twin = copy.deepcopy(env)
    assert twin.agents == []  # fresh: reset() first
    tfirst, _ = twin.reset()  # the constructor's seed is kept
    assert all((first[a] == tfirst[a]).all() for a in env.possible_agents)
    assert pickle.loads(pickle.dumps(mettagrid.aec_env("teams", max_steps=5))).possible_agents == env.possible_agents


@pytest.mark.parametrize("num_cpus", [0, 2])
def test_supersuit_concat_vec_envs(num_cpus: int) -> None:
    """CleanRL's PettingZoo recipe: pettingzoo_env_to_vec_env_v1 then concat_vec_envs_v1 (deep copies the env)."""
    base = supersuit.pettingzoo_env_to_vec_env_v1(mettagrid.parallel_env("teams", max_steps=10))
    venv = supersuit.concat_vec_envs_v1(base, 2, num_cpus=num_cpus, base_class="gymnasium")
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (16, 200, 3) and venv.num_envs == 16
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(25):
        obs, rew, term, trunc, infos = venv.step(rng.integers(0, venv.action_space.n, 16))
        ended += int(trunc.sum())
        assert rew.shape == (16,) and obs.dtype == np.uint8
    venv.close()
    assert ended == 2 * 16  # two episodes of 10 steps for every agent of both games


def _step_in_child(env: MettaGridEnv, steps: int) -> tuple[int, float]:
    obs, _ = env.reset(seed=2)
    total = 0.0
    for _ in range(steps):
        obs, rewards, *_ = env.step(np.ones(env.num_agents, dtype=np.int32))
        total += float(rewards.sum())
    return int(obs.sum()), total


def test_multiprocessing_spawn_pickles_the_env() -> None:
    env = MettaGridEnv("teams", num_envs=2, seed=1)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        child = pool.apply(_step_in_child, (env, 40))
    assert child == _step_in_child(env, 40)


def test_adapters_serialize_calls_from_threads() -> None:
    """Two threads stepping one adapter: calls run one at a time, every step is counted once."""
    import threading

    venv = gymnasium.make_vec("mettagrid/Teams-v0", num_envs=2, max_steps=500)
    pz = mettagrid.parallel_env("teams", max_steps=500, seed=0)
    venv.reset(seed=0)
    pz.reset()
    acts = np.ones(venv.num_envs, dtype=np.int64)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(100):
                venv.step(acts)
                if k:
                    pz.step(dict.fromkeys(pz.possible_agents, 1))
                else:
                    assert pz.state().shape[0] > 0
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert venv.native_env.current_step(0) == 200 and pz.native_env.current_step(0) == 100
