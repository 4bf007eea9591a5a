//! The events berth records (applies, their durations, objects by action, drift, syncs), through
//! the `metrics` facade: one place for the names and help texts. Whoever serves `/metrics`
//! installs a recorder (`berth_server::metrics::install`); without one they cost nothing.

use std::time::Duration;

/// Describes every event metric (once the recorder is installed).
pub fn describe() {
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

/// An apply finished (`backend`: `local` or `kubernetes`).
pub fn applied(backend: &'static str, ok: bool, took: Duration) {
    let result = if ok { "success" } else { "failure" };
    metrics::counter!("berth_applies_total", "backend" => backend, "result" => result).increment(1);
    metrics::histogram!("berth_apply_duration_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

/// Objects an apply touched, by action (`create`, `update`, `delete`, `unchanged`).
pub fn objects(action: &'static str, n: usize) {
    metrics::counter!("berth_objects_total", "action" => action).increment(n as u64);
}

/// How long waiting for the rollout took.
pub fn waited(took: Duration) {
    metrics::histogram!("berth_wait_duration_seconds").record(took.as_secs_f64());
}

/// A sync found the cluster different from the folder.
pub fn drift() {
    metrics::counter!("berth_drift_detected_total").increment(1);
}

/// The revision deployed now.
pub fn revision(n: u32) {
    metrics::gauge!("berth_revision").set(n as f64);
}

/// A sync iteration ended (`success` or `failure`).
pub fn sync_run(result: &'static str) {
    metrics::counter!("berth_sync_runs_total", "result" => result).increment(1);
}
