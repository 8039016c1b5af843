"""Scripted teachers (trainer/teachers.py): their moves on small hand-built maps, their scores against random play on
the navigation and arena presets, the env hook that fills teacher_actions, and imitation of the navigation teacher."""

from __future__ import annotations

import copy
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mettagrid import MettaGridEnv
from mettagrid.config import AsciiMapBuilder, GameConfig
from trainer.config import ConfigError, EnvConfig, TrainerConfig, apply_overrides
from trainer.env import make_environment
from trainer.teachers import (
    SCRIPTED_TEACHERS,
    TEACHER_NAMES,
    ArenaTeacher,
    NavigationTeacher,
    ScriptedTeacher,
    TeacherEnv,
    scripted_teacher,
)

EVAL_SEED = 2024
ITEM = {name: i for i, name in enumerate(GameConfig.model_fields["inventory_item_names"].get_default(
    call_default_factory=True))}  # the default items' indices in an agent's inventory


# ---------------------------------------------------------------- helpers

def play(env: MettaGridEnv, actor: Any, episodes: int, seed: int = EVAL_SEED) -> list[dict[str, Any]]:
    """Infos of the first `episodes` episodes that `actor` (obs -> actions, or None for seeded random) plays."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed)
    if actor is not None:
        actor.reset(seed)
    infos: list[dict[str, Any]] = []
    while len(infos) < episodes:
        if actor is None:
            actions = rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32)
        else:
            actions = actor(obs)
        obs, _, terminals, truncations, step_infos = env.step(actions)
        if actor is not None:
            actor.episode_ended(terminals | truncations)
        infos.extend(step_infos)
    return infos[:episodes]


def teacher_vs_random(preset: str, episodes: int, num_envs: int, seed: int = EVAL_SEED) -> dict[str, float]:
    """Mean episode return and hearts gained per agent per episode of the preset's teacher and of random actions."""
    out: dict[str, float] = {}
    for who in ("teacher", "random"):
        env = MettaGridEnv(preset, num_envs=num_envs, seed=seed)
        infos = play(env, scripted_teacher(preset, env, seed=seed) if who == "teacher" else None, episodes, seed)
        out[f"{who}_return"] = float(np.mean([i["episode_return"] for i in infos]))
        out[f"{who}_hearts"] = float(np.mean([i["agent/heart.gained"] for i in infos]))
    return out


def ascii_game(rows: list[str], num_agents: int = 1, **kw: Any) -> GameConfig:
    """A game on an inline ascii map (walls '#', agents '@', altar '_', mine 'm', generator 'n')."""
    kw.setdefault("max_steps", 200)
    return GameConfig(num_agents=num_agents, map_builder=AsciiMapBuilder(map_data=rows), **kw)


def drive(env: MettaGridEnv, teacher: ScriptedTeacher, steps: int) -> list[dict[str, Any]]:
    """Steps one game with the teacher's actions; returns each step's snapshot (agent 0's position, inventory)."""
    obs, _ = env.reset(0)
    teacher.reset(0)
    trace = []
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(teacher(obs))
        teacher.episode_ended(term | trunc)
        g = env.grid_objects()
        trace.append({"pos": (int(g["agent_row"][0]), int(g["agent_col"][0])),
                      "inv": g["agent_inventory"][0].copy(), "action": int(g["agent_last_action"][0])})
    return trace


# ---------------------------------------------------------------- the registry and the actor interface

