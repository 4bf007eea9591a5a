// What the browser tests share: Debian's headless Chromium with the flags this machine needs,
// a JSON API helper, and the ok/FAILED reporting the Rust tests read.
import { chromium } from "playwright-core";

export const ok = (what) => console.log("ok " + what);
export const fail = (what) => { console.error("FAILED " + what); process.exit(1); };

/** fetch() of the dashboard's API, as JSON. */
export const apiOf = (dashboard) => async (path, init) => (await fetch(new URL(path, dashboard), init)).json();

/** Chromium without sandbox, GPU or background network traffic (refused here anyway). */
export const launch = () => chromium.launch({
  executablePath: process.env.BERTH_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** A page of 1280x800 that fails the test on any script error. */
export const newPage = async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => fail("page error: " + e.message));
  return page;
};

/** Waits until the table has at least `min` rows, each ready, completed or scheduled. */
export const allReady = (page, min, timeout) => page.waitForFunction((min) => {
  const rows = [...document.querySelectorAll("#services tbody tr")];
  return rows.length >= min && rows.every((r) => /ready|completed|scheduled/.test(r.cells[3].textContent));
}, min, { timeout });
