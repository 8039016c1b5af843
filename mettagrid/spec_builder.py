"""A validated GameConfig translated into the core's GameSpec: the scalars, the object types, the groups, the
actions and the map nodes, each by its own function.

The checks live elsewhere: mettagrid.config validates the config, and the core validates the spec again when it
compiles it (`compile_spec`). The numbers that mean something to the core (action kinds, map builder kinds, maze
algorithms, map cell codes) come from the core's own tables in `mettagrid._core`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mettagrid import _core

if TYPE_CHECKING:  # only for annotations: mettagrid.config imports this module
    from mettagrid.config import GameConfig

__all__ = ["build_spec", "compile_spec"]


def compile_spec(cfg: GameConfig) -> _core.CompiledSpec:
    """The config's spec compiled by the core: validated there, with the tables its step loop uses."""
    return _core.CompiledSpec(build_spec(cfg))


def build_spec(cfg: GameConfig) -> _core.GameSpec:
    """The core's GameSpec of a validated config."""
    spec = _core.GameSpec()
    _set_scalars(spec, cfg)
    spec.object_types = _object_types(cfg)
    spec.wall_type = list(cfg.objects).index("wall") if "wall" in cfg.objects else -1
    spec.groups = _groups(cfg)
    spec.actions = _actions(cfg)
    spec.map_nodes = _map_nodes(cfg)
    spec.map_root = 0
    return spec


def _dense(names: list[str], amounts: dict[str, int]) -> list[int]:
    """Per-item amounts as a list in item order (0 for items not named)."""
    return [int(amounts.get(n, 0)) for n in names]


def _set_scalars(spec: _core.GameSpec, cfg: GameConfig) -> None:
    spec.num_agents = cfg.num_agents
    spec.max_steps = cfg.max_steps
    spec.episode_truncates = cfg.episode_truncates
    spec.desync_episodes = cfg.desync_episodes
    spec.obs_width = cfg.obs_width
    spec.obs_height = cfg.obs_height
    spec.num_tokens = cfg.num_observation_tokens
    spec.grid_obs = cfg.obs_mode == "grid"
    spec.global_episode_completion = cfg.global_obs.episode_completion_pct
    spec.global_last_action = cfg.global_obs.last_action
    spec.global_last_reward = cfg.global_obs.last_reward
    spec.items = list(cfg.inventory_item_names)


def _object_types(cfg: GameConfig) -> list[_core.ObjectTypeSpec]:
    """One ObjectTypeSpec per object type, in the config's order (map cells refer to them by index)."""
    items = cfg.inventory_item_names
    types = []
    for name, obj in cfg.objects.items():
        t = _core.ObjectTypeSpec()
        t.name = name
        t.type_id = obj.type_id
        if obj.kind == "converter":
            t.is_converter = True
            t.input = _dense(items, obj.input_resources)
            t.output = _dense(items, obj.output_resources)
            t.conversion_ticks = obj.conversion_ticks
            t.cooldown = obj.cooldown
            t.max_output = obj.max_output
            t.initial_resource_count = obj.initial_resource_count
            t.color = obj.color
        else:
            t.swappable = obj.swappable
        types.append(t)
    return types


def _groups(cfg: GameConfig) -> list[_core.GroupSpec]:
    """One GroupSpec per group, in the config's order, with the group's agent config (props merged in)."""
    items = cfg.inventory_item_names
    stat_index = {n: i for i, n in enumerate(cfg.agent_stat_names())}
    defense = _dense(items, cfg.actions.attack.defense_resources)
    groups = []
    for gname, g in cfg.groups.items():
        agent = cfg.group_agent_config(gname)
        gs = _core.GroupSpec()
        gs.name = gname
        gs.id = g.id
        gs.reward_pct = g.group_reward_pct
        gs.resource_limits = [agent.resource_limits.get(n, agent.default_resource_limit) for n in items]
        gs.initial_inventory = _dense(items, agent.initial_inventory)
        inv = agent.rewards.inventory
        gs.inventory_reward = [float(inv.get(n, 0.0)) for n in items]
        gs.inventory_reward_max = [float(inv.get(f"{n}_max", math.inf)) for n in items]
        st = agent.rewards.stats
        names = [k for k in st if k in stat_index]
        gs.stat_reward_ids = [stat_index[k] for k in names]
        gs.stat_reward_weights = [float(st[k]) for k in names]
        gs.stat_reward_max = [float(st.get(f"{k}_max", math.inf)) for k in names]
        gs.freeze_duration = agent.freeze_duration
        gs.defense_resources = defense
        gs.action_failure_penalty = agent.action_failure_penalty
        groups.append(gs)
    return groups


def _actions(cfg: GameConfig) -> list[_core.ActionSpec]:
    """One ActionSpec per enabled action, in the canonical order of the action list."""
    items = cfg.inventory_item_names
    actions = []
    for name, family, arg in cfg.actions.entries():
        fam = getattr(cfg.actions, family)
        a = _core.ActionSpec()
        a.name = name
        a.kind = _core.ACTION_KINDS[family]
        a.arg = arg
        a.required = _dense(items, fam.required_resources)
        a.consumed = _dense(items, fam.consumed_resources)
        actions.append(a)
    return actions


def _map_nodes(cfg: GameConfig) -> list[_core.MapNodeSpec]:
    """The map builder as a list of nodes, the root first; a room grid's rooms follow it and it names them by index."""
    type_index = {name: i for i, name in enumerate(cfg.objects)}
    group_index = {name: i for i, name in enumerate(cfg.groups)}
    legend = cfg.char_legend()
    nodes: list[_core.MapNodeSpec] = []

    def add(mb: Any) -> int:
        node = _core.MapNodeSpec()
        index = len(nodes)
        nodes.append(node)
        node.kind = _core.MAP_KINDS[mb.type]
        node.height, node.width = mb.size()
        if mb.type == "ascii":
            node.cells = _ascii_cells(mb, legend, type_index, group_index)
        elif mb.type == "room_grid":
            node.rows, node.cols, node.spacing = mb.rows, mb.cols, mb.border_width
            node.children = [add(c) for c in mb.children()]
        else:
            counts = cfg.agents_by_group(mb.agents)
            node.object_counts = [int(mb.objects.get(n, 0)) for n in type_index]
            node.agent_counts = [int(counts.get(g, 0)) for g in group_index]
            if mb.type == "maze":
                node.algorithm = _core.MAZE_ALGORITHMS[mb.algorithm]
            else:
                node.border = mb.border_width
        return index

    add(cfg.map_builder)
    return nodes


def _ascii_cells(mb: Any, legend: dict[str, str], type_index: dict[str, int], group_index: dict[str, int]) -> list[int]:
    """The cell codes of an ascii map, row by row, short rows padded with spaces."""
    _, width = mb.size()
    rows = [row.ljust(width) for row in mb.rows()]
    code = {ch: _cell_code(legend[ch], type_index, group_index) for ch in set("".join(rows))}
    return [code[ch] for row in rows for ch in row]


def _cell_code(meaning: str, type_index: dict[str, int], group_index: dict[str, int]) -> int:
    """The core's map cell code of a legend meaning: 'empty', 'agent.<group>' or an object type name."""
    if meaning == "empty":
        return _core.EMPTY_CELL
    if meaning.startswith("agent."):
        return _core.AGENT_CELL_BASE + group_index[meaning[len("agent."):]]
    return type_index[meaning]
