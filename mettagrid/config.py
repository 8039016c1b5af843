"""Typed configuration of a game: items, objects, actions, agents, groups, rewards, observations, maps; and its
validation. The translation into the core's spec is mettagrid.spec_builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mettagrid import _core
from mettagrid.spec_builder import build_spec

__all__ = [
    "DEFAULT_ITEMS",
    "ActionConfig",
    "ActionsConfig",
    "AgentConfig",
    "AgentRewards",
    "AsciiMapBuilder",
    "AttackActionConfig",
    "ChangeGlyphActionConfig",
    "ConverterConfig",
    "GameConfig",
    "GlobalObsConfig",
    "GroupConfig",
    "MapBuilder",
    "MazeMapBuilder",
    "RandomMapBuilder",
    "RoomGridMapBuilder",
    "WallConfig",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "deep_merge",
    "default_objects",
    "load_config",
    "load_yaml",
]

# Limits on config files: their size, and how many values their YAML expands to (aliases repeat whole subtrees,
# so a few hundred bytes can otherwise expand to gigabytes).
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_CONFIG_NODES = 1_000_000

DEFAULT_ITEMS: list[str] = [
    "ore_red",
    "ore_blue",
    "ore_green",
    "battery_red",
    "battery_blue",
    "battery_green",
    "heart",
    "armor",
    "laser",
    "blueprint",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ------------------------------------------------------------------ objects


class ConverterConfig(_Model):
    """A converter: consumes input items when a conversion starts, adds outputs when it ends."""

    kind: Literal["converter"] = Field("converter", description="Object kind.")
    type_id: int = Field(..., ge=1, le=255, description="Type id shown in observations (0 is the agent).")
    char: str | None = Field(None, min_length=1, max_length=1, description="Map character for ascii maps.")
    input_resources: dict[str, int] = Field(default_factory=dict, description="Items consumed per conversion.")
    output_resources: dict[str, int] = Field(default_factory=dict, description="Items produced per conversion.")
    conversion_ticks: int = Field(1, ge=1, description="Steps from the start of a conversion to its output.")
    cooldown: int = Field(0, ge=0, description="Steps to wait after a conversion before the next may start.")
    max_output: int = Field(-1, ge=-1, le=255, description="No conversion starts while this many outputs are held (-1: no limit).")
    initial_resource_count: int = Field(0, ge=0, le=255, description="Units of each output held at the start.")
    color: int = Field(0, ge=0, le=255, description="Colour shown in observations.")

    @field_validator("input_resources", "output_resources")
    @classmethod
    def _amounts(cls, v: dict[str, int]) -> dict[str, int]:
        for item, n in v.items():
            if not 0 <= n <= 255:
                raise ValueError(f"amount of {item!r} is {n}, expected 0..255")
        return v


class WallConfig(_Model):
    """A wall: blocks movement; a swappable wall (a block) can be pushed by `swap`."""

    kind: Literal["wall"] = Field("wall", description="Object kind.")
    type_id: int = Field(..., ge=1, le=255, description="Type id shown in observations (0 is the agent).")
    char: str | None = Field(None, min_length=1, max_length=1, description="Map character for ascii maps.")
    swappable: bool = Field(False, description="Whether `swap` can exchange places with it.")


ObjectConfig = Annotated[Union[ConverterConfig, WallConfig], Field(discriminator="kind")]


def _conv(type_id: int, char: str, inp: dict[str, int], out: dict[str, int], cooldown: int, color: int) -> ConverterConfig:
    return ConverterConfig(type_id=type_id, char=char, input_resources=inp, output_resources=out, cooldown=cooldown, color=color)


def default_objects() -> dict[str, ConverterConfig | WallConfig]:
    """The default object types of GAME.md, keyed by name."""
    return {
        "wall": WallConfig(type_id=1, char="#"),
        "mine_red": _conv(2, "m", {}, {"ore_red": 1}, 50, 1),
        "mine_blue": _conv(3, "b", {}, {"ore_blue": 1}, 50, 2),
        "mine_green": _conv(4, "g", {}, {"ore_green": 1}, 50, 3),
        "generator_red": _conv(5, "n", {"ore_red": 1}, {"battery_red": 1}, 25, 1),
        "generator_blue": _conv(6, "B", {"ore_blue": 1}, {"battery_blue": 1}, 25, 2),
        "generator_green": _conv(7, "G", {"ore_green": 1}, {"battery_green": 1}, 25, 3),
        "altar": _conv(8, "_", {"battery_red": 3}, {"heart": 1}, 10, 4),
        "armory": _conv(9, "o", {"ore_red": 3}, {"armor": 1}, 10, 5),
        "lasery": _conv(10, "S", {"ore_red": 1, "battery_red": 2}, {"laser": 1}, 10, 6),
        "lab": _conv(11, "L", {"ore_red": 3, "battery_red": 3}, {"blueprint": 1}, 5, 7),
        "factory": _conv(12, "F", {"blueprint": 1, "ore_red": 5, "battery_red": 5}, {"armor": 5, "laser": 5}, 5, 8),
        "temple": _conv(13, "T", {"heart": 1, "blueprint": 1}, {"heart": 5}, 5, 9),
        "block": WallConfig(type_id=14, char="s", swappable=True),
    }


# ------------------------------------------------------------------ actions


class ActionConfig(_Model):
    """An action family: whether it is enabled and the items it needs and spends."""

    enabled: bool = Field(True, description="Whether the action family is in the action list.")
    required_resources: dict[str, int] = Field(default_factory=dict, description="Items an agent must hold to act.")
    consumed_resources: dict[str, int] = Field(default_factory=dict, description="Items spent when the action succeeds.")


class AttackActionConfig(ActionConfig):
    """Attack: freezes the target and steals its inventory unless it holds the defense resources."""

    consumed_resources: dict[str, int] = Field(default_factory=lambda: {"laser": 1}, description="Items spent per attack.")
    defense_resources: dict[str, int] = Field(default_factory=lambda: {"armor": 1}, description="Items that block an attack.")


class ChangeGlyphActionConfig(ActionConfig):
    """Glyph actions: one action per glyph value."""

    enabled: bool = Field(False, description="Whether the glyph actions are in the action list.")
    number_of_glyphs: int = Field(4, ge=1, le=255, description="Number of change_glyph_<g> actions.")


def _off() -> ActionConfig:
    return ActionConfig(enabled=False)


class ActionsConfig(_Model):
    """The enabled actions; the action list keeps this canonical order with noop at index 0."""

    noop: ActionConfig = Field(default_factory=ActionConfig, description="Do nothing (always enabled).")
    move: ActionConfig = Field(default_factory=ActionConfig, description="move_forward, move_back.")
    rotate: ActionConfig = Field(default_factory=ActionConfig, description="rotate_up/down/left/right.")
    move_cardinal: ActionConfig = Field(default_factory=_off, description="move_north/south/west/east.")
    put_items: ActionConfig = Field(default_factory=ActionConfig, description="Put recipe inputs into the converter in front.")
    get_items: ActionConfig = Field(default_factory=ActionConfig, description="Take outputs from the converter in front.")
    attack: AttackActionConfig = Field(default_factory=AttackActionConfig, description="attack_0 .. attack_8.")
    swap: ActionConfig = Field(default_factory=ActionConfig, description="Swap with a block or frozen agent in front.")
    change_color: ActionConfig = Field(default_factory=ActionConfig, description="change_color_inc/dec/inc_big/dec_big.")
    change_glyph: ChangeGlyphActionConfig = Field(default_factory=ChangeGlyphActionConfig, description="change_glyph_<g>.")

    @field_validator("noop")
    @classmethod
    def _noop_enabled(cls, v: ActionConfig) -> ActionConfig:
        if not v.enabled:
            raise ValueError("noop cannot be disabled: it is always action 0")
        return v

    def entries(self) -> list[tuple[str, str, int]]:
        """(name, family, arg) for every enabled action, in canonical order."""
        out: list[tuple[str, str, int]] = [("noop", "noop", 0)]
        if self.move.enabled:
            out += [("move_forward", "move", 0), ("move_back", "move", 1)]
        if self.rotate.enabled:
            out += [(f"rotate_{d}", "rotate", i) for i, d in enumerate(("up", "down", "left", "right"))]
        if self.move_cardinal.enabled:
            out += [(f"move_{d}", "move_cardinal", i) for i, d in enumerate(("north", "south", "west", "east"))]
        if self.put_items.enabled:
            out.append(("put_items", "put_items", 0))
        if self.get_items.enabled:
            out.append(("get_items", "get_items", 0))
        if self.attack.enabled:
            out += [(f"attack_{k}", "attack", k) for k in range(9)]
        if self.swap.enabled:
            out.append(("swap", "swap", 0))
        if self.change_color.enabled:
            out += [("change_color_inc", "change_color", 1), ("change_color_dec", "change_color", -1),
                    ("change_color_inc_big", "change_color", 63), ("change_color_dec_big", "change_color", -63)]
        if self.change_glyph.enabled:
            out += [(f"change_glyph_{g}", "change_glyph", g) for g in range(self.change_glyph.number_of_glyphs)]
        return out


# ------------------------------------------------------------------ agents and groups


class AgentRewards(_Model):
    """Rewards: `inventory.<item>` per unit gained since the episode's start (negative on loss) and `stats.<stat>`
    per unit of a stat; `<name>_max` caps each one's total contribution over the episode."""

    inventory: dict[str, float] = Field(default_factory=dict, description="Reward per unit of an item gained relative to the episode's starting inventory, and `<item>_max` caps its total.")
    stats: dict[str, float] = Field(default_factory=dict, description="Reward per unit of an agent stat, and `<stat>_max` caps.")


