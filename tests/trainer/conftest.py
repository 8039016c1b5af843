"""Shared fixtures: one torch thread (fast and stable on small shared CPUs) and a tiny training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tiny_run import tiny_config
from trainer.config import TrainerConfig


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def tiny(tmp_path: Path) -> TrainerConfig:
    """A tiny navigation config writing under tmp_path."""
    return tiny_config(tmp_path)
