// The dashboard's graphs in real headless Chromium: a service whose memory grows shows the
// curve, requests through the Ingress show rate, errors and latency, a service that keeps
// exiting shows its restarts in its graph and its events.
// Usage: node graphs.mjs DASHBOARD_URL INGRESS_URL SCREENSHOT_DIR
import { fail, launch, newPage, ok } from "./common.mjs";
import http from "node:http";
import { mkdirSync } from "node:fs";

const [dashboard, ingress, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const get = (path) => new Promise((done) => {
  const u = new URL(path, ingress);
  http.get({ host: u.hostname, port: u.port, path: u.pathname, headers: { Host: "grower.localhost" } },
    (res) => { res.resume(); res.on("end", done); }).on("error", done);
});
let sending = true;
const traffic = (async () => {
  while (sending) {
    await get("/");
    await get("/slow");
    if (Math.random() < 0.1) await get("/fail");
  }
})();

const graph = (page, key) => page.$eval(`#graphs .graph[data-graph="${key}"]`,
  (g) => ({ min: Number(g.dataset.min), max: Number(g.dataset.max), canvas: !!g.querySelector("canvas") }));

const browser = await launch();
try {
  const page = await newPage(browser);
  const opened = Date.now();
  await page.goto(dashboard);
  await page.waitForSelector('.spark-box[data-service="grower"] canvas', { timeout: 20000 })
    .catch(() => fail("no sparkline for grower in the main table"));
  ok(`the main table draws a sparkline per service (${Date.now() - opened} ms after opening)`);
  await page.waitForFunction(() => /MB/.test(document.querySelector('.spark-box[data-service="grower"]').textContent),
    null, { timeout: 10000 }).catch(() => fail("the sparkline does not say grower's memory"));
  ok("a row says its memory and CPU beside the sparkline");

  await page.click('#services a[href="#/service/grower"]');
  await page.waitForFunction(() => Number(document.getElementById("graphs").dataset.points) >= 12,
    null, { timeout: 30000 }).catch(() => fail("grower's page has no graphs of 12 samples"));
  const memory = await graph(page, "memory");
  if (!memory.canvas || !(memory.max - memory.min > 8)) fail("the memory graph does not rise: " + JSON.stringify(memory));
  ok(`the memory graph shows grower's growth: ${memory.min.toFixed(1)} -> ${memory.max.toFixed(1)} MB`);
  await page.waitForSelector('#graphs .graph[data-graph="latency"] canvas', { timeout: 10000 })
    .catch(() => fail("no latency graph for a service behind the Ingress"));
  const requests = await graph(page, "requests");
  const latency = await graph(page, "latency");
  if (!(requests.max > 0)) fail("the requests graph shows no request: " + JSON.stringify(requests));
  if (!(latency.max > 1)) fail("the latency graph shows no latency: " + JSON.stringify(latency));
  ok(`requests (up to ${requests.max.toFixed(1)}/s) and latency (p50 up to ${latency.max.toFixed(1)} ms) are drawn`);
  await page.screenshot({ path: `${shots}/graphs-service.png`, fullPage: true });

  await page.goto(dashboard + "#/service/flaky");
  await page.waitForFunction(() => {
    const g = document.querySelector('#graphs .graph[data-graph="restarts"]');
    return g && Number(g.dataset.max) >= 2;
  }, null, { timeout: 30000 }).catch(() => fail("flaky's restarts graph does not climb"));
  const restarts = await graph(page, "restarts");
  ok(`flaky's restarts graph climbs: ${restarts.min} -> ${restarts.max}`);
  await page.waitForFunction(() => [...document.querySelectorAll("#d-events tbody tr")]
    .some((r) => r.cells[2].textContent === "Restarted" || r.cells[2].textContent === "BackOff"),
    null, { timeout: 10000 }).catch(() => fail("flaky's events do not show the restarts"));
  ok("flaky's events show the restarts");
  await page.screenshot({ path: `${shots}/graphs-restarts.png`, fullPage: true });

  await page.goto(dashboard);
  await page.waitForSelector('.spark-box[data-service="flaky"] canvas', { timeout: 20000 });
  await page.screenshot({ path: `${shots}/graphs-main.png`, fullPage: true });
  ok("screenshots taken");
} finally {
  sending = false;
  await traffic;
  await browser.close();
}
