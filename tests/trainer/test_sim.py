"""Evaluation you can trust: eval_policy is reproducible for a seed; `python -m trainer.sim` on presets and on
examples/my_rooms.yaml; --deterministic says what it does and warns when the argmax policy collapses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trainer.train as tt
from mettagrid import MettaGridEnv, load_config
from tiny_run import tiny_config
from trainer import AgentModelConfig, EnvConfig, eval_policy, make_agent, make_environment, save_checkpoint
from trainer.policies import Policy
from trainer.sim import DETERMINISTIC_WARNING, main

ROOT = Path(__file__).resolve().parents[2]
MY_ROOMS = ROOT / "examples" / "my_rooms.yaml"


def _untrained(env: MettaGridEnv, seed: int = 0) -> Policy:
    """A tiny `fast` policy for the env, initialised from `seed`."""
    torch.manual_seed(seed)
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy="fast", hidden_dim=16, cnn_channels=8), feature_spec=env.feature_spec(),
                      obs_window=(env.config.obs_height, env.config.obs_width), action_names=env.action_names())


def test_eval_policy_is_reproducible_for_a_seed() -> None:
    cfg = EnvConfig(preset="navigation", num_envs=4)
    policy = _untrained(make_environment(cfg))
    first = eval_policy(policy, cfg, num_episodes=4, seed=1)["episode_returns"]
    again = eval_policy(policy, cfg, num_episodes=4, seed=1)["episode_returns"]
    other = eval_policy(policy, cfg, num_episodes=4, seed=2)["episode_returns"]
    assert first == again  # sampling was unseeded before: the same seed gave other returns
    assert first != other
    assert sum(first) > 0  # the episodes collected hearts, so equal returns are not all zeros


def _checkpoint(tmp_path: Path, actor_bias: dict[int, float] | None = None) -> Path:
    """An untrained navigation policy saved as run 'tiny' epoch 0; `actor_bias` sets biases of its action logits."""
    policy = _untrained(MettaGridEnv("navigation"))
    with torch.no_grad():
        for action, bias in (actor_bias or {}).items():
            policy.actor.bias[action] = bias
    return save_checkpoint(policy, tmp_path / "tiny" / "checkpoints", epoch=0, run="tiny")


def test_deterministic_warns_and_detects_collapse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path, actor_bias={1: 50.0})  # argmax: always move_forward
    argv = [str(ckpt), "--env", "navigation", "--episodes", "1"]
    assert main(argv + ["--deterministic"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [DETERMINISTIC_WARNING,
                   "warning: navigation: the argmax policy took move_forward in 100% of its actions; it has collapsed, "
                   "so drop --deterministic to evaluate the trained (sampling) policy"]
    assert "argmax of the logits" in DETERMINISTIC_WARNING and "below random" in DETERMINISTIC_WARNING
    assert main(argv) == 0
    assert capsys.readouterr().err == ""  # sampling: no warning
    balanced = _checkpoint(tmp_path / "b")
    assert main([str(balanced), "--env", "navigation", "--episodes", "1", "--deterministic"]) == 0
    assert capsys.readouterr().err.splitlines() == [DETERMINISTIC_WARNING]  # warned, but no collapse

    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--deterministic take the argmax of the logits instead of sampling" in help_text
    assert "navigation, navigation_maze, arena, arena_combat, teams" in help_text


def test_sim_is_reproducible_and_takes_every_kind_of_env(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path)
    argv = [str(ckpt), "--env", "navigation_maze", "--episodes", "2", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "env      navigation_maze, 2 episodes, seed 3" in out
    assert main(argv) == 0
    assert capsys.readouterr().out == out  # the same seed: the same returns, to the printed digit

    assert main([str(ckpt), "--env", "nowhere.yaml"]) == 2
    assert capsys.readouterr().err.startswith("error: --env nowhere.yaml: config 'nowhere.yaml' is neither a preset "
                                              "(navigation, navigation_maze, arena, arena_combat, teams) nor an existing "
                                              "file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_agents: 1\nmax_stepz: 3\n")
    assert main([str(ckpt), "--env", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --env {bad}: ") and "GameConfig" in err and "max_stepz" in err
    assert err.count("\n") == 1


def test_my_rooms_example_evaluates_a_navigation_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    game = load_config(MY_ROOMS)
    nav = MettaGridEnv("navigation")
    rooms = MettaGridEnv(game)
    assert game.num_agents == 3 and game.map_builder.type == "room_grid"
    assert rooms.single_observation_space == nav.single_observation_space
    assert rooms.action_names() == nav.action_names() and rooms.feature_spec() == nav.feature_spec()

    cfg = tiny_config(tmp_path, policy="fast", epochs=1)
    tt.train(cfg)
    monkeypatch.chdir(ROOT / "examples")  # the README's relative path: run from examples/
    assert main([str(cfg.run_dir), "--env", "navigation", "--env", "my_rooms.yaml", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "policy   tiny epoch 1 (128 agent steps)" in out
    assert "env      navigation, 2 episodes" in out and "env      my_rooms, 2 episodes" in out
    assert out.count("trained  mean return") == 2
