//! Webhook notifications: the notable events of a timeline (a crash loop, a failed deploy or
//! sync, drift healed, a paused sync) posted as Slack-compatible (`{"text": ...}`) or plain JSON,
//! at most one per service and reason every few minutes; delivered on a thread of their own with
//! retries and back-off, so the loop that made them never waits. The URL is a secret (a Slack
//! webhook's carries its token): it is never printed, not even in a delivery error.

use berth_core::timeline::{Event, Timeline};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// What a notification's body looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"text": "..."}`, which Slack, Mattermost and Teams' incoming webhooks take.
    Slack,
    /// `{"environment": ..., "event": {...}}` with the event as the API shows it.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "slack" => Ok(Format::Slack),
            "json" => Ok(Format::Json),
            _ => Err(format!("no format `{s}`: `slack` or `json`")),
        }
    }
}

/// Where notifications go.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub format: Format,
    /// The environment's name in the text (`ticketing`, `app in namespace shop`).
    pub environment: String,
    /// The shortest time between two notifications of one service and reason.
    pub quiet: Duration,
}

/// Attempts per notification, and the first wait between two (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Notifications waiting for delivery at most; more are dropped (and said so).
const QUEUE: usize = 64;

/// Whether an event is worth telling someone who is not watching.
pub fn notable(e: &Event) -> bool {
    matches!(
        e.reason.as_str(),
        "BackOff"
            | "CrashLoop"
            | "Failed"
            | "DeployFailed"
            | "SyncFailed"
            | "DriftHealed"
            | "SyncPaused"
    )
}

impl Webhook {
    /// The body posted for `e`.
    pub fn body(&self, e: &Event) -> String {
        let who = e.replica.as_deref().or(e.service.as_deref());
        let text = match who {
            Some(who) => format!(
                "berth {}: {who} {}: {}",
                self.environment, e.reason, e.message
            ),
            None => format!("berth {}: {}: {}", self.environment, e.reason, e.message),
        };
        let body = match self.format {
            Format::Slack => serde_json::json!({ "text": text }),
            Format::Json => {
                serde_json::json!({ "environment": self.environment, "text": text, "event": e })
            }
        };
        body.to_string()
    }

    /// Posts the notable events of `news` until it closes; returns at once.
    pub fn start(self, mut news: broadcast::Receiver<Event>) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(QUEUE);
        let url = self.url.clone();
        std::thread::spawn(move || deliver(&url, &rx));
        tokio::spawn(async move {
            let mut last: HashMap<(Option<String>, String), Instant> = HashMap::new();
            loop {
                let e = match news.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if !notable(&e) {
                    continue;
                }
                let key = (e.service.clone(), e.reason.clone());
                if last.get(&key).is_some_and(|t| t.elapsed() < self.quiet) {
                    continue;
                }
                last.insert(key, Instant::now());
                if tx.try_send(self.body(&e)).is_err() {
                    eprintln!("berth: webhook: too many notifications waiting; one was dropped");
                }
            }
        })
    }
}

/// Starts notifying `url` (when given) of what `timeline` records, in `format`, at most one
/// notification per service and reason every 5 minutes.
pub fn start(url: Option<&str>, format: Format, environment: &str, timeline: &Timeline) -> bool {
    let Some(url) = url else {
        return false;
    };
    let hook = Webhook {
        url: url.to_string(),
        format,
        environment: environment.to_string(),
        quiet: Duration::from_secs(300),
    };
    hook.start(timeline.subscribe());
    true
}

/// Delivers each body in turn, retrying with back-off; says (without the URL) what failed.
fn deliver(url: &str, bodies: &std::sync::mpsc::Receiver<String>) {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    for body in bodies {
        let mut wait = FIRST_RETRY;
        let mut why = String::new();
        for attempt in 1..=ATTEMPTS {
            let sent = agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(body.as_str());
            match sent {
                Ok(_) => {
                    why.clear();
                    break;
                }
                Err(ureq::Error::StatusCode(code)) => why = format!("it answered {code}"),
                Err(_) => why = "it could not be reached".into(),
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
        if !why.is_empty() {
            eprintln!("berth: webhook: a notification was not delivered after {ATTEMPTS} attempts ({why})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loop_reads_as_slack_text_and_as_json() {
        let e = Event::now("BackOff", "exited with 3", true).of("web", Some("web-0".into()));
        let mut hook = Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            format: Format::Slack,
            environment: "ticketing".into(),
            quiet: Duration::from_secs(60),
        };
        assert!(notable(&e));
        assert!(!notable(&Event::now("Started", "pid 7", false)));
        let slack: serde_json::Value = serde_json::from_str(&hook.body(&e)).unwrap();
        assert_eq!(
            slack["text"],
            "berth ticketing: web-0 BackOff: exited with 3"
        );
        hook.format = Format::Json;
        let json: serde_json::Value = serde_json::from_str(&hook.body(&e)).unwrap();
        assert_eq!(json["event"]["reason"], "BackOff");
        assert_eq!(json["environment"], "ticketing");
    }
}
