"""Many policies on a suite (`python -m trainer.evaluate`): every policy on every sim, seeded and reproducible to the
last digit, episodes and per-agent rows in DuckDB; directory URIs mean the latest checkpoint, --all-versions each;
random and scripted policies; suites by name, recipe and module:function; bad input is one error line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mettagrid import MettaGridEnv
from trainer import AgentModelConfig, EnvConfig, eval_policy, eval_random, load_policy, make_agent, save_checkpoint
from trainer.evaluate_many import evaluate_policies, expand_policy_uris, main
from trainer.stats_db import read_agent_episodes, read_episodes
from trainer.suites import SUITES, get_suite

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FORWARD = 1  # navigation's action 1 is move_forward


def tiny_suite() -> dict[str, EnvConfig]:
    """Two short navigation sims (a room and a maze of 9 cells, 30 steps): a suite for `module:function`."""
    return {"room": EnvConfig(preset="navigation", game={"size": 9, "max_steps": 30}),
            "maze": EnvConfig(preset="navigation", game={"layout": "maze", "size": 9, "max_steps": 30})}


def not_a_suite() -> int:
    """A `module:function` that returns no suite."""
    return 3


def _save_run(train_dir: Path, run: str, epochs: list[int], forward_bias: float) -> Path:
    """Untrained navigation policies saved as <run>:v<epoch>, biased towards move_forward; returns the run dir."""
    env = MettaGridEnv("navigation")
    for epoch in epochs:
        torch.manual_seed(epoch)
        policy = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                            AgentModelConfig(policy="fast", hidden_dim=16, cnn_channels=8),
                            feature_spec=env.feature_spec(), obs_window=(env.config.obs_height, env.config.obs_width),
                            action_names=env.action_names())
        with torch.no_grad():
            policy.actor.bias[FORWARD] = forward_bias
        save_checkpoint(policy, train_dir / run / "checkpoints", epoch=epoch, agent_step=100 * epoch, run=run)
    return train_dir / run


def _uri(run_dir: Path, name: str) -> str:
    return f"file://{(run_dir / 'checkpoints' / name).resolve()}"


def _without_ids(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("eval_id", "time")} for r in rows]


def test_two_policies_on_two_sims_into_duckdb(tmp_path: Path) -> None:
    a = _save_run(tmp_path, "a", [1, 2], forward_bias=3.0)
    b = _save_run(tmp_path, "b", [1], forward_bias=-3.0)
    db = tmp_path / "evals.duckdb"
    results = evaluate_policies([f"file://{a}", str(b / "checkpoints")], tiny_suite(), num_episodes=3, seed=5,
                                stats_db=db)
    a2, b1 = _uri(a, "a:v2.safetensors"), _uri(b, "b:v1.safetensors")
    assert list(results) == [a2, b1] and all(list(r) == ["room", "maze"] for r in results.values())
    # the same episodes as the one-policy library function with the same seed
    for uri in (a2, b1):
        for sim, env in tiny_suite().items():
            alone = eval_policy(load_policy(uri), env, 3, seed=5)
            assert results[uri][sim]["episode_returns"] == alone["episode_returns"]
    forward = {uri: results[uri]["room"]["stats"]["agent/action.move_forward.success"] for uri in (a2, b1)}
    assert forward[a2] > 3 * forward[b1]  # two different policies, told apart

    rows = read_episodes(db)
    assert [(r["policy_uri"], r["sim"], r["episode"]) for r in rows] == [
        (u, s, k) for u in (a2, b1) for s in ("maze", "room") for k in range(3)]
    assert {(r["policy_uri"], r["run"], r["epoch"], r["agent_step"]) for r in rows} == {(a2, "a", 2, 200),
                                                                                      (b1, "b", 1, 100)}
    assert {(r["eval_seed"], r["num_agents"], r["episode_length"]) for r in rows} == {(5, 1, 30)}
    assert [r["episode_return"] for r in rows if r["policy_uri"] == a2 and r["sim"] == "room"] == \
        results[a2]["room"]["episode_returns"]
    assert all(r["seed"] is not None for r in rows)  # each episode's own seed
    agents = read_agent_episodes(db)
    assert len(agents) == len(rows)  # one agent per navigation game
    for ep, ag in zip(rows, agents):
        assert (ag["policy_uri"], ag["sim"], ag["episode"], ag["agent"]) == (ep["policy_uri"], ep["sim"],
                                                                           ep["episode"], 0)
        assert ag["episode_return"] == ep["episode_return"]
        assert ag["stats"]["agent/heart.gained"] == ep["stats"]["agent/heart.gained"]


def test_per_agent_rows_of_a_many_agent_game(tmp_path: Path) -> None:
    db = tmp_path / "teams.duckdb"
    suite = {"teams": EnvConfig(preset="teams", game={"max_steps": 40})}
    report = evaluate_policies(["random"], suite, num_episodes=2, seed=3, stats_db=db)["random"]["teams"]
    assert report["episode_returns"] == eval_random(suite["teams"], 2, seed=3)["episode_returns"]
    agents = read_agent_episodes(db)
    assert [(a["episode"], a["agent"]) for a in agents] == [(k, i) for k in range(2) for i in range(8)]
    assert sorted({a["agent_group"] for a in agents}) == [0, 1]  # red and blue: indices into the game's groups
    for k, info in enumerate(report["episode_infos"]):
        mine = [a for a in agents if a["episode"] == k]
        assert np.isclose(np.mean([a["episode_return"] for a in mine]), info["episode_return"])
        for stat in ("agent/action.noop.success", "agent/ore_red.gained"):
            assert np.isclose(np.mean([a["stats"][stat] for a in mine]), info[stat])
    assert {r["num_agents"] for r in read_episodes(db)} == {8}


def test_the_same_command_gives_the_same_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _save_run(tmp_path, "a", [1], forward_bias=1.0)
    b = _save_run(tmp_path, "b", [1], forward_bias=-1.0)
    suite = f"{Path(__file__).stem}:tiny_suite"

    def run(db: str, seed: int) -> tuple[str, list[dict]]:
        assert main([suite, f"policy_uris={a},{b},random", f"stats_db={tmp_path / db}", "num_episodes=4",
                     f"seed={seed}"]) == 0
        return capsys.readouterr().out.replace(str(tmp_path / db), "DB"), _without_ids(read_episodes(tmp_path / db))

    first, first_rows = run("one.duckdb", 11)
    again, again_rows = run("two.duckdb", 11)
    other, other_rows = run("three.duckdb", 12)
    assert again == first and again_rows == first_rows  # exact: every return, length, stat and seed
    assert other_rows != first_rows
    assert [r["seed"] for r in other_rows] != [r["seed"] for r in first_rows]
    assert sum(r["episode_return"] for r in first_rows) > 0  # equal because seeded, not because all zero
    lines = first.splitlines()
    assert lines[0] == f"suite    {suite}: 3 policies x 2 sims, 4 episodes each, seed 11"
    assert sum(line.startswith(("a:v1 ", "b:v1 ", "random ")) for line in lines) == 6
    assert lines[-1] == "stats    DB (tables episodes, agent_episodes); scorecard: python -m trainer.analyze DB"


def test_directory_uri_means_latest_and_all_versions_means_each(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = _save_run(tmp_path, "r", [1, 2, 10], forward_bias=0.0)
    (run / "checkpoints" / "notes.safetensors").write_bytes(b"")  # not a checkpoint name: ignored
    names = ["r:v1.safetensors", "r:v2.safetensors", "r:v10.safetensors"]  # by version, not by name
    assert expand_policy_uris([str(run)]) == [_uri(run, "r:v10.safetensors")]
    assert expand_policy_uris([f"file://{run}/checkpoints"]) == [_uri(run, "r:v10.safetensors")]
    every = [_uri(run, n) for n in names]
    assert expand_policy_uris([str(run), "random", str(run / "checkpoints" / "r:v2.safetensors")],
                              all_versions=True) == every + ["random"]  # duplicates once
    db = tmp_path / "all.duckdb"
    suite = f"{Path(__file__).stem}:tiny_suite"
    assert main([suite, f"policy_uris={run}", f"stats_db={db}", "num_episodes=1", "--all-versions"]) == 0
    rows = read_episodes(db)
    assert [(r["policy_uri"], r["epoch"], r["sim"]) for r in rows] == [
        (u, e, s) for u, e in zip(every, (1, 2, 10)) for s in ("maze", "room")]
    out = capsys.readouterr().out
    assert "r:v1 " in out and "r:v10 " in out
    assert main([suite, f"policy_uris={run}", f"stats_db={db}", "num_episodes=1"]) == 0
    assert {r["epoch"] for r in read_episodes(db)[6:]} == {10}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="holds no <run>:v<N>.safetensors"):
        expand_policy_uris([str(empty)], all_versions=True)


class _Forward:
    """A stand-in scripted teacher: always move_forward; counts the calls it gets."""

    def __init__(self, env: MettaGridEnv) -> None:
        self.num_agents = env.num_agents
        self.resets = 0
        self.ended = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.full(self.num_agents, FORWARD, dtype=np.int32)

    def reset(self) -> None:
        self.resets += 1

    def episode_ended(self, dones: np.ndarray) -> None:
        self.ended += int(dones.sum())


def test_scripted_policies_come_from_trainer_teachers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[_Forward] = []

    def scripted_teacher(name: str, env: MettaGridEnv, seed: int = 0) -> _Forward:
        if name != "forward":
            raise ValueError(f"unknown scripted teacher {name!r}; teachers: forward")
        made.append(_Forward(env))
        return made[-1]

    monkeypatch.setitem(sys.modules, "trainer.teachers", types.SimpleNamespace(scripted_teacher=scripted_teacher))
    report = evaluate_policies(["scripted://forward"], tiny_suite(), num_episodes=2, seed=1,
                               stats_db=tmp_path / "s.duckdb")["scripted://forward"]["room"]
    assert report["stats"]["agent/action.move_forward.success"] + \
        report["stats"]["agent/action.move_forward.failed"] == 30  # every step, in both episodes
    played = [t for t in made if t.resets]
    assert [(t.resets, t.ended >= 2) for t in played] == [(1, True), (1, True)]  # one per sim, reset once
    assert {r["policy_uri"] for r in read_episodes(tmp_path / "s.duckdb")} == {"scripted://forward"}
    with pytest.raises(ValueError, match="scripted://nope.*unknown scripted teacher 'nope'"):
        evaluate_policies(["scripted://nope"], tiny_suite())


def test_the_scripted_navigation_teacher_beats_random(tmp_path: Path) -> None:
    suite = {"room": EnvConfig(preset="navigation", game={"size": 9, "max_steps": 60})}
    first = evaluate_policies(["scripted://navigation", "random"], suite, num_episodes=4, seed=2)
    again = evaluate_policies(["scripted://navigation"], suite, num_episodes=4, seed=2)
    teacher, random = (first[u]["room"]["episode_returns"] for u in ("scripted://navigation", "random"))
    assert again["scripted://navigation"]["room"]["episode_returns"] == teacher  # seeded: the same episodes
    assert sum(teacher) > sum(random) + 4


def test_suites_by_name_recipe_and_function() -> None:
    nav = get_suite("navigation")
    assert list(nav) == ["room11", "room15", "room21", "maze15", "maze21"]
    assert nav["maze21"].game == {"layout": "maze", "size": 21}
    arena = get_suite("arena")
    assert list(arena) == ["arena", "arena_scarce", "arena_open"] and set(SUITES) == {"navigation", "arena"}
    base = MettaGridEnv("arena")
    for name, cfg in arena.items():  # every arena sim keeps the arena's actions and observations
        env = MettaGridEnv(cfg.preset if not cfg.game else _game(cfg))
        assert env.action_names() == base.action_names(), name
        assert env.single_observation_space.shape == base.single_observation_space.shape
    curriculum = get_suite("navigation_curriculum")  # a recipe: its evaluation sims
    assert list(curriculum) == ["navigation"] and set(curriculum["navigation"].curriculum) == {
        "room11", "room15", "room21", "maze15"}
    assert list(get_suite("arena_combat")) == ["arena_combat"]
    assert list(get_suite(f"{Path(__file__).stem}:tiny_suite")) == ["room", "maze"]
    with pytest.raises(ValueError, match=r"unknown suite 'nope'; suites: navigation, arena; recipes"):
        get_suite("nope")
    with pytest.raises(ValueError, match="returned int, expected a dict"):
        get_suite(f"{Path(__file__).stem}:not_a_suite")
    with pytest.raises(ValueError, match="cannot be loaded"):
        get_suite("no_such_module:suite")


def _game(cfg: EnvConfig):  # noqa: ANN202 - a GameConfig
    from trainer.env import make_game_config

    return make_game_config(cfg)


@pytest.mark.parametrize("args, message", [
    (["nope", "policy_uris=random"], "error: unknown suite 'nope'"),
    (["navigation"], "error: give the policies: policy_uris="),
    (["navigation", "policy_uris=/no/such/run"], "error: /no/such/run: no such checkpoint file or directory"),
    (["navigation", "policy_uris=ftp://host/run"], "error: policy URI 'ftp://host/run': unsupported scheme 'ftp'"),
    (["navigation", "policy_uris=scripted://"], "error: policy URI 'scripted://' names no scripted teacher"),
    (["navigation", "policy_uris=random", "num_episodes=0"], "error: num_episodes=0: expected an integer >= 1"),
    (["navigation", "policy_uris=random", "seed=x"], "error: seed='x': expected an integer >= 0"),
    (["navigation", "policy_uris=random", "episodes=3"], "error: unknown key 'episodes'; keys: policy_uris,"),
    (["navigation", "policy_uris=random", "seed=1", "seed=2"], "error: seed is given twice"),
    (["navigation", "random"], "error: argument 'random' is not of the form key=value"),
    (["policy_uris=random"], "error: give a suite first"),
])
def test_bad_input_is_one_error_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""


def test_incompatible_policies_and_missing_duckdb_stop_before_evaluating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run = _save_run(tmp_path, "nav", [1], forward_bias=0.0)
    db = tmp_path / "x.duckdb"
    assert main(["arena", f"policy_uris=random,{run}", f"stats_db={db}", "num_episodes=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: policy {_uri(run, 'nav:v1.safetensors')} on sim 'arena': the policy's actions")
    assert not db.exists()  # nothing evaluated, nothing written
    monkeypatch.setitem(sys.modules, "duckdb", None)
    assert main([f"{Path(__file__).stem}:tiny_suite", "policy_uris=random", f"stats_db={db}"]) == 2
    assert capsys.readouterr().err.startswith("error: evaluation stats need DuckDB: pip install "
                                              "'metta-gridworld[stats]'")


def test_python_m_trainer_evaluate(tmp_path: Path) -> None:
    run = _save_run(tmp_path, "cli", [3], forward_bias=0.0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    cmd = [sys.executable, "-m", "trainer.evaluate", f"{Path(__file__).stem}:tiny_suite",
           f"policy_uris=file://{run}/checkpoints,random", "num_episodes=2", f"stats_db={tmp_path / 'c.duckdb'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(" mean return ") == 4 and proc.stderr == ""
    assert len(read_episodes(tmp_path / "c.duckdb")) == 8


def test_importing_the_library_loads_no_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training loop imports trainer.evaluate: that must not load the command, the suites or the scorecards."""
    command = ("trainer.evaluate_many", "trainer.analyze", "trainer.suites")
    for name in command:
        monkeypatch.delitem(sys.modules, name, raising=False)
    spec = importlib.util.spec_from_file_location("_evaluate_probe", ROOT / "trainer" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.eval_policy) and [n for n in command if n in sys.modules] == []
