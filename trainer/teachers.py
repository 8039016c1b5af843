"""Scripted teachers: short readable heuristics that pick an action for every agent from its observation alone.

A teacher is built from a `mettagrid.MettaGridEnv` (feature ids from `env.feature_spec()`, actions from
`env.action_names()`, object type ids and recipes from the env's config) and is driven like a policy actor:
`teacher(obs) -> int32 actions` over the env's `(num_agents, tokens, 3)` token observations, plus `reset()` and
`episode_ended(dones)`. It serves as a baseline in evaluations and as the source of imitation targets:
`EnvConfig.teacher` makes the training env a `TeacherEnv`, whose `teacher_actions` buffer holds the teacher's actions
for the current observations after every reset and step.

- `NavigationTeacher`: walk to the nearest visible altar holding a heart and take it; with none in sight, explore.
- `ArenaTeacher`: mine -> generator -> altar, the stage read from the agent's own inventory.

Paths are shortest paths inside the agent's view: a breadth-first search from the cells next to the targets, for all
agents at once on row bitmasks, with every object and every other agent an obstacle for this step. Ties go to moves
that need no turn (forward, then back), then to up, down, left, right in that order. A teacher keeps no state between
steps: apart from its seeded random turns while exploring (and the arena teacher's rare random moves), its action is
a function of the observation, which is what an imitating student can learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mettagrid.config import GameConfig
from mettagrid.env import GLOBAL_LOCATION, PADDING_LOCATION, MettaGridEnv

try:
    from trainer import _kernels
except ImportError:  # the native module was not built: the search runs in numpy (same results)
    _kernels = None

__all__ = ["SCRIPTED_TEACHERS", "TEACHER_NAMES", "ArenaTeacher", "NavigationTeacher", "ScriptedTeacher",
           "TeacherEnv", "TeacherView", "scripted_teacher", "teacher_family"]

# Directions in the engine's orientation order (GAME.md: 0 up, 1 down, 2 left, 3 right).
_DIRECTIONS = ("up", "down", "left", "right")
_CARDINALS = ("north", "south", "west", "east")  # move_cardinal's names for the same directions
_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_OPPOSITE = np.array([1, 0, 3, 2])
_FAR = np.int32(1 << 14)  # "unreachable"
_TIE_BREAK = np.array([0.4, 0.3, 0.2, 0.1])  # among equally good directions: up, down, left, right


# ---------------------------------------------------------------- breadth-first search on row bitmasks

def _row_bits(mask: np.ndarray) -> np.ndarray:
    """A (K, H, W) bool grid as (K, H) uint32 row bitmasks (bit j: column j)."""
    weights = np.left_shift(np.uint32(1), np.arange(mask.shape[2], dtype=np.uint32))
    return (mask * weights).sum(axis=2, dtype=np.uint32)


def _grow(bits: np.ndarray) -> np.ndarray:
    """The cells 4-adjacent to a set of cells, on row bitmasks."""
    out = (bits << 1) | (bits >> 1)
    out[:, 1:] |= bits[:, :-1]
    out[:, :-1] |= bits[:, 1:]
    return out


def _probe(bits: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether cells (rows[i], cols[i]) are set, per agent: (K, len(rows)) bool."""
    return ((bits[:, rows] >> cols.astype(np.uint32)) & 1).astype(bool)


def _path_levels(goal: np.ndarray, free: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 native: bool = True) -> np.ndarray:
    """Breadth-first distances from the goal cells through free cells (row bitmasks, (K, H)) to the probe cells
    (rows[i], cols[i]), probe 0 being the agent's own: (K, P) int32, _FAR where unreachable. Stops once every agent's
    own cell is reached (breadth-first order makes the levels exact) or nothing new is. The native kernel
    (`trainer._kernels.bfs_levels`, ~5x faster on 192 agents) computes the same levels when it is built and `native` is set."""
    if native and _kernels is not None:
        levels = np.empty((goal.shape[0], len(rows)), dtype=np.int32)
        _kernels.bfs_levels(np.ascontiguousarray(goal, dtype=np.uint32), np.ascontiguousarray(free, dtype=np.uint32),
                            np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(cols, dtype=np.int64),
                            int(_FAR), levels)
        return levels
    reached = goal & free
    levels = np.where(_probe(reached, rows, cols), 0, _FAR).astype(np.int32)
    frontier = reached
    for level in range(1, 32 * free.shape[1]):
        if (levels[:, 0] < _FAR).all():
            break
        frontier = _grow(frontier) & free & ~reached
        if not frontier.any():
            break
        reached |= frontier
        levels[_probe(frontier, rows, cols)] = level
    return levels


