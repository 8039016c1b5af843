"""The metta-gridworld game core."""

from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray


class ObjectTypeSpec:
    def __init__(self) -> None: ...

    @property
    def name(self) -> str: ...

    @name.setter
    def name(self, arg: str, /) -> None: ...

    @property
    def type_id(self) -> int: ...

    @type_id.setter
    def type_id(self, arg: int, /) -> None: ...

    @property
    def is_converter(self) -> bool: ...

    @is_converter.setter
    def is_converter(self, arg: bool, /) -> None: ...

    @property
    def swappable(self) -> bool: ...

    @swappable.setter
    def swappable(self, arg: bool, /) -> None: ...

    @property
    def input(self) -> list[int]: ...

    @input.setter
    def input(self, arg: Sequence[int], /) -> None: ...

    @property
    def output(self) -> list[int]: ...

    @output.setter
    def output(self, arg: Sequence[int], /) -> None: ...

    @property
    def conversion_ticks(self) -> int: ...

    @conversion_ticks.setter
    def conversion_ticks(self, arg: int, /) -> None: ...

    @property
    def cooldown(self) -> int: ...

    @cooldown.setter
    def cooldown(self, arg: int, /) -> None: ...

    @property
    def max_output(self) -> int: ...

    @max_output.setter
    def max_output(self, arg: int, /) -> None: ...

    @property
    def initial_resource_count(self) -> int: ...

    @initial_resource_count.setter
    def initial_resource_count(self, arg: int, /) -> None: ...

    @property
    def color(self) -> int: ...

    @color.setter
    def color(self, arg: int, /) -> None: ...

class GroupSpec:
    def __init__(self) -> None: ...

    @property
    def name(self) -> str: ...

    @name.setter
    def name(self, arg: str, /) -> None: ...

    @property
    def id(self) -> int: ...

    @id.setter
    def id(self, arg: int, /) -> None: ...

    @property
    def reward_pct(self) -> float: ...

    @reward_pct.setter
    def reward_pct(self, arg: float, /) -> None: ...

    @property
    def resource_limits(self) -> list[int]: ...

    @resource_limits.setter
    def resource_limits(self, arg: Sequence[int], /) -> None: ...

    @property
    def initial_inventory(self) -> list[int]: ...

    @initial_inventory.setter
    def initial_inventory(self, arg: Sequence[int], /) -> None: ...

    @property
    def inventory_reward(self) -> list[float]: ...

    @inventory_reward.setter
    def inventory_reward(self, arg: Sequence[float], /) -> None: ...

    @property
    def inventory_reward_max(self) -> list[float]: ...

    @inventory_reward_max.setter
    def inventory_reward_max(self, arg: Sequence[float], /) -> None: ...

    @property
    def stat_reward_ids(self) -> list[int]: ...

    @stat_reward_ids.setter
    def stat_reward_ids(self, arg: Sequence[int], /) -> None: ...

    @property
    def stat_reward_weights(self) -> list[float]: ...

    @stat_reward_weights.setter
    def stat_reward_weights(self, arg: Sequence[float], /) -> None: ...

    @property
    def stat_reward_max(self) -> list[float]: ...

    @stat_reward_max.setter
    def stat_reward_max(self, arg: Sequence[float], /) -> None: ...

    @property
    def freeze_duration(self) -> int: ...

    @freeze_duration.setter
    def freeze_duration(self, arg: int, /) -> None: ...

    @property
    def defense_resources(self) -> list[int]: ...

    @defense_resources.setter
    def defense_resources(self, arg: Sequence[int], /) -> None: ...

    @property
    def action_failure_penalty(self) -> float: ...

    @action_failure_penalty.setter
    def action_failure_penalty(self, arg: float, /) -> None: ...

