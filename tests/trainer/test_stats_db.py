"""Evaluation suites and their DuckDB stats: rows written, read back and summarized; suites during training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

import trainer.train as tt
from mettagrid.presets import navigation
from trainer import TrainerConfig, load_policy
from trainer.config import EnvConfig, SimulationConfig
from trainer.evaluate import eval_metrics, evaluate_policy_suite
from trainer.stats_db import StatsDBError, read_episodes, summarize_db, write_episodes

ROOT = Path(__file__).resolve().parents[2]


def _info(ret: float, length: int, task: str = "", seed: int = 7, hearts: float = 0.0) -> dict:
    return {"env": 0, "episode_return": ret, "episode_length": length, "episode_seed": seed, "task": task,
            "agent/heart.gained": hearts}


def test_write_read_and_summarize(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "stats.duckdb"
    first = write_episodes(db, {"a": [_info(1.0, 10, hearts=1.0), _info(3.0, 20, task="t")], "b": [_info(5.0, 30)]},
                           policy_uri="file:///p:v1.safetensors", run="r", epoch=1, agent_step=100)
    second = write_episodes(db, {"a": [_info(7.0, 40)]}, run="r", epoch=2)
    assert first != second
    rows = read_episodes(db)
    assert [(r["sim"], r["episode"], r["episode_return"], r["episode_length"], r["epoch"]) for r in rows] == [
        ("a", 0, 1.0, 10, 1), ("a", 1, 3.0, 20, 1), ("b", 0, 5.0, 30, 1), ("a", 0, 7.0, 40, 2)]
    assert rows[0]["stats"] == {"agent/heart.gained": 1.0} and rows[0]["seed"] == 7
    assert rows[1]["task"] == "t" and rows[0]["task"] is None
    assert rows[0]["policy_uri"] == "file:///p:v1.safetensors" and rows[3]["policy_uri"] is None
    assert {r["eval_id"] for r in rows[:3]} == {first}
    assert len(read_episodes(db, "epoch = ?", [2])) == 1
    summary = summarize_db(db)
    assert [(s["sim"], s["epoch"], s["episodes"], s["mean_return"], s["std_return"], s["mean_length"])
            for s in summary] == [("a", 1, 2, 2.0, 1.0, 15.0), ("b", 1, 1, 5.0, 0.0, 30.0), ("a", 2, 1, 7.0, 0.0, 40.0)]
    # plain SQL works on the file
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT sum(episode_length) FROM episodes").fetchone() == (100,)
    con.close()
    with pytest.raises(FileNotFoundError, match="no such stats database"):
        read_episodes(tmp_path / "none.duckdb")


def test_a_failed_write_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "stats.duckdb"
    write_episodes(db, {"a": [_info(1.0, 10)]})
    with pytest.raises(KeyError):
        write_episodes(db, {"a": [_info(2.0, 10)], "b": [{"episode_length": 3}]})
    with pytest.raises(StatsDBError, match="NOT NULL") as err:  # the second sim breaks NOT NULL after the first
        write_episodes(db, {"a": [_info(2.0, 10)], None: [_info(1.0, 1)]})  # type: ignore[dict-item]
    assert isinstance(err.value.__cause__, duckdb.Error)
    assert [r["episode_return"] for r in read_episodes(db)] == [1.0]


def test_missing_duckdb_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r"metta-gridworld\[stats\]"):
        write_episodes(tmp_path / "x.duckdb", {"a": [_info(1.0, 1)]})
    assert not (tmp_path / "x.duckdb").exists()


def test_evaluate_policy_suite_labels_rows_from_the_checkpoint(tiny: TrainerConfig, tmp_path: Path) -> None:
    tiny.env.game = {"max_steps": 12}
    tt.train(tiny)
    policy = load_policy(f"file://{tiny.run_dir}")
    short = EnvConfig(preset="navigation", game={"max_steps": 8}, num_envs=2)
    db = tmp_path / "s.duckdb"
    reports = evaluate_policy_suite(policy, {"twelve": tiny.env, "eight": short}, num_episodes=3, stats_db=db)
    assert list(reports) == ["twelve", "eight"]
    assert reports["twelve"]["mean_length"] == 12 and reports["eight"]["mean_length"] == 8
    rows = read_episodes(db)
    assert [(r["sim"], r["episode_length"]) for r in rows] == [("eight", 8)] * 3 + [("twelve", 12)] * 3  # by sim
    uri = f"file://{(tiny.run_dir / 'checkpoints' / 'tiny:v2.safetensors').resolve()}"
    assert {(r["policy_uri"], r["run"], r["epoch"], r["agent_step"]) for r in rows} == {(uri, "tiny", 2, 256)}
    assert [r["episode_return"] for r in rows] == reports["eight"]["episode_returns"] + reports["twelve"]["episode_returns"]
    metrics = eval_metrics(reports)
    assert metrics["eval/twelve/mean_return"] == reports["twelve"]["mean_return"]
    assert metrics["eval/mean_length"] == 10.0
    with pytest.raises(ValueError, match="suite is empty"):
        evaluate_policy_suite(policy, {})


def test_training_evaluates_a_suite_into_the_run_database(tiny: TrainerConfig) -> None:
    tiny.env.game = {"max_steps": 8}
    tiny.simulation = SimulationConfig(
        evaluate_interval=1, num_episodes=2, num_envs=2, stats_db=True,
        suite={"near": EnvConfig(preset="navigation", game={"max_steps": 8}),
               "far": EnvConfig(preset="navigation", game={"max_steps": 8, "size": 21})})
    tt.train(tiny)
    records = [json.loads(line) for line in (tiny.run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/mean_return" in r]
    assert [r["epoch"] for r in evals] == [1, 2]
    assert {"eval/near/mean_return", "eval/far/mean_return", "eval/mean_length"} <= set(evals[0])
    rows = read_episodes(tiny.run_dir / "stats.duckdb")
    assert [(r["epoch"], r["sim"]) for r in rows] == [(e, s) for e in (1, 2) for s in ("far", "far", "near", "near")]
    assert {r["run"] for r in rows} == {"tiny"} and [r["agent_step"] for r in rows[::4]] == [128, 256]


def test_simulation_config_checks() -> None:
    with pytest.raises(ValueError, match="not both"):
        SimulationConfig(env=EnvConfig(), suite={"a": EnvConfig()})
    with pytest.raises(ValueError, match="suite is empty"):
        SimulationConfig(suite={})
    with pytest.raises(ValueError, match="evaluate_interval"):
        SimulationConfig(stats_db=True)
    assert list(SimulationConfig().sims(EnvConfig(preset="arena"))) == ["arena"]


def test_sim_command_with_a_suite_and_stats(tiny: TrainerConfig, tmp_path: Path) -> None:
    tt.train(tiny)
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "trainer.sim", str(tiny.run_dir), "--env", "navigation", "--env", "teams",
           "--episodes", "2", "--stats-db", str(db)]
    bad = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "differ from the env's" in bad.stderr  # teams has other actions
    assert not db.exists()
    nav_file = tmp_path / "navigation.yaml"
    nav_file.write_text(yaml.safe_dump(navigation(max_steps=10).model_dump(mode="json")))
    cmd[7] = str(nav_file)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained  mean return") == 2 and f"stats    {db} (table episodes)" in proc.stdout
    assert [(r["sim"], r["episode_length"]) for r in read_episodes(db)] == [(str(nav_file), 10)] * 2 + [
        ("navigation", 200)] * 2  # the same stem twice: the second sim is named by its path
    twice = subprocess.run(cmd[:4] + ["--env", "navigation", "--env", "navigation"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert twice.returncode == 2 and "--env navigation is given twice" in twice.stderr
