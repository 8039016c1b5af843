"""`python -m trainer.dashboard <train_dir> [out=<file.html>] [points=N] [--serve [port=N]]`: one page of every run.

For each run folder of train_dir (a folder holding metrics.jsonl or config.yaml) the page shows its learning curves
over agent steps (episode reward, hearts or the game's main agent stat, every eval/* value, each curriculum task's
reward, each loss and its weight, the PPO losses, SPS), a summary of its config, its scorecard (from its
stats.duckdb through trainer.analyze, when that module and duckdb are there) and relative links to its replays.
The page is self-contained and works offline: plain inline SVG, no script, no external file. Everything read from
the run folders (run names, metric keys, config values) is data: escaped, never markup. A line of metrics.jsonl
that is not a JSON object with a numeric agent_step is skipped and counted; the count is shown with the run.
Curves longer than `points` (default 300) are downsampled by averaging consecutive stretches of points.

`--serve` serves the page on 127.0.0.1 (http.server, port=8000 by default, port=0 for a free one), built afresh
on every request, and also the replay files the page links to (nothing else).
"""

from __future__ import annotations

import argparse
import html
import http.server
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import quote, unquote, urlsplit

import yaml

__all__ = [
    "DEFAULT_POINTS",
    "SCORECARD_POLICIES",
    "Chart",
    "RunData",
    "dashboard_html",
    "downsample",
    "find_runs",
    "load_run",
    "main",
    "make_server",
    "read_metrics",
    "render_page",
    "run_charts",
    "write_dashboard",
]

DEFAULT_POINTS = 300
"""The most points one curve is drawn with (longer curves are averaged down to this many)."""

REPLAY_SUFFIXES = (".html", ".gif")
_MAX_CONFIG_CHARS = 200_000
_PALETTE = ("#1f6fb4", "#e0762b", "#2b9a3f", "#c9302c", "#7a55b5", "#8a5a44", "#d45daf", "#6f6f6f", "#a7a51f",
            "#17a9bd")
# (title, metric key) of the single-series charts that follow the reward and main stat, when present
_PPO_CHARTS = (("policy loss", "policy_loss"), ("value loss", "value_loss"), ("entropy", "entropy"),
               ("approx KL", "approx_kl"), ("explained variance", "explained_variance"))


# ------------------------------------------------------------------ reading a run


