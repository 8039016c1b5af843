"""Evaluation results in DuckDB: one row per evaluated episode in the table `episodes`, queried with SQL.

    from trainer.stats_db import read_episodes, summarize_db
    summarize_db("train_dir/my_run/stats.duckdb")      # mean return per evaluation and sim
    duckdb.connect(path).sql("SELECT sim, avg(episode_return) FROM episodes GROUP BY sim")

Columns: eval_id (one per evaluation call), time, policy_uri, run, epoch, agent_step, sim, task, episode,
seed (the episode's own seed), episode_return, episode_length, stats (JSON: every numeric episode stat, e.g.
`agent/heart.gained`, a mean over the agents), eval_seed (the seed the evaluation was run with) and num_agents.
Episodes whose infos carry per-agent values (`info["agents"]`, see write_episodes) also get one row per agent in
the table `agent_episodes`: eval_id, sim, episode, agent, agent_group, episode_return, stats (JSON, that agent's
`agent/<stat>` values); join it to `episodes` on (eval_id, sim, episode).
DuckDB is the `stats` extra (`pip install 'metta-gridworld[stats]'`); it is imported only here.

Older files (written before eval_seed, num_agents and agent_episodes existed) read as they are (the missing
columns are absent, read_agent_episodes returns no rows); the first write to one adds the columns and the table.

DuckDB lets one process write a file at a time. A file that cannot be written (locked by another process, not
a DuckDB database, read-only, no space) raises StatsDBError naming it and the reason, and is left as it was;
`check_writable` finds that out before an evaluation is spent on it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["AGENT_EPISODES_SCHEMA", "EPISODES_SCHEMA", "StatsDBError", "check_writable", "columns", "query",
           "read_agent_episodes", "read_episodes", "require_duckdb", "summarize_db", "write_episodes"]

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
    stats JSON,
    eval_seed UBIGINT,
    num_agents INTEGER
)"""

_ADDED_COLUMNS = (("eval_seed", "UBIGINT"), ("num_agents", "INTEGER"))
"""Columns of `episodes` added after its first version: the first write to an older file adds them."""

AGENT_EPISODES_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_episodes (
    eval_id VARCHAR NOT NULL,
    sim VARCHAR NOT NULL,
    episode INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    agent_group INTEGER,
    episode_return DOUBLE NOT NULL,
    stats JSON
)"""

_COLUMNS = ("eval_id", "time", "policy_uri", "run", "epoch", "agent_step", "sim", "task", "episode", "seed",
            "episode_return", "episode_length", "stats", "eval_seed", "num_agents")
_AGENT_COLUMNS = ("eval_id", "sim", "episode", "agent", "agent_group", "episode_return", "stats")


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


def _create(con: Any) -> None:
    """Creates the tables, or brings an older file's up to date (adds the columns and tables it lacks)."""
    con.execute(EPISODES_SCHEMA)
    for name, sql_type in _ADDED_COLUMNS:
        con.execute(f"ALTER TABLE episodes ADD COLUMN IF NOT EXISTS {name} {sql_type}")
    con.execute(AGENT_EPISODES_SCHEMA)


def _insert(con: Any, rows: list[tuple[Any, ...]], agent_rows: list[tuple[Any, ...]] | None = None) -> None:
    """Creates the tables if needed and inserts the rows (and the per-agent rows), all in one transaction (rolled
    back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        _create(con)
        con.executemany(f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                        rows)
        if agent_rows:  # column-wise through unnest: one statement, not one per agent (executemany is slow here)
            values = ", ".join("unnest(?::JSON[])" if c == "stats" else "unnest(?)" for c in _AGENT_COLUMNS)
            con.execute(f"INSERT INTO agent_episodes ({', '.join(_AGENT_COLUMNS)}) SELECT {values}",
                        [list(col) for col in zip(*agent_rows)])
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
        _create(con)
        con.execute(f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    ["probe", datetime.now(timezone.utc).replace(tzinfo=None), None, None, None, None, "probe", None,
                     0, None, 0.0, 0, "{}", None, None])
        con.execute("ROLLBACK")
    except (duckdb.Error, OSError) as e:
        raise StatsDBError(f"{path}: cannot write episodes to the stats database: {_reason(e)}") from e
    finally:
        con.close()
        if not existed:
            _remove(path)


def _agent_rows(eval_id: str, sim: str, episode: int, agents: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The agent_episodes rows of one episode's `info["agents"]` ({name: one value per agent}); ValueError if the
    entries are not equally long, or episode_return is missing."""
    where = f"sim {sim!r} episode {episode}: info['agents']"
    if "episode_return" not in agents:
        raise ValueError(f"{where} has no 'episode_return' (one value per agent), keys: {sorted(agents)[:8]}")
    values = {name: [float(v) for v in seq] for name, seq in agents.items() if name != "group"}
    groups = [int(g) for g in agents["group"]] if "group" in agents else None
    n = len(values["episode_return"])
    uneven = {name: len(v) for name, v in values.items() if len(v) != n}
    if groups is not None and len(groups) != n:
        uneven["group"] = len(groups)
    if uneven:
        raise ValueError(f"{where}: every entry needs one value per agent ({n}, as episode_return), got {uneven}")
    stats = {name: v for name, v in values.items() if name != "episode_return"}
    return [(eval_id, sim, episode, a, None if groups is None else groups[a], values["episode_return"][a],
             json.dumps({name: v[a] for name, v in stats.items()})) for a in range(n)]


