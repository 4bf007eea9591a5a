//! `berth logs`: a workload's lines from the running `berth up`'s API (its ring, then new lines
//! as they come), or from its log file when none runs.

use clap::Args;
use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;
use std::time::Duration;

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
fn logs_via_api(client: berth_server::client::Client, args: &LogsArgs) -> anyhow::Result<()> {
    let service = &args.service;
    let mut out = std::io::stdout().lock();
    if !args.follow {
        let answer = client
            .get(&format!("/api/v1/services/{service}/logs"))
            .map_err(anyhow::Error::msg)?;
        let (code, body) = (answer.status, answer.body);
        if code != 200 {
            return Err(anyhow::anyhow!(api_error(code, &body, service)));
        }
        let lines: Vec<berth_core::view::LogLine> =
            serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("unexpected answer: {e}"))?;
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
    let code = client
        .stream(
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
        )
        .map_err(anyhow::Error::msg)?;
    if code != 200 {
        return Err(anyhow::anyhow!(api_error(
            code,
            failed.as_deref().unwrap_or(""),
            service
        )));
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
pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    if let Some(client) = crate::control::client_if_running(&args.dir) {
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
        anyhow::anyhow!(
            "no logs for {:?} in {}\n  = help: {hint}",
            args.service,
            logs_dir.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    // Rotated files first, oldest first; then the current one, followed when asked.
    for older in berth_local::log_file::files_oldest_first(&path) {
        if older == path {
            continue;
        }
        let mut f = std::fs::File::open(&older)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", older.display()))?;
        if std::io::copy(&mut f, &mut out).is_err() {
            return Ok(());
        }
    }
    let mut reader = std::io::BufReader::new(&mut file);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
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
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
}