class ActionSpec:
    def __init__(self) -> None: ...

    @property
    def name(self) -> str: ...

    @name.setter
    def name(self, arg: str, /) -> None: ...

    @property
    def kind(self) -> int: ...

    @kind.setter
    def kind(self, arg: int, /) -> None: ...

    @property
    def arg(self) -> int: ...

    @arg.setter
    def arg(self, arg: int, /) -> None: ...

    @property
    def required(self) -> list[int]: ...

    @required.setter
    def required(self, arg: Sequence[int], /) -> None: ...

    @property
    def consumed(self) -> list[int]: ...

    @consumed.setter
    def consumed(self, arg: Sequence[int], /) -> None: ...

class MapNodeSpec:
    def __init__(self) -> None: ...

    @property
    def kind(self) -> int: ...

    @kind.setter
    def kind(self, arg: int, /) -> None: ...

    @property
    def width(self) -> int: ...

    @width.setter
    def width(self, arg: int, /) -> None: ...

    @property
    def height(self) -> int: ...

    @height.setter
    def height(self, arg: int, /) -> None: ...

    @property
    def cells(self) -> list[int]: ...

    @cells.setter
    def cells(self, arg: Sequence[int], /) -> None: ...

    @property
    def border(self) -> int: ...

    @border.setter
    def border(self, arg: int, /) -> None: ...

    @property
    def object_counts(self) -> list[int]: ...

    @object_counts.setter
    def object_counts(self, arg: Sequence[int], /) -> None: ...

    @property
    def agent_counts(self) -> list[int]: ...

    @agent_counts.setter
    def agent_counts(self, arg: Sequence[int], /) -> None: ...

    @property
    def algorithm(self) -> int: ...

    @algorithm.setter
    def algorithm(self, arg: int, /) -> None: ...

    @property
    def rows(self) -> int: ...

    @rows.setter
    def rows(self, arg: int, /) -> None: ...

    @property
    def cols(self) -> int: ...

    @cols.setter
    def cols(self, arg: int, /) -> None: ...

    @property
    def spacing(self) -> int: ...

    @spacing.setter
    def spacing(self, arg: int, /) -> None: ...

    @property
    def children(self) -> list[int]: ...

    @children.setter
    def children(self, arg: Sequence[int], /) -> None: ...

class GameSpec:
    def __init__(self) -> None: ...

    @property
    def num_agents(self) -> int: ...

    @num_agents.setter
    def num_agents(self, arg: int, /) -> None: ...

    @property
    def max_steps(self) -> int: ...

    @max_steps.setter
    def max_steps(self, arg: int, /) -> None: ...

    @property
    def episode_truncates(self) -> bool: ...

    @episode_truncates.setter
    def episode_truncates(self, arg: bool, /) -> None: ...

    @property
    def desync_episodes(self) -> bool: ...

    @desync_episodes.setter
    def desync_episodes(self, arg: bool, /) -> None: ...

    @property
    def obs_width(self) -> int: ...

    @obs_width.setter
    def obs_width(self, arg: int, /) -> None: ...

    @property
    def obs_height(self) -> int: ...

    @obs_height.setter
    def obs_height(self, arg: int, /) -> None: ...

    @property
    def num_tokens(self) -> int: ...

    @num_tokens.setter
    def num_tokens(self, arg: int, /) -> None: ...

    @property
    def grid_obs(self) -> bool: ...

    @grid_obs.setter
    def grid_obs(self, arg: bool, /) -> None: ...

    @property
    def global_episode_completion(self) -> bool: ...

    @global_episode_completion.setter
    def global_episode_completion(self, arg: bool, /) -> None: ...

    @property
    def global_last_action(self) -> bool: ...

    @global_last_action.setter
    def global_last_action(self, arg: bool, /) -> None: ...

    @property
    def global_last_reward(self) -> bool: ...

    @global_last_reward.setter
    def global_last_reward(self, arg: bool, /) -> None: ...

    @property
    def items(self) -> list[str]: ...

    @items.setter
    def items(self, arg: Sequence[str], /) -> None: ...

    @property
    def object_types(self) -> list[ObjectTypeSpec]: ...

    @object_types.setter
    def object_types(self, arg: Sequence[ObjectTypeSpec], /) -> None: ...

    @property
    def groups(self) -> list[GroupSpec]: ...

    @groups.setter
    def groups(self, arg: Sequence[GroupSpec], /) -> None: ...

    @property
    def actions(self) -> list[ActionSpec]: ...

    @actions.setter
    def actions(self, arg: Sequence[ActionSpec], /) -> None: ...

    @property
    def map_nodes(self) -> list[MapNodeSpec]: ...

    @map_nodes.setter
    def map_nodes(self, arg: Sequence[MapNodeSpec], /) -> None: ...

    @property
    def map_root(self) -> int: ...

    @map_root.setter
    def map_root(self, arg: int, /) -> None: ...

    @property
    def wall_type(self) -> int: ...

    @wall_type.setter
    def wall_type(self, arg: int, /) -> None: ...

