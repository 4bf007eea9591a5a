//! `berth logs`: a workload's lines from the running `berth up`'s API (its ring, then new lines
//! as they come), or from its log file when none runs.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;

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
    use berth_server::client::LogEvent;
    let mut out = std::io::stdout().lock();
    let mut show = |event| match event {
        LogEvent::Line(l) => print_line(&mut out, &l),
        LogEvent::Dropped(n) => {
            writeln!(out, "berth: {n} lines dropped (this reader fell behind)").is_ok()
        }
        LogEvent::Pause => out.flush().is_ok(),
    };
    client
        .logs(&args.service, args.follow, &mut show)
        .map_err(anyhow::Error::new)
}

/// Prints a workload's logs: from the running `up` when there is one, else from its log file.
pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    if let Some(client) = crate::control::client_if_running(&args.dir) {
        return logs_via_api(client, &args);
    }
    let path = berth_local::log_file::path_for(&args.dir, &args.service);
    if !path.exists() {
        let known = berth_local::log_file::workloads_with_logs(&args.dir);
        let hint = if known.is_empty() {
            format!("start the folder with `berth up {}`", args.dir.display())
        } else {
            format!("workloads with logs: {}", known.join(", "))
        };
        return Err(anyhow::anyhow!(
            "no logs for {:?} in {}\n  = help: {hint}",
            args.service,
            path.parent().unwrap_or(&args.dir).display()
        ));
    }
    let mut out = std::io::stdout().lock();
    berth_local::log_file::copy_logs(&path, args.follow, &mut out)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}