class AgentConfig(_Model):
    """Properties every agent shares unless its group overrides them."""

    default_resource_limit: int = Field(50, ge=0, le=255, description="Inventory limit for items not in resource_limits.")
    resource_limits: dict[str, int] = Field(default_factory=lambda: {"heart": 255}, description="Per-item inventory limits.")
    initial_inventory: dict[str, int] = Field(default_factory=dict, description="Items each agent starts with.")
    freeze_duration: int = Field(10, ge=0, description="Steps an agent stays frozen after a successful attack.")
    action_failure_penalty: float = Field(0.0, ge=0, description="Reward subtracted once per failed action.")
    rewards: AgentRewards = Field(default_factory=AgentRewards, description="Inventory and stat rewards.")


class GroupConfig(_Model):
    """A team: its id, how much of each member's reward is shared, and per-group agent overrides."""

    id: int = Field(..., ge=0, le=255, description="Group id (observed as agent:group; map char `@` is 0, `1`..`9` are 1..9).")
    group_reward_pct: float = Field(0.0, ge=0.0, le=1.0, description="Share of each member's reward split over the group.")
    props: dict[str, Any] = Field(default_factory=dict, description="AgentConfig fields overridden for this group.")


class GlobalObsConfig(_Model):
    """Which global tokens (at the global location) are written first in every observation."""

    episode_completion_pct: bool = Field(True, description="round(255 * step / max_steps).")
    last_action: bool = Field(True, description="The agent's last action index.")
    last_reward: bool = Field(True, description="The agent's last reward * 100, clamped to 0..255.")


