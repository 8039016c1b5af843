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

import inspect
import itertools
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mettagrid import spec_builder
from mettagrid.config import GameConfig, deep_merge
from mettagrid.presets import PRESETS
from mettagrid.resolve import ConfigSource, resolve_config

__all__ = ["BucketedCurriculum", "Curriculum", "LearningProgressCurriculum", "RandomCurriculum", "SingleTaskCurriculum",
           "Task"]


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

    def probabilities(self) -> dict[str, float]:
        """Each task's chance of being drawn (its weight over the sum of weights)."""
        p = np.diff(self._cdf, prepend=0.0)
        return {t.name: float(p[i]) for i, t in enumerate(self._tasks)}

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


_CACHE = 1024  # configs kept per curriculum for drawn range values (the oldest goes first)


class _Bin(NamedTuple):
    """One bin of a range bucket: values drawn uniformly in [low, high] (integers) or [low, high) (floats)."""

    low: float
    high: float
    integer: bool


def _format(value: Any) -> str:
    """A bucket value as it appears in a task name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"agent.freeze_duration": 5, "size": 11} -> {"agent": {"freeze_duration": 5}, "size": 11}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _lookup(data: Any, key: str) -> Any:
    """The value at a dotted key of a dumped config, or None where the path does not exist."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


class BucketedCurriculum(Curriculum):
    """One task per combination of bucket values over a base game, drawn by a random or learning-progress curriculum.

    `buckets` maps an option of `base` -- a parameter of its preset function (navigation: num_agents, layout,
    size, num_altars, max_steps) or a GameConfig field, dotted for a nested one (`agent.freeze_duration`) -- to
    a list of values, or to `{"range": [low, high], "bins": n}`: the range cut into n equal bins (edges
    `low + (high - low) * i / n`), one task per bin, whose value is drawn uniformly inside its bin each time the
    task is drawn, from the env's seeded generator. An integer option (by its preset annotation or its value in
    the base config; `"integer": true/false` decides otherwise) draws the integers in `[edge_i, edge_i+1)` (the
    last bin includes `high`). Tasks are every combination, in bucket order, named `key=value,...` with a bin
    written `key=low..high` (`size=11,num_altars=1,layout=room`, `size=10..13`).

    `algorithm` draws among the tasks: "random" (by `weights`, task name -> weight; uniform without),
    "learning_progress" (`LearningProgressCurriculum`, `options` are its keyword arguments), or a function of
    the tasks (name -> GameConfig) returning a Curriculum. `overrides` apply to `base` before the buckets.
    Every task (and both ends of every bin) is built and compiled up front: a bucket that names an unknown
    option, has no values or a bad range, or makes tasks that disagree on num_agents, actions, items or the
    observation shape raises ValueError naming the bucket key and value.
    """

    def __init__(self, base: ConfigSource, buckets: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None,
                 algorithm: str | Callable[[dict[str, GameConfig]], Curriculum] = "random",
                 weights: Mapping[str, float] | None = None, **options: Any) -> None:
        if not isinstance(buckets, Mapping) or not buckets:
            raise ValueError(f"BucketedCurriculum: buckets must map at least one option to its values, got {buckets!r}")
        preset = PRESETS.get(base) if isinstance(base, str) else None
        try:
            if preset is None:  # a fixed config: resolved once, the buckets override its fields
                self._source: Any = resolve_config(base, overrides)
                self._overrides: dict[str, Any] = {}
            else:
                self._source, self._overrides = base, dict(overrides or {})
            base_config = resolve_config(self._source, self._overrides)
        except (TypeError, ValueError, OSError) as e:
            raise ValueError(f"BucketedCurriculum: base {base!r}: {e}") from None
        params = inspect.signature(preset).parameters if preset is not None else {}
        hints = typing.get_type_hints(preset) if preset is not None else {}
        defaults = base_config.model_dump()

        self.keys: list[str] = [str(k) for k in buckets]
        self.edges: dict[str, list[float]] = {}
        choices: list[list[tuple[str, Any]]] = []  # per key: (as named, value or _Bin)
        for key, spec in buckets.items():
            top = str(key).split(".")[0]
            if not isinstance(key, str) or not key or ("." in key and top not in GameConfig.model_fields) or (
                    top not in params and top not in GameConfig.model_fields):
                options_text = f"parameters of {base}() ({', '.join(params)}) or " if preset is not None else ""
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: unknown option; the options are {options_text}"
                                 f"GameConfig fields (dotted for nested ones, e.g. agent.freeze_duration)")
            if isinstance(spec, Mapping):
                if key in params:  # a preset parameter: its annotation, else its default's type
                    kind = hints.get(key, type(params[key].default))
                else:  # a config field: the type of its value in the base config
                    kind = type(_lookup(defaults, key))
                choices.append(self._bins(key, spec, kind))
            elif isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
                choices.append(self._values(key, spec, hints.get(key) if key in params else None))
            else:
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: expected a list of values or "
                                 f"{{'range': [low, high], 'bins': n}}, got {spec!r}")

        self._tasks: dict[str, Task] = {}
        self._values_of: dict[str, dict[str, Any]] = {}
        self._cache: dict[tuple[str, tuple[Any, ...]], GameConfig] = {}  # (task, drawn values) -> config
        reference: tuple[str, Any] | None = None
        for combo in itertools.product(*choices):
            name = ",".join(f"{key}={shown}" for key, (shown, _) in zip(self.keys, combo))
            if name in self._tasks:
                raise ValueError(f"BucketedCurriculum: two tasks are both named {name!r}; bucket values must differ "
                                 f"as written")
            values = {key: value for key, (_, value) in zip(self.keys, combo)}
            ends = [{k: (v.low if isinstance(v, _Bin) else v) for k, v in values.items()}]
            if any(isinstance(v, _Bin) for v in values.values()):
                ends.append({k: (v.high if isinstance(v, _Bin) else v) for k, v in values.items()})
            for j, end in enumerate(ends):
                config = self._build(name, end)
                try:
                    compiled = spec_builder.compile_spec(config)
                except ValueError as e:
                    raise ValueError(f"BucketedCurriculum: task {name!r} with {_describe(end)}: {e}") from None
                if reference is None:
                    reference = (name, compiled, end)
                else:
                    try:
                        reference[1].check_compatible(compiled)
                    except ValueError as e:
                        differ = ", ".join(f"bucket {k!r} = {end[k]!r} (task {reference[0]!r} has {reference[2][k]!r})"
                                           for k in self.keys if end[k] != reference[2][k])
                        raise ValueError(f"BucketedCurriculum: task {name!r} cannot share an env with task "
                                         f"{reference[0]!r}: {differ}: {e}") from None
                if j == 0:
                    self._tasks[name] = Task(name, config)
                    if len(ends) > 1:  # a draw of the low ends reuses this config object
                        self._cache[(name, tuple(end.values()))] = config
            self._values_of[name] = values

        try:
            self.curriculum: Curriculum = self._inner(algorithm, weights, options)
        except (TypeError, ValueError) as e:
            raise ValueError(f"BucketedCurriculum: {e}") from None
        self._ranged = {name for name, values in self._values_of.items()
                        if any(isinstance(v, _Bin) for v in values.values())}

    def _inner(self, algorithm: Any, weights: Mapping[str, float] | None, options: dict[str, Any]) -> Curriculum:
        """The curriculum that draws among the task names."""
        tasks = self.tasks()
        if algorithm == "random":
            if options:
                raise ValueError(f"algorithm 'random' takes no options, got {sorted(options)}")
            return RandomCurriculum(tasks, weights)
        if algorithm == "learning_progress":
            if weights is not None:
                raise ValueError("weights apply to algorithm 'random', not 'learning_progress'")
            return LearningProgressCurriculum(tasks, **options)
        if callable(algorithm):
            if weights is not None or options:
                raise ValueError("weights and options apply to the named algorithms only")
            inner = algorithm(tasks)
            if not isinstance(inner, Curriculum):
                raise ValueError(f"algorithm returned {type(inner).__name__}, expected a Curriculum")
            return inner
        raise ValueError(f"algorithm = {algorithm!r}, expected 'random', 'learning_progress' or a function of the "
                         f"tasks returning a Curriculum")

    # ------------------------------------------------------------ building the task set

    def _values(self, key: str, spec: Sequence[Any], hint: Any = None) -> list[tuple[str, Any]]:
        """A list bucket: (as named, value) per value; `hint` is the preset parameter's annotation, if any."""
        allowed = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
        if not spec:
            raise ValueError(f"BucketedCurriculum: bucket {key!r}: no values; give at least one")
        out: list[tuple[str, Any]] = []
        written: dict[str, Any] = {}
        for value in spec:
            value = value.item() if isinstance(value, np.generic) else value
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: value {value!r} is a {type(value).__name__}; "
                                 f"bucket values are numbers, strings, booleans or null")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: value {value!r} is not finite")
            if allowed is not None and value not in allowed:
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: value {value!r} is not one of {list(allowed)}")
            shown = repr(value) if isinstance(value, float) else _format(value)
            same = [w for w in written.values() if w == value] + ([written[shown]] if shown in written else [])
            if same:
                raise ValueError(f"BucketedCurriculum: bucket {key!r}: value {value!r} repeats {same[0]!r}; "
                                 f"each value must appear once")
            written[shown] = value
            out.append((shown, value))
        return out

    def _bins(self, key: str, spec: Mapping[str, Any], kind: Any) -> list[tuple[str, _Bin]]:
        """A range bucket: (as named, bin) per bin; records the bins' edges in `edges[key]`."""
        where = f"BucketedCurriculum: bucket {key!r}"
        unknown = sorted(str(k) for k in spec if k not in ("range", "bins", "integer"))
        if unknown:
            raise ValueError(f"{where}: unknown range key(s) {unknown}; a range is {{'range': [low, high], 'bins': n}} "
                             f"with an optional 'integer': true/false")
        bounds = spec.get("range")
        if not (isinstance(bounds, Sequence) and not isinstance(bounds, str) and len(bounds) == 2
                and all(_is_number(x) for x in bounds)):
            raise ValueError(f"{where}: range = {bounds!r}, expected [low, high] (two numbers)")
        low, high = float(bounds[0]), float(bounds[1])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"{where}: range = {list(bounds)!r}, expected finite numbers with low < high")
        bins = spec.get("bins")
        if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
            raise ValueError(f"{where}: bins = {bins!r}, expected an integer >= 1")
        bins = int(bins)
        integer = spec.get("integer")
        if integer is None:
            integer = kind is int or (kind is not float and all(isinstance(x, (int, np.integer)) for x in bounds))
        if not isinstance(integer, bool):
            raise ValueError(f"{where}: integer = {integer!r}, expected true or false (or leave it out)")
        self.edges[key] = [low + (high - low) * i / bins for i in range(bins)] + [high]
        if not integer:
            edges = self.edges[key]
            return [(f"{edges[i]:g}..{edges[i + 1]:g}", _Bin(edges[i], edges[i + 1], False)) for i in range(bins)]
        if not (low.is_integer() and high.is_integer()):
            raise ValueError(f"{where}: range = {list(bounds)!r} has a non-integer end, but {key} takes integers")
        lo, hi = int(low), int(high)
        if bins > hi - lo + 1:
            raise ValueError(f"{where}: bins = {bins}, but the range [{lo}, {hi}] holds only {hi - lo + 1} integers")
        # the first integer at or above edge i, exactly: ceil((lo * bins + (hi - lo) * i) / bins)
        starts = [-(-(lo * bins + (hi - lo) * i) // bins) for i in range(bins)] + [hi + 1]
        out = []
        for i in range(bins):
            first, last = starts[i], starts[i + 1] - 1
            if first > last:
                raise ValueError(f"{where}: bin {i} [{self.edges[key][i]:g}, {self.edges[key][i + 1]:g}) holds no "
                                 f"integer; use fewer bins")
            out.append((f"{first}..{last}", _Bin(first, last, True)))
        return out

    def _build(self, name: str, values: Mapping[str, Any]) -> GameConfig:
        """The config of a task with its buckets at `values`."""
        try:
            return resolve_config(self._source, deep_merge(self._overrides, _nested(values)))
        except (TypeError, ValueError, OSError) as e:
            raise ValueError(f"BucketedCurriculum: task {name!r} with {_describe(values)}: {e}") from None

    # ------------------------------------------------------------ the Curriculum interface

    def sample(self, rng: np.random.Generator) -> Task:
        """The inner curriculum's task; a task with range buckets gets values drawn inside its bins from `rng`."""
        name = self.curriculum.sample(rng).name
        task = self._tasks.get(name)
        if task is None:
            raise ValueError(f"BucketedCurriculum: the algorithm drew {name!r}, which is not one of its tasks")
        if name not in self._ranged:
            return task
        drawn = {}
        for key, value in self._values_of[name].items():
            if isinstance(value, _Bin):
                value = (int(rng.integers(int(value.low), int(value.high), endpoint=True)) if value.integer
                         else float(rng.uniform(value.low, value.high)))
            drawn[key] = value
        cache_key = (name, tuple(drawn.values()))
        config = self._cache.get(cache_key)
        if config is None:
            config = self._build(name, drawn)
            if len(self._cache) >= _CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[cache_key] = config
        return Task(name, config)

    def update(self, task_id: str, episode_return: float) -> None:
        """Passes the finished episode to the inner curriculum."""
        self.curriculum.update(task_id, episode_return)

    def tasks(self) -> dict[str, GameConfig]:
        """Task name -> its config (a range bucket at its bin's low end)."""
        return {name: task.config for name, task in self._tasks.items()}

    def probabilities(self) -> dict[str, float]:
        """Each task's chance of being drawn next (empty when the inner curriculum does not say)."""
        probabilities = getattr(self.curriculum, "probabilities", None)
        return dict(probabilities()) if probabilities is not None else {}

    def bucket_values(self, name: str) -> dict[str, Any]:
        """A task's bucket values by key; a range bucket's as its bin's (low, high)."""
        if name not in self._values_of:
            raise KeyError(f"BucketedCurriculum: no task {name!r}")
        return {k: (v.low, v.high) if isinstance(v, _Bin) else v for k, v in self._values_of[name].items()}


def _describe(values: Mapping[str, Any]) -> str:
    """`size = 11, layout = 'room'`: bucket values for an error message."""
    return ", ".join(f"{k} = {v!r}" for k, v in values.items())
