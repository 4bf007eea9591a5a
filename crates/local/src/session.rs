//! A `berth up` session: the running environment and what drives it. The folder is planned
//! again (its [`UpRequest`]) on a save, a reload or a dashboard request; the dashboard's modes
//! and replica counts are kept on top;
//! source-mode saves rebuild and restart. The CLI owns the terminal and the signals; this owns
//! every decision.

use crate::backend::{Ask, Reply, UpCommand};
use crate::request::UpRequest;
use crate::{Applied, Running, WorkloadStatus};
use berth_core::backend::ApiError;
use berth_core::timeline::Event;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the dashboard changed on top of the folder: modes and replica counts.
#[derive(Default)]
pub struct Overrides {
    pub modes: berth_core::view::Modes,
    pub scale: BTreeMap<String, u32>,
}

/// One running environment, its request and overrides, and its source watcher.
pub struct Session {
    pub dir: PathBuf,
    pub running: Running,
    /// What is planned again on a save, a reload or a dashboard change.
    pub request: UpRequest,
    pub over: Overrides,
    sources: Sources,
    /// Things to tell the user that are not an apply's outcome (drained by the CLI).
    warnings: Vec<String>,
}

/// What a dashboard request did: a line for the terminal, the reply to send, the outcome.
pub struct Answered {
    pub what: String,
    pub reply: Reply,
    pub result: Result<Applied, ApiError>,
}

impl Session {
    pub fn new(dir: &Path, running: Running, request: UpRequest, over: Overrides) -> Self {
        let mut s = Session {
            dir: dir.to_path_buf(),
            running,
            request,
            over,
            sources: Sources::default(),
            warnings: Vec::new(),
        };
        s.refresh_sources();
        s
    }

