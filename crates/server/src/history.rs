//! The dashboard's graphs: every service sampled from [`Backend::measured`] at a fixed interval
//! into a [`History`] (15 minutes, in memory), served as JSON.

use crate::Backend;
use berth_core::history::History;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far back the graphs go.
pub const SPAN: Duration = Duration::from_secs(15 * 60);
/// How often a sample is taken, unless `BERTH_SAMPLE_INTERVAL_MS` says otherwise (tests and
/// demos take one every few hundred milliseconds).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The interval asked for in the environment, or [`INTERVAL`].
pub fn interval() -> Duration {
    std::env::var("BERTH_SAMPLE_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.max(50)))
        .unwrap_or(INTERVAL)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Samples `backend` into `history` until dropped. A view with `/proc` reads for every replica
/// is built off the runtime's threads.
pub async fn sample(backend: Arc<dyn Backend>, history: Arc<History>) {
    let mut tick = tokio::time::interval(history.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (b, h) = (backend.clone(), history.clone());
        let _ = tokio::task::spawn_blocking(move || h.sample(&b.measured(), now_ms())).await;
    }
}
