// The dashboard in real headless Chromium (Debian's, driven by playwright-core).
// Usage: node dashboard.mjs DASHBOARD_URL INGRESS_URL SCREENSHOT_DIR
// Prints one "ok <check>" line per passed check; exits non-zero on the first failure.
import { allReady, apiOf, fail, launch, newPage, ok } from "./common.mjs";
import http from "node:http";
import { mkdirSync } from "node:fs";

const [dashboard, ingress, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const api = apiOf(dashboard);

const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(dashboard);

  // 1. The table shows every service ready (Jobs completed, CronJobs scheduled).
  await allReady(page, 8, 30000);
  const names = await page.$$eval("#services tbody tr", (rows) => rows.map((r) => r.dataset.name));
  for (const n of ["web", "reservationengine", "queue", "broadcaster", "mailtool", "testdbserver", "seed"]) {
    if (!names.includes(n)) fail("service " + n + " missing from the table: " + names);
  }
  ok("the table shows every service ready: " + names.join(", "));
  if (await page.isVisible("#sync")) fail("the sync bar shows without a sync");
  await page.waitForFunction(() => [...document.querySelectorAll("#events tbody tr")].some((r) => r.cells[2].textContent === "Deployed"),
    null, { timeout: 10000 }).catch(() => fail("the events table does not show the deploy"));
  ok("the events table shows the deploy");
  await page.screenshot({ path: `${shots}/main.png`, fullPage: true });

  // 2. A line printed by a service appears in the open log view within 1 s.
  await page.click('#services a[href="#/service/web"]');
  await page.waitForSelector("#detail:not([hidden])");
  await page.waitForFunction(() => document.querySelectorAll("#logs .line").length > 0, null, { timeout: 10000 });
  const marker = "/marker-" + Date.now();
  const sent = Date.now();
  await new Promise((done) => {
    const u = new URL(marker, ingress);
    http.get({ host: u.hostname, port: u.port, path: u.pathname, headers: { Host: "ticketing.localhost" } },
      (res) => { res.resume(); res.on("end", done); }).on("error", done);
  });
  await page.waitForFunction((m) => [...document.querySelectorAll("#logs .line")].some((l) => l.textContent.includes(m)),
    marker, { timeout: 15000 }).catch(() => fail("the log line did not appear within 15 s"));
  ok(`a printed line appeared in the log view after ${Date.now() - sent} ms`);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#d-events tbody tr")];
    return rows.some((r) => r.cells[2].textContent === "Ready") && rows.every((r) => r.cells[1].textContent.startsWith("web"));
  }, null, { timeout: 10000 }).catch(() => fail("the service's events do not show web becoming ready, or show another's"));
  ok("the service's events show its replicas starting and becoming ready");
  await page.screenshot({ path: `${shots}/detail.png`, fullPage: true });

  // The filter hides lines that do not match.
  await page.fill("#l-filter", marker);
  const visible = await page.$$eval("#logs .line", (ls) => ls.filter((l) => !l.hidden).length);
  const total = await page.$$eval("#logs .line", (ls) => ls.length);
  if (!(visible >= 1 && visible < total)) fail(`filter: ${visible} of ${total} visible`);
  await page.fill("#l-filter", "");
  ok("the log filter narrows the view");

  // 3. Switching to source mode changes the Mode column.
  const choose = page.locator('#d-containers select[data-container="web"]');
  await choose.selectOption("source");
  await page.goto(dashboard + "#/");
  await page.waitForFunction(() => {
    const row = document.querySelector('#services tr[data-name="web"]');
    return row && row.cells[4].textContent.trim() === "source";
  }, null, { timeout: 20000 });
  ok("switching to source mode changed the Mode column to source");
  await page.goto(dashboard + "#/service/web/configure");
  await page.waitForSelector('#d-containers button[data-reload="web"]');
  await page.screenshot({ path: `${shots}/configure.png`, fullPage: true });
  await page.locator('#d-containers select[data-container="web"]').selectOption("process");
  await page.goto(dashboard + "#/");
  await page.waitForFunction(() => document.querySelector('#services tr[data-name="web"]').cells[4].textContent.trim() === "process",
    null, { timeout: 20000 });
  ok("and back to process");

  // 4. The reload button shows what would change (nothing here), and Apply redeploys.
  const before = (await api("/api/v1/environment")).generation;
  await page.click("#reload");
  await page.waitForSelector("#preview:not([hidden])", { timeout: 20000 }).catch(() => fail("Reload shows no preview"));
  if (!/change nothing/.test(await page.textContent("#preview-title"))) fail("the preview of an unchanged folder says: " + await page.textContent("#preview-title"));
  await page.click("#preview-apply");
  await page.waitForFunction(() => /unchanged|started|restarted|no changes/.test(document.querySelector("#busy").textContent),
    null, { timeout: 20000 });
  const after = (await api("/api/v1/environment")).generation;
  if (!(after > before)) fail(`reload did not redeploy (generation ${before} -> ${after})`);
  ok(`the reload button redeployed (generation ${before} -> ${after})`);

  // 5. A page on another origin cannot restart a service.
  const evil = http.createServer((req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end("<!doctype html><title>elsewhere</title>");
  });
  await new Promise((r) => evil.listen(0, "127.0.0.1", r));
  // Settled first: a rolling restart shows the old replica beside its successor for a moment.
  let web = await api("/api/v1/services/web");
  for (let i = 0; i < 200 && web.replicas.length !== web.desired; i++) {
    await new Promise((r) => setTimeout(r, 100));
    web = await api("/api/v1/services/web");
  }
  const started = web.replicas.map((r) => r.started + r.name).join();
  const generation = (await api("/api/v1/environment")).generation;
  const other = await browser.newPage();
  await other.goto(`http://127.0.0.1:${evil.address().port}/`);
  const outcome = await other.evaluate(async (target) => {
    const results = [];
    for (const mode of ["cors", "no-cors"]) {
      try {
        const r = await fetch(target, { method: "POST", mode, headers: mode === "cors" ? {} : {}, body: "{}" });
        results.push(`${mode}:${r.status}`);
      } catch (e) {
        results.push(`${mode}:blocked`);
      }
    }
    return results.join(" ");
  }, new URL("/api/v1/services/web/restart", dashboard).href);
  evil.close();
  // The page saw no answer it could read (an answer would name a status).
  if (outcome !== "cors:blocked no-cors:0") fail("the cross-origin page read an answer: " + outcome);
  // A restart would be an apply (a new generation) and new replicas: give one time to show.
  await new Promise((r) => setTimeout(r, 1500));
  if ((await api("/api/v1/environment")).generation !== generation) fail("a cross-origin POST applied something");
  const afterWeb = await api("/api/v1/services/web");
  if (afterWeb.replicas.map((r) => r.started + r.name).join() !== started) fail("a cross-origin POST restarted web");
  const direct = await fetch(new URL("/api/v1/services/web/restart", dashboard), {
    method: "POST", headers: { Origin: `http://127.0.0.1:${evil.address()?.port ?? 1}` } });
  if (direct.status !== 403) fail("cross-origin POST answered " + direct.status);
  ok(`a cross-origin POST was refused (${outcome}; with an Origin header: 403)`);
} finally {
  await browser.close();
}