    /// Warnings since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The folder planned now. A render that fails, even by a bug in berth, changes nothing:
    /// the running set keeps running and the error is shown.
    fn plan(&self) -> Result<crate::Plan, crate::Error> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.request.plan(&self.over)
        }))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(crate::error::folder(format!(
                "berth failed while rendering the folder (a bug in berth: {why}); nothing changed"
            )))
        })
    }

    /// Renders the folder and applies the difference; a folder that does not render changes
    /// nothing and is reported in the status.
    pub async fn apply_folder(&mut self) -> Result<Applied, crate::Error> {
        let started = std::time::Instant::now();
        let planned = self.plan();
        let result = match planned {
            Ok(plan) => self
                .running
                .apply(plan)
                .await
                .map_err(|e| crate::error::start(format!("cannot apply: {e}"))),
            Err(e) => Err(e),
        };
        berth_core::events::applied("local", result.is_ok(), started.elapsed());
        if let Ok(a) = &result {
            berth_core::events::objects("create", a.started.len());
            berth_core::events::objects("update", a.restarted.len());
            berth_core::events::objects("delete", a.stopped.len());
            berth_core::events::objects("unchanged", a.unchanged.len());
        }
        let error = result.as_ref().err().map(|e| e.to_string());
        self.running.shared.update(|s| s.last_error = error);
        if let Err(e) = &result {
            let why = format!("{}; nothing changed", e.message);
            let event = Event::now("DeployFailed", why, true);
            self.running.shared.timeline.record(event);
        }
        result
    }

    /// What applying the folder now would change in the running set: its objects against the
    /// last applied ones, Secret values masked.
    pub fn preview(&self) -> Result<berth_core::view::Preview, ApiError> {
        let plan = self.plan().map_err(unprocessable)?;
        let old = self.running.applied_objects();
        Ok(berth_core::view::Preview {
            changes: berth_render::diff::between(old, &plan.objects, ("running", "folder")),
            between: "what runs and the folder as it is now".into(),
        })
    }

    /// Carries out one dashboard request.
    /// Says what is happening now (`None`: nothing), on the dashboard too.
    pub fn busy(&self, what: Option<&str>) {
        let what = what.map(str::to_string);
        self.running.shared.update(|s| s.busy = what);
    }

    /// Carries out one dashboard request, saying it is applying meanwhile; `None` for a
    /// question that changes nothing (a preview), answered already.
    pub async fn answer(&mut self, ask: Ask) -> Option<Answered> {
        let ask = match ask {
            Ask::Act(ask) => ask,
            Ask::Preview(reply) => {
                let _ = reply.send(self.preview());
                return None;
            }
        };
        self.busy(Some("applying"));
        let answered = self.carry_out(ask).await;
        self.busy(None);
        Some(answered)
    }

    async fn carry_out(&mut self, ask: UpCommand) -> Answered {
        let status = self.running.shared.snapshot();
        let find = |name: &str| {
            status
                .workloads
                .iter()
                .find(|w| w.name == name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no service named {name}")))
        };
        let (what, reply, result) = match ask {
            UpCommand::Restart(name, reply) => {
                let result = match find(&name) {
                    Ok(_) => self
                        .running
                        .restart(&name)
                        .await
                        .map_err(|e| ApiError::failed(e.to_string())),
                    Err(e) => Err(e),
                };
                (format!("restart {name} (dashboard)"), reply, result)
            }
            UpCommand::Scale(name, n, reply) => {
                let result = match find(&name) {
                    Ok(w) => self.scale(&w, n).await,
                    Err(e) => Err(e),
                };
                (format!("scale {name} to {n} (dashboard)"), reply, result)
            }
            UpCommand::Mode(name, container, mode, reply) => {
                let result = match find(&name) {
                    Ok(w) => self.set_mode(&w, container.as_deref(), mode).await,
                    Err(e) => Err(e),
                };
                let what = format!("{name} to {} mode (dashboard)", mode.as_str());
                (what, reply, result)
            }
            UpCommand::Redeploy(reply) => {
                let result = self.apply_folder().await.map_err(unprocessable);
                ("redeploy (dashboard)".to_string(), reply, result)
            }
        };
        Answered {
            what,
            reply,
            result,
        }
    }

    /// Scales a long-running workload by re-applying the folder with the override; on failure
    /// the override is taken back.
    async fn scale(&mut self, w: &WorkloadStatus, n: u32) -> Result<Applied, ApiError> {
        if w.kind.is_batch() {
            return Err(ApiError::bad_request(format!(
                "{} is a {}; only long-running workloads scale",
                w.name, w.kind
            )));
        }
        let before = self.over.scale.insert(w.name.clone(), n);
        let r = self.apply_folder().await;
        if r.is_err() {
            match before {
                Some(b) => self.over.scale.insert(w.name.clone(), b),
                None => self.over.scale.remove(&w.name),
            };
        }
        r.map_err(unprocessable)
    }

    /// Switches containers of a workload to `mode`, remembers it for the next `berth up`,
    /// applies.
    async fn set_mode(
        &mut self,
        w: &WorkloadStatus,
        container: Option<&str>,
        mode: berth_core::view::Mode,
    ) -> Result<Applied, ApiError> {
        let targets = mode_targets(w, container, mode)?;
        let entry = self.over.modes.entry(w.name.clone()).or_default();
        for c in targets {
            entry.insert(c, mode);
        }
        if let Err(e) = crate::save_modes(&self.dir, &self.over.modes) {
            self.warnings.push(format!(
                "the modes are not remembered for the next berth up: {e}"
            ));
        }
        self.apply_folder().await.map_err(unprocessable)
    }

    /// Watches the sources of the workloads now in source mode (anew when that set changed).
    pub fn refresh_sources(&mut self) {
        if let Err(e) = self.sources.refresh(&self.running) {
            self.warnings.push(format!("cannot watch the sources: {e}"));
        }
    }

    /// The next set of workloads whose sources changed (never, when none is in source mode).
    pub async fn source_changes(&mut self) -> Option<BTreeSet<String>> {
        self.sources.next().await
    }

    /// Source mode: builds the workloads whose sources changed; if more saves arrived
    /// meanwhile, builds again, so a burst restarts each once, always with the latest source.
    /// Returns each build failure (the old process keeps serving) and each restart.
    pub async fn rebuild(&mut self, mut changed: BTreeSet<String>) -> Vec<Rebuilt> {
        let mut out = Vec::new();
        let mut built = BTreeSet::new();
        loop {
            while let Some(more) = self.sources.try_next() {
                changed.extend(more);
            }
            if changed.is_empty() {
                break;
            }
            for workload in std::mem::take(&mut changed) {
                match self.running.build_source(&workload).await {
                    Ok(()) => {
                        built.insert(workload);
                    }
                    Err(e) => {
                        built.remove(&workload);
                        out.push(Rebuilt::BuildFailed(workload, e));
                    }
                }
            }
        }
        for workload in built {
            let result = self
                .running
                .restart_built(&workload)
                .await
                .map_err(|e| crate::error::start(e.to_string()));
            out.push(Rebuilt::Restarted(workload, result));
        }
        out
    }
}

/// What a source-mode rebuild did for one workload.
pub enum Rebuilt {
    BuildFailed(String, crate::Error),
    Restarted(String, Result<Applied, crate::Error>),
}

