//! `berth status` and `berth logs` for a folder's running `berth up`.

use berth_local::{Phase, Status};
use clap::Args;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The deploy folder (default: the current folder; with --context, optional).
    dir: Option<PathBuf>,
    #[command(flatten)]
    cluster: crate::cluster::SetFlags,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The workload (Deployment, StatefulSet or Job) whose logs to show.
    service: String,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// The deploy folder a `berth up` runs (or ran) for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
}

/// The error for a folder without a running `berth up`.
pub fn not_running(dir: &Path) -> String {
    format!(
        "no berth up is running for {}\n  = help: start one with `berth up {}`",
        dir.display(),
        dir.display()
    )
}

fn load(dir: &Path) -> Result<Status, String> {
    let not_running = || not_running(dir);
    berth_local::running_status(dir).ok_or_else(not_running)?;
    let text = std::fs::read_to_string(berth_local::state_file(dir)).map_err(|_| not_running())?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "cannot read {}: {e}",
            berth_local::state_file(dir).display()
        )
    })
}

/// One row per workload: desired and ready replicas, state, restarts.
pub fn status(args: StatusArgs) -> Result<(), String> {
    if args.cluster.given() {
        return crate::cluster::status(args.dir, args.cluster);
    }
    let s = load(&args.dir.unwrap_or_else(|| PathBuf::from(".")))?;
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "{:<20} {:<12} {:>7}  {:<12} {:>8}  DESCRIPTION",
        "NAME", "KIND", "READY", "STATUS", "RESTARTS"
    );
    for w in &s.workloads {
        let reps: Vec<_> = s.replicas.iter().filter(|r| r.workload == w.name).collect();
        let ready = reps.iter().filter(|r| r.ready).count();
        let restarts: u32 = reps.iter().map(|r| r.restarts).sum();
        let state = if w.not_runnable.is_some() {
            "not runnable"
        } else if reps.iter().any(|r| r.phase == Phase::Failed) {
            "failed"
        } else if reps
            .iter()
            .any(|r| matches!(r.phase, Phase::CrashLoop { .. }))
        {
            "crash loop"
        } else if !reps.is_empty() && reps.iter().all(|r| r.phase == Phase::Succeeded) {
            "completed"
        } else if reps.iter().any(|r| r.phase == Phase::Waiting) {
            "waiting"
        } else if ready == reps.len() && !reps.is_empty() {
            "ready"
        } else {
            "starting"
        };
        let desc = w.description.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:>7}  {:<12} {:>8}  {desc}",
            w.name,
            w.kind,
            format!("{ready}/{}", w.desired),
            state,
            restarts
        );
        for why in w
            .not_runnable
            .iter()
            .chain(reps.iter().filter_map(|r| r.message.as_ref()))
        {
            let _ = writeln!(out, "{:<20} └ {why}", "");
        }
    }
    let _ = writeln!(out);
    for svc in &s.services {
        let _ = writeln!(out, "service {:<18} {}", svc.name, svc.addresses.join(", "));
        for n in &svc.notes {
            let _ = writeln!(out, "{:<26} └ {n}", "");
        }
    }
    if let Some(url) = &s.ingress {
        let _ = writeln!(out, "ingress {url}");
    }
    Ok(())
}

fn print_line(out: &mut impl Write, l: &berth_core::view::LogLine) -> bool {
    writeln!(
        out,
        "{}.{:03} {} {} {}",
        l.ts_ms / 1000,
        l.ts_ms % 1000,
        l.replica,
        l.stream,
        l.text
    )
    .is_ok()
}

