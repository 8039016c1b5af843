"""The run dashboard: over a real tiny run and a hand-written long one (a curriculum, many points, malformed lines and
names made of markup), the page rendered in headless Chromium draws each run's curves with the downsampled points,
shows every name as text, links the replays relatively and works offline; `--serve` answers on 127.0.0.1."""

from __future__ import annotations

import html
import importlib.util
import json
import math
import random
import re
import select
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tiny_run import tiny_config
from trainer import dashboard
from trainer.dashboard import downsample, load_run, main, read_metrics, render_page
from trainer.train import train

XSS = "<img src=x onerror=alert(1)>"  # a legal folder name (no '/'), and markup
TASKS = {"size=11|layout=room": 1, "size=15|layout=maze": 2, "<i>t</i>": 3, "size=21|layout=room": 5}
LONG = 1000  # training records of the hand-written run
MALFORMED = [b'{"epoch": 3, "agent_step": 1', b"[1, 2]", b'{"agent_step": "x"}', b"\xff\xfe not utf-8",
             b'{"epoch": 4}', b'{"agent_step": NaN}', b"[" * 100_000, b'{"agent_step": 1' + b"0" * 400 + b"}"]
HAS_DUCKDB = importlib.util.find_spec("duckdb") is not None


def _hand_run(run_dir: Path) -> None:
    """A long run with a 4-task curriculum, two eval sims, two losses, a resume that logs 10 steps again, malformed
    lines, a config and a replay, all with markup in names."""
    rng = random.Random(3)
    run_dir.mkdir(parents=True)
    lines: list[bytes] = []
    for i in range(LONG):
        step = 64 * (i + 1)
        rec: dict[str, Any] = {"epoch": i + 1, "agent_step": step, "sps": 5000 + rng.random() * 100,
                               "episode_return": math.sin(i / 50) + rng.random() * 0.1, "agent/heart.gained": i / 100,
                               "agent/ore_red.gained": 0.5, "loss/ppo": rng.random(), "loss/ppo/weight": 1.0,
                               "loss/action_supervised": rng.random(), "loss/action_supervised/weight": 1 - i / LONG,
                               "policy_loss": rng.random(), "entropy": 2 - i / LONG, "game/steps": 9.0}
        for t, (name, every) in enumerate(TASKS.items()):
            rec[f"curriculum/{name}"] = (t + 1 + i / LONG) / 10
            if i % every == 0:
                rec[f"task/{name}/episode_return"] = t + rng.random()
                rec[f"task/{name}/episodes"] = 3
        lines.append(json.dumps(rec).encode())
        if i % 10 == 9:
            lines.append(json.dumps({"epoch": i + 1, "agent_step": step, "eval/mean_return": rng.random(),
                                     "eval/open/mean_return": rng.random(), f"eval/{XSS}/mean_return": rng.random(),
                                     "eval/mean_length": 30.0}).encode())
        if i == 400:
            lines.append(json.dumps({"agent_step": step + 1, "episode_return": float("nan")}).encode())  # no point
            lines += MALFORMED[:3]
    lines += [json.dumps({"epoch": LONG - 9 + k, "agent_step": 64 * (LONG - 9 + k), "episode_return": -1.0}).encode()
              for k in range(10)]  # resumed: steps logged again, these values win
    lines += MALFORMED[3:] + [b"", b"   "]
    (run_dir / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (run_dir / "config.yaml").write_text(
        f"run: '{XSS}'\nenv:\n  preset: '<script>alert(1)</script>'\n  curriculum:\n"
        + "".join(f"    '{name}': {{preset: navigation, weight: 1.0}}\n" for name in TASKS)
        + "  curriculum_algorithm: learning_progress\nagent:\n  policy: lstm\nlosses:\n  ppo: {weight: 1.0}\n")
    (run_dir / "replays").mkdir()
    (run_dir / "replays" / f"{XSS}:v7.html").write_text("<p>replay 7</p>")


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`real`: 2 tiny epochs with evaluations, a replay and (with duckdb) a stats database; and the hand-written run."""
    td = tmp_path_factory.mktemp("runs") / "train_dir"
    cfg = tiny_config(td, run="real", epochs=2)
    cfg.env.game["max_steps"] = 40
    cfg.simulation.evaluate_interval = 1
    cfg.simulation.num_episodes = 2
    cfg.simulation.num_envs = 2
    cfg.simulation.replay_interval = 2
    cfg.simulation.stats_db = HAS_DUCKDB
    train(cfg)
    _hand_run(td / XSS)
    (td / "not_a_run").mkdir()  # no metrics.jsonl nor config.yaml
    return td


def _curves(metrics: Path) -> dict[str, list[tuple[float, float]]]:
    """Each drawable key's (step, value) points, straight from the file: the last value of each step, by step."""
    by_key: dict[str, dict[float, float]] = {}
    for line in metrics.read_bytes().splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        step = rec.get("agent_step") if isinstance(rec, dict) else None
        if type(step) not in (int, float) or not abs(step) < 1e300:  # also NaN, inf and huge integers
            continue
        for k, v in rec.items():
            if isinstance(v, float) and math.isfinite(v) or type(v) is int:
                by_key.setdefault(k, {})[float(rec["agent_step"])] = float(v)
    return {k: sorted(v.items()) for k, v in by_key.items()}


PROBE = r"""<script>
const box = e => { const b = e.getBoundingClientRect(); return [b.width, b.height]; };
const runs = [...document.querySelectorAll("section.run")].map(sec => ({
  name: sec.dataset.run, heading: sec.querySelector("h2").textContent,
  skipped: sec.querySelector(".skipped") ? [Number(sec.querySelector(".skipped").dataset.skipped),
                                            sec.querySelector(".skipped").textContent] : null,
  charts: [...sec.querySelectorAll("figure.chart")].map(f => ({
    title: f.dataset.title, caption: f.querySelector("figcaption").textContent,
    curves: [...f.querySelectorAll("polyline.curve")].map(p => ({
      key: p.dataset.key, n: p.points.numberOfItems, dn: Number(p.dataset.n), box: box(p),
      stroke: getComputedStyle(p).stroke, points: [...p.points].map(q => [q.x, q.y])})),
    legend: [...f.querySelectorAll(".legend > span")].map(s => s.textContent)})),
  config: [...sec.querySelectorAll("table.config tr")].map(r => [r.cells[0].textContent, r.cells[1].textContent]),
  yaml: sec.querySelector("details pre") ? sec.querySelector("details pre").textContent : null,
  replays: [...sec.querySelectorAll("a.replay")].map(a => [a.href, a.textContent]),
  scorecard: sec.querySelector(".scorecard") ? sec.querySelector(".scorecard").textContent : null}));
const out = {runs, index: [...document.querySelectorAll("table.index a")].map(a => [a.textContent, a.hash]),
  images: document.images.length, scripts: document.scripts.length, handlers: document.querySelectorAll("[onerror]").length,
  italics: document.querySelectorAll("i").length, title: document.title};
const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
document.body.append(pre);
</script>"""


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "chromium-headless-shell",
                                               "google-chrome")) if p), None)