def test_registry_and_errors() -> None:
    assert SCRIPTED_TEACHERS == {"navigation": NavigationTeacher, "arena": ArenaTeacher}
    nav = MettaGridEnv("navigation", num_envs=2)
    for name in ("navigation", "navigation_maze", "navigation_curriculum"):
        assert type(scripted_teacher(name, nav)) is NavigationTeacher
    arena = MettaGridEnv("arena", num_envs=1)
    for name in ("arena", "arena_combat"):
        assert type(scripted_teacher(name, arena)) is ArenaTeacher
    assert set(TEACHER_NAMES) == {"navigation", "navigation_maze", "navigation_curriculum", "navigation_bucketed", "arena",
                                  "arena_combat"}
    with pytest.raises(ValueError, match=r"unknown scripted teacher 'teams'; expected one of navigation"):
        scripted_teacher("teams", nav)
    # the arena teacher needs put_items, mines and generators, which navigation does not have
    with pytest.raises(ValueError, match=r"ArenaTeacher needs the actions \['put_items'\]"):
        scripted_teacher("arena", nav)
    with pytest.raises(TypeError, match="needs a mettagrid.MettaGridEnv, got str"):
        scripted_teacher("navigation", "navigation")  # type: ignore[arg-type]
    grid = MettaGridEnv(ascii_game(["###", "#@#", "#_#", "###"], obs_mode="grid"))
    with pytest.raises(ValueError, match="reads token observations; this env has obs_mode = 'grid'"):
        scripted_teacher("navigation", grid)
    teacher = scripted_teacher("navigation", nav)
    with pytest.raises(ValueError, match=r"observations have shape \(1, 200, 3\) and dtype uint8, expected \(2, 200"):
        teacher(np.zeros((1, 200, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"dones has shape \(3,\), expected \(2,\)"):
        teacher.episode_ended(np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="random_move_prob = 2"):
        NavigationTeacher(nav, random_move_prob=2)


def test_actions_are_seeded_int32_and_valid() -> None:
    env = MettaGridEnv("arena", num_envs=2, seed=3)
    runs = []
    for _ in range(2):
        teacher = scripted_teacher("arena", env, seed=7)
        obs, _ = env.reset(11)
        actions = []
        for _ in range(30):
            a = teacher(obs)
            assert a.dtype == np.int32 and a.shape == (env.num_agents,)
            assert ((a >= 0) & (a < env.single_action_space.n)).all()
            actions.append(a)
            obs = env.step(a)[0]
        runs.append(np.stack(actions))
    np.testing.assert_array_equal(runs[0], runs[1])  # same seeds, same actions


# ---------------------------------------------------------------- hand-built maps: the teachers' moves

def test_navigation_walks_to_the_altar_and_takes_the_heart() -> None:
    # the agent starts facing up; the altar is 3 cells right and 2 down, behind a wall to go around (map rows and
    # columns as in the ascii, (0, 0) the top-left wall)
    rows = ["#########",
            "#.......#",
            "#.@.#...#",
            "#...#...#",
            "#...#_..#",
            "#.......#",
            "#########"]
    cfg = ascii_game(rows)
    cfg.objects["altar"].output_resources = {"heart": 1}
    cfg.objects["altar"].input_resources = {}
    cfg.objects["altar"].initial_resource_count = 1
    env = MettaGridEnv(cfg)
    trace = drive(env, NavigationTeacher(env), 12)
    got = next((i for i, t in enumerate(trace) if t["inv"][ITEM["heart"]] >= 1), None)
    # shortest: 6 moves (over or under the wall) and at least 2 turns, then get_items: the heart on step 9
    assert got == 8, [(t["pos"], env.action_names()[t["action"]]) for t in trace]
    assert trace[got]["action"] == env.action_names().index("get_items")
    assert trace[got]["pos"] in {(5, 5), (4, 6), (3, 5)}
    path = [t["pos"] for t in trace[:got + 1]]
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) <= 1 for a, b in zip(path, path[1:]))  # no teleporting
    assert all(p not in {(2, 4), (3, 4), (4, 4)} for p in path)  # never inside the wall


def test_navigation_reads_ids_and_actions_from_the_env() -> None:
    # the altar has type id 255 (the largest), the window is 7 wide and 5 high, and move_<cardinal> is on: the
    # teacher walks with move_east (no turns) and takes the heart facing it
    rows = ["#######",
            "#@...##",
            "#.#._.#",
            "#######"]
    cfg = ascii_game(rows, obs_width=7, obs_height=5)
    cfg.objects["altar"].type_id = 255
    cfg.objects["altar"].input_resources = {}
    cfg.objects["altar"].initial_resource_count = 1
    cfg.actions.move_cardinal.enabled = True
    env = MettaGridEnv(cfg)
    names = env.action_names()
    trace = drive(env, NavigationTeacher(env), 6)
    assert [names[t["action"]] for t in trace[:5]] == ["move_east", "move_east", "move_east", "rotate_down",
                                                        "get_items"], trace
    assert trace[4]["inv"][ITEM["heart"]] >= 1


