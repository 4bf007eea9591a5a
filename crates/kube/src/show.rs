//! Plans and rollouts in words, as `berth plan`, `berth apply` and `berth sync` print them
//! (coloured like git's diffs; a terminal that shows no colour strips them).

use crate::{Change, ChangeKind, Plan, Rollout};
use owo_colors::OwoColorize;

/// The plan in words: a line per change with its diff, then the counts and notes.
pub fn plan_text(plan: &Plan, context: &str) -> String {
    let mut s = format!(
        "Plan for deploy set {} in namespace {} (context {}):\n",
        plan.set.name.bold(),
        plan.set.namespace,
        context
    );
    for c in &plan.changes {
        s.push_str(&change_text(c, &plan.set.namespace));
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

/// One change: what happens to which object (and where it comes from), then its diff.
fn change_text(c: &Change, set_namespace: &str) -> String {
    let kind = if c.oref.group.is_empty() {
        c.oref.kind.clone()
    } else {
        format!("{}.{}", c.oref.kind, c.oref.group)
    };
    let name = format!("{kind}/{}", c.oref.name);
    let ns = c
        .oref
        .namespace
        .as_ref()
        .filter(|ns| **ns != set_namespace)
        .map(|ns| format!(" (namespace {ns})"))
        .unwrap_or_default();
    let source = c
        .source
        .as_ref()
        .map(|s| format!("  {}", s.dimmed()))
        .unwrap_or_default();
    let mut s = match c.action {
        ChangeKind::Create => {
            return format!("  {} create {name}{ns}{source}\n", "+".green().bold())
        }
        ChangeKind::Update => format!("  {} update {name}{ns}{source}\n", "~".yellow().bold()),
        ChangeKind::Replace => format!(
            "  {} replace {name}{ns} (delete and create: immutable fields change){source}\n",
            "±".yellow().bold()
        ),
        ChangeKind::Delete => return format!("  {} delete {name}{ns} (prune)\n", "-".red().bold()),
        ChangeKind::Unchanged => return String::new(),
    };
    if !c.changed_secret_keys.is_empty() {
        s.push_str(&format!(
            "      changed keys (values hidden): {}\n",
            c.changed_secret_keys.join(", ")
        ));
    }
    s.push_str(&diff_lines(c.diff.as_deref().unwrap_or("")));
    s
}

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

/// Where the rollouts stand, in one line: `2/3 ready; waiting for web: ...`.
pub fn rollout_line(states: &[Rollout]) -> String {
    let pending: Vec<String> = states
        .iter()
        .filter(|s| !s.ready)
        .map(|s| format!("{}: {}", s.oref.name, s.message))
        .collect();
    if pending.is_empty() {
        return format!("all {} ready", berth_core::count(states.len(), "workload"));
    }
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
}

/// A deploy set's revisions as a table, as `berth history` prints it.
pub fn history_text(revisions: &[crate::Revision]) -> String {
    let mut s = format!(
        "{:>8}  {:<19}  {:<11}  {:>7}  {:<12}  SOURCE\n",
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
        let source = match &r.adopted {
            Some(h) => format!(
                "{} (adopted Helm release {}/{})",
                r.source, h.namespace, h.name
            ),
            None => r.source.clone(),
        };
        s.push_str(&format!(
            "{:>8}  {:<19}  {:<11}  {:>7}  {:<12}  {source}\n",
            r.number,
            r.time.chars().take(19).collect::<String>(),
            r.status.to_string(),
            r.objects,
            commit,
        ));
    }
    s
}

/// The history Helm recorded for a release berth adopted, before berth's own revisions.
pub fn helm_history_text(
    release: &crate::release::HelmRelease,
    helm: &[crate::release::HelmRevision],
) -> String {
    let mut s = format!(
        "Helm release {} (namespace {}), before berth adopted it:\n",
        release.name, release.namespace
    );
    s.push_str(&format!(
        "{:>8}  {:<19}  {:<11}  {:<24}  DESCRIPTION\n",
        "REVISION", "TIME (UTC)", "STATUS", "CHART"
    ));
    for h in helm {
        s.push_str(&format!(
            "{:>8}  {:<19}  {:<11}  {:<24}  {}\n",
            h.version,
            h.last_deployed.chars().take(19).collect::<String>(),
            h.status,
            h.chart,
            h.description
        ));
    }
    s.push_str("berth:\n");
    s
}

/// A deploy set's workloads as a table, as `berth status --context` prints it.
pub fn status_text(report: &crate::status::StatusReport, context: &str) -> String {
    let mut out = String::new();
    let revision = report
        .revision
        .as_ref()
        .map(|r| {
            format!(
                "revision {} ({})",
                r.number,
                r.time.chars().take(19).collect::<String>()
            )
        })
        .unwrap_or_else(|| "no deployed revision".into());
    out.push_str(&format!(
        "deploy set {} in namespace {} (context {context}), {revision}\n",
        report.set, report.namespace
    ));
    let mut rows = vec![[
        "NAME",
        "DESIRED/READY/AVAIL",
        "STATUS",
        "IMAGE",
        "AGE",
        "DESCRIPTION",
    ]
    .map(String::from)];
    let mut notes = Vec::new();
    for w in &report.workloads {
        let v = &w.view;
        let (word, long) = v.short_status();
        if let Some(long) = long {
            notes.push(format!("{}: {long}", v.name));
        }
        let images: Vec<&str> = v
            .containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .collect();
        rows.push([
            format!("{}/{}", v.kind.as_str().to_lowercase(), v.name),
            format!("{}/{}/{}", v.desired, v.ready, v.available),
            word,
            images.join(","),
            age(&w.created),
            v.description.clone().unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for n in notes {
        out.push_str(&format!("  └ {n}\n"));
    }
    out
}

/// How long ago an RFC 3339 time was, as kubectl says it (`45s`, `12m`, `3h`, `2d`).
fn age(created: &str) -> String {
    let Ok(t) = created.parse::<k8s_openapi::jiff::Timestamp>() else {
        return "-".into();
    };
    let secs = k8s_openapi::jiff::Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
