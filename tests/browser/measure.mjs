// Measures the dashboard in headless Chromium (for `cargo bench -p berth --bench graphs`):
// page weight (bytes over the wire, per resource), time to first contentful paint, and time
// until the table shows every service with its sparkline drawn. Prints one JSON object.
// Usage: node measure.mjs DASHBOARD_URL SERVICES
import { launch } from "./common.mjs";

const [dashboard, services] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const bytes = {};
  page.on("response", async (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith("/api/")) return;
    try { bytes[url.pathname] = (await r.body()).length; } catch { /* streamed */ }
  });
  const started = Date.now();
  await page.goto(dashboard, { waitUntil: "load" });
  const loaded = Date.now() - started;
  await page.waitForFunction((n) => document.querySelectorAll("#services tbody tr").length >= n, Number(services), { timeout: 60000 });
  const table = Date.now() - started;
  await page.waitForFunction((n) => document.querySelectorAll(".spark-box canvas").length >= n, Number(services), { timeout: 60000 });
  const sparks = Date.now() - started;
  const paint = await page.evaluate(() => {
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return fcp ? fcp.startTime : null;
  });
  const heap = await page.evaluate(() => performance.memory ? performance.memory.usedJSHeapSize : null);
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ bytes, total, loaded_ms: loaded, first_contentful_paint_ms: paint, table_ms: table, sparklines_ms: sparks, js_heap: heap }));
} finally {
  await browser.close();
}