# ------------------------------------------------------------------ maps


class AsciiMapBuilder(_Model):
    """A fixed layout from rows of map characters, inline or from a file."""

    type: Literal["ascii"] = Field("ascii", description="Builder kind.")
    map_data: list[str] | None = Field(None, description="Rows of the map, top row first.")
    map_file: str | None = Field(None, description="A text file with the rows.")
    legend: dict[str, str] = Field(default_factory=dict,
                                   description="Extra or overriding chars: an object name, 'empty', or 'agent.<group>'.")

    @model_validator(mode="after")
    def _one_source(self) -> "AsciiMapBuilder":
        if (self.map_data is None) == (self.map_file is None):
            raise ValueError("give exactly one of map_data and map_file")
        return self

    def rows(self) -> list[str]:
        """The map rows, read from the file if one was given."""
        if self.map_data is not None:
            rows = list(self.map_data)
        else:
            rows = Path(self.map_file).read_text().splitlines()  # type: ignore[arg-type]
        rows = [r for r in rows if r.strip() != ""] if rows and rows[-1].strip() == "" else rows
        return rows

    def size(self) -> tuple[int, int]:
        """(height, width) of the map; shorter rows are padded with empty cells."""
        rows = self.rows()
        return len(rows), max((len(r) for r in rows), default=0)


