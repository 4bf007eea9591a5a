//! What a deploy reports while it runs: the plan, its steps in words, rollout progress. They go
//! out as events on a channel; whoever asked (a terminal, a sync's log, the dashboard) shows
//! them as it likes, and the library never calls back into its caller.

use crate::{Plan, Rollout};
use tokio::sync::mpsc;

/// One event of a running deploy.
#[derive(Debug)]
pub enum Progress {
    /// The plan, before anything is written.
    Plan(Box<Plan>),
    /// A step in words.
    Step(String),
    /// The latest rollout state while waiting.
    Rollout(Vec<Rollout>),
}

/// Where a deploy's [`Progress`] goes: a channel, or nowhere.
#[derive(Clone, Debug, Default)]
pub struct Reporter(Option<mpsc::UnboundedSender<Progress>>);

impl Reporter {
    /// A reporter and the events it sends; the receiver ends once every reporter is dropped.
    pub fn channel() -> (Reporter, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Reporter(Some(tx)), rx)
    }

    /// A reporter that says nothing (the dashboard shows only a deploy's outcome).
    pub fn quiet() -> Reporter {
        Reporter(None)
    }

    fn send(&self, event: impl FnOnce() -> Progress) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event());
        }
    }

    pub(crate) fn plan(&self, plan: &Plan) {
        self.send(|| Progress::Plan(Box::new(plan.clone())));
    }

    pub(crate) fn info(&self, message: String) {
        self.send(|| Progress::Step(message));
    }

    pub(crate) fn rollout(&self, states: &[Rollout]) {
        self.send(|| Progress::Rollout(states.to_vec()));
    }
}
