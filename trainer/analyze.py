"""Scorecards: `python -m trainer.analyze <stats.duckdb> [metric=reward] [html=<path>]` prints a policy x sim table
of a metric's mean and 95 % interval over episodes and writes it as a self-contained HTML heatmap.

From a notebook (rows are plain dicts; `pandas.DataFrame(rows)` makes a frame where pandas is installed):

    from trainer.analyze import scorecard, scorecard_html
    rows = scorecard("evals.duckdb", metric="hearts")   # [{"policy", "sim", "mean", "ci95", "n"}, ...]
    html = scorecard_html(rows, "hearts")               # an HTML fragment (a <div>) to embed in a page

Metrics: `reward` (default: the episode's return per agent, i.e. averaged over its agents), `length`, `hearts`
(`agent/heart.gained`), or any episode stat stored in the database (`agent/<stat>`, per agent; `game/<stat>`; an
agent stat may drop its `agent/` prefix). `metrics(db)` lists them. One value per episode; the interval is
Student's t over the episodes. Where a policy was evaluated on a sim with the same seed several times (the same
episodes again), the latest evaluation counts; evaluations with other seeds pool. Torch-free: only DuckDB (the
`stats` extra), through trainer.stats_db.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.stats_db import columns, query, require_duckdb

__all__ = ["METRIC_ALIASES", "main", "metric_column", "metrics", "policy_labels", "scorecard", "scorecard_html",
           "scorecard_page", "scorecard_text", "t_quantile_975"]

METRIC_ALIASES = {"reward": "episode_return", "return": "episode_return", "length": "episode_length",
                  "hearts": "agent/heart.gained"}
"""Short metric names -> an episodes column or a stats key."""

_COLUMNS = ("episode_return", "episode_length")


def policy_labels(uris: Sequence[str]) -> dict[str, str]:
    """Short names for policy URIs: a checkpoint's file name without `.safetensors` (`run:v3`), other URIs as they
    are; the full URI wherever a short name would be ambiguous."""
    short = {}
    for uri in uris:
        name = uri.rsplit("/", 1)[-1] if uri.startswith("file://") else uri
        short[uri] = name[:-len(".safetensors")] if name.endswith(".safetensors") else name
    counts: dict[str, int] = {}
    for uri, name in short.items():
        counts[name] = counts.get(name, 0) + 1
    return {uri: name if counts[name] == 1 and (name == uri or name not in short) else uri
            for uri, name in short.items()}


def _stat_keys(db_path: str | Path) -> list[str]:
    rows = query(db_path, "SELECT DISTINCT unnest(json_keys(stats)) AS key FROM episodes WHERE stats IS NOT NULL")
    return sorted(r["key"] for r in rows)


def metrics(db_path: str | Path) -> list[str]:
    """The metric names a scorecard of this database can show: the aliases, then every stored episode stat."""
    keys = _stat_keys(db_path)
    aliases = [a for a, target in METRIC_ALIASES.items() if target in _COLUMNS or target in keys]
    return aliases + keys


def metric_column(db_path: str | Path, metric: str) -> str:
    """The column (episode_return, episode_length) or stats key a metric name means in this database; ValueError
    naming the metric and the ones there are if it has none."""
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric = {metric!r}: expected a metric name such as reward, hearts or agent/<stat>")
    target = METRIC_ALIASES.get(metric, metric)
    if target in _COLUMNS:
        return target
    keys = _stat_keys(db_path)
    for key in (target, f"agent/{target}"):
        if key in keys:
            return key
    shown = metrics(db_path)
    more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
    raise ValueError(f"metric {metric!r} is not in {db_path}; metrics: {', '.join(shown[:20])}{more}")


# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (standard table values).
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (a table to 30, then a Cornish-Fisher series,
    within 1e-6 of the exact value)."""
    if df < 1:
        raise ValueError(f"df = {df}: expected >= 1 degrees of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def scorecard(db_path: str | Path, metric: str = "reward") -> list[dict[str, Any]]:
    """Per policy and sim: the metric's mean over episodes, the half-width of its 95 % interval (Student's t;
    None with one episode) and the number of episodes; as dicts with keys policy, sim, mean, ci95, n, policies and
    sims in the order they were first written. The policy is its URI (`run:v<epoch>` for rows the training loop
    wrote without one)."""
    require_duckdb()
    if not Path(db_path).exists():
        raise FileNotFoundError(f"{db_path}: no such stats database")
    if not columns(db_path):
        raise ValueError(f"{db_path}: not a stats database (it has no episodes table)")
    column = metric_column(db_path, metric)
    value = column if column in _COLUMNS else "TRY_CAST(json_extract_string(stats, $path) AS DOUBLE)"
    seed = "eval_seed" if "eval_seed" in columns(db_path) else "NULL"  # files from before eval_seed existed
    rows = query(db_path, f"""
        WITH ep AS (
            SELECT rowid AS rid, eval_id, time, sim, {seed} AS eval_seed, {value} AS value,
                   coalesce(policy_uri, run || ':v' || epoch, run, '(unnamed)') AS policy
            FROM episodes),
        latest AS (  -- the same policy, sim and seed again: the same episodes, so only the latest evaluation counts
            SELECT policy, sim, arg_max(eval_id, t) AS eval_id
            FROM (SELECT policy, sim, eval_seed, eval_id, max(time) AS t FROM ep GROUP BY ALL)
            GROUP BY policy, sim, eval_seed),
        policy_order AS (SELECT policy, min(rid) AS policy_first FROM ep GROUP BY policy),
        sim_order AS (SELECT sim, min(rid) AS sim_first FROM ep GROUP BY sim)
        SELECT policy, sim, count(value) AS n, avg(value) AS mean, stddev_samp(value) AS sd,
               any_value(policy_first) AS policy_first, any_value(sim_first) AS sim_first
        FROM ep JOIN latest USING (policy, sim, eval_id) JOIN policy_order USING (policy) JOIN sim_order USING (sim)
        GROUP BY policy, sim
        HAVING count(value) > 0
        ORDER BY policy_first, sim_first""", {"path": f"$.{json.dumps(column)}"} if column not in _COLUMNS else None)
    out = []
    for r in rows:
        n = int(r["n"])
        ci = t_quantile_975(n - 1) * float(r["sd"]) / math.sqrt(n) if n > 1 else None
        out.append({"policy": r["policy"], "sim": r["sim"], "mean": float(r["mean"]), "ci95": ci, "n": n})
    return out


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3f}"