def write_episodes(path: str | Path, sims: dict[str, list[dict[str, Any]]], policy_uri: str | None = None,
                   run: str | None = None, epoch: int | None = None, agent_step: int | None = None,
                   eval_seed: int | None = None) -> str:
    """Appends the episode infos of each sim to the `episodes` table of the database at `path` (created if
    missing), all in one transaction; returns the evaluation's eval_id. An info with `agents` ({"episode_return":
    [...], "group": [...], "agent/<stat>": [...]}, one value per agent) also adds one `agent_episodes` row per
    agent. A database that cannot be opened or written raises StatsDBError naming the file and the reason, and is
    left as it was."""
    duckdb = require_duckdb()
    eval_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    agent_rows: list[tuple[Any, ...]] = []
    for sim, infos in sims.items():
        for k, info in enumerate(infos):
            stats = {key: v for key, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and key not in ("env", "episode_seed", "episode_return", "episode_length")}
            agents = info.get("agents")
            if agents is not None:
                agent_rows += _agent_rows(eval_id, sim, k, agents)
            rows.append((eval_id, now, policy_uri, run, epoch, agent_step, sim, info.get("task") or None, k,
                         None if info.get("episode_seed") is None else int(info["episode_seed"]),
                         float(info["episode_return"]), int(info["episode_length"]), json.dumps(stats),
                         None if eval_seed is None else int(eval_seed),
                         None if agents is None else len(agents["episode_return"])))
    path = Path(path)
    existed = path.exists()
    con = _connect(duckdb, path)
    error: BaseException | None = None
    try:
        _insert(con, rows, agent_rows)
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


def query(path: str | Path, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of a read-only SQL query (with ? or $name parameters) on the database at `path`, as dicts
    (FileNotFoundError if it is missing)."""
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


def columns(path: str | Path, table: str = "episodes") -> list[str]:
    """The column names of a table of the database at `path`, in order; [] if it has no such table (an older
    file has no agent_episodes, and no eval_seed or num_agents in episodes)."""
    return [r["column_name"] for r in query(path, "SELECT column_name FROM information_schema.columns "
                                                  "WHERE table_name = ? ORDER BY ordinal_position", [table])]


def read_episodes(path: str | Path, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The rows of `episodes` (optionally filtered by an SQL `where` with ? parameters), stats decoded; oldest
    evaluation first, then by sim and episode."""
    rows = query(path, f"SELECT * FROM episodes {'WHERE ' + where if where else ''} "
                        "ORDER BY time, eval_id, sim, episode", params)
    for r in rows:
        r["stats"] = json.loads(r["stats"]) if r["stats"] else {}
    return rows


def summarize_db(path: str | Path) -> list[dict[str, Any]]:
    """Per evaluation and sim: its policy, run and epoch, episodes, mean and std of the return, mean length; oldest first."""
    return query(path, """
        SELECT eval_id, policy_uri, run, epoch, sim, count(*) AS episodes, avg(episode_return) AS mean_return,
               coalesce(stddev_pop(episode_return), 0) AS std_return, avg(episode_length) AS mean_length,
               min(time) AS time
        FROM episodes GROUP BY eval_id, policy_uri, run, epoch, sim ORDER BY min(time), eval_id, sim""")


def read_agent_episodes(path: str | Path, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The rows of `agent_episodes` with their episode's policy_uri, run, epoch, eval_seed and time (optionally
    filtered by an SQL `where` on those names, with ? parameters), stats decoded; in the order of read_episodes,
    then by agent. A file written before the table existed has none: []."""
    if "agent" not in columns(path, "agent_episodes"):
        return []
    rows = query(path, f"""
        SELECT * FROM (SELECT a.*, e.policy_uri, e.run, e.epoch, e.eval_seed, e.time
                       FROM agent_episodes a JOIN episodes e USING (eval_id, sim, episode))
        {'WHERE ' + where if where else ''} ORDER BY time, eval_id, sim, episode, agent""", params)
    for r in rows:
        r["stats"] = json.loads(r["stats"]) if r["stats"] else {}
    return rows