/// The containers of `w` a mode change applies to: `container`, or all that can run in
/// `mode`; an error that says why when there are none.
fn mode_targets(
    w: &WorkloadStatus,
    container: Option<&str>,
    mode: berth_core::view::Mode,
) -> Result<Vec<String>, ApiError> {
    let name = &w.name;
    let targets: Vec<String> = w
        .containers
        .iter()
        .filter(|x| container.is_none_or(|c| c == x.name))
        .filter(|x| x.modes.contains(&mode))
        .map(|x| x.name.clone())
        .collect();
    if !targets.is_empty() {
        return Ok(targets);
    }
    if let Some(c) = container {
        if !w.containers.iter().any(|x| x.name == c) {
            return Err(ApiError::not_found(format!("{name} has no container {c}")));
        }
    }
    let which = match container {
        Some(c) => format!("container {c} of {name}"),
        None => format!("no container of {name}"),
    };
    let why = match mode {
        berth_core::view::Mode::Image => "needs an image and a container engine (Docker or Podman)",
        _ => "needs a berth.dev/run entry",
    };
    let verb = if container.is_some() {
        "cannot run"
    } else {
        "can run"
    };
    Err(ApiError::bad_request(format!(
        "{which} {verb} in {} mode: that {why}",
        mode.as_str()
    )))
}

/// A folder that cannot be applied, as the API's answer.
fn unprocessable(e: crate::Error) -> ApiError {
    ApiError {
        status: 422,
        message: e.to_string(),
    }
}

/// The source-mode watcher, rebuilt whenever the set of watched services changes.
#[derive(Default)]
struct Sources {
    watched: Vec<(String, PathBuf, Vec<String>)>,
    watcher: Option<crate::source::SourceWatcher>,
    rx: Option<tokio::sync::mpsc::UnboundedReceiver<BTreeSet<String>>>,
}

impl Sources {
    fn refresh(&mut self, running: &Running) -> std::io::Result<()> {
        let now = running.watched_sources();
        let key: Vec<(String, PathBuf, Vec<String>)> = now
            .iter()
            .map(|w| (w.workload.clone(), w.root.clone(), w.globs.clone()))
            .collect();
        if key == self.watched {
            return Ok(());
        }
        self.watched = key;
        self.watcher = None;
        self.rx = None;
        if now.is_empty() {
            return Ok(());
        }
        let (w, rx) = crate::source::watch(now, Duration::from_millis(25))?;
        self.watcher = Some(w);
        self.rx = Some(rx);
        Ok(())
    }

    async fn next(&mut self) -> Option<BTreeSet<String>> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    fn try_next(&mut self) -> Option<BTreeSet<String>> {
        self.rx.as_mut()?.try_recv().ok()
    }
}

/// Watches the folder's templates and variables (and `-f` files outside it); one message per
/// settled burst of saves.
pub fn watch_folder(
    dir: &Path,
    value_files: &[PathBuf],
) -> Result<(impl Drop, tokio::sync::mpsc::UnboundedReceiver<()>), crate::Error> {
    use notify_debouncer_full::{new_debouncer, notify::RecursiveMode, DebounceEventResult};
    let extra: Vec<PathBuf> = value_files
        .iter()
        .filter_map(|f| std::path::absolute(f).ok())
        .collect();
    let extra_for_events = extra.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut debouncer = new_debouncer(
        Duration::from_millis(150),
        None,
        move |res: DebounceEventResult| {
            let relevant = res.is_ok_and(|events| {
                events
                    .iter()
                    .filter(|e| is_write(&e.kind))
                    .flat_map(|e| e.paths.iter())
                    .any(|p| extra_for_events.iter().any(|f| f == p) || is_template(p))
            });
            if relevant {
                let _ = tx.send(());
            }
        },
    )
    .map_err(|e| crate::error::state(format!("cannot watch {}: {e}", dir.display())))?;
    debouncer
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| crate::error::state(format!("cannot watch {}: {e}", dir.display())))?;
    let dir_abs = std::path::absolute(dir).unwrap_or(dir.to_path_buf());
    let parents: BTreeSet<PathBuf> = extra
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .filter(|p| *p != dir_abs)
        .collect();
    for p in parents {
        debouncer
            .watch(&p, RecursiveMode::NonRecursive)
            .map_err(|e| crate::error::state(format!("cannot watch {}: {e}", p.display())))?;
    }
    Ok((debouncer, rx))
}

/// Only writes, creations, renames and removals: rendering itself reads the files, and those
/// access events must not trigger another render.
fn is_write(k: &notify_debouncer_full::notify::EventKind) -> bool {
    use notify_debouncer_full::notify::{event::ModifyKind, EventKind};
    matches!(
        k,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    )
}

/// A template or variables file of the folder (hidden files aside).
fn is_template(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".tpl"))
}