def _cell(row: dict[str, Any], pm: str) -> str:
    ci = "n/a" if row["ci95"] is None else _fmt(row["ci95"])
    return f"{_fmt(row['mean'])} {pm} {ci} ({row['n']})"


def _grid(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    policies: list[str] = []
    sims: list[str] = []
    for r in rows:
        if r["policy"] not in policies:
            policies.append(r["policy"])
        if r["sim"] not in sims:
            sims.append(r["sim"])
    return policies, sims, {(r["policy"], r["sim"]): r for r in rows}


def scorecard_text(rows: Sequence[dict[str, Any]], metric: str = "reward") -> str:
    """The scorecard as a plain-text table: a row per policy, a column per sim, `mean +- ci95 (n)` in each cell."""
    if not rows:
        return f"{metric}: no episodes"
    policies, sims, cells = _grid(rows)
    labels = policy_labels(policies)
    table = [["policy", *sims]] + [[labels[p], *(_cell(cells[p, s], "+-") if (p, s) in cells else "-" for s in sims)]
                                   for p in policies]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
    legend = [f"  {labels[p]} = {p}" for p in policies if labels[p] != p]
    return "\n".join([f"{metric}: mean +- 95% interval over episodes (episodes)", *lines]
                     + (["policies:", *legend] if legend else []))


_LOW, _HIGH = (247, 251, 255), (8, 81, 156)  # the heatmap's colours for a sim's lowest and highest mean

_STYLE = """<style>
.mg-scorecard table{border-collapse:collapse;font:13px/1.3 system-ui,-apple-system,sans-serif}
.mg-scorecard caption{text-align:left;padding:4px 0;font-weight:600}
.mg-scorecard th,.mg-scorecard td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
.mg-scorecard th{background:#f6f8fa}
.mg-scorecard th.policy{text-align:left}
.mg-scorecard td.missing{background:#eee;color:#888;text-align:center}
.mg-scorecard small{opacity:.75}
.mg-scorecard p{font:12px system-ui,sans-serif;color:#57606a;margin:4px 0}
</style>"""


def _colour(t: float) -> tuple[str, str]:
    """(background, text colour) at `t` in [0, 1] between the low and high colours."""
    rgb = [round(lo + (hi - lo) * t) for lo, hi in zip(_LOW, _HIGH)]
    return "#{:02x}{:02x}{:02x}".format(*rgb), "#fff" if t > 0.55 else "#111"


def scorecard_html(rows: Sequence[dict[str, Any]], metric: str = "reward") -> str:
    """The scorecard as an HTML fragment (one <div class="mg-scorecard"> with its own <style>, no scripts, no
    external assets): a policy x sim heatmap, each sim's column coloured from its lowest mean (light) to its highest
    (dark), `mean ± ci95` and the episode count in each cell. Every name is escaped."""
    esc = html.escape
    caption = f"{esc(metric)}: mean ± 95% interval over episodes"
    if not rows:
        return f'<div class="mg-scorecard">{_STYLE}<p>{caption}: no episodes</p></div>'
    policies, sims, cells = _grid(rows)
    labels = policy_labels(policies)
    ranges = {s: (min(cells[p, s]["mean"] for p in policies if (p, s) in cells),
                  max(cells[p, s]["mean"] for p in policies if (p, s) in cells)) for s in sims}
    out = [f'<div class="mg-scorecard">{_STYLE}<table>', f"<caption>{caption}</caption>",
           '<thead><tr><th class="policy">policy</th>' + "".join(f"<th>{esc(s)}</th>" for s in sims)
           + "</tr></thead><tbody>"]
    for p in policies:
        line = [f'<tr><th class="policy" title="{esc(p)}">{esc(labels[p])}</th>']
        for s in sims:
            r = cells.get((p, s))
            if r is None:
                line.append('<td class="missing" title="not evaluated">&ndash;</td>')
                continue
            lo, hi = ranges[s]
            bg, fg = _colour((r["mean"] - lo) / (hi - lo) if hi > lo else 0.0)
            ci = "n/a" if r["ci95"] is None else _fmt(r["ci95"])
            title = f"{labels[p]} on {s}: {metric} {r['mean']:.6g} ± {ci}, {r['n']} episodes"
            line.append(f'<td style="background:{bg};color:{fg}" title="{esc(title)}">{_fmt(r["mean"])} ± {ci}'
                        f'<br><small>n={r["n"]}</small></td>')
        out.append("".join(line) + "</tr>")
    out.append("</tbody></table>")
    out.append("<p>Each sim's column is coloured from its lowest mean (light) to its highest (dark); ± is the "
               "half-width of the 95% interval (Student's t over episodes).</p></div>")
    return "\n".join(out)


def scorecard_page(rows: Sequence[dict[str, Any]], metric: str = "reward", title: str = "Scorecard") -> str:
    """A whole self-contained HTML page around scorecard_html (no scripts, no external assets)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head>\n<body>\n<h1 style=\"font:600 18px system-ui,sans-serif\">{html.escape(title)}</h1>\n"
            f"{scorecard_html(rows, metric)}\n</body></html>\n")


# ------------------------------------------------------------------ command line


def _default_html(db: Path) -> Path:
    return db.with_name(db.stem + ".scorecard.html")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.analyze <stats.duckdb> [metric=reward] [html=<path>]`."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.analyze",
        description="Print a policy x sim scorecard of a stats database (mean +- 95 % interval of a metric over "
                    "episodes) and write it as an HTML heatmap.")
    parser.add_argument("db", help="a DuckDB stats file (python -m trainer.evaluate ... stats_db=<file>)")
    parser.add_argument("options", nargs="*", help="metric=<name> (default reward; also length, hearts, "
                        "agent/<stat>, game/<stat>), html=<path> (default <db>.scorecard.html next to the file)")
    parser.add_argument("--metrics", action="store_true", help="list the metrics of the database and exit")
    args = parser.parse_intermixed_args(argv)
    try:
        errors = (ImportError, OSError, ValueError, require_duckdb().Error)  # DuckDB's own: a file that is no database
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        opts: dict[str, str] = {}
        for item in args.options:
            key, sep, value = item.partition("=")
            if not sep or key not in ("metric", "html"):
                raise ValueError(f"argument {item!r}: expected metric=<name> or html=<path>")
            if key in opts:
                raise ValueError(f"{key} is given twice")
            opts[key] = value
        db = Path(args.db)
        if args.metrics:
            if not db.exists():
                raise FileNotFoundError(f"{db}: no such stats database")
            print("\n".join(metrics(db)))
            return 0
        metric = opts.get("metric", "reward")
        rows = scorecard(db, metric)
        out = Path(opts["html"]) if opts.get("html") else _default_html(db)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(scorecard_page(rows, metric, f"Scorecard: {db.name}"), encoding="utf-8")
    except errors as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(scorecard_text(rows, metric))
    print(f"html     {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
