"""Run names are data: one plain folder name under train_dir, never a path out of it; a good name trains and resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import trainer.train as tt
from tiny_run import tiny_config
from trainer import EnvConfig, load_policy, make_agent, make_environment, save_checkpoint
from trainer.checkpoint import parse_checkpoint_name
from trainer.config import ConfigError, TrainerConfig, apply_overrides, load_trainer_config
from trainer.names import check_run_name, path_inside

BAD_NAMES = ["../../x", "/abs/path", "..", ".", "a/b", "a/../../b", "a\\b", ".hidden", "a..b", "x" * 129, "a\x00b",
             "a b", "run\n", "tab\there", "ünï"]
RULE = "letters, digits, '.', '_' or '-'"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_run_names_are_refused_naming_the_field_value_and_rule(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainerConfig(), {"run": name})
    message = str(err.value)
    assert "run" in message and repr(name)[:40] in message and RULE in message
    with pytest.raises(ValidationError, match="is not a valid run name"):
        TrainerConfig(run=name)
    cfg = TrainerConfig()
    with pytest.raises(ValidationError, match="is not a valid run name"):
        cfg.run = name  # validate_assignment: a config cannot be pointed outside train_dir afterwards
    assert cfg.run == "run"
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(yaml.safe_dump({"run": name}))
    with pytest.raises(ConfigError, match=r"c\.yaml: run: .*is not a valid run name"):
        load_trainer_config(yaml_file)


def test_empty_and_non_string_names() -> None:
    with pytest.raises(ConfigError, match="run"):
        apply_overrides(TrainerConfig(), ["run="])
    with pytest.raises(ValidationError, match="run"):
        TrainerConfig(run="")
    with pytest.raises(ValueError, match="must be a string"):
        check_run_name(5)


def test_the_command_refuses_an_escaping_run_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    train_dir = tmp_path / "a" / "train_dir"
    monkeypatch.chdir(tmp_path)
    for name in ("../../escaped", str(tmp_path / "absolute"), ".."):
        assert tt.main(["navigation", f"run={name}", f"train_dir={train_dir}", "device=cpu"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: invalid override: run: ") and RULE in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing written anywhere


def test_path_inside() -> None:
    assert path_inside("train_dir/r/replays", "r:v3.html") == Path("train_dir/r/replays/r:v3.html")
    for name in ("../x.html", "/etc/x.html", "a/../../x.html", "."):
        with pytest.raises(ValueError, match="outside"):
            path_inside("train_dir/r/replays", name)


def test_save_checkpoint_refuses_a_run_that_escapes(tmp_path: Path) -> None:
    env = make_environment(EnvConfig(num_envs=1))
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu", hidden_dim=8,
                       cnn_channels=4, policy="fast", feature_spec=env.feature_spec())
    inner = tmp_path / "inner" / "checkpoints"
    for run in ("../../evil", "/abs/evil", "a/b"):
        with pytest.raises(ValueError, match="not a valid run name"):
            save_checkpoint(agent, inner, 1, run=run)
    assert not list(tmp_path.rglob("*evil*")) and not (tmp_path / "inner").exists()


def test_a_good_name_trains_and_resumes(tmp_path: Path) -> None:
    name = "My-run_1.v2"
    first = tiny_config(tmp_path, run=name, policy="fast", epochs=1)
    tt.train(first)
    again = tiny_config(tmp_path, run=name, policy="fast", epochs=2)
    result = tt.train(again)
    assert result["epoch"] == 2
    files = sorted(p.name for p in (tmp_path / name / "checkpoints").iterdir())
    assert files == [f"{name}:v1.safetensors", f"{name}:v2.safetensors", "trainer_state.pt"]
    assert parse_checkpoint_name(files[1]) == (name, 2)
    assert load_policy(result["policy_uri"]).checkpoint_metadata["run"] == name
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