def test_navigation_explores_when_no_altar_is_visible() -> None:
    # a 5 x 5 window: the altar at the end of a long corridor is out of sight at the start
    rows = ["###############",
            "#@...........+#",
            "###############"]
    cfg = ascii_game([r.replace("+", "_") for r in rows], obs_width=5, obs_height=5)
    cfg.objects["altar"].input_resources = {}
    cfg.objects["altar"].initial_resource_count = 1
    env = MettaGridEnv(cfg)
    teacher = NavigationTeacher(env, seed=1)
    obs, _ = env.reset(0)
    first = env.action_names()[int(teacher(obs)[0])]
    assert first in ("rotate_right", "move_forward", "move_back", "rotate_left", "rotate_down")  # a move, no get
    trace = drive(env, NavigationTeacher(env, seed=1), 60)
    assert trace[-1]["inv"][ITEM["heart"]] >= 1, [t["pos"] for t in trace]


def test_arena_teacher_goes_through_the_chain() -> None:
    # one agent, a mine, a generator and an altar in a small room: ore -> battery (x3) -> heart
    rows = ["#########",
            "#m.....n#",
            "#.......#",
            "#...@...#",
            "#.......#",
            "#...._..#",
            "#########"]
    cfg = ascii_game(rows, max_steps=400)
    cfg.objects["mine_red"].cooldown = 0
    cfg.objects["generator_red"].cooldown = 0
    cfg.actions.attack.enabled = False
    env = MettaGridEnv(cfg)
    trace = drive(env, ArenaTeacher(env, random_move_prob=0.0), 150)
    ore, battery, heart = (np.array([t["inv"][ITEM[i]] for t in trace]) for i in ("ore_red", "battery_red", "heart"))
    first = {name: int(np.argmax(series > 0)) for name, series in
             (("ore", ore), ("battery", battery), ("heart", heart))}
    assert ore.max() >= 1 and battery.max() >= 3 and heart.max() >= 1, first
    assert first["ore"] < first["battery"] < first["heart"], first
    assert battery.max() <= 3  # it goes to the altar as soon as it holds the 3 batteries a heart needs
    assert heart[-1] >= 2, first  # and keeps going round


def test_arena_teacher_puts_then_collects() -> None:
    # the agent, holding 1 ore, faces up; a generator is on its right: turn right, put the ore, get the battery the
    # next step (the conversion takes one tick), then, with no ore and no mine in view, explore (never put again)
    rows = ["#####",
            "#@n.#",
            "#####"]
    cfg = ascii_game(rows)
    cfg.actions.attack.enabled = False
    cfg.agent.initial_inventory = {"ore_red": 1}
    env = MettaGridEnv(cfg)
    names = env.action_names()
    trace = drive(env, ArenaTeacher(env, random_move_prob=0.0), 4)
    assert [names[t["action"]] for t in trace[:3]] == ["rotate_right", "put_items", "get_items"], trace
    assert [int(t["inv"][ITEM["battery_red"]]) for t in trace[:3]] == [0, 0, 1]
    assert names[trace[3]["action"]] not in ("put_items", "get_items")


# ---------------------------------------------------------------- teacher vs random on the presets

def test_navigation_teacher_beats_random() -> None:
    figures = teacher_vs_random("navigation", episodes=32, num_envs=32)
    print(f"\nnavigation: {figures}")
    assert figures["teacher_return"] >= 10 * max(figures["random_return"], 1.0), figures
    assert figures["teacher_return"] >= 20, figures


def test_arena_teacher_makes_hearts() -> None:
    # two 300-step arena games (48 agents): the teacher makes hearts, random actions make none
    from mettagrid import arena

    env = MettaGridEnv(arena(max_steps=300), num_envs=2, seed=EVAL_SEED)
    hearts = [float(np.mean([i["agent/heart.gained"] for i in play(env, actor, episodes=2)]))
              for actor in (scripted_teacher("arena", env), None)]
    print(f"\narena, 300 steps: hearts per agent, teacher {hearts[0]:.3f}, random {hearts[1]:.3f}")
    assert hearts[0] >= 1.0 and hearts[1] < 0.1, hearts


@pytest.mark.slow
def test_arena_teacher_full_episodes() -> None:
    figures = teacher_vs_random("arena", episodes=8, num_envs=8)
    print(f"\narena: {figures}")
    assert figures["teacher_hearts"] >= 3.0 and figures["random_hearts"] < 0.1, figures