class RandomMapBuilder(_Model):
    """An open room with a wall border; objects and agents on random free cells."""

    type: Literal["random"] = Field("random", description="Builder kind.")
    width: int = Field(..., ge=1, le=_core.MAX_MAP_SIDE, description="Width including the border.")
    height: int = Field(..., ge=1, le=_core.MAX_MAP_SIDE, description="Height including the border.")
    border_width: int = Field(1, ge=0, le=64, description="Wall border thickness.")
    objects: dict[str, int] = Field(default_factory=dict, description="Count of each object type to place.")
    agents: int | dict[str, int] = Field(0, description="Agents to place: a count (first group) or counts per group name.")

    def size(self) -> tuple[int, int]:
        """(height, width) of the map."""
        return self.height, self.width

    def free_cells(self) -> int:
        """Cells inside the border, where objects and agents are placed."""
        return max(0, self.width - 2 * self.border_width) * max(0, self.height - 2 * self.border_width)


class MazeMapBuilder(_Model):
    """A perfect maze (Prim's or Kruskal's algorithm) with objects and agents in its corridors."""

    type: Literal["maze"] = Field("maze", description="Builder kind.")
    width: int = Field(..., ge=3, le=_core.MAX_MAP_SIDE, description="Width including the outer wall.")
    height: int = Field(..., ge=3, le=_core.MAX_MAP_SIDE, description="Height including the outer wall.")
    algorithm: Literal["prim", "kruskal"] = Field("prim", description="Maze generation algorithm.")
    objects: dict[str, int] = Field(default_factory=dict, description="Count of each object type to place.")
    agents: int | dict[str, int] = Field(0, description="Agents to place: a count (first group) or counts per group name.")

    def size(self) -> tuple[int, int]:
        """(height, width) of the map."""
        return self.height, self.width

    def free_cells(self) -> int:
        """Corridor cells of the maze, where objects and agents are placed."""
        return 2 * ((self.width - 1) // 2) * ((self.height - 1) // 2) - 1


class RoomGridMapBuilder(_Model):
    """Rooms laid out in a grid with wall borders between and around them."""

    type: Literal["room_grid"] = Field("room_grid", description="Builder kind.")
    rows: int = Field(1, ge=1, le=64, description="Rows of rooms.")
    cols: int = Field(1, ge=1, le=64, description="Columns of rooms.")
    border_width: int = Field(1, ge=0, le=64, description="Wall thickness between and around rooms.")
    room: "MapBuilder | None" = Field(None, description="One builder used for every room.")
    rooms: "list[MapBuilder] | None" = Field(None, description="One builder per room, row by row.")

    @model_validator(mode="after")
    def _rooms(self) -> "RoomGridMapBuilder":
        if (self.room is None) == (self.rooms is None):
            raise ValueError("give exactly one of room and rooms")
        if self.rooms is not None and len(self.rooms) != self.rows * self.cols:
            raise ValueError(f"rooms has {len(self.rooms)} builders, expected rows*cols = {self.rows * self.cols}")
        return self

    def children(self) -> list["MapBuilder"]:
        """The room builders (one, or one per room)."""
        return [self.room] if self.room is not None else list(self.rooms or [])

    def size(self) -> tuple[int, int]:
        """(height, width) of the grid: every room as large as the largest, with the borders."""
        sizes = [c.size() for c in self.children()]
        rh, rw = max(s[0] for s in sizes), max(s[1] for s in sizes)
        return self.rows * rh + (self.rows + 1) * self.border_width, self.cols * rw + (self.cols + 1) * self.border_width


MapBuilder = Annotated[
    Union[AsciiMapBuilder, RandomMapBuilder, MazeMapBuilder, RoomGridMapBuilder], Field(discriminator="type")
]
RoomGridMapBuilder.model_rebuild()


# ------------------------------------------------------------------ the game


def _default_map() -> RandomMapBuilder:
    return RandomMapBuilder(width=25, height=25, objects={"mine_red": 10, "generator_red": 5, "altar": 5, "wall": 20,
                                                          "block": 20}, agents=24)


class GameConfig(_Model):
    """Everything that defines a game; invalid values raise a validation error naming the field."""

    num_agents: int = Field(24, ge=1, le=1 << 20, description="Agents per game; must match the map.")
    max_steps: int = Field(1000, ge=0, description="Episode length; 0 means no time limit.")
    episode_truncates: bool = Field(True, description="Report the time limit as truncation (else termination).")
    desync_episodes: bool = Field(False, description="Give each game's first episode a random length in [1, max_steps].")
    obs_width: int = Field(11, ge=3, le=15, description="Observation window width (odd).")
    obs_height: int = Field(11, ge=3, le=15, description="Observation window height (odd).")
    num_observation_tokens: int = Field(200, ge=1, le=65536, description="Tokens per agent observation.")
    obs_mode: Literal["tokens", "grid"] = Field("tokens", description="Token list, or dense features x height x width.")
    inventory_item_names: list[str] = Field(default_factory=lambda: list(DEFAULT_ITEMS), description="Items, in id order.")
    global_obs: GlobalObsConfig = Field(default_factory=GlobalObsConfig, description="Global tokens.")
    agent: AgentConfig = Field(default_factory=AgentConfig, description="Agent properties.")
    groups: dict[str, GroupConfig] = Field(default_factory=lambda: {"agent": GroupConfig(id=0)}, description="Teams by name.")
    actions: ActionsConfig = Field(default_factory=ActionsConfig, description="Enabled actions.")
    objects: dict[str, ObjectConfig] = Field(default_factory=default_objects, description="Object types by name.")
    map_builder: MapBuilder = Field(default_factory=_default_map, description="How the map is made.")

    @field_validator("obs_width", "obs_height")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd, got {v}")
        return v

    @field_validator("inventory_item_names")
    @classmethod
    def _items(cls, v: list[str]) -> list[str]:
        if len(v) > _core.MAX_ITEMS:
            raise ValueError(f"{len(v)} items, at most {_core.MAX_ITEMS} fit the feature ids")
        if len(set(v)) != len(v):
            raise ValueError("item names must be unique")
        if any(not name for name in v):
            raise ValueError("item names must be non-empty")
        return v

    @model_validator(mode="after")
    def _check(self) -> "GameConfig":
        items = set(self.inventory_item_names)

        def check_items(where: str, names: Any) -> None:
            for name in names:
                if name not in items:
                    raise ValueError(f"{where}: unknown item {name!r}; known items: {sorted(items)}")

        for name, obj in self.objects.items():
            if isinstance(obj, ConverterConfig):
                check_items(f"objects.{name}.input_resources", obj.input_resources)
                check_items(f"objects.{name}.output_resources", obj.output_resources)
        ids = [o.type_id for o in self.objects.values()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"objects: type ids must be unique, got {sorted(ids)}")
        chars = [o.char for o in self.objects.values() if o.char is not None]
        if len(set(chars)) != len(chars):
            raise ValueError(f"objects: map chars must be unique, got {chars}")
        for family in ActionsConfig.model_fields:
            act = getattr(self.actions, family)
            check_items(f"actions.{family}.required_resources", act.required_resources)
            check_items(f"actions.{family}.consumed_resources", act.consumed_resources)
        check_items("actions.attack.defense_resources", self.actions.attack.defense_resources)
        group_ids = [g.id for g in self.groups.values()]
        if not self.groups:
            raise ValueError("groups: at least one group is required")
        if len(set(group_ids)) != len(group_ids):
            raise ValueError(f"groups: ids must be unique, got {group_ids}")
        for gname in self.groups:
            agent = self.group_agent_config(gname)
            check_items(f"groups.{gname}.props.resource_limits" if self.groups[gname].props else "agent.resource_limits",
                        agent.resource_limits)
            where = f"groups.{gname}.props" if self.groups[gname].props else "agent"
            check_items(f"{where}.initial_inventory", agent.initial_inventory)
            for item, n in agent.resource_limits.items():
                if not 0 <= n <= 255:
                    raise ValueError(f"{where}.resource_limits.{item} = {n}, expected 0..255")
            for item, n in agent.initial_inventory.items():
                limit = agent.resource_limits.get(item, agent.default_resource_limit)
                if not 0 <= n <= limit:
                    raise ValueError(f"{where}.initial_inventory.{item} = {n}, expected 0..{limit} (its limit)")
            for key in agent.rewards.inventory:
                base = key[:-4] if key.endswith("_max") and key[:-4] in items else key
                if base not in items:
                    raise ValueError(f"{where}.rewards.inventory: unknown item {key!r}; known items: {sorted(items)}")
            stat_names = set(self.agent_stat_names())
            for key in agent.rewards.stats:
                base = key[:-4] if key.endswith("_max") and key[:-4] in stat_names else key
                if base not in stat_names:
                    raise ValueError(f"{where}.rewards.stats: unknown stat {key!r}")
        num_map_agents = _check_map(self.map_builder, self, "map_builder")
        if num_map_agents != self.num_agents:
            raise ValueError(f"num_agents is {self.num_agents} but map_builder places {num_map_agents} agents")
        h, w = self.map_builder.size()
        side = _core.MAX_MAP_SIDE
        if h > side or w > side:
            raise ValueError(f"map_builder: the map is {h} x {w}, larger than {side} x {side}")
        if self.map_builder.type != "ascii" and "wall" not in self.objects:
            raise ValueError("map_builder: generated maps need a 'wall' object type")
        return self

    # -- derived views

    def group_agent_config(self, group: str) -> AgentConfig:
        """The agent config of a group: `agent` with the group's props merged in."""
        props = self.groups[group].props
        if not props:
            return self.agent
        merged = deep_merge(self.agent.model_dump(), props)
        try:
            return AgentConfig.model_validate(merged)
        except Exception as e:  # re-raised with the group named
            raise ValueError(f"groups.{group}.props: {e}") from e

    def action_names(self) -> list[str]:
        """The action list, in canonical order (noop first)."""
        return [name for name, _, _ in self.actions.entries()]

    def agent_stat_names(self) -> list[str]:
        """Names of the per-agent stats reported at episode end."""
        return list(_core.agent_stat_names(self.inventory_item_names, self.action_names()))

    def agents_by_group(self, agents: int | dict[str, int], where: str = "map_builder") -> dict[str, int]:
        """A map builder's `agents` as a count per group name (a bare count places agents of the first group)."""
        if isinstance(agents, int):
            if agents < 0:
                raise ValueError(f"{where}.agents = {agents}, expected >= 0")
            return {next(iter(self.groups)): agents}
        for g, n in agents.items():
            if g not in self.groups:
                raise ValueError(f"{where}.agents: unknown group {g!r}; groups: {list(self.groups)}")
            if n < 0:
                raise ValueError(f"{where}.agents.{g} = {n}, expected >= 0")
        return dict(agents)

    def char_legend(self) -> dict[str, str]:
        """Map char -> object name, 'empty', or 'agent.<group>'."""
        legend = {".": "empty", " ": "empty"}
        for name, obj in self.objects.items():
            if obj.char is not None:
                legend[obj.char] = name
        for gname, g in self.groups.items():
            if g.id == 0:
                legend["@"] = f"agent.{gname}"
            if 1 <= g.id <= 9:
                legend[str(g.id)] = f"agent.{gname}"
        if isinstance(self.map_builder, AsciiMapBuilder):
            legend.update(self.map_builder.legend)
        return legend

    def to_spec(self) -> Any:
        """The core's GameSpec of this config (see mettagrid.spec_builder)."""
        return build_spec(self)

    # -- loading

    @classmethod
    def from_file(cls, path: str | Path) -> "GameConfig":
        """Loads a config from a YAML or JSON file."""
        return load_config(path)


def _expanded_size(root: yaml.Node, where: str) -> int:
    """How many nodes a composed YAML document expands to (aliases counted at every use), without expanding it."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), MAX_CONFIG_NODES + 1)
            if sizes[key] > MAX_CONFIG_NODES:
                raise ValueError(f"{where}: the YAML expands to more than {MAX_CONFIG_NODES:,} values (aliases "
                                 "repeating large parts?); configs are limited to that")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValueError(f"{where}: the YAML contains a recursive alias (a value that contains itself)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_yaml(text: str, where: str = "config") -> Any:
    """Parses YAML safely and within limits: at most MAX_CONFIG_BYTES of text expanding to at most
    MAX_CONFIG_NODES values; ValueError naming `where` otherwise (also for invalid YAML)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(f"{where}: {len(text):,} characters, more than the {MAX_CONFIG_BYTES:,} a config may have")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: invalid YAML: {e}") from None
    finally:
        loader.dispose()


def load_config(source: "str | Path | dict[str, Any] | GameConfig") -> GameConfig:
    """Loads a GameConfig from a dict, a YAML/JSON file path, or returns a GameConfig as is."""
    if isinstance(source, GameConfig):
        return source
    if isinstance(source, dict):
        return GameConfig.model_validate(source)
    path = Path(source)
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a config may have")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON: {e}") from None
    else:
        data = load_yaml(text, str(path))
    if isinstance(data, dict) and "game" in data and len(data) == 1:
        data = data["game"]
    return GameConfig.model_validate(data or {})


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s values, nested dicts merged key by key rather than replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# ------------------------------------------------------------------ map checks


