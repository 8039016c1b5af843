"""Token and grid observations, as GAME.md's Observations section and feature table describe them."""

from __future__ import annotations

import numpy as np
import pytest

from mettagrid.config import (
    ActionsConfig,
    AgentConfig,
    AgentRewards,
    ChangeGlyphActionConfig,
    ConverterConfig,
    GroupConfig,
    default_objects,
)
from mechanics_util import (
    F_COLOR,
    F_COMPLETION,
    F_CONVERTING,
    F_FROZEN,
    F_GLYPH,
    F_GROUP,
    F_INV,
    F_LAST_ACTION,
    F_LAST_REWARD,
    F_ORIENT,
    F_SWAPPABLE,
    F_TYPE,
    GLOBAL_LOC,
    ITEM,
    PAD,
    Sim,
    cells_in_order,
    config,
    tokens,
)

ORE, HEART = F_INV + ITEM["ore_red"], F_INV + ITEM["heart"]

# Map coordinates equal window coordinates for the observer A at (2, 2) in a 5 x 5 window.
VIEW_MAP = ["..#..",
            ".m.5.",   # mine (1, 1); B (1, 3), agent 0, group blue (id 5)
            "..@..",   # A (2, 2), agent 1, group agent (id 0)
            "s....",   # block (3, 0)
            "....."]
B, A = 0, 1
MINE_COLOR = 77


def view_config(**kw):
    objects = default_objects()
    objects["mine_red"] = ConverterConfig(type_id=2, char="m", output_resources={"ore_red": 1}, cooldown=50,
                                          color=MINE_COLOR)
    groups = {"agent": GroupConfig(id=0, props={"initial_inventory": {"heart": 3}}),
              "blue": GroupConfig(id=5, props={"initial_inventory": {"ore_red": 2}})}
    actions = ActionsConfig(change_glyph=ChangeGlyphActionConfig(enabled=True, number_of_glyphs=4))
    return config(VIEW_MAP, 2, max_steps=100, obs_width=5, obs_height=5, num_observation_tokens=60,
                  objects=objects, groups=groups, actions=actions, **kw)


def loc(r: int, c: int) -> int:
    return (r << 4) | c


def test_token_order_features_and_locations():
    sim = Sim(view_config())
    # step 1: B sets glyph 3, A turns left; the mine (started at step 0) outputs 1 ore and cools down
    obs, *_ = sim.step({B: "change_glyph_3", A: "rotate_left"})
    completion = 3  # round(255 * 1 / 100) = round(2.55)

    a_tokens = tokens(obs[A])
    assert a_tokens[:3] == [[GLOBAL_LOC, F_COMPLETION, completion],
                            [GLOBAL_LOC, F_LAST_ACTION, sim.idx("rotate_left")],
                            [GLOBAL_LOC, F_LAST_REWARD, 0]]
    c = loc(2, 2)
    a_self = [[c, F_TYPE, 0], [c, F_GROUP, 0], [c, F_FROZEN, 0], [c, F_ORIENT, 2], [c, F_COLOR, 0], [c, HEART, 3]]
    m = loc(1, 1)
    mine = [[m, F_TYPE, 2], [m, F_COLOR, MINE_COLOR], [m, F_CONVERTING, 1], [m, ORE, 1]]
    b = loc(1, 3)
    b_agent = [[b, F_TYPE, 0], [b, F_GROUP, 5], [b, F_FROZEN, 0], [b, F_ORIENT, 0], [b, F_COLOR, 0], [b, F_GLYPH, 3],
               [b, ORE, 2]]
    expected = [
        (c, sorted(a_self)),                                  # distance 0
        (loc(0, 2), [[loc(0, 2), F_TYPE, 1]]),                # distance 2, row 0: the wall
        (m, sorted(mine)),                                    # distance 2, row 1, left
        (b, sorted(b_agent)),                                 # distance 2, row 1, right: another agent's inventory
        (loc(3, 0), sorted([[loc(3, 0), F_TYPE, 14], [loc(3, 0), F_SWAPPABLE, 1]])),  # distance 3: the block
    ]
    assert cells_in_order(a_tokens[3:]) == expected
    n = len(a_tokens)
    assert n == 3 + 6 + 1 + 4 + 7 + 2
    assert obs[A][n:].tolist() == [PAD] * (60 - n)


