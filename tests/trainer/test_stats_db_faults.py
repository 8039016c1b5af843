"""A stats database that cannot be written (locked by another process, corrupt, read-only, no folder) never kills
training: the evaluation still runs into metrics.jsonl, one warning line names the file and the reason, and the file is
left as it was; `python -m trainer.sim --stats-db` checks the file before it evaluates and stops with one error line."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import trainer.sim as sim
import trainer.train as tt
from trainer import TrainerConfig, save_checkpoint
from trainer.stats_db import StatsDBError, check_writable, read_episodes, write_episodes

INFO = {"env": 0, "episode_return": 1.0, "episode_length": 5, "episode_seed": 3}
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS other (x INTEGER)")
print("holding", flush=True)
sys.stdin.read()  # until the test closes stdin
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A DuckDB file held open for writing by another process (DuckDB allows one writer process)."""
    path = tmp_path / "held" / "stats.duckdb"
    path.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield path
    finally:
        proc.communicate(timeout=30)


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _corrupt(path: Path, seed: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(8192))
    return path


def _unwritable(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Paths that cannot be written, with a pattern of the reason each error must give."""
    (tmp_path / "a_file").write_text("not a folder")
    cases = {
        "corrupt": (_corrupt(tmp_path / "corrupt.duckdb"), "not a valid DuckDB database"),
        "empty": (tmp_path / "empty.duckdb", "not a valid DuckDB database"),
        "no folder": (tmp_path / "a_file" / "stats.duckdb", "File exists|Not a directory"),
    }
    (tmp_path / "empty.duckdb").write_bytes(b"")
    if os.geteuid() != 0:  # root writes read-only files anyway
        ro = tmp_path / "ro.duckdb"
        write_episodes(ro, {"a": [INFO]})
        ro.chmod(0o444)
        cases["read-only"] = (ro, "ermission|read-only|Read-only")
    return cases


def test_unwritable_databases_are_stats_db_errors_and_left_as_they_were(tmp_path: Path, held: Path) -> None:
    cases = {**_unwritable(tmp_path), "locked": (held, "lock")}
    for name, (path, reason) in cases.items():
        before = _digest(path)
        for call in (lambda: check_writable(path), lambda: write_episodes(path, {"a": [INFO]})):
            with pytest.raises(StatsDBError, match=reason) as err:
                call()
            assert str(err.value).startswith(f"{path}: "), (name, err.value)
            assert isinstance(err.value.__cause__, (duckdb.Error, OSError))
        assert _digest(path) == before, name


def test_check_writable_leaves_no_new_file_and_keeps_existing_rows(tmp_path: Path) -> None:
    fresh = tmp_path / "sub" / "fresh.duckdb"
    check_writable(fresh)
    assert not fresh.exists() and not list(fresh.parent.iterdir())
    kept = tmp_path / "kept.duckdb"
    write_episodes(kept, {"a": [INFO]})
    check_writable(kept)
    assert [r["sim"] for r in read_episodes(kept)] == ["a"]  # the probe row was rolled back
    other = tmp_path / "other.duckdb"  # a DuckDB file whose `episodes` table is something else
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE episodes (x INTEGER)")
    con.close()
    with pytest.raises(StatsDBError, match=r"other\.duckdb: cannot write episodes"):
        check_writable(other)


def _training(tiny: TrainerConfig) -> TrainerConfig:
    tiny.agent.policy = "fast"  # type: ignore[assignment]
    tiny.env.game = {"max_steps": 8}
    tiny.simulation.evaluate_interval = 1
    tiny.simulation.num_episodes = 2
    tiny.simulation.num_envs = 2
    tiny.simulation.stats_db = True
    return tiny


def _check_training_went_on(cfg: TrainerConfig, err: str, reason: str) -> None:
    db = cfg.run_dir / "stats.duckdb"
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, err  # one per evaluation (epochs 1 and 2), and nothing else
    assert all(line.startswith(f"warning: {db}: ") and reason in line and "training goes on" in line
               for line in warnings), warnings
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "eval/mean_return" in r] == [1, 2]
    assert (cfg.run_dir / "checkpoints" / f"{cfg.run}:v2.safetensors").exists()


def test_training_goes_on_past_a_corrupt_database(tiny: TrainerConfig, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _training(tiny)
    db = _corrupt(cfg.run_dir / "stats.duckdb")
    before = _digest(db)
    assert tt.train(cfg)["epoch"] == 2
    _check_training_went_on(cfg, capsys.readouterr().err, "not a valid DuckDB database")
    assert _digest(db) == before


def test_training_goes_on_past_a_database_another_process_holds(tmp_path: Path, held: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tiny_run import tiny_config

    cfg = _training(tiny_config(held.parent.parent, run="held"))
    assert cfg.run_dir / "stats.duckdb" == held
    assert tt.train(cfg)["epoch"] == 2
    _check_training_went_on(cfg, capsys.readouterr().err, "lock")


def test_sim_checks_the_database_before_evaluating(tmp_path: Path, held: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from test_sim import _untrained

    from mettagrid import MettaGridEnv

    ckpt = save_checkpoint(_untrained(MettaGridEnv("navigation")), tmp_path / "r" / "checkpoints", 0, run="r")

    def no_evaluation(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated before checking the stats database")

    monkeypatch.setattr(sim, "evaluate_policy_suite", no_evaluation)
    for path, reason in [*_unwritable(tmp_path).values(), (held, "lock")]:
        before = _digest(path)
        assert sim.main([str(ckpt), "--env", "navigation", "--episodes", "1", "--stats-db", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and re.search(reason, err), err
        assert _digest(path) == before


def test_evaluate_policy_suite_checks_the_database_before_evaluating(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import trainer.evaluate as ev
    from test_sim import _untrained

    from mettagrid import MettaGridEnv

    policy = _untrained(MettaGridEnv("navigation"))
    monkeypatch.setattr(ev, "eval_policy", lambda *a, **k: pytest.fail("evaluated before checking the database"))
    db = _corrupt(tmp_path / "c.duckdb")
    with pytest.raises(StatsDBError, match=r"c\.duckdb: .*not a valid DuckDB database"):
        ev.evaluate_policy_suite(policy, {"nav": "navigation"}, num_episodes=1, stats_db=db)
