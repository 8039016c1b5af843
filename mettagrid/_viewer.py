"""The browser replay viewer: one self-contained HTML page (no server, no network) with the replay's JSON in it.

Names from the game's config (groups, items, object types, the title) reach the page only as text (`textContent`,
never `innerHTML`), so a name holding markup shows as those characters and runs nothing.
"""

from __future__ import annotations

__all__ = ["VIEWER_HTML"]

# `__REPLAY_JSON__` is replaced by the replay (every `<` written as `\u003c`, so no name can end or confuse the
# script element). The layout's sizes live in LAYOUT (the script sets them on the page), so the zoom that fits the
# map (`fitZoom(mapArea(...))`) is computed from the same numbers the page is laid out with.
VIEWER_HTML = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mettagrid replay</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; display: flex; height: 100vh; overflow: hidden; background: #f4f2ec; color: #222; }
  #left { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  #bar { flex: none; box-sizing: border-box; display: flex; gap: 8px; align-items: center; padding: 0 10px; background: #e6e2d8; white-space: nowrap; overflow: hidden; }
  #bar input[type=range] { flex: 1; min-width: 80px; }
  #wrap { flex: 1; overflow: auto; box-sizing: border-box; }
  #map { display: block; cursor: crosshair; }
  #side { flex: none; box-sizing: border-box; display: flex; flex-direction: column; padding: 4px 10px 6px; background: #fbfaf6; border-left: 1px solid #ddd; }
  #side h3 { margin: 6px 0 3px; font-size: 13px; }
  #legend { display: grid; grid-template-columns: 1fr 1fr; grid-auto-flow: row dense; gap: 1px 10px; }
  .entry { display: flex; align-items: center; gap: 5px; min-width: 0; white-space: nowrap; }
  .entry .icon { width: 16px; height: 16px; flex: none; image-rendering: pixelated; }
  .entry .text { overflow: hidden; text-overflow: ellipsis; }
  .entry.wide { grid-column: 1 / -1; }
  .stack { position: relative; width: 16px; height: 16px; flex: none; }
  .stack .icon { position: absolute; left: 0; top: 0; }
  #tablebox { flex: 1; overflow: hidden auto; min-height: 60px; }
  table { border-collapse: collapse; width: 100%; table-layout: fixed; }
  td, th { padding: 1px 4px; text-align: left; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; overflow-wrap: break-word; }
  th:nth-child(1) { width: 22px; } th:nth-child(2) { width: 15%; } th:nth-child(3) { width: 48px; } th:nth-child(4) { width: 37%; }
  tr.sel { background: #ffe9a8; }
  tr.agent { cursor: pointer; }
  .muted { color: #777; }
</style>
</head>
<body>
<div id="left">
  <div id="bar">
    <button id="play" title="space">play</button>
    <button id="prev" title="left arrow">&#9664;</button>
    <button id="next" title="right arrow">&#9654;</button>
    <input id="slider" type="range" min="0" value="0">
    <span id="stepLabel"></span>
    <label>speed <select id="speed"><option>2</option><option>5</option><option selected>10</option><option>20</option><option>50</option></select> steps/s</label>
    <label>zoom <select id="zoom"><option value="fit" selected>fit</option><option>0.5</option><option>1</option><option>2</option><option>3</option><option>4</option></select></label>
  </div>
  <div id="wrap"><canvas id="map"></canvas></div>
</div>
<div id="side">
  <div id="title" class="muted"></div>
  <h3>Legend</h3><div id="legend"></div>
  <h3>Selected</h3><div id="selected" class="muted">click a cell or an agent</div>
  <h3>Agents</h3><div id="tablebox"><table id="agents"></table></div>
</div>
<script id="replay" type="application/json">__REPLAY_JSON__</script>
<script>
"use strict";
const R = JSON.parse(document.getElementById("replay").textContent);
const T = R.num_steps;
const C = R.cell;
// Pixel sizes of the page's parts; set on the elements below and used to find the zoom that fits the map.
const LAYOUT = { side: 400, bar: 34, pad: 6 };
// The map's room (CSS pixels) in a window of this size: beside the side panel, below the bar, inside the padding.
function mapArea(winW, winH) { return { w: winW - LAYOUT.side - 2 * LAYOUT.pad, h: winH - LAYOUT.bar - 2 * LAYOUT.pad }; }
// The zoom at which a map of mapW x mapH pixels fits an area: a whole number (1..4, crisp pixels) when the map fits
// at least once over, else the largest multiple of 0.05 that fits (at least 0.05).
function fitZoom(mapW, mapH, areaW, areaH) {
  const z = Math.min(areaW / mapW, areaH / mapH);
  return z >= 1 ? Math.min(4, Math.floor(z)) : Math.max(0.05, Math.floor(z * 20 + 1e-9) / 20);
}
// Expand each change list [[step, value], ...] into one value per step.
function expand(changes) {
  const out = new Array(T + 1); let k = 0, v = changes.length ? changes[0][1] : 0;
  for (let t = 0; t <= T; t++) { while (k < changes.length && changes[k][0] <= t) { v = changes[k][1]; k++; } out[t] = v; }
  return out;
}
function expandAll(entity) { const s = {}; for (const f in entity.series) s[f] = expand(entity.series[f]); return s; }
const agents = R.agents.map(a => ({ group: a.group, s: expandAll(a) }));
const objects = R.objects.map(o => ({ type: o.type, s: expandAll(o) }));
const $ = id => document.getElementById(id);
// A new element with text (always as text, never markup) and a class.
function node(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
const images = {};
function image(uri) { if (!images[uri]) { const im = new Image(); im.src = uri; im.onload = draw; images[uri] = im; } return images[uri]; }
const canvas = $("map"), ctx = canvas.getContext("2d");
const slider = $("slider"); slider.max = T;
let t = 0, playing = false, timer = null, selected = null, showFailed = true;
$("side").style.width = LAYOUT.side + "px";
$("bar").style.height = LAYOUT.bar + "px";
$("wrap").style.padding = LAYOUT.pad + "px";
function fitNow() { const area = mapArea(window.innerWidth, window.innerHeight); return fitZoom(R.width * C, R.height * C, area.w, area.h); }
function zoom() { const v = $("zoom").value; return v === "fit" ? fitNow() : +v; }
function inventoryText(inv) {
  const parts = Object.entries(inv).map(([k, v]) => k + " " + v);
  return parts.length ? parts.join(", ") : "empty";
}
function actionText(s, t) {
  if (t === 0) return "-";
  return (R.actions[s.action[t]] ?? "?") + (s.success[t] ? "" : " (failed)");
}
const failed = (a, t) => t > 0 && !a.s.success[t];
// The failed-action mark: a red disc with a white cross in the bottom-right corner of a cell of `size` pixels.
function drawFailed(g, x, y, size) {
  const r = size * 0.22, cx = x + size - r - 0.5, cy = y + size - r - 0.5, d = r * 0.5;
  g.fillStyle = "#d01818"; g.beginPath(); g.arc(cx, cy, r, 0, 2 * Math.PI); g.fill();
  g.strokeStyle = "#ffffff"; g.lineWidth = Math.max(1, size / 12); g.beginPath();
  g.moveTo(cx - d, cy - d); g.lineTo(cx + d, cy + d); g.moveTo(cx + d, cy - d); g.lineTo(cx - d, cy + d); g.stroke();
}
function draw() {
  const z = zoom();
  canvas.width = R.width * C; canvas.height = R.height * C;
  canvas.style.width = (R.width * C * z) + "px"; canvas.style.height = (R.height * C * z) + "px";
  canvas.style.imageRendering = z >= 1 ? "pixelated" : "auto";  // below 1, smooth: no dropped grid lines
  ctx.drawImage(image(R.sprites.floor), 0, 0);
  objects.forEach(o => {
    const busy = o.s.converting[t] ? 1 : 0, ready = Object.keys(o.s.inventory[t]).length && R.converter[o.type] ? 2 : 0;
    ctx.drawImage(image(R.sprites.objects[o.type][busy + ready]), o.s.c[t] * C, o.s.r[t] * C);
  });
  agents.forEach(a => {
    ctx.drawImage(image(R.sprites.agents[a.group][a.s.frozen[t] > 0 ? 1 : 0][a.s.orientation[t]]), a.s.c[t] * C, a.s.r[t] * C);
  });
  if (showFailed) agents.forEach(a => { if (failed(a, t)) drawFailed(ctx, a.s.c[t] * C, a.s.r[t] * C, C); });
  if (selected) {
    const [r, c] = selected.kind === "agent" ? [agents[selected.id].s.r[t], agents[selected.id].s.c[t]] : [selected.r, selected.c];
    ctx.strokeStyle = "#e01010"; ctx.lineWidth = 2; ctx.strokeRect(c * C + 1, r * C + 1, C - 2, C - 2);
  }
  slider.value = t;
  $("stepLabel").textContent = "step " + t + " / " + T;
  $("zoom").options[0].textContent = "fit (" + Math.round(fitNow() * 100) + "%)";
  panel();
}
// ---- the legend: what each picture means, for the object types and groups in this game, in the map's own pictures
// One legend entry: an icon, a label, a note; entries with a note take a whole row, the others share rows.
function entry(icon, label, note) {
  const e = node("div", undefined, "entry" + (note ? " wide" : ""));
  const text = node("span", label, "text");
  if (note) text.append(node("span", " " + note, "muted"));
  e.title = label + (note ? " " + note : "");
  e.append(icon, text);
  return e;
}
function sprite(uri) { const im = node("img", undefined, "icon"); im.src = uri; im.alt = ""; return im; }
function amounts(items) { return Object.entries(items).map(([k, n]) => n + " " + k).join(" + "); }
function recipeText(type) {
  const r = R.recipes[type];
  if (!r) return "";
  return (Object.keys(r.input).length ? amounts(r.input) + " " : "") + "\u2192 " + amounts(r.output);
}
function legend() {
  const box = $("legend"), out = [];
  const types = [...new Set(objects.map(o => o.type))].sort((a, b) => a - b);
  const groups = [...new Set(agents.map(a => a.group))].sort((a, b) => a - b);
  types.forEach(k => out.push(entry(sprite(R.sprites.objects[k][0]), R.object_types[k], recipeText(k))));
  groups.forEach(g => out.push(entry(sprite(R.sprites.agents[g][0][3]), "group " + R.groups[g],
                                     "agents; the pointer shows facing")));
  const conv = types.find(k => R.converter[k]);
  if (conv !== undefined) {
    out.push(entry(sprite(R.sprites.objects[conv][1]), "faded:", "busy, converting or cooling down"));
    out.push(entry(sprite(R.sprites.objects[conv][2]), "white dot:", "holds output, ready to take"));
  }
  if (groups.length && R.actions.some(name => name.startsWith("attack"))) {
    out.push(entry(sprite(R.sprites.agents[groups[0]][1][0]), "ice-blue in a cyan frame:", "frozen by an attack"));
  }
  if (groups.length) {
    const mark = node("canvas", undefined, "icon"); mark.width = C; mark.height = C;
    drawFailed(mark.getContext("2d"), 0, 0, C);
    const icon = node("span", undefined, "stack"); icon.append(sprite(R.sprites.agents[groups[0]][0][0]), mark);
    const e = entry(icon, "red cross:", "its last action failed ");
    const toggle = node("input"); toggle.type = "checkbox"; toggle.checked = showFailed; toggle.id = "showFailed";
    toggle.onchange = () => { showFailed = toggle.checked; draw(); };
    const label = node("label", "show"); label.prepend(toggle);
    e.append(label);
    out.push(e);
  }
  box.replaceChildren(...out);
}
// ---- the agents' table (rows made once, their cells' text updated each step) and the selection
const header = node("tr");
["#", "group", "return", "action", "inventory"].forEach(h => header.append(node("th", h)));
const rows = agents.map((a, i) => {
  const tr = node("tr", undefined, "agent"), cells = [];
  for (let k = 0; k < 5; k++) cells.push(tr.appendChild(node("td")));
  cells[0].textContent = String(i); cells[1].textContent = R.groups[a.group];
  tr.onclick = () => { selected = { kind: "agent", id: i }; draw(); };
  return { tr, cells };
});
$("agents").replaceChildren(header, ...rows.map(row => row.tr));
function panel() {
  rows.forEach(({ tr, cells }, i) => {
    const s = agents[i].s;
    tr.className = "agent" + (selected && selected.kind === "agent" && selected.id === i ? " sel" : "");
    cells[2].textContent = s.return[t].toFixed(2);
    cells[3].textContent = actionText(s, t);
    cells[4].textContent = inventoryText(s.inventory[t]);
  });
  const el = $("selected");
  if (!selected) return;
  let lines;
  if (selected.kind === "agent") {
    const a = agents[selected.id], s = a.s;
    lines = [`agent ${selected.id} (group ${R.groups[a.group]}) at (${s.r[t]}, ${s.c[t]}), facing ${["up", "down", "left", "right"][s.orientation[t]]}`,
             `last action ${actionText(s, t)}, reward ${s.reward[t].toFixed(3)}, return ${s.return[t].toFixed(3)}`];
    if (s.frozen[t] > 0) lines.push(`frozen for ${s.frozen[t]} more steps`);
    lines.push(`inventory: ${inventoryText(s.inventory[t])}`);
  } else {
    const here = objects.map((o, i) => [o, i]).filter(([o]) => o.s.r[t] === selected.r && o.s.c[t] === selected.c);
    lines = [`cell (${selected.r}, ${selected.c}): ` + (here.length ? here.map(([o, i]) =>
      `${R.object_types[o.type]} #${i}` + (R.converter[o.type] ? `, ${o.s.converting[t] ? "converting / cooling" : "idle"}, holds ${inventoryText(o.s.inventory[t])}` : "")).join("; ") : "empty")];
  }
  el.replaceChildren(...lines.flatMap((line, i) => i ? [node("br"), line] : [line]));
  el.className = "";
}
function go(step) { t = Math.max(0, Math.min(T, step)); draw(); }
function setPlaying(p) {
  playing = p; $("play").textContent = p ? "pause" : "play";
  clearInterval(timer);
  if (p) timer = setInterval(() => { if (t >= T) setPlaying(false); else go(t + 1); }, 1000 / +$("speed").value);
}
$("play").onclick = () => { if (!playing && t >= T) t = 0; setPlaying(!playing); };
$("prev").onclick = () => { setPlaying(false); go(t - 1); };
$("next").onclick = () => { setPlaying(false); go(t + 1); };
$("speed").onchange = () => { if (playing) setPlaying(true); };
$("zoom").onchange = draw;
window.onresize = () => { if ($("zoom").value === "fit") draw(); };
slider.oninput = () => { setPlaying(false); go(+slider.value); };
document.addEventListener("keydown", e => {
  if (e.key === " ") { e.preventDefault(); $("play").click(); }
  else if (e.key === "ArrowLeft") { setPlaying(false); go(t - 1); }
  else if (e.key === "ArrowRight") { setPlaying(false); go(t + 1); }
});
canvas.onclick = e => {
  const rect = canvas.getBoundingClientRect(), z = zoom();
  const c = Math.floor((e.clientX - rect.left) / (C * z)), r = Math.floor((e.clientY - rect.top) / (C * z));
  const i = agents.findIndex(a => a.s.r[t] === r && a.s.c[t] === c);
  selected = i >= 0 ? { kind: "agent", id: i } : { kind: "cell", r, c };
  draw();
};
$("title").textContent = R.title + ": " + R.width + " x " + R.height + ", " + agents.length + " agents, " + T + " steps";
legend();
const start = /^#(\d+)$/.exec(location.hash);  // viewer.html#120 opens at step 120
go(start ? +start[1] : 0);
</script>
</body>
</html>
"""
