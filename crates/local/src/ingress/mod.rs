//! The Ingress: one reverse proxy routing by host and path straight to the ready replicas of
//! Services, built on hyper.
//!
//! - Clients speak HTTP/1.1 (keep-alive, pipelining) or HTTP/2 without TLS (h2c, prior
//!   knowledge); upstreams get HTTP/1.1 over pooled keep-alive connections, one pool per replica.
//! - Hop-by-hop headers are removed both ways; `X-Forwarded-For/-Proto/-Host` and `Forwarded`
//!   are set as nginx and ingress-nginx set them.
//! - Bodies stream both ways (server-sent events arrive as sent); `Upgrade` requests
//!   (WebSocket) are spliced both ways after the `101`.
//! - A request head must arrive within [`HEAD_TIMEOUT`] and fit in [`MAX_HEAD`] (slow or huge
//!   heads are refused); an idle keep-alive client is dropped after [`IDLE_TIMEOUT`].
//! - As strict as nginx with what it forwards: the path is normalised before routing (see
//!   [`path`]), `CONNECT` and `*` are refused, a malformed request body is a `400`, and an
//!   upstream connection is reused only after a clean exchange (see [`pool`]).
//! - A request a replica never saw goes to the next ready replica; one it saw and failed is sent
//!   again, once, to another replica, only if it is safe to repeat (see [`Ingress::forward`]);
//!   `503` only when none is ready within [`WAIT_FOR_READY`].

mod path;
mod pool;

use crate::state::{InFlight, Shared};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pool::{BodyWatch, Lease, Pool, SendError};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The largest request head accepted (nginx's large_client_header_buffers is 4 x 8k).
pub const MAX_HEAD: usize = 64 * 1024;
/// How long a client may take to send a request head (slowloris).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a keep-alive client connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Answers up to this size, with a known length, are read whole before they are sent on.
const BUFFERED: u64 = 64 * 1024;
/// How long a request waits for a ready replica (during a start or a rolling restart).
pub const WAIT_FOR_READY: Duration = Duration::from_secs(2);

type Body = BoxBody<Bytes, hyper::Error>;

struct Ingress {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
}

/// The Ingress, served on a thread and runtime of its own, as an nginx worker is: its load never
/// waits behind the supervisor's work (probes, logs, renders). One thread with a single-threaded
/// runtime measured faster here than a work-stealing runtime of one or two threads (the bench
/// `ingress`: 1.00x of nginx against 0.73-0.84x). Dropped, it stops.
pub struct Served {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Served {
    /// Serves `listener` (bound by the caller, so a bind error is the caller's to explain).
    pub fn start(listener: std::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<Served> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("berth-ingress".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = serve(listener, shared) => {}
                        _ = stopped => {}
                    }
                })
            })?;
        Ok(Served { _stop: stop })
    }
}

/// Serves the ingress until the future is dropped.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let ingress = Arc::new(Ingress {
        shared,
        pool: Arc::default(),
    });
    let mut server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    server
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    server.http2().timer(TokioTimer::new());
    let server = Arc::new(server);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ingress, server) = (ingress.clone(), server.clone());
        tokio::spawn(async move {
            let (io, idle) = crate::idle::IdleTimeout::new(stream, IDLE_TIMEOUT);
            let service = hyper::service::service_fn(move |req| {
                let ingress = ingress.clone();
                async move { Ok::<_, Infallible>(ingress.handle(req, peer).await) }
            });
            let conn = server.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::select! {
                _ = conn => {}
                _ = idle => {}
            }
        });
    }
}

