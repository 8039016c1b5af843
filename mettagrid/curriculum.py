"""Curricula: which task (a named game config) each game plays next.

A curriculum hands `MettaGridEnv(curriculum=...)` a task per episode. All tasks of one curriculum must agree
on `num_agents`, the action list, the inventory items and the observation shape (mode, width, height, tokens);
everything else (map, objects, rewards, groups, max_steps, ...) may differ.

When draws happen. The env draws every task one episode ahead, so that no Python call is needed inside the
C++ step:

- `reset()` draws a task for each game's first episode and applies it at once, then draws each game's
  second task and queues it.
- A game whose episode ends inside `step()` starts its queued task in that same step (the auto-reset); after
  the step returns, the env reports the finished episode to `update()` and draws the game's following task.

So every draw is played for exactly one episode, in draw order, but a draw cannot react to the episode that
ended in the same step: feedback from a game's episode k first reaches the draw for its episode k + 2.

Draws take a `numpy.random.Generator` that the env seeds from its reset seed, and happen in game-index order,
so a seeded run is reproducible whatever the number of threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from mettagrid.config import GameConfig

__all__ = ["Curriculum", "RandomCurriculum", "SingleTaskCurriculum", "Task"]


class Task(NamedTuple):
    """A named game config. The name identifies the task in infos (`info["task"]`) and in `update()`."""

    name: str
    config: GameConfig


class Curriculum:
    """The interface: `sample` draws the next task; `update` hears how a finished episode went.

    Subclasses return the same `GameConfig` object for a task every time they can: the env compiles each
    distinct (name, config) once and reuses it, comparing configs by identity first and by value only when
    the object changed.
    """

    def sample(self, rng: np.random.Generator) -> Task:
        """The task for a game's next episode."""
        raise NotImplementedError

    def update(self, task_id: str, episode_return: float) -> None:
        """Called once per finished episode with its task and mean agent return (for learning-progress curricula)."""

    def tasks(self) -> dict[str, GameConfig]:
        """The tasks this curriculum can draw, when known in advance (the env validates them up front)."""
        return {}


def _resolve(config: Any) -> GameConfig:
    from mettagrid.env import resolve_config

    return resolve_config(config)


class SingleTaskCurriculum(Curriculum):
    """Always the same task."""

    def __init__(self, config: Any, name: str = "task") -> None:
        self.task = Task(str(name), _resolve(config))

    def sample(self, rng: np.random.Generator) -> Task:
        return self.task

    def tasks(self) -> dict[str, GameConfig]:
        return {self.task.name: self.task.config}


class RandomCurriculum(Curriculum):
    """Draws tasks at random with fixed weights (uniform when `weights` is None)."""

    def __init__(self, tasks: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> None:
        if not tasks:
            raise ValueError("RandomCurriculum: tasks is empty")
        self._tasks = [Task(str(name), _resolve(cfg)) for name, cfg in tasks.items()]
        names = [t.name for t in self._tasks]
        if weights is None:
            w = np.ones(len(names))
        else:
            unknown = sorted(set(weights) - set(names))
            if unknown:
                raise ValueError(f"RandomCurriculum: weights name unknown tasks {unknown}; tasks are {names}")
            w = np.array([float(weights.get(n, 0.0)) for n in names])
            if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
                raise ValueError(f"RandomCurriculum: weights must be finite, >= 0 and not all 0, got {dict(weights)}")
        self._cdf = np.cumsum(w / w.sum())
        self._cdf[-1] = 1.0
        self.counts: dict[str, int] = {n: 0 for n in names}
        self.returns: dict[str, float] = {n: 0.0 for n in names}

    def sample(self, rng: np.random.Generator) -> Task:
        k = int(np.searchsorted(self._cdf, rng.random(), side="right"))
        return self._tasks[min(k, len(self._tasks) - 1)]

    def update(self, task_id: str, episode_return: float) -> None:
        if task_id in self.counts:
            self.counts[task_id] += 1
            self.returns[task_id] += float(episode_return)

    def tasks(self) -> dict[str, GameConfig]:
        return {t.name: t.config for t in self._tasks}
