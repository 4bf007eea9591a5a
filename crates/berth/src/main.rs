//! The `berth` command line.

mod alloc;
mod cluster;
mod control;
mod dependency;
mod diff;
mod events;
mod kube_dashboard;
mod logs;
mod render;
mod shell;
mod status;
mod sync;
mod up;
mod verify;

/// Rendering makes many small allocations; mimalloc makes them (and the page faults) cheaper.
#[global_allocator]
static GLOBAL: alloc::MiMalloc = alloc::MiMalloc;

use clap::{Parser, Subcommand};
use owo_colors::OwoColorize;
use std::process::ExitCode;

/// Run a whole platform from one folder of templated Kubernetes manifests.
#[derive(Parser)]
// `--version` is berth's on `berth` alone: on a command it is the chart's, as in Helm.
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = RENDER_ABOUT)]
    Render(render::RenderArgs),
    /// Run the deploy folder as local processes (no cluster, no containers); Ctrl-C stops all.
    Up(up::UpArgs),
    /// Stop the `berth up` running for a folder.
    Down(up::DownArgs),
    /// Show the workloads of a running `berth up` (or, with --context, of the deploy set on a cluster).
    Status(status::StatusArgs),
    /// What happened: deploys, starts, exits, restarts, failed probes, pulls, crash loops,
    /// sync heals (from the running `berth up`, or with --context from the cluster)
    Events(events::EventsArgs),
    /// Show (or follow) the logs of one workload of a `berth up`.
    Logs(logs::LogsArgs),
    /// Compare the rendered objects at a git ref (default HEAD) with the working tree (or a
    /// second ref), no cluster needed; exits 0 when the same, 1 when different, 2 on trouble.
    Diff(diff::DiffArgs),
    /// Show what `apply` would change on the cluster: a server-side dry-run diffed against live objects.
    Plan(cluster::PlanArgs),
    /// Apply the deploy folder to a cluster: validate, apply in order, prune, wait, record a release.
    Apply(cluster::ApplyArgs),
    /// List the releases of a deploy set on a cluster.
    History(cluster::HistoryArgs),
    /// Re-apply an earlier release of a deploy set as a new one.
    Rollback(cluster::RollbackArgs),
    /// Keep a cluster in sync with the folder (and its git branch): apply changes, heal drift.
    Sync(sync::SyncArgs),
    /// Serve the dashboard and API over a deploy set on a cluster.
    Dashboard(kube_dashboard::DashboardArgs),
    /// Delete a deploy set from a cluster, as `helm uninstall`: pre-delete hooks, every member,
    /// its records, post-delete hooks.
    Delete(cluster::DeleteArgs),
    /// A chart's dependencies from repositories and registries: list, update, build (as Helm's).
    Dependency(dependency::DependencyArgs),
    /// Check a packaged chart against its provenance file (NAME-VERSION.tgz.prov), as `helm verify`.
    Verify(verify::VerifyArgs),
    /// Run a deployed chart's tests (its `helm.sh/hook: test` objects), as `helm test`.
    Test(cluster::TestArgs),
    /// Break a deploy set's lock left by a killed apply.
    Unlock(cluster::UnlockArgs),
    /// Restart every replica of a workload of the running `berth up`.
    Restart(control::RestartArgs),
    /// Set the number of replicas of a workload of the running `berth up`.
    Scale(control::ScaleArgs),
    /// Switch a workload of the running `berth up` between image and source mode.
    Mode(control::ModeArgs),
    /// Open a shell in a workload's working directory with its environment.
    Shell(shell::ShellArgs),
    /// Run a command and restart it in place on SIGHUP or POST /restart (source mode in a container).
    Rerun(RerunArgs),
    /// Print the shell completion script (e.g. `berth completions bash > /etc/bash_completion.d/berth`).
    Completions(CompletionsArgs),
    /// Write man pages: berth.1 and one per command (e.g. `berth man -o /usr/local/share/man/man1`).
    Man(ManArgs),
}

#[derive(clap::Args)]
struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
struct ManArgs {
    /// The folder to write the pages into (created if missing).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR", default_value = ".")]
    out_dir: std::path::PathBuf,
}

fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(())
}

fn man(args: ManArgs) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out_dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.out_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot write man pages into {}: {e}",
            args.out_dir.display()
        )
    })?;
    println!("man pages written to {}", args.out_dir.display());
    Ok(())
}