# ---------------------------------------------------------------- observations

class TeacherView:
    """One step's observations as dense per-agent grids, padded by one blocked cell on every side.

    `planes[n, i, r, c]`: the count of the teacher's item i (`ScriptedTeacher.items`) that agent n sees the occupant
    of window cell (r - 1, c - 1) hold; `occupied`: cells holding an agent or an object (and the padding); `type_id`:
    the occupant's type (-1 empty); `orientation` and `last_action`: each agent's own; `center`: the agent's own cell.
    """

    def __init__(self, planes: np.ndarray, occupied: np.ndarray, type_id: np.ndarray, orientation: np.ndarray,
                 last_action: np.ndarray, center: tuple[int, int]) -> None:
        self.planes = planes
        self.occupied = occupied
        self.type_id = type_id
        self.orientation = orientation
        self.last_action = last_action
        self.center = center

    def around(self, grid: np.ndarray) -> np.ndarray:
        """A per-cell grid's values in the 4 cells next to each agent, (N, 4) in direction order."""
        r, c = self.center
        return np.stack([grid[:, r + dr, c + dc] for dr, dc in _OFFSETS], axis=1)


def _configs(env: MettaGridEnv) -> list[GameConfig]:
    """The env's config and, with a curriculum, every task's (object type ids may differ between them)."""
    configs = [env.config]
    if env.curriculum is not None:
        configs += list(env.curriculum.tasks().values())
    return configs


# ---------------------------------------------------------------- the teachers