def _check_map(mb: Any, cfg: GameConfig, where: str) -> int:
    """Checks a map builder against the config's objects and groups; returns how many agents it places."""
    if isinstance(mb, AsciiMapBuilder):
        return _check_ascii(mb, cfg, where)
    if isinstance(mb, RoomGridMapBuilder):
        inner = f"{where}.room{'s' if mb.rooms else ''}"
        counts = [_check_map(c, cfg, inner) for c in mb.children()]
        return counts[0] * mb.rows * mb.cols if mb.room is not None else sum(counts)
    return _check_placement(mb, cfg, where)


def _check_ascii(mb: AsciiMapBuilder, cfg: GameConfig, where: str) -> int:
    """Every map char is in the legend and names empty, a group's agent or an object type."""
    h, w = mb.size()
    if h == 0 or w == 0:
        raise ValueError(f"{where}: the ascii map is empty")
    legend = cfg.char_legend()
    rows = [row.ljust(w) for row in mb.rows()]
    for r, row in enumerate(rows):
        unknown = set(row) - legend.keys()
        if unknown:
            c = next(c for c, ch in enumerate(row) if ch in unknown)
            raise ValueError(f"{where}: unknown map char {row[c]!r} at row {r}, col {c}; "
                             f"known chars: {''.join(sorted(legend))}")
    agents = 0
    for ch in sorted(set("".join(rows))):
        meaning = legend[ch]
        if meaning.startswith("agent."):
            group = meaning[len("agent."):]
            if group not in cfg.groups:
                raise ValueError(f"{where}.legend: {ch!r} names unknown group {group!r}")
            agents += sum(row.count(ch) for row in rows)
        elif meaning != "empty" and meaning not in cfg.objects:
            raise ValueError(f"{where}.legend: {ch!r} names unknown object {meaning!r}")
    return agents


def _check_placement(mb: RandomMapBuilder | MazeMapBuilder, cfg: GameConfig, where: str) -> int:
    """The objects are known types with counts >= 0, and they fit in the free cells with the agents."""
    for name, n in mb.objects.items():
        if name not in cfg.objects:
            raise ValueError(f"{where}.objects: unknown object {name!r}; objects: {list(cfg.objects)}")
        if n < 0:
            raise ValueError(f"{where}.objects: counts must be >= 0")
    agents = sum(cfg.agents_by_group(mb.agents, where).values())
    needed, free = sum(mb.objects.values()) + agents, mb.free_cells()
    if needed > free:
        raise ValueError(f"{where}: {needed} objects and agents do not fit in {free} free cells")
    return agents
