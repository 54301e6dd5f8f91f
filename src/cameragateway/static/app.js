// LIQUID EDGE camera dashboard. No libraries: the page, its boxes and its charts are drawn here,
// so it runs on an edge network with no internet. Data: GET /api/state once, then server-sent
// events from /api/events ("answer" per answered frame, "state" once a second, "cameras").
"use strict";

const HISTORY_SAMPLES = 300; // one a second: five minutes
const MAX_DETECTION_ROWS = 60;
const TOKEN_KEY = "liquidedge-operator-token";

const single = decodeURIComponent((location.pathname.match(/^\/camera\/(.+)$/) || [])[1] || "");
const tiles = new Map(); // camera id -> tile record
const history = []; // samples from the server: {t, cameras: {id: {fps, rtt_ms}}, engines: {name: ms}}
let pendingRows = [];
let detectionTimes = [];

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};

// -- colours ----------------------------------------------------------------------------------

function hashHue(text) {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h % 360;
}
const labelColor = (label) => `hsl(${hashHue(label)}, 90%, 60%)`;
const CAMERA_COLORS = ["#58a6ff", "#3fb950", "#e3a008", "#f778ba", "#a371f7", "#39c5cf", "#ff7b72", "#d2a8ff",
  "#7ee787", "#ffa657"];
function cameraColor(id) {
  const ids = [...tiles.keys()].sort();
  const index = ids.indexOf(id);
  return CAMERA_COLORS[(index < 0 ? hashHue(id) : index) % CAMERA_COLORS.length];
}

// -- formatting -------------------------------------------------------------------------------

const fmt = (value, digits = 1, unit = "") => (value === null || value === undefined ? "–" : value.toFixed(digits) + unit);
const clockText = (date) => date.toLocaleTimeString([], { hour12: false });

function captionOf(d) {
  const who = d.attributes && d.attributes.identity;
  const pct = Math.round(d.confidence * 100) + "%";
  return who && who !== "unknown" ? `${who} · ${d.label} ${pct}` : `${d.label} ${pct}`;
}

// -- tiles ------------------------------------------------------------------------------------

function makeTile(id) {
  const tile = el("article", "tile");
  tile.dataset.cameraId = id;
  tile.dataset.state = "offline";
  const head = el("header");
  const name = el("a", "name", id);
  name.href = "/camera/" + encodeURIComponent(id);
  name.title = "this camera alone";
  const badge = el("span", "badge offline", "offline");
  const remove = el("button", "remove", "✕");
  remove.type = "button";
  remove.title = "remove this camera";
  remove.addEventListener("click", () => removeCamera(id));
  head.append(name, badge, remove);
  const view = el("div", "view");
  const canvas = el("canvas");
  canvas.width = 640;
  canvas.height = 480;
  const msg = el("div", "msg", "waiting for the first answered frame…");
  view.append(canvas, msg);
  const stats = el("div", "stats");
  const cells = {};
  for (const [key, label] of [["fps", "fps"], ["age", "frame age"], ["rtt", "round trip"], ["drop", "skipped"]]) {
    const cell = el("div");
    cell.append(el("span", "", label));
    cells[key] = el("b", "", "–");
    cell.append(cells[key]);
    stats.append(cell);
  }
  const spark = el("canvas", "spark");
  const reason = el("div", "reason", "");
  tile.append(head, view, stats, spark, reason);
  const record = { id, tile, badge, canvas, ctx: canvas.getContext("2d"), msg, cells, spark, reason,
    loading: false, pending: null, drawn: 0 };
  tiles.set(id, record);
  return record;
}

function syncTiles(cameras) {
  const wanted = cameras.filter((c) => !single || c.id === single);
  const ids = new Set(wanted.map((c) => c.id));
  for (const [id, record] of tiles) {
    if (!ids.has(id)) {
      record.tile.remove();
      tiles.delete(id);
    }
  }
  const grid = $("grid");
  for (const camera of wanted.sort((a, b) => a.id.localeCompare(b.id))) {
    const record = tiles.get(camera.id) || makeTile(camera.id);
    if (!record.tile.isConnected) grid.append(record.tile);
    updateTile(record, camera);
  }
  $("empty").style.display = tiles.size ? "none" : "";
  layoutGrid();
  if (single && !ids.has(single)) {
    $("empty").style.display = "";
    $("empty").textContent = `No camera "${single}" here (any more).`;
  }
}

