//! Prometheus metrics: events (applies, durations, objects, drift) through the `metrics` crate,
//! and state (replicas, restarts, probe failures, process CPU and memory) read at scrape time.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder once per process; later calls return the same handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!("berth_applies_total", "Applies by backend and result");
    metrics::describe_histogram!(
        "berth_apply_duration_seconds",
        metrics::Unit::Seconds,
        "Time to render and apply"
    );
    metrics::describe_histogram!(
        "berth_wait_duration_seconds",
        metrics::Unit::Seconds,
        "Time waiting for workloads to become ready"
    );
    metrics::describe_counter!("berth_objects_total", "Objects by apply action");
    metrics::describe_counter!(
        "berth_drift_detected_total",
        "Syncs that found the cluster different from the folder"
    );
    metrics::describe_gauge!("berth_revision", "The current release revision");
    metrics::describe_counter!("berth_sync_runs_total", "Sync iterations by result");
}

/// An apply finished.
pub fn applied(backend: &'static str, ok: bool, took: Duration) {
    handle();
    let result = if ok { "success" } else { "failure" };
    metrics::counter!("berth_applies_total", "backend" => backend, "result" => result).increment(1);
    metrics::histogram!("berth_apply_duration_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

/// Objects an apply touched, by action.
pub fn objects(action: &'static str, n: usize) {
    handle();
    metrics::counter!("berth_objects_total", "action" => action).increment(n as u64);
}

pub fn waited(took: Duration) {
    handle();
    metrics::histogram!("berth_wait_duration_seconds").record(took.as_secs_f64());
}

pub fn drift() {
    handle();
    metrics::counter!("berth_drift_detected_total").increment(1);
}

pub fn revision(n: u32) {
    handle();
    metrics::gauge!("berth_revision").set(n as f64);
}

pub fn sync_run(result: &'static str) {
    handle();
    metrics::counter!("berth_sync_runs_total", "result" => result).increment(1);
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A process's CPU seconds and resident bytes, from /proc.
fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let pages: u64 = f.get(21)?.parse().ok()?;
    Some((ticks as f64 / 100.0, pages * 4096))
}

/// One metric family: HELP, TYPE, then a sample per (labels, value).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    rows: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn service_label(name: &str) -> String {
    format!("service=\"{}\"", label(name))
}

/// State of a local environment, in exposition format.
pub fn local_state(status: &berth_local::Status) -> String {
    let mut out = String::new();
    let per = |f: &dyn Fn(&berth_local::WorkloadStatus) -> String| -> Vec<(String, String)> {
        status
            .workloads
            .iter()
            .map(|w| (service_label(&w.name), f(w)))
            .collect()
    };
    let replicas = |w: &berth_local::WorkloadStatus| {
        status
            .replicas
            .iter()
            .filter(|r| r.workload == w.name)
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "berth_service_desired_replicas",
        "gauge",
        "Replicas the folder asks for",
        per(&|w| w.desired.to_string()),
    );
    family(
        &mut out,
        "berth_service_ready_replicas",
        "gauge",
        "Replicas ready",
        per(&|w| replicas(w).iter().filter(|r| r.ready).count().to_string()),
    );
    family(
        &mut out,
        "berth_service_restarts_total",
        "counter",
        "Process restarts",
        per(&|w| {
            replicas(w)
                .iter()
                .map(|r| r.restarts)
                .sum::<u32>()
                .to_string()
        }),
    );
    family(
        &mut out,
        "berth_probe_failures_total",
        "counter",
        "Probe failures past the threshold",
        per(&|w| {
            replicas(w)
                .iter()
                .map(|r| r.probe_failures)
                .sum::<u32>()
                .to_string()
        }),
    );
    let usage: Vec<(String, f64, u64)> = status
        .replicas
        .iter()
        .filter_map(|r| {
            let (cpu, rss) = process_usage(r.pid?)?;
            let labels = format!(
                "{},replica=\"{}-{}\"",
                service_label(&r.workload),
                label(&r.workload),
                r.index
            );
            Some((labels, cpu, rss))
        })
        .collect();
    family(
        &mut out,
        "berth_process_cpu_seconds_total",
        "counter",
        "CPU time of a local process",
        usage.iter().map(|(l, cpu, _)| (l.clone(), cpu.to_string())),
    );
    family(
        &mut out,
        "berth_process_resident_memory_bytes",
        "gauge",
        "Resident memory of a local process",
        usage.iter().map(|(l, _, rss)| (l.clone(), rss.to_string())),
    );
    out
}

/// State of a deploy set on a cluster, in exposition format.
pub fn view_state(view: &berth_core::view::EnvironmentView) -> String {
    let mut out = String::new();
    let per = |f: &dyn Fn(&berth_core::view::ServiceView) -> String| -> Vec<(String, String)> {
        view.services
            .iter()
            .map(|s| (service_label(&s.name), f(s)))
            .collect()
    };
    family(
        &mut out,
        "berth_service_desired_replicas",
        "gauge",
        "Replicas the folder asks for",
        per(&|s| s.desired.to_string()),
    );
    family(
        &mut out,
        "berth_service_ready_replicas",
        "gauge",
        "Replicas ready",
        per(&|s| s.ready.to_string()),
    );
    family(
        &mut out,
        "berth_service_restarts_total",
        "counter",
        "Container restarts",
        per(&|s| {
            s.replicas
                .iter()
                .map(|r| r.restarts)
                .sum::<u32>()
                .to_string()
        }),
    );
    out
}

/// Everything: recorded events and the given state.
pub fn render(state: String) -> String {
    let mut text = handle().render();
    text.push_str(&state);
    text
}
