//! `berth up` and `berth down`: the deploy folder as local processes.

use crate::render::RenderFlags;
use berth_local::{Phase, Plan, Running, Status};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    flags: RenderFlags,
    /// Where the Ingress (the single HTTP entry point) listens; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    ingress: std::net::SocketAddr,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// The deploy folder a `berth up` runs for.
    dir: PathBuf,
}

fn say(line: &str) {
    let mut out = anstream::stdout();
    let _ = writeln!(out, "{line}");
}

/// One line per replica, so the view only prints what changed.
fn replica_lines(s: &Status) -> BTreeMap<String, String> {
    s.replicas
        .iter()
        .map(|r| {
            let name = format!("{}-{}", r.workload, r.index);
            let port = r
                .ports
                .values()
                .next()
                .map(|p| format!(" on 127.0.0.1:{p}"))
                .unwrap_or_default();
            let state = match (&r.phase, r.ready) {
                (Phase::Running, true) => format!("ready{port}"),
                (Phase::Running, false) => format!("running, not ready{port}"),
                (Phase::Starting, _) => "starting".to_string(),
                (Phase::CrashLoop { retry_in_ms }, _) => format!(
                    "crash loop, restart in {:.1}s",
                    *retry_in_ms as f64 / 1000.0
                ),
                (Phase::Failed, _) => "failed".to_string(),
                (Phase::Waiting, _) => "waiting".to_string(),
                (Phase::Succeeded, _) => "completed".to_string(),
                (Phase::Stopped, _) => "stopped".to_string(),
            };
            let why = r
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            let restarts = if r.restarts > 0 {
                format!(" [{} restarts]", r.restarts)
            } else {
                String::new()
            };
            (name, format!("{state}{restarts}{why}"))
        })
        .collect()
}

pub fn up(mut args: UpArgs) -> Result<(), String> {
    args.flags
        .environment
        .get_or_insert_with(|| "local".to_string());
    let dir = args.flags.dir.clone();
    if let Some(running) = berth_local::running_status(&dir) {
        return Err(format!(
            "berth up is already running for {} (pid {})\n  = help: stop it with `berth down {}`",
            dir.display(),
            running.pid,
            dir.display()
        ));
    }
    let rendered = args.flags.render().map_err(|e| e.to_string())?;
    let plan = Plan::from_rendered(&rendered)
        .map_err(|e| format!("{e}\n  = help: fix the object in the deploy folder"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run(&dir, plan, args.ingress))
}

async fn run(dir: &Path, plan: Plan, ingress: std::net::SocketAddr) -> Result<(), String> {
    for pw in &plan.workloads {
        if let Some(why) = &pw.not_runnable {
            say(&format!(
                "{:<20} not runnable locally: {why}",
                pw.workload.name
            ));
        }
    }
    let running = Running::start(dir, plan, ingress)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    let status = running.shared.snapshot();
    for s in &status.services {
        say(&format!(
            "service {:<18} {}",
            s.name,
            s.addresses.join(", ")
        ));
    }
    if let Some(url) = &status.ingress {
        say(&format!("ingress {url}"));
    }
    say(&format!(
        "berth up: {} processes; Ctrl-C stops them all",
        status.replicas.len()
    ));
    let mut changes = running.shared.subscribe();
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    loop {
        for (name, line) in replica_lines(&running.shared.snapshot()) {
            if shown.get(&name) != Some(&line) {
                say(&format!("{name:<20} {line}"));
                shown.insert(name, line);
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = changes.changed() => tokio::time::sleep(Duration::from_millis(30)).await,
        }
    }
    say("berth up: stopping");
    running.shutdown().await;
    say("berth up: stopped");
    Ok(())
}

pub fn down(args: DownArgs) -> Result<(), String> {
    let Some(running) = berth_local::running_status(&args.dir) else {
        return Err(format!(
            "no berth up is running for {}\n  = help: start one with `berth up {}`",
            args.dir.display(),
            args.dir.display()
        ));
    };
    let pid = nix::unistd::Pid::from_raw(running.pid as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot signal berth up (pid {}): {e}", running.pid))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while berth_local::pid_alive(running.pid) {
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "berth up (pid {}) did not stop within 90s",
                running.pid
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    say(&format!(
        "stopped berth up (pid {}) for {}",
        running.pid,
        args.dir.display()
    ));
    Ok(())
}
