//! The Kubernetes commands: `plan`, `apply`, `history`, `rollback`, `unlock`, `status --context`.

use crate::render::RenderFlags;
use berth_core::view::Modes;
use berth_kube::{
    ApplyOptions, ApplySet, ChangeKind, Cluster, ClusterRequest, ConnectOptions, DeployOptions,
    Plan, Rendered, Rollout, Ui,
};
use clap::{Args, ValueEnum};
use owo_colors::OwoColorize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
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

/// A duration as `30s`, `5m`, `1h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 30s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}` has an unknown unit (use ms, s, m or h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

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
    Ok(r.map_err(|e| anyhow::anyhow!("{e}"))?.set)
}

/// A deploy folder rendered before connecting, so that its mistakes show without a cluster;
/// `None` for a chart, which renders as the cluster sees it ([`render_on`]).
fn render_offline(request: &ClusterRequest) -> anyhow::Result<Option<Rendered>> {
    if request.request.is_chart() {
        return Ok(None);
    }
    let r = request.render(&Modes::default());
    r.map(Some).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Renders on a connected cluster: a chart as the cluster sees it (its `lookup` may call it),
/// a folder as it rendered offline; then again in the source modes the cluster records, if
/// any (containers that cannot switch are warned about).
async fn render_on(
    request: ClusterRequest,
    offline: Option<Rendered>,
    cluster: &Cluster,
) -> anyhow::Result<Rendered> {
    let located = |e| anyhow::anyhow!("{}", cluster.locate(e));
    let request = request.seen_by(&cluster.client).await.map_err(located)?;
    let r = match offline {
        Some(r) => r,
        None => tokio::task::block_in_place(|| request.render(&Modes::default()))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let modes = berth_kube::target::live_modes(&cluster.client, &r.set)
        .await
        .map_err(located)?;
    if modes.is_empty() {
        return Ok(r);
    }
    let (again, problems) = request
        .render_switching(&modes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for problem in problems {
        let _ = writeln!(anstream::stderr(), "warning: source mode: {problem}");
    }
    Ok(again)
}

/// Prints plans, steps and rollout progress to the terminal.
struct Terminal {
    context: String,
    tty: bool,
    last: Mutex<String>,
}

impl Terminal {
    fn new(context: &str) -> Terminal {
        Terminal {
            context: context.to_string(),
            tty: std::io::stderr().is_terminal(),
            last: Mutex::new(String::new()),
        }
    }
}

/// The plan's warnings (deprecated API versions), on stderr.
pub fn print_warnings(plan: &Plan) {
    let mut err = anstream::stderr();
    for w in &plan.warnings {
        let _ = writeln!(err, "{}: {w}", "warning".yellow().bold());
    }
}

/// The plan in words, as `berth plan` prints it.
/// A change's diff, indented and coloured like git's.
fn diff_lines(diff: &str) -> String {
    let mut s = String::new();
    for line in diff.lines() {
        let shown = if line.starts_with("+++") || line.starts_with("---") {
            line.dimmed().to_string()
        } else if line.starts_with('+') {
            line.green().to_string()
        } else if line.starts_with('-') {
            line.red().to_string()
        } else if line.starts_with("@@") {
            line.cyan().to_string()
        } else {
            line.to_string()
        };
        s.push_str(&format!("      {shown}\n"));
    }
    s
}

pub fn plan_text(plan: &Plan, context: &str) -> String {
    let mut s = format!(
        "Plan for deploy set {} in namespace {} (context {}):\n",
        plan.set.name.bold(),
        plan.set.namespace,
        context
    );
    for c in &plan.changes {
        let name = format!(
            "{}/{}",
            if c.oref.group.is_empty() {
                c.oref.kind.clone()
            } else {
                format!("{}.{}", c.oref.kind, c.oref.group)
            },
            c.oref.name
        );
        let ns = c
            .oref
            .namespace
            .as_ref()
            .filter(|ns| **ns != plan.set.namespace)
            .map(|ns| format!(" (namespace {ns})"))
            .unwrap_or_default();
        let source = c
            .source
            .as_ref()
            .map(|s| format!("  {}", s.dimmed()))
            .unwrap_or_default();
        match c.action {
            ChangeKind::Create => s.push_str(&format!(
                "  {} create {name}{ns}{source}\n",
                "+".green().bold()
            )),
            ChangeKind::Update | ChangeKind::Replace => {
                if c.action == ChangeKind::Update {
                    s.push_str(&format!(
                        "  {} update {name}{ns}{source}\n",
                        "~".yellow().bold()
                    ));
                } else {
                    s.push_str(&format!(
                        "  {} replace {name}{ns} (delete and create: immutable fields change){source}\n",
                        "±".yellow().bold()
                    ));
                }
                if !c.changed_secret_keys.is_empty() {
                    s.push_str(&format!(
                        "      changed keys (values hidden): {}\n",
                        c.changed_secret_keys.join(", ")
                    ));
                }
                s.push_str(&diff_lines(c.diff.as_deref().unwrap_or("")));
            }
            ChangeKind::Delete => s.push_str(&format!(
                "  {} delete {name}{ns} (prune)\n",
                "-".red().bold()
            )),
            ChangeKind::Unchanged => {}
        }
    }
    let count = |k| plan.count(k);
    s.push_str(&format!(
        "Plan: {} to create, {} to update, {} to delete, {} unchanged.\n",
        count(ChangeKind::Create),
        count(ChangeKind::Update) + count(ChangeKind::Replace),
        count(ChangeKind::Delete),
        count(ChangeKind::Unchanged)
    ));
    for n in &plan.notes {
        s.push_str(&format!("{} {n}\n", "note:".cyan().bold()));
    }
    s
}

impl Ui for Terminal {
    fn plan(&self, plan: &Plan) {
        print_warnings(plan);
        let mut out = anstream::stdout();
        let _ = write!(out, "{}", plan_text(plan, &self.context));
        let _ = out.flush();
    }

    fn info(&self, message: String) {
        let mut err = anstream::stderr();
        let _ = writeln!(err, "{} {message}", "·".dimmed());
    }

    fn rollout(&self, states: &[Rollout]) {
        let pending: Vec<String> = states
            .iter()
            .filter(|s| !s.ready)
            .map(|s| format!("{}: {}", s.oref.name, s.message))
            .collect();
        let line = if pending.is_empty() {
            format!("all {} ready", berth_core::count(states.len(), "workload"))
        } else {
            let more = pending.len().saturating_sub(3);
            format!(
                "{}/{} ready; waiting for {}{}",
                states.len() - pending.len(),
                states.len(),
                pending[..pending.len() - more].join("; "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        let mut last = self.last.lock().unwrap();
        if *last == line {
            return;
        }
        let mut err = anstream::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if pending.is_empty() {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        *last = line;
    }
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
        .map_err(|e| anyhow::anyhow!("{}", cluster.locate(e)))?;
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
                let _ = write!(out, "{}", plan_text(&plan, &cluster.context));
            }
        }
        berth_kube::apply::check_empty(&plan, false).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    ui: &dyn Ui,
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
    .map_err(|e| anyhow::anyhow!("{}", cluster.locate(e)))
}

pub fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let request = cluster_request(&args.render, &args.cluster);
    let offline = render_offline(&request)?;
    let opts = deploy_options(&args.apply, !args.no_prune, args.allow_empty, args.atomic);
    runtime()?.block_on(async {
        let cluster = args.cluster.connect().await?;
        let r = render_on(request, offline, &cluster).await?;
        let ui = Terminal::new(&cluster.context);
        let outcome = deploy(&cluster, &r, &opts, &ui).await?;
        let rep = &outcome.report;
        let revision = outcome
            .revision
            .map(|r| format!("revision {}", r.number))
            .unwrap_or_else(|| "no new revision (nothing changed)".into());
        ui.info(format!(
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
}

impl SetFlags {
    /// Connects to the cluster and finds the deploy set these flags name.
    async fn connect(&self) -> anyhow::Result<(Cluster, ApplySet)> {
        let cluster = self.cluster.connect().await?;
        let set = resolve_set(&cluster, self).await?;
        Ok((cluster, set))
    }
}

pub(crate) async fn resolve_set(cluster: &Cluster, flags: &SetFlags) -> anyhow::Result<ApplySet> {
    let namespace = flags
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let name = match &flags.cluster.name {
        Some(n) => n.clone(),
        None => berth_kube::only_set(&cluster.client, &namespace)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    Ok(ApplySet { name, namespace })
}

pub fn history(args: HistoryArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let revisions = berth_kube::Releases::new(&cluster.client, &set)
            .list()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
        let _ = writeln!(
            out,
            "{:>8}  {:<19}  {:<11}  {:>7}  {:<12}  SOURCE",
            "REVISION", "TIME (UTC)", "STATUS", "OBJECTS", "COMMIT"
        );
        for r in revisions {
            let commit: String = r
                .git_commit
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(12)
                .collect();
            let _ = writeln!(
                out,
                "{:>8}  {:<19}  {:<11}  {:>7}  {:<12}  {}",
                r.number,
                r.time.chars().take(19).collect::<String>(),
                r.status.to_string(),
                r.objects,
                commit,
                match &r.adopted {
                    Some(h) => format!(
                        "{} (adopted Helm release {}/{})",
                        r.source, h.namespace, h.name
                    ),
                    None => r.source.clone(),
                }
            );
        }
        Ok(())
    })
}

/// Before berth's revisions: the history Helm recorded for a release berth adopted, read from
/// Helm's own records while they exist.
async fn print_helm_history(cluster: &Cluster, revisions: &[berth_kube::release::Revision]) {
    let Some(release) = revisions.iter().find_map(|r| r.adopted.clone()) else {
        return;
    };
    let mut out = anstream::stdout();
    match berth_kube::release::helm_history(&cluster.client, &release).await {
        Ok(helm) if !helm.is_empty() => {
            let _ = writeln!(
                out,
                "Helm release {} (namespace {}), before berth adopted it:",
                release.name, release.namespace
            );
            let _ = writeln!(
                out,
                "{:>8}  {:<19}  {:<11}  {:<24}  DESCRIPTION",
                "REVISION", "TIME (UTC)", "STATUS", "CHART"
            );
            for h in helm {
                let _ = writeln!(
                    out,
                    "{:>8}  {:<19}  {:<11}  {:<24}  {}",
                    h.version,
                    h.last_deployed.chars().take(19).collect::<String>(),
                    h.status,
                    h.chart,
                    h.description
                );
            }
            let _ = writeln!(out, "berth:");
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
        let ui = Terminal::new(&cluster.context);
        let (target, outcome) =
            berth_kube::rollback(&cluster.client, &set, args.revision, &opts, &ui)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        ui.info(format!(
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
        let ui = Terminal::new(&cluster.context);
        let report = berth_kube::delete(
            &cluster.client,
            &set,
            args.timeout,
            args.lock_timeout,
            args.dry_run,
            &ui,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", cluster.locate(e)))?;
        if !args.dry_run {
            ui.info(format!(
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
        let ui = Terminal::new(&cluster.context);
        let ran = berth_kube::test(&cluster.client, &set, args.timeout, &ui)
            .await
            .map_err(|e| anyhow::anyhow!("{}", cluster.locate(e)))?;
        if ran.is_empty() {
            ui.info(format!("deploy set {} has no tests", set.name));
        } else {
            ui.info(format!("{} tests passed: {}", ran.len(), ran.join(", ")));
        }
        Ok(())
    })
}

pub fn unlock(args: UnlockArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (cluster, set) = args.set.connect().await?;
        let holder = berth_kube::lock::unlock(&cluster.client, &set)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut err = anstream::stderr();
        let _ = match holder {
            Some(h) => writeln!(err, "unlocked deploy set {} (was held by {h})", set.name),
            None => writeln!(err, "deploy set {} was not locked", set.name),
        };
        Ok(())
    })
}
