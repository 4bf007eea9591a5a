//! What `berth up` runs: a render request, the run-spec file that turns containers into local
//! processes, and whether host paths may be mounted. A session holds one and plans it again on
//! each save, reload and dashboard change; a second `berth up` hands its own to the running one
//! (as JSON in the state folder, then SIGHUP).

use crate::error::{folder, state, Error, ErrorKind};
use crate::session::Overrides;
use crate::Plan;
use berth_render::{Request, Target};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpRequest {
    pub render: Request,
    /// The run-spec file (`--run`, or `berth.run.yaml` where berth was started).
    #[serde(default)]
    pub run: Option<PathBuf>,
    /// `--allow-host-path`.
    #[serde(default)]
    pub allow_host_path: bool,
}

impl UpRequest {
    /// A request with its files as absolute paths (the running `up` may have started
    /// elsewhere); the run file is `run`, else `berth.run.yaml` here when there is one.
    pub fn new(render: Request, run: Option<&Path>, allow_host_path: bool) -> UpRequest {
        let run = match run {
            Some(f) => Some(std::path::absolute(f).unwrap_or(f.to_path_buf())),
            None => std::path::absolute(crate::DEFAULT_RUN_FILE)
                .ok()
                .filter(|p| p.is_file()),
        };
        UpRequest {
            render: render.absolute(),
            run,
            allow_host_path,
        }
    }

    /// Renders with the dashboard's overrides (modes, replica counts) into a plan.
    pub fn plan(&self, over: &Overrides) -> Result<Plan, Error> {
        let out = self
            .render
            .render(&over.modes, &Target::Local)
            .map_err(|e| e.with_kind(ErrorKind::Folder))?;
        let mut rendered = out.rendered;
        if let Some(file) = &self.run {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(file)
                .map_err(|e| folder(format!("cannot read the run-spec file {shown}: {e}")))?;
            crate::apply_run_file(&mut rendered, &text, &shown)?;
        }
        let mut plan = Plan::from_rendered(&rendered).map_err(|e| folder(e.to_string()))?;
        plan.chart = self.render.chart_view();
        plan.objects = rendered.objects.into_iter().map(|o| o.body).collect();
        plan.set_modes(&over.modes, crate::engine::configured());
        plan.allow_host_path = self.allow_host_path;
        for pw in &mut plan.workloads {
            if let Some(n) = over.scale.get(&pw.workload.name) {
                pw.workload.replicas = *n;
            }
        }
        Ok(plan)
    }

    /// Leaves this request for the `berth up` running in `dir`.
    pub fn hand_over(&self, dir: &Path) -> Result<(), Error> {
        let text = serde_json::to_string(self).map_err(|e| state(e.to_string()))?;
        let file = reload_file(dir);
        std::fs::write(&file, text).map_err(|e| crate::error::io(&file, e))
    }

    /// Hands this request to the `berth up` running in `dir` as process `pid` (the file, then
    /// SIGHUP) and waits until it applied it; what the apply changed.
    pub fn reload_running(&self, dir: &Path, pid: u32) -> Result<String, Error> {
        let before = crate::read_status(dir).map_or(0, |s| s.generation);
        self.hand_over(dir)?;
        let hup = nix::sys::signal::Signal::SIGHUP;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), hup).map_err(|e| {
            state(format!(
                "cannot signal the running berth up (pid {pid}): {e}"
            ))
        })?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Some(s) = crate::read_status(dir).filter(|s| s.generation > before) {
                return Ok(s.last_apply.map(|a| a.to_string()).unwrap_or_default());
            }
            if !crate::pid_alive(pid) || std::time::Instant::now() > deadline {
                let why = format!("the running berth up (pid {pid}) did not apply the changes");
                return Err(state(why));
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }

    /// The request a second `berth up` left for the one running in `dir`.
    pub fn handed_over(dir: &Path) -> Result<UpRequest, Error> {
        let file = reload_file(dir);
        let text = std::fs::read_to_string(&file).map_err(|e| crate::error::io(&file, e))?;
        serde_json::from_str(&text).map_err(|e| state(format!("{}: {e}", file.display())))
    }
}

fn reload_file(dir: &Path) -> PathBuf {
    crate::state_dir(dir).join("reload.json")
}
