//! `berth up` leaves nothing behind when it stops: every process it started has been reaped (no
//! zombie is handed to whoever adopts its orphans). This test makes its own process the
//! subreaper of what berth leaves, so it runs alone in its own binary.

mod local_support;
use local_support::images::make_image;
use local_support::*;

use std::time::{Duration, Instant};

/// The children of this process: pid, `pid (name)` and whether it is a zombie (ended, never
/// reaped).
fn children() -> Vec<(String, String, bool)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) == Some(&me.as_str()) {
            let pid = head.split_whitespace().next().unwrap_or("").to_string();
            out.push((pid, head.to_string() + ")", fields.first() == Some(&"Z")));
        }
    }
    out
}

/// A container from a busybox image made here, and a process: berth starts Podman's service
/// for the container, runs the process, and a Job that ends at once.
fn folder() -> tempfile::TempDir {
    let image = "localhost/berth-test/busybox:1";
    make_image(image, &[], &[])
        .expect("needs podman and busybox-static (./scripts/test.sh installs them)");
    let t = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {{name: app, image: {image}, command: [sleep, "600"]}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
  annotations:
    berth.dev/run: "once: {{command: [sh, -c, 'exit 0']}}"
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: once, image: example/once}}]
"#
    );
    std::fs::write(t.path().join("app.yaml"), yaml).unwrap();
    t
}

#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn a_stopped_up_leaves_no_zombie() {
    // Orphans of berth's children come to this process, not to init.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let t = folder();
    let dir = t.path();
    let mut child = up(dir);
    wait_for(dir, "ready", |s| {
        all_ready(s) && s["replicas"].as_array().is_some_and(|r| r.len() == 2)
    });
    // Podman's container monitors (conmon) daemonize: this process adopted them already, as
    // init would; they are not berth's to reap.
    let adopted: Vec<String> = children().into_iter().map(|c| c.0).collect();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(45);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "berth up did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What berth left would be adopted by this process now; give the kernel a moment.
    std::thread::sleep(Duration::from_millis(500));
    let zombies: Vec<String> = children()
        .into_iter()
        .filter(|(pid, _, zombie)| *zombie && !adopted.contains(pid))
        .map(|c| c.1)
        .collect();
    assert!(zombies.is_empty(), "berth up left zombies: {zombies:?}");
}