// As many columns as make every tile as large as possible while all of them fit the screen
// (a wall display never scrolls); below a minimum size the grid scrolls instead.
let lastLayout = "";
function layoutGrid() {
  const grid = $("grid");
  const n = Math.max(1, tiles.size);
  const gap = 13, chrome = 185; // tile header, stats, sparkline and reason around the 4:3 view
  const width = grid.clientWidth, height = grid.clientHeight;
  let best = 0, bestCols = 1;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const byWidth = (width - gap * (cols - 1)) / cols;
    const byHeight = ((height - gap * (rows - 1)) / rows - chrome) * (4 / 3);
    const size = Math.min(byWidth, byHeight);
    if (size > best) {
      best = size;
      bestCols = cols;
    }
  }
  const layout = best >= 360 ? `repeat(${bestCols}, ${Math.floor(best)}px)` : "";
  if (layout !== lastLayout) {
    grid.style.gridTemplateColumns = layout;
    lastLayout = layout;
  }
}

function updateTile(record, c) {
  record.tile.dataset.state = c.state;
  record.badge.className = "badge " + c.state;
  record.badge.textContent = c.state;
  record.cells.fps.replaceChildren(document.createTextNode(fmt(c.fps_out)), el("small", "", ` of ${fmt(c.fps_in)}`));
  record.cells.fps.title = `${fmt(c.fps_in)} frames/s from the camera, ${fmt(c.fps_out)} answered by the mesh`;
  record.cells.age.textContent = c.last_frame_age_s === null ? "never" : fmt(c.last_frame_age_s, 1, " s");
  record.cells.rtt.textContent = c.rtt_ms >= 1000 ? fmt(c.rtt_ms / 1000, 2, " s") : fmt(c.rtt_ms, 0, " ms");
  const pct = c.received ? (100 * c.dropped_stale) / c.received : 0;
  record.cells.drop.textContent = `${pct.toFixed(0)}%`;
  record.cells.drop.title = `${c.dropped_stale} of ${c.received} frames not sent: a newer one replaced them`;
  const note = c.reason || (c.mesh_issue ? "mesh: " + c.mesh_issue : c.state === "online" ? `${c.answered} frames answered` : "");
  record.reason.textContent = note;
  record.reason.title = note;
  record.reason.classList.toggle("mesh", !c.reason && !!c.mesh_issue);
  if (!record.drawn) {
    record.msg.textContent = c.state === "offline" ? `offline: ${c.reason || "no frames"}` : "waiting for the first answered frame…";
  }
}

// An answer names its frame; the frame's JPEG is fetched and drawn with the answer's boxes.
// Only the newest answer is kept while an image loads, so a slow screen never falls behind.
function onAnswer(event) {
  if (event.source_kind === "camera") {
    const record = tiles.get(event.source);
    if (record) {
      record.pending = event;
      if (!record.loading) loadNext(record);
    }
  }
  if (!single || event.source === single) queueDetections(event);
}

function loadNext(record) {
  const event = record.pending;
  record.pending = null;
  if (!event) return;
  record.loading = true;
  const image = new Image();
  image.onload = () => {
    drawFrame(record, image, event);
    record.loading = false;
    loadNext(record);
  };
  image.onerror = () => {
    record.loading = false;
    loadNext(record);
  };
  image.src = `/api/cameras/${encodeURIComponent(record.id)}/frame.jpg?n=${event.frame}`;
}