impl Ingress {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = std::time::Instant::now();
        if req.method() == Method::CONNECT {
            return bad_request("The Ingress does not tunnel: CONNECT is not allowed.");
        }
        let host = request_host(&req);
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let path = match path::normalize(target) {
            Ok(p) => p,
            Err(path::BadPath::NotAPath) => {
                return bad_request("The request target is not a path.")
            }
            Err(path::BadPath::AboveRoot) => return bad_request("The path climbs above the root."),
        };
        let Ok(uri) = Uri::try_from(path.as_str()) else {
            return bad_request("The path is not valid.");
        };
        let Some(rule) = self.shared.ingress_route(&host, &path) else {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!(
                    "No Ingress rule matches {}.",
                    html_escape(&format!("{host}{path}"))
                ),
            );
        };
        let traffic = self.shared.traffic_of(&rule.service);
        let answer = self.to_service(req, peer, &host, uri, rule).await;
        traffic.record(answer.status().as_u16(), started.elapsed());
        answer
    }

    /// Sends a routed request to its Service's ready replicas; the answer, or why not.
    async fn to_service(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        host: &str,
        uri: Uri,
        rule: crate::IngressRule,
    ) -> Response<Body> {
        let Some(backends) = self
            .ready_backends(&rule, tokio::time::Instant::now() + WAIT_FOR_READY)
            .await
        else {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                &format!(
                    "Service <b>{}</b> has no ready replica right now; berth shows why in its status.",
                    html_escape(&rule.service)
                ),
            );
        };
        let first = self.shared.next_backend(&rule.service, backends.len());
        let upgrade = upgrade_of(&req);
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        prepare_request_headers(&mut parts.headers, host, peer, upgrade.as_ref());
        parts.version = Version::HTTP_11;
        let upstream = Upstream {
            rule: &rule,
            uri,
            parts,
            first,
        };
        match self.forward(upstream, body, backends).await {
            Ok((resp, in_flight, lease)) => respond(resp, client_upgrade, in_flight, lease).await,
            Err(Failure::BadBody) => bad_request("The request body is malformed or incomplete."),
            Err(Failure::NoAnswer(why)) => page(
                StatusCode::BAD_GATEWAY,
                "Bad gateway",
                &format!(
                    "Service <b>{}</b> did not answer: {}",
                    html_escape(&rule.service),
                    html_escape(&why)
                ),
            ),
        }
    }

    /// Sends the request to a ready replica. A replica that refuses the connection never saw
    /// the request: the next one is tried (and, while replicas start, again until
    /// [`WAIT_FOR_READY`]), as long as the request has no body to lose. A replica that took
    /// the request and failed it (closed, reset) may have acted on it: only a request safe to
    /// repeat is sent again, once, to another replica; otherwise the client gets the failure.
    async fn forward(
        &self,
        up: Upstream<'_>,
        body: Incoming,
        mut backends: Vec<u16>,
    ) -> Result<(Response<Incoming>, InFlight, Lease), Failure> {
        let resendable = hyper::body::Body::is_end_stream(&body);
        let safe = idempotent(&up.parts.method) && resendable;
        let watch = Arc::new(BodyWatch::default());
        let mut body = Some(pool::watched(body.boxed(), &watch));
        let mut last_error = String::from("no ready replica");
        // The replica that took the request and failed it: never tried again.
        let mut failed_after_sending: Option<u16> = None;
        let deadline = tokio::time::Instant::now() + WAIT_FOR_READY;
        loop {
            for k in 0..backends.len() {
                let port = backends[(up.first + k) % backends.len()];
                if failed_after_sending == Some(port) {
                    continue;
                }
                // Replaced or stopped since the list was read: not this one.
                let Some(in_flight) = self.shared.begin_request(port) else {
                    continue;
                };
                let request = up.request(body.take());
                match self.pool.send(port, request, &watch).await {
                    Ok((resp, lease)) => return Ok((resp, in_flight, lease)),
                    Err(SendError::Connect(e)) if resendable => last_error = e,
                    Err(SendError::Connect(e)) => return Err(Failure::NoAnswer(e)),
                    Err(SendError::Sent(_)) if watch.broken() => return Err(Failure::BadBody),
                    Err(SendError::Sent(e)) => {
                        last_error = error_chain(&e);
                        if !safe || failed_after_sending.is_some() {
                            return Err(Failure::NoAnswer(last_error));
                        }
                        failed_after_sending = Some(port);
                    }
                }
            }
            // A replica marked ready before it listens, or replaced meanwhile: look again; but
            // a request one replica already failed gets one more try at most, not a wait.
            if failed_after_sending.is_some() || tokio::time::Instant::now() >= deadline {
                return Err(Failure::NoAnswer(last_error));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            match self.ready_backends(up.rule, deadline).await {
                Some(b) => backends = b,
                None => return Err(Failure::NoAnswer(last_error)),
            }
        }
    }

    async fn ready_backends(
        &self,
        rule: &crate::IngressRule,
        deadline: tokio::time::Instant,
    ) -> Option<Vec<u16>> {
        self.shared
            .wait_for_backends(deadline, |s| s.backends_by_port(&rule.service, &rule.port))
            .await
    }
}

/// What a request becomes upstream, but for the replica's port and the body.
struct Upstream<'a> {
    rule: &'a crate::IngressRule,
    /// Origin-form (`/path?query`): the replica is reached by its connection, named by `Host`.
    uri: Uri,
    parts: http::request::Parts,
    /// This request's round-robin turn.
    first: usize,
}

impl Upstream<'_> {
    fn request(&self, body: Option<Body>) -> Request<Body> {
        let body = body.unwrap_or_else(|| Empty::new().map_err(never).boxed());
        let mut request = Request::from_parts(self.parts.clone(), body);
        *request.uri_mut() = self.uri.clone();
        request
    }
}

/// Why a request got no answer from a replica.
enum Failure {
    /// The client's request body was malformed or cut off.
    BadBody,
    /// No replica answered; the last error.
    NoAnswer(String),
}

