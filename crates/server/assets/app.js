// The berth dashboard: the main screen, a service's detail with live logs, and Configure.
// Plain JavaScript, no framework, no CDN: everything comes from this server.
"use strict";

const MAX_LINES = 5000; // bounded memory: older lines leave the view
let env = null;
let current = null; // the service shown in detail
let logSource = null;
let logLines = [];
let following = true;
let pending = [];
let lastMessage = ""; // what the last action did, shown until something else happens

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
};

async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function age(started) {
  if (!started) return "";
  const s = Math.max(0, Math.floor(Date.now() / 1000 - started));
  if (s < 120) return s + "s";
  if (s < 7200) return Math.floor(s / 60) + "m";
  return Math.floor(s / 3600) + "h";
}

function statusCell(svc) {
  return el("span", { class: "status health-" + svc.health, title: svc.health },
    el("span", { class: "icon" }), svc.status);
}

function renderList() {
  const body = $("services").tBodies[0];
  body.replaceChildren(...env.services.map((s) => {
    const sourceable = s.containers.some((c) => c.source_available);
    return el("tr", { class: "svc", "data-name": s.name },
      el("td", {}, el("a", { href: "#/service/" + encodeURIComponent(s.name) }, s.name)),
      el("td", { class: "muted" }, s.description || ""),
      el("td", { class: "counts" }, `${s.desired} / ${s.available}`),
      el("td", {}, statusCell(s)),
      el("td", {}, el("span", { class: "mode " + s.mode }, s.mode)),
      el("td", { class: "spark" }, window.berthGraphs ? berthGraphs.sparkline(s.name) : ""),
      el("td", {}, sourceable
        ? el("a", { href: "#/service/" + encodeURIComponent(s.name) + "/configure" }, "Configure")
        : el("span", { class: "muted" }, "—")));
  }));
  $("ingress").textContent = [env.ingress ? "Ingress: " + env.ingress : "", env.metrics_unavailable || ""]
    .filter(Boolean).join(" · ");
}

function renderDetail() {
  const s = env.services.find((x) => x.name === current);
  if (!s) {
    $("d-name").textContent = current + " (gone)";
    return;
  }
  $("d-name").textContent = s.name;
  $("d-desc").textContent = (s.kind || "") + (s.description ? " — " + s.description : "");
  $("d-status").replaceChildren(statusCell(s), ` · desired ${s.desired}, available ${s.available}`);
  if (document.activeElement !== $("d-replicas")) $("d-replicas").value = s.desired;
  $("d-shell").textContent = s.shell || "";
  $("d-replicas-table").tBodies[0].replaceChildren(...s.replicas.map((r) =>
    el("tr", {},
      el("td", {}, r.name),
      el("td", {}, r.container),
      el("td", { title: r.message || "" }, r.status + (r.message ? " — " + r.message : "")),
      el("td", {}, r.ready ? "yes" : "no"),
      el("td", {}, r.image || ""),
      el("td", {}, r.restarts),
      el("td", {}, age(r.started)))));
  $("d-containers").replaceChildren(...s.containers.map((c) => {
    const modes = c.modes && c.modes.length ? c.modes : [c.mode];
    const choose = el("select", { disabled: modes.length < 2 },
      ...modes.map((m) => el("option", { value: m, selected: m === c.mode }, m)));
    choose.setAttribute("data-container", c.name);
    choose.addEventListener("change", () => setMode(s.name, c.name, choose.value, choose));
    const parts = [
      el("label", {}, el("strong", {}, c.name), " runs from ", choose),
    ];
    if (c.help) parts.push(el("p", { class: "help" }, c.help));
    if (!modes.includes("source")) parts.push(el("p", { class: "help" }, "No source settings in berth.dev/run."));
    if (c.mode === "source") {
      const b = el("button", { type: "button" }, "Reload source");
      b.setAttribute("data-reload", c.name);
      b.addEventListener("click", () => act(b, () => post(`/api/v1/services/${encodeURIComponent(s.name)}/restart`)));
      parts.push(el("div", { class: "row" }, b));
    }
    return el("div", { class: "container" }, ...parts);
  }));
}

// ---- Reload: what would change, applied on confirmation ----

function diffNode(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of text.split("\n")) {
    const kind = line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(el("span", { class: kind }, line + "\n"));
  }
  return pre;
}