function drawFrame(record, image, event) {
  const { canvas, ctx } = record;
  if (canvas.width !== image.naturalWidth || canvas.height !== image.naturalHeight) {
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
  }
  ctx.drawImage(image, 0, 0);
  // Labels the same size on screen whatever the tile's size: ~16 px as displayed.
  const scale = canvas.width / Math.max(1, canvas.clientWidth);
  const size = Math.round(16 * scale);
  ctx.font = `600 ${size}px "DejaVu Sans", sans-serif`;
  ctx.lineWidth = Math.max(2, 2.5 * scale);
  for (const d of event.detections) {
    const { x, y, width, height } = d.box;
    const color = labelColor(d.label);
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, width, height);
    const text = captionOf(d);
    const w = ctx.measureText(text).width + 10;
    const ty = y - size - 6 >= 0 ? y - size - 6 : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - ctx.lineWidth / 2, ty, w, size + 6);
    ctx.fillStyle = "#0a0e13";
    ctx.fillText(text, x + 5 - ctx.lineWidth / 2, ty + size);
  }
  record.drawn += 1;
  record.tile.dataset.frame = String(event.frame);
  record.tile.dataset.boxes = String(event.detections.length);
  record.tile.dataset.labels = [...new Set(event.detections.map((d) => d.label))].join(",");
  record.tile.dataset.identities = event.detections
    .map((d) => d.attributes && d.attributes.identity)
    .filter((who) => who && who !== "unknown")
    .join(",");
}

// -- detections list --------------------------------------------------------------------------

function queueDetections(event) {
  const when = new Date(event.answered_time || event.capture_time);
  for (const d of event.detections) {
    pendingRows.push({ when, source: event.source, d });
    detectionTimes.push(performance.now());
  }
}

function flushDetections() {
  const list = $("detections");
  const rows = pendingRows.slice(-MAX_DETECTION_ROWS);
  pendingRows = [];
  for (const { when, source, d } of rows) {
    const li = el("li", "fresh");
    li.dataset.camera = source;
    li.dataset.label = d.label;
    const who = d.attributes && d.attributes.identity;
    if (who) li.dataset.identity = who;
    li.append(el("span", "t", clockText(when)), el("span", "cam", source));
    const what = el("span", "what");
    if (who && who !== "unknown") {
      what.append(el("span", "who", who), document.createTextNode(" " + d.label));
    } else {
      what.append(document.createTextNode(d.label));
    }
    const b = d.box;
    const where = el("span", "where", `${b.x},${b.y} ${b.width}×${b.height}`);
    where.title = "box: x,y width×height in pixels";
    li.append(what, where, el("span", "conf", Math.round(d.confidence * 100) + "%"));
    list.prepend(li);
  }
  while (list.children.length > MAX_DETECTION_ROWS) list.lastElementChild.remove();
  const now = performance.now();
  detectionTimes = detectionTimes.filter((t) => now - t < 10000);
  $("det-rate").textContent = `${(detectionTimes.length / 10).toFixed(1)} / s`;
}

// -- side panels ------------------------------------------------------------------------------

function setPill(pill, text, level) {
  $(pill).className = "pill " + level;
  $(pill).querySelector("b").textContent = text;
}

function renderEngines(engines, mesh) {
  const body = $("engines").querySelector("tbody");
  body.replaceChildren();
  if (!engines.length) {
    const tr = el("tr");
    const td = el("td", "", "no answers yet");
    td.colSpan = 4;
    tr.append(td);
    body.append(tr);
  }
  for (const e of engines) {
    const tr = el("tr");
    tr.dataset.engine = e.engine;
    const stale = e.age_s > 10;
    const status = el("td");
    status.append(el("i", "dot " + (stale ? "idle" : e.ok ? "ok" : "bad")), document.createTextNode(stale ? "idle" : e.ok ? "ok" : e.code));
    if (!e.ok && e.error) status.title = e.error;
    tr.append(el("td", "", e.engine), status, el("td", "", fmt(e.latency_ms, 0, " ms")), el("td", "", e.served_by || "–"));
    body.append(tr);
  }
  const serving = mesh && mesh.status === "SERVING";
  setPill("mesh-pill", mesh ? mesh.status.toLowerCase().replace("_", " ") : "?", serving ? "good" : "bad");
}

