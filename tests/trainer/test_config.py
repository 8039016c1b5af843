"""Configs: defaults, YAML loading, dotted overrides and their errors, the CLI's --help and --list."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mettagrid.resolve import resolve_config
from trainer.config import (
    AgentModelConfig,
    ConfigError,
    EnvConfig,
    PPOConfig,
    TrainerConfig,
    apply_overrides,
    config_help,
    load_trainer_config,
    parse_value,
)
from trainer.env import make_environment, make_game_config
from trainer.recipes import RECIPES, get_recipe
from trainer.train import build_config, main


def test_metta_ppo_defaults() -> None:
    cfg = TrainerConfig()
    assert (cfg.ppo.clip_coef, cfg.ppo.ent_coef, cfg.ppo.gamma, cfg.ppo.gae_lambda) == (0.1, 0.0021, 0.977, 0.916)
    assert (cfg.ppo.vf_coef, cfg.ppo.vf_clip_coef, cfg.ppo.max_grad_norm) == (0.44, 0.1, 0.5)
    assert (cfg.ppo.vtrace_rho_clip, cfg.ppo.vtrace_c_clip) == (1.0, 1.0)
    assert (cfg.optimizer.type, cfg.optimizer.learning_rate, cfg.optimizer.eps) == ("adam", 4.57e-4, 1e-12)
    assert cfg.experience.bptt_horizon == 64


def test_every_field_has_a_description() -> None:
    rows = config_help()
    assert len(rows) > 40
    assert all(doc for _, _, _, doc in rows), [k for k, _, _, d in rows if not d]
    keys = {k for k, *_ in rows}
    assert {"total_timesteps", "ppo.clip_coef", "env.num_envs", "agent.policy", "experience.prio_alpha"} <= keys


def test_unknown_fields_rejected() -> None:
    with pytest.raises(ValidationError, match="clip_coeff"):
        PPOConfig(clip_coeff=0.2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        AgentModelConfig(embed_dim=30, num_heads=4)


def test_parse_value() -> None:
    assert parse_value("1e6") == 1e6 and parse_value("12") == 12 and parse_value("0.2") == 0.2
    assert parse_value("true") is True and parse_value("null") is None and parse_value("[1, 2]") == [1, 2]
    assert parse_value("lstm") == "lstm"


def test_overrides() -> None:
    cfg = apply_overrides(TrainerConfig(), ["trainer.total_timesteps=1e6", "ppo.clip_coef=0.2", "run=abc",
                                            "device=cpu", "env.game.num_agents=4", "agent.policy=fast",
                                            "ppo.target_kl=0.02", "simulation.env.preset=navigation"])
    assert cfg.total_timesteps == 1_000_000 and isinstance(cfg.total_timesteps, int)
    assert cfg.ppo.clip_coef == 0.2 and cfg.run == "abc" and cfg.device == "cpu"
    assert cfg.env.game == {"num_agents": 4} and cfg.agent.policy == "fast" and cfg.ppo.target_kl == 0.02
    assert cfg.simulation.env is not None and cfg.simulation.env.preset == "navigation"
    assert apply_overrides(cfg, {"trainer.ppo.gamma": 0.99}).ppo.gamma == 0.99


@pytest.mark.parametrize("override, message", [
    ("ppo.clip_coeff=0.2", "'ppo.clip_coeff'.*did you mean clip_coef"),
    ("trainer.total_steps=5", "'trainer.total_steps'"),
    ("nosuch.key=1", "'nosuch.key'"),
    ("ppo.clip_coef=-1", "ppo.clip_coef"),
    ("agent.policy=cnn", "agent.policy"),
    ("total_timesteps=1.5", "total_timesteps"),
    ("run", "key=value"),
])
def test_override_errors_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(TrainerConfig(), [override])


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = apply_overrides(TrainerConfig(), ["ppo.clip_coef=0.3", "env.game.size=11"])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_trainer_config(path) == cfg
    wrapped = tmp_path / "w.yaml"
    wrapped.write_text(yaml.safe_dump({"trainer": {"ppo": {"gamma": 0.5}}}))
    assert TrainerConfig.from_yaml(wrapped).ppo.gamma == 0.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"ppo": {"gama": 0.5}}))
    with pytest.raises(ConfigError, match=r"bad\.yaml.*unknown key 'ppo\.gama'"):
        load_trainer_config(bad)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_trainer_config(tmp_path / "missing.yaml")


def test_recipes() -> None:
    assert {"navigation", "arena", "arena_combat"} <= set(RECIPES)
    for name in RECIPES:
        cfg = get_recipe(name)
        assert isinstance(cfg, TrainerConfig)
        make_game_config(cfg.env)
    assert get_recipe("trainer.recipes:navigation").run == "navigation"
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        get_recipe("nope")
    assert build_config("navigation", ["run=x"]).run == "x"


def test_env_config_overrides() -> None:
    env = make_environment(EnvConfig(game={"num_agents": 4, "max_steps": 50}, num_envs=2))
    assert env.num_agents == 8 and env.config.max_steps == 50
    env = make_environment(EnvConfig(), num_agents=2, num_envs=3, size=11)
    assert env.num_agents == 6
    with pytest.raises(ConfigError, match="num_agents"):
        make_environment(EnvConfig(game={"num_agents": 9}))
    with pytest.raises(ConfigError, match="nosuchfield"):
        make_environment(EnvConfig(game={"nosuchfield": 1}))
    with pytest.raises(ConfigError, match="neither a preset"):
        make_environment(EnvConfig(preset="nowhere"))
    game = {"size": 11, "obs_width": 7, "agent": {"freeze_duration": 3}}  # preset arguments and fields, as mettagrid
    assert make_game_config(EnvConfig(preset="navigation", game=game, desync_episodes=False)) == resolve_config(
        "navigation", game)
    assert make_game_config(EnvConfig(preset="navigation", game=game)) == resolve_config(
        "navigation", {**game, "desync_episodes": True})  # training envs desync their first episodes
    with pytest.raises(ConfigError, match="env.preset = 'navigation' with env.game = {'bogus': 1}: .*bogus"):
        make_game_config(EnvConfig(preset="navigation", game={"bogus": 1}))


def test_cli_list_help_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "navigation" in out and "arena_combat" in out
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "ppo.clip_coef" in out and "Policy ratio clip range" in out and "experience.bptt_horizon" in out
    assert main(["navigation", "run=x", "ppo.clip_coeff=1"]) == 2
    assert "ppo.clip_coeff" in capsys.readouterr().err


def test_trainer_config_yaml_bomb_is_refused(tmp_path: Path) -> None:
    from trainer.config import ConfigError, load_trainer_config

    text = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bomb\.yaml: cannot read config: .*expands to more than"):
        load_trainer_config(path)
