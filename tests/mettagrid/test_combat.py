"""Combat as GAME.md describes it: armor, lasers, freezing, stealing, scan order, attacks resolving first."""

from __future__ import annotations

import pytest

from mettagrid.config import GroupConfig
from mechanics_util import F_FROZEN, LEFT, Sim, config

DUEL = ["#####",
        "#.1.#",   # target T, agent 0, group red (id 1)
        "#.2.#",   # attacker A, agent 1, group blue (id 2), facing up at T
        "#####"]
T, A = 0, 1


def duel(target: dict | None = None, attacker: dict | None = None, **kw) -> Sim:
    groups = {"red": GroupConfig(id=1, props=target or {}), "blue": GroupConfig(id=2, props=attacker or {})}
    return Sim(config(DUEL, 2, groups=groups, **kw))


def test_armor_blocks_the_attack_and_both_are_consumed():
    sim = duel({"initial_inventory": {"armor": 1, "ore_red": 5, "heart": 2}}, {"initial_inventory": {"laser": 2}})
    sim.step({A: "attack_0", T: "rotate_left"})
    assert sim.inventory(A) == {"laser": 1}
    assert sim.inventory(T) == {"ore_red": 5, "heart": 2}
    assert sim.frozen(T) == 0
    assert sim.orient(T) == LEFT  # not frozen: its own action went through
    assert sim.stat("action.attack_0.success", A) == 1
    assert sim.stat("attack.blocked", A) == 1
    assert sim.stat("attack.hit", A) == 0
    assert sim.stat("defended", T) == 1
    assert sim.stat("frozen", T) == 0


def test_unarmored_target_is_frozen_and_robbed_up_to_the_attackers_limits():
    target = {"initial_inventory": {"armor": 1, "ore_red": 5, "battery_red": 3, "heart": 2}}
    attacker = {"initial_inventory": {"laser": 2, "ore_red": 1}, "resource_limits": {"ore_red": 3}}
    sim = duel(target, attacker)
    sim.step({A: "attack_0"})  # blocked by the armor
    assert sim.inventory(T) == {"ore_red": 5, "battery_red": 3, "heart": 2}
    sim.step({A: "attack_0"})  # hit
    assert sim.frozen(T) == 9  # set to 10, counted down at the end of the step
    # whole inventory, item by item, but the attacker can only hold 3 ore (it had 1)
    assert sim.inventory(A) == {"ore_red": 3, "battery_red": 3, "heart": 2}
    assert sim.inventory(T) == {"ore_red": 3}
    assert sim.stat("ore_red.stolen", A) == 2
    assert sim.stat("battery_red.stolen", A) == 3
    assert sim.stat("heart.stolen", A) == 2
    assert sim.stat("laser.lost", A) == 2
    assert sim.stat("attack.hit", A) == 1
    assert sim.stat("frozen", T) == 1
    assert sim.stat("action.attack_0.success", A) == 2


def test_freeze_lasts_freeze_duration_steps_including_the_hit_step():
    sim = duel({}, {"initial_inventory": {"laser": 1}})
    # A sees T one row up: window (4, 5) in the default 11 x 11 view
    loc = (4 << 4) | 5
    for t in range(1, 11):
        sim.step({A: "attack_0" if t == 1 else "noop", T: "rotate_left"})
        assert sim.orient(T) == 0, f"step {t}: a frozen agent acted"
        frozen_tok = [tok for tok in sim.obs[A].tolist() if tok[0] == loc and tok[1] == F_FROZEN]
        assert frozen_tok == [[loc, F_FROZEN, 1 if t < 10 else 0]], f"step {t}"
    assert sim.stat("frozen_steps", T) == 10
    assert sim.stat("action.rotate_left.failed", T) == 0
    assert sim.stat("action.rotate_left.success", T) == 0
    assert sim.frozen(T) == 0
    sim.step({T: "rotate_left"})  # the 11th step: it acts again
    assert sim.orient(T) == LEFT
    assert sim.stat("action.rotate_left.success", T) == 1
    assert sim.stat("frozen_steps", T) == 10


