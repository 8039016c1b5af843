"""The reference PPO trainer of metta-gridworld: typed configs and the functional training API.

    env = make_environment(EnvConfig(game={"num_agents": 4}))
    agent = make_agent(env.single_observation_space, env.single_action_space, [], device)
    optimizer = make_optimizer(agent, OptimizerConfig(learning_rate=3e-4))
    experience = make_experience_manager(env, agent)
    rollout(experience, agent); compute_advantages(experience); train_ppo(agent, optimizer, experience)

`python -m trainer.train <recipe> run=<name>` runs the full loop (trainer/train.py).
"""

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
from trainer.config import (
    AgentModelConfig,
    CheckpointConfig,
    ConfigError,
    EnvConfig,
    ExperienceConfig,
    OptimizerConfig,
    PPOConfig,
    SimulationConfig,
    TrainerConfig,
    apply_overrides,
)
from trainer.env import make_environment
from trainer.evaluate import eval_policy, eval_random, evaluate_policy_suite, policy_actor, save_replay
from trainer.experience import Experience, make_experience_manager, rollout
from trainer.optim import make_optimizer
from trainer.policies import Policy, make_agent
from trainer.ppo import compute_advantages, train_ppo
from trainer.recipes import get_recipe

__all__ = [
    "AgentModelConfig",
    "CheckpointConfig",
    "CheckpointError",
    "ConfigError",
    "EnvConfig",
    "Experience",
    "ExperienceConfig",
    "OptimizerConfig",
    "PPOConfig",
    "Policy",
    "SimulationConfig",
    "TrainerConfig",
    "apply_overrides",
    "compute_advantages",
    "eval_policy",
    "eval_random",
    "evaluate_policy_suite",
    "get_recipe",
    "latest_checkpoint",
    "load_checkpoint",
    "load_policy",
    "make_agent",
    "make_environment",
    "make_experience_manager",
    "make_optimizer",
    "parse_uri",
    "policy_actor",
    "policy_uri",
    "resolve_uri",
    "rollout",
    "save_checkpoint",
    "save_replay",
    "train_ppo",
]
