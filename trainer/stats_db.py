"""Evaluation results in DuckDB: one row per evaluated episode in the table `episodes`, queried with SQL.

    from trainer.stats_db import read_episodes, summarize_db
    summarize_db("train_dir/my_run/stats.duckdb")      # mean return per evaluation and sim
    duckdb.connect(path).sql("SELECT sim, avg(episode_return) FROM episodes GROUP BY sim")

Columns: eval_id (one per evaluation call), time, policy_uri, run, epoch, agent_step, sim, task, episode,
seed, episode_return, episode_length, stats (JSON: every numeric episode stat, e.g. `agent/heart.gained`).
DuckDB is the `stats` extra (`pip install 'metta-gridworld[stats]'`); it is imported only here.

DuckDB lets one process write a file at a time. A file that cannot be written (locked by another process, not
a DuckDB database, read-only, no space) raises StatsDBError naming it and the reason, and is left as it was;
`check_writable` finds that out before an evaluation is spent on it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["EPISODES_SCHEMA", "StatsDBError", "check_writable", "read_episodes", "require_duckdb", "summarize_db",
           "write_episodes"]

EPISODES_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    eval_id VARCHAR NOT NULL,
    time TIMESTAMP NOT NULL,
    policy_uri VARCHAR,
    run VARCHAR,
    epoch BIGINT,
    agent_step BIGINT,
    sim VARCHAR NOT NULL,
    task VARCHAR,
    episode INTEGER NOT NULL,
    seed UBIGINT,
    episode_return DOUBLE NOT NULL,
    episode_length INTEGER NOT NULL,
    stats JSON
)"""

_COLUMNS = ("eval_id", "time", "policy_uri", "run", "epoch", "agent_step", "sim", "task", "episode", "seed",
            "episode_return", "episode_length", "stats")


def require_duckdb() -> Any:
    """The duckdb module, or an ImportError naming the `stats` extra (call it before long work)."""
    try:
        import duckdb
    except ImportError as e:
        raise ImportError("evaluation stats need DuckDB: pip install 'metta-gridworld[stats]' (or pip install duckdb)") \
            from e
    return duckdb


class StatsDBError(RuntimeError):
    """The stats database cannot be opened or written; the message names the file and the reason."""


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _connect(duckdb: Any, path: Path) -> Any:
    """A read-write connection to the database at `path` (created if missing), or StatsDBError saying why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(path))
    except (duckdb.Error, OSError) as e:
        raise StatsDBError(f"{path}: cannot open the stats database for writing: {_reason(e)}") from e


def _insert(con: Any, rows: list[tuple[Any, ...]]) -> None:
    """Creates the table if needed and inserts the rows, all in one transaction (rolled back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(EPISODES_SCHEMA)
        con.executemany(f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                        rows)
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except Exception:
            pass  # the connection is broken; closing it discards the transaction
        raise


def _remove(path: Path) -> None:
    """Removes a database file this module created (and its write-ahead log)."""
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def check_writable(path: str | Path) -> None:
    """Raises StatsDBError (naming the file and the reason) unless episodes can be appended to the database at
    `path`: opens it, creates the table and inserts a probe row in a transaction, and rolls that back. Call it before
    a long evaluation. A file it had to create is removed again."""
    duckdb = require_duckdb()
    path = Path(path)
    existed = path.exists()
    con = _connect(duckdb, path)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(EPISODES_SCHEMA)
        con.execute(f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    ["probe", datetime.now(timezone.utc).replace(tzinfo=None), None, None, None, None, "probe", None,
                     0, None, 0.0, 0, "{}"])
        con.execute("ROLLBACK")
    except (duckdb.Error, OSError) as e:
        raise StatsDBError(f"{path}: cannot write episodes to the stats database: {_reason(e)}") from e
    finally:
        con.close()
        if not existed:
            _remove(path)


def write_episodes(path: str | Path, sims: dict[str, list[dict[str, Any]]], policy_uri: str | None = None,
                   run: str | None = None, epoch: int | None = None, agent_step: int | None = None) -> str:
    """Appends the episode infos of each sim to the `episodes` table of the database at `path` (created if
    missing), all in one transaction; returns the evaluation's eval_id. A database that cannot be opened or written
    raises StatsDBError naming the file and the reason, and is left as it was."""
    duckdb = require_duckdb()
    eval_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for sim, infos in sims.items():
        for k, info in enumerate(infos):
            stats = {key: v for key, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and key not in ("env", "episode_seed", "episode_return", "episode_length")}
            rows.append((eval_id, now, policy_uri, run, epoch, agent_step, sim, info.get("task") or None, k,
                         None if info.get("episode_seed") is None else int(info["episode_seed"]), float(info["episode_return"]), int(info["episode_length"]),
                         json.dumps(stats)))
    path = Path(path)
    existed = path.exists()
    con = _connect(duckdb, path)
    error: BaseException | None = None
    try:
        _insert(con, rows)
    except (duckdb.Error, OSError) as e:
        error = e
    finally:
        con.close()
    if error is not None:
        if not existed:
            _remove(path)
        raise StatsDBError(f"{path}: cannot write episodes to the stats database (nothing was written): "
                           f"{_reason(error)}") from error
    return eval_id


def _query(path: str | Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The rows of a read-only query on the database at `path`, as dicts."""
    duckdb = require_duckdb()
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such stats database")
    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def read_episodes(path: str | Path, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The rows of `episodes` (optionally filtered by an SQL `where` with ? parameters), stats decoded; oldest
    evaluation first, then by sim and episode."""
    rows = _query(path, f"SELECT * FROM episodes {'WHERE ' + where if where else ''} "
                        "ORDER BY time, eval_id, sim, episode", params)
    for r in rows:
        r["stats"] = json.loads(r["stats"]) if r["stats"] else {}
    return rows


def summarize_db(path: str | Path) -> list[dict[str, Any]]:
    """Per evaluation and sim: its policy, run and epoch, episodes, mean and std of the return, mean length; oldest first."""
    return _query(path, """
        SELECT eval_id, policy_uri, run, epoch, sim, count(*) AS episodes, avg(episode_return) AS mean_return,
               coalesce(stddev_pop(episode_return), 0) AS std_return, avg(episode_length) AS mean_length,
               min(time) AS time
        FROM episodes GROUP BY eval_id, policy_uri, run, epoch, sim ORDER BY min(time), eval_id, sim""")
