//! What happened to an environment, in order: deploys, starts, exits, restarts, probe failures,
//! image pulls, crash loops, heals. Both backends keep one (the local one from its replicas'
//! state changes, the cluster one from Kubernetes Events and berth's releases); the dashboard
//! and `berth events` show it.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;

/// One thing that happened, as a Kubernetes Event says it: a reason (`BackOff`, `Unhealthy`,
/// `Pulled`, `Deployed`) and a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unix milliseconds of the latest occurrence.
    pub ts_ms: u64,
    /// The service (workload) it concerns; `None` for the whole environment (a deploy).
    pub service: Option<String>,
    /// `web-0`, or the pod's name.
    pub replica: Option<String>,
    pub reason: String,
    pub message: String,
    /// Something went wrong (Kubernetes' `Warning` type), rather than as it should.
    pub warning: bool,
    /// How many times it happened in a row (repeats are folded, as Kubernetes does).
    pub count: u32,
}

impl Event {
    /// An event now.
    pub fn now(reason: &str, message: impl Into<String>, warning: bool) -> Event {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Event {
            ts_ms: ts.as_millis() as u64,
            service: None,
            replica: None,
            reason: reason.to_string(),
            message: message.into(),
            warning,
            count: 1,
        }
    }

    /// The same event, about a replica of a service.
    pub fn of(mut self, service: &str, replica: Option<String>) -> Event {
        self.service = Some(service.to_string());
        self.replica = replica;
        self
    }

    /// Whether it is the same happening as `other` (so a repeat folds into it).
    fn repeats(&self, other: &Event) -> bool {
        self.reason == other.reason
            && self.service == other.service
            && self.replica == other.replica
            && self.message == other.message
    }
}

/// One line: `12:04:05  web-0  BackOff  exited with 1 (x3)`, a warning marked `!`.
impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.ts_ms / 1000;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let who = self
            .replica
            .as_deref()
            .or(self.service.as_deref())
            .unwrap_or("-");
        let mark = if self.warning { '!' } else { ' ' };
        write!(
            f,
            "{h:02}:{m:02}:{s:02} {mark} {who:<24} {:<14} {}",
            self.reason, self.message
        )?;
        if self.count > 1 {
            write!(f, " (x{})", self.count)?;
        }
        Ok(())
    }
}

/// The last events of an environment, newest last, within a fixed budget.
#[derive(Debug)]
pub struct Timeline {
    events: Mutex<VecDeque<Event>>,
    capacity: usize,
    /// Each new event (not a folded repeat), for whoever listens (webhook notifications).
    news: tokio::sync::broadcast::Sender<Event>,
}

/// Events a timeline keeps by default (the oldest go first).
pub const TIMELINE_CAPACITY: usize = 2000;

impl Default for Timeline {
    fn default() -> Self {
        Timeline::with_capacity(TIMELINE_CAPACITY)
    }
}

impl Timeline {
    pub fn with_capacity(capacity: usize) -> Timeline {
        Timeline {
            events: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            news: tokio::sync::broadcast::channel(256).0,
        }
    }

    /// Records `event`; a repeat of one of the service's recent events folds into it (its count
    /// and time move), as Kubernetes folds a crash loop's events.
    pub fn record(&self, event: Event) {
        let mut events = self.events.lock().expect("timeline lock");
        let recent = events.iter_mut().rev().take(8).find(|e| e.repeats(&event));
        if let Some(e) = recent {
            e.count += 1;
            e.ts_ms = event.ts_ms;
            return;
        }
        if events.len() == self.capacity {
            events.pop_front();
        }
        let _ = self.news.send(event.clone());
        events.push_back(event);
    }

    /// Every new event from now on (a repeat that folds into an earlier one is not news).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.news.subscribe()
    }

    /// The events kept, oldest first; those of one service when `service` is given.
    pub fn list(&self, service: Option<&str>) -> Vec<Event> {
        let events = self.events.lock().expect("timeline lock");
        let mut out: Vec<Event> = events
            .iter()
            .filter(|e| service.is_none() || e.service.as_deref() == service)
            .cloned()
            .collect();
        out.sort_by_key(|e| e.ts_ms);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_and_the_budget_holds() {
        let t = Timeline::with_capacity(3);
        for _ in 0..5 {
            t.record(Event::now("BackOff", "exited with 1", true).of("web", Some("web-0".into())));
        }
        t.record(Event::now("Deployed", "generation 2", false));
        let all = t.list(None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].count, 5);
        assert_eq!(t.list(Some("web")).len(), 1);
        for i in 0..5 {
            t.record(Event::now("Started", format!("pid {i}"), false).of("api", None));
        }
        assert_eq!(t.list(None).len(), 3, "the oldest go first");
        assert!(t.list(Some("web")).is_empty());
    }
}