#[derive(clap::Args)]
struct RerunArgs {
    /// Also accept `POST /restart` on 127.0.0.1:PORT.
    #[arg(long)]
    port: Option<u16>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs `berth rerun` and exits with the child's code.
fn rerun(args: RerunArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    let code = runtime.block_on(berth_local::rerun(args.command, args.port))?;
    std::process::exit(code);
}

/// Prints an error the way cargo does, and gives the exit code for it.
fn report(err: &dyn std::fmt::Display) -> ExitCode {
    let mut stderr = anstream::stderr();
    let text = err.to_string();
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    use std::io::Write;
    let _ = writeln!(
        stderr,
        "{}{} {}",
        "error".red().bold(),
        ":".bold(),
        first.bold()
    );
    if !rest.trim().is_empty() {
        let _ = write!(stderr, "{}", rest.trim_end_matches('\n'));
        let _ = writeln!(stderr);
    }
    ExitCode::from(1)
}

/// What `berth render` does, for its help (both ways of parsing it).
const RENDER_ABOUT: &str = "Render a deploy folder and print the objects in apply order";

/// Parses the command line. Defining all the commands' arguments takes 0.2 ms a run, so
/// `berth render` (which scripts and editors run in loops) defines only its own, with the same
/// help, version and errors (a test compares them).
fn parse_cli() -> Cli {
    use clap::FromArgMatches;
    if std::env::args_os().nth(1).is_none_or(|a| a != "render") {
        return Cli::parse();
    }
    let matches = render_only().get_matches();
    let sub = matches.subcommand_matches("render");
    match sub.map(render::RenderArgs::from_arg_matches) {
        Some(Ok(args)) => Cli {
            command: Command::Render(args),
        },
        Some(Err(e)) => e.exit(),
        None => Cli::parse(),
    }
}

/// The command line with only `render` defined, as [`Cli`] defines it.
fn render_only() -> clap::Command {
    use clap::Args;
    // As the derive does: the arguments' own docs first, the command's about over them.
    let render = render::RenderArgs::augment_args(clap::Command::new("render"))
        .about(RENDER_ABOUT)
        .long_about(None);
    clap::Command::new("berth")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(render)
}

/// The stack of berth's render threads: deeply nested templates and values recurse (Go grows
/// its stacks; a Rust thread's is fixed). Only the pages a run touches are used.
const WORKER_STACK: usize = 256 << 20;

fn main() -> ExitCode {
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        // Read by std when it spawns a thread without a size of its own: the render workers.
        std::env::set_var("RUST_MIN_STACK", WORKER_STACK.to_string());
    }
    // On a 1 GiB stack segment of this thread (see `on_own_stack`): a thread of its own for
    // that also took a fresh heap segment, and the huge page behind it zeroed, for every run.
    berth_template::on_own_stack(run)
}

impl Command {
    /// The render flags of a command that takes a folder or a chart.
    fn render_flags(&mut self) -> Option<&mut render::RenderFlags> {
        match self {
            Command::Render(a) => Some(&mut a.flags),
            Command::Diff(a) => Some(&mut a.flags),
            Command::Up(a) => Some(&mut a.flags),
            Command::Plan(a) => Some(&mut a.render),
            Command::Apply(a) => Some(&mut a.render),
            Command::Sync(a) => Some(&mut a.render),
            Command::Dashboard(a) => Some(&mut a.render),
            _ => None,
        }
    }
}

fn run() -> ExitCode {
    let mut cli = parse_cli();
    if let Some(flags) = cli.command.render_flags() {
        if let Err(e) = flags.pull_remote_chart() {
            return report(&anyhow::anyhow!("{e}"));
        }
    }
    let result = match cli.command {
        Command::Render(args) => render::run(args).map_err(|e| anyhow::anyhow!("{e}")),
        Command::Up(args) => up::up(args).map_err(anyhow::Error::msg),
        Command::Down(args) => up::down(args).map_err(anyhow::Error::msg),
        Command::Status(args) => status::status(args),
        Command::Events(args) => events::events(args),
        Command::Restart(args) => control::restart(args),
        Command::Scale(args) => control::scale(args),
        Command::Mode(args) => control::mode(args),
        Command::Shell(args) => shell::shell(args),
        Command::Diff(args) => return diff::run(args),
        Command::Plan(args) => cluster::plan(args),
        Command::Apply(args) => cluster::apply(args),
        Command::History(args) => cluster::history(args),
        Command::Rollback(args) => cluster::rollback(args),
        Command::Unlock(args) => cluster::unlock(args),
        Command::Dashboard(args) => kube_dashboard::dashboard(args),
        Command::Sync(args) => sync::sync(args),
        Command::Logs(args) => logs::logs(args),
        Command::Delete(args) => cluster::delete(args),
        Command::Test(args) => cluster::test(args),
        Command::Dependency(args) => dependency::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Rerun(args) => rerun(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The render-only command line answers as the whole one does.
    #[test]
    fn render_only_parses_as_the_whole_command_line() {
        let (mut whole, mut only) = (super::Cli::command(), super::render_only());
        for args in [
            &["berth", "render", "--help"][..],
            &["berth", "render", "-h"],
            &["berth", "render", "--version"],
            &["berth", "render", "--bogus", "dir"],
            &["berth", "render"],
            &["berth", "render", "a", "b"],
            &["berth", "render", "-o", "xml", "dir"],
        ] {
            let a = whole
                .try_get_matches_from_mut(args)
                .unwrap_err()
                .render()
                .to_string();
            let b = only
                .try_get_matches_from_mut(args)
                .unwrap_err()
                .render()
                .to_string();
            assert_eq!(a, b, "{args:?}");
        }
        let args = [
            "berth", "render", "dir", "-e", "prod", "-v", "a=1", "-o", "json",
        ];
        let a = whole.try_get_matches_from_mut(args).unwrap();
        let b = only.try_get_matches_from_mut(args).unwrap();
        assert_eq!(
            format!("{:?}", a.subcommand_matches("render")),
            format!("{:?}", b.subcommand_matches("render"))
        );
    }
}