def test_native_search_equals_the_numpy_search() -> None:
    """trainer._kernels.bfs_levels computes exactly the numpy search's levels (random grids, every stopping case)."""
    from trainer import teachers

    assert teachers._kernels is not None  # the package builds its native module
    rng = np.random.default_rng(7)
    rows, cols = np.array([6, 5, 7, 6, 6]), np.array([6, 6, 6, 5, 7])
    unreached = 0
    for _ in range(200):
        k = int(rng.integers(1, 30))
        free = teachers._row_bits(rng.random((k, 13, 13)) < rng.uniform(0.2, 0.95))
        goal = teachers._grow(teachers._row_bits(rng.random((k, 13, 13)) < rng.uniform(0.0, 0.08)))
        native = teachers._path_levels(goal, free, rows, cols)
        numpy = teachers._path_levels(goal, free, rows, cols, native=False)
        assert native.dtype == np.int32 and np.array_equal(native, numpy)
        unreached += int((numpy[:, 0] == teachers._FAR).sum())
    assert unreached > 0  # some agents cannot reach any goal: the search stops when nothing new is reached
    with pytest.raises(IndexError, match="probe 0 at \\(13, 6\\) is outside"):
        teachers._kernels.bfs_levels(goal, free, np.array([13]), np.array([6]), 99, np.zeros((len(goal), 1), np.int32))


def test_teacher_actions_are_the_same_with_the_numpy_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer import teachers

    env = MettaGridEnv("arena", num_envs=2, seed=3)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    native_teacher, numpy_teacher = scripted_teacher("arena", env, seed=1), scripted_teacher("arena", env, seed=1)
    for _ in range(40):
        expected = native_teacher(env.observations)
        with monkeypatch.context() as m:
            m.setattr(teachers, "_kernels", None)
            assert np.array_equal(numpy_teacher(env.observations), expected)
        env.step(np.where(rng.random(env.num_agents) < 0.5, expected,
                          rng.integers(0, env.single_action_space.n, env.num_agents)).astype(np.int32))


# ---------------------------------------------------------------- the env hook: teacher_actions

def test_teacher_env_fills_teacher_actions() -> None:
    env = make_environment(EnvConfig(preset="navigation", num_envs=4, teacher="navigation"), seed=5)
    assert isinstance(env, TeacherEnv) and isinstance(env, MettaGridEnv)
    shadow = scripted_teacher("navigation", env)  # the same teacher, driven by hand
    obs, _ = env.reset(9)
    shadow.reset(env.teacher.seed)  # reset(9) reseeded the env's teacher from (teacher_seed 5, 9)
    assert env.teacher.seed != 9
    np.testing.assert_array_equal(env.teacher_actions, shadow(obs))
    rng = np.random.default_rng(0)
    for _ in range(250):  # past the end of the first (desynchronised) episodes: the auto-reset path too
        obs, _, term, trunc, _ = env.step(rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32))
        shadow.episode_ended(term | trunc)
        np.testing.assert_array_equal(env.teacher_actions, shadow(obs))
    assert (env.recv()[4] is env.teacher_actions)
    # pickles and copies as a TeacherEnv with the same teacher
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        assert isinstance(clone, TeacherEnv) and clone.teacher_name == "navigation"
        clone.reset(9)
        env.reset(9)
        np.testing.assert_array_equal(clone.teacher_actions, env.teacher_actions)
    # no teacher: a plain MettaGridEnv
    plain = make_environment(EnvConfig(num_envs=1))
    # by name: other tests re-import mettagrid's modules, so the class object may be a newer copy of the same class
    assert type(plain).__qualname__ == "MettaGridEnv" and not isinstance(plain, TeacherEnv)


def test_env_config_teacher_field() -> None:
    assert EnvConfig().teacher is None
    assert EnvConfig(teacher="arena_combat").teacher == "arena_combat"
    with pytest.raises(ValueError, match="(?s)teacher.*unknown scripted teacher .walker.; expected one of navigation"):
        EnvConfig(teacher="walker")
    cfg = apply_overrides(TrainerConfig(), ["env.teacher=navigation", "losses.action_supervised.weight=1"])
    assert cfg.env.teacher == "navigation" and set(cfg.losses) == {"ppo", "action_supervised"}
    with pytest.raises(ConfigError, match="env.teacher"):
        apply_overrides(TrainerConfig(), ["env.teacher=walker"])


