//! A workload's health in one word and its status in a few: the one mapping `berth status`, both
//! dashboards, the HTTP API and the metrics use, whatever the backend observed.

use crate::view::Health;
use crate::WorkloadKind;

/// What a backend observed of one workload, in the terms every backend shares.
#[derive(Clone, Debug, Default)]
pub struct Observed<'a> {
    pub kind: Option<WorkloadKind>,
    /// Replicas asked for (a Job: its completions).
    pub desired: u32,
    /// Replicas ready (a Job: pods succeeded).
    pub ready: u32,
    /// Why it cannot run here at all (locally: a container without a run spec).
    pub not_runnable: Option<&'a str>,
    /// Why the latest build failed (source mode; the previous version keeps serving).
    pub build_error: Option<&'a str>,
    /// Why it failed for good (a replica out of retries, a failed Job, a stalled rollout).
    pub failed: Option<&'a str>,
    /// A replica keeps crashing (restarts with back-off, CrashLoopBackOff, image pull errors).
    pub crash_looping: bool,
    /// A Job ran to completion.
    pub complete: bool,
    /// What a rollout still waits for, in its own words (`1 of 3 updated`), while it does.
    pub progress: Option<&'a str>,
}

impl Observed<'_> {
    /// The health and the status words shown for it.
    pub fn health(&self) -> (Health, String) {
        let kind = self.kind.unwrap_or(WorkloadKind::Deployment);
        if let Some(why) = self.not_runnable {
            return (Health::NotRunnable, format!("not runnable locally: {why}"));
        }
        if let Some(e) = self.build_error {
            return (Health::Degraded, e.to_string());
        }
        if let Some(why) = self.failed {
            return (Health::Failed, format!("failed: {why}"));
        }
        match kind {
            WorkloadKind::Job if self.complete => (Health::Completed, "completed".into()),
            _ if self.crash_looping => (Health::Degraded, "crash loop".into()),
            WorkloadKind::Job => (
                Health::Progressing,
                self.progress.unwrap_or("running").to_string(),
            ),
            WorkloadKind::CronJob => (Health::Ready, "scheduled".into()),
            _ if self.desired == 0 => (Health::Stopped, "scaled to 0".into()),
            _ => match self.progress {
                Some(p) => (Health::Progressing, p.to_string()),
                None if self.ready >= self.desired => (Health::Ready, "ready".into()),
                None => (
                    Health::Progressing,
                    format!("{} of {} ready", self.ready, self.desired),
                ),
            },
        }
    }
}

/// `image`, `process`, `source` or `mixed`: the mode of a workload from its containers'
/// modes (`image` when it has none, as on a cluster).
pub fn mode_word(modes: impl IntoIterator<Item = crate::view::Mode>) -> &'static str {
    let mut modes = modes.into_iter();
    let Some(first) = modes.next() else {
        return "image";
    };
    if modes.all(|m| m == first) {
        first.as_str()
    } else {
        "mixed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(kind: WorkloadKind) -> Observed<'static> {
        Observed {
            kind: Some(kind),
            desired: 2,
            ..Default::default()
        }
    }

    #[test]
    fn every_state_has_one_word() {
        let cases: Vec<(Observed, Health, &str)> = vec![
            (
                Observed {
                    not_runnable: Some("no run spec"),
                    ..of(WorkloadKind::Deployment)
                },
                Health::NotRunnable,
                "not runnable locally: no run spec",
            ),
            (
                Observed {
                    build_error: Some("syntax error"),
                    ..of(WorkloadKind::Deployment)
                },
                Health::Degraded,
                "syntax error",
            ),
            (
                Observed {
                    failed: Some("exit 1"),
                    ..of(WorkloadKind::Job)
                },
                Health::Failed,
                "failed: exit 1",
            ),
            (
                Observed {
                    complete: true,
                    ..of(WorkloadKind::Job)
                },
                Health::Completed,
                "completed",
            ),
            (of(WorkloadKind::Job), Health::Progressing, "running"),
            (
                Observed {
                    crash_looping: true,
                    ..of(WorkloadKind::StatefulSet)
                },
                Health::Degraded,
                "crash loop",
            ),
            (of(WorkloadKind::CronJob), Health::Ready, "scheduled"),
            (
                Observed {
                    desired: 0,
                    ..of(WorkloadKind::Deployment)
                },
                Health::Stopped,
                "scaled to 0",
            ),
            (
                Observed {
                    ready: 2,
                    ..of(WorkloadKind::DaemonSet)
                },
                Health::Ready,
                "ready",
            ),
            (
                Observed {
                    ready: 1,
                    ..of(WorkloadKind::Deployment)
                },
                Health::Progressing,
                "1 of 2 ready",
            ),
            (
                Observed {
                    ready: 2,
                    progress: Some("1 old replica pending termination"),
                    ..of(WorkloadKind::Deployment)
                },
                Health::Progressing,
                "1 old replica pending termination",
            ),
        ];
        for (o, health, words) in cases {
            assert_eq!(o.health(), (health, words.to_string()), "{o:?}");
        }
    }

    #[test]
    fn health_words_are_the_apis() {
        for h in [
            Health::Ready,
            Health::Progressing,
            Health::Degraded,
            Health::Failed,
            Health::Completed,
            Health::NotRunnable,
            Health::Stopped,
        ] {
            assert_eq!(serde_json::to_value(h).unwrap(), h.as_str());
        }
    }

    #[test]
    fn modes() {
        use crate::view::Mode::*;
        assert_eq!(mode_word([]), "image");
        assert_eq!(mode_word([Image, Image]), "image");
        assert_eq!(mode_word([Process, Process]), "process");
        assert_eq!(mode_word([Source, Source]), "source");
        assert_eq!(mode_word([Source, Process]), "mixed");
    }
}
