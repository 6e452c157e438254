// seqlab serve page: pick a model, the page shows the controls of its task. Plain DOM + SVG, no libraries.
// Text from the user or the model is only ever set with textContent (never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let models = {};
let current = null;
let streamAbort = null;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({ error: { message: `HTTP ${res.status}` } }));
  if (!res.ok) throw new Error(data.error ? `${data.error.type || "error"}: ${data.error.message}` : `HTTP ${res.status}`);
  return data;
}

async function run(fn) {
  showError("");
  try { await fn(); } catch (e) { showError(e.message); }
}

// ---- models
async function loadModels() {
  const data = await api("/v1/models");
  const select = $("model");
  select.replaceChildren();
  for (const m of data.models) {
    models[m.name] = m;
    select.append(el("option", { value: m.name }, `${m.name} (${m.task}, ${m.model})`));
  }
  const wanted = new URLSearchParams(location.search).get("model");
  if (wanted && models[wanted]) select.value = wanted;
  pick(select.value);
}

function pick(name) {
  current = models[name];
  showError("");
  document.querySelectorAll(".task").forEach((s) => { s.hidden = true; });
  if (!current) return;
  $(`task-${current.task}`).hidden = false;
  const m = current;
  const bits = [`${m.parameters.toLocaleString()} parameters`];
  if (m.tokenizer) bits.push(`tokenizer ${typeof m.tokenizer === "string" ? m.tokenizer : `${m.tokenizer.source} → ${m.tokenizer.target}`}`);
  for (const [k, v] of Object.entries(m.metrics || {})) if (k.startsWith("best_") && k !== "best_step") bits.push(`${k.slice(5)} ${(+v).toFixed(4)}`);
  $("model-info").textContent = bits.join(" · ");
  if (m.task === "forecast") $("fc-horizon").value = m.horizon || 24;
  if (m.task === "seq2seq") $("s2s-attn").disabled = !m.attention;
  document.body.dataset.task = m.task;
}

// ---- classify: one bar per label
function bars(probs) {
  const box = el("div", { class: "bars" });
  for (const [label, p] of Object.entries(probs)) {
    const row = el("div", { class: "bar" });
    const track = el("div", { class: "track" });
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    row.append(el("span", { class: "name" }, label), track, el("span", { class: "value" }, p.toFixed(3)));
    box.append(row);
  }
  return box;
}

async function classify() {
  const texts = $("clf-text").value.split("\n").filter((t) => t.trim());
  const out = $("clf-out");
  out.replaceChildren();
  if (!texts.length) throw new Error("type a text to classify");
  const data = await api(`/v1/models/${current.name}/predict`, { texts });
  data.results.forEach((r, i) => {
    const div = el("div", { class: "result" });
    div.append(el("div", { class: "text" }, texts[i] + (r.truncated ? "  (truncated to the model's length)" : "")));
    div.append(el("div", { class: "label" }, r.label));
    div.append(bars(r.probs));
    out.append(div);
  });
}

// ---- seq2seq: translation, n-best, attention heatmap
async function translate() {
  const text = $("s2s-text").value.trim();
  if (!text) throw new Error("type a text to translate");
  const beam = +$("s2s-beam").value || 1;
  const body = { text, beam, n_best: Math.min(+$("s2s-nbest").value || 1, beam) };
  if ($("s2s-attn").checked && !$("s2s-attn").disabled) body.attention = true;
  const data = await api(`/v1/models/${current.name}/predict`, body);
  const r = data.results[0];
  $("s2s-translation").textContent = r.translation;
  const list = $("s2s-nbest-list");
  list.replaceChildren();
  for (const h of r.n_best || []) list.append(el("li", {}, `${h.translation}   (${h.score.toFixed(3)})`));
  $("s2s-heat").replaceChildren();
  if (r.attention && r.attention.weights) $("s2s-heat").append(heatmap(r.attention));
}