def test_token_locations_are_relative_to_the_observer():
    sim = Sim(view_config())
    obs, *_ = sim.step({B: "change_glyph_3", A: "rotate_left"})
    b_tokens = tokens(obs[B])
    assert b_tokens[:3] == [[GLOBAL_LOC, F_COMPLETION, 3],
                            [GLOBAL_LOC, F_LAST_ACTION, sim.idx("change_glyph_3")],
                            [GLOBAL_LOC, F_LAST_REWARD, 0]]
    # B at map (1, 3) is the window centre (2, 2): window = (map row + 1, map col - 1); cells off the map are empty.
    c = loc(2, 2)
    b_self = [[c, F_TYPE, 0], [c, F_GROUP, 5], [c, F_FROZEN, 0], [c, F_ORIENT, 0], [c, F_COLOR, 0], [c, F_GLYPH, 3],
              [c, ORE, 2]]
    w, m, a = loc(1, 1), loc(2, 0), loc(3, 1)
    expected = [
        (c, sorted(b_self)),
        (w, [[w, F_TYPE, 1]]),  # wall at map (0, 2): offset (-1, -1)
        (m, sorted([[m, F_TYPE, 2], [m, F_COLOR, MINE_COLOR], [m, F_CONVERTING, 1], [m, ORE, 1]])),  # offset (0, -2)
        (a, sorted([[a, F_TYPE, 0], [a, F_GROUP, 0], [a, F_FROZEN, 0], [a, F_ORIENT, 2], [a, F_COLOR, 0],
                    [a, HEART, 3]])),  # A at offset (1, -1)
    ]
    assert cells_in_order(b_tokens[3:]) == expected


def test_global_tokens_completion_last_action_last_reward():
    objects = default_objects()
    objects["chest_ore"] = ConverterConfig(type_id=20, char="c", input_resources={"blueprint": 1},
                                           output_resources={"ore_red": 1}, initial_resource_count=1)
    objects["chest_heart"] = ConverterConfig(type_id=21, char="d", input_resources={"blueprint": 1},
                                             output_resources={"heart": 1}, initial_resource_count=5)
    agent = AgentConfig(rewards=AgentRewards(inventory={"ore_red": 0.37, "heart": 1.0}), action_failure_penalty=0.5)
    sim = Sim(config(["#####", "#.c.#", "#d@.#", "#####"], 1, max_steps=7, objects=objects, agent=agent))
    assert tokens(sim.obs[0])[:3] == [[GLOBAL_LOC, F_COMPLETION, 0], [GLOBAL_LOC, F_LAST_ACTION, 0],
                                      [GLOBAL_LOC, F_LAST_REWARD, 0]]
    # (action, completion = round(255 * t / 7), last reward token)
    plan = [("get_items", 36, 37),        # +0.37
            ("rotate_left", 73, 0),
            ("get_items", 109, 255),      # +5.0 -> 500, clamped
            ("move_forward", 146, 0)]     # -0.5 (failed, penalty) -> clamped to 0
    for t, (action, completion, reward) in enumerate(plan, start=1):
        obs, *_ = sim.step({0: action})
        assert tokens(obs[0])[:3] == [[GLOBAL_LOC, F_COMPLETION, completion],
                                      [GLOBAL_LOC, F_LAST_ACTION, sim.idx(action)],
                                      [GLOBAL_LOC, F_LAST_REWARD, reward]], f"step {t}"


