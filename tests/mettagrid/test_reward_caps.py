"""Inventory reward caps count what the episode earned (GAME.md, Rewards): an item's contribution is
reward × (units held − units held at the episode's start), capped by `<item>_max`; the step reward is its change.
Items an agent starts with neither pay nor use up the cap."""

from __future__ import annotations

import pytest

from mettagrid.config import AgentConfig, AgentRewards, ConverterConfig, GroupConfig, default_objects
from mechanics_util import Sim, config


def chests(**chars: dict[str, int]) -> dict:
    """Default objects plus, per map char, a chest holding the given outputs at reset (it never converts)."""
    objs = default_objects()
    for i, (char, outputs) in enumerate(chars.items()):
        count = set(outputs.values())
        assert len(count) == 1, "a converter holds the same count of each output"
        objs[f"chest_{char}"] = ConverterConfig(type_id=20 + i, char=char, input_resources={"blueprint": 1},
                                                output_resources={k: 1 for k in outputs},
                                                initial_resource_count=count.pop())
    return objs


# The agent faces chest `c` (up); chest `d` is on its left.
TWO_CHESTS = ["#####", "#.c.#", "#d@.#", "#####"]
HEARTS = AgentRewards(inventory={"heart": 1.0, "heart_max": 5.0})


def test_starting_items_do_not_use_up_the_cap():
    # 3 hearts at the start, heart_max 5; gaining 3 and then 3 more pays +3, then +2 (the cap); more pays nothing.
    cfg = config(TWO_CHESTS, 1, agent=AgentConfig(initial_inventory={"heart": 3}, rewards=HEARTS),
                 objects=chests(c={"heart": 3}, d={"heart": 3}))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "get_items"})
    assert sim.inv(0, "heart") == 6
    assert rew[0] == pytest.approx(3.0, abs=1e-6)
    _, rew, *_ = sim.step({0: "rotate_left"})
    assert rew[0] == pytest.approx(0.0, abs=1e-6)
    _, rew, *_ = sim.step({0: "get_items"})
    assert sim.inv(0, "heart") == 9
    assert rew[0] == pytest.approx(2.0, abs=1e-6)
    assert sim.stat("heart.gained", 0) == 6


def test_losing_below_the_start_costs_and_regaining_pays_back_up_to_the_cap():
    # battery_red 0.5 per unit, cap 1.0, 5 at the start. Putting 3 into the altar: 0.5 * (2 - 5) = -1.5.
    # Taking 5 from the chest: 7 held, earned 2 -> min(1.0, 1.0) = 1.0, so the step pays 1.0 - (-1.5) = 2.5.
    rewards = AgentRewards(inventory={"battery_red": 0.5, "battery_red_max": 1.0})
    cfg = config(["#####", "#._.#", "#d@.#", "#####"], 1,
                 agent=AgentConfig(initial_inventory={"battery_red": 5}, rewards=rewards),
                 objects=chests(d={"battery_red": 5}))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "put_items"})
    assert sim.inv(0, "battery_red") == 2
    assert rew[0] == pytest.approx(-1.5, abs=1e-6)
    sim.step({0: "rotate_left"})
    _, rew, *_ = sim.step({0: "get_items"})
    assert sim.inv(0, "battery_red") == 7
    assert rew[0] == pytest.approx(2.5, abs=1e-6)
    # The return so far is the capped contribution of what the episode earned: 1.0.
    assert float(sim.g()["agent_return"][0]) == pytest.approx(1.0, abs=1e-6)


def test_the_baseline_is_each_groups_own_starting_inventory():
    # Group red starts with 4 hearts, blue with none; both take 3 from a chest in front: both are paid 3.
    groups = {"red": GroupConfig(id=1, props={"initial_inventory": {"heart": 4}, "rewards": HEARTS}),
              "blue": GroupConfig(id=2, props={"rewards": HEARTS})}
    cfg = config(["#######", "#c...c#", "#1...2#", "#######"], 2, groups=groups,
                 objects=chests(c={"heart": 3}))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "get_items", 1: "get_items"})
    assert [sim.inv(0, "heart"), sim.inv(1, "heart")] == [7, 3]
    assert rew.tolist() == pytest.approx([3.0, 3.0], abs=1e-6)


def test_each_episode_starts_from_its_own_inventory():
    # max_steps 2: the episode ends after the second step and the next starts with 3 hearts again, and an
    # untouched cap: its first gain of 3 pays 3 again, and the finished episode's return was 3.
    cfg = config(TWO_CHESTS, 1, max_steps=2, agent=AgentConfig(initial_inventory={"heart": 3}, rewards=HEARTS),
                 objects=chests(c={"heart": 3}, d={"heart": 3}))
    sim = Sim(cfg)
    _, rew, *_ = sim.step({0: "get_items"})
    assert rew[0] == pytest.approx(3.0, abs=1e-6)
    _, _, _, trunc, _ = sim.step()
    assert trunc[0]
    assert sim.env.episode_record()["returns"][0] == pytest.approx(3.0, abs=1e-6)
    assert sim.inv(0, "heart") == 3
    _, rew, *_ = sim.step({0: "get_items"})
    assert sim.inv(0, "heart") == 6
    assert rew[0] == pytest.approx(3.0, abs=1e-6)
