//! `berth rerun` with real processes: restart in place, signal forwarding, no orphans.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// A child that starts slowly (0.3 s), says `start PID`, and exits 7 on SIGTERM.
const CHILD: &str = "import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
time.sleep(0.3)
print('start', os.getpid(), flush=True)
time.sleep(600)";

fn rerun(extra: &[&str], script: &str) -> (Child, Receiver<String>) {
    let mut args = vec!["rerun"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", "-c", script]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The pid in the next `start PID` line.
fn next_start(rx: &Receiver<String>) -> i32 {
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the child started");
    line.strip_prefix("start ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap()
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

fn wait_gone(pid: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while berth_local::pid_alive(pid as u32) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} still alive"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn post_restart(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"POST /restart HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

use nix::sys::signal::Signal;

#[test]
fn sigterm_is_forwarded_and_rerun_exits_with_the_child() {
    let (mut r, rx) = rerun(&[], CHILD);
    let pid = next_start(&rx);
    signal(&r, Signal::SIGTERM);
    assert_eq!(r.wait().unwrap().code(), Some(7));
    wait_gone(pid);
}

#[test]
fn restarts_in_place_on_post_and_sighup() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut r, rx) = rerun(&["--port", &port.to_string()], CHILD);
    let first = next_start(&rx);
    assert!(post_restart(port).starts_with("HTTP/1.1 202"));
    let second = next_start(&rx);
    assert_ne!(first, second);
    wait_gone(first);
    signal(&r, Signal::SIGHUP);
    let third = next_start(&rx);
    assert_ne!(second, third);
    wait_gone(second);
    signal(&r, Signal::SIGTERM);
    assert_eq!(r.wait().unwrap().code(), Some(7));
}

#[test]
fn restart_requests_while_starting_are_tolerated() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A child that starts only once the test opens its gate: every request below arrives
    // while it starts, however slow the machine.
    let gate = tempfile::tempdir().unwrap();
    let open = gate.path().join("open");
    let child = format!(
        "import os, signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\nwhile not os.path.exists({open:?}): time.sleep(0.01)\nprint('start', os.getpid(), flush=True)\ntime.sleep(600)"
    );
    let (mut r, rx) = rerun(&["--port", &port.to_string()], &child);
    // rerun answers on its port once it handles every kind of request.
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..3 {
        signal(&r, Signal::SIGHUP);
        assert!(post_restart(port).starts_with("HTTP/1.1 202"));
    }
    assert!(
        rx.try_recv().is_err(),
        "the child started before its gate opened"
    );
    std::fs::write(&open, "").unwrap();
    let pid = next_start(&rx);
    assert!(berth_local::pid_alive(pid as u32));
    signal(&r, Signal::SIGTERM);
    assert_eq!(r.wait().unwrap().code(), Some(7));
}

#[test]
fn a_crashing_child_restarts_with_back_off() {
    let (mut r, rx) = rerun(
        &[],
        "import os; print('start', os.getpid(), flush=True); raise SystemExit(1)",
    );
    let t = std::time::Instant::now();
    let (a, b) = (next_start(&rx), next_start(&rx));
    assert_ne!(a, b);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "waited for the back-off"
    );
    signal(&r, Signal::SIGTERM);
    r.wait().unwrap();
}

#[test]
fn a_killed_rerun_leaves_no_orphan() {
    let (mut r, rx) = rerun(&[], CHILD);
    let pid = next_start(&rx);
    r.kill().unwrap();
    r.wait().unwrap();
    wait_gone(pid);
}
