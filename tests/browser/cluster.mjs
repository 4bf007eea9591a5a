// The dashboard over a real cluster (`berth dashboard --context`), in headless Chromium.
// Usage: node cluster.mjs DASHBOARD_URL SCREENSHOT_DIR
// Prints one "ok <check>" line per passed check; exits non-zero on the first failure.
import { allReady, apiOf, fail, launch, newPage, ok } from "./common.mjs";
import { mkdirSync } from "node:fs";

const [dashboard, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const api = apiOf(dashboard);

const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(dashboard);

  // 1. The table lists the workloads of the set on the cluster, all ready (Jobs completed).
  await allReady(page, 6, 60000).catch(async () => {
    const rows = await page.$$eval("#services tbody tr", (rs) => rs.map((r) => r.textContent.trim()));
    fail("not every workload shown ready: " + JSON.stringify(rows));
  });
  const names = await page.$$eval("#services tbody tr", (rows) => rows.map((r) => r.dataset.name));
  for (const n of ["web", "reservationengine", "queue", "seed"]) {
    if (!names.includes(n)) fail("workload " + n + " missing from the table: " + names);
  }
  const target = await page.textContent("#target");
  if (!/berth-e2e/.test(target)) fail("the header does not name the context: " + target);
  ok("the table shows the cluster's workloads ready: " + names.join(", ") + " (" + target.trim() + ")");
  await page.screenshot({ path: `${shots}/cluster-main.png`, fullPage: true });

  // 2. The detail view lists the pods and the kubectl exec command.
  await page.click('#services a[href="#/service/web"]');
  await page.waitForSelector("#detail:not([hidden])");
  await page.waitForFunction(() => document.querySelectorAll("#d-replicas-table tbody tr").length >= 1, null, { timeout: 10000 })
    .catch(() => fail("no pods in the detail view"));
  const shell = await page.textContent("#d-shell");
  if (!/^kubectl --context \S+ -n \S+ exec -ti web-/.test(shell)) fail("shell command: " + shell);
  ok("the detail view lists the pods and " + shell);
  await page.screenshot({ path: `${shots}/cluster-detail.png`, fullPage: true });

  // Graphs: this cluster has no metrics API, which the page says instead of empty CPU charts.
  await page.waitForFunction(() => /metrics\.k8s\.io/.test(document.getElementById("g-note").textContent),
    null, { timeout: 15000 }).catch(() => fail("the service page does not say why CPU and memory are missing"));
  await page.waitForSelector('#graphs .graph[data-graph="restarts"] canvas', { timeout: 15000 })
    .catch(() => fail("no restarts graph for a pod"));
  if (await page.$('#graphs .graph[data-graph="memory"]')) fail("a memory graph without any measurement");
  ok("the service page graphs restarts and says the cluster serves no metrics.k8s.io");

  // 3. Scaling in the page scales the Deployment on the cluster.
  await page.fill("#d-replicas", "2");
  await page.click("#d-scale");
  const deadline = Date.now() + 30000;
  for (;;) {
    const web = await api("/api/v1/services/web");
    if (web.desired === 2 && web.replicas.length === 2) break;
    if (Date.now() > deadline) fail("scale did not reach the cluster: " + JSON.stringify(web));
    await new Promise((r) => setTimeout(r, 250));
  }
  ok("the Scale button scaled web to 2 pods on the cluster");

  // 4. Reload previews the folder against the cluster (a server-side dry run): web's replicas
  // go back from 2 to 1; Apply re-applies the folder.
  await page.goto(dashboard + "#/");
  await page.click("#reload");
  await page.waitForSelector("#preview:not([hidden])", { timeout: 30000 }).catch(() => fail("Reload shows no preview"));
  const listed = await page.$$eval("#preview-changes tbody tr", (rows) => rows.map((r) =>
    ({ object: r.dataset.object, change: r.cells[1].textContent, diff: r.cells[2].textContent })));
  const deployment = listed.find((c) => /^Deployment .*web$/.test(c.object));
  if (!deployment || deployment.change !== "changed" || !/-\s+replicas: 2/.test(deployment.diff) || !/\+\s+replicas: 1/.test(deployment.diff)) {
    fail("the preview does not show web's replicas going back to 1: " + JSON.stringify(listed));
  }
  if ((await api("/api/v1/services/web")).desired !== 2) fail("the preview changed the cluster");
  ok("Reload previews the change on the cluster (web replicas 2 -> 1) before applying");
  await page.screenshot({ path: `${shots}/cluster-preview.png`, fullPage: true });
  await page.click("#preview-apply");
  const back = Date.now() + 30000;
  for (;;) {
    const web = await api("/api/v1/services/web");
    if (web.desired === 1) break;
    if (Date.now() > back) fail("reload did not restore the folder's replicas: " + web.desired);
    await new Promise((r) => setTimeout(r, 250));
  }
  ok("the Reload button re-applied the folder (web back to 1 replica)");

  // 5. Another origin cannot act on the cluster.
  const refused = await fetch(new URL("/api/v1/services/web/scale", dashboard), {
    method: "POST", headers: { Origin: "http://evil.example", "Content-Type": "application/json" },
    body: JSON.stringify({ replicas: 5 }) });
  if (refused.status !== 403) fail("cross-origin POST answered " + refused.status);
  if ((await api("/api/v1/services/web")).desired !== 1) fail("a cross-origin POST scaled web");
  ok("a cross-origin POST was refused (403) and changed nothing");
} finally {
  await browser.close();
}