def agent_stat_names(items: Sequence[str], action_names: Sequence[str]) -> list[str]:
    """Names of the per-agent stats, in index order."""

def build_map(spec: GameSpec, seed: int) -> object:
    """
    Builds the map of a spec for a seed: an (height, width) int32 array of cell codes.
    """

def map_size(spec: GameSpec) -> tuple:
    """The (height, width) of the map a spec builds."""

AGENT_CELL_BASE: int = 65536

EMPTY_CELL: int = -1

MAX_ITEMS: int = 240

MAX_MAP_SIDE: int = 1024

FIRST_INVENTORY_FEATURE: int = 16

GLOBAL_LOCATION: int = 254

PADDING_LOCATION: int = 255

ACTION_KINDS: dict = ...

MAP_KINDS: dict = ...

MAZE_ALGORITHMS: dict = {'prim' : 0, 'kruskal' : 1}

FEATURE_IDS: dict = ...

class CompiledSpec:
    def __init__(self, spec: GameSpec) -> None:
        """Validates a GameSpec and builds the tables the step loop uses."""

    @property
    def agent_stat_names(self) -> list[str]: ...

    @property
    def game_stat_names(self) -> list[str]: ...

    def check_compatible(self, other: CompiledSpec) -> None:
        """
        Raises ValueError naming the first field in which `other` cannot replace this spec.
        """

class VecEnv:
    def __init__(self, spec: CompiledSpec, num_envs: int, num_threads: int) -> None:
        """num_envs games of one compiled spec, stepped by num_threads threads."""

    def set_buffers(self, observations: Annotated[NDArray[numpy.uint8], dict(order='C', device='cpu')], rewards: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu')], terminals: Annotated[NDArray[numpy.bool_], dict(order='C', device='cpu')], truncations: Annotated[NDArray[numpy.bool_], dict(order='C', device='cpu')], final_observations: Annotated[NDArray[numpy.uint8], dict(order='C', device='cpu')] | None = None) -> None: ...

    def reset(self, seed: int) -> None: ...

    def step(self, actions: Annotated[NDArray[numpy.int32], dict(order='C', device='cpu', writable=False)]) -> list:
        """
        Steps every game; returns the indices of games whose episode ended (already reset).
        """

    def episode(self, env: int) -> dict:
        """The record of the last finished episode of a game."""

    def set_next_spec(self, env: int, spec: CompiledSpec) -> None:
        """
        Gives a game a compiled spec for its next episode (started by reset() or by an auto-reset); it stays in use after that. Raises ValueError naming the first incompatible field.
        """

    def game_stat_names_of(self, env: int) -> list[str]:
        """The game stat names of a game's current spec."""

    def live_stats(self, env: int) -> dict:
        """The running stats of a game's current episode."""

    def snapshot(self, env: int) -> dict:
        """Positions, orientations and inventories of a game."""

    def current_step(self, env: int) -> int: ...

    def episode_max_steps(self, env: int) -> int: ...

    def episode_seed(self, env: int) -> int: ...

    @property
    def num_envs(self) -> int: ...

    @property
    def num_threads(self) -> int: ...

    @property
    def obs_size(self) -> int: ...

    @property
    def agent_stat_names(self) -> list[str]: ...

    @property
    def game_stat_names(self) -> list[str]: ...
