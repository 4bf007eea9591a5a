//! `berth shell SVC`: a shell in a workload's working directory with the environment its
//! processes get, so a developer can run what the service runs. Values stay on this machine.

use crate::render::RenderFlags;
use clap::Args;
use std::os::unix::process::CommandExt;

#[derive(Args, Debug)]
pub struct ShellArgs {
    /// The workload.
    service: String,
    /// The container (default: the first with a berth.dev/run entry).
    #[arg(long)]
    container: Option<String>,
    /// The deploy folder.
    #[arg(short = 'C', long = "dir", default_value = ".")]
    dir: std::path::PathBuf,
    /// Environment, as for `berth up` (default: local).
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    environment: Option<String>,
    /// Run this instead of an interactive shell.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn shell(args: ShellArgs) -> anyhow::Result<()> {
    let environment = Some(args.environment.unwrap_or_else(|| "local".into()));
    let flags = RenderFlags::folder(&args.dir, environment, None);
    let modes = berth_local::load_modes(&args.dir);
    let rendered = flags
        .request()
        .render(&modes, &berth_render::Target::Local)?
        .rendered;
    let plan = berth_local::Plan::from_rendered(&rendered)?;
    let Some(pw) = plan
        .workloads
        .iter()
        .find(|pw| pw.workload.name == args.service)
    else {
        let known: Vec<&str> = plan
            .workloads
            .iter()
            .map(|pw| pw.workload.name.as_str())
            .collect();
        return Err(anyhow::anyhow!(
            "no workload named {:?} in {}\n  = help: known workloads: {}",
            args.service,
            args.dir.display(),
            known.join(", ")
        ));
    };
    let w = &pw.workload;
    let c = match &args.container {
        Some(name) => w.containers.iter().find(|c| &c.name == name),
        None => w
            .containers
            .iter()
            .find(|c| c.run.is_some())
            .or(w.containers.first()),
    }
    .ok_or_else(|| anyhow::anyhow!("{} has no such container", w.name))?;
    if let Some(engine) = berth_local::running_status(&args.dir)
        .and_then(|_| berth_local::container::running_engine(&args.dir))
    {
        if let Some(err) = shell_in_container(&args.dir, &engine, &w.name, &c.name, &args.command) {
            return Err(err);
        }
    }
    let env = plan
        .shell_env(&args.dir, w, c)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let workdir = match c.run.as_ref().and_then(|r| r.workdir.as_deref()) {
        Some(w) => args.dir.join(w),
        None => args.dir.clone(),
    };
    let (program, rest) = match args.command.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (
            std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()),
            Vec::new(),
        ),
    };
    let err = std::process::Command::new(&program)
        .args(rest)
        .current_dir(&workdir)
        .envs(env)
        .env("BERTH_SHELL", &w.name)
        .exec();
    Err(anyhow::anyhow!(
        "cannot start {program} in {}: {err}",
        workdir.display()
    ))
}

/// `berth shell` into the container of replica 0, when it runs in image mode: the engine's own
/// `exec -it` (Podman's or Docker's command). `None` when no such container runs.
fn shell_in_container(
    dir: &std::path::Path,
    engine: &berth_local::container::RunningEngine,
    workload: &str,
    container: &str,
    command: &[String],
) -> Option<anyhow::Error> {
    let id = engine.find(dir, workload, container)?;
    let mut cmd = engine.command();
    cmd.args(["exec", "-i"]);
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        cmd.arg("-t");
    }
    cmd.arg(&id);
    if command.is_empty() {
        cmd.arg("sh");
    } else {
        cmd.args(command);
    }
    let err = cmd.exec();
    Some(anyhow::anyhow!(
        "cannot run {:?} to open a shell in container {id}: {err}",
        cmd.get_program()
    ))
}
