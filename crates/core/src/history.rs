//! What a service did over the last minutes, for the dashboard's graphs: a sample of every
//! service at a fixed interval (CPU, memory, restarts and, where berth's Ingress serves it,
//! requests/s, error rate and p50/p99 latency), kept in memory within a fixed budget.
//!
//! Backends report counters as they stand ([`EnvironmentView`], [`TrafficView`]); a
//! [`History`] turns two readings into rates and quantiles, so every backend gets the same
//! graphs from the same arithmetic.

use crate::view::{EnvironmentView, ServiceView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (milliseconds) of the latency buckets; one more bucket counts what is slower.
pub const LATENCY_BOUNDS_MS: [f64; 20] = [
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 25.0, 40.0, 60.0, 100.0, 150.0, 250.0, 400.0,
    600.0, 1000.0, 2500.0, 10000.0,
];
const BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Requests a service answered through the Ingress, counted as they happen (lock-free: the
/// Ingress records every request).
#[derive(Debug, Default)]
pub struct Traffic {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Traffic {
    /// One answer: its status (5xx counts as an error) and the time to its head.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Relaxed);
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = LATENCY_BOUNDS_MS.partition_point(|&b| b < ms);
        self.latency[bucket].fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn view(&self) -> TrafficView {
        TrafficView {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            latency: self.latency.iter().map(|c| c.load(Relaxed)).collect(),
        }
    }
}

/// Requests through the Ingress since the service was first served: counters, never reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficView {
    pub requests: u64,
    /// Answers with a 5xx status (berth's own 502 and 503 included).
    pub errors: u64,
    /// Answers per latency bucket ([`LATENCY_BOUNDS_MS`], then one for slower).
    pub latency: Vec<u64>,
}

impl TrafficView {
    /// Two counters added (the Services in front of one workload).
    pub fn plus(&self, other: &TrafficView) -> TrafficView {
        let n = self.latency.len().max(other.latency.len());
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        TrafficView {
            requests: self.requests + other.requests,
            errors: self.errors + other.errors,
            latency: (0..n)
                .map(|i| at(&self.latency, i) + at(&other.latency, i))
                .collect(),
        }
    }
}

/// One service at one time. A value the backend cannot measure is absent, not zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Unix milliseconds.
    pub t: u64,
    /// CPU used, in cores (1.0 = one core busy), over the interval before `t`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Resident memory of all replicas, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Restarts of all replicas so far.
    pub restarts: u32,
    pub ready: u32,
    /// Requests per second through the Ingress over the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    /// The share of those answered with a 5xx (0..1); absent without requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<f64>,
    /// Median and 99th percentile time to the answer's head, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

/// The last reading of a service's counters, to take differences from.
#[derive(Clone, Debug)]
struct Reading {
    t: u64,
    cpu_seconds: Option<f64>,
    /// CPU in use as the backend measured it (a cluster's metrics API): no difference needed.
    cpu_cores: Option<f64>,
    traffic: Option<TrafficView>,
}

#[derive(Debug, Default)]
struct Series {
    points: VecDeque<Point>,
    last: Option<Reading>,
}

/// The recent history of every service: at most `capacity` points each, at most
/// [`MAX_SERVICES`] services (a service gone from the environment is dropped with its history).
#[derive(Debug)]
pub struct History {
    capacity: usize,
    interval: Duration,
    series: Mutex<BTreeMap<String, Series>>,
}

/// Services beyond this many are not sampled: the memory budget holds for any folder.
pub const MAX_SERVICES: usize = 1000;

impl History {
    /// A history of `span` (15 minutes for the dashboard) sampled every `interval`.
    pub fn new(span: Duration, interval: Duration) -> History {
        let interval = interval.max(Duration::from_millis(10));
        let capacity = (span.as_millis() / interval.as_millis()).clamp(2, 10_000) as usize;
        History {
            capacity,
            interval,
            series: Mutex::default(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Points kept per service.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most memory the points may take: every service full.
    pub fn budget_bytes(&self) -> usize {
        MAX_SERVICES * self.capacity * std::mem::size_of::<Point>()
    }

    /// Takes a sample of every service of `view` at `t` (Unix milliseconds).
    pub fn sample(&self, view: &EnvironmentView, t: u64) {
        let mut series = self.series.lock().unwrap();
        series.retain(|name, _| view.services.iter().any(|s| &s.name == name));
        for s in view.services.iter() {
            if !series.contains_key(&s.name) && series.len() >= MAX_SERVICES {
                continue;
            }
            let one = series.entry(s.name.clone()).or_default();
            let reading = reading_of(s, t);
            let point = point(s, &reading, one.last.as_ref());
            if one.points.len() == self.capacity {
                one.points.pop_front();
            }
            one.points.push_back(point);
            one.last = Some(reading);
        }
    }

    /// One service's points, oldest first (`None`: no such service sampled).
    pub fn of(&self, service: &str) -> Option<Vec<Point>> {
        let series = self.series.lock().unwrap();
        series
            .get(service)
            .map(|s| s.points.iter().cloned().collect())
    }

    /// Every service's last `n` points, for the main table's sparklines.
    pub fn recent(&self, n: usize) -> BTreeMap<String, Vec<Point>> {
        let series = self.series.lock().unwrap();
        series
            .iter()
            .map(|(name, s)| {
                let skip = s.points.len().saturating_sub(n);
                (name.clone(), s.points.iter().skip(skip).cloned().collect())
            })
            .collect()
    }
}

fn reading_of(s: &ServiceView, t: u64) -> Reading {
    let sum = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum());
    Reading {
        t,
        cpu_seconds: sum(s.replicas.iter().filter_map(|r| r.cpu_seconds).collect()),
        cpu_cores: sum(s.replicas.iter().filter_map(|r| r.cpu_cores).collect()),
        traffic: s.traffic.clone(),
    }
}

/// A point from this reading and the one before it (rates need two).
fn point(s: &ServiceView, now: &Reading, before: Option<&Reading>) -> Point {
    let memory: Vec<u64> = s.replicas.iter().filter_map(|r| r.memory_bytes).collect();
    let mut p = Point {
        t: now.t,
        cpu: now.cpu_cores,
        memory: (!memory.is_empty()).then(|| memory.iter().sum()),
        restarts: s.replicas.iter().map(|r| r.restarts).sum(),
        ready: s.ready,
        requests: None,
        errors: None,
        p50: None,
        p99: None,
    };
    let Some(before) = before.filter(|b| now.t > b.t) else {
        return p;
    };
    let seconds = (now.t - before.t) as f64 / 1000.0;
    if let (Some(a), Some(b)) = (before.cpu_seconds, now.cpu_seconds) {
        // A replica restarted starts its count again: what it used since is at least `b - a`
        // and at most `b`; the lower bound, never a negative rate.
        p.cpu = Some((b - a).max(0.0) / seconds);
    }
    if let (Some(a), Some(b)) = (&before.traffic, &now.traffic) {
        let requests = b.requests.saturating_sub(a.requests);
        p.requests = Some(requests as f64 / seconds);
        if requests > 0 {
            p.errors = Some(b.errors.saturating_sub(a.errors) as f64 / requests as f64);
            let delta: Vec<u64> = b
                .latency
                .iter()
                .zip(a.latency.iter().chain(std::iter::repeat(&0)))
                .map(|(b, a)| b.saturating_sub(*a))
                .collect();
            p.p50 = quantile(&delta, 0.5);
            p.p99 = quantile(&delta, 0.99);
        }
    }
    p
}

/// The `q` quantile of counts per latency bucket, interpolated linearly inside its bucket (as
/// Prometheus' `histogram_quantile`); in the open last bucket, its lower bound.
pub fn quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let low = if i == 0 {
                0.0
            } else {
                LATENCY_BOUNDS_MS[i - 1]
            };
            let Some(&high) = LATENCY_BOUNDS_MS.get(i) else {
                return Some(low);
            };
            return Some(low + (high - low) * (rank - below as f64) / n as f64);
        }
        below += n;
    }
    LATENCY_BOUNDS_MS.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Health, ReplicaView};
    use crate::WorkloadKind;

    fn service(cpu: f64, memory: u64, restarts: u32, traffic: Option<TrafficView>) -> ServiceView {
        ServiceView {
            name: "web".into(),
            kind: WorkloadKind::Deployment,
            description: None,
            desired: 1,
            ready: 1,
            available: 1,
            health: Health::Ready,
            status: "ready".into(),
            mode: "process".into(),
            containers: vec![],
            replicas: vec![ReplicaView {
                name: "web-0".into(),
                container: "web".into(),
                status: "running".into(),
                ready: true,
                restarts,
                started: None,
                image: None,
                message: None,
                probe_failures: 0,
                cpu_seconds: Some(cpu),
                memory_bytes: Some(memory),
                cpu_cores: None,
            }],
            shell: None,
            traffic,
        }
    }

    fn env(s: ServiceView) -> EnvironmentView {
        EnvironmentView {
            backend: "local".into(),
            target: "x".into(),
            generation: 1,
            last_error: None,
            busy: None,
            ingress: None,
            services: vec![s],
            sync: None,
            chart: None,
            metrics_unavailable: None,
        }
    }

    fn traffic(requests: u64, errors: u64, fast: u64, slow: u64) -> TrafficView {
        let mut latency = vec![0; BUCKETS];
        latency[2] = fast; // 0.5..1 ms
        latency[12] = slow; // 60..100 ms
        TrafficView {
            requests,
            errors,
            latency,
        }
    }

    #[test]
    fn rates_come_from_two_readings() {
        let h = History::new(Duration::from_secs(60), Duration::from_secs(5));
        h.sample(
            &env(service(1.0, 100, 0, Some(traffic(10, 0, 10, 0)))),
            10_000,
        );
        h.sample(
            &env(service(3.0, 200, 1, Some(traffic(110, 5, 108, 2)))),
            14_000,
        );
        let points = h.of("web").unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].cpu, None, "one reading has no rate");
        let p = &points[1];
        assert_eq!(p.cpu, Some(0.5));
        assert_eq!(p.memory, Some(200));
        assert_eq!(p.restarts, 1);
        assert_eq!(p.requests, Some(25.0));
        assert_eq!(p.errors, Some(0.05));
        let p50 = p.p50.unwrap();
        assert!((0.5..=1.0).contains(&p50), "{p50}");
        let p99 = p.p99.unwrap();
        assert!((60.0..=100.0).contains(&p99), "{p99}");
    }

    #[test]
    fn a_restart_never_makes_a_negative_rate_and_idle_has_no_latency() {
        let h = History::new(Duration::from_secs(60), Duration::from_secs(5));
        h.sample(&env(service(9.0, 1, 0, Some(traffic(5, 0, 5, 0)))), 0);
        h.sample(&env(service(0.5, 1, 1, Some(traffic(5, 0, 5, 0)))), 5_000);
        let p = h.of("web").unwrap().pop().unwrap();
        assert_eq!(p.cpu, Some(0.0));
        assert_eq!(p.requests, Some(0.0));
        assert_eq!((p.errors, p.p50, p.p99), (None, None, None));
    }

    #[test]
    fn the_budget_holds_and_gone_services_are_dropped() {
        let h = History::new(Duration::from_secs(60), Duration::from_secs(5));
        assert_eq!(h.capacity(), 12);
        for i in 0..100 {
            h.sample(&env(service(i as f64, 1, 0, None)), i * 5_000);
        }
        let points = h.of("web").unwrap();
        assert_eq!(points.len(), 12);
        assert_eq!(points[0].t, 88 * 5_000);
        assert_eq!(h.recent(3)["web"].len(), 3);
        let mut other = service(0.0, 1, 0, None);
        other.name = "api".into();
        h.sample(&env(other), 600_000);
        assert!(h.of("web").is_none());
        assert!(h.budget_bytes() < 200 * 1024 * 1024);
    }

    #[test]
    fn quantiles_interpolate_inside_a_bucket() {
        let mut counts = vec![0; BUCKETS];
        counts[0] = 100; // 0..0.25 ms
        assert_eq!(quantile(&counts, 0.5), Some(0.125));
        counts[BUCKETS - 1] = 100; // slower than 10 s
        assert_eq!(quantile(&counts, 0.99), Some(10000.0));
        assert_eq!(quantile(&[0; BUCKETS], 0.5), None);
        let t = Traffic::default();
        t.record(200, Duration::from_micros(700));
        t.record(503, Duration::from_secs(30));
        let v = t.view();
        assert_eq!(
            (v.requests, v.errors, v.latency[2], v.latency[20]),
            (2, 1, 1, 1)
        );
    }
}
