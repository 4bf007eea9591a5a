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
    /// Where the dashboard and API listen [default: 127.0.0.1:7700, or a free port when that
    /// is taken]. Anything but loopback requires a token (BERTH_TOKEN, else one is generated).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Run specs for workloads without a `berth.dev/run` annotation (a chart you do not own):
    /// `Kind/name` -> container -> run spec [default: berth.run.yaml here, when it exists].
    #[arg(long, value_name = "FILE")]
    run: Option<PathBuf>,
    /// Rotate a workload's log file in .berth/logs/ when it reaches this size (512K, 10M, 1G).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size)]
    log_size: u64,
    /// Log files kept per workload, the current one included.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    log_files: u32,
}

/// `512`, `512K`, `10M`, `1G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("unknown unit {unit:?}: use K, M or G (10M)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size: write a number with K, M or G (10M)"))?;
    match n.checked_mul(scale) {
        Some(0) => Err("the size must be more than 0".into()),
        Some(v) => Ok(v),
        None => Err(format!("{s:?} is too large")),
    }
}

/// The dashboard's default address.
const DASHBOARD: &str = "127.0.0.1:7700";

/// What the dashboard changed on top of the folder: modes and replica counts.
#[derive(Default)]
struct Overrides {
    modes: berth_core::view::Modes,
    scale: BTreeMap<String, u32>,
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

/// What a second `berth up` asks of the running one: render with these options and apply.
#[derive(serde::Serialize, serde::Deserialize)]
struct Reload {
    environment: Option<String>,
    namespace: Option<String>,
    set: Vec<String>,
    value_files: Vec<PathBuf>,
    /// A Helm chart's flags (release name, `--set-string`, ...).
    #[serde(default)]
    chart: crate::render::ChartFlags,
    /// The run-spec file (`--run`, or `berth.run.yaml` where berth was started).
    #[serde(default)]
    run: Option<PathBuf>,
}

impl Reload {
    fn from_args(args: &UpArgs) -> Reload {
        let mut r = Reload::from_flags(&args.flags);
        r.run = match &args.run {
            Some(f) => Some(std::path::absolute(f).unwrap_or(f.clone())),
            None => std::path::absolute(berth_local::DEFAULT_RUN_FILE)
                .ok()
                .filter(|p| p.is_file()),
        };
        r
    }

    fn from_flags(flags: &RenderFlags) -> Reload {
        Reload {
            environment: flags.environment.clone(),
            namespace: flags.namespace.clone(),
            set: flags.set.clone(),
            value_files: flags
                .value_files
                .iter()
                .map(|f| std::path::absolute(f).unwrap_or(f.clone()))
                .collect(),
            chart: flags.chart.clone(),
            run: None,
        }
    }

