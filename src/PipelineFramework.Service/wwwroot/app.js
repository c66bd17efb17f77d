// The inspection page: plain DOM, no framework, nothing fetched from outside this service (it works offline).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { selected: null, canWrite: false, keyRequired: false, explaining: new Set(), listSignature: "" };

function key() { return sessionStorage.getItem("pf-api-key") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (key()) headers["X-Api-Key"] = key();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body && body.detail ? body.detail : `${response.status} ${response.statusText}`);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fmt(x, digits = 3) { return x === null || x === undefined ? "" : Number(x).toFixed(digits); }

async function refreshAccess() {
  const access = await api("/v1/access");
  state.keyRequired = access.keyRequired;
  state.canWrite = access.canWrite;
  $("access-state").textContent = access.canWrite ? "" : "read-only (an API key is needed to explain or ask)";
  $("api-key").hidden = !access.keyRequired || access.canWrite;
  $("ask-button").disabled = !access.canWrite;
  $("question").disabled = !access.canWrite;
}

$("api-key").addEventListener("change", async (e) => {
  sessionStorage.setItem("pf-api-key", e.target.value);
  await refreshAccess();
});

async function refreshCategories() {
  const models = await api("/v1/models");
  const select = $("filter-category");
  const current = select.value;
  const have = new Set([...select.options].map((o) => o.value));
  for (const m of models.models) {
    if (have.has(m.category)) continue;
    const option = document.createElement("option");
    option.value = option.textContent = m.category;
    select.appendChild(option);
  }
  select.value = current;
  return models;
}

async function refreshParts() {
  const query = new URLSearchParams({ limit: "100" });
  if ($("filter-category").value) query.set("category", $("filter-category").value);
  if ($("filter-verdict").value) query.set("verdict", $("filter-verdict").value);
  const list = (await api("/v1/inspections?" + query)).inspections;
  const signature = query + list.map((p) => p.id).join(",");
  if (signature !== state.listSignature) {
    state.listSignature = signature;
    const body = $("parts").querySelector("tbody");
    body.replaceChildren();
    for (const p of list) {
      const row = document.createElement("tr");
      row.dataset.id = p.id;
      cell(row, p.receivedUtc.replace("T", " ").slice(0, 19));
      cell(row, p.category);
      cell(row, p.verdict, p.verdict);
      if (p.inputWarning) row.title = p.inputWarning;
      cell(row, fmt(p.score));
      cell(row, `${p.modelId.slice(0, 8)} v${p.modelVersion}`);
      row.addEventListener("click", () => { location.hash = "#/parts/" + p.id; });
      body.appendChild(row);
    }
  }
  // With nothing chosen, the newest part is shown: a reject arriving is on screen at once.
  const id = state.selected || (list[0] && list[0].id);
  for (const row of $("parts").querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
  if (id) await showPart(id);
}

async function showPart(id) {
  const p = await api("/v1/inspections/" + encodeURIComponent(id));
  const detail = $("detail");
  const rendered = detail.dataset.id === id && detail.dataset.explanations === String(p.explanations.length);
  if (!rendered) {
    detail.hidden = false;
    detail.dataset.id = id;
    detail.dataset.explanations = String(p.explanations.length);
    $("detail-title").textContent = `${p.category} · ${p.verdict} · ${p.receivedUtc.replace("T", " ").slice(0, 19)} UTC`;
    $("detail-title").className = p.verdict;
    $("detail-facts").textContent =
      `score ${fmt(p.score)} (0.5 = threshold) · raw ${fmt(p.rawScore, 4)} against threshold ${fmt(p.threshold, 4)} · model ${p.modelId} v${p.modelVersion} · id ${p.id}`;
    $("detail-warning").textContent = p.inputWarning ? "Unlike the fitted images: " + p.inputWarning : "";
    $("detail-warning").hidden = !p.inputWarning;
    const img = $("detail-overlay");
    if (p.links.overlay) {
      if (img.dataset.src !== p.links.overlay) { img.src = p.links.overlay; img.dataset.src = p.links.overlay; }
      img.hidden = false;
      $("detail-image-note").textContent = "heat map (blue to red) over the part; a link to the image as sent: ";
      const a = document.createElement("a"); a.href = p.links.image; a.textContent = "original"; $("detail-image-note").appendChild(a);
    } else {
      img.hidden = true; img.removeAttribute("src"); img.dataset.src = "";
      $("detail-image-note").textContent = p.verdict === "OK" ? "Images are kept for rejects only." : "The image was removed by the retention limit.";
    }
    const regions = $("detail-regions").querySelector("tbody");
    regions.replaceChildren();
    p.regions.forEach((r, i) => {
      const row = document.createElement("tr");
      const b = r.imageBox;
      cell(row, String(i + 1)); cell(row, `${b.x}, ${b.y}, ${b.width}, ${b.height}`); cell(row, String(r.imageArea));
      cell(row, fmt(r.peakScore, 4)); cell(row, fmt(r.meanScore, 4));
      regions.appendChild(row);
    });
    if (p.regions.length === 0) { const row = document.createElement("tr"); cell(row, "no region above the threshold", "muted").colSpan = 5; regions.appendChild(row); }
    const rules = $("detail-rules").querySelector("tbody");
    rules.replaceChildren();
    for (const r of p.rules) {
      const row = document.createElement("tr");
      cell(row, r.ruleId + (r.component ? ` (${r.component})` : ""));
      cell(row, r.passed ? "passed" : "FAILED", r.passed ? "OK" : "ANOMALY");
      cell(row, fmt(r.measured)); cell(row, [r.expectedMin, r.expectedMax].map((v) => v === null || v === undefined ? "…" : fmt(v)).join(" to "));
      cell(row, r.detail || "");
      rules.appendChild(row);
    }
    if (p.rules.length === 0) { const row = document.createElement("tr"); cell(row, "the pipeline has no rules", "muted").colSpan = 5; rules.appendChild(row); }
    const box = $("explanations");
    box.replaceChildren();
    for (const e of p.explanations) {
      const div = document.createElement("div");
      div.className = "explanation";
      if (e.question) { const q = document.createElement("p"); q.className = "question"; q.textContent = "Q: " + e.question; div.appendChild(q); }
      // A note (e.g. the question was not answered; the offline explanation stands in) comes before the answer it qualifies.
      for (const n of e.notes || []) { const p = document.createElement("p"); p.className = "warning note"; p.textContent = n; div.appendChild(p); }
      const s = document.createElement("p"); s.className = "summary"; s.textContent = e.summary; div.appendChild(s);
      const ul = document.createElement("ul");
      for (const reason of e.reasons) { const li = document.createElement("li"); li.textContent = reason; ul.appendChild(li); }
      div.appendChild(ul);
      const src = document.createElement("p"); src.className = "muted"; src.textContent = `${e.verdict} · by ${e.source} · ${e.askedUtc.replace("T", " ").slice(0, 19)} UTC`; div.appendChild(src);
      box.appendChild(div);
    }
    if (p.explanations.length === 0) {
      const note = document.createElement("p"); note.className = "muted";
      note.textContent = state.canWrite ? "asking the explainer…" : "No explanation yet (an API key is needed to ask for one).";
      box.appendChild(note);
    }
  }
  // A reject opened without an explanation gets one, once, when this client may ask.
  if (p.explanations.length === 0 && p.verdict === "ANOMALY" && state.canWrite && !state.explaining.has(id)) {
    state.explaining.add(id);
    try { await api("/v1/explain/" + encodeURIComponent(id), { method: "POST" }); await showPart(id); }
    catch (e) { $("explanations").textContent = "The explainer failed: " + e.message; }
  }
}

$("ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("detail").dataset.id;
  const question = $("question").value.trim();
  if (!id || !question) return;
  $("ask-button").disabled = true;
  try {
    await api("/v1/explain/" + encodeURIComponent(id), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ question }) });
    $("question").value = "";
    await showPart(id);
  } catch (err) { alert(err.message); }
  finally { $("ask-button").disabled = !state.canWrite; }
});