def test_extra_tokens_are_dropped_and_counted():
    # 1 agent, 3 x 3 window: 3 globals + 7 self tokens (5 + 2 items) + 1 wall = 11 tokens, capacity 4.
    cfg = config(["#..", ".@.", "..."], 1, obs_width=3, obs_height=3, num_observation_tokens=4,
                 agent=AgentConfig(initial_inventory={"ore_red": 1, "heart": 1}))
    sim = Sim(cfg)
    sim.step()
    dropped, written = sim.game_stat("tokens_dropped"), sim.game_stat("tokens_written")
    obs, *_ = sim.step({0: "rotate_left"})
    assert obs[0].shape == (4, 3)
    # step 2 of 1000: round(255 * 2 / 1000) = round(0.51) = 1
    assert obs[0][:3].tolist() == [[GLOBAL_LOC, F_COMPLETION, 1], [GLOBAL_LOC, F_LAST_ACTION, sim.idx("rotate_left")],
                                   [GLOBAL_LOC, F_LAST_REWARD, 0]]
    assert obs[0][3][0] == loc(1, 1)
    assert sim.game_stat("tokens_dropped") - dropped == 7
    assert sim.game_stat("tokens_written") - written == 4


def test_no_tokens_dropped_when_they_fit():
    cfg = config(["#..", ".@.", "..."], 1, obs_width=3, obs_height=3, num_observation_tokens=12,
                 agent=AgentConfig(initial_inventory={"ore_red": 1, "heart": 1}))
    sim = Sim(cfg)
    obs, *_ = sim.step()
    assert len(tokens(obs[0])) == 11
    assert obs[0][11].tolist() == PAD
    assert sim.game_stat("tokens_dropped") == 0


def test_grid_observation_has_the_same_features():
    sim = Sim(view_config(obs_mode="grid"))
    num_features = 16 + 10
    assert sim.env.single_observation_space.shape == (num_features, 5, 5)
    obs, *_ = sim.step({B: "change_glyph_3", A: "rotate_left"})
    assert obs.shape == (2, num_features, 5, 5)
    got = obs[A]
    expected = np.zeros((num_features, 5, 5), dtype=np.uint8)
    expected[F_TYPE, 0, 2] = 1       # wall
    expected[F_TYPE, 1, 1] = 2       # mine
    expected[F_TYPE, 3, 0] = 14      # block
    expected[F_GROUP, 1, 3] = 5      # B (group id 5)
    expected[F_ORIENT, 2, 2] = 2     # A faces left
    expected[F_COLOR, 1, 1] = MINE_COLOR
    expected[F_GLYPH, 1, 3] = 3
    expected[F_CONVERTING, 1, 1] = 1
    expected[F_SWAPPABLE, 3, 0] = 1
    expected[ORE, 1, 3] = 2
    expected[ORE, 1, 1] = 1
    expected[HEART, 2, 2] = 3
    non_global = [f for f in range(num_features) if f not in (F_COMPLETION, F_LAST_ACTION, F_LAST_REWARD)]
    for f in non_global:
        np.testing.assert_array_equal(got[f], expected[f], err_msg=f"feature {f}")
    # the global features carry the same values as the global tokens
    assert got[F_COMPLETION].max() == 3
    assert got[F_LAST_ACTION].max() == sim.idx("rotate_left")
    assert got[F_LAST_REWARD].max() == 0


def test_feature_spec_ids_match_the_table():
    sim = Sim(view_config())
    spec = sim.env.feature_spec()
    ids = {name: v["id"] for name, v in spec.items()}
    for name, fid in [("type_id", 0), ("agent:group", 1), ("agent:frozen", 2), ("agent:orientation", 3),
                      ("color", 4), ("agent:glyph", 5), ("converting", 6), ("swappable", 7),
                      ("episode_completion_pct", 8), ("last_action", 9), ("last_reward", 10),
                      ("inv:ore_red", 16), ("inv:heart", 22), ("inv:blueprint", 25)]:
        assert ids[name] == fid, name


@pytest.mark.parametrize("mode", ["tokens", "grid"])
def test_observation_dtype_and_shape(mode):
    sim = Sim(view_config(obs_mode=mode))
    shape = (2, 60, 3) if mode == "tokens" else (2, 26, 5, 5)
    assert sim.obs.shape == shape and sim.obs.dtype == np.uint8
