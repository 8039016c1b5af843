"""Game mechanics of GAME.md on small hand-made maps: converters, movement, swap, limits, rewards, episodes.

Every expected value here is derived by hand from GAME.md and the semantics chosen where it is silent
(put moves min(recipe amount - held by the converter, held by the agent); get takes only the recipe's outputs;
an item's reward contribution is min(reward_per_unit * (held - held at the episode's start), <item>_max) and the step
reward is its change;
a converter idle at reset starts at step 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from mettagrid.config import (
    ActionConfig,
    ActionsConfig,
    AgentConfig,
    AgentRewards,
    ConverterConfig,
    GroupConfig,
    default_objects,
)
from mechanics_util import DOWN, LEFT, RIGHT, UP, Sim, config


def objects_with(**extra: ConverterConfig) -> dict:
    objs = default_objects()
    objs.update(extra)
    return objs


def chest(type_id: int = 20, char: str = "c", outputs: dict[str, int] | None = None, count: int = 5) -> ConverterConfig:
    """A converter that holds `count` of each output at reset and never converts (its input is never given)."""
    return ConverterConfig(type_id=type_id, char=char, input_resources={"blueprint": 1},
                           output_resources=outputs or {"ore_red": 1}, initial_resource_count=count)


# ---------------------------------------------------------------------------------------------- converters


def test_mine_can_be_harvested_at_steps_1_52_103_only():
    sim = Sim(config(["#####", "#.m.#", "#.@.#", "#####"], 1, max_steps=500))
    success_steps = []
    for t in range(1, 111):
        before = sim.inv(0, "ore_red")
        sim.step({0: "get_items"})
        gained = sim.inv(0, "ore_red") - before
        assert gained in (0, 1), f"step {t}: gained {gained} ore"
        if gained:
            success_steps.append(t)
    assert success_steps == [1, 52, 103]
    assert sim.stat("action.get_items.success", 0) == 3
    assert sim.stat("action.get_items.failed", 0) == 110 - 3
    assert sim.inv(0, "ore_red") == 3


def test_mine_output_waits_in_the_mine_until_taken():
    sim = Sim(config(["#####", "#.m.#", "#.@.#", "#####"], 1))
    assert sim.obj_inv(1, 2, "ore_red") == 0
    assert sim.g()["object_converting"][sim.obj_at(1, 2)] == 1  # started at step 0
    sim.step()
    assert sim.obj_inv(1, 2, "ore_red") == 1
    for _ in range(20):
        sim.step()
    assert sim.obj_inv(1, 2, "ore_red") == 1
    sim.step({0: "get_items"})
    assert sim.inv(0, "ore_red") == 1
    assert sim.obj_inv(1, 2, "ore_red") == 0


def test_generator_put_then_get_with_tick_and_cooldown_timing():
    # generator_red: 1 ore_red -> 1 battery_red, 1 tick, cooldown 25.
    cfg = config(["#####", "#.n.#", "#.@.#", "#####"], 1, agent=AgentConfig(initial_inventory={"ore_red": 2}))
    sim = Sim(cfg)
    gen = (1, 2)
    assert sim.g()["object_converting"][sim.obj_at(*gen)] == 0  # no input: idle at reset

    sim.step({0: "put_items"})  # step 1: 1 ore in, conversion starts (input consumed), output due at step 2
    assert sim.stat("action.put_items.success", 0) == 1
    assert sim.inv(0, "ore_red") == 1
    assert sim.obj_inv(*gen, "ore_red") == 0
    assert sim.obj_inv(*gen, "battery_red") == 0
    assert sim.g()["object_converting"][sim.obj_at(*gen)] == 1

    sim.step({0: "get_items"})  # step 2: the battery is there; cooldown until step 27
    assert sim.stat("action.get_items.success", 0) == 1
    assert sim.inv(0, "battery_red") == 1
    assert sim.obj_inv(*gen, "battery_red") == 0

    sim.step({0: "put_items"})  # step 3: cooling, so the ore waits in the generator
    assert sim.inv(0, "ore_red") == 0
    assert sim.obj_inv(*gen, "ore_red") == 1

    for t in range(4, 28):  # steps 4..27: nothing to take (the second conversion starts at 27)
        sim.step({0: "get_items"})
        assert sim.inv(0, "battery_red") == 1, f"step {t}"
        expected_ore = 1 if t < 27 else 0
        assert sim.obj_inv(*gen, "ore_red") == expected_ore, f"step {t}"
    assert sim.stat("action.get_items.failed", 0) == 24

    sim.step({0: "get_items"})  # step 28: second battery
    assert sim.inv(0, "battery_red") == 2
    assert sim.stat("action.get_items.success", 0) == 2


def test_conversion_ticks_delay_the_output():
    slow = ConverterConfig(type_id=20, char="w", input_resources={"ore_red": 1}, output_resources={"battery_red": 1},
                           conversion_ticks=3, cooldown=2)
    cfg = config(["#####", "#.w.#", "#.@.#", "#####"], 1, objects=objects_with(slow=slow),
                 agent=AgentConfig(initial_inventory={"ore_red": 2}))
    sim = Sim(cfg)
    # put at 1 -> output at 4, cooldown 4..6; put at 5 waits; start at 6 -> output at 9
    plan = {1: ("put_items", 0), 2: ("get_items", 0), 3: ("get_items", 0), 4: ("get_items", 1),
            5: ("put_items", 1), 6: ("get_items", 1), 7: ("get_items", 1), 8: ("get_items", 1), 9: ("get_items", 2)}
    for t in range(1, 10):
        action, batteries = plan[t]
        sim.step({0: action})
        assert sim.inv(0, "battery_red") == batteries, f"step {t}"
    assert sim.inv(0, "ore_red") == 0


def test_altar_turns_three_batteries_into_a_heart():
    # altar: 3 battery_red -> 1 heart, cooldown 10.
    cfg = config(["#####", "#._.#", "#.@.#", "#####"], 1, agent=AgentConfig(initial_inventory={"battery_red": 7}))
    sim = Sim(cfg)
    altar = (1, 2)
    sim.step({0: "put_items"})  # step 1: 3 in, starts, consumed
    assert sim.inv(0, "battery_red") == 4
    assert sim.obj_inv(*altar, "battery_red") == 0
    sim.step({0: "get_items"})  # step 2: heart; cooldown until 12
    assert sim.inv(0, "heart") == 1
    sim.step({0: "put_items"})  # step 3: 3 more in (min(3 - 0, 4)); waits for the cooldown
    assert sim.inv(0, "battery_red") == 1
    assert sim.obj_inv(*altar, "battery_red") == 3
    sim.step({0: "put_items"})  # step 4: the recipe is already full: nothing moves, fails
    assert sim.inv(0, "battery_red") == 1
    assert sim.obj_inv(*altar, "battery_red") == 3
    assert sim.stat("action.put_items.failed", 0) == 1
    for _ in range(5, 12):
        sim.step()
    assert sim.obj_inv(*altar, "battery_red") == 3
    sim.step({0: "get_items"})  # step 12: cooldown ends, conversion starts; no heart yet
    assert sim.inv(0, "heart") == 1
    assert sim.obj_inv(*altar, "battery_red") == 0
    sim.step({0: "get_items"})  # step 13: second heart
    assert sim.inv(0, "heart") == 2
    sim.step({0: "put_items"})  # step 14: the last battery goes in (partial)
    assert sim.inv(0, "battery_red") == 0
    assert sim.obj_inv(*altar, "battery_red") == 1
    sim.step({0: "get_items"})  # step 15: only outputs can be taken: fails, the battery stays
    assert sim.inv(0, "battery_red") == 0
    assert sim.obj_inv(*altar, "battery_red") == 1
    assert sim.stat("action.get_items.failed", 0) == 2


def test_put_and_get_fail_without_a_converter_in_front():
    sim = Sim(config(["#####", "#...#", "#.@.#", "#####"], 1, agent=AgentConfig(initial_inventory={"ore_red": 3})))
    sim.step({0: "put_items"})
    sim.step({0: "get_items"})
    assert sim.inv(0, "ore_red") == 3
    assert sim.stat("action.put_items.failed", 0) == 1
    assert sim.stat("action.get_items.failed", 0) == 1


def test_max_output_stops_conversions_until_the_output_is_taken():
    # a mine holding at most 1 ore: produces at step 1, cooldown ends at step 3 but it is full; taking the ore
    # at step 10 changes its inventory, so it starts again at once and has ore at step 11.
    objs = objects_with(mine_red=ConverterConfig(type_id=2, char="m", output_resources={"ore_red": 1}, cooldown=2,
                                                 max_output=1))
    sim = Sim(config(["#####", "#.m.#", "#.@.#", "#####"], 1, objects=objs))
    for _ in range(9):
        sim.step()
    assert sim.obj_inv(1, 2, "ore_red") == 1
    assert sim.g()["object_converting"][sim.obj_at(1, 2)] == 0
    sim.step({0: "get_items"})  # step 10
    assert sim.inv(0, "ore_red") == 1
    assert sim.g()["object_converting"][sim.obj_at(1, 2)] == 1
    sim.step({0: "get_items"})  # step 11
    assert sim.inv(0, "ore_red") == 2
    sim.step({0: "get_items"})  # step 12: cooling until 13, output at 14
    sim.step({0: "get_items"})  # step 13
    assert sim.inv(0, "ore_red") == 2
    sim.step({0: "get_items"})  # step 14
    assert sim.inv(0, "ore_red") == 3


def test_initial_resource_count_is_held_at_reset():
    objs = objects_with(altar=ConverterConfig(type_id=8, char="_", input_resources={"battery_red": 3},
                                              output_resources={"heart": 1}, cooldown=10, initial_resource_count=2))
    sim = Sim(config(["#####", "#._.#", "#.@.#", "#####"], 1, objects=objs))
    assert sim.obj_inv(1, 2, "heart") == 2
    sim.step({0: "get_items"})
    assert sim.inv(0, "heart") == 2


# ---------------------------------------------------------------------------------------------- movement


def test_move_forward_and_back_keep_orientation():
    sim = Sim(config(["#####", "#...#", "#.@.#", "#...#", "#####"], 1))
    sim.step({0: "move_forward"})
    assert sim.pos(0) == (1, 2) and sim.orient(0) == UP
    sim.step({0: "move_back"})
    assert sim.pos(0) == (2, 2) and sim.orient(0) == UP
    sim.step({0: "move_back"})
    assert sim.pos(0) == (3, 2) and sim.orient(0) == UP
    sim.step({0: "move_back"})  # wall below
    assert sim.pos(0) == (3, 2)
    assert sim.stat("action.move_forward.success", 0) == 1
    assert sim.stat("action.move_back.success", 0) == 2
    assert sim.stat("action.move_back.failed", 0) == 1


def test_rotate_sets_orientation_and_moves_follow_it():
    sim = Sim(config(["#####", "#...#", "#.@.#", "#...#", "#####"], 1))
    for name, expected in (("rotate_left", LEFT), ("rotate_down", DOWN), ("rotate_right", RIGHT), ("rotate_up", UP),
                           ("rotate_up", UP), ("rotate_right", RIGHT)):
        sim.step({0: name})
        assert sim.orient(0) == expected
        assert sim.pos(0) == (2, 2)
    sim.step({0: "move_forward"})  # east
    assert sim.pos(0) == (2, 3)
    sim.step({0: "move_back"})  # west
    assert sim.pos(0) == (2, 2)
    sim.step({0: "rotate_down"})
    sim.step({0: "move_forward"})
    assert sim.pos(0) == (3, 2) and sim.orient(0) == DOWN
    assert sim.stat("action.rotate_up.success", 0) == 2


@pytest.mark.parametrize("rows,what", [
    (["###", "#@#", "#.#", "###"], "wall"),
    (["#####", "#.m.#", "#.@.#", "#####"], "mine"),
    (["#####", "#.s.#", "#.@.#", "#####"], "block"),
    (["#####", "#._.#", "#.@.#", "#####"], "altar"),
])
def test_move_forward_blocked_by_objects(rows, what):
    sim = Sim(config(rows, 1))
    start = sim.pos(0)
    sim.step({0: "move_forward"})
    assert sim.pos(0) == start, what
    assert sim.stat("action.move_forward.failed", 0) == 1
    assert sim.stat("action.move_forward.success", 0) == 0


def test_move_blocked_by_an_agent():
    # agent 1 (below) walks into agent 0, which walks into the wall: both fail whatever the order.
    sim = Sim(config(["#####", "#.@.#", "#.@.#", "#...#", "#####"], 2))
    sim.step({0: "move_forward", 1: "move_forward"})
    assert sim.pos(0) == (1, 2) and sim.pos(1) == (2, 2)
    assert sim.stat("action.move_forward.failed", 0) == 1
    assert sim.stat("action.move_forward.failed", 1) == 1
    sim.step({0: "move_back"})  # agent 0 backs into agent 1
    assert sim.pos(0) == (1, 2)
    assert sim.stat("action.move_back.failed", 0) == 1


def test_snapshot_reports_the_last_actions_success():
    sim = Sim(config(["#####", "#.@.#", "#.@.#", "#...#", "#####"], 2))
    assert sim.g()["agent_last_action_success"].tolist() == [0, 0]  # nothing done yet
    sim.step({0: "move_forward", 1: "rotate_left"})  # agent 0 walks into the wall
    g = sim.g()
    assert g["agent_last_action_success"].tolist() == [0, 1]
    assert g["agent_last_action"].tolist() == [sim.idx("move_forward"), sim.idx("rotate_left")]
    sim.step({1: "move_forward"})
    assert sim.g()["agent_last_action_success"].tolist() == [1, 1] and sim.pos(1) == (2, 1)


def test_moves_blocked_by_the_map_edge():
    # no border walls: the map edge itself blocks.
    sim = Sim(config([".@.", "...", ".@."], 2))
    sim.step({0: "move_forward", 1: "move_back"})  # agent 0 off the top, agent 1 off the bottom
    assert sim.pos(0) == (0, 1) and sim.pos(1) == (2, 1)
    sim.step({0: "rotate_left", 1: "rotate_right"})
    sim.step({0: "move_forward"})
    sim.step({0: "move_forward", 1: "move_forward"})  # agent 0 off the left edge, agent 1 to (2, 2)
    assert sim.pos(0) == (0, 0)
    assert sim.pos(1) == (2, 2)
    sim.step({1: "move_forward"})  # off the right edge
    assert sim.pos(1) == (2, 2)
    assert sim.stat("action.move_forward.failed", 0) == 2
    assert sim.stat("action.move_forward.success", 0) == 1
    assert sim.stat("action.move_back.failed", 1) == 1
    assert sim.stat("action.move_forward.failed", 1) == 1


def test_cardinal_moves_turn_even_when_blocked():
    actions = ActionsConfig(move_cardinal=ActionConfig(enabled=True))
    sim = Sim(config(["#####", "#...#", "#.@.#", "#.#.#", "#####"], 1, actions=actions))
    for name in ("move_north", "move_south", "move_west", "move_east"):
        assert name in sim.names
    sim.step({0: "move_south"})  # wall below: turns down, stays
    assert sim.orient(0) == DOWN and sim.pos(0) == (2, 2)
    assert sim.stat("action.move_south.failed", 0) == 1
    sim.step({0: "move_east"})
    assert sim.orient(0) == RIGHT and sim.pos(0) == (2, 3)
    sim.step({0: "move_north"})
    assert sim.orient(0) == UP and sim.pos(0) == (1, 3)
    sim.step({0: "move_west"})
    assert sim.orient(0) == LEFT and sim.pos(0) == (1, 2)
    sim.step({0: "rotate_down"})
    sim.step({0: "move_north"})  # wall above: turns up, stays
    assert sim.orient(0) == UP and sim.pos(0) == (1, 2)
    assert sim.stat("action.move_north.success", 0) == 1
    assert sim.stat("action.move_north.failed", 0) == 1


def test_action_list_keeps_the_canonical_order():
    actions = ActionsConfig(move_cardinal=ActionConfig(enabled=True), attack=ActionsConfig().attack.model_copy(
        update={"enabled": False}))
    sim = Sim(config(["#####", "#.@.#", "#####"], 1, actions=actions))
    assert sim.names == ["noop", "move_forward", "move_back", "rotate_up", "rotate_down", "rotate_left",
                         "rotate_right", "move_north", "move_south", "move_west", "move_east", "put_items",
                         "get_items", "swap", "change_color_inc", "change_color_dec", "change_color_inc_big",
                         "change_color_dec_big"]


def test_change_color_wraps():
    sim = Sim(config(["#####", "#.@.#", "#####"], 1))
    for name, expected in (("change_color_dec", 255), ("change_color_inc_big", 62), ("change_color_dec_big", 255),
                           ("change_color_inc", 0), ("change_color_inc_big", 63), ("change_color_inc", 64)):
        sim.step({0: name})
        assert int(sim.g()["agent_color"][0]) == expected, name


def test_action_resources_required_and_consumed_only_on_success():
    actions = ActionsConfig(move=ActionConfig(required_resources={"heart": 1}, consumed_resources={"ore_red": 1}))
    groups = {"agent": GroupConfig(id=0, props={"initial_inventory": {"heart": 1, "ore_red": 2}}),
              "poor": GroupConfig(id=1, props={"initial_inventory": {"ore_red": 2}})}
    sim = Sim(config(["#######", "#.....#", "#.@.1.#", "#######"], 2, actions=actions, groups=groups))
    sim.step({0: "move_back", 1: "move_forward"})  # 0: into the wall, nothing spent; 1: lacks the heart
    assert sim.pos(0) == (2, 2) and sim.inventory(0) == {"heart": 1, "ore_red": 2}
    assert sim.pos(1) == (2, 4) and sim.inventory(1) == {"ore_red": 2}
    assert sim.stat("action.move_forward.failed", 1) == 1
    sim.step({0: "move_forward"})
    assert sim.pos(0) == (1, 2) and sim.inventory(0) == {"heart": 1, "ore_red": 1}
    sim.step({0: "move_back"})
    assert sim.pos(0) == (2, 2) and sim.inventory(0) == {"heart": 1}
    sim.step({0: "move_forward"})  # cannot pay the ore
    assert sim.pos(0) == (2, 2) and sim.inventory(0) == {"heart": 1}
    assert sim.stat("action.move_forward.failed", 0) == 1


# ---------------------------------------------------------------------------------------------- swap


def test_swap_with_a_block_exchanges_positions_and_keeps_layers():
    sim = Sim(config(["#####", "#.s.#", "#.@.#", "#####"], 1))
    num_objects = len(sim.g()["object_type"])
    sim.step({0: "swap"})
    assert sim.stat("action.swap.success", 0) == 1
    assert sim.pos(0) == (1, 2)
    assert sim.obj_name_at(2, 2) == "block"
    assert sim.obj_at(1, 2) is None
    assert len(sim.g()["object_type"]) == num_objects
    sim.step({0: "move_back"})  # the block is still a solid object
    assert sim.pos(0) == (1, 2)
    sim.step({0: "swap"})  # a plain wall is not swappable
    assert sim.pos(0) == (1, 2)
    assert sim.obj_name_at(0, 2) == "wall"
    assert sim.stat("action.swap.failed", 0) == 1


def _duel_groups(target: dict, attacker: dict) -> dict[str, GroupConfig]:
    return {"red": GroupConfig(id=1, props=target), "blue": GroupConfig(id=2, props=attacker)}


def test_swap_with_a_frozen_agent():
    groups = _duel_groups({}, {"initial_inventory": {"laser": 1}})
    sim = Sim(config(["#####", "#.1.#", "#.2.#", "#####"], 2, groups=groups))
    sim.step({1: "attack_0"})
    assert sim.frozen(0) > 0
    sim.step({1: "swap"})
    assert sim.stat("action.swap.success", 1) == 1
    assert sim.pos(1) == (1, 2)
    assert sim.pos(0) == (2, 2)
    assert sim.frozen(0) > 0


def test_swap_with_an_unfrozen_agent_fails():
    sim = Sim(config(["#####", "#.@.#", "#.@.#", "#####"], 2))
    sim.step({1: "swap"})
    assert sim.pos(0) == (1, 2) and sim.pos(1) == (2, 2)
    assert sim.stat("action.swap.failed", 1) == 1
    assert sim.stat("action.swap.success", 1) == 0


# ---------------------------------------------------------------------------------------------- limits


def test_get_is_clamped_to_the_resource_limit():
    cfg = config(["#####", "#.c.#", "#.@.#", "#####"], 1,
                 objects=objects_with(chest=chest(outputs={"ore_red": 1, "heart": 1}, count=5)),
                 agent=AgentConfig(resource_limits={"ore_red": 3, "heart": 255}))
    sim = Sim(cfg)
    sim.step({0: "get_items"})
    assert sim.inv(0, "ore_red") == 3 and sim.inv(0, "heart") == 5
    assert sim.obj_inv(1, 2, "ore_red") == 2 and sim.obj_inv(1, 2, "heart") == 0
    sim.step({0: "get_items"})  # at the limit and no heart left: nothing taken
    assert sim.inv(0, "ore_red") == 3
    assert sim.obj_inv(1, 2, "ore_red") == 2
    assert sim.stat("action.get_items.failed", 0) == 1
    assert sim.stat("ore_red.gained", 0) == 3


def test_default_limits_are_50_and_heart_255():
    cfg = config(["#####", "#.c.#", "#.@.#", "#####"], 1,
                 objects=objects_with(chest=chest(outputs={"ore_red": 1, "heart": 1}, count=200)))
    sim = Sim(cfg)
    sim.step({0: "get_items"})
    assert sim.inv(0, "ore_red") == 50
    assert sim.inv(0, "heart") == 200
    assert sim.obj_inv(1, 2, "ore_red") == 150


# ---------------------------------------------------------------------------------------------- rewards


def test_each_inventory_reward_cap_applies_to_its_own_item():
    rewards = AgentRewards(inventory={"heart": 1.0, "heart_max": 2.0, "ore_red": 0.1, "ore_red_max": 0.3,
                                      "battery_red": 0.25})
    cfg = config(["#####", "#.c.#", "#.@.#", "#####"], 1, agent=AgentConfig(rewards=rewards),
                 objects=objects_with(chest=chest(outputs={"ore_red": 1, "battery_red": 1, "heart": 1}, count=5)))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "get_items"})
    # heart min(5, 2) + ore min(0.5, 0.3) + battery 1.25 (uncapped)
    assert rew[0] == pytest.approx(2.0 + 0.3 + 1.25, abs=1e-5)
    _, rew, *_ = sim.step()
    assert rew[0] == pytest.approx(0.0, abs=1e-6)


def test_inventory_reward_follows_the_inventory_on_loss():
    # battery_red: 0.5 per unit, capped at 1.0. The 5 held at the start are the baseline: contribution 0.
    rewards = AgentRewards(inventory={"battery_red": 0.5, "battery_red_max": 1.0})
    cfg = config(["#####", "#._.#", "#.@.#", "#####"], 1,
                 agent=AgentConfig(initial_inventory={"battery_red": 5}, rewards=rewards))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "put_items"})  # 5 -> 2: 0.5 * (2 - 5) - 0 = -1.5 (the cap bounds gains only)
    assert sim.inv(0, "battery_red") == 2
    assert rew[0] == pytest.approx(-1.5, abs=1e-6)
    _, rew, *_ = sim.step({0: "put_items"})  # 2 -> 0: 0.5 * (0 - 5) - (-1.5) = -1.0
    assert sim.inv(0, "battery_red") == 0
    assert rew[0] == pytest.approx(-1.0, abs=1e-6)


def test_stat_rewards_with_a_cap():
    rewards = AgentRewards(stats={"action.rotate_left.success": 0.25, "action.rotate_left.success_max": 0.5})
    sim = Sim(config(["#####", "#.@.#", "#####"], 1, agent=AgentConfig(rewards=rewards)))
    got = []
    for name in ("rotate_left", "noop", "rotate_left", "rotate_left", "rotate_right"):
        _, rew, *_ = sim.step({0: name})
        got.append(float(rew[0]))
    assert got == pytest.approx([0.25, 0.0, 0.25, 0.0, 0.0], abs=1e-6)


def test_group_sharing_and_returns_before_sharing():
    # agent 0: group solo (id 3, no sharing); agents 1 and 2: group team (id 1, pct 0.5).
    groups = {"team": GroupConfig(id=1, group_reward_pct=0.5), "solo": GroupConfig(id=3)}
    cfg = config(["#####", "#c.3#", "#1.1#", "#####"], 3, max_steps=1, groups=groups,
                 agent=AgentConfig(rewards=AgentRewards(inventory={"heart": 1.0})),
                 objects=objects_with(chest=chest(outputs={"heart": 1}, count=2)))
    sim = Sim(cfg)
    _, rew, _, trunc, infos = sim.step({1: "get_items"})  # agent 1 earns 2.0; the episode ends here
    assert rew.tolist() == pytest.approx([0.0, 1.5, 0.5], abs=1e-6)
    assert trunc.all()
    assert len(infos) == 1
    record = sim.env.episode_record()
    assert record["returns"].tolist() == pytest.approx([0.0, 2.0, 0.0], abs=1e-6)
    reward_stat = sim.env.agent_stat_names.index("reward")
    assert record["agent_stats"][:, reward_stat].tolist() == pytest.approx([0.0, 2.0, 0.0], abs=1e-6)
    assert infos[0]["episode_return"] == pytest.approx(2.0 / 3, abs=1e-6)


# ---------------------------------------------------------------------------------------------- episodes


def test_truncation_at_max_steps_and_auto_reset():
    sim = Sim(config(["#####", "#...#", "#.@.#", "#####"], 1, max_steps=3))
    first_obs = sim.obs.copy()
    for t in (1, 2):
        _, _, term, trunc, infos = sim.step({0: "move_forward" if t == 1 else "noop"})
        assert not term.any() and not trunc.any(), f"step {t}"
        assert infos == [], f"step {t}"
    assert sim.pos(0) == (1, 2)
    obs, _, term, trunc, infos = sim.step()
    assert trunc.tolist() == [True] and term.tolist() == [False]
    assert len(infos) == 1
    assert infos[0]["episode_length"] == 3
    assert infos[0]["agent/action.move_forward.success"] == 1.0
    assert infos[0]["agent/action.noop.success"] == 2.0
    # the returned observation is the new episode's first
    np.testing.assert_array_equal(obs, first_obs)
    assert sim.pos(0) == (2, 2)
    assert sim.env.current_step() == 0
    _, _, term, trunc, infos = sim.step()
    assert not term.any() and not trunc.any() and infos == []


def test_time_limit_as_termination_when_episode_truncates_is_false():
    sim = Sim(config(["#####", "#.@.#", "#####"], 1, max_steps=2, episode_truncates=False))
    _, _, term, trunc, infos = sim.step()
    assert not term.any() and not trunc.any() and infos == []
    _, _, term, trunc, infos = sim.step()
    assert term.tolist() == [True] and trunc.tolist() == [False]
    assert len(infos) == 1 and infos[0]["episode_length"] == 2


# ---------------------------------------------------------------------------------------------- failure penalty


def test_failure_penalty_is_charged_once_per_failed_action():
    cfg = config(["#####", "#.@.#", "#.@.#", "#####"], 2, agent=AgentConfig(action_failure_penalty=0.25))
    sim = Sim(cfg)
    # agent 0 walks into the wall; agent 1 attacks agent 0 without a laser.
    _, rew, *_ = sim.step({0: "move_forward", 1: "attack_0"})
    assert rew.tolist() == pytest.approx([-0.25, -0.25], abs=1e-6)
    assert sim.stat("action.failure_penalty", 0) == pytest.approx(0.25)
    assert sim.stat("action.failure_penalty", 1) == pytest.approx(0.25)
    _, rew, *_ = sim.step({0: "rotate_left", 1: "noop"})
    assert rew.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    _, rew, *_ = sim.step({0: "move_forward"})  # facing left: (1, 1) is free
    assert rew.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_no_failure_penalty_while_frozen():
    groups = _duel_groups({"action_failure_penalty": 0.25}, {"initial_inventory": {"laser": 1}})
    sim = Sim(config(["#####", "#.1.#", "#.2.#", "#####"], 2, groups=groups))
    for t in range(1, 11):  # frozen at step 1: its actions fail without penalty for steps 1..10
        _, rew, *_ = sim.step({0: "move_forward", 1: "attack_0" if t == 1 else "noop"})
        assert rew.tolist() == pytest.approx([0.0, 0.0], abs=1e-6), f"step {t}"
    assert sim.stat("frozen_steps", 0) == 10
    assert sim.stat("action.move_forward.failed", 0) == 0
    _, rew, *_ = sim.step({0: "move_forward"})  # step 11: acts again, walks into the wall
    assert rew.tolist() == pytest.approx([-0.25, 0.0], abs=1e-6)
    assert sim.stat("action.move_forward.failed", 0) == 1


# ---------------------------------------------------------------------------------------------- invalid actions


def _state(sim: Sim) -> tuple[dict, np.ndarray, int, dict]:
    return sim.g(), sim.env.observations.copy(), sim.env.current_step(), sim.env.episode_stats()


def _assert_same_state(a, b) -> None:
    ga, oa, sa, st_a = a
    gb, ob, sb, st_b = b
    assert ga.keys() == gb.keys()
    for k in ga:
        np.testing.assert_array_equal(np.asarray(ga[k]), np.asarray(gb[k]), err_msg=k)
    np.testing.assert_array_equal(oa, ob)
    assert sa == sb
    for k in st_a["agent"]:
        np.testing.assert_array_equal(st_a["agent"][k], st_b["agent"][k], err_msg=k)
    assert st_a["game"] == st_b["game"]


def _invalid_sim() -> Sim:
    sim = Sim(config(["#####", "#.m.#", "#@.@#", "#####"], 2, max_steps=50))
    sim.step({0: "rotate_right", 1: "move_forward"})
    return sim


@pytest.mark.parametrize("agent,value", [(1, "n"), (0, -1), (1, 1000), (0, 2 ** 40)])
def test_out_of_range_action_raises_and_changes_nothing(agent, value):
    sim = _invalid_sim()
    n = len(sim.names)
    v = n if value == "n" else value
    acts = np.zeros(2, dtype=np.int64 if abs(v) > 2 ** 31 else np.int32)
    acts[agent] = v
    before = _state(sim)
    with pytest.raises(ValueError) as exc:
        sim.env.step(acts)
    msg = str(exc.value)
    assert f"agent {agent}" in msg and str(v) in msg
    _assert_same_state(before, _state(sim))


def test_float_actions_raise_and_change_nothing():
    sim = _invalid_sim()
    before = _state(sim)
    with pytest.raises((TypeError, ValueError)) as exc:
        sim.env.step(np.array([0.0, 1.0]))
    assert "float" in str(exc.value) or "dtype" in str(exc.value)
    _assert_same_state(before, _state(sim))


@pytest.mark.parametrize("shape", [(3,), (1,), (2, 2), ()])
def test_wrong_shape_actions_raise_and_change_nothing(shape):
    sim = _invalid_sim()
    before = _state(sim)
    with pytest.raises(ValueError) as exc:
        sim.env.step(np.zeros(shape, dtype=np.int32))
    assert str(shape) in str(exc.value)
    _assert_same_state(before, _state(sim))


def test_a_rejected_step_does_not_advance_the_rng():
    # The same valid actions after a rejected step give what a fresh env gives without it.
    a, b = _invalid_sim(), _invalid_sim()
    with pytest.raises(ValueError):
        a.env.step(np.array([0, len(a.names)], dtype=np.int32))
    for _ in range(5):
        oa, ra, *_ = a.step({0: "move_forward", 1: "get_items"})
        ob, rb, *_ = b.step({0: "move_forward", 1: "get_items"})
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(ra, rb)
