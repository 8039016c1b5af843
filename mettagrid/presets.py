"""Ready-made games, as plain functions returning a GameConfig."""

from __future__ import annotations

from typing import Any, Callable, Literal

from mettagrid.config import (
    ActionsConfig,
    AgentConfig,
    AgentRewards,
    ConverterConfig,
    GameConfig,
    GroupConfig,
    MazeMapBuilder,
    RandomMapBuilder,
    RoomGridMapBuilder,
    default_objects,
)

__all__ = ["PRESETS", "arena", "arena_combat", "make_config", "navigation", "navigation_maze", "teams"]


def navigation(
    num_agents: int = 1,
    layout: Literal["room", "maze"] = "room",
    size: int = 15,
    num_altars: int = 3,
    max_steps: int = 200,
) -> GameConfig:
    """1-4 agents find altars that pay a heart (reward 1) in an open room or a maze."""
    if not 1 <= num_agents <= 4:
        raise ValueError(f"navigation: num_agents = {num_agents}, expected 1..4")
    objects = default_objects()
    objects["altar"] = ConverterConfig(type_id=8, char="_", output_resources={"heart": 1}, cooldown=20,
                                       initial_resource_count=1, color=4)
    if layout == "maze":
        builder: Any = MazeMapBuilder(width=size, height=size, objects={"altar": num_altars}, agents=num_agents)
    else:
        builder = RandomMapBuilder(width=size, height=size, objects={"altar": num_altars, "wall": size // 2},
                                   agents=num_agents)
    actions = ActionsConfig()
    for family in ("put_items", "attack", "swap", "change_color"):
        getattr(actions, family).enabled = False
    return GameConfig(
        num_agents=num_agents,
        max_steps=max_steps,
        actions=actions,
        objects=objects,
        agent=AgentConfig(rewards=AgentRewards(inventory={"heart": 1.0})),
        map_builder=builder,
    )


def navigation_maze(num_agents: int = 1, size: int = 15, num_altars: int = 3, max_steps: int = 200) -> GameConfig:
    """Navigation in a maze: the altars are out of sight, so memory matters (`navigation(layout="maze")`)."""
    return navigation(num_agents=num_agents, layout="maze", size=size, num_altars=num_altars, max_steps=max_steps)


def _arena_room(extra: dict[str, int] | None = None) -> RandomMapBuilder:
    objects = {"mine_red": 10, "generator_red": 5, "altar": 5, "block": 20, "wall": 20}
    objects.update(extra or {})
    return RandomMapBuilder(width=25, height=25, border_width=0, objects=objects, agents=6)


def _arena_rewards() -> AgentRewards:
    return AgentRewards(inventory={"heart": 1.0, "ore_red": 0.01, "ore_red_max": 0.1, "battery_red": 0.1,
                                   "battery_red_max": 0.5})


def arena(max_steps: int = 1000) -> GameConfig:
    """24 agents in 4 rooms of 25 x 25: mine ore, make batteries, turn them into hearts at altars."""
    actions = ActionsConfig()
    actions.attack.enabled = False
    return GameConfig(
        num_agents=24,
        max_steps=max_steps,
        actions=actions,
        agent=AgentConfig(rewards=_arena_rewards()),
        map_builder=RoomGridMapBuilder(rows=2, cols=2, room=_arena_room()),
    )


def arena_combat(max_steps: int = 1000) -> GameConfig:
    """The arena plus a lasery and an armory per room; attacking costs a laser, armor blocks one."""
    return GameConfig(
        num_agents=24,
        max_steps=max_steps,
        agent=AgentConfig(rewards=_arena_rewards()),
        map_builder=RoomGridMapBuilder(rows=2, cols=2, room=_arena_room({"lasery": 1, "armory": 1})),
    )


def teams(agents_per_team: int = 4, group_reward_pct: float = 0.5, max_steps: int = 1000) -> GameConfig:
    """Two teams (red, blue) share a room; each member gives `group_reward_pct` of its reward to its team."""
    room = RandomMapBuilder(
        width=25, height=25,
        objects={"mine_red": 8, "generator_red": 4, "altar": 4, "lasery": 1, "armory": 1, "wall": 20},
        agents={"red": agents_per_team, "blue": agents_per_team},
    )
    return GameConfig(
        num_agents=2 * agents_per_team,
        max_steps=max_steps,
        groups={"red": GroupConfig(id=1, group_reward_pct=group_reward_pct),
                "blue": GroupConfig(id=2, group_reward_pct=group_reward_pct)},
        agent=AgentConfig(rewards=_arena_rewards()),
        map_builder=room,
    )


PRESETS: dict[str, Callable[..., GameConfig]] = {
    "navigation": navigation,
    "navigation_maze": navigation_maze,
    "arena": arena,
    "arena_combat": arena_combat,
    "teams": teams,
}


def make_config(name: str, **kwargs: Any) -> GameConfig:
    """Builds a preset by name, passing keyword arguments to its function."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {sorted(PRESETS)}")
    return PRESETS[name](**kwargs)