async function showPreview() {
  const r = await fetch("/api/v1/redeploy/preview");
  const p = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(p.error || r.statusText);
  const n = p.changes.length;
  $("preview-title").textContent = n
    ? `Reload would change ${n} object${n === 1 ? "" : "s"}`
    : "Reload would change nothing";
  $("preview-between").textContent = "— between " + p.between;
  $("preview-apply").textContent = n ? "Apply" : "Apply anyway";
  $("preview-changes").tBodies[0].replaceChildren(...p.changes.map((c) => {
    const details = el("details", { open: n <= 3 }, el("summary", {}, "diff"), diffNode(c.diff));
    return el("tr", { "data-object": c.object },
      el("td", {}, c.object),
      el("td", { class: "change " + c.change }, c.change),
      el("td", {}, details));
  }));
  $("preview-changes").hidden = !n;
  $("preview").hidden = false;
}

// ---- events: what happened, newest first ----

let eventsTimer = null;

function eventRow(e) {
  const message = e.message + (e.count > 1 ? ` (×${e.count})` : "");
  return el("tr", { class: e.warning ? "warning" : "" },
    el("td", {}, new Date(e.tsMs).toLocaleTimeString()),
    el("td", {}, e.replica || e.service || "environment"),
    el("td", {}, e.reason),
    el("td", {}, message));
}

async function refreshEvents() {
  const service = current;
  const url = service ? `/api/v1/timeline?service=${encodeURIComponent(service)}` : "/api/v1/timeline";
  try {
    const r = await fetch(url);
    if (!r.ok || service !== current) return;
    const rows = (await r.json()).slice(-50).reverse().map(eventRow);
    $(service ? "d-events" : "events").tBodies[0].replaceChildren(...rows);
  } catch {
    // The next change asks again.
  }
}

// At most twice a second, however often the environment changes.
function scheduleEvents() {
  if (eventsTimer) return;
  eventsTimer = setTimeout(() => { eventsTimer = null; refreshEvents(); }, 500);
}

function render() {
  if (!env) return;
  scheduleEvents();
  if (window.berthGraphs) berthGraphs.schedule(current, env);
  const chart = env.chart
    ? ` · release ${env.chart.release} (chart ${env.chart.name} ${env.chart.version})`
    : "";
  $("target").textContent = `${env.backend} · ${env.target}${chart}`;
  $("busy").textContent = env.busy || lastMessage;
  $("error").hidden = !env.last_error;
  $("error").textContent = env.last_error || "";
  renderSync();
  renderList();
  if (current) renderDetail();
}

function renderSync() {
  const s = env.sync;
  $("sync").hidden = !s;
  if (!s) return;
  const parts = ["sync"];
  if (s.last_sync) parts.push("last " + new Date(s.last_sync).toLocaleTimeString());
  if (s.revision) parts.push("revision " + s.revision);
  if (s.commit) parts.push("commit " + s.commit.slice(0, 12));
  parts.push(s.paused ? `paused (${s.paused_reason || "by hand"})` : (s.last_result || "starting"));
  if (s.pending) parts.push(`${s.pending} changes pending (drift)`);
  if (s.error) parts.push("error: " + s.error.split("\n")[0]);
  $("sync-text").textContent = parts.join(" · ");
  $("sync").className = "syncbar" + (s.paused ? " paused" : "") + (s.error ? " failing" : "");
  $("sync-toggle").textContent = s.paused ? "Resume sync" : "Pause sync";
}