function heatmap({ source, target, weights }) {
  const cell = 28, left = 90, top = 90;
  const W = left + source.length * cell + 10, H = top + target.length * cell + 10;
  const s = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "attention heatmap" });
  s.append(svg("text", { x: left, y: 14, class: "axis-title" }, "source →"));
  source.forEach((tok, j) => {
    const x = left + j * cell + cell / 2;
    s.append(svg("text", { x, y: top - 6, transform: `rotate(-60 ${x} ${top - 6})`, class: "src-token" }, tok));
  });
  target.forEach((tok, i) => {
    s.append(svg("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end", class: "tgt-token" }, tok));
  });
  const tip = $("tooltip");
  weights.forEach((row, i) => row.forEach((w, j) => {
    const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, w))));
    const r = svg("rect", { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
      fill: `rgb(${shade},${shade},255)`, class: "cell", "data-row": i, "data-col": j, "data-value": w });
    const label = `${target[i]} ← ${source[j]}: ${w.toFixed(3)}`;
    r.append(svg("title", {}, label));
    r.addEventListener("mousemove", (e) => {
      tip.textContent = label; tip.hidden = false;
      tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`;
    });
    r.addEventListener("mouseleave", () => { tip.hidden = true; });
    s.append(r);
  }));
  return s;
}

// ---- lm: streamed generation over Server-Sent Events read with fetch
function sliders() {
  document.querySelectorAll(".sliders input").forEach((inp) => {
    const out = inp.parentElement.querySelector("output");
    const show = () => { out.textContent = inp.value; };
    inp.addEventListener("input", show);
    show();
  });
}

function unescapeStop(s) {
  return s.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}

async function generate() {
  const prompt = $("lm-prompt").value;
  const body = {
    prompt, stream: true, max_new_tokens: +$("lm-max").value, greedy: $("lm-greedy").checked,
    temperature: +$("lm-temp").value, top_k: +$("lm-topk").value, top_p: +$("lm-topp").value,
    repetition_penalty: +$("lm-rep").value,
  };
  if ($("lm-seed").value !== "") body.seed = +$("lm-seed").value;
  if ($("lm-stop").value) body.stop = unescapeStop($("lm-stop").value);
  const out = $("lm-out").querySelector(".generated");
  $("lm-out").querySelector(".prompt").textContent = prompt;
  out.textContent = "";
  out.dataset.pieces = "0";  // how many streamed pieces were appended (read by the browser test)
  $("lm-stats").textContent = "";
  streamAbort = new AbortController();
  $("lm-run").disabled = true; $("lm-cancel").disabled = false;
  try {
    const res = await fetch(`/v1/models/${current.name}/generate`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: streamAbort.signal,
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error(data.error ? `${data.error.type}: ${data.error.message}` : `HTTP ${res.status}`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let k;
      while ((k = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, k); buf = buf.slice(k + 2);
        let event = "message", data = "";
        for (const line of raw.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const msg = JSON.parse(data);
        if (event === "done") {
          const g = msg.generations[0];
          $("lm-stats").textContent = `${g.new_tokens} tokens · ${msg.tokens_per_s} tokens/s · stop: ${g.stop_reason} · ${msg.precision}`;
        } else if (event === "error") {
          throw new Error(`${msg.error.type}: ${msg.error.message}`);
        } else if (msg.row === 0) {
          out.textContent += msg.text;
          out.dataset.pieces = String(+out.dataset.pieces + 1);
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") throw e;
    $("lm-stats").textContent = "stopped";
  } finally {
    $("lm-run").disabled = false; $("lm-cancel").disabled = true;
    streamAbort = null;
  }
}

// ---- forecast: history, forecast and baselines as one SVG line plot
async function forecast() {
  const csv = $("fc-csv").value;
  const horizon = +$("fc-horizon").value || current.horizon || 24;
  const body = { horizon, history: Math.max(48, 4 * horizon) };
  if (csv.trim()) body.csv = csv;  // otherwise the server forecasts after the run's own data, if it can read it
  const data = await api(`/v1/models/${current.name}/predict`, body);
  $("fc-plot").replaceChildren(linePlot(data));
}

function linePlot(data) {
  const target = Object.keys(data.forecast)[0];
  const hist = (data.history.values[target] || []).map((v, i) => [i, v]).filter(([, v]) => v !== null);
  const n = data.history.times.length;
  const fc = data.forecast[target].map((v, i) => [n + i, v]);
  const series = [["history", hist, "#374151"], ["forecast", fc, "#2563eb"]];
  for (const [name, colour] of [["naive", "#9ca3af"], ["seasonal_naive", "#f59e0b"]]) {
    const b = data.baselines && data.baselines[name] && data.baselines[name][target];
    if (b) series.push([name, b.map((v, i) => [n + i, v]), colour]);
  }
  const all = series.flatMap(([, pts]) => pts);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const W = 760, H = 300, L = 56, R = 12, T = 24, B = 40;
  const sx = (x) => L + ((x - x0) / Math.max(1e-9, x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / Math.max(1e-9, y1 - y0)) * (H - T - B);
  const s = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "forecast plot" });
  s.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9ca3af" }));
  s.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#9ca3af" }));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    s.append(svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" }, y.toPrecision(3)));
  }
  const times = [...data.history.times, ...data.times];
  s.append(svg("text", { x: sx(x0), y: H - B + 16, "text-anchor": "start" }, times[x0] || ""));
  s.append(svg("text", { x: sx(x1), y: H - B + 16, "text-anchor": "end" }, times[x1] || ""));
  s.append(svg("line", { x1: sx(n - 0.5), y1: T, x2: sx(n - 0.5), y2: H - B, stroke: "#d1d5db", "stroke-dasharray": "4 3" }));
  s.append(svg("text", { x: sx(n - 0.5) - 4, y: T + 12, "text-anchor": "end", class: "origin" }, `origin ${data.origin}`));
  series.forEach(([name, pts, colour], k) => {
    s.append(svg("polyline", { points: pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": name === "forecast" ? 2.5 : 1.5, class: `series ${name}`,
      "stroke-dasharray": name.includes("naive") ? "5 3" : "" }));
    s.append(svg("text", { x: L + 10 + k * 130, y: 14, fill: colour }, name.replace("_", " ")));
  });
  return s;
}

async function readFile() {
  const f = $("fc-file").files[0];
  if (f) $("fc-csv").value = await f.text();
}

// ---- mlm
async function fill() {
  const text = $("mlm-text").value;
  if (!text.trim()) throw new Error("type a sentence with [MASK]");
  const data = await api(`/v1/models/${current.name}/predict`, { text });
  const out = $("mlm-out");
  out.replaceChildren();
  data.results[0].masks.forEach((cands, i) => {
    const div = el("div", { class: "result" });
    div.append(el("div", { class: "label" }, `[MASK] ${i + 1}`));
    const row = el("div", { class: "cands" });
    for (const c of cands) row.append(el("span", { class: "cand" }, `${c.token} ${c.prob.toFixed(3)}`));
    div.append(row);
    out.append(div);
  });
}

window.addEventListener("DOMContentLoaded", () => {
  $("model").addEventListener("change", (e) => pick(e.target.value));
  $("clf-run").addEventListener("click", () => run(classify));
  $("s2s-run").addEventListener("click", () => run(translate));
  $("lm-run").addEventListener("click", () => run(generate));
  $("lm-cancel").addEventListener("click", () => { if (streamAbort) streamAbort.abort(); });
  $("fc-run").addEventListener("click", () => run(forecast));
  $("fc-file").addEventListener("change", () => run(readFile));
  $("mlm-run").addEventListener("click", () => run(fill));
  sliders();
  run(loadModels);
});
