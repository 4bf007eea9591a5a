//! Benchmark of the dashboard's graphs (not a test): 50 services x 2 replicas under `berth up`,
//! run with history sampling effectively off (once an hour), at the default (every 5 s) and
//! every second; reports berth's CPU at idle and RSS side by side (as ratios to "off"), the
//! points kept against the memory budget, and in headless Chromium the page's weight, first
//! contentful paint and the time until all 50 sparklines are drawn.
//! Run: `cargo bench -p berth --bench graphs` (Chromium: after ./scripts/test.sh installed it).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const REPLICAS: usize = 2;
const IDLE: Duration = Duration::from_secs(30);

#[path = "../tests/scale_folder/mod.rs"]
mod scale_folder;

/// berth's own CPU seconds and resident memory (MiB), read as the dashboard reads a replica's.
fn usage(pid: u32) -> (f64, f64) {
    let u = berth_local::usage::of_process(pid).expect("berth up is running");
    (u.cpu_seconds, u.resident_bytes as f64 / (1024.0 * 1024.0))
}

struct Run {
    name: &'static str,
    cpu: f64,
    rss: f64,
    points: usize,
    capacity: usize,
    page: Option<serde_json::Value>,
}

/// Waits until every replica is ready; the dashboard's address.
fn ready(dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "berth up ended");
        assert!(Instant::now() < deadline, "not ready in time");
        let status = std::fs::read_to_string(dir.join(".berth/up.json")).unwrap_or_default();
        if let Ok(s) = serde_json::from_str::<serde_json::Value>(&status) {
            let r = s["replicas"].as_array().cloned().unwrap_or_default();
            if r.len() == SERVICES * REPLICAS && r.iter().all(|r| r["ready"] == true) {
                let url = s["dashboard"].as_str().unwrap_or_default();
                return url
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run(name: &'static str, interval_ms: u64, browser: bool) -> Run {
    let t = tempfile::tempdir().unwrap();
    scale_folder::write(t.path(), SERVICES, REPLICAS);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", t.path().to_str().unwrap(), "--ingress", "127.0.0.1:0"])
        .args(["--listen", "127.0.0.1:0"])
        .env("BERTH_SAMPLE_INTERVAL_MS", interval_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = ready(t.path(), &mut child);
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(3));
    let before = usage(pid).0;
    std::thread::sleep(IDLE);
    let (after, rss) = usage(pid);
    let cpu = (after - before) / IDLE.as_secs_f64();
    let h = scale_folder::get_json(&addr, "/api/v1/history");
    let points = h["services"].as_object().map_or(0, |m| {
        m.values().map(|v| v.as_array().map_or(0, Vec::len)).sum()
    });
    let capacity = h["capacity"].as_u64().unwrap_or(0) as usize;
    let page = browser.then(|| measure_page(&addr)).flatten();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    Run {
        name,
        cpu,
        rss,
        points,
        capacity,
        page,
    }
}

/// The page in headless Chromium (tests/browser/measure.mjs), or `None` without it.
fn measure_page(addr: &str) -> Option<serde_json::Value> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("node")
        .arg(repo.join("tests/browser/measure.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(SERVICES.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "graphs: Chromium measurement skipped: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs = [
        run("sampling off (hourly)", 3_600_000, false),
        run("sampling every 5 s (default)", 5_000, true),
        run("sampling every 1 s", 1_000, false),
    ];
    let off = &runs[0];
    println!("graphs: {SERVICES} services x {REPLICAS} replicas, berth idle for {IDLE:?}");
    for r in &runs {
        println!(
            "  {:<30} CPU {:>5.2}% of a core ({:.2}x off)   RSS {:>6.1} MiB ({:.2}x off)   {} points kept (at most {} per service)",
            r.name,
            r.cpu * 100.0,
            r.cpu / off.cpu.max(1e-9),
            r.rss,
            r.rss / off.rss,
            r.points,
            r.capacity
        );
    }
    let point = std::mem::size_of::<f64>() * 8 + 16;
    println!(
        "  history at its budget: {SERVICES} services x 180 points x ~{point} B = {:.1} MiB",
        (SERVICES * 180 * point) as f64 / (1024.0 * 1024.0)
    );
    match &runs[1].page {
        Some(p) => println!(
            "  page: {} bytes over the wire, {} decoded ({}), first contentful paint {} ms, table of {SERVICES} at {} ms, all sparklines at {} ms",
            p["total"], p["decoded"], p["bytes"], p["first_contentful_paint_ms"], p["table_ms"], p["sparklines_ms"]
        ),
        None => println!("  page: not measured (Chromium and playwright-core missing)"),
    }
}
