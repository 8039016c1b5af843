"""metta-gridworld: a fast C++ multi-agent grid world for reinforcement learning."""

from mettagrid.config import GameConfig, load_config
from mettagrid.env import MettaGridEnv, feature_spec
from mettagrid.presets import PRESETS, arena, arena_combat, make_config, navigation, teams

__all__ = [
    "PRESETS",
    "GameConfig",
    "MettaGridEnv",
    "arena",
    "arena_combat",
    "feature_spec",
    "load_config",
    "make_config",
    "navigation",
    "teams",
]
__version__ = "0.1.0"
