"""Browser replays: the recorded changes rebuild every step exactly, the page embeds them safely, its pictures are
render_rgb's, and its script (run under Node with a stand-in DOM) draws every agent and object where the game had it,
shows a legend of this game's pictures, fits the arena in a 1280 x 900 window and shows names with markup as text."""

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
from mettagrid.config import AsciiMapBuilder, ConverterConfig, GameConfig, GroupConfig, WallConfig
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
// Runs the viewer's script against a small stand-in DOM whose innerHTML throws (names must go in as text), then
// prints what the page drew and showed, as JSON. argv: the page, then {window: [w, h], steps: [...], eval: [...]}.
const fs = require("fs"), vm = require("vm");
const html = fs.readFileSync(process.argv[2], "utf8"), opts = JSON.parse(process.argv[3]);
const data = html.match(/<script id="replay" type="application\/json">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>\n([\s\S]*?)<\/script>/)[1];
const calls = [], marks = [];
const ctx = new Proxy({}, { get(o, k) {
  if (k === "drawImage") return (img, x, y) => calls.push([img.src, x, y]);
  if (k === "arc") return () => marks.push(1);
  return k in o ? o[k] : () => {};
} });
class El {
  constructor(tag, id) { Object.assign(this, { tag, id, children: [], style: {}, dataset: {}, className: "", own: "" }); }
  set textContent(v) { this.children = []; this.own = String(v); }
  get textContent() { return this.own + this.children.map(c => typeof c === "string" ? c : c.textContent).join(""); }
  set innerHTML(v) { throw new Error("the page set innerHTML: " + v); }
  get innerHTML() { throw new Error("the page read innerHTML"); }
  append(...xs) { this.children.push(...xs); }
  prepend(...xs) { this.children.unshift(...xs); }
  appendChild(x) { this.children.push(x); return x; }
  replaceChildren(...xs) { this.own = ""; this.children = xs; }
  getContext() { return ctx; }
  getBoundingClientRect() { return { left: 0, top: 0 }; }
}
const elements = {};
function byId(id) {
  if (!elements[id]) {
    const e = elements[id] = new El(id === "map" ? "canvas" : "div", id);
    e.value = { speed: "10", zoom: "fit" }[id] ?? "0";
    if (id === "zoom") e.options = [new El("option")];
    if (id === "replay") e.own = data;
  }
  return elements[id];
}
globalThis.document = { getElementById: byId, createElement: tag => new El(tag), addEventListener() {} };
globalThis.window = { innerWidth: opts.window[0], innerHeight: opts.window[1] };
globalThis.location = { hash: "" };
globalThis.Image = class { };
vm.runInThisContext(code);
const srcs = e => typeof e === "string" ? [] : (e.tag === "img" ? [e.src] : []).concat(...e.children.map(srcs));
const rows = () => elements.agents.children.map(r => r.children.map(c => c.textContent));
const out = { steps: {} };
for (const t of opts.steps) {
  calls.length = 0; marks.length = 0;
  vm.runInThisContext(`go(${t})`);
  out.steps[t] = { draws: calls.slice(), failedMarks: marks.length, rows: rows() };
}
out.label = elements.stepLabel.textContent;
out.legend = elements.legend.children.map(e => ({ text: e.textContent, icons: srcs(e) }));
out.canvas = [elements.map.style.width, elements.map.style.height];
out.zoom = elements.zoom.options[0].textContent;
out.layout = [elements.side.style.width, elements.bar.style.height, elements.wrap.style.padding];
out.title = elements.title.textContent;
out.eval = opts.eval.map(x => vm.runInThisContext(x));
console.log(JSON.stringify(out));
"""


def _run_viewer(tmp_path: Path, page: Path, window: tuple[int, int] = (1600, 1000), steps: list[int] | None = None,
                evals: list[str] | None = None) -> dict[str, Any]:
    """Runs the page's script under Node with a stand-in DOM (see NODE_HARNESS) and returns what it reported."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the viewer's script is tested under Node)")
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    opts = {"window": list(window), "steps": steps or [], "eval": evals or []}
    proc = subprocess.run([node, str(tmp_path / "harness.js"), str(page), json.dumps(opts)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_viewer_script_draws_the_game(tmp_path: Path) -> None:
    game, seed = "arena_combat", 9
    path = record_episode(make_config(game, max_steps=STEPS + 1), seed=seed).save_html(tmp_path / "v.html")
    data = _embedded(path.read_text())
    snaps, env = _snapshots(game, seed, STEPS)
    steps = [0, 1, 77, STEPS]
    out = _run_viewer(tmp_path, path, steps=steps)
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
        assert out["steps"][str(t)]["draws"] == expect, t
        # one failed-action mark per agent whose last action failed (none at step 0: nothing was done yet)
        failures = 0 if t == 0 else int((s["agent_last_action_success"] == 0).sum())
        assert out["steps"][str(t)]["failedMarks"] == failures, t
    assert out["label"] == f"step {STEPS} / {STEPS}"
    header, *rows = out["steps"][str(STEPS)]["rows"]
    assert header == ["#", "group", "return", "action", "inventory"] and len(rows) == env.num_agents
    last = snaps[STEPS]
    assert rows[0][3].removesuffix(" (failed)") == env.action_names()[int(last["agent_last_action"][0])]
    assert sum(r[3].endswith("(failed)") for r in rows) == int((last["agent_last_action_success"] == 0).sum()) > 0
    assert [r[1] for r in rows] == [list(env.config.groups)[g] for g in last["agent_group"]]


@pytest.mark.parametrize("game", ["arena", "arena_combat", "teams"])
def test_legend_shows_this_games_objects_and_groups_in_the_maps_pictures(game: str, tmp_path: Path) -> None:
    path = record_episode(make_config(game, max_steps=10), seed=2).save_html(tmp_path / "v.html")
    data = _embedded(path.read_text())
    legend = _run_viewer(tmp_path, path)["legend"]
    sprites = data["sprites"]
    types = sorted({o["type"] for o in data["objects"]})
    groups = sorted({a["group"] for a in data["agents"]})
    names = [data["object_types"][k] for k in types]
    # first the object types on this map (and no others), each in its idle picture, converters with their recipe
    objects, rest = legend[:len(types)], legend[len(types):]
    assert [e["text"].split(" ")[0] for e in objects] == names
    assert [e["icons"] for e in objects] == [[sprites["objects"][k][0]] for k in types]
    assert "temple" not in " ".join(e["text"] for e in legend)
    altar = names.index("altar")
    assert objects[altar]["text"] == "altar 3 battery_red \u2192 1 heart"
    assert objects[names.index("wall")]["text"] == "wall"
    # then each group's agent (facing right: the pointer), and the looks of states
    assert [e["text"] for e in rest[:len(groups)]] == [
        f"group {data['groups'][g]} agents; the pointer shows facing" for g in groups]
    assert [e["icons"] for e in rest[:len(groups)]] == [[sprites["agents"][g][0][3]] for g in groups]
    states = {e["text"].split(":")[0]: e["icons"] for e in rest[len(groups):]}
    conv = next(k for k in types if data["converter"][k])
    assert states["faded"] == [sprites["objects"][conv][1]] and states["white dot"] == [sprites["objects"][conv][2]]
    assert states["red cross"] == [sprites["agents"][groups[0]][0][0]]
    frozen = "ice-blue in a cyan frame"
    can_attack = any(a.startswith("attack") for a in data["actions"])
    assert (frozen in states) == can_attack == (game != "arena")  # only where agents can be frozen
    if can_attack:
        assert states[frozen] == [sprites["agents"][groups[0]][1][0]]


ARENA_PX = 53 * 16  # the arena's map at 16 pixels per cell


def test_default_zoom_fits_the_arena_in_a_1280_by_900_window(tmp_path: Path) -> None:
    path = record_episode(make_config("arena", max_steps=3), seed=0).save_html(tmp_path / "arena.html")
    out = _run_viewer(tmp_path, path, window=(1280, 900), evals=[
        "mapArea(1280, 900)", f"fitZoom({ARENA_PX}, {ARENA_PX}, mapArea(1280, 900).w, mapArea(1280, 900).h)",
        # a browser's 1280 x 900 window leaves less room for the page (tabs, address bar): a fraction still fits
        f"fitZoom({ARENA_PX}, {ARENA_PX}, mapArea(1280, 780).w, mapArea(1280, 780).h)",
        f"fitZoom({ARENA_PX}, {ARENA_PX}, mapArea(2560, 1440).w, mapArea(2560, 1440).h)",
        "fitZoom(240, 240, mapArea(1280, 900).w, mapArea(1280, 900).h)",  # navigation: 15 x 15 cells
        "fitZoom(8000, 8000, 800, 800)", "fitZoom(1000, 100, 900, 900)"])
    area, z900, z780, z1440, znav, ztiny, zwide = out["eval"]
    assert out["layout"] == ["400px", "34px", "6px"]  # the sizes mapArea assumes are the page's
    assert area == {"w": 1280 - 400 - 12, "h": 900 - 34 - 12}
    assert z900 == 1 and out["zoom"] == "fit (100%)"
    width, height = (float(v.removesuffix("px")) for v in out["canvas"])
    assert width == height == ARENA_PX * z900 and width <= area["w"] and height <= area["h"]
    assert 0.85 <= z780 < 1 and ARENA_PX * z780 <= 780 - 34 - 12
    assert z1440 == 1 and znav == 3  # whole zooms once the map fits; at most 4
    assert ztiny == 0.1 and zwide == 0.9


def _markup_config() -> GameConfig:
    """A game whose group, item and object type names are markup."""
    items = list(make_config("navigation").inventory_item_names) + ["<b>ore</b>"]
    return GameConfig(
        num_agents=2, max_steps=20, inventory_item_names=items,
        groups={XSS: GroupConfig(id=0), "b": GroupConfig(id=1)},
        objects={"wall": WallConfig(type_id=1, char="#"),
                 "<i>mine</i>": ConverterConfig(type_id=2, char="m", output_resources={"<b>ore</b>": 1},
                                                initial_resource_count=1)},
        map_builder=AsciiMapBuilder(map_data=["######", "#@m.1#", "######"]))


XSS = "<img src=x onerror=alert(1)>"


def test_names_with_markup_are_shown_as_text(tmp_path: Path) -> None:
    path = record_episode(_markup_config(), seed=0, title="<!--<script>").save_html(tmp_path / "x.html")
    html = path.read_text()
    body = re.search(r'<script id="replay" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in body  # every `<` of a name is \u003c in the page
    assert _embedded(html)["groups"] == [XSS, "b"]
    # the harness's DOM throws on innerHTML, so this also checks the page never uses it
    out = _run_viewer(tmp_path, path, steps=[1], evals=[
        '(selected = {kind: "agent", id: 0}, draw(), $("selected").textContent)',
        '(selected = {kind: "cell", r: 1, c: 2}, draw(), $("selected").textContent)'])
    legend = [e["text"] for e in out["legend"]]
    assert "<i>mine</i> \u2192 1 <b>ore</b>" in legend and f"group {XSS} agents; the pointer shows facing" in legend
    assert [r[1] for r in out["steps"]["1"]["rows"][1:]] == [XSS, "b"]
    agent, cell = out["eval"]
    assert agent.startswith(f"agent 0 (group {XSS}) at (1, 1)")
    assert cell.startswith("cell (1, 2): <i>mine</i> #") and "holds <b>ore</b> " in cell
    assert out["title"].startswith("<!--<script>: 6 x 3")


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "chromium-headless-shell",
                                               "google-chrome")) if p), None)


def test_in_chromium_the_arena_fits_and_markup_stays_text(tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (the Node tests above cover the same script)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1280,900"]
    page = record_episode(make_config("arena", max_steps=3), seed=0).save_html(tmp_path / "arena.html")
    shot = tmp_path / "arena.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    img = np.array(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (900, 1280)
    # the arena's outer walls, whole: the wall colour's box left of the side panel is the 848 px map
    ys, xs = np.nonzero((img[:, :1280 - 400] == [72, 72, 82]).all(axis=2))
    assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) == (ARENA_PX, ARENA_PX)
    xss = record_episode(_markup_config(), seed=0).save_html(tmp_path / "x.html")
    dom = subprocess.run([*flags, "--dump-dom", xss.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in dom and 'src="x"' not in dom
    assert "&lt;i&gt;mine&lt;/i&gt;" in dom and "<i>" not in dom
