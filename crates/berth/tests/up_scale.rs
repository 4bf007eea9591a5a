//! `berth up` at scale: a generated folder of 50 services x 2 replicas starts, is shown whole by
//! the dashboard's API, idles cheaply and stops cleanly. Prints the time to all-ready, berth's
//! RSS and its CPU use at idle (the figures issue 15 asks to report).

mod local_support;
use local_support::*;
mod scale_folder;

use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const REPLICAS: usize = 2;

#[test]
fn fifty_services_of_two_replicas_start_show_idle_and_stop() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    scale_folder::write(dir, SERVICES, REPLICAS);
    let started = Instant::now();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", |s| {
        let r = s["replicas"].as_array().unwrap();
        r.len() == SERVICES * REPLICAS && r.iter().all(|r| r["ready"] == true)
    });
    let all_ready = started.elapsed();
    let pid = child.id();

    // The dashboard's API shows every service and replica.
    let dashboard = s["dashboard"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let env = scale_folder::get_json(&dashboard, "/api/v1/environment");
    let services = env["services"].as_array().unwrap();
    let workloads: Vec<_> = services
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("svc")))
        .collect();
    assert_eq!(workloads.len(), SERVICES, "{env:#}");
    for w in &workloads {
        assert_eq!(w["replicas"].as_array().unwrap().len(), REPLICAS, "{w:#}");
        assert_eq!(w["health"], "ready", "{w:#}");
    }
    // Each Service answers through its listener.
    let (code, body) = http(&address(&s, "svc49"), "GET", "/", None);
    assert_eq!((code, body.as_str()), (200, "ok"));

    // Idle: probes keep running, nothing else.
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_seconds(pid);
    let idle = Duration::from_secs(5);
    std::thread::sleep(idle);
    let cpu = (cpu_seconds(pid) - before) / idle.as_secs_f64();
    let rss = rss_kib(pid);
    eprintln!(
        "scale: {} replicas of {SERVICES} services ready after {all_ready:.2?}; berth RSS {} MiB, CPU at idle {:.1}% of a core",
        SERVICES * REPLICAS,
        rss / 1024,
        cpu * 100.0
    );
    assert!(
        cpu < 0.25,
        "berth used {:.0}% of a core while idle",
        cpu * 100.0
    );

    let pids = pids(&status(dir).unwrap());
    assert_eq!(pids.len(), SERVICES * REPLICAS);
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    child.wait().unwrap();
    wait_gone(&pids);
    assert!(status(dir).is_none(), "the state file is removed on stop");
}