function renderKafka(k) {
  const dl = $("kafka");
  dl.replaceChildren();
  const add = (term, value, bad) => {
    dl.append(el("dt", "", term));
    const dd = el("dd", bad ? "bad" : "", String(value));
    dd.title = String(value);
    dl.append(dd);
  };
  if (!k || !k.enabled) {
    add("events", "off: set KAFKA_BOOTSTRAP_SERVERS");
    setPill("kafka-pill", "off", "");
    return;
  }
  add("broker", `${k.bootstrap} ${k.broker_up ? "up" : "unreachable"}`, !k.broker_up);
  add("topic", k.events_topic);
  add("published", k.published);
  add("not published", k.dropped, k.dropped > 0);
  add("buffered", k.buffered, k.buffered > 0 && !k.broker_up);
  if (k.frames_topic) add("frames in", `${k.frames_answered ?? 0} answered, ${k.frames_failed ?? 0} failed`);
  if (k.last_error && !k.broker_up) add("last error", k.last_error, true);
  setPill("kafka-pill", k.broker_up ? `${k.published} sent` : `down · ${k.dropped} lost`, k.broker_up ? "good" : "bad");
}

function renderCounts(cameras) {
  const shown = cameras.filter((c) => !single || c.id === single);
  for (const state of ["online", "degraded", "offline"]) {
    $("n-" + state).textContent = shown.filter((c) => c.state === state).length;
  }
}

// -- charts -----------------------------------------------------------------------------------

function prepareCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

