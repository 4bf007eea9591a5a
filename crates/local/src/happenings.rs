//! The events of a local environment, read from its replicas' state changes (as a kubelet's
//! events follow its pods): a start, readiness, an exit and restart, a crash loop, a failed
//! probe, an image pull, a Job's end.

use crate::state::{Phase, ReplicaStatus};
use berth_core::timeline::Event;

/// What changed between two states of one replica, as events.
pub(crate) fn transitions(before: &ReplicaStatus, after: &ReplicaStatus) -> Vec<Event> {
    let replica = format!("{}-{}", after.workload, after.index);
    let message = || after.message.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut add = |reason: &str, text: String, warning: bool| {
        out.push(Event::now(reason, text, warning).of(&after.workload, Some(replica.clone())));
    };
    if after.restarts > before.restarts {
        add("Restarted", message(), true);
    }
    // A probe failing while the replica starts is how a start looks; once it served, it is news.
    if after.probe_failures > before.probe_failures && before.ready {
        add("Unhealthy", message(), true);
    }
    if after.phase != before.phase {
        match &after.phase {
            Phase::Running => add("Started", started(after), false),
            Phase::CrashLoop { retry_in_ms } => add(
                "BackOff",
                format!(
                    "{} (restarting in {:.1}s)",
                    message(),
                    *retry_in_ms as f64 / 1000.0
                ),
                true,
            ),
            Phase::Failed => add("Failed", message(), true),
            Phase::Succeeded => add("Completed", "ran to completion".into(), false),
            Phase::Waiting | Phase::Starting | Phase::Stopped => {}
        }
    }
    if after.ready && !before.ready {
        add("Ready", "ready to serve".into(), false);
    }
    if after.message != before.message {
        if let Some(m) = &after.message {
            if m.starts_with("pulling image") {
                add("Pulling", m.clone(), false);
            } else if m.starts_with("pulled image") {
                add("Pulled", m.clone(), false);
            }
        }
    }
    out
}

fn started(r: &ReplicaStatus) -> String {
    match r.pid {
        Some(pid) => format!("container {} started (pid {pid})", r.container),
        None => format!("container {} started", r.container),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica() -> ReplicaStatus {
        ReplicaStatus {
            id: 0,
            workload: "web".into(),
            index: 0,
            container: "web".into(),
            pid: Some(7),
            ports: Default::default(),
            port_names: Default::default(),
            phase: Phase::Starting,
            ready: false,
            restarts: 0,
            probe_failures: 0,
            started: None,
            source: false,
            message: None,
            initialized: false,
        }
    }

    #[test]
    fn a_crash_and_its_back_off_are_two_warnings() {
        let before = replica();
        let mut after = before.clone();
        after.restarts = 1;
        after.phase = Phase::CrashLoop { retry_in_ms: 2000 };
        after.message = Some("exited with exit status: 3".into());
        let events = transitions(&before, &after);
        let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["Restarted", "BackOff"]);
        assert!(events.iter().all(|e| e.warning));
        assert!(events[1].message.contains("exit status: 3"), "{events:?}");
        assert_eq!(events[0].replica.as_deref(), Some("web-0"));
        assert!(transitions(&after, &after).is_empty());
    }
}
