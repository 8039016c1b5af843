"""Browser replays: the recorded changes rebuild every step exactly, the page embeds them safely, its pictures are
render_rgb's, and its script (run under Node with a stub DOM) draws every agent and object where the game had it."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mettagrid import MettaGridEnv
from mettagrid.presets import make_config
from mettagrid.render import render_rgb
from mettagrid.replay import Replay, _one_cell_snapshot, _play_episode, record_episode

STEPS = 150


def _snapshots(game: str, seed: int, steps: int) -> tuple[list[dict[str, Any]], MettaGridEnv]:
    """The game's snapshots after reset and each step, playing what record_episode plays (random actions)."""
    env = MettaGridEnv(make_config(game, max_steps=steps + 1), num_envs=1, seed=seed)
    snaps: list[dict[str, Any]] = []
    _play_episode(env, None, seed, None, lambda: snaps.append(env.grid_objects(0)))
    return snaps, env


def _at(series: list[list[Any]], t: int) -> Any:
    value = series[0][1]
    for step, v in series:
        if step > t:
            break
        value = v
    return value


def _replay_dict(game: str, seed: int) -> dict[str, Any]:
    return record_episode(make_config(game, max_steps=STEPS + 1), seed=seed).to_dict()


@pytest.mark.parametrize("game", ["arena_combat", "teams"])
def test_changes_rebuild_every_step(game: str) -> None:
    data = _replay_dict(game, 4)
    snaps, env = _snapshots(game, 4, STEPS)
    items = env.item_names
    assert data["num_steps"] == len(snaps) - 1 == STEPS
    assert data["items"] == items and data["actions"] == env.action_names() and data["groups"] == list(env.config.groups)
    for t in range(len(snaps)):
        s = snaps[t]
        for i, a in enumerate(data["agents"]):
            got = {f: _at(a["series"][f], t) for f in ("r", "c", "orientation", "frozen", "action", "success")}
            assert got == {"r": s["agent_row"][i], "c": s["agent_col"][i], "orientation": s["agent_orientation"][i],
                           "frozen": s["agent_frozen"][i], "action": s["agent_last_action"][i],
                           "success": s["agent_last_action_success"][i]}, (t, i)
            assert _at(a["series"]["return"], t) == pytest.approx(float(s["agent_return"][i]), abs=1e-6)
            assert _at(a["series"]["reward"], t) == pytest.approx(float(s["agent_reward"][i]), abs=1e-6)
            inv = s["agent_inventory"][i]
            assert _at(a["series"]["inventory"], t) == {items[k]: int(inv[k]) for k in np.flatnonzero(inv)}
        for i, o in enumerate(data["objects"]):
            assert o["type"] == s["object_type"][i]
            assert (_at(o["series"]["r"], t), _at(o["series"]["c"], t)) == (s["object_row"][i], s["object_col"][i])
            assert _at(o["series"]["converting"], t) == s["object_converting"][i]
            inv = s["object_inventory"][i]
            assert _at(o["series"]["inventory"], t) == {items[k]: int(inv[k]) for k in np.flatnonzero(inv)}
    # only changes are kept: walls have one entry per field
    wall = data["object_types"].index("wall")
    assert all(len(o["series"]["r"]) == 1 for o in data["objects"] if o["type"] == wall)
    changes = sum(len(v) for a in data["agents"] for v in a["series"].values())
    assert changes < 0.6 * len(data["agents"]) * 8 * (STEPS + 1)


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    import base64

    return np.array(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def test_sprites_are_render_rgb_pictures() -> None:
    data = _replay_dict("teams", 1)
    config = make_config("teams")
    n = len(config.inventory_item_names)
    floor = render_rgb(config, {**_one_cell_snapshot(n), "height": data["height"], "width": data["width"]}, 16)
    assert np.array_equal(_decode(data["sprites"]["floor"]), floor)
    altar = data["object_types"].index("altar")
    assert np.array_equal(_decode(data["sprites"]["objects"][altar][3]),
                          render_rgb(config, _one_cell_snapshot(n, obj=(altar, True, True)), 16))
    assert np.array_equal(_decode(data["sprites"]["agents"][1][1][2]),
                          render_rgb(config, _one_cell_snapshot(n, agent=(1, 2, True)), 16))
    assert len(data["sprites"]["agents"]) == len(config.groups) == 2
    assert data["converter"][altar] and not data["converter"][data["object_types"].index("wall")]


def _embedded(html: str) -> dict[str, Any]:
    body = re.search(r'<script id="replay" type="application/json">(.*?)</script>', html, re.S)
    assert body is not None
    return json.loads(body.group(1))


def test_html_embeds_the_replay_safely(tmp_path: Path) -> None:
    env = MettaGridEnv(make_config("navigation", max_steps=6), num_envs=1, seed=0)
    replay = Replay(env, title="</script><b>x</b>")
    _play_episode(env, None, 0, None, replay.record)
    path = replay.save_html(tmp_path / "nav.html")
    html = path.read_text()
    assert html.count("</script>") == 2  # the page's own two scripts; the title's was escaped
    assert _embedded(html) == replay.to_dict() and _embedded(html)["title"] == "</script><b>x</b>"
    assert [p.name for p in tmp_path.iterdir()] == ["nav.html"]
    with pytest.raises(ValueError, match="game = 1"):
        Replay(env, game=1)
    with pytest.raises(ValueError, match="nothing recorded"):
        Replay(env).to_dict()


NODE_HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const html = fs.readFileSync(process.argv[2], "utf8");
const data = html.match(/<script id="replay" type="application\/json">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>\n([\s\S]*?)<\/script>/)[1];
const calls = [], elements = {};
const ctx = { drawImage: (img, x, y) => calls.push([img.src, x, y]), strokeRect() {} };
function el(id) {
  if (!elements[id]) elements[id] = { id, style: {}, dataset: {}, innerHTML: "", value: id === "speed" ? "10" : "1",
    textContent: id === "replay" ? data : "", getContext: () => ctx, getBoundingClientRect: () => ({ left: 0, top: 0 }) };
  return elements[id];
}
globalThis.document = { getElementById: el, addEventListener() {} };
globalThis.window = { innerWidth: 1600, innerHeight: 1000 };
globalThis.Image = class { };
vm.runInThisContext(code);
const out = {};
for (const t of JSON.parse(process.argv[3])) { calls.length = 0; vm.runInThisContext(`go(${t})`); out[t] = calls.slice(); }
out.label = elements.stepLabel.textContent;
out.agents = elements.agents.innerHTML;
console.log(JSON.stringify(out));
"""


def test_viewer_script_draws_the_game(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the viewer's script is tested under Node)")
    game, seed = "arena_combat", 9
    path = record_episode(make_config(game, max_steps=STEPS + 1), seed=seed).save_html(tmp_path / "v.html")
    data = _embedded(path.read_text())
    snaps, env = _snapshots(game, seed, STEPS)
    steps = [0, 1, 77, STEPS]
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    proc = subprocess.run([node, str(tmp_path / "harness.js"), str(path), json.dumps(steps)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    sprites, C = data["sprites"], data["cell"]
    for t in steps:
        s = snaps[t]
        expect = [[sprites["floor"], 0, 0]]
        for i, typ in enumerate(s["object_type"]):
            ready = 2 if data["converter"][typ] and s["object_inventory"][i].any() else 0
            expect.append([sprites["objects"][typ][int(s["object_converting"][i] > 0) + ready],
                           int(s["object_col"][i]) * C, int(s["object_row"][i]) * C])
        for i in range(len(s["agent_row"])):
            expect.append([sprites["agents"][s["agent_group"][i]][int(s["agent_frozen"][i] > 0)][s["agent_orientation"][i]],
                           int(s["agent_col"][i]) * C, int(s["agent_row"][i]) * C])
        assert out[str(t)] == expect, t
    assert out["label"] == f"step {STEPS} / {STEPS}"
    assert out["agents"].count('<tr class="agent') == env.num_agents
    assert env.action_names()[int(snaps[STEPS]["agent_last_action"][0])] in out["agents"]
    assert out["agents"].count("(failed)") == int((snaps[STEPS]["agent_last_action_success"] == 0).sum()) > 0
