"""A tiny navigation TrainerConfig for fast tests (a fraction of a second per epoch)."""

from __future__ import annotations

from pathlib import Path

from trainer.config import TrainerConfig
from trainer.recipes import navigation


def tiny_config(train_dir: Path, run: str = "tiny", policy: str = "lstm", epochs: int = 2) -> TrainerConfig:
    """Navigation with 4 games, a small policy and 128-step rollouts, writing under train_dir."""
    cfg = navigation()
    cfg.run = run
    cfg.train_dir = str(train_dir)
    cfg.progress = False
    cfg.total_timesteps = 128 * epochs
    cfg.env.num_envs = 4
    cfg.agent.policy = policy  # type: ignore[assignment]
    cfg.agent.hidden_dim = 32
    cfg.agent.cnn_channels = 8
    cfg.agent.embed_dim = 16
    cfg.agent.num_heads = 2
    cfg.experience.bptt_horizon = 16
    cfg.experience.batch_size = 128
    cfg.experience.minibatch_size = 64
    cfg.checkpoint.checkpoint_interval = 1
    return cfg