// Lines of (series name -> values per sample), y from 0 to a rounded maximum, with grid labels.
function drawLines(canvas, series, colors, unit) {
  const { ctx, w, h } = prepareCanvas(canvas);
  let top = 0;
  for (const values of series.values()) for (const v of values) if (v !== null && v > top) top = v;
  const step = top <= 5 ? 1 : top <= 20 ? 5 : top <= 100 ? 25 : top <= 500 ? 100 : 500;
  top = Math.max(step, Math.ceil(top / step) * step);
  const left = 34, bottom = h - 4;
  ctx.font = '11px "DejaVu Sans", sans-serif';
  ctx.strokeStyle = "#243140";
  ctx.fillStyle = "#8b98a5";
  ctx.lineWidth = 1;
  for (let v = 0; v <= top; v += step) {
    const y = bottom - (v / top) * (bottom - 6);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(w, y);
    ctx.stroke();
    ctx.fillText(String(v) + unit, 0, y + 4);
  }
  for (const [name, values] of series) {
    ctx.strokeStyle = colors(name);
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    values.forEach((v, i) => {
      const x = left + ((w - left) * i) / Math.max(1, HISTORY_SAMPLES - 1);
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      const y = bottom - (v / top) * (bottom - 6);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
  }
}

function seriesOf(pick) {
  const names = new Set();
  for (const s of history) for (const name of Object.keys(pick(s))) names.add(name);
  const series = new Map();
  const offset = HISTORY_SAMPLES - history.length;
  for (const name of [...names].sort()) {
    const values = new Array(HISTORY_SAMPLES).fill(null);
    history.forEach((s, i) => {
      const v = pick(s)[name];
      values[offset + i] = v === undefined ? null : v;
    });
    series.set(name, values);
  }
  return series;
}

function renderCharts() {
  const visible = (id) => !single || id === single;
  const fps = seriesOf((s) => Object.fromEntries(Object.entries(s.cameras).filter(([id]) => visible(id)).map(([id, c]) => [id, c.fps])));
  const rtt = seriesOf((s) => {
    const out = {};
    for (const [id, c] of Object.entries(s.cameras)) if (visible(id)) out[id] = c.rtt_ms;
    for (const [engine, ms] of Object.entries(s.engines)) out["engine " + engine] = ms;
    return out;
  });
  const color = (name) => (name.startsWith("engine ") ? (name.endsWith("face") ? "#f0c674" : "#8b98a5") : cameraColor(name));
  drawLines($("fps-chart"), fps, color, "");
  drawLines($("rtt-chart"), rtt, color, "");
  const legend = $("legend");
  legend.replaceChildren();
  for (const name of rtt.keys()) {
    const item = el("span");
    const swatch = el("i");
    swatch.style.background = color(name);
    item.append(swatch, document.createTextNode(name));
    legend.append(item);
  }
  for (const record of tiles.values()) {
    const one = new Map([[record.id, (fps.get(record.id) || []).slice(-120)]]);
    drawSpark(record.spark, one.get(record.id), cameraColor(record.id));
  }
}

function drawSpark(canvas, values, color) {
  const { ctx, w, h } = prepareCanvas(canvas);
  const top = Math.max(1, ...values.filter((v) => v !== null));
  ctx.strokeStyle = color;
  ctx.fillStyle = color + "33";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(0, h);
  values.forEach((v, i) => ctx.lineTo((w * i) / Math.max(1, values.length - 1), h - 2 - ((v || 0) / top) * (h - 6)));
  ctx.lineTo(w, h);
  ctx.fill();
  ctx.stroke();
}

// -- state ------------------------------------------------------------------------------------

function applyState(state) {
  syncTiles(state.cameras);
  renderCounts(state.cameras);
  renderEngines(state.engines, state.mesh);
  renderKafka(state.kafka);
  if (state.sample) {
    history.push(state.sample);
    while (history.length > HISTORY_SAMPLES) history.shift();
  }
  renderCharts();
}

async function loadState() {
  const response = await fetch("/api/state", { cache: "no-store" });
  const state = await response.json();
  history.splice(0, history.length, ...(state.history || []).slice(-HISTORY_SAMPLES));
  applyState(state);
  const rows = (state.detections || []).filter((r) => !single || r.source === single).reverse();
  for (const r of rows.slice(-MAX_DETECTION_ROWS)) {
    pendingRows.push({ when: new Date(r.time), source: r.source,
      d: { label: r.label, confidence: r.confidence, box: r.box, attributes: r.identity ? { identity: r.identity } : {} } });
  }
  flushDetections();
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => setPill("live-pill", "on", "good"));
  source.addEventListener("error", () => setPill("live-pill", "reconnecting", "bad"));
  source.addEventListener("answer", (m) => onAnswer(JSON.parse(m.data)));
  source.addEventListener("state", (m) => applyState(JSON.parse(m.data)));
  source.addEventListener("cameras", () => loadState().catch(() => {}));
}

// -- managing cameras (operator token) -------------------------------------------------------------

function operatorToken() {
  return $("op-token").value.trim();
}

function say(text, good) {
  $("manage-result").textContent = text;
  $("manage-result").className = good ? "good" : "bad";
}

async function operatorCall(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + operatorToken() },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

async function addCamera(event) {
  event.preventDefault();
  const id = $("add-id").value.trim();
  const where = $("add-where").value.trim();
  const body = where.includes("://") ? { id, url: where } : { id, ip: where };
  try {
    const data = await operatorCall("POST", "/api/cameras", body);
    say(`${data.id}: ${data.result} (${data.stream_url})`, true);
    $("add-id").value = "";
    $("add-where").value = "";
    loadState();
  } catch (error) {
    say("not added: " + error.message, false);
  }
}

async function removeCamera(id) {
  if (!operatorToken()) {
    $("manage").showModal();
    say("enter the operator token first", false);
    return;
  }
  if (!confirm(`Remove camera ${id}?`)) return;
  try {
    await operatorCall("DELETE", "/api/cameras/" + encodeURIComponent(id));
    loadState();
  } catch (error) {
    alert("not removed: " + error.message);
  }
}

function setupManage() {
  const token = $("op-token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  const mark = () => document.body.classList.toggle("managing", token.value.trim() !== "");
  token.addEventListener("input", () => {
    sessionStorage.setItem(TOKEN_KEY, token.value.trim());
    mark();
  });
  mark();
  $("manage-button").addEventListener("click", () => $("manage").showModal());
  $("add-form").addEventListener("submit", addCamera);
}

// -- start ------------------------------------------------------------------------------------

function start() {
  if (single) {
    document.body.classList.add("single");
    $("title-sub").textContent = single;
    const back = el("a", "", "← all cameras");
    back.href = "/";
    $("title-sub").after(back);
    document.title = `LIQUID EDGE · ${single}`;
  }
  setupManage();
  setInterval(() => ($("clock").textContent = clockText(new Date())), 1000);
  $("clock").textContent = clockText(new Date());
  setInterval(flushDetections, 300);
  window.addEventListener("resize", () => {
    layoutGrid();
    renderCharts();
  });
  loadState().catch(() => setPill("live-pill", "no state", "bad")).finally(connect);
}

start();