def test_freeze_duration_is_configurable():
    sim = duel({"freeze_duration": 3}, {"initial_inventory": {"laser": 1}})
    for t in range(1, 4):
        sim.step({A: "attack_0" if t == 1 else "noop", T: "rotate_left"})
        assert sim.orient(T) == 0, f"step {t}"
    sim.step({T: "rotate_left"})
    assert sim.orient(T) == LEFT


def test_refreezing_a_frozen_agent_steals_nothing():
    rows = ["#####",
            "#.2.#",   # A1, agent 0, group blue (id 2): cannot hold ore
            "#.1.#",   # T, agent 1, group red (id 1)
            "#.3.#",   # A2, agent 2, group green (id 3)
            "#####"]
    groups = {"red": GroupConfig(id=1, props={"initial_inventory": {"ore_red": 4, "heart": 1}}),
              "blue": GroupConfig(id=2, props={"initial_inventory": {"laser": 1}, "resource_limits": {"ore_red": 0}}),
              "green": GroupConfig(id=3, props={"initial_inventory": {"laser": 1}})}
    sim = Sim(config(rows, 3, groups=groups))
    a1, t, a2 = 0, 1, 2
    sim.step({a1: "rotate_down"})
    sim.step({a1: "attack_0"})  # step 2: hit; A1 takes the heart, no ore (limit 0)
    assert sim.inventory(a1) == {"heart": 1}
    assert sim.inventory(t) == {"ore_red": 4}
    assert sim.frozen(t) == 9
    sim.step({a2: "attack_0", t: "rotate_left"})  # step 3: re-frozen, nothing stolen
    assert sim.inventory(a2) == {}
    assert sim.inventory(t) == {"ore_red": 4}
    assert sim.stat("attack.hit", a2) == 1
    assert sim.stat("ore_red.stolen", a2) == 0
    assert sim.stat("frozen", t) == 2
    assert sim.frozen(t) == 9  # reset to 10 and counted down
    for step in range(4, 13):  # frozen through step 12 (10 steps from 3)
        sim.step({t: "rotate_left"})
        assert sim.orient(t) == 0, f"step {step}"
    sim.step({t: "rotate_left"})  # step 13
    assert sim.orient(t) == LEFT


def test_attacking_nothing_fails_and_spends_nothing():
    rows = ["#####",
            "#.@.#",   # attacker, agent 0, facing the wall
            "#...#",
            "#.@.#",   # agent 1, behind: never a target
            "#####"]
    groups = {"agent": GroupConfig(id=0, props={"initial_inventory": {"laser": 1}})}
    sim = Sim(config(rows, 2, groups=groups))
    for k in (0, 8):
        sim.step({0: f"attack_{k}"})
        assert sim.stat(f"action.attack_{k}.failed", 0) == 1
    assert sim.inv(0, "laser") == 1 and sim.inv(1, "laser") == 1
    assert sim.frozen(1) == 0
    assert sim.stat("attack.hit", 0) == 0


def test_attack_without_a_laser_fails():
    sim = duel({"initial_inventory": {"ore_red": 2}}, {})
    sim.step({A: "attack_0", T: "rotate_left"})
    assert sim.stat("action.attack_0.failed", A) == 1
    assert sim.frozen(T) == 0
    assert sim.orient(T) == LEFT
    assert sim.inventory(T) == {"ore_red": 2}
    assert sim.inventory(A) == {}


# ---------------------------------------------------------------------------------------------- targeting

FULL_BLOCK = ["#########"] + ["#" + "@" * 7 + "#"] * 3 + ["#@@@2@@@#"] + ["#" + "@" * 7 + "#"] * 3 + ["#########"]
ATTACKER = 24  # row-major: 3 full rows of 7 before it, then 3 in its row

