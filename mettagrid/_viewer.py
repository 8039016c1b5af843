"""The browser replay viewer: one self-contained HTML page (no server, no network) with the replay's JSON in it."""

from __future__ import annotations

__all__ = ["VIEWER_HTML"]

# `__REPLAY_JSON__` is replaced by the replay (with `</` escaped so it cannot end the script element).
VIEWER_HTML = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mettagrid replay</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; display: flex; height: 100vh; background: #f4f2ec; color: #222; }
  #left { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  #bar { display: flex; gap: 8px; align-items: center; padding: 6px 10px; background: #e6e2d8; flex-wrap: wrap; }
  #bar input[type=range] { flex: 1; min-width: 160px; }
  #wrap { flex: 1; overflow: auto; padding: 8px; }
  canvas { image-rendering: pixelated; cursor: crosshair; }
  #side { width: 400px; overflow: auto; padding: 8px 10px; background: #fbfaf6; border-left: 1px solid #ddd; }
  #side h3 { margin: 8px 0 4px; font-size: 13px; }
  table { border-collapse: collapse; width: 100%; }
  td, th { padding: 1px 4px; text-align: left; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; }
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
    <label>zoom <select id="zoom"><option>1</option><option>2</option><option>3</option><option>4</option></select></label>
  </div>
  <div id="wrap"><canvas id="map"></canvas></div>
</div>
<div id="side">
  <div id="title" class="muted"></div>
  <h3>Selected</h3><div id="selected" class="muted">click a cell or an agent</div>
  <h3>Agents</h3><table id="agents"></table>