# ---------------------------------------------------------------- imitation

def imitate_navigation(train_dir: Path, total_timesteps: int, episodes: int = 64, **overrides: Any) -> dict[str, Any]:
    """Trains the navigation recipe with PPO + action_supervised (weight 1) from the navigation teacher, then evaluates
    the student, the teacher and random actions on the same episodes."""
    from trainer import eval_policy, load_policy
    from trainer.recipes import navigation
    from trainer.train import train

    cfg = navigation()
    cfg.run, cfg.train_dir, cfg.progress, cfg.device = "imitation", str(train_dir), False, "cpu"
    cfg.total_timesteps = total_timesteps
    cfg = apply_overrides(cfg, ["env.teacher=navigation", "losses.action_supervised.weight=1",
                                *(f"{k}={v}" for k, v in overrides.items())])
    started = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - started
    lines = (train_dir / "imitation" / "metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines if line]
    eval_env = cfg.env.model_copy(update={"teacher": None})
    student = eval_policy(load_policy(result["policy_uri"]), eval_env, num_episodes=episodes, num_envs=16,
                          seed=EVAL_SEED)
    env = make_environment(eval_env.model_copy(update={"desync_episodes": False}), seed=EVAL_SEED, num_envs=16)
    teacher = play(env, scripted_teacher("navigation", env, seed=EVAL_SEED), episodes)
    random = play(env, None, episodes)
    return {"steps": result["agent_step"], "wall_s": round(wall, 1),
            "student_reward": student["mean_return"],
            "teacher_reward": float(np.mean([i["episode_return"] for i in teacher])),
            "random_reward": float(np.mean([i["episode_return"] for i in random])),
            "accuracy": [m.get("action_supervised/accuracy") for m in metrics],
            "loss": [m.get("loss/action_supervised") for m in metrics]}


def test_imitation_smoke() -> None:
    """The plumbing: the env's teacher_actions reach the rollout buffer step by step, the action_supervised loss trains
    on them, and its accuracy rises over a few small updates."""
    import torch

    from trainer.config import AgentModelConfig, ExperienceConfig, PPOConfig
    from trainer.experience import make_experience_manager, rollout
    from trainer.losses import make_losses, needed_keys
    from trainer.policies import make_agent
    from trainer.ppo import train_ppo

    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=8, teacher="navigation"), seed=0)
    labels: list[np.ndarray] = []  # the env's teacher_actions after every reset and step
    label = env._label

    def record() -> None:
        label()
        labels.append(env.teacher_actions.copy())

    env._label = record  # type: ignore[method-assign]
    policy = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                        AgentModelConfig(policy="lstm", encoder="tokens", hidden_dim=32),
                        feature_spec=env.feature_spec(), obs_window=(env.config.obs_height, env.config.obs_width),
                        action_names=env.action_names())
    losses = make_losses({"action_supervised": {"weight": 1.0}})
    assert needed_keys(losses) == {"teacher_actions"}
    exp = make_experience_manager(env, policy, ExperienceConfig(batch_size=8 * 16 * 2, minibatch_size=8 * 16,
                                                                bptt_horizon=16), "cpu", seed=0,
                                  store=needed_keys(losses))
    first = len(labels) - 1  # the labels of the observation the rollout starts from
    rollout(exp, policy)
    for j in range(exp.chunks):  # block j holds steps j * horizon ... of every agent
        for t in range(exp.horizon):
            stored = exp.teacher_actions[j * env.num_agents:(j + 1) * env.num_agents, t].numpy()
            np.testing.assert_array_equal(stored, labels[first + j * exp.horizon + t])
    majority = np.bincount(exp.teacher_actions.flatten().numpy()).max() / exp.batch_size
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    accuracy = [train_ppo(policy, optimizer, exp, PPOConfig(update_epochs=2), losses=losses)
                ["action_supervised/accuracy"] for _ in range(10)]  # the same batch: the loss must fit it
    # above both the start and always answering the teacher's most frequent action
    assert accuracy[-1] > max(accuracy[0], majority) + 0.1, (majority, accuracy)


