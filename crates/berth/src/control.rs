//! `berth restart/scale/mode`: actions on a running `berth up`, through its API.

use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The error for a folder without a running `berth up`.
pub fn not_running(dir: &Path) -> String {
    format!(
        "no berth up is running for {}\n  = help: start one with `berth up {}`",
        dir.display(),
        dir.display()
    )
}

/// The API client of the `berth up` running for `dir`, if one runs.
pub fn client_if_running(dir: &Path) -> Option<berth_server::client::Client> {
    let (authority, token) = berth_local::running_api(dir)?;
    Some(berth_server::client::Client::new(&authority, token))
}

fn client(dir: &Path) -> anyhow::Result<berth_server::client::Client> {
    client_if_running(dir).ok_or_else(|| anyhow::anyhow!(not_running(dir)))
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
    /// `image` (its image, on Docker or Podman), `process` (its berth.dev/run spec) or `source`
    /// (the run spec with its build, rebuilt and restarted on save).
    #[arg(value_parser = ["image", "process", "source"])]
    mode: String,
    /// Only this container (default: every container that can run in that mode).
    #[arg(long)]
    container: Option<String>,
    /// The deploy folder a `berth up` runs for.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: PathBuf,
}

fn say_done(result: Result<String, berth_server::Error>) -> anyhow::Result<()> {
    let message = result?;
    let mut out = anstream::stdout();
    let _ = writeln!(out, "{message}");
    Ok(())
}

pub fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let client = client(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/restart", args.service),
        &serde_json::json!({}),
    ))
}

pub fn scale(args: ScaleArgs) -> anyhow::Result<()> {
    let client = client(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/scale", args.service),
        &serde_json::json!({ "replicas": args.replicas }),
    ))
}

pub fn mode(args: ModeArgs) -> anyhow::Result<()> {
    let client = client(&args.dir)?;
    say_done(client.post(
        &format!("/api/v1/services/{}/mode", args.service),
        &serde_json::json!({ "mode": args.mode, "container": args.container }),
    ))
}
