"""Evaluation suites: plain functions returning {sim name: EnvConfig}, as recipes return a TrainerConfig.

    python -m trainer.evaluate navigation policy_uris=file://train_dir/a/checkpoints,random

evaluates every policy on every sim of a suite (trainer.evaluate_many). `get_suite` takes a suite name from
SUITES, a recipe name (its `simulation` sims: the suite, else the evaluation env, else the training env) or
`package.module:function` for your own, returning a suite (EnvConfig, GameConfig or preset name per sim) or a
TrainerConfig (its sims). The sims of one suite keep the observations and actions of their family, so one
policy plays all of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Callable

from mettagrid.config import GameConfig

from trainer.config import EnvConfig, TrainerConfig
from trainer.recipes import RECIPES, load_function

__all__ = ["SUITES", "Sim", "arena", "describe_suites", "get_suite", "navigation"]

Sim = EnvConfig | GameConfig | str
"""What a suite maps a sim name to: an EnvConfig, a GameConfig, or a mettagrid preset name / GameConfig file."""


def navigation() -> dict[str, EnvConfig]:
    """One agent finding altars in open rooms of 11, 15 and 21 cells and in 15 x 15 and 21 x 21 mazes."""
    return {
        "room11": EnvConfig(preset="navigation", game={"size": 11}),
        "room15": EnvConfig(preset="navigation", game={"size": 15}),
        "room21": EnvConfig(preset="navigation", game={"size": 21}),
        "maze15": EnvConfig(preset="navigation", game={"layout": "maze", "size": 15}),
        "maze21": EnvConfig(preset="navigation", game={"layout": "maze", "size": 21}),
    }


def arena() -> dict[str, EnvConfig]:
    """The 24-agent arena as trained, with one altar and four mines per room (scarce), and with no walls or blocks."""
    return {
        "arena": EnvConfig(preset="arena"),
        "arena_scarce": EnvConfig(preset="arena", game={"map_builder": {"room": {"objects": {"altar": 1,
                                                                                              "mine_red": 4}}}}),
        "arena_open": EnvConfig(preset="arena", game={"map_builder": {"room": {"objects": {"wall": 0, "block": 0}}}}),
    }


SUITES: dict[str, Callable[[], dict[str, EnvConfig]]] = {
    "navigation": navigation,
    "arena": arena,
}


def _checked(suite: object, source: str) -> dict[str, Sim]:
    """`suite` as {name: sim}, or ValueError naming `source`, the bad entry and what was expected."""
    if isinstance(suite, TrainerConfig):
        return dict(suite.simulation.sims(suite.env))
    if not isinstance(suite, Mapping):
        raise ValueError(f"suite {source!r} returned {type(suite).__name__}, expected a dict of sim name -> "
                         "EnvConfig, GameConfig or preset name (or a TrainerConfig)")
    if not suite:
        raise ValueError(f"suite {source!r} is empty; give at least one sim")
    out: dict[str, Sim] = {}
    for name, sim in suite.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"suite {source!r}: sim name {name!r} is not a non-empty string")
        if not isinstance(sim, (EnvConfig, GameConfig, str)):
            raise ValueError(f"suite {source!r}: sim {name!r} is a {type(sim).__name__}, expected an EnvConfig, "
                             "GameConfig or preset name")
        out[name] = sim
    return out


def get_suite(name: str) -> dict[str, Sim]:
    """The sims of a suite: a name from SUITES, a recipe name (its simulation sims), or `module:function`."""
    if name in SUITES:
        return SUITES[name]()
    if name in RECIPES:
        return _checked(RECIPES[name](), name)
    if ":" in name:
        fn = load_function(name, "suite")
        if not callable(fn):
            raise ValueError(f"suite {name!r} is a {type(fn).__name__}, expected a function returning a suite")
        return _checked(fn(), name)
    raise ValueError(f"unknown suite {name!r}; suites: {', '.join(SUITES)}; recipes (their evaluation sims): "
                     f"{', '.join(RECIPES)}; or package.module:function")


def describe_suites() -> dict[str, str]:
    """Suite name -> the first line of its docstring."""
    return {name: (inspect.getdoc(fn) or "").splitlines()[0] for name, fn in SUITES.items()}
