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

/// State of a local environment, in exposition format.
pub fn local_state(status: &berth_local::Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP berth_service_desired_replicas Replicas the folder asks for\n# TYPE berth_service_desired_replicas gauge");
    for w in &status.workloads {
        let _ = writeln!(
            out,
            "berth_service_desired_replicas{{service=\"{}\"}} {}",
            label(&w.name),
            w.desired
        );
    }
    let _ = writeln!(out, "# HELP berth_service_ready_replicas Replicas ready\n# TYPE berth_service_ready_replicas gauge");
    for w in &status.workloads {
        let ready = status
            .replicas
            .iter()
            .filter(|r| r.workload == w.name && r.ready)
            .count();
        let _ = writeln!(
            out,
            "berth_service_ready_replicas{{service=\"{}\"}} {ready}",
            label(&w.name)
        );
    }
    let _ = writeln!(out, "# HELP berth_service_restarts_total Process restarts\n# TYPE berth_service_restarts_total counter");
    for w in &status.workloads {
        let n: u32 = status
            .replicas
            .iter()
            .filter(|r| r.workload == w.name)
            .map(|r| r.restarts)
            .sum();
        let _ = writeln!(
            out,
            "berth_service_restarts_total{{service=\"{}\"}} {n}",
            label(&w.name)
        );
    }
    let _ = writeln!(out, "# HELP berth_probe_failures_total Probe failures past the threshold\n# TYPE berth_probe_failures_total counter");
    for w in &status.workloads {
        let n: u32 = status
            .replicas
            .iter()
            .filter(|r| r.workload == w.name)
            .map(|r| r.probe_failures)
            .sum();
        let _ = writeln!(
            out,
            "berth_probe_failures_total{{service=\"{}\"}} {n}",
            label(&w.name)
        );
    }
    let usage: Vec<(String, String, f64, u64)> = status
        .replicas
        .iter()
        .filter_map(|r| {
            let (cpu, rss) = process_usage(r.pid?)?;
            Some((
                r.workload.clone(),
                format!("{}-{}", r.workload, r.index),
                cpu,
                rss,
            ))
        })
        .collect();
    let _ = writeln!(out, "# HELP berth_process_cpu_seconds_total CPU time of a local process\n# TYPE berth_process_cpu_seconds_total counter");
    for (svc, rep, cpu, _) in &usage {
        let _ = writeln!(
            out,
            "berth_process_cpu_seconds_total{{service=\"{}\",replica=\"{}\"}} {cpu}",
            label(svc),
            label(rep)
        );
    }
    let _ = writeln!(out, "# HELP berth_process_resident_memory_bytes Resident memory of a local process\n# TYPE berth_process_resident_memory_bytes gauge");
    for (svc, rep, _, rss) in &usage {
        let _ = writeln!(
            out,
            "berth_process_resident_memory_bytes{{service=\"{}\",replica=\"{}\"}} {rss}",
            label(svc),
            label(rep)
        );
    }
    out
}

/// State of a deploy set on a cluster, in exposition format.
pub fn view_state(view: &berth_core::view::EnvironmentView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP berth_service_desired_replicas Replicas the folder asks for\n# TYPE berth_service_desired_replicas gauge");
    for s in &view.services {
        let _ = writeln!(
            out,
            "berth_service_desired_replicas{{service=\"{}\"}} {}",
            label(&s.name),
            s.desired
        );
    }
    let _ = writeln!(out, "# HELP berth_service_ready_replicas Replicas ready\n# TYPE berth_service_ready_replicas gauge");
    for s in &view.services {
        let _ = writeln!(
            out,
            "berth_service_ready_replicas{{service=\"{}\"}} {}",
            label(&s.name),
            s.ready
        );
    }
    let _ = writeln!(out, "# HELP berth_service_restarts_total Container restarts\n# TYPE berth_service_restarts_total counter");
    for s in &view.services {
        let n: u32 = s.replicas.iter().map(|r| r.restarts).sum();
        let _ = writeln!(
            out,
            "berth_service_restarts_total{{service=\"{}\"}} {n}",
            label(&s.name)
        );
    }
    out
}

/// Everything: recorded events and the given state.
pub fn render(state: String) -> String {
    let mut text = handle().render();
    text.push_str(&state);
    text
}
