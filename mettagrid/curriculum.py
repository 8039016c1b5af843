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
from mettagrid.resolve import resolve_config

__all__ = ["Curriculum", "LearningProgressCurriculum", "RandomCurriculum", "SingleTaskCurriculum", "Task"]


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


class SingleTaskCurriculum(Curriculum):
    """Always the same task."""

    def __init__(self, config: Any, name: str = "task") -> None:
        self.task = Task(str(name), resolve_config(config))

    def sample(self, rng: np.random.Generator) -> Task:
        return self.task

    def tasks(self) -> dict[str, GameConfig]:
        return {self.task.name: self.task.config}


class RandomCurriculum(Curriculum):
    """Draws tasks at random with fixed weights (uniform when `weights` is None)."""

    def __init__(self, tasks: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> None:
        if not tasks:
            raise ValueError("RandomCurriculum: tasks is empty")
        self._tasks = [Task(str(name), resolve_config(cfg)) for name, cfg in tasks.items()]
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


class LearningProgressCurriculum(Curriculum):
    """Draws more often the tasks whose episode return is changing: each task's learning progress is the gap
    between a fast and a slow moving average of its returns (each return first scaled to [0, 1] by the lowest
    and highest return that task has had), and a fraction `explore` of the draws stays uniform.

    A task is drawn uniformly until every task has had `min_episodes` episodes; after that the chance of task i
    is `explore / n + (1 - explore) * lp_i / sum(lp)` (uniform while no task shows progress).
    """

    def __init__(self, tasks: Mapping[str, Any], fast: float = 0.1, slow: float = 0.02, explore: float = 0.2,
                 min_episodes: int = 3) -> None:
        if not tasks:
            raise ValueError("LearningProgressCurriculum: tasks is empty")
        if not 0 < slow < fast <= 1:
            raise ValueError(f"LearningProgressCurriculum: expected 0 < slow < fast <= 1, got slow={slow}, fast={fast}")
        if not 0 <= explore <= 1:
            raise ValueError(f"LearningProgressCurriculum: explore = {explore}, expected 0 <= explore <= 1")
        if min_episodes < 1:
            raise ValueError(f"LearningProgressCurriculum: min_episodes = {min_episodes}, expected >= 1")
        self._tasks = [Task(str(name), resolve_config(cfg)) for name, cfg in tasks.items()]
        self._index = {t.name: i for i, t in enumerate(self._tasks)}
        self.fast_rate, self.slow_rate, self.explore, self.min_episodes = fast, slow, explore, min_episodes
        n = len(self._tasks)
        self.counts = np.zeros(n, dtype=np.int64)
        self.fast = np.zeros(n)
        self.slow = np.zeros(n)
        self._low = np.full(n, np.inf)
        self._high = np.full(n, -np.inf)

    def probabilities(self) -> dict[str, float]:
        """Each task's chance of being drawn next."""
        n = len(self._tasks)
        p = np.full(n, 1.0 / n)
        if self.counts.min() >= self.min_episodes:
            lp = np.abs(self.fast - self.slow)
            if lp.sum() > 0:
                p = self.explore / n + (1.0 - self.explore) * lp / lp.sum()
        return {t.name: float(p[i]) for i, t in enumerate(self._tasks)}

    def sample(self, rng: np.random.Generator) -> Task:
        p = np.array(list(self.probabilities().values()))
        k = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
        return self._tasks[min(k, len(self._tasks) - 1)]

    def update(self, task_id: str, episode_return: float) -> None:
        i = self._index.get(task_id)
        if i is None or not np.isfinite(episode_return):
            return
        r = float(episode_return)
        self._low[i], self._high[i] = min(self._low[i], r), max(self._high[i], r)
        span = self._high[i] - self._low[i]
        x = (r - self._low[i]) / span if span > 0 else 0.0
        if self.counts[i] == 0:
            self.fast[i] = self.slow[i] = x
        else:
            self.fast[i] += self.fast_rate * (x - self.fast[i])
            self.slow[i] += self.slow_rate * (x - self.slow[i])
        self.counts[i] += 1

    def tasks(self) -> dict[str, GameConfig]:
        return {t.name: t.config for t in self._tasks}
