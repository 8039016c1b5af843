"""The reference PPO trainer of metta-gridworld: typed configs and the functional training API.

    env = make_environment(EnvConfig(game={"num_agents": 4}))
    agent = make_agent(env.single_observation_space, env.single_action_space, [], device,
                       feature_spec=env.feature_spec())
    optimizer = make_optimizer(agent, OptimizerConfig(learning_rate=3e-4))
    experience = make_experience_manager(env, agent)
    rollout(experience, agent); compute_advantages(experience); train_ppo(agent, optimizer, experience)

`python -m trainer.train <recipe> run=<name>` runs the full loop (trainer/train.py).

The configs, recipes and `make_environment` need no more than mettagrid; the names built on PyTorch are imported
on first use, so a missing `train` extra (torch, safetensors, rich) is one clear error naming it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainer.config import (
    ActionSupervisedConfig,
    AgentModelConfig,
    BucketRangeConfig,
    CheckpointConfig,
    ConfigError,
    ContrastiveConfig,
    DynamicsConfig,
    EnvConfig,
    ExperienceConfig,
    GRPOConfig,
    KickstarterConfig,
    KickstarterTeacherConfig,
    LossConfig,
    OptimizerConfig,
    PPOConfig,
    PPOLossConfig,
    SimulationConfig,
    TrainerConfig,
    apply_overrides,
)
from trainer.env import make_environment
from trainer.recipes import get_recipe

if TYPE_CHECKING:
    from trainer.checkpoint import (
        CheckpointError,
        latest_checkpoint,
        load_checkpoint,
        load_policy,
        parse_uri,
        policy_uri,
        resolve_uri,
        save_checkpoint,
    )
    from trainer.evaluate import eval_policy, eval_random, evaluate_policy_suite, policy_actor, save_replay
    from trainer.experience import Experience, make_experience_manager, rollout
    from trainer.aux_losses import ContrastiveLoss, DynamicsLoss
    from trainer.grpo import GRPOLoss
    from trainer.losses import ActionSupervisedLoss, KickstarterLoss, Loss, PPOLoss, make_losses, register_loss
    from trainer.teachers import ScriptedTeacher, scripted_teacher
    from trainer.optim import make_optimizer
    from trainer.policies import Policy, make_agent
    from trainer.ppo import compute_advantages, train_ppo

# name -> the module that defines it, for the names that need torch (imported by __getattr__ on first use)
_TORCH_NAMES = {
    **dict.fromkeys(["CheckpointError", "latest_checkpoint", "load_checkpoint", "load_policy", "parse_uri",
                     "policy_uri", "resolve_uri", "save_checkpoint"], "trainer.checkpoint"),
    **dict.fromkeys(["eval_policy", "eval_random", "evaluate_policy_suite", "policy_actor", "save_replay"],
                    "trainer.evaluate"),
    **dict.fromkeys(["Experience", "make_experience_manager", "rollout"], "trainer.experience"),
    **dict.fromkeys(["ActionSupervisedLoss", "KickstarterLoss", "Loss", "PPOLoss", "make_losses", "register_loss"],
                    "trainer.losses"),
    **dict.fromkeys(["ContrastiveLoss", "DynamicsLoss"], "trainer.aux_losses"),
    "GRPOLoss": "trainer.grpo",
    **dict.fromkeys(["ScriptedTeacher", "scripted_teacher"], "trainer.teachers"),
    "make_optimizer": "trainer.optim",
    **dict.fromkeys(["Policy", "make_agent"], "trainer.policies"),
    **dict.fromkeys(["compute_advantages", "train_ppo"], "trainer.ppo"),
}

__all__ = sorted([
    "ActionSupervisedConfig",
    "AgentModelConfig",
    "BucketRangeConfig",
    "CheckpointConfig",
    "ConfigError",
    "ContrastiveConfig",
    "DynamicsConfig",
    "EnvConfig",
    "ExperienceConfig",
    "GRPOConfig",
    "KickstarterConfig",
    "KickstarterTeacherConfig",
    "LossConfig",
    "OptimizerConfig",
    "PPOConfig",
    "PPOLossConfig",
    "SimulationConfig",
    "TrainerConfig",
    "apply_overrides",
    "get_recipe",
    "make_environment",
    *_TORCH_NAMES,
])


def __getattr__(name: str) -> Any:
    """Imports a name built on PyTorch on first use (an ImportError naming the `train` extra if torch is missing)."""
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    from trainer.extras import require_train_extra

    require_train_extra()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted(set(globals()) | set(_TORCH_NAMES))
