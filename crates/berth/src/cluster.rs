//! The Kubernetes commands: `plan`, `apply`, `history`, `rollback`, `unlock`, `status --context`.

use crate::render::RenderFlags;
use berth_core::view::Modes;
use berth_kube::show;
use berth_kube::{
    ApplyOptions, ApplySet, Cluster, ClusterRequest, ConnectOptions, DeployOptions, Plan, Progress,
    Rendered, Reporter,
};
use clap::{Args, ValueEnum};
use owo_colors::OwoColorize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Which cluster, as kubectl takes it.
#[derive(Args, Debug, Clone)]
pub struct ClusterFlags {
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// The deploy set's name (default: the folder's name).
    #[arg(long, value_name = "SET")]
    pub name: Option<String>,
    /// How long one API request keeps retrying while the server is unreachable or busy
    /// (connection refused or reset, 429, 503, ...): an API server restart is survived.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub retry_timeout: Duration,
}

impl ClusterFlags {
    /// Connects as kubectl would.
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        Cluster::connect(&ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            connect_timeout: None,
            retry_timeout: Some(self.retry_timeout),
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Whether the user asked for a cluster (so `status` goes to it rather than to `berth up`).
    pub fn given(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }
}

pub use berth_core::units::duration as parse_duration;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub(crate) render: RenderFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
    /// Output format; json is stable (docs/kubernetes.md).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: PlanFormat,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Plan as if taking ownership of fields another manager holds.
    #[arg(long)]
    force_conflicts: bool,
    /// Do not plan deletions of objects no longer rendered.
    #[arg(long)]
    no_prune: bool,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub(crate) render: RenderFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
    #[command(flatten)]
    apply: ApplyFlags,
    /// Delete nothing: keep objects that are no longer rendered.
    #[arg(long)]
    no_prune: bool,
    /// Allow a render with no objects to prune every member of the set.
    #[arg(long)]
    allow_empty: bool,
    /// When waiting fails, roll back to the previous release.
    #[arg(long)]
    atomic: bool,
}

/// Flags shared by `apply` and `rollback`.
#[derive(Args, Debug, Clone)]
pub struct ApplyFlags {
    /// Take ownership of fields another field manager holds.
    #[arg(long)]
    force_conflicts: bool,
    /// How long to wait for workloads to become ready.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// Do not wait for workloads after applying.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for another apply of the same set to finish.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    lock_timeout: Duration,
}

/// Flags for the commands that act on a set without a folder.
#[derive(Args, Debug, Clone)]
pub struct SetFlags {
    #[command(flatten)]
    pub cluster: ClusterFlags,
    /// Namespace of the deploy set (default: the context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    set: SetFlags,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: PlanFormat,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The revision to restore (default: the one before the current).
    revision: Option<u32>,
    #[command(flatten)]
    set: SetFlags,
    #[command(flatten)]
    apply: ApplyFlags,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    set: SetFlags,
    /// Show what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long a pre-delete or post-delete hook may run.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// How long to wait for an apply of the same set to finish.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    lock_timeout: Duration,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    set: SetFlags,
    /// How long each test may run.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    #[command(flatten)]
    set: SetFlags,
}

/// The runtime of the cluster commands: two workers (requests overlap, the machine may be small).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))
}

/// The request these flags make for a deploy set on a cluster (the cluster not yet asked).
pub(crate) fn cluster_request(flags: &RenderFlags, cluster: &ClusterFlags) -> ClusterRequest {
    ClusterRequest::new(flags.request(), cluster.name.clone())
}

/// The deploy set a folder renders to (name and namespace), without touching a cluster.
pub fn set_of(flags: &RenderFlags, cluster: &ClusterFlags) -> anyhow::Result<ApplySet> {
    let r = cluster_request(flags, cluster).render(&Modes::default());
    Ok(r?.set)
}

