"""Invalid configs are rejected with a pydantic ValidationError whose message names the offending field."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from mettagrid.config import (
    ActionConfig,
    ActionsConfig,
    AgentConfig,
    AgentRewards,
    AsciiMapBuilder,
    AttackActionConfig,
    ConverterConfig,
    GameConfig,
    GroupConfig,
    RandomMapBuilder,
    WallConfig,
    default_objects,
)

MAP = ["#####", "#@.@#", "#####"]


def game(**kw) -> GameConfig:
    kw.setdefault("num_agents", 2)
    kw.setdefault("map_builder", AsciiMapBuilder(map_data=MAP))
    return GameConfig(**kw)


def objects_with(**extra) -> dict:
    objs = default_objects()
    objs.update(extra)
    return objs


def conv(**kw) -> ConverterConfig:
    kw.setdefault("type_id", 20)
    kw.setdefault("char", "c")
    return ConverterConfig(**kw)


CASES = {
    # unknown items, wherever an item is named
    "resource_limits": (lambda: game(agent=AgentConfig(resource_limits={"gold": 5})), ["resource_limits", "gold"]),
    "initial_inventory": (lambda: game(agent=AgentConfig(initial_inventory={"gold": 1})),
                          ["initial_inventory", "gold"]),
    "group_props_limits": (lambda: game(groups={"agent": GroupConfig(id=0, props={"resource_limits": {"gold": 1}})}),
                           ["resource_limits", "gold"]),
    "recipe_input": (lambda: game(objects=objects_with(x=conv(input_resources={"gold": 1}))),
                     ["input_resources", "gold"]),
    "recipe_output": (lambda: game(objects=objects_with(x=conv(output_resources={"gold": 1}))),
                      ["output_resources", "gold"]),
    "reward_item": (lambda: game(agent=AgentConfig(rewards=AgentRewards(inventory={"gold": 1.0}))),
                    ["rewards", "gold"]),
    "reward_item_cap": (lambda: game(agent=AgentConfig(rewards=AgentRewards(inventory={"gold_max": 1.0}))),
                        ["rewards", "gold"]),
    "reward_stat": (lambda: game(agent=AgentConfig(rewards=AgentRewards(stats={"gold.gained": 1.0}))),
                    ["stats", "gold"]),
    "action_required": (lambda: game(actions=ActionsConfig(move=ActionConfig(required_resources={"gold": 1}))),
                        ["required_resources", "gold"]),
    "action_consumed": (lambda: game(actions=ActionsConfig(attack=AttackActionConfig(consumed_resources={"gold": 1}))),
                        ["consumed_resources", "gold"]),
    "defense": (lambda: game(actions=ActionsConfig(attack=AttackActionConfig(defense_resources={"gold": 1}))),
                ["defense_resources", "gold"]),
    # observation window
    "even_width": (lambda: game(obs_width=10), ["obs_width"]),
    "even_height": (lambda: game(obs_height=4), ["obs_height"]),
    "width_too_big": (lambda: game(obs_width=17), ["obs_width"]),
    "height_too_small": (lambda: game(obs_height=1), ["obs_height"]),
    # agents in the map
    "too_many_agents": (lambda: game(num_agents=3), ["num_agents"]),
    "too_few_agents": (lambda: game(num_agents=1), ["num_agents"]),
    "random_map_agents": (lambda: game(num_agents=2, map_builder=RandomMapBuilder(width=8, height=8, agents=3)),
                          ["num_agents"]),
    # negative counts and amounts
    "negative_num_agents": (lambda: game(num_agents=-1), ["num_agents"]),
    "negative_max_steps": (lambda: game(max_steps=-1), ["max_steps"]),
    "negative_limit": (lambda: game(agent=AgentConfig(resource_limits={"ore_red": -1})), ["resource_limits"]),
    "negative_initial": (lambda: game(agent=AgentConfig(initial_inventory={"ore_red": -1})), ["initial_inventory"]),
    "negative_recipe": (lambda: game(objects=objects_with(x=conv(input_resources={"ore_red": -1}))),
                        ["input_resources"]),
    "negative_cooldown": (lambda: game(objects=objects_with(x=conv(cooldown=-1))), ["cooldown"]),
    "negative_freeze": (lambda: game(agent=AgentConfig(freeze_duration=-1)), ["freeze_duration"]),
    "negative_object_count": (lambda: game(num_agents=2, map_builder=RandomMapBuilder(
        width=8, height=8, agents=2, objects={"altar": -1})), ["objects"]),
    "negative_agent_count": (lambda: game(num_agents=2, map_builder=RandomMapBuilder(width=8, height=8, agents=-1)),
                             ["agents"]),
    "zero_tokens": (lambda: game(num_observation_tokens=0), ["num_observation_tokens"]),
    # maps and object types
    "unknown_char": (lambda: game(map_builder=AsciiMapBuilder(map_data=["#####", "#@X@#", "#####"])), ["map", "'X'"]),
    "unknown_object_in_random_map": (lambda: game(map_builder=RandomMapBuilder(
        width=8, height=8, agents=2, objects={"castle": 1})), ["objects", "castle"]),
    "duplicate_type_id": (lambda: game(objects=objects_with(x=conv(type_id=2))), ["objects", re.compile(r"type[ _]ids?")]),
    "duplicate_wall_type_id": (lambda: game(objects=objects_with(x=WallConfig(type_id=8, char="x"))),
                               ["objects", re.compile(r"type[ _]ids?")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_config_is_rejected_naming_the_field(case):
    build, needles = CASES[case]
    with pytest.raises(ValidationError) as exc:
        build()
    msg = str(exc.value)
    for needle in needles:
        if isinstance(needle, re.Pattern):
            assert needle.search(msg), f"{case}: {needle.pattern!r} not in {msg!r}"
        else:
            assert needle in msg, f"{case}: {needle!r} not in {msg!r}"


def test_a_valid_config_passes():
    cfg = game(agent=AgentConfig(resource_limits={"ore_red": 10, "heart": 255}, initial_inventory={"ore_red": 2},
                                 rewards=AgentRewards(inventory={"heart": 1.0, "heart_max": 5.0},
                                                      stats={"heart.gained": 0.1, "heart.gained_max": 1.0})))
    assert cfg.num_agents == 2