async function refreshModels(category) {
  const models = await refreshCategories();
  const body = $("models").querySelector("tbody");
  body.replaceChildren();
  for (const m of models.models) {
    const row = document.createElement("tr");
    const name = cell(row, "");
    const a = document.createElement("a"); a.href = "#/models/" + m.category; a.textContent = m.category; name.appendChild(a);
    cell(row, m.modelId); cell(row, "v" + m.version); cell(row, m.pipeline); cell(row, fmt(m.threshold, 4));
    cell(row, m.loadedUtc.replace("T", " ").slice(0, 19)); cell(row, m.problem ? "newer file refused: " + m.problem : "serving");
    body.appendChild(row);
  }
  for (const r of models.refused.filter((r) => !models.models.some((m) => m.category === r.category))) {
    const row = document.createElement("tr");
    cell(row, r.category); cell(row, "", "muted"); cell(row, ""); cell(row, ""); cell(row, ""); cell(row, ""); cell(row, "refused: " + r.message, "ANOMALY");
    body.appendChild(row);
  }
  const detail = $("model-detail");
  detail.hidden = !category;
  if (!category) return;
  const m = await api("/v1/models/" + encodeURIComponent(category));
  $("model-title").textContent = `${category}: model ${m.summary.modelId} v${m.summary.version}`;
  $("model-manifest").textContent = JSON.stringify(m.manifest, null, 2);
  const frame = $("model-report");
  if (m.summary.report) {
    frame.hidden = false;
    if (frame.getAttribute("src") !== m.summary.report) frame.src = m.summary.report;
    $("model-report-note").textContent = "Evaluation report:";
  } else {
    frame.hidden = true;
    $("model-report-note").textContent = `No evaluation report kept: put the report.html of \`pf evaluate\` beside the model as ${category}.report.html.`;
  }
}

async function route() {
  const [, view, arg] = (location.hash || "#/parts").split("/");
  const parts = view !== "models";
  $("parts-view").hidden = !parts;
  $("models-view").hidden = parts;
  state.selected = parts && arg ? decodeURIComponent(arg) : null;
  try {
    if (parts) await refreshParts(); else await refreshModels(arg ? decodeURIComponent(arg) : null);
    $("live").textContent = "live · updated " + new Date().toISOString().slice(11, 19) + " UTC";
  } catch (e) { $("live").textContent = "cannot reach the service: " + e.message; }
}

for (const id of ["filter-category", "filter-verdict"]) $(id).addEventListener("change", () => { state.listSignature = ""; route(); });
window.addEventListener("hashchange", route);

(async () => {
  try { await refreshAccess(); await refreshCategories(); } catch (e) { $("live").textContent = "cannot reach the service: " + e.message; }
  await route();
  setInterval(() => { if ($("models-view").hidden) route(); }, 2000);
  document.body.dataset.ready = "true";
})();