def _in_chromium(page: Path, tmp_path: Path) -> dict[str, Any]:
    """What the page shows, read through the DOM of headless Chromium (a probe script added to a copy of it)."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed")
    probe = page.with_name("probe.html")  # beside the page: the same relative links
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1400,1000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(flags, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def _expected_keys(curves: dict[str, list[tuple[float, float]]]) -> set[str]:
    """The keys the page draws, by the rules of the docs: reward, hearts, eval/*, task rewards, curriculum/*, loss/*,
    the PPO losses, SPS."""
    ppo = {"policy_loss", "value_loss", "entropy", "approx_kl", "explained_variance"}
    return {k for k in curves if k in {"episode_return", "agent/heart.gained", "sps"} | ppo
            or k.startswith(("eval/", "loss/", "curriculum/")) or (k.startswith("task/") and k.endswith("/episode_return"))}


def test_page_in_chromium_draws_every_runs_curves(train_dir: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert main([str(train_dir), f"out={site / 'runs.html'}"]) == 0
    page = site / "runs.html"
    raw = page.read_text()
    assert re.search(r'(src|href)="(https?:)?//', raw) is None and "<script" not in raw  # offline, no script
    out = _in_chromium(page, tmp_path)
    assert [r["name"] for r in out["runs"]] == [XSS, "real"]  # not_a_run is not listed
    assert out["index"] == [[XSS, "#run-0"], ["real", "#run-1"]]
    assert out["images"] == 0 and out["handlers"] == 0 and out["italics"] == 0 and out["scripts"] == 1  # the probe

    per_run = {r["name"]: r for r in out["runs"]}
    for name, run in per_run.items():
        curves = _curves(train_dir / name / "metrics.jsonl")
        drawn = {c["key"]: c for chart in run["charts"] for c in chart["curves"]}
        assert set(drawn) == _expected_keys(curves), name
        for key, c in drawn.items():
            want = len(downsample(curves[key], dashboard.DEFAULT_POINTS))
            assert c["n"] == c["dn"] == want, (name, key)
            assert c["box"][0] > 100 and c["stroke"].startswith("rgb("), (name, key)  # drawn across the plot

    real = per_run["real"]
    assert real["heading"] == "real" and real["skipped"] is None
    titles = [c["title"] for c in real["charts"]]
    assert titles[:3] == ["episode reward", "hearts gained", "eval mean_return"] and titles[-1].startswith("SPS")
    assert all(c["n"] == 2 for chart in real["charts"] for c in chart["curves"])  # 2 epochs, 2 evaluations
    [(href, label)] = real["replays"]
    assert label == "epoch 2" and Path(unquote(urlsplit(href).path)) == train_dir / "real" / "replays" / "real:v2.html"
    assert ["game", "navigation"] in real["config"] and ["policy", "lstm"] in real["config"]

    hand = per_run[XSS]
    assert hand["heading"] == XSS
    assert hand["skipped"] == [len(MALFORMED), f"{len(MALFORMED)} malformed lines of metrics.jsonl skipped"]
    charts = {c["title"]: c for c in hand["charts"]}
    for name, every in TASKS.items():
        [curve] = charts[f"task {name}: episode reward"]["curves"]
        assert curve["n"] == min(dashboard.DEFAULT_POINTS, len(range(0, LONG, every)))  # 300, 300, 300, 200
    assert [c["key"] for c in charts["eval mean_return"]["curves"]] == [
        "eval/mean_return", f"eval/{XSS}/mean_return", "eval/open/mean_return"]
    assert [s.split(" ")[0] for s in charts["loss weights"]["legend"]] == [
        "loss/action_supervised/weight", "loss/ppo/weight"]
    assert [s.split(" ")[0] for s in charts["curriculum: chance of drawing each task"]["legend"]] == [
        f"curriculum/{name}" for name in sorted(TASKS)]
    assert "hearts gained" in charts and "ore_red gained" not in charts  # hearts are the main stat when logged
    # the drawn points are the downsampled data, mapped onto the plot
    reward = _curves(train_dir / XSS / "metrics.jsonl")["episode_return"]
    assert len(reward) == LONG and reward[-1] == (64.0 * LONG, -1.0)  # the resumed steps' values won
    points = downsample(reward, dashboard.DEFAULT_POINTS)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, top = dashboard._LEFT, dashboard._TOP
    pw, ph = dashboard.W - left - dashboard._RIGHT, dashboard.H - top - dashboard._BOTTOM
    want = [[left + (x - min(xs)) / (max(xs) - min(xs)) * pw, top + (max(ys) - y) / (max(ys) - min(ys)) * ph]
            for x, y in points]
    [drawn] = charts["episode reward"]["curves"]
    assert len(drawn["points"]) == len(want) == dashboard.DEFAULT_POINTS
    assert [v for p in drawn["points"] for v in p] == pytest.approx([v for p in want for v in p], abs=0.06)
    # markup from names and files is text
    assert ["curriculum", f"4 tasks (learning_progress): {', '.join(TASKS)}"] in hand["config"]
    assert ["game", "<script>alert(1)</script>"] in hand["config"] and f"run: '{XSS}'" in hand["yaml"]
    assert "<i>t</i>" in charts["task <i>t</i>: episode reward"]["caption"]
    [(href, label)] = hand["replays"]
    assert label == "epoch 7" and Path(unquote(urlsplit(href).path)) == train_dir / XSS / "replays" / f"{XSS}:v7.html"
    assert "../" in raw and XSS not in raw  # links relative to the page; the name only ever escaped

    has_analyze = importlib.util.find_spec("trainer.analyze") is not None
    assert hand["scorecard"] is None  # no stats.duckdb
    assert (real["scorecard"] is not None) == (has_analyze and HAS_DUCKDB)
    if real["scorecard"] is not None:  # both evaluations of the real run, on its one sim
        assert "real:v1" in real["scorecard"] and "real:v2" in real["scorecard"] and "navigation" in real["scorecard"]


def test_downsample_averages_stretches() -> None:
    pts = [(float(i), float(i * i)) for i in range(10)]
    assert downsample(pts, 10) == pts and downsample(pts, 50) == pts
    # stretches [0, 2), [2, 5), [5, 7), [7, 10)
    assert downsample(pts, 4) == [(0.5, 0.5), (3.0, 29 / 3), (5.5, 30.5), (8.0, 194 / 3)]
    assert downsample(pts, 1) == [(4.5, 28.5)]
    assert len(downsample([(float(i), 0.0) for i in range(100_000)], 300)) == 300
    with pytest.raises(ValueError, match="max_points = 0"):
        downsample(pts, 0)


def test_malformed_lines_are_counted_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"agent_step": 1, "x": 1}\n' + b"\n".join(MALFORMED) + b'\n\n{"agent_step": 2.5}\n{"agent_step"')
    records, skipped = read_metrics(path)
    assert records == [{"agent_step": 1, "x": 1}, {"agent_step": 2.5}] and skipped == len(MALFORMED) + 1
    run = load_run(tmp_path)
    assert run.records == 2 and run.skipped == len(MALFORMED) + 1 and run.latest == {"agent_step": 2.5, "x": 1.0}


def test_names_are_escaped_by_the_renderer(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(json.dumps({"agent_step": 1, "task/<b>t</b>/episode_return": 1.0,
                                                       "episode_return": 0.5}) + "\n")
    (run_dir / "config.yaml").write_text("env: {preset: '</pre><b>p</b>'}\n")
    page = render_page([load_run(run_dir, name="<b>x</b>")], "<b>dir</b>", tmp_path)
    assert "<b>" not in page and "</pre><b>" not in page
    assert page.count("&lt;b&gt;x&lt;/b&gt;") == 3  # index, data-run, heading
    assert "task &lt;b&gt;t&lt;/b&gt;: episode reward" in page and "&lt;/pre&gt;&lt;b&gt;p&lt;/b&gt;" in page
    assert "<title>runs in &lt;b&gt;dir&lt;/b&gt;</title>" in page
    # one point: a dot besides its polyline; no records: no charts
    assert page.count("<polyline") == 2 and page.count("<circle") == 2
    (run_dir / "metrics.jsonl").write_text("")
    assert "<polyline" not in render_page([load_run(run_dir)], "d", tmp_path)


def test_scorecard_shows_the_latest_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_DUCKDB or importlib.util.find_spec("trainer.analyze") is None:
        pytest.skip("needs duckdb (the stats extra) and trainer.analyze")
    from trainer.stats_db import write_episodes

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"agent_step": 1, "episode_return": 1.0}\n')
    for epoch in range(1, 8):
        infos = [{"episode_return": float(epoch + k), "episode_length": 10} for k in range(2)]
        write_episodes(run_dir / "stats.duckdb", {"<b>s</b>": infos}, run="r", epoch=epoch, agent_step=100 * epoch)
    page = render_page([load_run(run_dir)], "d", tmp_path)
    card = page[page.index('<div class="scorecard">'):]
    shown = re.findall(r">(r:v\d)</th>", card)
    assert shown == [f"r:v{e}" for e in range(8 - dashboard.SCORECARD_POLICIES, 8)]
    assert f"the latest {dashboard.SCORECARD_POLICIES} of 7 policies evaluated" in card
    assert "7.500 ± " in card and "<b>s</b>" not in card and "&lt;b&gt;s&lt;/b&gt;" in card  # epoch 7: 7 and 8
    with monkeypatch.context() as m:  # the module missing: no scorecard, no error
        m.setitem(sys.modules, "trainer.analyze", None)
        assert 'class="scorecard"' not in render_page([load_run(run_dir)], "d", tmp_path)
    (run_dir / "stats.duckdb").write_bytes(b"not a database" * 100)
    page = render_page([load_run(run_dir)], "d", tmp_path)
    assert "scorecard unavailable: " in page and "<polyline" in page  # the rest of the run is still there


def test_command_line_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [([str(tmp_path / "nope")], f"error: train_dir '{tmp_path / 'nope'}' does not exist"),
                          ([str(tmp_path), "colour=red"], "error: unknown argument 'colour=red'"),
                          ([str(tmp_path), "points=0"], "error: points=0 is out of range"),
                          ([str(tmp_path), "port=80"], "error: port= is for --serve"),
                          ([str(tmp_path), "--serve", "out=x.html"], "error: out= writes a file")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
    assert main([str(tmp_path)]) == 0  # no runs: a page saying so
    assert "no runs here yet" in (tmp_path / "dashboard.html").read_text()
    assert capsys.readouterr().out == f"wrote {tmp_path / 'dashboard.html'} (0 runs)\n"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_serve_answers_on_localhost_and_rebuilds_each_request(tmp_path: Path) -> None:
    td = tmp_path / "td"
    (td / "one" / "replays").mkdir(parents=True)
    (td / "one" / "metrics.jsonl").write_text('{"agent_step": 1, "episode_return": 1.0}\n')
    (td / "one" / "replays" / "one:v1.html").write_text("<p>the replay</p>")
    proc = subprocess.Popen([sys.executable, "-m", "trainer.dashboard", str(td), "--serve", "port=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the server printed nothing in 60 s"
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found is not None, line
        url = found.group(0)
        status, body = _get(url)
        assert status == 200 and b'data-run="one"' in body and b'data-run="two"' not in body
        assert _get(url + "one/replays/one%3Av1.html") == (200, b"<p>the replay</p>")
        assert _get(url + "one/metrics.jsonl")[0] == 404 and _get(url + "../one/metrics.jsonl")[0] == 404
        (td / "two").mkdir()
        (td / "two" / "metrics.jsonl").write_text('{"agent_step": 1, "episode_return": 2.0}\n')
        status, body = _get(url)
        assert status == 200 and b'data-run="two"' in body  # made afresh
    finally:
        proc.terminate()
        proc.wait(timeout=30)
