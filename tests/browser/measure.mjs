// Measures the dashboard in headless Chromium (for `cargo bench -p berth --bench graphs`):
// page weight (bytes over the wire and decoded, per resource), time to first contentful paint, and time
// until the table shows every service with its sparkline drawn. Prints one JSON object.
// Usage: node measure.mjs DASHBOARD_URL SERVICES
import { launch } from "./common.mjs";

const [dashboard, services] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
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
  // Transfer sizes (headers and the compressed body) and decoded sizes, the API left out.
  const sizes = await page.evaluate(() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .filter((e) => !new URL(e.name).pathname.startsWith("/api/"))
    .map((e) => ({ path: new URL(e.name).pathname, wire: e.transferSize, decoded: e.decodedBodySize })));
  const bytes = Object.fromEntries(sizes.map((e) => [e.path, e.wire]));
  const total = sizes.reduce((a, e) => a + e.wire, 0);
  const decoded = sizes.reduce((a, e) => a + e.decoded, 0);
  console.log(JSON.stringify({ bytes, total, decoded, loaded_ms: loaded, first_contentful_paint_ms: paint, table_ms: table, sparklines_ms: sparks, js_heap: heap }));
} finally {
  await browser.close();
}