/// A deploy folder rendered before connecting, so that its mistakes show without a cluster.
fn render_offline(request: &ClusterRequest) -> anyhow::Result<Option<Rendered>> {
    request.render_offline().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Renders as the connected cluster sees it, warning of containers that cannot switch to
/// source mode.
async fn render_on(
    request: ClusterRequest,
    offline: Option<Rendered>,
    cluster: &Cluster,
) -> anyhow::Result<Rendered> {
    let (r, problems) = request.render_on(offline, cluster).await?;
    for problem in problems {
        let _ = writeln!(anstream::stderr(), "warning: source mode: {problem}");
    }
    Ok(r)
}

/// The plan's warnings (deprecated API versions), on stderr.
pub fn print_warnings(plan: &Plan) {
    let mut err = anstream::stderr();
    for w in &plan.warnings {
        let _ = writeln!(err, "{}: {w}", "warning".yellow().bold());
    }
}

/// A step in words, on stderr.
fn step(message: &str) {
    let _ = writeln!(anstream::stderr(), "{} {message}", "·".dimmed());
}

/// Shows a deploy's progress on the terminal as its events arrive.
struct Terminal {
    context: String,
    tty: bool,
    last: String,
}

impl Terminal {
    /// A reporter for a deploy, and the task that shows what it reports (see [`on_terminal`]).
    fn start(context: &str) -> (Reporter, tokio::task::JoinHandle<()>) {
        let (reporter, mut events) = Reporter::channel();
        let mut terminal = Terminal {
            context: context.to_string(),
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
        };
        let shown = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                terminal.show(event);
            }
        });
        (reporter, shown)
    }

    fn show(&mut self, event: Progress) {
        match event {
            Progress::Plan(plan) => {
                print_warnings(&plan);
                let mut out = anstream::stdout();
                let _ = write!(out, "{}", show::plan_text(&plan, &self.context));
                let _ = out.flush();
            }
            Progress::Step(message) => step(&message),
            Progress::Rollout(states) => self.rollout(&states),
        }
    }

    fn rollout(&mut self, states: &[berth_kube::Rollout]) {
        let line = show::rollout_line(states);
        if self.last == line {
            return;
        }
        let mut err = anstream::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if states.iter().all(|s| s.ready) {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        self.last = line;
    }
}

/// Runs `work` with a reporter whose progress the terminal shows (a deploy, a rollback, a
/// delete, a test), and returns once all of it is shown.
async fn on_terminal<T>(context: &str, work: impl AsyncFnOnce(&Reporter) -> T) -> T {
    let (reporter, shown) = Terminal::start(context);
    let out = work(&reporter).await;
    drop(reporter);
    let _ = shown.await;
    out
}

pub fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let request = cluster_request(&args.render, &args.cluster);
    let offline = render_offline(&request)?;
    let rt = runtime()?;
    let (changed, exit_two) = rt.block_on(async {
        let cluster = args.cluster.connect().await?;
        let r = render_on(request, offline, &cluster).await?;
        let resolver = berth_kube::resources::Resolver::default();
        let plan = berth_kube::plan_deploy(
            &cluster.client,
            &resolver,
            &r.set,
            &r.manifests,
            berth_kube::PlanOptions {
                force_conflicts: args.force_conflicts,
                prune: !args.no_prune,
            },
        )
        .await
        .map_err(|e| cluster.locate(e))?;
        print_warnings(&plan);
        let mut out = anstream::stdout();
        match args.output {
            PlanFormat::Json => {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&plan.to_json()).unwrap_or_default()
                );
            }
            PlanFormat::Text => {
                let _ = write!(out, "{}", show::plan_text(&plan, &cluster.context));
            }
        }
        berth_kube::apply::check_empty(&plan, false)?;
        Ok::<_, anyhow::Error>((plan.has_changes(), args.detailed_exitcode))
    })?;
    if changed && exit_two {
        let _ = std::io::stdout().flush();
        std::process::exit(2);
    }
    Ok(())
}

fn deploy_options(
    flags: &ApplyFlags,
    prune: bool,
    allow_empty: bool,
    atomic: bool,
) -> DeployOptions {
    DeployOptions {
        apply: ApplyOptions {
            force_conflicts: flags.force_conflicts,
            prune,
            allow_empty,
        },
        wait: (!flags.no_wait).then_some(flags.timeout),
        atomic,
        lock_timeout: flags.lock_timeout,
        dry_run: false,
        rollback: false,
    }
}

/// Deploys, naming the cluster in an error of a server that stopped answering.
pub async fn deploy(
    cluster: &Cluster,
    r: &Rendered,
    opts: &DeployOptions,
    ui: &Reporter,
) -> anyhow::Result<berth_kube::DeployOutcome> {
    berth_kube::deploy(
        &cluster.client,
        &r.set,
        &r.manifests,
        r.info.clone(),
        opts,
        ui,
    )
    .await
    .map_err(|e| cluster.locate(e).into())
}