/// A response body that keeps its request counted as in flight until it is sent (or dropped),
/// and gives its connection back to the pool once it was read to its end.
struct Tracked {
    inner: Incoming,
    _in_flight: InFlight,
    lease: Lease,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let frame = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &frame {
            std::task::Poll::Ready(None) => self.lease.release(),
            std::task::Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => {
                self.lease.release()
            }
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream's answer for the client: hop-by-hop headers removed; after a `101`, both
/// connections are spliced.
async fn respond(
    mut resp: Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    in_flight: InFlight,
    mut lease: Lease,
) -> Response<Body> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let upstream = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(c), Ok(u)) = (client.await, upstream.await) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(c), &mut TokioIo::new(u))
                            .await;
                }
            });
            // Keep Connection/Upgrade: the client needs them to switch.
            return resp.map(|b| b.boxed());
        }
    }
    remove_hop_by_hop(resp.headers_mut());
    if hyper::body::Body::is_end_stream(resp.body()) {
        lease.release();
    }
    // A small answer of known length is read whole first (nginx buffers answers too): the
    // client then gets head and body in one write, and the connection is free at once.
    let small = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n <= BUFFERED);
    if small {
        let (parts, body) = resp.into_parts();
        return match body.collect().await {
            Ok(whole) => {
                lease.release();
                drop(in_flight);
                let body = Full::new(whole.to_bytes()).map_err(never).boxed();
                Response::from_parts(parts, body)
            }
            Err(e) => page(
                StatusCode::BAD_GATEWAY,
                "Bad gateway",
                &html_escape(&format!("The answer was cut off: {}", error_chain(&e))),
            ),
        };
    }
    resp.map(|inner| {
        Tracked {
            inner,
            _in_flight: in_flight,
            lease,
        }
        .boxed()
    })
}

/// The host a request is for: HTTP/2's `:authority`, else the `Host` header.
fn request_host<B>(req: &Request<B>) -> String {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The protocol an HTTP/1.1 request asks to switch to (`Connection: upgrade` + `Upgrade`).
fn upgrade_of<B>(req: &Request<B>) -> Option<HeaderValue> {
    let asks = connection_tokens(req.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"));
    asks.then(|| req.headers().get(header::UPGRADE).cloned())
        .flatten()
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for h in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(h);
    }
}

/// Hop-by-hop headers out (an upgrade's own kept), forwarding headers in, `Host` set.
fn prepare_request_headers(
    headers: &mut HeaderMap,
    host: &str,
    peer: SocketAddr,
    upgrade: Option<&HeaderValue>,
) {
    remove_hop_by_hop(headers);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    if let Ok(h) = HeaderValue::from_str(host) {
        headers.insert(header::HOST, h.clone());
        headers.insert(HeaderName::from_static("x-forwarded-host"), h);
    }
    let ip = peer.ip().to_string();
    let xff = HeaderName::from_static("x-forwarded-for");
    let chain = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {ip}"),
        None => ip.clone(),
    };
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(xff, v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    let node = if peer.is_ipv6() {
        format!("\"[{ip}]\"")
    } else {
        ip
    };
    let element = format!("for={node};host=\"{host}\";proto=http");
    let forwarded = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {element}"),
        None => element,
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(header::FORWARDED, v);
    }
}

/// Methods that mean the same when sent twice (RFC 9110 9.2.2).
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

fn never(n: Infallible) -> hyper::Error {
    match n {}
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Text made safe to put in a page: what a client sent (its Host, its path) is never markup.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A `400`, after which the connection is closed (as nginx does: what follows a bad request
/// cannot be trusted to be a request).
fn bad_request(text: &str) -> Response<Body> {
    let mut resp = page(StatusCode::BAD_REQUEST, "Bad request", text);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html><title>{title}</title><body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p><p><small>berth ingress</small></p>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)).map_err(never).boxed())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_forwarding_headers_come() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        prepare_request_headers(
            &mut h,
            "shop.localhost:8080",
            "127.0.0.1:5000".parse().unwrap(),
            None,
        );
        for gone in ["connection", "x-secret", "keep-alive", "te"] {
            assert!(h.get(gone).is_none(), "{gone} forwarded");
        }
        assert_eq!(h["accept"], "*/*");
        assert_eq!(h["host"], "shop.localhost:8080");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.localhost:8080");
        assert_eq!(
            h["forwarded"],
            "for=127.0.0.1;host=\"shop.localhost:8080\";proto=http"
        );
    }

    #[test]
    fn an_upgrade_keeps_its_own_headers_and_ipv6_peers_are_quoted() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let ws = HeaderValue::from_static("websocket");
        prepare_request_headers(&mut h, "a", "[::1]:9".parse().unwrap(), Some(&ws));
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["forwarded"], "for=\"[::1]\";host=\"a\";proto=http");
    }
}