def test_imitation_command_line(tmp_path: Path) -> None:
    """`python -m trainer.train navigation env.teacher=navigation losses.action_supervised.weight=1` (tiny): PPO and
    action_supervised train together and both are logged."""
    from tiny_run import tiny_config
    from trainer.train import train

    cfg = apply_overrides(tiny_config(tmp_path, run="imit", epochs=2),
                          ["env.teacher=navigation", "losses.action_supervised.weight=1"])
    train(cfg)
    metrics = [json.loads(line) for line in (tmp_path / "imit" / "metrics.jsonl").read_text().splitlines() if line]
    assert len(metrics) == 2
    for m in metrics:
        assert 0.0 <= m["action_supervised/accuracy"] <= 1.0 and m["loss/action_supervised"] > 0
        assert m["loss/action_supervised/weight"] == 1.0 and "loss/ppo" in m


@pytest.mark.slow
def test_imitation_reaches_half_the_teacher(tmp_path: Path) -> None:
    figures = imitate_navigation(tmp_path, total_timesteps=1_000_000)
    print(f"\nimitation: { {k: v for k, v in figures.items() if k not in ('accuracy', 'loss')} }, "
          f"accuracy {figures['accuracy'][0]:.2f} -> {figures['accuracy'][-1]:.2f}")
    assert figures["student_reward"] >= 0.5 * figures["teacher_reward"], figures


def test_teacher_stops_once_imitation_is_annealed_out(tmp_path, capsys) -> None:
    from tiny_run import tiny_config

    import trainer.train as tt

    cfg = tiny_config(tmp_path, epochs=4)
    cfg.env.teacher = "navigation"
    cfg.losses = {"ppo": {}, "action_supervised": {"weight": 1.0, "anneal_steps": 256}}  # 2 epochs of 128 steps
    tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    weights = [r["loss/action_supervised/weight"] for r in records if "loss/ppo" in r]
    values = [r["loss/action_supervised"] for r in records if "loss/ppo" in r]
    assert weights == [1.0, 0.5, 0.0, 0.0]
    assert values[0] > 0 and values[1] > 0 and values[2:] == [0.0, 0.0]  # finished: no loss on stale labels
    assert "imitation annealed out at 384 steps; teacher stopped" in capsys.readouterr().out


def test_teacher_env_stops_labelling_when_told() -> None:
    env = make_environment(EnvConfig(num_envs=2, teacher="navigation"), seed=1)
    env.reset(3)
    rng = np.random.default_rng(0)
    env.step(rng.integers(0, env.single_action_space.n, env.num_agents).astype(np.int32))
    labelled = env.teacher_actions.copy()
    env.labelling = False
    env.teacher_actions[:] = -7  # not refreshed any more
    for _ in range(5):
        env.step(rng.integers(0, env.single_action_space.n, env.num_agents).astype(np.int32))
    assert (env.teacher_actions == -7).all() and labelled.min() >= 0


def test_teacher_env_from_two_threads_keeps_labels_with_their_observations() -> None:
    import threading

    env = make_environment(EnvConfig(num_envs=4, teacher="navigation"), seed=1)
    n = env.single_action_space.n

    class ObsTeacher:  # a teacher whose labels are a function of the observations alone
        def __call__(self, obs: np.ndarray) -> np.ndarray:
            return (obs.reshape(len(obs), -1).astype(np.int64).sum(axis=1) % n).astype(np.int32)

        def reset(self, seed: int | None = None) -> None:
            pass

        def episode_ended(self, dones: np.ndarray) -> None:
            pass

    env.teacher = ObsTeacher()
    env.reset(3)
    done = threading.Event()
    mismatches: list[int] = []

    def stepper(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(300):
            env.step(rng.integers(0, n, env.num_agents).astype(np.int32))

    def reader() -> None:
        while not done.is_set():
            with env._lock:  # what a caller holding the env sees: labels of the observations it holds
                if not np.array_equal(env.teacher_actions, env.teacher(env.observations)):
                    mismatches.append(1)

    threads = [threading.Thread(target=stepper, args=(s,)) for s in (1, 2)]
    check = threading.Thread(target=reader)
    check.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    check.join()
    assert not mismatches
