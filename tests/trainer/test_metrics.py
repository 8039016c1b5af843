"""Progress that reads right: what the numbers count, the percentage capped at 100, and the time left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_run import tiny_config
from trainer.metrics import MetricsLogger


def _logger(tmp_path: Path, total: int, world_size: int = 1, num_envs: int = 4,
            agents_per_game: int | None = 1) -> MetricsLogger:
    cfg = tiny_config(tmp_path)
    cfg.total_timesteps = total
    cfg.env.num_envs = num_envs
    return MetricsLogger(cfg, world_size=world_size, agents_per_game=agents_per_game)


def test_header_says_what_a_step_counts(tmp_path: Path) -> None:
    logger = _logger(tmp_path, 1000, world_size=2, num_envs=64)
    assert logger.layout() == "2 ranks x 64 games x 1 agent = 128 agent rows"
    assert logger._header() == ("tiny  2 ranks x 64 games x 1 agent = 128 agent rows  epoch 0  agent steps 0/1,000 "
                                "(0.0%)  - steps/s  ETA -")
    assert _logger(tmp_path, 10, num_envs=1, agents_per_game=24).layout() == "1 rank x 1 game x 24 agents = 24 agent rows"
    assert _logger(tmp_path, 10, agents_per_game=None).layout() == "1 rank x 4 games"
    with pytest.raises(ValueError, match="world_size = 0"):
        _logger(tmp_path, 10, world_size=0)


def test_overshoot_shows_100_percent_and_done(tmp_path: Path) -> None:
    logger = _logger(tmp_path, 1000)
    logger.log({"epoch": 10, "agent_step": 1280, "sps": 640.0, "episode_return": 1.5, "episode_length": 200.0,
                "policy_loss": 0.01, "value_loss": 0.2, "entropy": 2.07})
    assert logger._header() == ("tiny  1 rank x 4 games x 1 agent = 4 agent rows  epoch 10  agent steps 1,280/1,000 "
                                "(100.0%)  640 steps/s  ETA done")
    assert logger._line() == ("tiny  epoch 10  agent steps 1,280/1,000 (100.0%)  640 steps/s  ETA done  "
                              "episode reward 1.500  episode length 200.0  policy loss 0.0100  value loss 0.2000  "
                              "entropy 2.070")
    logger.close()


@pytest.mark.parametrize(("step", "sps", "eta"), [
    (250, 25.0, "30s"),  # 750 steps left at 25/s
    (0, 5.4, "3m 05s"),  # 1000 / 5.4 = 185.2 s
    (999, 1e6, "0s"),
    (100, 1 / 9, "2h 15m"),  # 900 steps at one per 9 s: 8100 s
])
def test_eta_from_steps_per_second(tmp_path: Path, step: int, sps: float, eta: str) -> None:
    logger = _logger(tmp_path, 1000)
    logger.log({"epoch": 1, "agent_step": step, "sps": sps})
    assert logger._line().split("  ")[4] == f"ETA {eta}"
    logger.close()


def test_each_loss_shows_its_value_and_weight(tmp_path: Path) -> None:
    from rich.console import Console

    logger = _logger(tmp_path, 1000, world_size=1, num_envs=4)
    logger.latest.update({"agent_step": 10, "loss/ppo": 0.25, "loss/ppo/weight": 1.0,
                          "loss/action_supervised": 0.6931, "loss/action_supervised/weight": 0.1,
                          "loss/action_supervised/accuracy": 0.5})
    assert logger.loss_rows() == [("loss action_supervised", "0.6931 x 0.1"), ("loss ppo", "0.2500 x 1")]
    assert "loss action_supervised 0.6931 x 0.1" in logger._line() and "loss ppo" not in logger._line()
    console = Console(record=True, width=120)
    console.print(logger._render())
    text = console.export_text()
    assert "loss action_supervised" in text and "0.6931 x 0.1" in text and "0.2500 x 1" in text
