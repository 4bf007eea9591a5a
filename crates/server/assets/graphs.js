// The dashboard's graphs, drawn by uPlot (embedded, MIT): a sparkline per service in the main
// table and the service page's charts, from /api/v1/history. Polled at the sampling interval
// while the page is visible; nothing is drawn by hand.
"use strict";

window.berthGraphs = (() => {
  const SPARK_POINTS = 60; // 5 minutes at the default 5 s
  const sparks = new Map(); // service -> { box, text, plot }
  let charts = null; // { service, plots: Map(key -> uPlot), note }
  let timer = null;
  let interval = 2000;
  let lastEnv = null;
  let shown; // the service page shown, null for the main table; undefined before the first render

  const mb = (b) => (b == null ? null : b / (1024 * 1024));
  const num = (v, d = 1) => (v == null ? "–" : v.toFixed(d));
  const columns = (points, ...fields) =>
    [points.map((p) => p.t / 1000), ...fields.map((f) => points.map((p) => f(p) ?? null))];

  function describe(p) {
    if (!p) return "no sample yet";
    const parts = [];
    if (p.memory != null) parts.push(num(mb(p.memory)) + " MB");
    if (p.cpu != null) parts.push(num(p.cpu * 100) + "% CPU");
    if (p.requests != null && p.requests > 0) parts.push(num(p.requests) + " req/s");
    if (p.restarts) parts.push(p.restarts + (p.restarts === 1 ? " restart" : " restarts"));
    return parts.join(" · ") || `${p.ready} ready`;
  }

  // A row's sparkline (memory, and CPU on its own scale), kept across re-renders of the table.
  function sparkline(name) {
    let s = sparks.get(name);
    if (!s) {
      const text = document.createElement("span");
      text.className = "spark-text";
      text.textContent = "no sample yet";
      const box = document.createElement("span");
      box.className = "spark-box";
      box.dataset.service = name;
      box.append(text);
      s = { box, text, plot: null };
      sparks.set(name, s);
    }
    return s.box;
  }

  function sparkPlot(box, data) {
    return new uPlot({
      width: 120, height: 28, pxAlign: false, cursor: { show: false }, legend: { show: false },
      select: { show: false },
      scales: { x: { time: false }, mem: { auto: true }, cpu: { auto: true } },
      axes: [{ show: false }, { show: false, scale: "mem" }],
      series: [{}, { scale: "mem", stroke: "#2563eb", width: 1.5, spanGaps: true },
        { scale: "cpu", stroke: "#b45309", width: 1, spanGaps: true }],
    }, data, box);
  }

  function drawSparks(services) {
    for (const [name, points] of Object.entries(services)) {
      const s = sparks.get(name);
      if (!s) continue;
      s.text.textContent = describe(points[points.length - 1]);
      // Without CPU and memory (a cluster without a metrics API): ready replicas and restarts.
      const usage = points.some((p) => p.memory != null || p.cpu != null);
      s.box.title = usage ? "memory (blue) and CPU (orange), last 5 minutes"
        : "ready replicas (blue) and restarts (orange), last 5 minutes";
      const data = usage ? columns(points, (p) => mb(p.memory), (p) => p.cpu)
        : columns(points, (p) => p.ready, (p) => p.restarts);
      if (!s.plot) s.plot = sparkPlot(s.box, data);
      else s.plot.setData(data);
    }
  }

  const CHARTS = [
    { key: "cpu", title: "CPU (% of a core)", series: [["CPU", "#b45309", (p) => (p.cpu == null ? null : p.cpu * 100)]], usage: true },
    { key: "memory", title: "Memory (MB)", series: [["memory", "#2563eb", (p) => mb(p.memory)]], usage: true },
    { key: "restarts", title: "Restarts", series: [["restarts", "#b91c1c", (p) => p.restarts], ["ready", "#15803d", (p) => p.ready]] },
    { key: "requests", title: "Requests/s and errors (%)", series: [["req/s", "#2563eb", (p) => p.requests], ["errors %", "#b91c1c", (p) => (p.errors == null ? null : p.errors * 100)]], traffic: true },
    { key: "latency", title: "Latency (ms)", series: [["p50", "#15803d", (p) => p.p50], ["p99", "#b45309", (p) => p.p99]], traffic: true },
  ];

  function chart(spec, data) {
    const box = document.createElement("div");
    box.className = "graph";
    box.dataset.graph = spec.key;
    const h = document.createElement("h3");
    h.textContent = spec.title;
    box.append(h);
    const plot = new uPlot({
      width: 340, height: 150,
      scales: { x: { time: true } },
      series: [{}, ...spec.series.map(([label, stroke]) => ({ label, stroke, width: 2, spanGaps: false }))],
      axes: [{}, { size: 48 }],
    }, data, box);
    return { box, plot };
  }

  function drawCharts(service, points) {
    const root = document.getElementById("graphs");
    if (!charts || charts.service !== service) {
      root.replaceChildren();
      charts = { service, plots: new Map() };
    }
    const hasTraffic = points.some((p) => p.requests != null);
    const hasUsage = points.some((p) => p.cpu != null || p.memory != null);
    const note = document.getElementById("g-note");
    note.hidden = !(lastEnv && lastEnv.metrics_unavailable);
    note.textContent = (lastEnv && lastEnv.metrics_unavailable) || "";
    for (const spec of CHARTS) {
      if ((spec.traffic && !hasTraffic) || (spec.usage && !hasUsage)) continue;
      const data = columns(points, ...spec.series.map((s) => s[2]));
      let c = charts.plots.get(spec.key);
      if (c) c.plot.setData(data);
      else {
        c = chart(spec, data);
        charts.plots.set(spec.key, c);
        root.append(c.box);
      }
      // The first series' range, for readers of the page (and its tests).
      const values = data[1].filter((v) => v != null);
      c.box.dataset.min = values.length ? String(Math.min(...values)) : "";
      c.box.dataset.max = values.length ? String(Math.max(...values)) : "";
    }
    root.dataset.points = String(points.length);
  }

  async function refresh() {
    timer = null;
    if (document.hidden) return later();
    const service = shown;
    const url = service
      ? `/api/v1/services/${encodeURIComponent(service)}/history`
      : `/api/v1/history?last=${SPARK_POINTS}`;
    try {
      const r = await fetch(url);
      if (r.ok && service === shown) {
        const h = await r.json();
        interval = Math.max(500, Math.min(h.interval_ms, 10000));
        if (service) drawCharts(service, h.points);
        else drawSparks(h.services);
      }
    } catch {
      // The next tick asks again.
    }
    later();
  }

  function later() {
    if (!timer) timer = setTimeout(refresh, interval);
  }

  // Called on every render: the page shown and the environment (for the metrics note).
  function schedule(service, env) {
    lastEnv = env;
    if (service !== shown) {
      shown = service;
      clearTimeout(timer);
      timer = setTimeout(refresh, 0);
    } else later();
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden) later(); });
  return { sparkline, schedule };
})();