def _number(value: Any) -> float | None:
    """A finite float from a JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return value if math.isfinite(value) else None


def _scan_metrics(path: str | Path) -> Iterator[dict[str, Any] | None]:
    """Each non-blank line of a metrics.jsonl as its record, or None for a line that is not a JSON object with a
    finite numeric `agent_step` (one line at a time: a long run's file is never held whole)."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # also undecodable bytes, absurdly nested lists
                yield None
                continue
            ok = isinstance(record, dict) and _number(record.get("agent_step")) is not None
            yield record if ok else None


def read_metrics(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The records of a metrics.jsonl and the number of lines skipped: a non-blank line that is not a JSON object
    with a finite numeric `agent_step` (a line cut off by a running write, a damaged file) is skipped, never raised."""
    records: list[dict[str, Any]] = []
    skipped = 0
    for record in _scan_metrics(path):
        if record is None:
            skipped += 1
        else:
            records.append(record)
    return records, skipped


def _wanted(key: str) -> bool:
    """Whether a metric key can be drawn on the page (what load_run keeps of each record)."""
    return (key in ("episode_return", "sps") or key in dict(_PPO_CHARTS).values()
            or key.startswith(("loss/", "eval/", "curriculum/"))
            or (key.startswith("task/") and key.endswith("/episode_return"))
            or (key.startswith("agent/") and key.endswith(".gained")))


@dataclass
class RunData:
    """What the page shows of one run folder: its curves (metric key -> [(agent_step, value)], sorted by step),
    latest values, config and replays."""

    name: str
    path: Path
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0
    metrics_error: str | None = None
    config: dict[str, Any] | None = None
    config_text: str | None = None
    config_error: str | None = None
    replays: list[Path] = field(default_factory=list)
    stats_db: Path | None = None
    updated: float | None = None


def _replay_epoch(path: Path) -> int:
    """N of a replay named <run>:v<N>.<suffix> (-1 when it is not so named)."""
    stem = path.name.rsplit(".", 1)[0]
    tail = stem.rsplit(":v", 1)[-1] if ":v" in stem else ""
    return int(tail) if tail.isdigit() else -1


def _find_replays(run_dir: Path, name: str, config: dict[str, Any] | None) -> list[Path]:
    """The run's replay files (replays/ in its folder, and simulation.replay_dir when its config sets one), by
    epoch, latest first."""
    folders = [run_dir / "replays"]
    sim = config.get("simulation") if isinstance(config, dict) else None
    other = sim.get("replay_dir") if isinstance(sim, dict) else None
    if isinstance(other, str) and other:
        folder = Path(other)
        if not folder.is_absolute():  # relative to where training ran: the folder train_dir was given from
            root = run_dir.resolve().parent
            given = config.get("train_dir") if isinstance(config, dict) else None
            if isinstance(given, str) and not Path(given).is_absolute():
                for _ in Path(given).parts:
                    root = root.parent
            folder = root / folder
        folders.append(folder)
    found: dict[Path, Path] = {}
    for folder in folders:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            own = folder == run_dir / "replays" or p.name.startswith(f"{name}:v")
            if own and p.name.endswith(REPLAY_SUFFIXES) and p.is_file():
                found.setdefault(p.resolve(), p)
    return sorted(found.values(), key=lambda p: (-_replay_epoch(p), p.name))


def load_run(run_dir: str | Path, name: str | None = None) -> RunData:
    """Reads one run folder (metrics.jsonl, config.yaml, replays, stats.duckdb); missing or unreadable files leave
    their part empty (with the reason in metrics_error / config_error), they never raise."""
    run_dir = Path(run_dir)
    run = RunData(name=run_dir.name if name is None else name, path=run_dir)
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        by_key: dict[str, dict[float, float]] = {}
        try:
            run.updated = metrics.stat().st_mtime
            for record in _scan_metrics(metrics):
                if record is None:
                    run.skipped += 1
                    continue
                run.records += 1
                step = float(record["agent_step"])
                for key, value in record.items():
                    v = _number(value)
                    if v is None:
                        continue
                    run.latest[key] = v
                    if _wanted(key):
                        by_key.setdefault(key, {})[step] = v  # a resumed run logs steps again: the later value wins
        except OSError as e:
            run.metrics_error = f"cannot read metrics.jsonl: {e}"
        run.series = {k: sorted(points.items()) for k, points in by_key.items()}
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        try:
            text = config_path.read_text(errors="replace")
            run.config_text = text if len(text) <= _MAX_CONFIG_CHARS else text[:_MAX_CONFIG_CHARS] + "\n..."
            loaded = yaml.safe_load(text)
            if isinstance(loaded, dict):
                run.config = loaded
            else:
                run.config_error = f"config.yaml holds a {type(loaded).__name__}, not a mapping"
        except (OSError, yaml.YAMLError) as e:
            run.config_error = f"cannot read config.yaml: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    run.replays = _find_replays(run_dir, run.name, run.config)
    if (run_dir / "stats.duckdb").is_file():
        run.stats_db = run_dir / "stats.duckdb"
    return run


def find_runs(train_dir: str | Path) -> list[RunData]:
    """Every run folder of train_dir (a folder holding metrics.jsonl or config.yaml), by name."""
    return [load_run(p) for p in _run_dirs(Path(train_dir))]


def _run_dirs(train_dir: Path) -> list[Path]:
    return [p for p in sorted(train_dir.iterdir(), key=lambda p: p.name)
            if p.is_dir() and ((p / "metrics.jsonl").is_file() or (p / "config.yaml").is_file())]


# ------------------------------------------------------------------ curves


def downsample(points: Sequence[tuple[float, float]], max_points: int) -> list[tuple[float, float]]:
    """At most max_points points: the points themselves when there are few enough, else the means (of x and of y)
    of max_points consecutive stretches of nearly equal length (the first i*n//m to (i+1)*n//m)."""
    if max_points < 1:
        raise ValueError(f"downsample: max_points = {max_points}, expected >= 1")
    n = len(points)
    if n <= max_points:
        return [(float(x), float(y)) for x, y in points]
    out = []
    for i in range(max_points):
        chunk = points[i * n // max_points:(i + 1) * n // max_points]
        out.append((sum(p[0] for p in chunk) / len(chunk), sum(p[1] for p in chunk) / len(chunk)))
    return out


@dataclass
class Chart:
    """One picture: a title and its curves (metric key -> points)."""

    title: str
    series: dict[str, list[tuple[float, float]]]


def _main_stat(series: dict[str, list[tuple[float, float]]]) -> str | None:
    """The game's main agent stat: agent/heart.gained when logged, else the agent/<item>.gained that reached the
    highest value (None when none is logged or all stay 0)."""
    if "agent/heart.gained" in series:
        return "agent/heart.gained"
    best, top = None, 0.0
    for key, points in sorted(series.items()):
        if key.startswith("agent/") and key.endswith(".gained") and points:
            peak = max(v for _, v in points)
            if peak > top:
                best, top = key, peak
    return best


def run_charts(run: RunData) -> list[Chart]:
    """The run's charts, in page order, each with at least one point: episode reward, the main agent stat, eval/*
    (one chart per value name, each sim a curve), each curriculum task's episode reward, the tasks' draw chances,
    each loss/<name>, the loss weights, the PPO losses, SPS."""
    s = run.series
    charts: list[Chart] = []

    def add(title: str, keys: Iterable[str]) -> None:
        picked = {k: s[k] for k in keys if s.get(k)}
        if picked:
            charts.append(Chart(title, picked))

    add("episode reward", ["episode_return"])
    stat = _main_stat(s)
    if stat is not None:
        item = stat[len("agent/"):-len(".gained")]
        add("hearts gained" if item == "heart" else f"{item} gained", [stat])
    evals: dict[str, list[str]] = {}
    for key in sorted(s):
        if key.startswith("eval/"):
            evals.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    for what, keys in sorted(evals.items(), key=lambda kv: (kv[0] != "mean_return", kv[0])):
        add(f"eval {what}", sorted(keys, key=lambda k: (k.count("/"), k)))  # the mean over sims first
    tasks = sorted(k for k in s if k.startswith("task/") and k.endswith("/episode_return"))
    for key in tasks:
        add(f"task {key[len('task/'):-len('/episode_return')]}: episode reward", [key])
    add("curriculum: chance of drawing each task", sorted(k for k in s if k.startswith("curriculum/")))
    losses = sorted(k for k in s if k.startswith("loss/") and not k.endswith("/weight"))
    for key in losses:
        add(f"loss {key[len('loss/'):]}", [key])
    add("loss weights", sorted(k for k in s if k.startswith("loss/") and k.endswith("/weight")))
    for title, key in _PPO_CHARTS:
        add(title, [key])
    add("SPS (agent steps per second)", ["sps"])
    return charts


# ------------------------------------------------------------------ rendering


def _e(value: Any) -> str:
    """Text (or any value's str) escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def _fmt(value: float, digits: int = 3) -> str:
    """A short number with `digits` significant digits: 12, 0.0312, 4.5k, 1.2M."""
    a = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    if a == int(a):
        return str(int(value))
    return f"{value:.{digits}g}"


def _tick(value: float, lo: float, hi: float) -> str:
    """An axis label: enough digits to tell the labels of the range lo..hi apart."""
    span = hi - lo
    top = max(abs(lo), abs(hi))
    extra = max(0, math.ceil(math.log10(top / span))) if span > 0 and top > 0 else 0
    return _fmt(value, min(8, 2 + extra))


W, H = 340, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 10, 10, 26


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def _svg(chart: Chart, max_points: int) -> str:
    """The chart as an inline SVG: axes with min / max labels and one polyline per curve (data-key: its metric key,
    data-n: its number of points), a dot for a curve of one point."""
    curves = {k: downsample(v, max_points) for k, v in chart.series.items()}
    x0, x1 = _range([x for pts in curves.values() for x, _ in pts])
    y0, y1 = _range([y for pts in curves.values() for _, y in pts])
    pw, ph = W - _LEFT - _RIGHT, H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return _TOP + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [f'<svg class="plot" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{_e(chart.title)}">',
             f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}"/>']
    for frac in (0.0, 0.5, 1.0):  # grid lines with the value they stand for
        y = y0 + frac * (y1 - y0)
        label = _e(_tick(y, y0, y1))
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{W - _RIGHT}" y1="{py(y):.1f}" y2="{py(y):.1f}"/>'
                     f'<text class="tick" x="{_LEFT - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{label}</text>')
    parts.append(f'<text class="tick" x="{_LEFT}" y="{H - 8}">{_e(_fmt(x0))}</text>'
                 f'<text class="tick" x="{W - _RIGHT}" y="{H - 8}" text-anchor="end">{_e(_fmt(x1))} steps</text>')
    for i, (key, pts) in enumerate(curves.items()):
        color = _PALETTE[i % len(_PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline class="curve" data-key="{_e(key)}" data-n="{len(pts)}" points="{coords}" '
                     f'stroke="{color}"><title>{_e(key)}: last {_e(_fmt(pts[-1][1]))}</title></polyline>')
        if len(pts) == 1:
            parts.append(f'<circle cx="{px(pts[0][0]):.1f}" cy="{py(pts[0][1]):.1f}" r="2.5" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _chart_html(chart: Chart, max_points: int) -> str:
    keys = list(chart.series)
    last = {k: v[-1][1] for k, v in chart.series.items()}
    if len(keys) == 1:
        caption = (f'{_e(chart.title)} <span class="muted">{_e(keys[0])} · last {_e(_fmt(last[keys[0]]))}</span>')
        legend = ""
    else:
        caption = _e(chart.title)
        legend = '<div class="legend">' + "".join(
            f'<span><span class="swatch" style="background:{_PALETTE[i % len(_PALETTE)]}"></span>{_e(k)} '
            f'<span class="muted">{_e(_fmt(last[k]))}</span></span>' for i, k in enumerate(keys)) + "</div>"
    return (f'<figure class="chart" data-title="{_e(chart.title)}"><figcaption>{caption}</figcaption>'
            f'{_svg(chart, max_points)}{legend}</figure>')


def _get(config: dict[str, Any] | None, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of the config's main settings."""
    rows = []
    for label, key in (("game", "env.preset"), ("game overrides", "env.game"), ("policy", "agent.policy"),
                       ("hidden dim", "agent.hidden_dim"), ("games per rank", "env.num_envs"),
                       ("total agent steps", "total_timesteps"), ("optimizer", "optimizer.type"),
                       ("learning rate", "optimizer.learning_rate"), ("batch size", "experience.batch_size"),
                       ("seed", "seed"), ("device", "device")):
        value = _get(config, key)
        if value not in (None, {}, ""):
            rows.append((label, _short(value)))
    curriculum = _get(config, "env.curriculum")
    if isinstance(curriculum, dict) and curriculum:
        algorithm = _get(config, "env.curriculum_algorithm") or "random"
        rows.append(("curriculum", _short(f"{len(curriculum)} tasks ({algorithm}): {', '.join(map(str, curriculum))}",
                                          400)))
    losses = _get(config, "losses")
    if isinstance(losses, dict) and losses:
        shown = [f"{name} x {_get(v, 'weight')}" if isinstance(v, dict) and "weight" in v else str(name)
                 for name, v in losses.items()]
        rows.append(("losses", _short(", ".join(shown))))
    sim = _get(config, "simulation")
    if isinstance(sim, dict) and sim.get("evaluate_interval"):
        sims = list(sim["suite"]) if isinstance(sim.get("suite"), dict) else []
        rows.append(("evaluation", _short(f"every {sim['evaluate_interval']} epochs, {sim.get('num_episodes')} "
                                          f"episodes" + (f" on {', '.join(map(str, sims))}" if sims else ""))))
    return rows


SCORECARD_POLICIES = 5
"""The scorecard shows the policies evaluated last (a run evaluated every epoch has one policy per evaluation)."""


def _scorecard_html(db: Path) -> str:
    """The run's latest scorecard from its stats.duckdb (trainer.analyze): the SCORECARD_POLICIES policies written
    last, on every sim; empty when the module or duckdb is missing, a short note when the database cannot be read."""
    try:
        from trainer.analyze import scorecard, scorecard_html
    except ImportError:
        return ""
    try:
        rows = scorecard(db, metric="reward")
        policies = list(dict.fromkeys(r["policy"] for r in rows))  # in the order they were first written
        shown = set(policies[-SCORECARD_POLICIES:])
        body = scorecard_html([r for r in rows if r["policy"] in shown], "reward")
    except ImportError:
        return ""
    except Exception as e:  # a damaged or locked database costs its scorecard, not the page
        return f'<p class="warn">scorecard unavailable: {_e(type(e).__name__)}: {_e(_short(str(e), 300))}</p>'
    more = len(policies) - len(shown)
    note = f'<p class="muted">the latest {len(shown)} of {len(policies)} policies evaluated</p>' if more else ""
    return f'<div class="scorecard">{body}{note}</div>'


def _link(path: Path, base: Path) -> str:
    """A relative URL from the folder `base` to `path`, every component percent-encoded (a replay named
    `run:v3.html` must not read as a URL scheme)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return "/".join(quote(part, safe="") for part in Path(rel).parts)


def _run_html(run: RunData, index: int, base: Path, max_points: int, links: dict[str, Path]) -> str:
    charts = run_charts(run)
    out = [f'<section class="run" id="run-{index}" data-run="{_e(run.name)}">', f"<h2>{_e(run.name)}</h2>"]
    facts = [f"{run.records:,} records"]
    if run.latest.get("epoch") is not None:
        facts.append(f"epoch {run.latest['epoch']:,.0f}")
    if run.latest.get("agent_step") is not None:
        facts.append(f"{int(run.latest['agent_step']):,} agent steps")
    if run.updated is not None:
        facts.append("updated " + time.strftime("%Y-%m-%d %H:%M", time.localtime(run.updated)))
    out.append(f'<p class="muted">{_e(" · ".join(facts))} · folder {_e(run.path)}</p>')
    if run.skipped:
        out.append(f'<p class="warn skipped" data-skipped="{run.skipped}">{run.skipped:,} malformed '
                   f'line{"s" if run.skipped != 1 else ""} of metrics.jsonl skipped</p>')
    for error in (run.metrics_error, run.config_error):
        if error:
            out.append(f'<p class="warn">{_e(error)}</p>')
    if charts:
        out.append('<div class="charts">' + "".join(_chart_html(c, max_points) for c in charts) + "</div>")
    else:
        out.append('<p class="muted">no curves yet (no metrics records)</p>')
    side = []
    if run.config is not None:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _config_rows(run.config))
        side.append(f'<div><h3>Config</h3><table class="config">{rows}</table>'
                    f'<details><summary>config.yaml</summary><pre>{_e(run.config_text or "")}</pre></details></div>')
    if run.stats_db is not None:
        card = _scorecard_html(run.stats_db)
        if card:
            side.append(f"<div><h3>Scorecard</h3>{card}</div>")
    if run.replays:
        items = []
        for p in run.replays:
            url = _link(p, base)
            links[url] = p
            epoch = _replay_epoch(p)
            label = f"epoch {epoch}" if epoch >= 0 else p.name
            items.append(f'<li><a class="replay" href="{_e(url)}">{_e(label)}</a> '
                         f'<span class="muted">{_e(p.name)}</span></li>')
        side.append(f'<div><h3>Replays</h3><ul class="replays">{"".join(items)}</ul></div>')
    if side:
        out.append('<div class="side">' + "".join(side) + "</div>")
    out.append("</section>")
    return "\n".join(out)


_CSS = """
body { font: 13px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 10px 18px; color: #222;
       background: #f6f5f1; }
h1 { font-size: 19px; margin: 6px 0; } h2 { font-size: 16px; margin: 0 0 2px; } h3 { font-size: 13px; margin: 4px 0; }
.muted { color: #777; } .warn { color: #a33; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 1px 8px 1px 0; vertical-align: top; }
table.index td, table.index th { border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
section.run { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; margin: 14px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(345px, 1fr)); gap: 8px; }
figure.chart { margin: 0; } figcaption { font-weight: 600; overflow-wrap: anywhere; }
figcaption .muted { font-weight: normal; }
svg.plot { display: block; } svg .frame { fill: #fcfcfa; stroke: #ccc; } svg .grid { stroke: #e6e6e6; }
svg .tick { font-size: 10px; fill: #666; } svg .curve { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.legend { font-size: 11px; display: flex; flex-wrap: wrap; gap: 2px 10px; overflow-wrap: anywhere; }
.legend .swatch { display: inline-block; width: 10px; height: 3px; margin: 0 4px 3px 0; vertical-align: middle; }
.side { display: flex; flex-wrap: wrap; gap: 8px 40px; margin-top: 8px; }
.side > div { min-width: 260px; max-width: 100%; overflow-x: auto; }
pre { font-size: 11px; max-height: 420px; overflow: auto; background: #f4f4f0; padding: 6px; }
ul.replays { margin: 0; padding-left: 18px; max-height: 220px; overflow: auto; }
"""


def render_page(runs: Sequence[RunData], title: str, base: Path, max_points: int = DEFAULT_POINTS,
                links: dict[str, Path] | None = None) -> str:
    """The whole page for these runs; links to replays are relative to the folder `base` (where the page is
    read from), and each is added to `links` (URL -> file)."""
    if max_points < 1:
        raise ValueError(f"points = {max_points}, expected >= 1")
    links = {} if links is None else links
    rows = []
    for i, run in enumerate(runs):
        def last(key: str) -> str:
            v = run.latest.get(key)
            return _fmt(v) if isinstance(v, float) else "-"
        steps = f"{run.latest['agent_step']:,.0f}" if "agent_step" in run.latest else "-"
        epoch = f"{run.latest['epoch']:,.0f}" if "epoch" in run.latest else "-"
        rows.append(f'<tr><td><a href="#run-{i}">{_e(run.name)}</a></td><td>{_e(epoch)}</td>'
                    f'<td>{_e(steps)}</td><td>{_e(last("episode_return"))}</td>'
                    f'<td>{_e(last("eval/mean_return"))}</td><td>{_e(last("sps"))}</td>'
                    f'<td>{len(run.replays)}</td></tr>')
    if runs:
        index = ('<table class="index"><tr><th>run</th><th>epoch</th><th>agent steps</th><th>episode reward</th>'
                 '<th>eval reward</th><th>SPS</th><th>replays</th></tr>' + "".join(rows) + "</table>")
    else:
        index = '<p class="muted">no runs here yet (a run is a folder with metrics.jsonl or config.yaml)</p>'
    sections = "\n".join(_run_html(run, i, base, max_points, links) for i, run in enumerate(runs))
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>runs in {_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>Runs in {_e(title)}</h1>\n<p class=\"muted\">{len(runs)} run{'s' if len(runs) != 1 else ''} · "
            f"made {_e(made)} · curves over agent steps, at most {max_points} points each</p>\n"
            f"{index}\n{sections}\n</body>\n</html>\n")


def _check_train_dir(train_dir: Path) -> None:
    if not train_dir.exists():
        raise FileNotFoundError(f"train_dir {str(train_dir)!r} does not exist")
    if not train_dir.is_dir():
        raise NotADirectoryError(f"train_dir {str(train_dir)!r} is not a folder")


def dashboard_html(train_dir: str | Path, base: str | Path | None = None, max_points: int = DEFAULT_POINTS,
                   links: dict[str, Path] | None = None) -> str:
    """The page of every run in train_dir, with replay links relative to `base` (default: train_dir)."""
    train_dir = Path(train_dir)
    _check_train_dir(train_dir)
    return render_page(find_runs(train_dir), str(train_dir), Path(base) if base is not None else train_dir,
                       max_points, links)


def write_dashboard(train_dir: str | Path, out: str | Path | None = None, max_points: int = DEFAULT_POINTS) -> Path:
    """Writes the page (default train_dir/dashboard.html; replaced atomically) and returns its path."""
    train_dir = Path(train_dir)
    out = Path(out) if out is not None else train_dir / "dashboard.html"
    page = dashboard_html(train_dir, out.parent, max_points)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # open() keeps the umask's permissions (mkstemp: 0600)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


# ------------------------------------------------------------------ serving


def make_server(train_dir: str | Path, port: int = 8000, max_points: int = DEFAULT_POINTS,
                quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:port (0: a free port; see server.server_address) answering `/` with the page,
    made afresh for each request, and the page's replay links with their files; anything else is 404."""
    train_dir = Path(train_dir)
    _check_train_dir(train_dir)
    links: dict[str, Path] = {}  # URL path (no leading /) -> file, from the latest page

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urlsplit(self.path).path
            if path in ("/", "/index.html", "/dashboard.html"):
                try:
                    fresh: dict[str, Path] = {}
                    page = dashboard_html(train_dir, train_dir, max_points, fresh)
                except OSError as e:
                    self._send(500, f"error: {e}\n".encode(), "text/plain; charset=utf-8")
                    return
                links.clear()
                links.update(fresh)
                self._send(200, page.encode("utf-8"), "text/html; charset=utf-8")
                return
            file = links.get(path.lstrip("/"))
            if file is None:
                file = next((f for url, f in links.items() if unquote(url) == unquote(path.lstrip("/"))), None)
            if file is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            try:
                body = file.read_bytes()
            except OSError:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            kind = "image/gif" if file.suffix == ".gif" else "text/html; charset=utf-8"
            self._send(200, body, kind)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            if not quiet:
                super().log_message(format, *args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


# ------------------------------------------------------------------ command line


def _options(items: list[str]) -> dict[str, str]:
    allowed = ("out", "points", "port")
    options: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in allowed:
            raise ValueError(f"unknown argument {item!r}: expected key=value with key one of {', '.join(allowed)}")
        options[key] = value
    return options


def _int_option(options: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    text = options.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{key}={value} is out of range: expected {low} to {high}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.dashboard <train_dir> [out=...] [points=N] [--serve [port=N]]`; a bad
    argument or missing train_dir is one `error:` line (exit 2)."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.dashboard",
        description="One self-contained page of every run in train_dir: learning curves, config, scorecard, replays.")
    parser.add_argument("train_dir", help="the folder holding the run folders (train_dir/<run>/metrics.jsonl ...)")
    parser.add_argument("options", nargs="*", metavar="key=value",
                        help="out=<file.html> (default train_dir/dashboard.html), points=N (most points per curve, "
                             f"default {DEFAULT_POINTS}), port=N (with --serve, default 8000; 0 picks a free one)")
    parser.add_argument("--serve", action="store_true",
                        help="serve the page on 127.0.0.1 instead of writing it, made afresh on every request")
    args = parser.parse_intermixed_args(argv)  # `train_dir --serve port=N`: options after the flag
    try:
        options = _options(args.options)
        points = _int_option(options, "points", DEFAULT_POINTS, 1, 100_000)
        train_dir = Path(args.train_dir)
        if args.serve:
            if "out" in options:
                raise ValueError("out= writes a file; --serve serves the page instead: give one of them")
            server = make_server(train_dir, _int_option(options, "port", 8000, 0, 65535), points)
            host, port = server.server_address[:2]
            print(f"serving the runs in {train_dir} on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()
            return 0
        if "port" in options:
            raise ValueError("port= is for --serve")
        out = write_dashboard(train_dir, options.get("out"), points)
        runs = len(_run_dirs(train_dir))
        print(f"wrote {out} ({runs} run{'s' if runs != 1 else ''})")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
