//! Every replica's output in memory: a bounded ring per service for `since` queries, and one
//! broadcast for live followers. Slow followers lose lines and are told how many.

use crate::view::LogLine;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Lines kept per service.
pub const RING: usize = 10_000;
/// Lines a live follower may fall behind before it loses some.
const LIVE: usize = 65_536;

/// The log store of an environment.
pub struct LogHub {
    rings: Mutex<BTreeMap<String, VecDeque<Arc<LogLine>>>>,
    live: broadcast::Sender<Arc<LogLine>>,
    seq: AtomicU64,
}

impl Default for LogHub {
    fn default() -> Self {
        LogHub {
            rings: Mutex::new(BTreeMap::new()),
            live: broadcast::channel(LIVE).0,
            seq: AtomicU64::new(0),
        }
    }
}

impl LogHub {
    /// Records a line and hands it to followers.
    pub fn push(&self, service: &str, replica: &str, stream: &str, text: String) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let line = Arc::new(LogLine {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            ts_ms: ts.as_millis() as u64,
            service: service.to_string(),
            replica: replica.to_string(),
            stream: stream.to_string(),
            text,
        });
        {
            let mut rings = self.rings.lock().expect("log lock");
            let ring = rings.entry(service.to_string()).or_default();
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(line.clone());
        }
        let _ = self.live.send(line);
    }

    /// Kept lines of a service after `since` (all kept lines when `None`), at most `tail`.
    pub fn since(&self, service: &str, since: Option<u64>, tail: Option<usize>) -> Vec<LogLine> {
        let rings = self.rings.lock().expect("log lock");
        let Some(ring) = rings.get(service) else {
            return Vec::new();
        };
        let after: Vec<&Arc<LogLine>> = ring
            .iter()
            .filter(|l| since.is_none_or(|s| l.seq > s))
            .collect();
        let skip = tail.map_or(0, |t| after.len().saturating_sub(t));
        after
            .into_iter()
            .skip(skip)
            .map(|l| (**l).clone())
            .collect()
    }

    /// Every line from now on, of every service.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.live.subscribe()
    }
}
