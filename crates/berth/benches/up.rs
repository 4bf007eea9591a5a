//! Benchmark of `berth up` (not a test): startup overhead beyond the services' own start,
//! idle RSS, ingress latency and throughput against a direct connection, and log capture.
//! Run with `cargo bench -p berth --bench up`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: &[&str] = &[
    "web",
    "reservationengine",
    "queue",
    "broadcaster",
    "mailtool",
    "testdbserver",
];
const ROUNDS: usize = 5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_name() == ".berth" || e.file_name() == "__pycache__" {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn status(dir: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".berth/up.json")).ok()?).ok()
}

fn services_ready(s: &serde_json::Value) -> bool {
    let r = s["replicas"].as_array().unwrap();
    SERVICES
        .iter()
        .all(|n| r.iter().any(|r| r["workload"] == *n && r["ready"] == true))
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The services' own start: all six started directly, until each answers /healthz.
fn direct_start(dir: &Path) -> Duration {
    let t = Instant::now();
    let mut children: Vec<(Child, u16)> = SERVICES
        .iter()
        .map(|s| {
            let port = free_port();
            let c = Command::new("python3")
                .args(["-u", &format!("{s}.py")])
                .current_dir(dir.join("services"))
                .env("PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (c, port)
        })
        .collect();
    wait("direct services healthy", || {
        children.iter().all(|(_, p)| healthy(*p)).then_some(())
    });
    let d = t.elapsed();
    for (c, _) in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    d
}

fn berth_up(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", dir.to_str().unwrap(), "--ingress", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn berth_down(dir: &Path, child: &mut Child) {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["down", dir.to_str().unwrap()])
        .output()
        .unwrap();
    child.wait().unwrap();
}

/// GETs, each on a new connection (as browsers and services mostly do); per-request latencies.
fn latencies(addr: &str, host: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        write!(
            s,
            "GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        assert!(
            resp.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&resp)
        );
        out.push(t.elapsed());
    }
    out
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    copy_dir(&repo().join("examples/ticketing"), dir);
    let mut report = String::new();

    // 1. Startup overhead: berth up to all six services ready, minus their own start.
    let (mut ups, mut directs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        directs.push(direct_start(dir));
        let start = Instant::now();
        let mut child = berth_up(dir);
        wait("services ready", || status(dir).filter(services_ready));
        ups.push(start.elapsed());
        berth_down(dir, &mut child);
    }
    let (up, direct) = (pct(&mut ups, 0.5), pct(&mut directs, 0.5));
    report += &format!(
        "startup: berth up to all ready {up:.1?}, services' own start {direct:.1?}, berth's overhead {:.1?} (median of {ROUNDS})\n",
        up.saturating_sub(direct)
    );

    // 2. Idle RSS, 3. ingress against direct.
    let mut child = berth_up(dir);
    let s = wait("services ready", || status(dir).filter(services_ready));
    std::thread::sleep(Duration::from_secs(1));
    report += &format!(
        "idle RSS of berth with the example running: {:.1} MB\n",
        rss_kb(child.id()) as f64 / 1024.0
    );
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let queue = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "queue")
        .unwrap();
    let direct_addr = format!("127.0.0.1:{}", queue["ports"]["8002"]);
    let n = 2000;
    latencies(&ingress, "ticketing.localhost", 200);
    latencies(&direct_addr, "x", 200);
    let t0 = Instant::now();
    let mut via = latencies(&ingress, "ticketing.localhost", n);
    let via_rps = n as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut dir_l = latencies(&direct_addr, "x", n);
    let dir_rps = n as f64 / t0.elapsed().as_secs_f64();
    let (v50, d50) = (pct(&mut via, 0.5), pct(&mut dir_l, 0.5));
    report += &format!(
        "ingress: p50 {v50:.0?} p99 {:.0?} ({via_rps:.0} req/s); direct: p50 {d50:.0?} p99 {:.0?} ({dir_rps:.0} req/s); overhead p50 {:.0?}/request, throughput ratio {:.2}\n",
        pct(&mut via, 0.99),
        pct(&mut dir_l, 0.99),
        v50.saturating_sub(d50),
        via_rps / dir_rps
    );
    berth_down(dir, &mut child);

    // 4. Log capture: a process printing as fast as it can; every line must arrive.
    let logs = tempfile::tempdir().unwrap();
    let lines = 200_000;
    std::fs::write(
        logs.path().join("spew.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: spew\n  annotations:\n    berth.dev/run: |\n      spew: {{command: [python3, -c, \"import sys, time\\nfor i in range({lines}): sys.stdout.write('line %d\\\\n' % i)\\nsys.stdout.flush()\\ntime.sleep(3600)\"]}}\nspec:\n  selector: {{matchLabels: {{app: spew}}}}\n  template:\n    metadata: {{labels: {{app: spew}}}}\n    spec:\n      containers: [{{name: spew, image: x}}]\n"
        ),
    )
    .unwrap();
    let start = Instant::now();
    let mut child = berth_up(logs.path());
    let log = logs.path().join(".berth/logs/spew.log");
    let last = format!("line {}", lines - 1);
    wait("all log lines captured", || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains(&last).then_some(())
    });
    let took = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    let captured = text.lines().filter(|l| l.contains(" stdout line ")).count();
    report += &format!(
        "logs: {captured} of {lines} lines captured in {took:.2?} ({:.0} lines/s, process start included), {} lost\n",
        captured as f64 / took.as_secs_f64(),
        lines - captured
    );
    berth_down(logs.path(), &mut child);
    print!("{report}");
}