    /// Renders the folder with these options (and the dashboard's overrides) into a plan.
    fn plan(&self, dir: &Path, over: &Overrides) -> Result<Plan, String> {
        let flags = RenderFlags {
            dir: dir.to_path_buf(),
            environment: self.environment.clone(),
            namespace: self.namespace.clone(),
            set: self.set.clone(),
            value_files: self.value_files.clone(),
            chart: self.chart.clone(),
            cluster_view: None,
        };
        let mut rendered = flags
            .render_with_modes(berth_core::view::modes_json(&over.modes))
            .map_err(|e| e.to_string())?;
        if let Some(file) = &self.run {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the run-spec file {shown}: {e}"))?;
            berth_local::apply_run_file(&mut rendered, &text, &shown)?;
        }
        let mut plan = Plan::from_rendered(&rendered).map_err(|e| e.to_string())?;
        plan.chart = flags.chart_view();
        plan.set_modes(&over.modes);
        for pw in &mut plan.workloads {
            if let Some(n) = over.scale.get(&pw.workload.name) {
                pw.workload.replicas = *n;
            }
        }
        Ok(plan)
    }
}

fn reload_file(dir: &Path) -> PathBuf {
    berth_local::state_dir(dir).join("reload.json")
}

fn applied_summary(a: &berth_local::Applied) -> String {
    let part = |what: &str, v: &[String]| {
        if v.is_empty() {
            None
        } else {
            Some(format!("{what} {}", v.join(", ")))
        }
    };
    let parts: Vec<String> = [
        part("started", &a.started),
        part("restarted", &a.restarted),
        part("stopped", &a.stopped),
    ]
    .into_iter()
    .flatten()
    .collect();
    let unchanged = format!("{} unchanged", a.unchanged.len());
    if parts.is_empty() {
        format!("no changes ({unchanged})")
    } else {
        format!("{}; {unchanged}", parts.join("; "))
    }
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
    let plan = Reload::from_args(&args)
        .plan(&dir, &over)
        .map_err(|e| format!("{e}\n  = help: fix the folder; nothing was started"))?;
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
    runtime.block_on(run(
        &dir,
        plan,
        start,
        args.listen,
        Reload::from_args(&args),
        over,
    ))
}

/// Asks the running `up` to apply this invocation's render, and reports what changed.
fn hand_over(dir: &Path, args: &UpArgs, pid: u32) -> Result<(), String> {
    let before = read_status(dir).map(|s| s.0).unwrap_or(0);
    let req = Reload::from_args(args);
    let text = serde_json::to_string(&req).map_err(|e| e.to_string())?;
    std::fs::write(reload_file(dir), text)
        .map_err(|e| format!("cannot write {}: {e}", reload_file(dir).display()))?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .map_err(|e| format!("cannot signal the running berth up (pid {pid}): {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some((generation, summary)) = read_status(dir) {
            if generation > before {
                say(&format!(
                    "berth up (pid {pid}) applied the changes: {summary}"
                ));
                return Ok(());
            }
        }
        if !berth_local::pid_alive(pid) || std::time::Instant::now() > deadline {
            return Err(format!(
                "the running berth up (pid {pid}) did not apply the changes"
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The running `up`'s generation and a summary of its latest apply.
fn read_status(dir: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(berth_local::state_file(dir)).ok()?;
    let s: Status = serde_json::from_str(&text).ok()?;
    Some((
        s.generation,
        s.last_apply
            .as_ref()
            .map(applied_summary)
            .unwrap_or_default(),
    ))
}

/// Renders the folder with `options` and applies the difference; a folder that does not
/// render changes nothing and is reported in the status.
async fn apply_folder(
    dir: &Path,
    options: &Reload,
    over: &Overrides,
    running: &mut Running,
) -> Result<berth_local::Applied, String> {
    let started = std::time::Instant::now();
    let result = match options.plan(dir, over) {
        Ok(plan) => running
            .apply(plan)
            .await
            .map_err(|e| format!("cannot apply: {e}")),
        Err(e) => Err(e),
    };
    berth_core::events::applied("local", result.is_ok(), started.elapsed());
    if let Ok(a) = &result {
        berth_core::events::objects("create", a.started.len());
        berth_core::events::objects("update", a.restarted.len());
        berth_core::events::objects("delete", a.stopped.len());
        berth_core::events::objects("unchanged", a.unchanged.len());
    }
    let error = result.as_ref().err().cloned();
    running.shared.update(|s| s.last_error = error);
    result
}

/// Watches the folder's templates and variables; one message per settled burst of saves.
fn watch(
    dir: &Path,
    value_files: &[PathBuf],
) -> Result<(impl Drop, tokio::sync::mpsc::UnboundedReceiver<()>), String> {
    // `-f` files outside the folder count too: their directories are watched for them alone.
    let extra: Vec<PathBuf> = value_files
        .iter()
        .filter_map(|f| std::path::absolute(f).ok())
        .collect();
    let extra_for_events = extra.clone();
    use notify_debouncer_full::{new_debouncer, notify::RecursiveMode, DebounceEventResult};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut debouncer = new_debouncer(
        Duration::from_millis(150),
        None,
        move |res: DebounceEventResult| {
            use notify_debouncer_full::notify::{event::ModifyKind, EventKind};
            // Only writes, creations, renames and removals: rendering itself reads the files,
            // and those access events must not trigger another render.
            let changes = |k: &EventKind| {
                matches!(
                    k,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(
                            ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                        )
                )
            };
            let relevant = res.is_ok_and(|events| {
                events
                    .iter()
                    .filter(|e| changes(&e.kind))
                    .flat_map(|e| e.paths.iter())
                    .any(|p| {
                        if extra_for_events.iter().any(|f| f == p) {
                            return true;
                        }
                        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        !name.starts_with('.')
                            && (name.ends_with(".yaml")
                                || name.ends_with(".yml")
                                || name.ends_with(".tpl"))
                    })
            });
            if relevant {
                let _ = tx.send(());
            }
        },
    )
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    debouncer
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    let dir_abs = std::path::absolute(dir).unwrap_or(dir.to_path_buf());
    let parents: std::collections::BTreeSet<PathBuf> = extra
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .filter(|p| *p != dir_abs)
        .collect();
    for p in parents {
        debouncer
            .watch(&p, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", p.display()))?;
    }
    Ok((debouncer, rx))
}

async fn run(
    dir: &Path,
    plan: Plan,
    start: berth_local::StartOptions,
    listen: Option<std::net::SocketAddr>,
    mut options: Reload,
    mut over: Overrides,
) -> Result<(), String> {
    // Before anything advertises this process: SIGHUP's default would end it.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot watch for SIGHUP: {e}"))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    // One listener for the whole run: a `ctrl_c()` made anew on each turn of the loop misses a
    // Ctrl-C that arrives while the loop is busy.
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot watch for SIGINT: {e}"))?;
    for pw in &plan.workloads {
        if let Some(why) = &pw.not_runnable {
            say(&format!(
                "{:<20} not runnable locally: {why}",
                pw.workload.name
            ));
        }
    }
    let mut running = Running::start(dir, plan, start)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    let status = running.shared.snapshot();
    say_listeners(&status);
    let (commands, mut asks) = tokio::sync::mpsc::unbounded_channel();
    let busy = std::sync::Arc::new(std::sync::Mutex::new(None));
    let backend = std::sync::Arc::new(berth_local::backend::LocalBackend {
        shared: running.shared.clone(),
        dir: dir.to_path_buf(),
        commands,
        busy: busy.clone(),
    });
    let server = start_dashboard(dir, backend, listen).await?;
    running
        .shared
        .update(|s| s.dashboard = Some(server.url.clone()));
    say(&format!("dashboard {}", server.url));
    say(&format!(
        "berth up: {} processes; Ctrl-C stops them all",
        status.replicas.len()
    ));
    let (_watcher, mut saves) = watch(dir, &options.value_files)?;
    let mut sources = Sources::default();
    sources.refresh(&running);
    let mut changes = running.shared.subscribe();
    let mut view = View::new();
    loop {
        sources.refresh(&running);
        view.update(&running.shared.snapshot());
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                match std::fs::read_to_string(reload_file(dir)).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str::<Reload>(&t).map_err(|e| e.to_string())) {
                    Ok(new) => options = new,
                    Err(e) => say(&format!("berth up: ignoring an unreadable reload request: {e}")),
                }
                report_apply(&mut view, "reloaded", apply_folder(dir, &options, &over, &mut running).await);
            }
            Some(()) = saves.recv() => report_apply(&mut view, "the folder changed", apply_folder(dir, &options, &over, &mut running).await),
            Some(changed) = sources.next() => rebuild(changed, &mut sources, &mut running, &mut view).await,
            Some(ask) = asks.recv() => {
                *busy.lock().unwrap() = Some("applying".to_string());
                running.shared.update(|_| {});
                let (why, reply, result) = answer(dir, ask, &options, &mut over, &mut running).await;
                *busy.lock().unwrap() = None;
                running.shared.update(|_| {});
                let message = result.as_ref().map(applied_summary).map_err(|e| e.clone());
                report_apply(&mut view, &why, result.map_err(|e| e.message));
                let _ = reply.send(message);
            }
            _ = changes.changed() => tokio::time::sleep(Duration::from_millis(30)).await,
        }
    }
    view.event("berth up: stopping");
    server.task.abort();
    berth_local::remove_token(dir);
    running.shutdown().await;
    say("berth up: stopped");
    Ok(())
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

/// Source mode: builds the workloads whose sources changed; if more saves arrived meanwhile,
/// builds again, so a burst restarts each once, always with the latest source.
async fn rebuild(
    mut changed: std::collections::BTreeSet<String>,
    sources: &mut Sources,
    running: &mut Running,
    view: &mut View,
) {
    let mut built = std::collections::BTreeSet::new();
    loop {
        while let Some(more) = sources.try_next() {
            changed.extend(more);
        }
        if changed.is_empty() {
            break;
        }
        for workload in std::mem::take(&mut changed) {
            match running.build_source(&workload).await {
                Ok(()) => {
                    built.insert(workload);
                }
                Err(e) => {
                    built.remove(&workload);
                    view.event(&format!("berth up: {workload}: {e}"));
                }
            }
        }
    }
    for workload in built {
        let result = running
            .restart_built(&workload)
            .await
            .map_err(|e| e.to_string());
        report_apply(view, &format!("{workload}: source changed"), result);
    }
}

/// The source-mode watcher, rebuilt whenever the set of watched services changes.
#[derive(Default)]
struct Sources {
    watched: Vec<(String, PathBuf, Vec<String>)>,
    watcher: Option<berth_local::source::SourceWatcher>,
    rx: Option<tokio::sync::mpsc::UnboundedReceiver<std::collections::BTreeSet<String>>>,
}

impl Sources {
    fn refresh(&mut self, running: &Running) {
        let now = running.watched_sources();
        let key: Vec<(String, PathBuf, Vec<String>)> = now
            .iter()
            .map(|w| (w.workload.clone(), w.root.clone(), w.globs.clone()))
            .collect();
        if key == self.watched {
            return;
        }
        self.watched = key;
        self.watcher = None;
        self.rx = None;
        if now.is_empty() {
            return;
        }
        match berth_local::source::watch(now, Duration::from_millis(25)) {
            Ok((w, rx)) => {
                self.watcher = Some(w);
                self.rx = Some(rx);
            }
            Err(e) => say(&format!("berth up: cannot watch the sources: {e}")),
        }
    }

    /// The next set of workloads whose sources changed (never, without a watcher).
    async fn next(&mut self) -> Option<std::collections::BTreeSet<String>> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    fn try_next(&mut self) -> Option<std::collections::BTreeSet<String>> {
        self.rx.as_mut()?.try_recv().ok()
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
    let token = berth_server::token_for(&addr)?;
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

/// The containers of `w` a mode change applies to: `container`, or all that can run from
/// source; an error that says why when there are none.
fn mode_targets(
    w: &berth_local::WorkloadStatus,
    name: &str,
    container: Option<&str>,
) -> Result<Vec<String>, berth_server::ApiError> {
    use berth_server::ApiError;
    let targets: Vec<String> = match container {
        Some(c) => match w.containers.iter().find(|x| x.name == c) {
            Some(x) if x.runnable => vec![c.to_string()],
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                "container {c} of {name} has no berth.dev/run entry, so it cannot run from source"
            )))
            }
            None => return Err(ApiError::not_found(format!("{name} has no container {c}"))),
        },
        None => w
            .containers
            .iter()
            .filter(|x| x.runnable)
            .map(|x| x.name.clone())
            .collect(),
    };
    if targets.is_empty() {
        return Err(ApiError::bad_request(format!(
            "no container of {name} can run from source (none has a berth.dev/run entry)"
        )));
    }
    Ok(targets)
}

/// Scales a long-running workload by re-applying the folder with the override; on failure the
/// override is taken back.
async fn scale(
    dir: &Path,
    w: &berth_local::WorkloadStatus,
    n: u32,
    options: &Reload,
    over: &mut Overrides,
    running: &mut Running,
) -> Result<berth_local::Applied, berth_server::ApiError> {
    if w.kind.is_batch() {
        return Err(berth_server::ApiError::bad_request(format!(
            "{} is a {}; only long-running workloads scale",
            w.name, w.kind
        )));
    }
    let before = over.scale.insert(w.name.clone(), n);
    let r = apply_folder(dir, options, over, running).await;
    if r.is_err() {
        match before {
            Some(b) => over.scale.insert(w.name.clone(), b),
            None => over.scale.remove(&w.name),
        };
    }
    r.map_err(unprocessable)
}

/// Switches containers of a workload to `mode`, remembers it for the next `berth up`, applies.
#[allow(clippy::too_many_arguments)]
async fn set_mode(
    dir: &Path,
    w: &berth_local::WorkloadStatus,
    container: Option<&str>,
    mode: berth_core::view::Mode,
    options: &Reload,
    over: &mut Overrides,
    running: &mut Running,
) -> Result<berth_local::Applied, berth_server::ApiError> {
    let targets = mode_targets(w, &w.name, container)?;
    let entry = over.modes.entry(w.name.clone()).or_default();
    for c in targets {
        entry.insert(c, mode);
    }
    if let Err(e) = berth_local::save_modes(dir, &over.modes) {
        say(&format!(
            "warning: the modes are not remembered for the next berth up: {e}"
        ));
    }
    apply_folder(dir, options, over, running)
        .await
        .map_err(unprocessable)
}

/// A folder that cannot be applied, as the API's answer.
fn unprocessable(e: String) -> berth_server::ApiError {
    berth_server::ApiError {
        status: 422,
        message: e,
    }
}

/// Carries out one dashboard request; returns what to report, the reply, and the result.
async fn answer(
    dir: &Path,
    ask: berth_local::backend::UpCommand,
    options: &Reload,
    over: &mut Overrides,
    running: &mut Running,
) -> (
    String,
    tokio::sync::oneshot::Sender<Result<String, berth_server::ApiError>>,
    Result<berth_local::Applied, berth_server::ApiError>,
) {
    use berth_local::backend::UpCommand;
    use berth_server::ApiError;
    let status = running.shared.snapshot();
    let find = |name: &str| {
        status
            .workloads
            .iter()
            .find(|w| w.name == name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no service named {name}")))
    };
    match ask {
        UpCommand::Restart(name, reply) => {
            let result = match find(&name) {
                Ok(_) => running
                    .restart(&name)
                    .await
                    .map_err(|e| ApiError::failed(e.to_string())),
                Err(e) => Err(e),
            };
            (format!("restart {name} (dashboard)"), reply, result)
        }
        UpCommand::Scale(name, n, reply) => {
            let result = match find(&name) {
                Ok(w) => scale(dir, &w, n, options, over, running).await,
                Err(e) => Err(e),
            };
            (format!("scale {name} to {n} (dashboard)"), reply, result)
        }
        UpCommand::Mode(name, container, mode, reply) => {
            let result = match find(&name) {
                Ok(w) => {
                    set_mode(dir, &w, container.as_deref(), mode, options, over, running).await
                }
                Err(e) => Err(e),
            };
            (
                format!("{name} to {} mode (dashboard)", mode.as_str()),
                reply,
                result,
            )
        }
        UpCommand::Redeploy(reply) => {
            let result = apply_folder(dir, options, over, running)
                .await
                .map_err(unprocessable);
            ("redeploy (dashboard)".to_string(), reply, result)
        }
    }
}

fn report_apply(view: &mut View, why: &str, result: Result<berth_local::Applied, String>) {
    match result {
        Ok(applied) => view.event(&format!("berth up: {why}: {}", applied_summary(&applied))),
        Err(e) => view.event(&format!(
            "berth up: {why}, but it does not render; nothing changed:\n{}",
            e.trim_end()
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
    let Some(running) = berth_local::running_status(&args.dir) else {
        return Err(crate::control::not_running(&args.dir));
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