class ScriptedTeacher:
    """Base of the scripted teachers: observation parsing, shortest-path moves toward targets, exploration.

    A subclass sets `items` (the inventory items it reads), `required_actions` and `required_objects`, and implements
    `act(view) -> actions`. `seed` seeds the random turns while exploring; `random_move_prob` is each agent's chance
    per step of a random move instead of the planned action (it unsticks agents that block each other).
    """

    items: tuple[str, ...] = ()
    required_actions: tuple[str, ...] = ()
    required_objects: tuple[str, ...] = ()

    def __init__(self, env: MettaGridEnv, seed: int = 0, random_move_prob: float = 0.0) -> None:
        name = type(self).__name__
        if not isinstance(env, MettaGridEnv):
            raise TypeError(f"{name} needs a mettagrid.MettaGridEnv, got {type(env).__name__}")
        if not 0.0 <= random_move_prob <= 1.0:
            raise ValueError(f"random_move_prob = {random_move_prob!r}, expected a probability in [0, 1]")
        cfg = env.config
        if cfg.obs_mode != "tokens":
            raise ValueError(f"{name} reads token observations; this env has obs_mode = {cfg.obs_mode!r}")
        self.num_agents = env.num_agents
        self.obs_shape = (cfg.num_observation_tokens, 3)
        self.window = (cfg.obs_height, cfg.obs_width)
        self.center = (cfg.obs_height // 2 + 1, cfg.obs_width // 2 + 1)  # in padded coordinates
        self.actions = {action: i for i, action in enumerate(env.action_names())}
        missing = [a for a in self.required_actions if a not in self.actions]
        turn_and_go = {"move_forward", *(f"rotate_{d}" for d in _DIRECTIONS)}
        if not turn_and_go <= set(self.actions) and not {f"move_{c}" for c in _CARDINALS} <= set(self.actions):
            missing.append("move_forward and rotate_<direction> (or move_<cardinal>)")
        if missing:
            raise ValueError(f"{name} needs the actions {missing}; this env's actions are {list(self.actions)}")
        spec = env.feature_spec()
        absent = [item for item in self.items if f"inv:{item}" not in spec]
        if absent:
            raise ValueError(f"{name} needs the items {absent}; this env's items are {list(cfg.inventory_item_names)}")
        self.configs = _configs(env)
        self._type_tables: dict[str, np.ndarray] = {}
        absent = [o for o in self.required_objects if self.type_ids(o).size == 0]
        if absent:
            raise ValueError(f"{name} needs the object types {absent}; this env's objects are {list(cfg.objects)}")
        # Every token the teacher reads is scattered by one indexing: feature id -> plane (0 type id + 1, 1 orientation,
        # 2 last action, 3 + i the teacher's item i; -1 not read), location byte -> flat padded cell (global tokens: an
        # extra cell at the end; padding: -1).
        self._plane_of = np.full(256, -1, dtype=np.int16)
        for plane, feature in enumerate(["type_id", "agent:orientation", "last_action",
                                         *(f"inv:{item}" for item in self.items)]):
            self._plane_of[int(spec[feature]["id"])] = plane
        h, w = self.window
        self._cell_of = np.full(256, -1, dtype=np.int16)
        for r in range(h):
            for c in range(w):
                self._cell_of[(r << 4) | c] = (r + 1) * (w + 2) + c + 1
        self._cell_of[PADDING_LOCATION] = -1
        self._cell_of[GLOBAL_LOCATION] = (h + 2) * (w + 2)
        self._border = np.ones((h + 2, w + 2), dtype=bool)  # the padding counts as occupied
        self._border[1:-1, 1:-1] = False
        self._move, self._turn_to = self._direction_tables()
        # a change of direction while exploring: move_<cardinal> when the env has it, else a turn (not move_back,
        # which would leave the agent facing the obstacle it turned away from)
        cardinal = all(f"move_{c}" in self.actions for c in _CARDINALS)
        self._turn_or_go = self._move if cardinal else np.where(self._turn_to == self.actions["noop"], self._move,
                                                                 self._turn_to)
        self.random_move_prob = float(random_move_prob)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------ the actor interface

    def reset(self, seed: int | None = None) -> None:
        """Reseeds the teacher's generator when `seed` is given (a teacher keeps no other state between steps)."""
        if seed is not None:
            self.seed = seed
            self.rng = np.random.default_rng(seed)

    def episode_ended(self, dones: np.ndarray) -> None:
        """Marks the agents whose episode ended (the actor interface; the teachers decide from each observation
        alone, so there is nothing to forget: only the shape is checked)."""
        dones = np.asarray(dones).reshape(-1)
        if dones.shape != (self.num_agents,):
            raise ValueError(f"dones has shape {dones.shape}, expected ({self.num_agents},)")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The teacher's action for every agent row of `obs` ((num_agents, tokens, 3) uint8), as int32."""
        obs = np.asarray(obs)
        if obs.shape != (self.num_agents, *self.obs_shape) or obs.dtype != np.uint8:
            raise ValueError(f"observations have shape {obs.shape} and dtype {obs.dtype}, expected "
                             f"({self.num_agents}, {self.obs_shape[0]}, 3) uint8")
        view = self.observe(obs)
        actions = self.act(view)
        if self.random_move_prob > 0:
            jitter = self.rng.random(self.num_agents) < self.random_move_prob
            if jitter.any():
                actions[jitter] = self._move[view.orientation[jitter], self.rng.integers(0, 4, int(jitter.sum()))]
        return actions.astype(np.int32)

    def act(self, view: TeacherView) -> np.ndarray:
        """The actions for one step's parsed observations (each teacher's heuristic)."""
        raise NotImplementedError

    # ------------------------------------------------------------ reading the observations

    def type_ids(self, object_name: str) -> np.ndarray:
        """The type ids an object name has in the env's config(s) (empty when it has none)."""
        ids = {cfg.objects[object_name].type_id for cfg in self.configs if object_name in cfg.objects}
        return np.array(sorted(ids), dtype=np.int16)

    def _type_table(self, object_name: str) -> np.ndarray:
        """type id -> is it `object_name`, with a last entry (index -1: an empty cell) False; cached."""
        table = self._type_tables.get(object_name)
        if table is None:
            table = np.zeros(257, dtype=bool)
            table[self.type_ids(object_name)] = True
            self._type_tables[object_name] = table
        return table

    def observe(self, obs: np.ndarray) -> TeacherView:
        """Scatters the tokens the teacher reads into dense per-agent grids."""
        n = obs.shape[0]
        h, w = self.window
        used = np.flatnonzero((obs[:, :, 0] != PADDING_LOCATION).any(axis=0))
        obs = obs[:, : used[-1] + 1 if used.size else 0]  # token columns that are padding in every row are dropped
        loc, feat, val = obs[:, :, 0], obs[:, :, 1], obs[:, :, 2]
        cell, plane = self._cell_of[loc], self._plane_of[feat]
        agent, token = np.nonzero((cell >= 0) & (plane >= 0))
        p = plane[agent, token]
        grid = np.zeros((n, 3 + len(self.items), (h + 2) * (w + 2) + 1), dtype=np.int16)
        grid[agent, p, cell[agent, token]] = val[agent, token].astype(np.int16) + (p == 0)  # type ids stored + 1
        cells = grid[:, :, :-1].reshape(n, -1, h + 2, w + 2)
        r, c = self.center
        occupied = (cells[:, 0] > 0) | self._border
        return TeacherView(cells[:, 3:], occupied, cells[:, 0] - 1, cells[:, 1, r, c].astype(np.int64) & 3,
                           grid[:, 2, -1].astype(np.int64), self.center)

    def own(self, view: TeacherView, item: str) -> np.ndarray:
        """Each agent's own count of one of the teacher's items, (N,)."""
        r, c = view.center
        return view.planes[:, self.items.index(item), r, c]

    def holding(self, view: TeacherView, item: str) -> np.ndarray:
        """Cells whose occupant holds `item` (one of the teacher's items), (N, H + 2, W + 2) bool."""
        return view.planes[:, self.items.index(item)] > 0

    def cells_of(self, view: TeacherView, object_name: str) -> np.ndarray:
        """Cells holding an object of that name, (N, H + 2, W + 2) bool."""
        return self._type_table(object_name)[view.type_id]

    # ------------------------------------------------------------ acting

    def _direction_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """move[o, d]: the action that goes one cell toward direction d when facing o (move_<cardinal> when the env has
        it; else forward, back when d is behind, or a turn first); turn_to[o, d]: rotate to face d (noop if facing)."""
        a = self.actions
        move = np.zeros((4, 4), dtype=np.int32)
        turn = np.zeros((4, 4), dtype=np.int32)
        cardinal = all(f"move_{c}" in a for c in _CARDINALS)
        for o in range(4):
            for d in range(4):
                turn[o, d] = a["noop"] if o == d else a[f"rotate_{_DIRECTIONS[d]}"]
                if cardinal:
                    move[o, d] = a[f"move_{_CARDINALS[d]}"]
                elif o == d:
                    move[o, d] = a["move_forward"]
                elif d == _OPPOSITE[o] and "move_back" in a:
                    move[o, d] = a["move_back"]
                else:
                    move[o, d] = a[f"rotate_{_DIRECTIONS[d]}"]
        return move, turn

    def pick_direction(self, orientation: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """One allowed direction per agent ((K, 4) bool; 0 for rows with none): the faced one first, then the one
        behind (move_back needs no turn), then the first in the order up, down, left, right. Deterministic, so that
        the teacher's choice is a function of the observation (what an imitating student can learn)."""
        score = np.broadcast_to(_TIE_BREAK, allowed.shape).copy()
        rows = np.arange(len(orientation))
        score[rows, orientation] += 4.0
        score[rows, _OPPOSITE[orientation]] += 2.0
        return np.where(allowed, score, -1.0).argmax(axis=1)

    def face_and_use(self, orientation: np.ndarray, direction: np.ndarray, use: np.ndarray | int) -> np.ndarray:
        """`use` where the agent faces `direction`, else the rotation toward it."""
        return np.where(orientation == direction, use, self._turn_to[orientation, direction]).astype(np.int32)

    def seek(self, view: TeacherView, targets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
        """Shortest-path steps of agents `rows` toward the nearest reachable cell of `targets` ((N, H + 2, W + 2)).

        Returns, for those rows: `found` (a target is reachable in view), `arrived` (one is next to the agent) and
        `step` (arrived: the direction of an adjacent target; else the move along a shortest path).
        """
        r, c = view.center
        probe_rows, probe_cols = np.array([r, r - 1, r + 1, r, r]), np.array([c, c, c, c - 1, c + 1])
        free = ~view.occupied[rows]
        free[:, r, c] = True  # the agent's own cell
        tgt = _row_bits(targets[rows])
        levels = np.full((len(rows), 5), _FAR, dtype=np.int32)
        some = tgt.any(axis=1)  # the search only for agents that see a target
        levels[some] = _path_levels(_grow(tgt[some]), _row_bits(free[some]), probe_rows, probe_cols)
        here = levels[:, 0]
        found, arrived = here < _FAR, here == 0
        o = view.orientation[rows]
        use_dir = self.pick_direction(o, _probe(tgt, probe_rows[1:], probe_cols[1:]))
        move_dir = self.pick_direction(o, levels[:, 1:] == (here - 1)[:, None])
        return found, arrived, np.where(arrived, use_dir, self._move[o, move_dir]).astype(np.int32)

    def explore(self, view: TeacherView, rows: np.ndarray, turn_prob: float = 0.05) -> np.ndarray:
        """Actions of agents `rows` that walk straight on in the direction they face, and turn toward a free cell (at
        random) when the cell ahead is occupied, or with probability `turn_prob`; noop when boxed in. The direction
        is the agent's own orientation, which it observes, rather than a hidden state of the teacher's."""
        free = ~view.around(view.occupied)[rows]
        o = view.orientation[rows]
        d = o.copy()
        change = ~free[np.arange(len(rows)), o] | (self.rng.random(len(rows)) < turn_prob)
        if change.any():
            d[change] = np.where(free[change], self.rng.random((int(change.sum()), 4)), -1.0).argmax(axis=1)
        action = np.where(d == o, self._move[o, d], self._turn_or_go[o, d])
        return np.where(free.any(axis=1), action, self.actions["noop"]).astype(np.int32)

    def approach(self, view: TeacherView, rows: np.ndarray, targets: np.ndarray, use: np.ndarray | int,
                 fallback: np.ndarray | None = None) -> np.ndarray:
        """Actions of agents `rows`: next to a target, face it and do `use` (per row, or one action for all); else
        step toward the nearest reachable target, or else toward a `fallback` cell (to wait there), or else explore."""
        use = np.broadcast_to(np.asarray(use, dtype=np.int32), rows.shape)
        found, arrived, step = self.seek(view, targets, rows)
        if fallback is not None and not found.all():
            lost = ~found
            found[lost], arrived[lost], step[lost] = self.seek(view, fallback, rows[lost])
        actions = step.copy()
        actions[arrived] = self.face_and_use(view.orientation[rows[arrived]], step[arrived], use[arrived])
        actions[~found] = self.explore(view, rows[~found])
        return actions


class NavigationTeacher(ScriptedTeacher):
    """Walk to the nearest visible altar holding a heart, face it and take the heart (get_items); with none in sight
    or none reachable in view, explore (keep a direction, turning at obstacles and now and then)."""

    items = ("heart",)
    required_actions = ("get_items",)
    required_objects = ("altar",)

    def act(self, view: TeacherView) -> np.ndarray:
        """Take the heart of an adjacent altar, else step toward the nearest altar with a heart, else explore."""
        targets = self.cells_of(view, "altar") & self.holding(view, "heart")
        return self.approach(view, np.arange(len(view.orientation)), targets, self.actions["get_items"])


class ArenaTeacher(ScriptedTeacher):
    """Mine -> generator -> altar, in this order of precedence for each agent:

    1. right after a put_items into the converter it faces: get_items (the output appears one step later);
    2. next to a generator holding a battery, an altar holding a heart, or a mine holding ore while the agent holds
       less ore than a heart needs: face it and take it;
    3. holding the batteries an altar needs per heart (3 in the arena): go to an altar that can take them, put them;
    4. else holding ore: go to a generator holding no ore, put it in;
    5. else: go to a mine holding ore;
    6. no such target in view: wait by the nearest altar (stage 3) or generator (stage 4); with none in sight, and
       always in stage 5 (mines refill slowly: other mines are worth finding), explore.
    """

    items = ("ore_red", "battery_red", "heart")
    required_actions = ("get_items", "put_items")
    required_objects = ("mine_red", "generator_red", "altar")

    def __init__(self, env: MettaGridEnv, seed: int = 0, random_move_prob: float = 0.02) -> None:
        super().__init__(env, seed, random_move_prob)
        # batteries an altar needs per heart, from its recipe (the most any of the env's configs asks)
        self.batteries_per_heart = max(int(cfg.objects["altar"].input_resources.get("battery_red", 0))
                                       for cfg in self.configs if "altar" in cfg.objects) or 1

    def act(self, view: TeacherView) -> np.ndarray:
        """One step of the mine -> generator -> altar chain for every agent (see the class docstring)."""
        n = len(view.orientation)
        get, put = self.actions["get_items"], self.actions["put_items"]
        mines, generators, altars = (self.cells_of(view, o) for o in ("mine_red", "generator_red", "altar"))
        ore_at, battery_at, heart_at = (self.holding(view, i) for i in self.items)
        ore = self.own(view, "ore_red")
        actions = np.full(n, -1, dtype=np.int32)

        # 1. just put something into the converter ahead: collect its output
        ahead = view.around(mines | generators | altars)[np.arange(n), view.orientation]
        actions[(view.last_action == put) & ahead] = get
        # 2. an output is ready next to the agent (ore only up to a heart's worth: a full mine is no trap)
        near = (view.around((generators & battery_at) | (altars & heart_at))
                | view.around(mines & ore_at) & (ore < self.batteries_per_heart)[:, None])
        take = np.flatnonzero((actions < 0) & near.any(axis=1))
        o = view.orientation[take]
        actions[take] = self.face_and_use(o, self.pick_direction(o, near[take]), get)

        # 3-6. the stage, from the agent's own inventory
        battery = self.own(view, "battery_red")
        to_altar = (battery >= self.batteries_per_heart)[:, None, None]
        to_generator = ~to_altar & (ore > 0)[:, None, None]
        altar_open = altars & (view.planes[:, self.items.index("battery_red")] < self.batteries_per_heart)
        targets = np.where(to_altar, altar_open, np.where(to_generator, generators & ~ore_at, mines & ore_at))
        wait_by = np.where(to_altar, altars, to_generator & generators)  # a mine stage explores instead of waiting
        use = np.where(to_altar[:, 0, 0] | to_generator[:, 0, 0], put, get)
        rows = np.flatnonzero(actions < 0)
        actions[rows] = self.approach(view, rows, targets, use[rows], fallback=wait_by)
        return actions


SCRIPTED_TEACHERS: dict[str, type[ScriptedTeacher]] = {"navigation": NavigationTeacher, "arena": ArenaTeacher}

# recipe / preset name -> the family whose teacher plays it
_FAMILIES: dict[str, str] = {"navigation": "navigation", "navigation_maze": "navigation",
                             "navigation_curriculum": "navigation",
                             "navigation_bucketed": "navigation", "arena": "arena", "arena_combat": "arena"}
TEACHER_NAMES: tuple[str, ...] = tuple(_FAMILIES)


def teacher_family(name: str) -> str:
    """The family ('navigation' or 'arena') of a teacher, recipe or preset name; ValueError for an unknown one."""
    if not isinstance(name, str) or name not in _FAMILIES:
        raise ValueError(f"unknown scripted teacher {name!r}; expected one of {', '.join(TEACHER_NAMES)}")
    return _FAMILIES[name]


def scripted_teacher(name: str, env: MettaGridEnv, **kwargs: Any) -> ScriptedTeacher:
    """The scripted teacher of a family, recipe or preset name (TEACHER_NAMES) for `env`; keyword arguments
    (seed, random_move_prob) go to its constructor."""
    return SCRIPTED_TEACHERS[teacher_family(name)](env, **kwargs)


class TeacherEnv(MettaGridEnv):
    """A MettaGridEnv whose `teacher_actions` buffer holds a scripted teacher's actions for the current observations,
    refreshed after every reset and step (the rollout stores them for the action_supervised loss).

    Pickles and copies like a MettaGridEnv: rebuilt from its constructor arguments, the teacher's name and seed.
    Setting `labelling = False` stops the teacher (the training loop does once no loss will use its actions again);
    `teacher_actions` then keep their last values.
    """

    def __init__(self, *args: Any, teacher: str, teacher_seed: int = 0, **kwargs: Any) -> None:
        teacher_family(teacher)  # an unknown name fails before the games are built
        super().__init__(*args, **kwargs)
        self.teacher_name = teacher
        self.teacher_seed = int(teacher_seed)
        self.teacher = scripted_teacher(teacher, self, seed=self.teacher_seed)
        self.labelling = True
        self._label()

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuilt from its constructor arguments, teacher included."""
        return (_rebuild_teacher_env, (self._init_args, self.teacher_name, self.teacher_seed))

    def _label(self) -> None:
        if self.labelling:
            self.teacher_actions[:] = self.teacher(self.observations)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """MettaGridEnv.reset, then the teacher's actions for the first observations. With a seed, the teacher is
        reseeded from (teacher_seed, seed), so the same reset seed gives the same teacher actions."""
        with self._lock:  # the env's lock (reentrant): another thread's step cannot come between reset and labels
            out = super().reset(seed)
            self.teacher.reset(None if seed is None else
                               int(np.random.SeedSequence([self.teacher_seed, int(seed)]).generate_state(1)[0]))
            self._label()
            return out

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """MettaGridEnv.step, then the teacher's actions for the new observations."""
        with self._lock:  # labels always belong to the observations of the same step, whatever the threads
            out = super().step(actions)
            if self.labelling:
                self.teacher.episode_ended(self.terminals | self.truncations)
                self._label()
            return out


def _rebuild_teacher_env(args: dict[str, Any], teacher: str, teacher_seed: int) -> TeacherEnv:
    """Unpickles a TeacherEnv."""
    return TeacherEnv(**args, teacher=teacher, teacher_seed=teacher_seed)