pub fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let request = cluster_request(&args.render, &args.cluster);
    let offline = render_offline(&request)?;
    let opts = deploy_options(&args.apply, !args.no_prune, args.allow_empty, args.atomic);
    runtime()?.block_on(async {
        let cluster = args.cluster.connect().await?;
        let r = render_on(request, offline, &cluster).await?;
        let outcome = on_terminal(&cluster.context, async |ui| {
            deploy(&cluster, &r, &opts, ui).await
        })
        .await?;
        let rep = &outcome.report;
        let revision = outcome
            .revision
            .map(|r| format!("revision {}", r.number))
            .unwrap_or_else(|| "no new revision (nothing changed)".into());
        step(&format!(
            "applied: {} created, {} updated, {} unchanged, {} deleted; {revision}",
            rep.created, rep.updated, rep.unchanged, rep.deleted
        ));
        // A chart's NOTES.txt, as Helm prints it after an install.
        if let Some(n) = &r.notes {
            let _ = writeln!(anstream::stdout(), "\nNOTES:\n{}", n.trim_end());
        }
        Ok(())
    })
}

impl SetFlags {
    /// Whether a cluster was asked for.
    pub fn given(&self) -> bool {
        self.cluster.given()
    }

    /// Connects to the cluster and finds the deploy set these flags name.
    pub(crate) async fn connect(&self) -> anyhow::Result<(Cluster, ApplySet)> {
        let cluster = self.cluster.connect().await?;
        let set = resolve_set(&cluster, self).await?;
        Ok((cluster, set))
    }
}

pub(crate) async fn resolve_set(cluster: &Cluster, flags: &SetFlags) -> anyhow::Result<ApplySet> {
    let (namespace, name) = (flags.namespace.as_deref(), flags.cluster.name.as_deref());
    berth_kube::find_set(cluster, namespace, name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn history(args: HistoryArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let revisions = berth_kube::Releases::new(&cluster.client, &set)
            .list()
            .await?;
        let mut out = anstream::stdout();
        if args.output == PlanFormat::Json {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&revisions).unwrap_or_default()
            );
            return Ok(());
        }
        print_helm_history(&cluster, &revisions).await;
        let _ = write!(out, "{}", show::history_text(&revisions));
        Ok(())
    })
}

/// Before berth's revisions: the history Helm recorded for a release berth adopted, read from
/// Helm's own records while they exist.
async fn print_helm_history(cluster: &Cluster, revisions: &[berth_kube::release::Revision]) {
    let Some(release) = revisions.iter().find_map(|r| r.adopted.clone()) else {
        return;
    };
    match berth_kube::release::helm_history(&cluster.client, &release).await {
        Ok(helm) if !helm.is_empty() => {
            let text = show::helm_history_text(&release, &helm);
            let _ = write!(anstream::stdout(), "{text}");
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(
                anstream::stderr(),
                "warning: cannot read Helm's records of release {}: {e}",
                release.name
            );
        }
    }
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let opts = deploy_options(&args.apply, true, true, false);
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let (target, outcome) = on_terminal(&cluster.context, async |ui| {
            berth_kube::rollback(&cluster.client, &set, args.revision, &opts, ui).await
        })
        .await?;
        step(&format!(
            "rolled back to revision {target}{}",
            outcome
                .revision
                .map(|r| format!(" (recorded as revision {})", r.number))
                .unwrap_or_default()
        ));
        Ok(())
    })
}

pub fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let (timeout, lock_timeout) = (args.timeout, args.lock_timeout);
        let deleted = on_terminal(&cluster.context, async |ui| {
            let client = &cluster.client;
            berth_kube::delete(client, &set, timeout, lock_timeout, args.dry_run, ui).await
        })
        .await;
        let report = deleted.map_err(|e| cluster.locate(e))?;
        if !args.dry_run {
            step(&format!(
                "deleted deploy set {} ({} objects, its parent and its release history); \
                 the namespace and anything berth did not apply stay",
                set.name, report.deleted
            ));
        }
        Ok(())
    })
}

pub fn test(args: TestArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let ran = on_terminal(&cluster.context, async |ui| {
            berth_kube::test(&cluster.client, &set, args.timeout, ui).await
        })
        .await
        .map_err(|e| cluster.locate(e))?;
        if ran.is_empty() {
            step(&format!("deploy set {} has no tests", set.name));
        } else {
            step(&format!("{} tests passed: {}", ran.len(), ran.join(", ")));
        }
        Ok(())
    })
}

pub fn unlock(args: UnlockArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let holder = berth_kube::lock::unlock(&cluster.client, &set).await?;
        let mut err = anstream::stderr();
        let _ = match holder {
            Some(h) => writeln!(err, "unlocked deploy set {} (was held by {h})", set.name),
            None => writeln!(err, "deploy set {} was not locked", set.name),
        };
        Ok(())
    })
}
