//! What the `berth up` tests share: private copies of folders, running berth, waiting on its
//! published status, and plain HTTP.
#![allow(dead_code)]

pub mod images;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".berth" || name == "__pycache__" {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// A private copy of the example, so tests can run side by side.
pub fn example() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/ticketing"), t.path());
    t
}

pub fn berth(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.args(args);
    c
}

pub fn up(dir: &Path) -> Up {
    up_with(dir, &[])
}

/// `berth up DIR` with the Ingress on a free port, and more flags.
pub fn up_with(dir: &Path, flags: &[&str]) -> Up {
    let mut args = vec!["up", dir.to_str().unwrap(), "--ingress", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    Up(berth(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap())
}

/// A running `berth up` that is stopped (SIGTERM, then SIGKILL) when the test ends, also when
/// it fails: a failed test leaves no environment behind to hold ports for the next.
pub struct Up(pub Child);

impl std::ops::Deref for Up {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Up {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        // Longer than Kubernetes' default grace period, which containers may take to stop.
        let deadline = Instant::now() + Duration::from_secs(45);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn status(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(".berth/up.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Waits for a condition on the published status; the state file is the event source.
pub fn wait_for(
    dir: &Path,
    what: &str,
    f: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = status(dir) {
            if f(&s) {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {:#?}",
            status(dir)
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A replica that is where it should be: serving, a completed Job, or a CronJob waiting for its time.
pub fn settled(r: &serde_json::Value) -> bool {
    r["ready"] == true
        || r["phase"] == "succeeded"
        || (r["phase"] == "waiting"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("next run at")))
}

/// Every replica settled, and no rollout under way (a replica replaced rolling shows twice, the
/// old one and its successor, until the old one has stopped).
pub fn all_ready(s: &serde_json::Value) -> bool {
    let r = s["replicas"].as_array().unwrap();
    let mut keys = std::collections::BTreeSet::new();
    let unique = r.iter().all(|r| {
        keys.insert((
            r["workload"].to_string(),
            r["index"].to_string(),
            r["container"].to_string(),
        ))
    });
    !r.is_empty() && unique && r.iter().all(settled)
}

pub fn address(s: &serde_json::Value, service: &str) -> String {
    s["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == service)
        .unwrap()["addresses"][0]
        .as_str()
        .unwrap()
        .to_string()
}

/// A one-shot HTTP/1.1 request; returns status and body.
pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_host(addr, addr, method, path, body)
}

pub fn http_host(
    addr: &str,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Processes of the long-running workloads (a CronJob's run may come and go at any minute).
pub fn pids(s: &serde_json::Value) -> Vec<i32> {
    s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workload"] != "reminders")
        .filter_map(|r| r["pid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

pub fn alive(pid: i32) -> bool {
    berth_local::pid_alive(pid as u32)
}

pub fn wait_gone(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes still alive: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks
        / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap() as f64
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A process's open file descriptors.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}
