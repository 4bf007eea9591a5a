//! Benchmark of the dashboard's log path (not a test): 50 services each printing 1,000 lines/s
//! under `berth up`, one SSE client following each. Reports berth's CPU and RSS, the latency from
//! a line printed to its arrival at an SSE client (p50/p99), and lines lost.
//! Run: `cargo bench -p berth --bench dashboard`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVICES: usize = 50;
const RATE: usize = 1000;
const SECONDS: u64 = 10;

const PRINTER: &str = r#"
import sys, time
rate = int(sys.argv[1])
seq = 0
start = time.monotonic()
while True:
    # Print whatever is due, each line stamped with the wall clock when printed.
    due = int((time.monotonic() - start) * rate)
    out = []
    while seq < due:
        seq += 1
        out.append("t=%d seq=%d" % (time.time_ns(), seq))
    if out:
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
    time.sleep(0.002)
"#;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn write_folder(dir: &Path) {
    std::fs::write(dir.join("printer.py"), PRINTER).unwrap();
    std::fs::write(dir.join("variables.yaml"), format!("rate: {RATE}\n")).unwrap();
    let mut text = String::new();
    for i in 0..SERVICES {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}\n  annotations:\n    berth.dev/run: |\n      main:\n        command: [python3, -u, printer.py, \"{{{{ .Variables.rate }}}}\"]\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: svc{i}}}\n  template:\n    metadata:\n      labels: {{app: svc{i}}}\n    spec:\n      containers:\n        - name: main\n          image: printer\n"
        ));
    }
    std::fs::write(dir.join("services.yaml"), text).unwrap();
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    write_folder(tmp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "up",
            tmp.path().to_str().unwrap(),
            "--ingress",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut api = String::new();
    let mut line = String::new();
    while api.is_empty() {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "berth up ended");
        if let Some(u) = line.strip_prefix("dashboard http://") {
            api = u.trim().trim_end_matches('/').to_string();
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });

    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(
        SERVICES * RATE * SECONDS as usize,
    )));
    let gaps = Arc::new(Mutex::new(0u64));
    let dropped = Arc::new(Mutex::new(0u64));
    let mut clients = Vec::new();
    for i in 0..SERVICES {
        let (api, stop, measuring, latencies, gaps, dropped) = (
            api.clone(),
            stop.clone(),
            measuring.clone(),
            latencies.clone(),
            gaps.clone(),
            dropped.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(&api).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            write!(s, "GET /api/v1/services/svc{i}/logs?follow=true&tail=0 HTTP/1.1\r\nHost: {api}\r\n\r\n").unwrap();
            let mut r = BufReader::new(s);
            let mut l = String::new();
            let mut last_seq = 0u64;
            let mut event = String::new();
            while !stop.load(Ordering::Relaxed) {
                l.clear();
                match r.read_line(&mut l) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => continue,
                }
                if let Some(e) = l.strip_prefix("event: ") {
                    event = e.trim().to_string();
                    continue;
                }
                let Some(data) = l.strip_prefix("data: ") else { continue };
                if event == "dropped" {
                    *dropped.lock().unwrap() += data.trim().parse::<u64>().unwrap_or(0);
                    continue;
                }
                let Some(t) = data.split("t=").nth(1).and_then(|x| x.split(' ').next()) else { continue };
                let Some(seq) = data.split("seq=").nth(1).and_then(|x| x.split('"').next()).and_then(|x| x.parse::<u64>().ok()) else { continue };
                let sent: u128 = t.parse().unwrap_or(0);
                if measuring.load(Ordering::Relaxed) {
                    latencies.lock().unwrap().push(((now_ns() - sent) / 1000) as u64);
                    if last_seq > 0 && seq > last_seq + 1 {
                        *gaps.lock().unwrap() += seq - last_seq - 1;
                    }
                }
                last_seq = seq;
            }
        }));
    }
    // Warm up until every service is printing, then measure.
    std::thread::sleep(Duration::from_secs(5));
    let ticks_per_s = 100.0;
    let cpu0 = cpu_ticks(pid);
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(SECONDS));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - cpu0) as f64 / ticks_per_s / elapsed * 100.0;
    let rss = rss_mb(pid);
    stop.store(true, Ordering::Relaxed);
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{SERVICES} services x {RATE} lines/s, {SECONDS} s measured, one SSE client per service"
    );
    println!(
        "lines received      {:>10} ({:.0}/s, expected {}/s)",
        lat.len(),
        lat.len() as f64 / elapsed,
        SERVICES * RATE
    );
    println!(
        "latency p50         {:>10.2} ms (printed -> SSE client)",
        pct(0.50)
    );
    println!("latency p99         {:>10.2} ms", pct(0.99));
    println!(
        "lines lost          {:>10} (sequence gaps; server-reported drops: {})",
        *gaps.lock().unwrap(),
        *dropped.lock().unwrap()
    );
    println!("berth CPU           {:>10.1} % of one core", cpu);
    println!("berth RSS           {:>10.1} MB", rss);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    for c in clients {
        let _ = c.join();
    }
}
