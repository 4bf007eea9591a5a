//! Benchmark of source mode (not a test): 20 edits of a Python service under `berth up`, each
//! timed from the file write to the new code answering through the ingress; and, separately,
//! the service's own cost (its build and its start until it answers), so berth's share shows.
//! Run: `cargo bench -p berth --bench source`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EDITS: usize = 20;

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

fn get(addr: &str, host: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn post(addr: &str, path: &str, body: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo.join("examples/ticketing"), tmp.path());
    let services = tmp.path().join("services");
    let file = services.join("reservationengine.py");
    let original = std::fs::read_to_string(&file).unwrap();

    // The service's own cost: its build, and its start until it answers.
    let mut own = Vec::new();
    for _ in 0..10 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = Instant::now();
        let build = Command::new("python3")
            .args(["-m", "py_compile", "reservationengine.py", "common.py"])
            .current_dir(&services)
            .status()
            .unwrap();
        assert!(build.success());
        let mut child = Command::new("python3")
            .args(["-u", "reservationengine.py"])
            .current_dir(&services)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        while get(&addr, "x", "/api/reservations").is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        own.push(start.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }

    let mut up = Command::new(env!("CARGO_BIN_EXE_berth"))
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
    let mut out = BufReader::new(up.stdout.take().unwrap());
    let (mut api, mut ingress) = (String::new(), String::new());
    let mut line = String::new();
    while api.is_empty() || ingress.is_empty() {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0);
        if let Some(a) = line.trim().strip_prefix("dashboard http://") {
            api = a.trim_end_matches('/').to_string();
        }
        if let Some(a) = line.trim().strip_prefix("ingress http://") {
            ingress = a.to_string();
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    let answers = |text: &str| {
        get(&ingress, "ticketing.localhost", "/api/reservations/x")
            .is_some_and(|b| b.contains(text))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers("not found") {
        assert!(Instant::now() < deadline, "the example never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    post(
        &api,
        "/api/v1/services/reservationengine/mode",
        r#"{"mode": "source"}"#,
    );
    std::thread::sleep(Duration::from_secs(2));

    let mut totals = Vec::new();
    for i in 0..EDITS {
        let marker = format!("not found (edit {i})");
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        std::fs::write(
            &file,
            original.replace("\"not found\"", &format!("\"{marker}\"")),
        )
        .unwrap();
        while !answers(&marker) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "edit {i} never answered"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        totals.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = up.wait();

    let own_p50 = pct(&mut own.clone(), 0.5);
    let (p50, p95) = (
        pct(&mut totals.clone(), 0.5),
        pct(&mut totals.clone(), 0.95),
    );
    println!("{EDITS} edits of services/reservationengine.py in source mode (build: py_compile)");
    println!("write -> new code answers via ingress   p50 {p50:7.1} ms   p95 {p95:7.1} ms");
    println!(
        "the service's own build + start           p50 {own_p50:7.1} ms   (measured without berth)"
    );
    println!(
        "berth's share (total - own)              p50 {:7.1} ms   p95 {:7.1} ms",
        p50 - own_p50,
        p95 - own_p50
    );
    println!("  of which the debounce of saves              25.0 ms");
    big_tree();
}

/// The watcher on 100,000 files: setup time, and a save's detection latency.
fn big_tree() {
    let tmp = tempfile::tempdir().unwrap();
    for d in 0..1000 {
        let dir = tmp.path().join(format!("pkg{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("m{f}.py")), format!("X = {d}{f}\n")).unwrap();
        }
    }
    let start = Instant::now();
    let (_w, mut rx) = berth_local::source::watch(
        vec![berth_local::source::Watched {
            workload: "big".into(),
            root: tmp.path().to_path_buf(),
            globs: vec!["**/*.py".into()],
        }],
        Duration::from_millis(25),
    )
    .unwrap();
    let setup = start.elapsed();
    // Let the background hashing finish, then save one file and time the detection.
    std::thread::sleep(Duration::from_secs(5));
    let mut lat = Vec::new();
    for i in 0..10 {
        let f = tmp.path().join(format!("pkg{}/m{}.py", i * 97, i));
        let t = Instant::now();
        std::fs::write(&f, format!("X = 'changed {i}'\n")).unwrap();
        let got = rx.blocking_recv().unwrap();
        assert!(got.contains("big"));
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // Same content again: no event (content hashes, not mtimes).
    let f = tmp.path().join("pkg0/m0.py");
    let same = std::fs::read(&f).unwrap();
    std::fs::write(&f, same).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let spurious = rx.try_recv().is_ok();
    println!(
        "100,000 watched files: watch set up in {:.0} ms; a save detected after p50 {:.1} ms (25 ms debounce); a rewrite with the same content {}",
        setup.as_secs_f64() * 1000.0,
        pct(&mut lat, 0.5),
        if spurious { "DID trigger" } else { "did not trigger" }
    );
}
