//! `berth up` and `berth down`: the deploy folder as local processes.

use crate::render::RenderFlags;
use berth_local::request::UpRequest;
use berth_local::session::{Overrides, Rebuilt, Session};
use berth_local::{Phase, Plan, Running, Status};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub(crate) flags: RenderFlags,
    /// Where the Ingress (the single HTTP entry point) listens; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    ingress: std::net::SocketAddr,
    /// Where the dashboard and API listen [default: 127.0.0.1:7700, or a free port when that
    /// is taken]. Anything but loopback requires a token (BERTH_TOKEN, else one is generated).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Run specs for workloads without a `berth.dev/run` annotation (a chart you do not own):
    /// `Kind/name` -> container -> run spec [default: berth.run.yaml here, when it exists].
    #[arg(long, value_name = "FILE")]
    run: Option<PathBuf>,
    /// Rotate a workload's log file in .berth/logs/ when it reaches this size (512K, 10M, 1G).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = berth_core::units::size)]
    log_size: u64,
    /// Log files kept per workload, the current one included.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    log_files: u32,
    /// Mount `hostPath` volumes into containers in image mode (refused otherwise: a chart
    /// could mount any folder of this machine).
    #[arg(long)]
    allow_host_path: bool,
    /// Saves to the folder are not applied: the dashboard says the folder changed, and its
    /// Reload shows what would change and applies on confirmation (Tilt's manual trigger
    /// mode). Source-mode rebuilds stay automatic.
    #[arg(long)]
    manual: bool,
    #[command(flatten)]
    notify: NotifyFlags,
}

/// How the running `up` serves and reacts: the dashboard's address, webhooks, manual applies.
struct Serving {
    listen: Option<std::net::SocketAddr>,
    notify: NotifyFlags,
    manual: bool,
}

/// Where notable events go (crash loops, failed deploys and syncs, healed drift).
#[derive(Args, Debug, Clone)]
pub struct NotifyFlags {
    /// POST notable events to this webhook (at most one per service and reason every 5
    /// minutes; the URL is never printed).
    #[arg(long, value_name = "URL")]
    notify: Option<String>,
    /// The webhook's body: `slack` (`{"text": ...}`, also Mattermost and Teams) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "slack")]
    notify_format: berth_server::notify::Format,
}

impl NotifyFlags {
    /// Starts posting what `timeline` records, when a webhook was given.
    pub fn start(&self, environment: &str, timeline: &berth_core::timeline::Timeline) {
        let (url, format) = (self.notify.as_deref(), self.notify_format);
        if berth_server::notify::start(url, format, environment, timeline) {
            say("notifying a webhook of crash loops, failed deploys and healed drift");
        }
    }
}

/// The dashboard's default address.
const DASHBOARD: &str = "127.0.0.1:7700";