/// Reads the logs from the running `up`'s API: its ring buffer, then new lines as they come.
fn logs_via_api(client: crate::dashboard::Client, args: &LogsArgs) -> Result<(), String> {
    let service = &args.service;
    let mut out = std::io::stdout().lock();
    if !args.follow {
        let (code, body) =
            client.request("GET", &format!("/api/v1/services/{service}/logs"), None)?;
        if code != 200 {
            return Err(api_error(code, &body, service));
        }
        let lines: Vec<berth_core::view::LogLine> =
            serde_json::from_str(&body).map_err(|e| format!("unexpected answer: {e}"))?;
        for l in &lines {
            if !print_line(&mut out, l) {
                break;
            }
        }
        return Ok(());
    }
    let mut pending = String::new();
    let mut event = String::new();
    let mut failed = None;
    let code = client.stream(
        &format!("/api/v1/services/{service}/logs?follow=true"),
        &mut |bytes| {
            pending.push_str(&String::from_utf8_lossy(bytes));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_string();
                } else if let Some(data) = line.strip_prefix("data:") {
                    let data = data.trim_start();
                    match event.as_str() {
                        "line" => {
                            if let Ok(l) = serde_json::from_str(data) {
                                if !print_line(&mut out, &l) {
                                    return false;
                                }
                            }
                        }
                        "dropped" => {
                            let _ = writeln!(
                                out,
                                "berth: {data} lines dropped (this reader fell behind)"
                            );
                        }
                        _ => failed = Some(data.to_string()),
                    }
                } else if line.is_empty() {
                    let _ = out.flush();
                }
            }
            true
        },
    )?;
    if code != 200 {
        return Err(api_error(code, failed.as_deref().unwrap_or(""), service));
    }
    Ok(())
}

fn api_error(code: u16, body: &str, service: &str) -> String {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    if code == 404 {
        format!("{msg}\n  = help: `berth status` lists the services (asked for {service:?})")
    } else {
        format!("berth up answered {code}: {msg}")
    }
}

/// Prints a workload's logs: from the running `up` when there is one, else from its log file.
pub fn logs(args: LogsArgs) -> Result<(), String> {
    if let Ok(client) = crate::dashboard::Client::for_dir(&args.dir) {
        return logs_via_api(client, &args);
    }
    let logs_dir = berth_local::state_dir(&args.dir).join("logs");
    let path = logs_dir.join(format!("{}.log", args.service));
    let mut file = std::fs::File::open(&path).map_err(|_| {
        let mut known: Vec<String> = std::fs::read_dir(&logs_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".log")
                    .map(String::from)
            })
            .collect();
        known.sort();
        let hint = if known.is_empty() {
            format!("start the folder with `berth up {}`", args.dir.display())
        } else {
            format!("workloads with logs: {}", known.join(", "))
        };
        format!(
            "no logs for {:?} in {}\n  = help: {hint}",
            args.service,
            logs_dir.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    let mut reader = std::io::BufReader::new(&mut file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n > 0 {
            if out.write_all(line.as_bytes()).is_err() {
                return Ok(());
            }
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(100));
        // The file may have been truncated by a new `berth up`.
        let pos = reader.stream_position().unwrap_or(0);
        if std::fs::metadata(&path)
            .map(|m| m.len() < pos)
            .unwrap_or(false)
        {
            reader
                .seek(std::io::SeekFrom::Start(0))
                .map_err(|e| e.to_string())?;
        }
    }
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// The workload to restart (every replica, in place).
    service: String,
    /// The deploy folder a `berth up` runs for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// The workload to scale.
    service: String,
    /// The number of replicas.
    replicas: u32,
    /// The deploy folder a `berth up` runs for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ModeArgs {
    /// The workload.
    service: String,
    /// `source` (run from your source, with the run spec's build) or `image`.
    #[arg(value_parser = ["source", "image"])]
    mode: String,
    /// Only this container (default: every container with a berth.dev/run entry).
    #[arg(long)]
    container: Option<String>,
    /// The deploy folder a `berth up` runs for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
}

fn say_done(result: Result<String, String>) -> Result<(), String> {
    let message = result?;
    let mut out = anstream::stdout();
    let _ = writeln!(out, "{message}");
    Ok(())
}

pub fn restart(args: RestartArgs) -> Result<(), String> {
    let client = crate::dashboard::Client::for_dir(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/restart", args.service),
        &serde_json::json!({}),
    ))
}

pub fn scale(args: ScaleArgs) -> Result<(), String> {
    let client = crate::dashboard::Client::for_dir(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/scale", args.service),
        &serde_json::json!({ "replicas": args.replicas }),
    ))
}

pub fn mode(args: ModeArgs) -> Result<(), String> {
    let client = crate::dashboard::Client::for_dir(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/mode", args.service),
        &serde_json::json!({ "mode": args.mode, "container": args.container }),
    ))
}
