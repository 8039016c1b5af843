"""One resolver from a preset name, a GameConfig, a dict or a file to a GameConfig, used by the env, the adapters,
the curricula and the trainer (tests/trainer/test_config.py) alike."""

from __future__ import annotations

from pathlib import Path

import pytest

import mettagrid
from mettagrid import MettaGridEnv, make_config, navigation
from mettagrid.curriculum import SingleTaskCurriculum
from mettagrid.resolve import resolve_config


def test_every_kind_of_source(tmp_path: Path) -> None:
    cfg = make_config("navigation", size=11)
    path = tmp_path / "nav.json"
    path.write_text(cfg.model_dump_json())
    assert resolve_config(cfg) is cfg
    assert resolve_config("navigation", {"size": 11}) == cfg
    assert resolve_config(cfg.model_dump()) == cfg
    assert resolve_config(path) == cfg == resolve_config(str(path))
    with pytest.raises(ValueError, match="'nowhere' is neither a preset .* nor an existing file"):
        resolve_config("nowhere")


def test_overrides_go_to_the_preset_function_or_to_fields() -> None:
    cfg = resolve_config("navigation", {"size": 11, "obs_width": 7, "agent": {"freeze_duration": 3}})
    assert cfg.map_builder.width == 11 and cfg.obs_width == 7
    assert cfg.agent.freeze_duration == 3 and cfg.agent.rewards.inventory == {"heart": 1.0}  # merged, not replaced
    assert resolve_config(navigation(), {"max_steps": 9}).max_steps == 9  # fields of any source
    with pytest.raises(TypeError, match=r"preset 'teams': unknown option\(s\) \['bogus'\].*agents_per_team"):
        resolve_config("teams", {"bogus": 1})
    with pytest.raises(TypeError, match=r"config: unknown option\(s\) \['bogus'\]"):
        resolve_config(navigation(), {"bogus": 1})
    with pytest.raises(ValueError, match="preset 'navigation' rejected its arguments {'num_agents': 9}"):
        resolve_config("navigation", {"num_agents": 9})
    with pytest.raises(ValueError, match="obs_width"):
        resolve_config("navigation", {"obs_width": 4})


def test_every_caller_resolves_alike() -> None:
    expected = resolve_config("navigation", {"size": 11, "obs_width": 7})
    assert MettaGridEnv(expected).config == expected
    assert mettagrid.MettaGridGymEnv("navigation", size=11, obs_width=7).config == expected
    assert SingleTaskCurriculum("navigation").task.config == navigation()