</div>
<script id="replay" type="application/json">__REPLAY_JSON__</script>
<script>
"use strict";
const R = JSON.parse(document.getElementById("replay").textContent);
const T = R.num_steps;
// Expand each change list [[step, value], ...] into one value per step.
function expand(changes) {
  const out = new Array(T + 1); let k = 0, v = changes.length ? changes[0][1] : 0;
  for (let t = 0; t <= T; t++) { while (k < changes.length && changes[k][0] <= t) { v = changes[k][1]; k++; } out[t] = v; }
  return out;
}
function expandAll(entity) { const s = {}; for (const f in entity.series) s[f] = expand(entity.series[f]); return s; }
const agents = R.agents.map(a => ({ group: a.group, s: expandAll(a) }));
const objects = R.objects.map(o => ({ type: o.type, s: expandAll(o) }));
const images = {};
function image(uri) { if (!images[uri]) { const im = new Image(); im.src = uri; im.onload = draw; images[uri] = im; } return images[uri]; }
const canvas = document.getElementById("map"), ctx = canvas.getContext("2d");
const slider = document.getElementById("slider"); slider.max = T;
let t = 0, playing = false, timer = null, selected = null;
const C = R.cell;
function zoom() { return +document.getElementById("zoom").value; }
function inventoryText(inv) {
  const parts = Object.entries(inv).map(([k, v]) => k + " " + v);
  return parts.length ? parts.join(", ") : "empty";
}
function actionText(s, t) {
  if (t === 0) return "-";
  return (R.actions[s.action[t]] ?? "?") + (s.success[t] ? "" : " (failed)");
}
function draw() {
  const z = zoom();
  canvas.width = R.width * C; canvas.height = R.height * C;
  canvas.style.width = (R.width * C * z) + "px"; canvas.style.height = (R.height * C * z) + "px";
  ctx.drawImage(image(R.sprites.floor), 0, 0);
  objects.forEach(o => {
    const busy = o.s.converting[t] ? 1 : 0, ready = Object.keys(o.s.inventory[t]).length && R.converter[o.type] ? 2 : 0;
    ctx.drawImage(image(R.sprites.objects[o.type][busy + ready]), o.s.c[t] * C, o.s.r[t] * C);
  });
  agents.forEach(a => {
    ctx.drawImage(image(R.sprites.agents[a.group][a.s.frozen[t] > 0 ? 1 : 0][a.s.orientation[t]]), a.s.c[t] * C, a.s.r[t] * C);
  });
  if (selected) {
    const [r, c] = selected.kind === "agent" ? [agents[selected.id].s.r[t], agents[selected.id].s.c[t]] : [selected.r, selected.c];
    ctx.strokeStyle = "#e01010"; ctx.lineWidth = 2; ctx.strokeRect(c * C + 1, r * C + 1, C - 2, C - 2);
  }
  slider.value = t;
  document.getElementById("stepLabel").textContent = "step " + t + " / " + T;
  panel();
}
function agentRows() {
  let html = "<tr><th>#</th><th>group</th><th>return</th><th>action</th><th>inventory</th></tr>";
  agents.forEach((a, i) => {
    const sel = selected && selected.kind === "agent" && selected.id === i ? " sel" : "";
    html += `<tr class="agent${sel}" data-id="${i}"><td>${i}</td><td>${R.groups[a.group]}</td><td>${a.s.return[t].toFixed(2)}</td>` +
            `<td>${actionText(a.s, t)}</td><td>${inventoryText(a.s.inventory[t])}</td></tr>`;
  });
  return html;
}
function panel() {
  document.getElementById("agents").innerHTML = agentRows();
  const el = document.getElementById("selected");
  if (!selected) return;
  let html = "";
  if (selected.kind === "agent") {
    const a = agents[selected.id], s = a.s;
    html = `agent ${selected.id} (group ${R.groups[a.group]}) at (${s.r[t]}, ${s.c[t]}), facing ${["up", "down", "left", "right"][s.orientation[t]]}` +
           `<br>last action ${actionText(s, t)}, reward ${s.reward[t].toFixed(3)}, return ${s.return[t].toFixed(3)}` +
           (s.frozen[t] > 0 ? `<br>frozen for ${s.frozen[t]} more steps` : "") + `<br>inventory: ${inventoryText(s.inventory[t])}`;
  } else {
    const here = objects.map((o, i) => [o, i]).filter(([o]) => o.s.r[t] === selected.r && o.s.c[t] === selected.c);
    html = `cell (${selected.r}, ${selected.c}): ` + (here.length ? here.map(([o, i]) =>
      `${R.object_types[o.type]} #${i}` + (R.converter[o.type] ? `, ${o.s.converting[t] ? "converting / cooling" : "idle"}, holds ${inventoryText(o.s.inventory[t])}` : "")).join("; ") : "empty");
  }
  el.innerHTML = html; el.className = "";
}
function go(step) { t = Math.max(0, Math.min(T, step)); draw(); }
function setPlaying(p) {
  playing = p; document.getElementById("play").textContent = p ? "pause" : "play";
  clearInterval(timer);
  if (p) timer = setInterval(() => { if (t >= T) setPlaying(false); else go(t + 1); }, 1000 / +document.getElementById("speed").value);
}
document.getElementById("play").onclick = () => { if (!playing && t >= T) t = 0; setPlaying(!playing); };
document.getElementById("prev").onclick = () => { setPlaying(false); go(t - 1); };
document.getElementById("next").onclick = () => { setPlaying(false); go(t + 1); };
document.getElementById("speed").onchange = () => { if (playing) setPlaying(true); };
document.getElementById("zoom").onchange = draw;
slider.oninput = () => { setPlaying(false); go(+slider.value); };
document.addEventListener("keydown", e => {
  if (e.key === " ") { e.preventDefault(); document.getElementById("play").click(); }
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
document.getElementById("agents").onclick = e => {
  const row = e.target.closest("tr.agent"); if (!row) return;
  selected = { kind: "agent", id: +row.dataset.id }; draw();
};
// The largest zoom at which the whole map fits beside the panel (at least 1).
const fit = Math.max(1, Math.min(4, Math.floor((window.innerWidth - 430) / (R.width * C)), Math.floor((window.innerHeight - 60) / (R.height * C))));
document.getElementById("zoom").value = String(fit);
document.getElementById("title").textContent = R.title + ": " + R.width + " x " + R.height + ", " + agents.length + " agents, " + T + " steps";
draw();
</script>
</body>
</html>
"""
