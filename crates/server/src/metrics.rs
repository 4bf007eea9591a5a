//! Prometheus metrics at `/metrics`: the events backends record through the `metrics` facade
//! (applies, durations, objects, drift, syncs; see `berth_kube::metrics`), and the state of the
//! environment read from its view at scrape time (replicas, restarts, probe failures, process
//! CPU and memory), the same for every backend.

use berth_core::view::{EnvironmentView, ReplicaView, ServiceView};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write;
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once per process (later calls return the same handle).
/// Call it before recording events: events recorded before are lost.
pub fn install() -> &'static PrometheusHandle {
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
        handle
    })
}

/// Everything, in exposition format: the recorded events, then `view`'s state.
pub fn render(view: &EnvironmentView) -> String {
    let mut text = install().render();
    text.push_str(&state(view));
    text
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

/// The state of an environment, in exposition format.
pub fn state(view: &EnvironmentView) -> String {
    let mut out = String::new();
    let service = |s: &ServiceView| format!("service=\"{}\"", label(&s.name));
    let per = |f: &dyn Fn(&ServiceView) -> String| -> Vec<(String, String)> {
        view.services.iter().map(|s| (service(s), f(s))).collect()
    };
    let sum = |s: &ServiceView, f: &dyn Fn(&ReplicaView) -> u32| -> String {
        s.replicas.iter().map(f).sum::<u32>().to_string()
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
        "Process or container restarts",
        per(&|s| sum(s, &|r| r.restarts)),
    );
    family(
        &mut out,
        "berth_probe_failures_total",
        "counter",
        "Probe failures past the threshold",
        per(&|s| sum(s, &|r| r.probe_failures)),
    );
    let replicas: Vec<(String, &ReplicaView)> = view
        .services
        .iter()
        .flat_map(|s| {
            s.replicas
                .iter()
                .map(move |r| (format!("{},replica=\"{}\"", service(s), label(&r.name)), r))
        })
        .collect();
    family(
        &mut out,
        "berth_process_cpu_seconds_total",
        "counter",
        "CPU time of a local process",
        replicas
            .iter()
            .filter_map(|(l, r)| Some((l.clone(), r.cpu_seconds?.to_string()))),
    );
    family(
        &mut out,
        "berth_process_resident_memory_bytes",
        "gauge",
        "Resident memory of a local process",
        replicas
            .iter()
            .filter_map(|(l, r)| Some((l.clone(), r.memory_bytes?.to_string()))),
    );
    out
}

/// Serves `/metrics` alone at `addr` (for a Prometheus scraper); returns the task and its URL.
pub async fn serve(
    backend: std::sync::Arc<dyn berth_core::backend::Backend>,
    addr: std::net::SocketAddr,
) -> Result<(tokio::task::JoinHandle<()>, String), crate::Error> {
    let cannot = |e: std::io::Error| {
        let what = format!("cannot serve metrics on {addr}: {e}");
        crate::Error::new(crate::ErrorKind::Listen, what)
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(cannot)?;
    let url = format!("http://{}/metrics", listener.local_addr().map_err(cannot)?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let b = backend.clone();
            async move { render(&b.measured()) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((task, url))
}