# attacker at (4, 4); for each facing: distance 1 (centre, left, right), 2 (...), 3 (...).
# Left is relative to facing: up -> west, down -> east, left (west) -> south, right (east) -> north.
SCAN = {
    "rotate_up": [(3, 4), (3, 3), (3, 5), (2, 4), (2, 3), (2, 5), (1, 4), (1, 3), (1, 5)],
    "rotate_down": [(5, 4), (5, 5), (5, 3), (6, 4), (6, 5), (6, 3), (7, 4), (7, 5), (7, 3)],
    "rotate_left": [(4, 3), (5, 3), (3, 3), (4, 2), (5, 2), (3, 2), (4, 1), (5, 1), (3, 1)],
    "rotate_right": [(4, 5), (3, 5), (5, 5), (4, 6), (3, 6), (5, 6), (4, 7), (3, 7), (5, 7)],
}


def _frozen_positions(sim: Sim) -> list[tuple[int, int]]:
    g = sim.g()
    return [(int(g["agent_row"][a]), int(g["agent_col"][a])) for a in range(sim.n) if g["agent_frozen"][a] > 0]


@pytest.mark.parametrize("facing", list(SCAN))
def test_attack_k_targets_the_kth_agent_in_scan_order(facing):
    groups = {"agent": GroupConfig(id=0), "att": GroupConfig(id=2, props={"initial_inventory": {"laser": 1}})}
    cfg = config(FULL_BLOCK, 49, groups=groups)
    for k in range(9):
        sim = Sim(cfg)
        assert sim.pos(ATTACKER) == (4, 4)
        sim.step({ATTACKER: facing})
        sim.step({ATTACKER: f"attack_{k}"})
        assert _frozen_positions(sim) == [SCAN[facing][k]], f"{facing} attack_{k}"


@pytest.mark.parametrize("k,expected", [(0, (1, 2))] + [(k, (3, 4)) for k in range(1, 9)])
def test_attack_k_takes_the_last_agent_found_when_fewer_than_k_plus_1(k, expected):
    rows = ["######",
            "#.@..#",   # X (1, 2): distance 1, left of an east-facing attacker
            "#2...#",   # attacker (2, 1)
            "#@..@#",   # Z (3, 1) beside the attacker (not in front); Y (3, 4): distance 3, right
            "######"]
    groups = {"agent": GroupConfig(id=0), "att": GroupConfig(id=2, props={"initial_inventory": {"laser": 1}})}
    sim = Sim(config(rows, 4, groups=groups))
    sim.step({1: "rotate_right"})
    sim.step({1: f"attack_{k}"})
    assert _frozen_positions(sim) == [expected]
    assert sim.inv(1, "laser") == 0


# ---------------------------------------------------------------------------------------------- ordering

RACE = ["######",
        "#..@.#",   # T (1, 3): in the attacker's block (distance 3, right)
        "#....#",
        "#....#",
        "#.2..#",   # attacker (4, 2), facing up: block rows 1..3, cols 1..3
        "######"]


@pytest.mark.parametrize("seed", range(8))
def test_attacks_resolve_before_a_target_moves_out_of_range(seed):
    groups = {"agent": GroupConfig(id=0), "att": GroupConfig(id=2, props={"initial_inventory": {"laser": 1}})}
    sim = Sim(config(RACE, 2, groups=groups), seed=seed)
    sim.step({0: "rotate_right"})
    sim.step({1: "attack_0", 0: "move_forward"})  # T would step to (1, 4), out of the block
    assert sim.pos(0) == (1, 3)
    assert sim.frozen(0) == 9
    assert sim.inv(1, "laser") == 0
    assert sim.stat("attack.hit", 1) == 1


@pytest.mark.parametrize("seed", range(8))
def test_attacks_resolve_before_an_agent_moves_into_range(seed):
    rows = [r.replace("..@.", "...@") if i == 1 else r for i, r in enumerate(RACE)]  # T starts at (1, 4)
    groups = {"agent": GroupConfig(id=0), "att": GroupConfig(id=2, props={"initial_inventory": {"laser": 1}})}
    sim = Sim(config(rows, 2, groups=groups), seed=seed)
    assert sim.pos(0) == (1, 4)
    sim.step({0: "rotate_left"})
    sim.step({1: "attack_0", 0: "move_forward"})  # T steps into (1, 3) after the attack found nobody
    assert sim.pos(0) == (1, 3)
    assert sim.frozen(0) == 0
    assert sim.inv(1, "laser") == 1
    assert sim.stat("action.attack_0.failed", 1) == 1
