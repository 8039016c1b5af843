"""Scorecards (`python -m trainer.analyze`): the numbers equal a direct DuckDB query, a re-run with the same seed is
not counted twice, older databases read, the HTML heatmap is self-contained and escapes every name."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import duckdb
import pytest

from trainer import EnvConfig
from trainer.analyze import (
    main,
    metric_column,
    metrics,
    policy_labels,
    scorecard,
    scorecard_html,
    scorecard_page,
    scorecard_text,
    t_quantile_975,
)
from trainer.evaluate_many import evaluate_policies
from trainer.stats_db import read_episodes, write_episodes

SUITE = {"room": EnvConfig(preset="navigation", game={"size": 9, "max_steps": 40}),
         "maze": EnvConfig(preset="navigation", game={"layout": "maze", "size": 9, "max_steps": 40})}

# The episodes table as its first version wrote it (before eval_seed, num_agents and agent_episodes).
OLD_SCHEMA = """CREATE TABLE episodes (eval_id VARCHAR NOT NULL, time TIMESTAMP NOT NULL, policy_uri VARCHAR,
    run VARCHAR, epoch BIGINT, agent_step BIGINT, sim VARCHAR NOT NULL, task VARCHAR, episode INTEGER NOT NULL,
    seed UBIGINT, episode_return DOUBLE NOT NULL, episode_length INTEGER NOT NULL, stats JSON)"""


def _info(ret: float, hearts: float, length: int = 10) -> dict:
    return {"env": 0, "episode_return": ret, "episode_length": length, "episode_seed": 1,
            "agent/heart.gained": hearts}


def _direct(db: Path, value: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(mean, sample std, n) per policy and sim, straight from DuckDB."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"SELECT policy_uri, sim, avg({value}), stddev_samp({value}), count(*) FROM episodes "
                           "GROUP BY ALL").fetchall()
    finally:
        con.close()
    return {(p, s): (m, sd, n) for p, s, m, sd, n in rows}


def test_scorecard_of_two_policies_on_two_sims_matches_duckdb(tmp_path: Path) -> None:
    db = tmp_path / "evals.duckdb"
    evaluate_policies(["scripted://navigation", "random"], SUITE, num_episodes=5, seed=4, stats_db=db)
    hearts = "CAST(json_extract_string(stats, '$.\"agent/heart.gained\"') AS DOUBLE)"
    for metric, value in (("reward", "episode_return"), ("hearts", hearts), ("agent/heart.gained", hearts),
                          ("heart.gained", hearts), ("length", "episode_length")):
        rows = scorecard(db, metric)
        assert [(r["policy"], r["sim"]) for r in rows] == [
            (p, s) for p in ("scripted://navigation", "random") for s in ("room", "maze")]  # in evaluation order
        direct = _direct(db, value)
        for r in rows:
            mean, sd, n = direct[r["policy"], r["sim"]]
            assert set(r) == {"policy", "sim", "mean", "ci95", "n"}
            assert r["n"] == n == 5 and r["mean"] == pytest.approx(mean, abs=1e-12)
            assert r["ci95"] == pytest.approx(2.776445 * sd / math.sqrt(5), abs=1e-6)  # t(0.975, 4 df)
    rewards = {(r["policy"], r["sim"]): r["mean"] for r in scorecard(db)}
    assert rewards["scripted://navigation", "room"] > rewards["random", "room"]  # the numbers mean something
    assert scorecard(db, "length")[0]["ci95"] == 0.0  # every episode is 40 steps


def test_a_rerun_counts_once_and_other_seeds_pool(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    write_episodes(db, {"a": [_info(1.0, 1), _info(3.0, 3)]}, policy_uri="p", eval_seed=1)
    write_episodes(db, {"a": [_info(1.0, 1), _info(3.0, 3)]}, policy_uri="p", eval_seed=1)  # the same again
    assert [(r["n"], r["mean"]) for r in scorecard(db)] == [(2, 2.0)]
    write_episodes(db, {"a": [_info(5.0, 0), _info(9.0, 0)]}, policy_uri="p", eval_seed=1)  # latest of seed 1
    assert [(r["n"], r["mean"]) for r in scorecard(db)] == [(2, 7.0)]
    write_episodes(db, {"a": [_info(0.0, 0)]}, policy_uri="p", eval_seed=2)  # another seed: more episodes
    (row,) = scorecard(db)
    assert (row["n"], row["mean"]) == (3, pytest.approx(14 / 3))
    assert row["ci95"] == pytest.approx(4.302653 * math.sqrt(((5 - 14 / 3) ** 2 + (9 - 14 / 3) ** 2
                                                              + (14 / 3) ** 2) / 2) / math.sqrt(3), abs=1e-5)
    write_episodes(db, {"b": [_info(2.0, 0)]}, run="train", epoch=3)  # the training loop's rows: no URI
    assert [(r["policy"], r["sim"], r["n"], r["ci95"]) for r in scorecard(db)][1:] == [("train:v3", "b", 1, None)]


def test_an_older_database_reads_and_is_brought_up_to_date(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(OLD_SCHEMA)
    con.execute("INSERT INTO episodes VALUES ('e1', TIMESTAMP '2024-01-01', 'file:///r/checkpoints/r:v1.safetensors',"
                " 'r', 1, 64, 'nav', NULL, 0, 7, 2.0, 200, ?), ('e1', TIMESTAMP '2024-01-01', "
                "'file:///r/checkpoints/r:v1.safetensors', 'r', 1, 64, 'nav', NULL, 1, 8, 4.0, 200, ?)",
                [json.dumps({"agent/heart.gained": 2.0}), json.dumps({"agent/heart.gained": 4.0})])
    con.close()
    assert [(r["policy"], r["mean"], r["n"]) for r in scorecard(db, "hearts")] == [
        ("file:///r/checkpoints/r:v1.safetensors", 3.0, 2)]
    assert [r["episode_return"] for r in read_episodes(db)] == [2.0, 4.0]
    write_episodes(db, {"nav": [{**_info(6.0, 6), "agents": {"episode_return": [6.0]}}]}, policy_uri="random",
                   eval_seed=3)
    rows = read_episodes(db)
    assert [(r["eval_seed"], r["num_agents"]) for r in rows] == [(None, None), (None, None), (3, 1)]
    assert [(r["policy"], r["n"]) for r in scorecard(db)] == [("file:///r/checkpoints/r:v1.safetensors", 2),
                                                              ("random", 1)]


def test_metrics_and_bad_metrics(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    write_episodes(db, {"a": [_info(1.0, 1)]}, policy_uri="p")
    assert metrics(db) == ["reward", "return", "length", "hearts", "agent/heart.gained"]
    assert metric_column(db, "heart.gained") == "agent/heart.gained" and metric_column(db, "reward") == "episode_return"
    with pytest.raises(ValueError, match=r"metric 'lasers' is not in .*; metrics: reward, return, length, hearts"):
        scorecard(db, "lasers")
    with pytest.raises(FileNotFoundError, match="no such stats database"):
        scorecard(tmp_path / "none.duckdb")


def test_t_quantiles() -> None:
    # published two-sided 95 % values of Student's t
    for df, t in ((1, 12.706205), (2, 4.302653), (4, 2.776445), (10, 2.228139), (30, 2.042272), (31, 2.039513),
                  (40, 2.021075), (60, 2.000298), (100, 1.983972), (1000, 1.962339)):
        assert t_quantile_975(df) == pytest.approx(t, abs=1e-6), df
    with pytest.raises(ValueError, match="df = 0"):
        t_quantile_975(0)


def test_labels_are_short_where_unambiguous() -> None:
    a = "file:///x/a/checkpoints/a:v2.safetensors"
    other = "file:///y/a/checkpoints/a:v2.safetensors"
    b = "file:///x/b/checkpoints/b:v1.safetensors"
    assert policy_labels([a, b, "random", "scripted://navigation"]) == {
        a: "a:v2", b: "b:v1", "random": "random", "scripted://navigation": "scripted://navigation"}
    assert policy_labels([a, other, b]) == {a: a, other: other, b: "b:v1"}  # two runs named a: full URIs
    assert policy_labels(["file:///z/random.safetensors", "random"])["file:///z/random.safetensors"] != "random"


def test_html_escapes_names_and_is_self_contained(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    evil = "<script>alert(1)</script>"
    write_episodes(db, {"<b>sim</b>": [_info(1.0, 1), _info(2.0, 2)], "plain": [_info(5.0, 0)]}, policy_uri=evil)
    write_episodes(db, {"plain": [_info(7.0, 0), _info(9.0, 1)]}, policy_uri='"quoted" & <odd>')
    rows = scorecard(db)
    fragment = scorecard_html(rows, "<i>reward</i>")
    assert "<script" not in fragment and "<b>" not in fragment and "<i>" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment and "&lt;b&gt;sim&lt;/b&gt;" in fragment
    assert "&quot;quoted&quot; &amp; &lt;odd&gt;" in fragment and "&lt;i&gt;reward&lt;/i&gt;" in fragment
    assert fragment.startswith('<div class="mg-scorecard">') and fragment.rstrip().endswith("</div>")
    assert fragment.count("<td") == 4 and fragment.count('class="missing"') == 1  # '"quoted"' not on <b>sim</b>
    cells = re.findall(r'<td style="background:(#[0-9a-f]{6});[^"]*"[^>]*>([^<]*)<br>', fragment)
    assert cells == [("#f7fbff", "1.500 ± 6.353"), ("#f7fbff", "5.000 ± n/a"), ("#08519c", "8.000 ± 12.706")]
    page = scorecard_page(rows, "reward", title=evil)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r"(src|href)\s*=|https?://|<link|@import|url\(", page)  # nothing to fetch: works offline
    assert scorecard_html([], "reward").count("no episodes") == 1


def test_text_table(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    write_episodes(db, {"a": [_info(1.0, 1), _info(3.0, 3)], "b": [_info(4.0, 0)]},
                   policy_uri="file:///runs/x/checkpoints/x:v1.safetensors")
    write_episodes(db, {"a": [_info(0.0, 0), _info(0.0, 0)]}, policy_uri="random")
    assert scorecard_text(scorecard(db)) == "\n".join([
        "reward: mean +- 95% interval over episodes (episodes)",
        "policy  a" + " " * 20 + "b",
        "x:v1    2.000 +- 12.706 (2)  4.000 +- n/a (1)",
        "random  0.000 +- 0.000 (2)   -",
        "policies:",
        "  x:v1 = file:///runs/x/checkpoints/x:v1.safetensors"])


def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "c.duckdb"
    write_episodes(db, {"a": [_info(1.0, 1), _info(3.0, 2)]}, policy_uri="random")
    assert main([str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reward: mean +- 95% interval") and "random  2.000 +- 12.706 (2)" in out
    assert out.rstrip().endswith(f"html     {tmp_path / 'c.scorecard.html'}")
    assert (tmp_path / "c.scorecard.html").read_text().startswith("<!DOCTYPE html>")
    assert main([str(db), "metric=hearts", f"html={tmp_path / 'h' / 'hearts.html'}"]) == 0
    assert "random  1.500 +- 6.353 (2)" in capsys.readouterr().out
    assert "hearts: mean" in (tmp_path / "h" / "hearts.html").read_text()
    assert main([str(db), "--metrics"]) == 0
    assert capsys.readouterr().out.split() == ["reward", "return", "length", "hearts", "agent/heart.gained"]
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database" * 100)
    for args, message in (([str(db), "metric=lasers"], "error: metric 'lasers' is not in"),
                          ([str(tmp_path / "none.duckdb")], "error: "),
                          ([str(junk)], "error: "),
                          ([str(db), "colour=red"], "error: argument 'colour=red': expected metric=<name> or html="),
                          ([str(db), "metric=a", "metric=b"], "error: metric is given twice")):
        assert main(args) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(message) and captured.err.count("\n") == 1, (args, captured.err)
    assert "no such stats database" in (main([str(tmp_path / "none.duckdb")]), capsys.readouterr().err)[1]
    monkeypatch.setitem(sys.modules, "duckdb", None)
    assert main([str(db)]) == 2
    assert capsys.readouterr().err.startswith("error: evaluation stats need DuckDB: pip install "
                                              "'metta-gridworld[stats]'")
