// The dashboard's graphs in real headless Chromium: a service whose memory grows shows the
// curve, requests through the Ingress show rate, errors and latency, a service that keeps
// exiting shows its restarts in its graph and its events.
// Then the Reload preview of `berth up --manual`: a saved change is listed with its diff and
// applied only on confirmation.
// Usage: node graphs.mjs DASHBOARD_URL INGRESS_URL SCREENSHOT_DIR FOLDER
import { fail, launch, newPage, ok } from "./common.mjs";
import http from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const [dashboard, ingress, shots, folder] = process.argv.slice(2);
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

  // The Reload preview: a saved change is listed with its diff, and not applied before Apply.
  const [before, after] = ["exits with 3 a second after it starts", "exits with 3, one second in"];
  const yaml = `${folder}/app.yaml`;
  writeFileSync(yaml, readFileSync(yaml, "utf8").replace(before, after));
  await page.waitForFunction(() => /Reload to review/.test(document.getElementById("busy").textContent),
    null, { timeout: 10000 }).catch(() => fail("the dashboard does not say the folder changed"));
  ok("a save is not applied, and the dashboard says the folder changed");
  await page.click("#reload");
  await page.waitForSelector("#preview:not([hidden])", { timeout: 10000 }).catch(() => fail("Reload shows no preview"));
  const listed = await page.$$eval("#preview-changes tbody tr", (rows) => rows.map((r) =>
    ({ object: r.dataset.object, change: r.cells[1].textContent, diff: r.cells[2].textContent })));
  const flaky = listed.find((c) => c.object === "Deployment flaky");
  if (listed.length !== 1 || !flaky || flaky.change !== "changed") fail("the preview lists " + JSON.stringify(listed));
  if (!flaky.diff.includes(`-    berth.dev/description: ${before}`) || !flaky.diff.includes(`+    berth.dev/description: ${after}`)) {
    fail("the preview's diff does not show the changed value: " + flaky.diff);
  }
  const shown = () => page.$eval('#services tr[data-name="flaky"]', (r) => r.cells[1].textContent);
  if ((await shown()) !== before) fail("the change was applied before confirmation: " + (await shown()));
  ok("the preview lists exactly the changed value, not yet applied");
  await page.screenshot({ path: `${shots}/reload-preview.png`, fullPage: true });
  await page.click("#preview-apply");
  await page.waitForFunction((after) => document.querySelector('#services tr[data-name="flaky"]').cells[1].textContent === after,
    after, { timeout: 15000 }).catch(() => fail("Apply did not apply the change"));
  if (!(await page.isHidden("#preview"))) fail("the preview stays open after Apply");
  ok("Apply applies it");
  ok("screenshots taken");
} finally {
  sending = false;
  await traffic;
  await browser.close();
}
