//! The routes: the UI's assets, and the JSON API under `/api/v1` (documented in openapi.yaml).

use crate::security::{guard, Access};
use crate::{ApiError, Backend};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use berth_core::history::History;
use berth_core::view::{LogLine, Mode};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

type Shared = Arc<dyn Backend>;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

const OPENAPI: &str = include_str!("../openapi.yaml");

/// A JSON request body, or why not as an API error (JSON like every error, the status axum
/// chose: 400 unreadable, 415 not JSON, 422 not the expected shape), with what to send.
fn json_body<T>(body: Result<Json<T>, JsonRejection>, hint: &str) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|r| ApiError {
        status: r.status().as_u16(),
        message: format!("{}: {hint}", r.body_text()),
    })
}

/// An API error as the answer: its status and `{"error": message}`.
trait Reply {
    fn reply(self) -> Response;
}

impl Reply for ApiError {
    fn reply(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

pub fn router(backend: Shared, access: Access, history: Arc<History>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .route("/api/openapi.yaml", get(openapi))
        .route("/metrics", get(metrics))
        .route("/api/v1/environment", get(environment))
        .route("/api/v1/events", get(events))
        .route("/api/v1/timeline", get(timeline))
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{name}", get(service))
        .route("/api/v1/history", get(all_history))
        .route("/api/v1/services/{name}/history", get(service_history))
        .route("/api/v1/services/{name}/logs", get(logs))
        .route("/api/v1/services/{name}/restart", post(restart))
        .route("/api/v1/services/{name}/scale", post(scale))
        .route("/api/v1/services/{name}/mode", post(mode))
        .route("/api/v1/redeploy", post(redeploy))
        .route("/api/v1/redeploy/preview", get(preview))
        .route("/api/v1/sync/pause", post(pause))
        .route("/api/v1/sync/resume", post(resume))
        .with_state(backend)
        .layer(axum::Extension(history))
        // gzip for who asks (the page's 82 KB of assets, JSON); never for server-sent events.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(access, guard))
}

fn embedded(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:",
                    ),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => ApiError::not_found(format!("no asset {path}")).reply(),
    }
}

async fn index() -> Response {
    embedded("index.html")
}

async fn asset(Path(file): Path<String>) -> Response {
    embedded(&file)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI).into_response()
}

async fn metrics(State(b): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&b.measured()),
    )
        .into_response()
}

async fn environment(State(b): State<Shared>) -> Response {
    Json(b.environment()).into_response()
}

async fn services(State(b): State<Shared>) -> Response {
    Json(b.environment().services).into_response()
}

async fn service(State(b): State<Shared>, Path(name): Path<String>) -> Response {
    match b
        .environment()
        .services
        .into_iter()
        .find(|s| s.name == name)
    {
        Some(s) => Json(s).into_response(),
        None => ApiError::not_found(format!("no service named {name}")).reply(),
    }
}

