"""BucketedCurriculum: the task grid, range bins, seeded draws, errors, and learning-progress composition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mettagrid.config import GameConfig
from mettagrid.curriculum import BucketedCurriculum, Curriculum, LearningProgressCurriculum, RandomCurriculum
from mettagrid.env import MettaGridEnv
from mettagrid.presets import navigation

GRID = {"size": [11, 15, 21], "num_altars": [1, 2, 4], "layout": ["room", "maze"]}


# ---------------------------------------------------------------- the task set


def test_grid_makes_one_task_per_combination_named_in_bucket_order() -> None:
    bc = BucketedCurriculum("navigation", GRID)
    tasks = bc.tasks()
    expected = [f"size={s},num_altars={a},layout={lay}" for s, a, lay in itertools.product(*GRID.values())]
    assert list(tasks) == expected and len(expected) == 18
    assert expected[0] == "size=11,num_altars=1,layout=room" and expected[1] == "size=11,num_altars=1,layout=maze"
    for (s, a, lay), name in zip(itertools.product(*GRID.values()), expected):
        assert tasks[name] == navigation(size=s, num_altars=a, layout=lay)
        assert bc.bucket_values(name) == {"size": s, "num_altars": a, "layout": lay}
    assert list(BucketedCurriculum("navigation", GRID).tasks()) == expected  # stable
    assert isinstance(bc, Curriculum) and isinstance(bc.curriculum, RandomCurriculum)


def test_overrides_apply_before_the_buckets_and_fields_may_be_dotted() -> None:
    bc = BucketedCurriculum("navigation", {"size": [11], "agent.freeze_duration": [3, 7], "max_steps": [50]},
                            overrides={"num_altars": 5, "max_steps": 99, "agent": {"action_failure_penalty": 0.5}})
    assert list(bc.tasks()) == ["size=11,agent.freeze_duration=3,max_steps=50",
                                "size=11,agent.freeze_duration=7,max_steps=50"]
    cfg = bc.tasks()["size=11,agent.freeze_duration=7,max_steps=50"]
    assert cfg.agent.freeze_duration == 7 and cfg.agent.action_failure_penalty == 0.5  # nested dicts merged
    assert cfg.max_steps == 50 and cfg.map_builder.width == 11 and cfg.map_builder.objects["altar"] == 5
    # a GameConfig base takes GameConfig fields
    fixed = BucketedCurriculum(navigation(size=13), {"max_steps": [40, 80]})
    assert {n: c.max_steps for n, c in fixed.tasks().items()} == {"max_steps=40": 40, "max_steps=80": 80}
    assert all(c.map_builder.width == 13 for c in fixed.tasks().values())


def test_integer_range_bins_have_exact_edges_and_names() -> None:
    bc = BucketedCurriculum("navigation", {"size": {"range": [10, 20], "bins": 3}})
    assert bc.edges["size"] == [10.0, 10 + 10 / 3, 10 + 20 / 3, 20.0]
    assert list(bc.tasks()) == ["size=10..13", "size=14..16", "size=17..20"]  # the integers in [edge_i, edge_i+1)
    assert [bc.bucket_values(n)["size"] for n in bc.tasks()] == [(10, 13), (14, 16), (17, 20)]
    assert [c.map_builder.width for c in bc.tasks().values()] == [10, 14, 17]  # each bin at its low end
    even = BucketedCurriculum("navigation", {"size": {"range": [10, 20], "bins": 5}})  # edges on integers
    assert list(even.tasks()) == ["size=10..11", "size=12..13", "size=14..15", "size=16..17", "size=18..20"]
    single = BucketedCurriculum("navigation", {"num_altars": {"range": [1, 3], "bins": 3}})
    assert list(single.tasks()) == ["num_altars=1..1", "num_altars=2..2", "num_altars=3..3"]


def test_float_range_bins_and_grid_with_ranges() -> None:
    bc = BucketedCurriculum("navigation", {"layout": ["room", "maze"],
                                           "agent.action_failure_penalty": {"range": [0, 0.3], "bins": 3}})
    assert bc.edges["agent.action_failure_penalty"] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert list(bc.tasks()) == [f"layout={lay},agent.action_failure_penalty={b}"
                                for lay in ("room", "maze") for b in ("0..0.1", "0.1..0.2", "0.2..0.3")]
    # an integer-looking range on a float field stays float; "integer" decides explicitly
    assert bc.bucket_values("layout=maze,agent.action_failure_penalty=0.2..0.3")["agent.action_failure_penalty"] \
        == pytest.approx((0.2, 0.3))
    forced = BucketedCurriculum("navigation", {"max_steps": {"range": [10, 20], "bins": 2, "integer": False}})
    assert list(forced.tasks()) == ["max_steps=10..15", "max_steps=15..20"]
    assert forced.edges["max_steps"] == [10, 15, 20]


# ---------------------------------------------------------------- draws


def _expected_draws(seed: int, bins: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The documented procedure: the uniform random curriculum picks a bin, then the value is drawn in it."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(np.full(len(bins), 1 / len(bins)))
    cdf[-1] = 1.0
    out = []
    for _ in range(n):
        k = int(np.searchsorted(cdf, rng.random(), side="right"))
        lo, hi = bins[k]
        out.append((k, int(rng.integers(lo, hi, endpoint=True))))
    return out


def test_seeded_draws_are_exact_and_reproducible() -> None:
    bc = BucketedCurriculum("navigation", {"size": {"range": [10, 20], "bins": 3}})
    names = list(bc.tasks())

    def draws(seed: int) -> list[tuple[int, int]]:
        rng = np.random.default_rng(seed)
        return [(names.index(t.name), t.config.map_builder.width) for t in (bc.sample(rng) for _ in range(200))]

    assert draws(5) == _expected_draws(5, [(10, 13), (14, 16), (17, 20)], 200)
    assert draws(5) == draws(5) and draws(6) != draws(5)


def test_range_values_stay_in_their_bin_and_cover_it() -> None:
    bc = BucketedCurriculum("navigation", {"size": {"range": [10, 20], "bins": 3},
                                           "agent.action_failure_penalty": {"range": [0.0, 0.2], "bins": 2}})
    rng = np.random.default_rng(0)
    seen: dict[str, set[int]] = {}
    configs: dict[tuple[str, int, float], GameConfig] = {}
    for _ in range(3000):
        task = bc.sample(rng)
        (lo, hi), (plo, phi) = bc.bucket_values(task.name).values()
        size, penalty = task.config.map_builder.width, task.config.agent.action_failure_penalty
        assert lo <= size <= hi and isinstance(size, int)
        assert plo <= penalty < phi
        seen.setdefault(task.name, set()).add(size)
        configs[(task.name, size, penalty)] = task.config
    assert set(seen) == set(bc.tasks())
    for name, sizes in seen.items():  # every integer of the bin is drawn
        lo, hi = bc.bucket_values(name)["size"]
        assert sizes == set(range(lo, hi + 1))
    # an integer-only range reuses one config object per drawn value
    ints = BucketedCurriculum("navigation", {"size": {"range": [10, 12], "bins": 1}})
    rng = np.random.default_rng(1)
    by_size: dict[int, GameConfig] = {}
    for _ in range(50):
        task = ints.sample(rng)
        assert by_size.setdefault(task.config.map_builder.width, task.config) is task.config
    assert sorted(by_size) == [10, 11, 12] and by_size[10] is ints.tasks()["size=10..12"]


def test_weights_and_probabilities_with_the_random_algorithm() -> None:
    bc = BucketedCurriculum("navigation", {"size": [11, 15]}, weights={"size=11": 3.0, "size=15": 1.0})
    assert bc.probabilities() == {"size=11": 0.75, "size=15": 0.25}
    rng = np.random.default_rng(0)
    draws = [bc.sample(rng).name for _ in range(4000)]
    assert abs(draws.count("size=11") / 4000 - 0.75) < 0.02
    only = BucketedCurriculum("navigation", {"size": [11, 15]}, weights={"size=15": 1.0})
    assert {only.sample(rng).name for _ in range(100)} == {"size=15"}


def test_learning_progress_composition_by_hand() -> None:
    bc = BucketedCurriculum("navigation", {"size": [11, 15]}, algorithm="learning_progress", fast=0.5, slow=0.25,
                            explore=0.2, min_episodes=1)
    assert isinstance(bc.curriculum, LearningProgressCurriculum)
    assert bc.probabilities() == {"size=11": 0.5, "size=15": 0.5}
    bc.update("size=11", 0.0)
    bc.update("size=11", 1.0)  # scaled to 1: fast 0.5, slow 0.25 -> progress 0.25
    bc.update("size=15", 4.0)
    bc.update("size=15", 4.0)  # no spread: no progress
    assert bc.probabilities() == pytest.approx({"size=11": 0.9, "size=15": 0.1})
    rng = np.random.default_rng(0)
    draws = [bc.sample(rng).name for _ in range(4000)]
    assert abs(draws.count("size=11") / 4000 - 0.9) < 0.02
    custom = BucketedCurriculum("navigation", {"size": [11, 15]}, algorithm=lambda tasks: RandomCurriculum(
        tasks, {"size=15": 1.0}))
    assert custom.sample(rng).name == "size=15"


def test_in_the_env_each_game_plays_its_drawn_bucket() -> None:
    bc = BucketedCurriculum("navigation", {"size": {"range": [9, 14], "bins": 2}, "max_steps": [5, 7]},
                            algorithm="learning_progress", min_episodes=1)
    env = MettaGridEnv(None, num_envs=6, seed=3, curriculum=bc)
    env.reset(seed=3)
    zeros = np.zeros(env.num_agents, dtype=np.int32)
    played = []
    for _ in range(60):
        for i in range(env.num_envs):
            lo, hi = bc.bucket_values(env.game_task(i))["size"]
            assert lo <= env.game_config(i).map_builder.width <= hi
            assert env.game_config(i).max_steps == bc.bucket_values(env.game_task(i))["max_steps"]
        played += [info["task"] for info in env.step(zeros)[4]]
    assert set(played) == set(bc.tasks()) and int(bc.curriculum.counts.sum()) == len(played)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("buckets", "match"), [
    ({"altars": [1, 2]}, r"bucket 'altars': unknown option; the options are parameters of navigation\(\) "
                         r"\(num_agents, layout, size, num_altars, max_steps\) or GameConfig fields"),
    ({"agent.nope": [1]}, r"(?s)task 'agent.nope=1' with agent.nope = 1: .*agent.nope.*Extra inputs"),
    ({"nope.x": [1]}, r"bucket 'nope.x': unknown option"),
    ({"size": []}, r"bucket 'size': no values"),
    ({"size": 11}, r"bucket 'size': expected a list of values or \{'range'"),
    ({"size": [[11]]}, r"bucket 'size': value \[11\] is a list"),
    ({"size": [11, 11.0]}, r"bucket 'size': value 11.0 repeats 11"),
    ({"layout": ["room", "cave"]}, r"bucket 'layout': value 'cave' is not one of \['room', 'maze'\]"),
    ({"size": {"range": [20, 10], "bins": 2}}, r"bucket 'size': range = \[20, 10\], expected finite .*low < high"),
    ({"size": {"range": [10], "bins": 2}}, r"bucket 'size': range = \[10\], expected \[low, high\]"),
    ({"size": {"range": [10, "x"], "bins": 2}}, r"bucket 'size': range = \[10, 'x'\]"),
    ({"size": {"range": [10, 20], "bins": 0}}, r"bucket 'size': bins = 0, expected an integer >= 1"),
    ({"size": {"range": [10, 20]}}, r"bucket 'size': bins = None"),
    ({"size": {"range": [10, 12], "bins": 4}}, r"bucket 'size': bins = 4, but the range \[10, 12\] holds only 3"),
    ({"size": {"range": [10.5, 12], "bins": 1}}, r"bucket 'size': .* non-integer end, but size takes integers"),
    ({"size": {"range": [10, 12], "bins": 1, "step": 1}}, r"bucket 'size': unknown range key\(s\) \['step'\]"),
    ({"size": [11, 2]}, r"(?s)task 'size=2' with size = 2: .*do not fit"),
    ({"size": {"range": [2, 12], "bins": 1}}, r"(?s)task 'size=2..12' with size = 2: .*do not fit"),
    ({"num_agents": [1, 2]}, r"task 'num_agents=2' cannot share an env with task 'num_agents=1': bucket 'num_agents' "
                             r"= 2 \(task 'num_agents=1' has 1\): incompatible game config: num_agents = 2"),
    ({"size": [11], "obs_width": [11, 7]}, r"bucket 'obs_width' = 7 .*obs_width = 7, but this env has obs_width = 11"),
    ({"num_agents": {"range": [1, 2], "bins": 1}}, r"task 'num_agents=1..2' cannot share .*num_agents = 2"),
    ({}, r"buckets must map at least one option"),
])
def test_bad_buckets_raise_naming_key_and_value(buckets: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BucketedCurriculum("navigation", buckets)


def test_bad_algorithm_options_and_base() -> None:
    with pytest.raises(ValueError, match="algorithm = 'lp', expected 'random', 'learning_progress'"):
        BucketedCurriculum("navigation", {"size": [11]}, algorithm="lp")
    with pytest.raises(ValueError, match="weights apply to algorithm 'random'"):
        BucketedCurriculum("navigation", {"size": [11]}, algorithm="learning_progress", weights={"size=11": 1})
    with pytest.raises(ValueError, match=r"weights name unknown tasks \['x'\]; tasks are \['size=11'\]"):
        BucketedCurriculum("navigation", {"size": [11]}, weights={"x": 1})
    with pytest.raises(ValueError, match="LearningProgressCurriculum: explore = 2"):
        BucketedCurriculum("navigation", {"size": [11]}, algorithm="learning_progress", explore=2)
    with pytest.raises(ValueError, match=r"algorithm 'random' takes no options, got \['explore'\]"):
        BucketedCurriculum("navigation", {"size": [11]}, explore=0.5)
    with pytest.raises(ValueError, match="base 'no_such_preset'.*neither a preset"):
        BucketedCurriculum("no_such_preset", {"max_steps": [10]})
    with pytest.raises(ValueError, match=r"bucket 'size': unknown option; the options are GameConfig fields"):
        BucketedCurriculum(navigation(), {"size": [11]})
    with pytest.raises(ValueError, match="algorithm returned dict"):
        BucketedCurriculum("navigation", {"size": [11]}, algorithm=lambda tasks: dict(tasks))
