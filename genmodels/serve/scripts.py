"""The CSS and the plain JavaScript of the pages, inline (no CDN, no library): a sortable table, an SVG line chart
with hover values, and the run page's controls that fetch PNGs from the server."""

from __future__ import annotations

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left; }
th.sortable { cursor: pointer; user-select: none; white-space: nowrap; } th.sortable:hover { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #a00; background: #fff2f2; border: 1px solid #e6b3b3; padding: 6px 10px; border-radius: 4px; }
.muted { color: #777; } .error-text { color: #a00; margin: 2px 0; } .controls { margin: 6px 0; } .controls input[type=number] { width: 6em; }
img.pixels { image-rendering: pixelated; border: 1px solid #ddd; background: #fff; }
pre { background: #f7f7f7; padding: 8px; overflow: auto; max-height: 20em; }
.sliders { display: grid; grid-template-columns: max-content 1fr 4em; gap: 2px 10px; align-items: center; }
.row { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
svg.chart { border: 1px solid #ddd; background: #fff; } svg.chart text { font-size: 11px; fill: #444; }
"""

COMMON = r"""
function $(id) { return document.getElementById(id); }
function data(id) { return JSON.parse($(id).textContent); }
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
function svgEl(name, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  return el;
}
// series: [{name, values: [per epoch, from 1]}]; a vertical rule and the values under the pointer follow the mouse
function lineChart(svg, series, title, W = 640, H = 300) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const L = 60, R = 10, T = 24, B = 30;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.appendChild(svgEl("text", {x: L, y: 15})).textContent = title || "";
  const all = series.flatMap(s => s.values.filter(v => v !== null && isFinite(v)));
  if (!all.length) { svg.appendChild(svgEl("text", {x: L, y: H / 2})).textContent = "no epochs to show"; return; }
  const n = Math.max(...series.map(s => s.values.length));
  let lo = Math.min(...all), hi = Math.max(...all); if (hi === lo) { hi += 1; lo -= 1; }
  const x = e => L + (n <= 1 ? 0.5 : (e - 1) / (n - 1)) * (W - L - R);
  const y = v => T + (hi - v) / (hi - lo) * (H - T - B);
  svg.appendChild(svgEl("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999"}));
  svg.appendChild(svgEl("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#999"}));
  for (let i = 0; i <= 4; i++) {
    const v = lo + (hi - lo) * i / 4;
    svg.appendChild(svgEl("text", {x: 4, y: y(v) + 4})).textContent = Number(v.toPrecision(5));
  }
  svg.appendChild(svgEl("text", {x: L, y: H - 8})).textContent = "epoch 1";
  svg.appendChild(svgEl("text", {x: W - R - 60, y: H - 8})).textContent = `epoch ${n}`;
  series.forEach((s, i) => {
    const points = s.values.map((v, e) => v === null ? null : `${x(e + 1)},${y(v)}`).filter(p => p);
    const colour = COLOURS[i % COLOURS.length];
    svg.appendChild(svgEl(points.length > 1 ? "polyline" : "circle", points.length > 1
      ? {points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 1.5}
      : {cx: points[0].split(",")[0], cy: points[0].split(",")[1], r: 3, fill: colour}));
    svg.appendChild(svgEl("text", {x: W - R - 220, y: T + 14 * (i + 1), style: `fill: ${colour}`})).textContent = s.name;
  });
  const rule = svg.appendChild(svgEl("line", {y1: T, y2: H - B, stroke: "#bbb", visibility: "hidden"}));
  const readout = svg.appendChild(svgEl("text", {x: L + 8, y: T + 14, class: "readout"}));
  svg.onmousemove = ev => {
    const box = svg.getBoundingClientRect(), px = (ev.clientX - box.left) * W / box.width;
    const e = Math.min(n, Math.max(1, Math.round(n <= 1 ? 1 : (px - L) / (W - L - R) * (n - 1) + 1)));
    rule.setAttribute("x1", x(e)); rule.setAttribute("x2", x(e)); rule.setAttribute("visibility", "visible");
    readout.textContent = `epoch ${e}: ` + series.map(s => `${s.name} ${fmt(s.values[e - 1], 2)}`).join(", ");
  };
  svg.onmouseleave = () => { rule.setAttribute("visibility", "hidden"); readout.textContent = ""; };
}
// fetch a PNG into an <img>; a refusal shows the server's one-line message in `errorId`
let fetchCount = {};
async function showPng(imgId, url, errorId) {
  const ticket = (fetchCount[imgId] = (fetchCount[imgId] || 0) + 1);
  const response = await fetch(url);
  if (ticket !== fetchCount[imgId]) return;  // a later request for the same image has been sent
  if (!response.ok) { $(errorId).textContent = await response.text(); return; }
  $(errorId).textContent = "";
  const blob = await response.blob(), img = $(imgId), old = img.src;
  img.onload = () => { img.style.width = img.naturalWidth * (window.ZOOM || 1) + "px"; };
  img.src = URL.createObjectURL(blob);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  img.dataset.loaded = String(ticket);
}
"""

RUNS = r"""
const rows = data("runs-data");
const columns = [
  ["path", "run", r => r.path], ["model", "model"], ["dataset", "dataset"],
  ["kept_epoch", "kept epoch", r => r.kept_epoch === null || r.kept_epoch === undefined ? "-" : `${r.kept_epoch} of ${r.epochs}`],
  ["nll", "test NLL", r => fmt(r.nll, 2)], ["bits_per_dim", "bits/dim", r => fmt(r.bits_per_dim, 4)],
  ["fid", "FID (floor)", r => r.fid === null || r.fid === undefined ? "-" : `${fmt(r.fid, 2)} (${fmt(r.fid_floor, 2)})`],
  ["train_seconds", "train time", r => r.train_seconds === undefined ? "-" : `${fmt(r.train_seconds, 0)} s`],
];
let sortKey = "path", sortUp = true;
const chosen = new Set();
function compare(a, b) {
  const u = a[sortKey], v = b[sortKey], missing = x => x === null || x === undefined;
  if (missing(u) || missing(v)) return missing(u) - missing(v);
  return (typeof u === "number" ? u - v : String(u).localeCompare(String(v))) * (sortUp ? 1 : -1);
}
function drawTable() {
  const head = $("runs-head"), body = $("runs-body");
  head.innerHTML = "<th>compare</th>";
  for (const [key, label] of columns) {
    const th = document.createElement("th");
    th.className = "sortable"; th.dataset.key = key;
    th.textContent = label + (key === sortKey ? (sortUp ? " \u25b2" : " \u25bc") : "");
    th.onclick = () => { sortUp = key === sortKey ? !sortUp : true; sortKey = key; drawTable(); };
    head.appendChild(th);
  }
  body.innerHTML = "";
  for (const r of [...rows].sort(compare)) {
    const tr = body.appendChild(document.createElement("tr"));
    tr.dataset.path = r.path;
    const box = tr.appendChild(document.createElement("td")).appendChild(document.createElement("input"));
    box.type = "checkbox"; box.checked = chosen.has(r.path); box.disabled = !!r.error;
    box.onchange = () => { box.checked ? chosen.add(r.path) : chosen.delete(r.path); drawChart(); };
    const link = document.createElement("a");
    link.href = "/runs/" + r.path.split("/").map(encodeURIComponent).join("/"); link.textContent = r.path;
    tr.appendChild(document.createElement("td")).appendChild(link);
    if (r.error) {
      const td = tr.appendChild(document.createElement("td"));
      td.colSpan = columns.length - 1; td.className = "error"; td.textContent = r.error;
      continue;
    }
    for (const [key, , show] of columns.slice(1)) {
      const td = tr.appendChild(document.createElement("td"));
      td.textContent = show ? show(r) : (r[key] ?? "-");
      if (typeof r[key] === "number") td.className = "num";
    }
  }
}
function drawChart() {
  const series = rows.filter(r => chosen.has(r.path)).map(r => ({name: r.path, values: r.valid_loss}));
  $("chart-note").textContent = series.length ? "" : "Tick runs in the table to compare their validation loss.";
  lineChart($("chart"), series, "validation loss per epoch");
}
rows.filter(r => !r.error).slice(0, 2).forEach(r => chosen.add(r.path));
drawTable(); drawChart();
"""

RUN = r"""
const details = data("run-data"), info = data("model-data");
const runPath = details.path.split("/").map(encodeURIComponent).join("/");
const png = (kind, query) => `/png/${kind}/${runPath}?${new URLSearchParams(query)}`;
window.ZOOM = Math.max(1, Math.floor(84 / (details.image_shape ? details.image_shape[0] : 28)));
const terms = {};
for (const name in details.curves) { const [split, term] = name.split(" "); (terms[term] = terms[term] || []).push(split); }
for (const term in terms) {
  const svg = $("curves").appendChild(svgEl("svg", {class: "chart", "data-term": term}));
  lineChart(svg, terms[term].map(split => ({name: split, values: details.curves[`${split} ${term}`]})), term, 520, 250);
}
function label() { const select = $("label"); return select ? {label: select.value} : {}; }
function source() { const select = $("source"); return select && select.value ? {sampler: select.value} : {}; }
function drawSamples() {
  showPng("samples", png("sample", {seed: $("seed").value, n: $("count").value, ...label(), ...source()}), "samples-error");
}
function drawReconstructions() { showPng("reconstructions", png("reconstruct", {indices: $("indices").value}), "reconstructions-error"); }
function drawInterpolation() {
  showPng("interpolation", png("interpolate", {a: $("first").value, b: $("second").value, steps: $("steps").value}), "interpolation-error");
}
const coding = info ? new Array(info.latent_dim).fill(0) : [];
function drawDecoded() { showPng("decoded", png("decode", {z: coding.map(v => v.toFixed(3)).join(","), ...label()}), "decoded-error"); }
let pending = null;
function sliderMoved(dim, input) {
  coding[dim] = Number(input.value); $(`value-${dim}`).textContent = Number(input.value).toFixed(2);
  clearTimeout(pending); pending = setTimeout(drawDecoded, 40);
}
function drawManifold() { showPng("manifold", png("manifold", {side: $("side").value, ...label()}), "manifold-error"); }
if (info) {
  const sliders = $("sliders");
  const ranking = info.ranking || {}, unit = ranking.by === "kl" ? "KL" : "var";
  info.sliders.forEach((dim, i) => {
    const score = ranking.scores ? ` (${unit} ${fmt(ranking.scores[i], 2)})` : "";
    sliders.appendChild(document.createElement("label")).textContent = `z${dim}${score}`;
    const input = sliders.appendChild(document.createElement("input"));
    Object.assign(input, {type: "range", min: -3, max: 3, step: 0.05, value: 0, id: `slider-${dim}`});
    input.oninput = () => sliderMoved(dim, input);
    const value = sliders.appendChild(document.createElement("span")); value.id = `value-${dim}`; value.textContent = "0.00";
  });
  $("reset").onclick = () => {
    coding.fill(0);
    info.sliders.forEach(d => { $(`slider-${d}`).value = 0; $(`value-${d}`).textContent = "0.00"; });
    drawDecoded();
  };
  $("draw").onclick = drawSamples;
  $("again").onclick = () => { $("seed").value = Number($("seed").value) + 1; drawSamples(); };
  $("seed").onchange = drawSamples;
  if ($("source")) $("source").onchange = () => {
    $("sampler-note").textContent = $("source").value === "prior"
      ? `drawn from the model's prior, as chosen (the ${info.sampler.name} sampler fitted after training is the default)`
      : info.sampler.note;
    drawSamples();
  };
  if ($("label")) $("label").onchange = () => { drawSamples(); drawDecoded(); if ($("manifold")) drawManifold(); };
  drawSamples(); drawDecoded();
  if (info.test_images) {
    $("rebuild").onclick = drawReconstructions; $("between").onclick = drawInterpolation;
    drawReconstructions(); drawInterpolation();
  }
  if ($("manifold")) { $("redraw-manifold").onclick = drawManifold; drawManifold(); }
}
"""