/// The environment on connect and after every change (changes within 50 ms coalesce).
async fn events(State(b): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = b.changed();
    let first = Event::default()
        .event("environment")
        .json_data(b.environment())
        .unwrap_or_default();
    let rest = stream::unfold((b, rx), |(b, mut rx)| async move {
        rx.changed().await.ok()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        rx.borrow_and_update();
        let ev = Event::default()
            .event("environment")
            .json_data(b.environment())
            .unwrap_or_default();
        Some((Ok(ev), (b, rx)))
    });
    Sse::new(stream::once(async { Ok(first) }).chain(rest)).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct TimelineQuery {
    service: Option<String>,
}

async fn timeline(
    State(b): State<Shared>,
    q: Result<Query<TimelineQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return ApiError::bad_request(r.body_text()).reply(),
    };
    match b.events(q.service.as_deref()).await {
        Ok(events) => Json(events).into_response(),
        Err(e) => e.reply(),
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    /// Only the last this many points of each service.
    last: Option<usize>,
}

/// The sampling, then what is asked.
fn history_reply(h: &History, body: (&str, serde_json::Value)) -> Response {
    let mut reply = serde_json::json!({
        "interval_ms": h.interval().as_millis() as u64,
        "capacity": h.capacity(),
    });
    reply[body.0] = body.1;
    Json(reply).into_response()
}

/// Every service's recent points (the main table's sparklines).
async fn all_history(
    Extension(h): Extension<Arc<History>>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let last = match q {
        Ok(Query(q)) => q.last.unwrap_or(usize::MAX),
        Err(r) => return ApiError::bad_request(r.body_text()).reply(),
    };
    let services = serde_json::to_value(h.recent(last)).unwrap_or_default();
    history_reply(&h, ("services", services))
}

/// One service's points, oldest first.
async fn service_history(
    State(b): State<Shared>,
    Extension(h): Extension<Arc<History>>,
    Path(name): Path<String>,
) -> Response {
    if !b.environment().services.iter().any(|s| s.name == name) {
        return ApiError::not_found(format!("no service named {name}")).reply();
    }
    let points = serde_json::to_value(h.of(&name).unwrap_or_default()).unwrap_or_default();
    history_reply(&h, ("points", points))
}

#[derive(Deserialize)]
struct LogQuery {
    /// Only lines after this sequence number.
    since: Option<u64>,
    /// At most this many kept lines first.
    tail: Option<usize>,
    /// Keep the stream open for new lines (SSE); otherwise a JSON array.
    #[serde(default)]
    follow: bool,
}

fn line_event(l: &LogLine) -> Event {
    Event::default()
        .event("line")
        .id(l.seq.to_string())
        .json_data(l)
        .unwrap_or_default()
}

async fn logs(
    State(b): State<Shared>,
    Path(name): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return ApiError::bad_request(r.body_text()).reply(),
    };
    if !b.environment().services.iter().any(|s| s.name == name) {
        return ApiError::not_found(format!("no service named {name}")).reply();
    }
    if !q.follow {
        return match b.logs(&name, q.since, q.tail) {
            Ok(lines) => Json(lines).into_response(),
            Err(e) => e.reply(),
        };
    }
    // Subscribe before reading the backlog, then skip what the backlog already had.
    let rx = match b.follow(&name) {
        Ok(rx) => rx,
        Err(e) => return e.reply(),
    };
    let backlog = match b.logs(&name, q.since, q.tail.or(Some(1000))) {
        Ok(l) => l,
        Err(e) => return e.reply(),
    };
    let last = backlog.last().map(|l| l.seq).or(q.since).unwrap_or(0);
    let head = stream::iter(
        backlog
            .into_iter()
            .map(|l| Ok::<_, Infallible>(line_event(&l))),
    );
    let live = stream::unfold((rx, name, last), |(mut rx, name, last)| async move {
        loop {
            match rx.recv().await {
                Ok(l) if l.service == name && l.seq > last => {
                    return Some((Ok(line_event(&l)), (rx, name, last)))
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    let ev = Event::default().event("dropped").data(n.to_string());
                    return Some((Ok(ev), (rx, name, last)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(head.chain(live))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn done(result: Result<String, ApiError>) -> Response {
    match result {
        Ok(message) => Json(serde_json::json!({ "ok": true, "message": message })).into_response(),
        Err(e) => e.reply(),
    }
}

async fn restart(State(b): State<Shared>, Path(name): Path<String>) -> Response {
    done(b.restart(&name).await)
}

#[derive(Deserialize)]
struct ScaleBody {
    replicas: u32,
}

async fn scale(
    State(b): State<Shared>,
    Path(name): Path<String>,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> Response {
    let body = match json_body(body, "send a JSON body {\"replicas\": N}") {
        Ok(b) => b,
        Err(e) => return e.reply(),
    };
    if body.replicas > 100 {
        return ApiError::bad_request("at most 100 replicas").reply();
    }
    done(b.scale(&name, body.replicas).await)
}

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
    container: Option<String>,
}

async fn mode(
    State(b): State<Shared>,
    Path(name): Path<String>,
    body: Result<Json<ModeBody>, JsonRejection>,
) -> Response {
    let body = match json_body(
        body,
        "send a JSON body {\"mode\": \"image\"|\"process\"|\"source\"}",
    ) {
        Ok(b) => b,
        Err(e) => return e.reply(),
    };
    let Some(m) = Mode::parse(&body.mode) else {
        return ApiError::bad_request(format!(
            "unknown mode {:?}: use \"image\", \"process\" or \"source\"",
            body.mode
        ))
        .reply();
    };
    done(b.set_mode(&name, body.container.as_deref(), m).await)
}

async fn redeploy(State(b): State<Shared>) -> Response {
    done(b.redeploy().await)
}

async fn preview(State(b): State<Shared>) -> Response {
    match b.preview().await {
        Ok(p) => Json(p).into_response(),
        Err(e) => e.reply(),
    }
}

async fn pause(State(b): State<Shared>) -> Response {
    done(b.set_paused(true).await)
}

async fn resume(State(b): State<Shared>) -> Response {
    done(b.set_paused(false).await)
}

#[cfg(test)]
mod tests {
    //! The router against an in-memory backend: routes, status codes, bodies and the guard,
    //! without sockets or a real environment.
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use berth_core::backend::BoxFuture;
    use berth_core::view::{EnvironmentView, Health, LogLine, Mode, ServiceView};
    use berth_core::WorkloadKind;
    use std::sync::{Arc, Mutex};
    use tokio::sync::{broadcast, watch};
    use tower::ServiceExt;

    /// One service, `web`, whose replica count the actions change.
    struct Memory {
        replicas: Mutex<u32>,
        changed: watch::Sender<u64>,
        lines: broadcast::Sender<Arc<LogLine>>,
    }

    impl Memory {
        fn new() -> Arc<Memory> {
            Arc::new(Memory {
                replicas: Mutex::new(1),
                changed: watch::channel(0).0,
                lines: broadcast::channel(16).0,
            })
        }
    }

    impl Backend for Memory {
        fn environment(&self) -> EnvironmentView {
            let n = *self.replicas.lock().unwrap();
            EnvironmentView {
                backend: "memory".into(),
                target: "test".into(),
                generation: 1,
                last_error: None,
                busy: None,
                ingress: None,
                services: vec![ServiceView {
                    name: "web".into(),
                    kind: WorkloadKind::Deployment,
                    description: None,
                    desired: n,
                    ready: n,
                    available: n,
                    health: Health::Ready,
                    status: "ready".into(),
                    mode: "image".into(),
                    containers: Vec::new(),
                    replicas: Vec::new(),
                    shell: None,
                    traffic: None,
                }],
                sync: None,
                chart: None,
                metrics_unavailable: None,
            }
        }
        fn changed(&self) -> watch::Receiver<u64> {
            self.changed.subscribe()
        }
        fn logs(
            &self,
            service: &str,
            _: Option<u64>,
            _: Option<usize>,
        ) -> Result<Vec<LogLine>, ApiError> {
            if service == "web" {
                Ok(Vec::new())
            } else {
                Err(ApiError::not_found(format!("no service named {service}")))
            }
        }
        fn follow(&self, _: &str) -> Result<broadcast::Receiver<Arc<LogLine>>, ApiError> {
            Ok(self.lines.subscribe())
        }
        fn events<'a>(
            &'a self,
            service: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<berth_core::timeline::Event>, ApiError>> {
            let e = berth_core::timeline::Event::now("Restarted", "exited with 3", true)
                .of("web", Some("web-0".into()));
            let all = vec![
                berth_core::timeline::Event::now("Deployed", "generation 1", false),
                e,
            ];
            let events = all
                .into_iter()
                .filter(|e| service.is_none() || e.service.as_deref() == service)
                .collect();
            Box::pin(async move { Ok(events) })
        }
        fn restart<'a>(&'a self, s: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
            Box::pin(async move { Ok(format!("restarted {s}")) })
        }
        fn scale<'a>(&'a self, _: &'a str, n: u32) -> BoxFuture<'a, Result<String, ApiError>> {
            Box::pin(async move {
                *self.replicas.lock().unwrap() = n;
                Ok(format!("scaled to {n}"))
            })
        }
        fn set_mode<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a str>,
            _: Mode,
        ) -> BoxFuture<'a, Result<String, ApiError>> {
            Box::pin(async { Err(ApiError::bad_request("no container can run from source")) })
        }
        fn redeploy(&self) -> BoxFuture<'_, Result<String, ApiError>> {
            Box::pin(async { Ok("redeployed".into()) })
        }
        fn preview(&self) -> BoxFuture<'_, Result<berth_core::view::Preview, ApiError>> {
            use berth_core::view::{DiffKind, ObjectDiff, Preview};
            Box::pin(async {
                Ok(Preview {
                    changes: vec![ObjectDiff {
                        object: "ConfigMap web".into(),
                        change: DiffKind::Changed,
                        diff: "-  a: 1\n+  a: 2\n".into(),
                    }],
                    between: "test".into(),
                })
            })
        }
    }

    fn app(backend: Arc<Memory>) -> Router {
        let access = Access::new("127.0.0.1:7700".parse().unwrap(), None);
        let history = History::new(Duration::from_secs(60), Duration::from_secs(1));
        history.sample(&backend.environment(), 1_000);
        router(backend, access, Arc::new(history))
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        body: &str,
        origin: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "127.0.0.1:7700")
            .header("Content-Type", "application/json");
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn routes_answer_from_the_backend() {
        let backend = Memory::new();
        let app = app(backend.clone());
        let (code, env) = call(&app, "GET", "/api/v1/environment", "", None).await;
        assert_eq!(
            (code, env["services"][0]["kind"].as_str()),
            (200, Some("Deployment"))
        );
        assert_eq!(
            call(&app, "GET", "/api/v1/services/nope", "", None).await.0,
            404
        );
        assert_eq!(
            call(&app, "GET", "/api/v1/services/nope/logs", "", None)
                .await
                .0,
            404
        );
        let (code, body) = call(
            &app,
            "POST",
            "/api/v1/services/web/scale",
            r#"{"replicas": 3}"#,
            None,
        )
        .await;
        assert_eq!(
            (code, body["message"].as_str()),
            (200, Some("scaled to 3")),
            "{body}"
        );
        assert_eq!(*backend.replicas.lock().unwrap(), 3);
        assert_eq!(
            call(&app, "POST", "/api/v1/services/web/scale", "{}", None)
                .await
                .0,
            422
        );
        let (code, body) = call(
            &app,
            "POST",
            "/api/v1/services/web/mode",
            r#"{"mode": "source"}"#,
            None,
        )
        .await;
        assert_eq!(code, 400);
        assert_eq!(body["error"], "no container can run from source");
        let (code, body) = call(&app, "POST", "/api/v1/sync/pause", "", None).await;
        assert_eq!(code, 404, "no sync here: {body}");
    }

    #[tokio::test]
    async fn the_timeline_is_the_backends_for_one_service_or_all() {
        let app = app(Memory::new());
        let (code, all) = call(&app, "GET", "/api/v1/timeline", "", None).await;
        assert_eq!(code, 200);
        assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
        let (_, web) = call(&app, "GET", "/api/v1/timeline?service=web", "", None).await;
        assert_eq!(web[0]["reason"], "Restarted");
        assert_eq!(web[0]["replica"], "web-0");
        assert_eq!(web[0]["warning"], true);
        assert_eq!(web.as_array().map(Vec::len), Some(1), "{web}");
    }

    #[tokio::test]
    async fn history_is_sampled_per_service() {
        let app = app(Memory::new());
        let (code, all) = call(&app, "GET", "/api/v1/history?last=5", "", None).await;
        assert_eq!(code, 200, "{all}");
        assert_eq!(all["interval_ms"], 1000);
        assert_eq!(all["capacity"], 60);
        assert_eq!(all["services"]["web"][0]["ready"], 1, "{all}");
        let (code, web) = call(&app, "GET", "/api/v1/services/web/history", "", None).await;
        assert_eq!(
            (code, web["points"][0]["t"].as_u64()),
            (200, Some(1_000)),
            "{web}"
        );
        let (code, _) = call(&app, "GET", "/api/v1/services/nope/history", "", None).await;
        assert_eq!(code, 404);
        let (code, _) = call(&app, "GET", "/api/v1/history?last=x", "", None).await;
        assert_eq!(code, 400);
    }

    #[tokio::test]
    async fn assets_are_gzipped_for_who_asks_and_events_never() {
        let app = app(Memory::new());
        let encoding = |uri: &str| {
            let req = Request::builder()
                .uri(uri)
                .header("Host", "127.0.0.1:7700")
                .header("Accept-Encoding", "gzip")
                .body(Body::empty())
                .unwrap();
            let app = app.clone();
            async move {
                let resp = app.oneshot(req).await.unwrap();
                let h = resp.headers().get("content-encoding");
                h.map(|v| v.to_str().unwrap().to_string())
            }
        };
        let js = encoding("/assets/uPlot.iife.min.js").await;
        assert_eq!(js.as_deref(), Some("gzip"));
        assert_eq!(encoding("/api/v1/events").await, None);
    }

    #[tokio::test]
    async fn a_preview_is_the_backends_changing_nothing() {
        let app = app(Memory::new());
        let (code, p) = call(&app, "GET", "/api/v1/redeploy/preview", "", None).await;
        assert_eq!(code, 200, "{p}");
        assert_eq!(p["changes"][0]["change"], "changed");
        assert_eq!(p["changes"][0]["object"], "ConfigMap web");
    }

    #[tokio::test]
    async fn another_origin_cannot_act() {
        let backend = Memory::new();
        let app = app(backend.clone());
        let (code, _) = call(
            &app,
            "POST",
            "/api/v1/services/web/scale",
            r#"{"replicas": 5}"#,
            Some("http://evil.example"),
        )
        .await;
        assert_eq!(code, 403);
        assert_eq!(*backend.replicas.lock().unwrap(), 1, "nothing changed");
        assert_eq!(
            call(&app, "GET", "/api/v1/services/web/restart", "", None)
                .await
                .0,
            405,
            "no GET side effects"
        );
    }

    #[tokio::test]
    async fn metrics_are_the_views_state() {
        let app = app(Memory::new());
        let req = Request::builder()
            .uri("/metrics")
            .header("Host", "127.0.0.1:7700")
            .body(Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let text = String::from_utf8(
            axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            text.contains("berth_service_desired_replicas{service=\"web\"} 1"),
            "{text}"
        );
    }
}
