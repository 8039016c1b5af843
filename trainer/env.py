"""Building the training env from an EnvConfig."""

from __future__ import annotations

from typing import Any

from mettagrid import MettaGridEnv
from mettagrid.config import GameConfig
from mettagrid.curriculum import BucketedCurriculum, Curriculum, LearningProgressCurriculum, RandomCurriculum
from mettagrid.resolve import resolve_config

from trainer.config import ConfigError, EnvConfig
from trainer.teachers import TeacherEnv

__all__ = ["curriculum_metrics", "make_curriculum", "make_environment", "make_game_config"]


def make_game_config(config: EnvConfig) -> GameConfig:
    """The GameConfig of an EnvConfig: env.preset (a preset or a file) with env.game's overrides, as
    mettagrid.resolve.resolve_config applies them (a preset's parameters to its function, the rest to fields), with
    desync_episodes on when env.desync_episodes is (the default for training)."""
    try:
        game = resolve_config(config.preset, config.game)
    except (TypeError, ValueError, OSError) as e:
        given = f"env.preset = {config.preset!r}" + (f" with env.game = {config.game}" if config.game else "")
        raise ConfigError(f"{given}: {e}") from None
    return game.model_copy(update={"desync_episodes": True}) if config.desync_episodes else game


def make_curriculum(config: EnvConfig) -> Curriculum | None:
    """The curriculum of an EnvConfig (None without one): each task is its preset (default env.preset) with
    env.game and then the task's own overrides applied, drawn with the task's weight (random) or by learning
    progress (learning_progress). With env.buckets, a BucketedCurriculum over env.preset + env.game instead."""
    if config.buckets:
        buckets = {key: spec.model_dump(exclude_none=True) if hasattr(spec, "model_dump") else spec
                   for key, spec in config.buckets.items()}
        overrides = {**config.game, **({"desync_episodes": True} if config.desync_episodes else {})}
        try:
            return BucketedCurriculum(config.preset, buckets, overrides=overrides,
                                      algorithm=config.curriculum_algorithm)
        except ValueError as e:
            raise ConfigError(f"env.buckets: {e}") from None
    if not config.curriculum:
        return None
    tasks: dict[str, GameConfig] = {}
    for name, task in config.curriculum.items():
        sub = EnvConfig.model_construct(preset=task.preset or config.preset, game={**config.game, **task.game},
                                        num_envs=config.num_envs, num_threads=config.num_threads, curriculum=None,
                                        desync_episodes=config.desync_episodes)
        try:
            tasks[name] = make_game_config(sub)
        except ConfigError as e:
            raise ConfigError(f"env.curriculum[{name!r}]: {e}") from None
    try:
        if config.curriculum_algorithm == "learning_progress":
            return LearningProgressCurriculum(tasks)
        return RandomCurriculum(tasks, {name: t.weight for name, t in config.curriculum.items()})
    except ValueError as e:
        raise ConfigError(f"env.curriculum: {e}") from None


def curriculum_metrics(env: MettaGridEnv) -> dict[str, float]:
    """`curriculum/<task>`: each task's current chance of being drawn, for curricula that report it."""
    probabilities = getattr(env.curriculum, "probabilities", None)
    return {f"curriculum/{name}": p for name, p in probabilities().items()} if probabilities else {}


def make_environment(
    env_config: EnvConfig | None = None,
    map_builder: Any = None,
    seed: int = 0,
    **overrides: Any,
) -> MettaGridEnv:
    """A MettaGridEnv for `env_config`; keyword overrides set EnvConfig fields (num_envs, ...) or game values (num_agents, max_steps, ...).
    With env.teacher, a trainer.teachers.TeacherEnv, whose teacher_actions hold the scripted teacher's actions."""
    config = env_config or EnvConfig()
    fields = {k: overrides.pop(k) for k in list(overrides) if k in EnvConfig.model_fields}
    if overrides:
        fields["game"] = {**config.game, **fields.get("game", {}), **overrides}
    if fields:
        config = config.model_copy(update=fields)
        config = EnvConfig.model_validate(config.model_dump())
    game = make_game_config(config)
    if map_builder is not None:
        game = GameConfig.model_validate({**game.model_dump(), "map_builder": map_builder})
    curriculum = make_curriculum(config)
    # with env.teacher, a TeacherEnv: its teacher_actions hold the scripted teacher's actions after every reset / step
    env_class: type[MettaGridEnv] = MettaGridEnv if config.teacher is None else TeacherEnv
    teacher: dict[str, Any] = {} if config.teacher is None else {"teacher": config.teacher, "teacher_seed": seed}
    if curriculum is not None:
        if map_builder is not None:
            raise ConfigError("make_environment: map_builder cannot be combined with env.curriculum")
        try:
            return env_class(None, num_envs=config.num_envs, num_threads=config.num_threads, seed=seed,
                             curriculum=curriculum, group_size=config.group_size, **teacher)
        except ValueError as e:
            raise ConfigError(f"env.curriculum: {e}") from None
    return env_class(game, num_envs=config.num_envs, num_threads=config.num_threads, seed=seed,
                     group_size=config.group_size, **teacher)