#[derive(Args, Debug)]
pub struct DownArgs {
    /// The deploy folder a `berth up` runs for.
    dir: PathBuf,
    /// Also remove the volumes of its PersistentVolumeClaims in image mode (kept otherwise,
    /// as a cluster keeps claims).
    #[arg(long)]
    volumes: bool,
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

/// What this invocation asks to run.
fn up_request(args: &UpArgs) -> UpRequest {
    UpRequest::new(
        args.flags.request(),
        args.run.as_deref(),
        args.allow_host_path,
    )
}

pub fn up(mut args: UpArgs) -> Result<(), String> {
    args.flags
        .environment
        .get_or_insert_with(|| "local".to_string());
    let dir = args.flags.dir.clone();
    // Validate everything before changing anything, also when handing over to a running `up`.
    let over = Overrides {
        modes: berth_local::load_modes(&dir),
        scale: BTreeMap::new(),
    };
    let plan = up_request(&args).plan(&over).map_err(|e| match e.hint {
        None => e.hint("fix the folder; nothing was started").to_string(),
        Some(_) => e.note("nothing was started").to_string(),
    })?;
    if let Some(running) = berth_local::running_status(&dir) {
        return hand_over(&dir, &args, running.pid);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let start = berth_local::StartOptions {
        ingress: args.ingress,
        log_limits: berth_local::log_file::LogLimits {
            max_bytes: args.log_size,
            files: args.log_files,
        },
    };
    let serving = Serving {
        listen: args.listen,
        notify: args.notify.clone(),
        manual: args.manual,
    };
    runtime.block_on(run(&dir, plan, start, serving, up_request(&args), over))
}

/// Asks the running `up` to apply this invocation's render, and reports what changed.
fn hand_over(dir: &Path, args: &UpArgs, pid: u32) -> Result<(), String> {
    let summary = up_request(args)
        .reload_running(dir, pid)
        .map_err(|e| e.to_string())?;
    say(&format!(
        "berth up (pid {pid}) applied the changes: {summary}"
    ));
    Ok(())
}

async fn run(
    dir: &Path,
    plan: Plan,
    start: berth_local::StartOptions,
    serving: Serving,
    options: UpRequest,
    over: Overrides,
) -> Result<(), String> {
    let mut signals = Signals::new()?;
    let running = start_running(dir, plan, start).await?;
    let name = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name = name.file_name().map(|n| n.to_string_lossy().into_owned());
    serving
        .notify
        .start(name.as_deref().unwrap_or("."), &running.shared.timeline);
    let status = running.shared.snapshot();
    let (commands, mut asks) = tokio::sync::mpsc::unbounded_channel();
    let backend = std::sync::Arc::new(berth_local::backend::LocalBackend {
        shared: running.shared.clone(),
        dir: dir.to_path_buf(),
        commands,
    });
    let server = start_dashboard(dir, backend, serving.listen).await?;
    running
        .shared
        .update(|s| s.dashboard = Some(server.url.clone()));
    say(&format!("dashboard {}", server.url));
    say(&format!(
        "berth up: {} processes; Ctrl-C stops them all",
        status.replicas.len()
    ));
    let (_watcher, mut saves) =
        berth_local::session::watch_folder(dir, &options.render.value_files)
            .map_err(|e| e.to_string())?;
    let mut session = Session::new(dir, running, options, over);
    let mut changes = session.running.shared.subscribe();
    let mut view = View::new();
    loop {
        session.refresh_sources();
        for w in session.take_warnings() {
            view.event(&format!("berth up: warning: {w}"));
        }
        view.update(&session.running.shared.snapshot());
        tokio::select! {
            _ = signals.int.recv() => break,
            _ = signals.term.recv() => break,
            _ = signals.hup.recv() => {
                match UpRequest::handed_over(dir) {
                    Ok(new) => session.request = new,
                    Err(e) => say(&format!("berth up: ignoring an unreadable reload request: {e}")),
                }
                report_apply(&mut view, "reloaded", session.apply_folder().await);
            }
            Some(()) = saves.recv() => {
                if serving.manual {
                    view.event("berth up: the folder changed; Reload in the dashboard shows what would change");
                    session.busy(Some("the folder changed: Reload to review and apply"));
                } else {
                    report_apply(&mut view, "the folder changed", session.apply_folder().await);
                }
            }
            Some(changed) = session.source_changes() => {
                for r in session.rebuild(changed).await {
                    match r {
                        Rebuilt::BuildFailed(w, e) => view.event(&format!("berth up: {w}: {e}")),
                        Rebuilt::Restarted(w, result) => report_apply(&mut view, &format!("{w}: source changed"), result),
                    }
                }
            }
            Some(ask) = asks.recv() => {
                let Some(a) = session.answer(ask).await else {
                    continue;
                };
                let message = a.result.as_ref().map(ToString::to_string).map_err(|e| e.clone());
                report_apply(&mut view, &a.what, a.result.map_err(|e| e.message));
                let _ = a.reply.send(message);
            }
            _ = changes.changed() => tokio::time::sleep(Duration::from_millis(30)).await,
        }
    }
    view.event("berth up: stopping");
    server.task.abort();
    berth_local::remove_token(dir);
    session.running.shutdown().await;
    say("berth up: stopped");
    Ok(())
}

/// Starts the processes and listeners; says what does not run locally and where things listen.
async fn start_running(
    dir: &Path,
    plan: Plan,
    start: berth_local::StartOptions,
) -> Result<Running, String> {
    for pw in &plan.workloads {
        if let Some(why) = &pw.not_runnable {
            say(&format!(
                "{:<20} not runnable locally: {why}",
                pw.workload.name
            ));
        }
    }
    let running = Running::start(dir, plan, start)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    say_listeners(&running.shared.snapshot());
    Ok(running)
}

/// The signals `up` answers: SIGINT and SIGTERM stop it, SIGHUP reloads. Installed before
/// anything advertises the process (SIGHUP's default would end it), once for the whole run (a
/// `ctrl_c()` made anew on each turn of the loop misses a Ctrl-C that arrives while it is busy).
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let on = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot watch for {name}: {e}"))
        };
        Ok(Signals {
            hup: on(SignalKind::hangup(), "SIGHUP")?,
            term: on(SignalKind::terminate(), "SIGTERM")?,
            int: on(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

/// Where the Services and the Ingress listen.
fn say_listeners(status: &Status) {
    for s in &status.services {
        say(&format!(
            "service {:<18} {}",
            s.name,
            s.addresses.join(", ")
        ));
        for n in &s.notes {
            say(&format!("{:<26} └ {n}", ""));
        }
    }
    if let Some(url) = &status.ingress {
        say(&format!("ingress {url}"));
    }
}

/// Binds the dashboard: the asked address, else 7700 on loopback, else any free loopback port.
async fn start_dashboard(
    dir: &Path,
    backend: std::sync::Arc<berth_local::backend::LocalBackend>,
    listen: Option<std::net::SocketAddr>,
) -> Result<berth_server::Server, String> {
    berth_server::metrics::install();
    berth_core::events::describe();
    let addr = listen.unwrap_or_else(|| DASHBOARD.parse().expect("valid address"));
    let token = berth_server::token_for(&addr).map_err(|e| e.to_string())?;
    if let Some(t) = &token {
        berth_local::save_token(dir, t)
            .map_err(|e| format!("cannot store the dashboard token: {e}"))?;
    }
    match berth_server::serve(backend.clone(), addr, token.clone()).await {
        Ok(s) => Ok(s),
        Err(e) if listen.is_none() && e.kind() == std::io::ErrorKind::AddrInUse => {
            let any = "127.0.0.1:0".parse().expect("valid address");
            let s = berth_server::serve(backend, any, None)
                .await
                .map_err(|e| format!("cannot start the dashboard: {e}"))?;
            say(&format!(
                "dashboard: {DASHBOARD} is in use, using {} instead",
                s.addr
            ));
            Ok(s)
        }
        Err(e) => Err(format!(
            "cannot start the dashboard on {addr}: {e}\n  = help: pass --listen with a free address (port 0 picks one)"
        )),
    }
}

fn report_apply(
    view: &mut View,
    why: &str,
    result: Result<berth_local::Applied, impl std::fmt::Display>,
) {
    match result {
        Ok(applied) => view.event(&format!("berth up: {why}: {}", applied)),
        Err(e) => view.event(&format!(
            "berth up: {why}, but it does not render; nothing changed:\n{}",
            e.to_string().trim_end()
        )),
    }
}

/// How `up` shows its replicas: on a terminal, a compact table redrawn in place; otherwise
/// (logs, CI) one line per change.
struct View {
    tty: bool,
    drawn: usize,
    shown: BTreeMap<String, String>,
}

/// Longest table line on a terminal, so no line wraps and the redraw stays in place.
const VIEW_WIDTH: usize = 110;

impl View {
    fn new() -> View {
        use std::io::IsTerminal;
        View {
            tty: std::io::stdout().is_terminal(),
            drawn: 0,
            shown: BTreeMap::new(),
        }
    }

    fn update(&mut self, s: &Status) {
        let lines = replica_lines(s);
        if !self.tty {
            for (name, line) in lines {
                if self.shown.get(&name) != Some(&line) {
                    say(&format!("{name:<20} {line}"));
                    self.shown.insert(name, line);
                }
            }
            return;
        }
        use owo_colors::OwoColorize;
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        out.push_str("\x1b[J");
        for (name, line) in &lines {
            let text: String = format!("{name:<20} {line}")
                .chars()
                .take(VIEW_WIDTH)
                .collect();
            let styled = if line.starts_with("ready") || line.starts_with("completed") {
                text.green().to_string()
            } else if line.starts_with("failed") || line.starts_with("crash") {
                text.red().to_string()
            } else {
                text.yellow().to_string()
            };
            out.push_str(&styled);
            out.push('\n');
        }
        self.drawn = lines.len();
        let mut stdout = anstream::stdout();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    /// A message above the table (on a terminal the table is redrawn below it next update).
    fn event(&mut self, msg: &str) {
        if self.tty && self.drawn > 0 {
            let mut stdout = anstream::stdout();
            let _ = write!(stdout, "\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
        say(msg);
    }
}

pub fn down(args: DownArgs) -> Result<(), String> {
    match berth_local::running_status(&args.dir) {
        Some(running) => stop_running(&args.dir, running.pid)?,
        None if !args.volumes => return Err(crate::control::not_running(&args.dir)),
        None => {}
    }
    if args.volumes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let removed = runtime
            .block_on(berth_local::container::remove_volumes(&args.dir))
            .map_err(|e| format!("cannot remove the volumes: {e}"))?;
        let s = if removed.len() == 1 { "" } else { "s" };
        say(format!("removed {} volume{s} {}", removed.len(), removed.join(" ")).trim_end());
    }
    Ok(())
}

/// Stops the `berth up` running as `pid` and waits until it has.
fn stop_running(dir: &Path, pid: u32) -> Result<(), String> {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot signal berth up (pid {pid}): {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while berth_local::pid_alive(pid) {
        if std::time::Instant::now() > deadline {
            return Err(format!("berth up (pid {pid}) did not stop within 90s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    say(&format!(
        "stopped berth up (pid {pid}) for {}",
        dir.display()
    ));
    Ok(())
}