async function act(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

function setMode(service, container, mode, toggle) {
  act(toggle, () => post(`/api/v1/services/${encodeURIComponent(service)}/mode`, { container, mode }));
}

function connect() {
  const events = new EventSource("/api/v1/events");
  events.addEventListener("environment", (e) => {
    env = JSON.parse(e.data);
    $("conn").textContent = "live";
    $("conn").className = "pill live";
    render();
  });
  events.onerror = () => {
    $("conn").textContent = "reconnecting…";
    $("conn").className = "pill";
  };
}

// ---- logs ----

function lineNode(l) {
  const node = el("div", { class: "line " + l.stream },
    el("span", { class: "replica" }, l.replica + " "), l.text);
  node.hidden = !matches(l);
  return node;
}

function matches(l) {
  const f = $("l-filter").value;
  return !f || l.text.includes(f) || l.replica.includes(f);
}

function flush() {
  if (!pending.length) return;
  const box = $("logs");
  const frag = document.createDocumentFragment();
  for (const l of pending) frag.append(lineNode(l));
  pending = [];
  box.append(frag);
  while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
  if (logLines.length > MAX_LINES) logLines.splice(0, logLines.length - MAX_LINES);
  $("l-count").textContent = `${box.childElementCount} lines`;
  if (following) box.scrollTop = box.scrollHeight;
}

function openLogs(name) {
  closeLogs();
  $("logs").replaceChildren();
  logLines = [];
  logSource = new EventSource(`/api/v1/services/${encodeURIComponent(name)}/logs?follow=true&tail=1000`);
  logSource.addEventListener("line", (e) => {
    const l = JSON.parse(e.data);
    logLines.push(l);
    if (following) {
      pending.push(l);
      requestAnimationFrame(flush);
    }
  });
  logSource.addEventListener("dropped", (e) => {
    pending.push({ replica: "berth", stream: "stderr", text: `… ${e.data} lines dropped (this browser fell behind)` });
    requestAnimationFrame(flush);
  });
}

function closeLogs() {
  if (logSource) logSource.close();
  logSource = null;
}

function refilter() {
  for (const node of $("logs").children) {
    const text = node.textContent;
    const f = $("l-filter").value;
    node.hidden = !!f && !text.includes(f);
  }
}

// ---- navigation and buttons ----

function route() {
  const m = location.hash.match(/^#\/service\/([^/]+)(\/configure)?/);
  const name = m ? decodeURIComponent(m[1]) : null;
  $("list").hidden = !!name;
  $("detail").hidden = !name;
  if (name !== current) {
    current = name;
    if (name) openLogs(name); else closeLogs();
  }
  render();
  if (m && m[2]) $("configure").scrollIntoView();
}

window.addEventListener("DOMContentLoaded", () => {
  $("reload").addEventListener("click", () => act($("reload"), showPreview));
  $("preview-cancel").addEventListener("click", () => { $("preview").hidden = true; });
  $("preview-apply").addEventListener("click", () => {
    lastMessage = "redeploying…";
    $("busy").textContent = lastMessage;
    act($("preview-apply"), async () => {
      const r = await post("/api/v1/redeploy");
      $("preview").hidden = true;
      lastMessage = "redeployed: " + r.message;
      $("busy").textContent = lastMessage;
    });
  });
  $("sync-toggle").addEventListener("click", () =>
    act($("sync-toggle"), () => post(env.sync.paused ? "/api/v1/sync/resume" : "/api/v1/sync/pause")));
  $("d-restart").addEventListener("click", () =>
    act($("d-restart"), () => post(`/api/v1/services/${encodeURIComponent(current)}/restart`)));
  $("d-scale").addEventListener("click", () =>
    act($("d-scale"), () => post(`/api/v1/services/${encodeURIComponent(current)}/scale`, { replicas: Number($("d-replicas").value) })));
  $("d-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("d-shell").textContent);
      $("d-copy").textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("d-shell"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      $("d-copy").textContent = "Selected";
    }
    setTimeout(() => ($("d-copy").textContent = "Copy"), 1500);
  });
  $("l-follow").addEventListener("click", () => {
    following = !following;
    $("l-follow").setAttribute("aria-pressed", String(following));
    $("l-follow").textContent = following ? "Following" : "Paused";
    if (following) {
      // Catch up on what arrived while paused.
      $("logs").replaceChildren();
      pending = logLines.slice(-MAX_LINES);
      requestAnimationFrame(flush);
    }
  });
  $("l-filter").addEventListener("input", refilter);
  $("l-clear").addEventListener("click", () => { $("logs").replaceChildren(); logLines = []; });
  $("l-download").addEventListener("click", () => {
    const text = logLines.map((l) => `${new Date(l.ts_ms).toISOString()} ${l.replica} ${l.stream} ${l.text}`).join("\n") + "\n";
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain" })), download: `${current}.log` });
    document.body.append(a);
    a.click();
    a.remove();
  });
  window.addEventListener("hashchange", route);
  connect();
  route();
});
