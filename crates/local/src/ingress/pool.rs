//! Keep-alive HTTP/1.1 connections to replicas, an idle list per replica port.
//!
//! A connection goes back to its list only after an exchange that ended cleanly: the whole
//! request body was sent before the answer began, and the whole answer was read. A replica that
//! answers before reading the body (a `405`, a `413`) leaves the rest of that body in its
//! connection, where it would be read as the next request (request smuggling between clients):
//! such a connection is used once and closed, as are connections after an upgrade or an error.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Body = BoxBody<Bytes, hyper::Error>;

/// At most this many idle connections are kept per replica.
const MAX_IDLE_PER_PORT: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_FOR: Duration = Duration::from_secs(60);
/// How long connecting to a replica may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections by replica port.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<HashMap<u16, Vec<Idle>>>,
}

/// A connection waiting for its next request, and since when.
type Idle = (SendRequest<Body>, Instant);

/// Why a request got no answer.
pub(super) enum SendError {
    /// The replica could not be reached: it never saw the request.
    Connect(String),
    /// The request was sent (or partly sent) and the exchange failed.
    Sent(hyper::Error),
}

/// The right to give a connection back once its answer has been read in full.
pub(super) struct Lease {
    pool: Arc<Pool>,
    port: u16,
    sender: Option<SendRequest<Body>>,
}

impl Lease {
    /// The answer was read to its end: the connection may serve another request.
    pub(super) fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.put(self.port, sender);
        }
    }
}

impl Pool {
    /// Sends `req` to the replica at `port`, on an idle connection or a new one. A request an
    /// idle connection could not take (closed meanwhile) goes on a new connection.
    /// `watch` is the request body's (see [`watched`]); a bodiless request needs none.
    pub(super) async fn send(
        self: &Arc<Self>,
        port: u16,
        mut req: Request<Body>,
        watch: &BodyWatch,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let bodiless = req.body().is_end_stream();
        loop {
            let (mut sender, reused) = match self.take(port).await {
                Some(s) => (s, true),
                None => (connect(port).await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    // A replica that refuses a request often has not read its body either.
                    let clean = bodiless
                        || (watch.sent.load(Ordering::Acquire) && resp.status().as_u16() < 400);
                    let lease = Lease {
                        pool: self.clone(),
                        port,
                        sender: clean.then_some(sender),
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => req = back,
                    _ => return Err(SendError::Sent(e.into_error())),
                },
            }
        }
    }

    /// An idle connection to `port` that is ready for a request, if one is.
    async fn take(&self, port: u16) -> Option<SendRequest<Body>> {
        loop {
            let (mut sender, since) = self.idle.lock().expect("pool lock").get_mut(&port)?.pop()?;
            if since.elapsed() < IDLE_FOR && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn put(&self, port: u16, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.entry(port).or_default();
        list.retain(|(s, since)| !s.is_closed() && since.elapsed() < IDLE_FOR);
        if list.len() < MAX_IDLE_PER_PORT {
            list.push((sender, Instant::now()));
        }
    }
}

/// A new connection to the replica at `port`, its task spawned (upgrades allowed).
async fn connect(port: u16) -> Result<SendRequest<Body>, SendError> {
    let failed =
        |e: std::io::Error| SendError::Connect(format!("connecting to 127.0.0.1:{port}: {e}"));
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
    .map_err(failed)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Connect(format!("connecting to 127.0.0.1:{port}: {e}")))?;
    tokio::spawn(conn.with_upgrades());
    Ok(sender)
}

/// What became of a request body on its way to a replica.
#[derive(Default)]
pub(super) struct BodyWatch {
    /// It was sent to its end.
    sent: AtomicBool,
    /// The client's body was malformed or cut off.
    broken: AtomicBool,
}

impl BodyWatch {
    /// Whether the client's body failed (a malformed chunk, a connection closed mid-body).
    pub(super) fn broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }
}

/// `body`, reporting to `watch` whether it was sent to its end or failed.
pub(super) fn watched(body: Body, watch: &Arc<BodyWatch>) -> Body {
    Watched {
        inner: body,
        watch: watch.clone(),
    }
    .boxed()
}

struct Watched {
    inner: Body,
    watch: Arc<BodyWatch>,
}

impl hyper::body::Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Err(_))) => self.watch.broken.store(true, Ordering::Release),
            Poll::Ready(None) => self.watch.sent.store(true, Ordering::Release),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => {
                self.watch.sent.store(true, Ordering::Release)
            }
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
