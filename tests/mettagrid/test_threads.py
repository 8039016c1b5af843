"""One env called from several Python threads: calls are serialized, never a crash, a hang or corrupted state."""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import pytest

from mettagrid import MettaGridEnv, make_config


def _hammer(workers: list[Callable[[int], None]], rounds: int, timeout: float = 120.0) -> None:
    """Runs each worker `rounds` times in its own thread, all released at once; re-raises the first error."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[int], None]) -> None:
        try:
            start.wait()
            for k in range(rounds):
                work(k)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def _fresh_matches(env: MettaGridEnv, **kwargs: Any) -> bool:
    """After the hammering, the env still gives exactly what a fresh env gives for the same seed and actions."""
    fresh = MettaGridEnv(env.config, num_envs=env.num_envs, **kwargs)
    rng = np.random.default_rng(1)
    same = bool((env.reset(seed=21)[0] == fresh.reset(seed=21)[0]).all())
    for _ in range(20):
        act = rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32)
        a, b = env.step(act), fresh.step(act)
        same &= all(bool((x == y).all()) for x, y in zip(a[:4], b[:4]))
    return same


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("callers", [2, 4])
def test_steps_from_several_threads_are_serialized(num_threads: int, callers: int) -> None:
    env = MettaGridEnv(make_config("arena", max_steps=2000), num_envs=2, num_threads=num_threads, seed=0)
    env.reset(seed=5)
    act = np.ones(env.num_agents, dtype=np.int32)
    _hammer([lambda k: env.step(act)] * callers, rounds=300)
    assert env.current_step(0) == env.current_step(1) == 300 * callers  # no step lost, none doubled
    assert _fresh_matches(env, num_threads=num_threads)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_every_call_against_step_and_reset(num_threads: int) -> None:
    cfg = make_config("arena", max_steps=40)
    env = MettaGridEnv(cfg, num_envs=2, num_threads=num_threads, seed=0, final_observations=True)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    acts = rng.integers(0, env.single_action_space.n, (8, env.num_agents), dtype=np.int32)
    other = make_config("arena", max_steps=30)

    def stepper(k: int) -> None:
        env.step(acts[k % 8])

    def resetter(k: int) -> None:
        if k % 10 == 0:
            env.reset(seed=k)
        else:
            env.step(acts[(k + 3) % 8])

    def reader(k: int) -> None:
        snap = env.grid_objects(k % 2)
        assert snap["agent_row"].shape == (24,)
        try:
            assert env.episode_record(k % 2)["returns"].shape == (24,)
        except ValueError as e:  # before the game's first episode has ended
            assert "has not finished an episode yet" in str(e)
        env.episode_stats(k % 2)
        env.current_step(k % 2)
        assert "\n" in env.render(k % 2)

    def reconfigure(k: int) -> None:
        env.set_game_config(k % 2, other if k % 2 else cfg, name="short" if k % 2 else "base")
        if k % 7 == 0:  # new buffers for the core while others step (each as big as the last)
            env._core.set_buffers(env.observations.reshape(-1), env.rewards, env.terminals, env.truncations,
                                  env.final_observations.reshape(-1))

    _hammer([stepper, resetter, reader, reconfigure], rounds=80)
    # The state is consistent afterwards: queued configs start with the next reset and end at their own limits.
    env.set_game_config(0, cfg, name="base")
    env.set_game_config(1, other, name="short")
    env.reset(seed=2)
    ended = [(t + 1, i["env"], i["task"]) for t in range(40) for i in env.step(acts[t % 8])[4]]
    assert ended == [(30, 1, "short"), (40, 0, "base")]


def test_rgb_render_against_step() -> None:
    env = MettaGridEnv("teams", num_envs=1, num_threads=1, render_mode="rgb_array")
    env.reset(seed=0)
    act = np.ones(env.num_agents, dtype=np.int32)
    shapes: list[tuple[int, ...]] = []
    _hammer([lambda k: env.step(act), lambda k: shapes.append(env.render().shape)], rounds=40)
    assert len(set(shapes)) == 1 and len(shapes) == 40
