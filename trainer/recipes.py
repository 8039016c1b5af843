"""Recipes: plain functions returning a TrainerConfig; `python -m trainer.train <recipe>` runs one."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from trainer.config import (
    ActionSupervisedConfig,
    AgentModelConfig,
    CheckpointConfig,
    CurriculumTaskConfig,
    EnvConfig,
    ExperienceConfig,
    OptimizerConfig,
    PPOConfig,
    PPOLossConfig,
    SimulationConfig,
    TrainerConfig,
)

__all__ = ["RECIPES", "arena", "arena_combat", "describe_recipes", "get_recipe", "load_function", "navigation",
           "navigation_bucketed", "navigation_curriculum", "navigation_maze"]


def navigation() -> TrainerConfig:
    """One agent per 15 x 15 room finds altars for hearts; sized to learn on a laptop CPU in minutes."""
    return TrainerConfig(
        run="navigation",
        total_timesteps=2_000_000,
        # The token encoder without memory (fast), 256 games per forward call and 4096-step minibatches: on 2 cores
        # navigation reaches an evaluated return of 8 after ~6 s of training and 13 after ~34 s, against ~19 s and
        # over 80 s for the same with an LSTM (which learns more per step but costs ~3x per step), and 27 s to 8 for
        # 64 games with the CNN encoder (benchmarks/time_to_skill.py, recorded in benchmarks/README.md).
        env=EnvConfig(preset="navigation", num_envs=256),
        agent=AgentModelConfig(policy="fast", encoder="tokens", hidden_dim=128, cnn_channels=32),
        optimizer=OptimizerConfig(learning_rate=1e-3),
        ppo=PPOConfig(update_epochs=2),
        experience=ExperienceConfig(batch_size=16384, minibatch_size=4096, bptt_horizon=32),
        checkpoint=CheckpointConfig(checkpoint_interval=50),
        simulation=SimulationConfig(evaluate_interval=0),
    )


def navigation_maze() -> TrainerConfig:
    """Navigation in 15 x 15 mazes, where the altars are often out of sight. Without memory (the navigation recipe's
    fast policy) it still reaches an evaluated return of 10 sooner on 2 cores than with an LSTM (46 s against 70 s,
    benchmarks/README.md); `agent.policy=lstm` learns more per step."""
    cfg = navigation()
    cfg.run = "navigation_maze"
    cfg.env.preset = "navigation_maze"
    return cfg


def navigation_curriculum() -> TrainerConfig:
    """Navigation over a curriculum: rooms of 11, 15 and 21 cells and a 15 x 15 maze, drawn per episode."""
    cfg = navigation()
    cfg.run = "navigation_curriculum"
    cfg.env.curriculum = {
        "room11": CurriculumTaskConfig(game={"size": 11}),
        "room15": CurriculumTaskConfig(game={"size": 15}),
        "room21": CurriculumTaskConfig(game={"size": 21}, weight=0.5),
        "maze15": CurriculumTaskConfig(game={"layout": "maze", "size": 15}, weight=0.5),
    }
    return cfg


def navigation_bucketed() -> TrainerConfig:
    """Navigation over 18 buckets (size 11/15/21 x 1/2/4 altars x room/maze), drawn by learning progress."""
    cfg = navigation()
    cfg.run = "navigation_bucketed"
    cfg.total_timesteps = 4_000_000
    cfg.env.buckets = {"size": [11, 15, 21], "num_altars": [1, 2, 4], "layout": ["room", "maze"]}
    cfg.env.curriculum_algorithm = "learning_progress"
    return cfg


def arena() -> TrainerConfig:
    """The 24-agent arena: mine ore, make batteries, turn them into hearts; PPO plus imitation of the scripted arena
    teacher, annealed out over the first 30M steps."""
    return TrainerConfig(
        run="arena",
        total_timesteps=100_000_000,
        # PPO alone does not find hearts within 30 minutes on 2 cores (the chain mine -> generator -> altar is long
        # and putting batteries into an altar first costs reward); imitating the scripted teacher (trainer/teachers.py,
        # ~6 hearts per agent per episode) with a weight annealed from 1 to 0 over 30M steps gets there, and the
        # policy keeps making hearts once the teacher's weight is 0 (benchmarks/README.md, arena time to skill).
        env=EnvConfig(preset="arena", num_envs=8, num_threads=2, teacher="arena"),
        losses={"ppo": PPOLossConfig(), "action_supervised": ActionSupervisedConfig(weight=1.0, anneal_steps=30_000_000)},
        # Token encoder, 128-wide LSTM: 29-37k agent-steps/s while the teacher labels every step, against 7k for
        # the CNN at 256 on 2 cores; 0.5 hearts per agent per episode after ~11 minutes of training. The policy
        # without memory runs ~1.5x faster but needs ~1.5x the steps (benchmarks/README.md).
        agent=AgentModelConfig(policy="lstm", encoder="tokens", hidden_dim=128, cnn_channels=64),
        experience=ExperienceConfig(batch_size=8 * 24 * 64 * 2, minibatch_size=8 * 24 * 64 // 2, bptt_horizon=64),
        checkpoint=CheckpointConfig(checkpoint_interval=100),
        simulation=SimulationConfig(evaluate_interval=100, num_episodes=8, num_envs=8),
    )


def arena_combat() -> TrainerConfig:
    """The arena with attacks, lasers and armor."""
    cfg = arena()
    cfg.run = "arena_combat"
    cfg.env.preset = "arena_combat"
    return cfg


RECIPES: dict[str, Callable[[], TrainerConfig]] = {
    "navigation": navigation,
    "navigation_maze": navigation_maze,
    "navigation_curriculum": navigation_curriculum,
    "navigation_bucketed": navigation_bucketed,
    "arena": arena,
    "arena_combat": arena_combat,
}


def load_function(name: str, kind: str = "recipe") -> Any:
    """The object `package.module:function` names (a user's recipe or suite); ValueError naming `kind` if it cannot
    be imported."""
    module_name, fn_name = name.split(":", 1)
    try:
        return getattr(importlib.import_module(module_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{kind} {name!r} cannot be loaded: {e}") from None


def get_recipe(name: str) -> TrainerConfig:
    """The config of a recipe: a name from RECIPES, or `package.module:function` for your own."""
    if name in RECIPES:
        return RECIPES[name]()
    if ":" in name:
        cfg = load_function(name, "recipe")()
        if not isinstance(cfg, TrainerConfig):
            raise ValueError(f"recipe {name!r} returned {type(cfg).__name__}, expected a TrainerConfig")
        return cfg
    raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)} (or module:function, or a YAML file)")


def describe_recipes() -> dict[str, str]:
    """Recipe name -> the first line of its docstring."""
    return {name: (inspect.getdoc(fn) or "").splitlines()[0] for name, fn in RECIPES.items()}
