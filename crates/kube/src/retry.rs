//! Transient API failures survived, not just reported: a tower retry policy under every request
//! berth makes. Connection refused/reset, timeouts, 429 (honouring `Retry-After`), 502, 503 and
//! 504 are retried with exponential back-off and jitter until the request's budget is spent;
//! a 500 (an etcd leader change, say) is retried a few times. Requests that may have been
//! processed are retried only when repeating them is harmless: every verb berth uses but POST,
//! which is retried only when it never reached the server.

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::retry::Policy;
use tower::BoxError;

/// How often a 500 is retried: enough for a leader change, not for a real server bug.
const SERVER_ERROR_RETRIES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// The retry policy: one clone per request, holding that request's attempts.
#[derive(Clone)]
pub struct Transient {
    /// How long one request may keep retrying.
    budget: Duration,
    started: Option<Instant>,
    attempt: u32,
    server_errors: u32,
    /// The last transient failure seen by any request, for error messages.
    last: Arc<Mutex<Option<String>>>,
}

impl Transient {
    pub fn new(budget: Duration) -> Transient {
        Transient {
            budget,
            started: None,
            attempt: 0,
            server_errors: 0,
            last: Arc::default(),
        }
    }

    /// The last transient failure, shared by every clone: why a request finally failed.
    pub fn last_failure(&self) -> Arc<Mutex<Option<String>>> {
        self.last.clone()
    }

    fn remember(&self, what: String) {
        *self.last.lock().unwrap() = Some(what);
    }

    /// The back-off before attempt `self.attempt + 1`, with up to 25% jitter.
    fn backoff(&self) -> Duration {
        let base = FIRST_DELAY
            .saturating_mul(1u32 << self.attempt.min(10))
            .min(MAX_DELAY);
        // The clock's nanoseconds differ between the requests retrying together, so they spread.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64)
            ^ (std::process::id() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        base + Duration::from_millis(nanos % (base.as_millis() as u64 / 4 + 1))
    }
}

/// What kind of transient failure a result is, if any.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The request never reached the server (connect refused, DNS, connect timeout).
    NotSent,
    /// The connection broke or timed out after the request may have been sent.
    Broken,
    /// The server asked to come back (429, 503) or a gateway timed out (502, 504).
    Busy(Option<Duration>),
    /// 500: often an etcd leader change, sometimes a real bug; retried a few times.
    ServerError,
}

fn classify<B>(result: &Result<Response<B>, BoxError>) -> Option<Failure> {
    match result {
        Ok(resp) => match resp.status() {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let after = resp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Some(Failure::Busy(after))
            }
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => Some(Failure::Busy(None)),
            StatusCode::INTERNAL_SERVER_ERROR => Some(Failure::ServerError),
            _ => None,
        },
        Err(e) => classify_error(e.as_ref()),
    }
}

fn classify_error(e: &(dyn StdError + 'static)) -> Option<Failure> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    let mut broken = false;
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            if h.is_connect() {
                return Some(Failure::NotSent);
            }
            broken = true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused | AddrNotAvailable | NotFound => return Some(Failure::NotSent),
                ConnectionReset | ConnectionAborted | BrokenPipe | TimedOut | UnexpectedEof
                | NotConnected | Interrupted => broken = true,
                _ => {}
            }
        }
        if err.downcast_ref::<hyper::Error>().is_some() {
            broken = true;
        }
        cur = err.source();
    }
    broken.then_some(Failure::Broken)
}

/// The error's chain in one line, each cause once: `client error (Connect): tcp connect error:
/// Connection refused (os error 111)`.
pub fn causes(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn describe<B>(result: &Result<Response<B>, BoxError>) -> String {
    match result {
        Ok(resp) => format!("the server answered {}", resp.status()),
        Err(e) => causes(e.as_ref()),
    }
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for Transient {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let failure = classify(result)?;
        let idempotent = req.method() != Method::POST;
        let retry = match &failure {
            Failure::NotSent | Failure::Busy(_) => true,
            Failure::Broken => idempotent,
            Failure::ServerError => idempotent && self.server_errors < SERVER_ERROR_RETRIES,
        };
        self.remember(describe(result));
        if !retry {
            return None;
        }
        if failure == Failure::ServerError {
            self.server_errors += 1;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let mut delay = self.backoff();
        if let Failure::Busy(Some(after)) = failure {
            delay = delay.max(after);
        }
        if started.elapsed() + delay > self.budget {
            return None;
        }
        self.attempt += 1;
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        self.started.get_or_insert_with(Instant::now);
        let body = req.body().try_clone()?;
        let mut clone = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = req.headers().clone();
        *clone.extensions_mut() = req.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<&str>) -> Result<Response<()>, BoxError> {
        let mut b = Response::builder().status(code);
        if let Some(a) = retry_after {
            b = b.header("Retry-After", a);
        }
        Ok(b.body(()).unwrap())
    }

    fn err(e: BoxError) -> Result<Response<()>, BoxError> {
        Err(e)
    }

    fn req(method: Method) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri("/x")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_retried() {
        let mut p = Transient::new(Duration::from_secs(30));
        for code in [429, 502, 503, 504, 500] {
            assert!(
                p.clone()
                    .retry(&mut req(Method::PATCH), &mut status(code, None))
                    .is_some(),
                "{code}"
            );
        }
        for code in [200, 400, 404, 409, 422] {
            assert!(
                p.retry(&mut req(Method::PATCH), &mut status(code, None))
                    .is_none(),
                "{code}"
            );
        }
        // A create that may have been processed is not repeated.
        assert!(p
            .clone()
            .retry(&mut req(Method::POST), &mut status(500, None))
            .is_none());
        assert!(p
            .clone()
            .retry(&mut req(Method::POST), &mut status(503, None))
            .is_some());
        let refused: BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(p
            .clone()
            .retry(&mut req(Method::POST), &mut err(refused))
            .is_some());
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(p
            .clone()
            .retry(&mut req(Method::POST), &mut err(reset))
            .is_none());
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(p
            .clone()
            .retry(&mut req(Method::GET), &mut err(reset))
            .is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_within_the_budget() {
        let mut p = Transient::new(Duration::from_secs(30));
        let sleep = p
            .clone()
            .retry(&mut req(Method::GET), &mut status(429, Some("5")))
            .unwrap();
        assert!(sleep.deadline() >= Instant::now() + Duration::from_secs(5));
        // Beyond the budget: give up and report.
        assert!(p
            .retry(&mut req(Method::GET), &mut status(429, Some("60")))
            .is_none());
        assert_eq!(
            p.last.lock().unwrap().as_deref(),
            Some("the server answered 429 Too Many Requests")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_only_a_few_times() {
        let mut p = Transient::new(Duration::from_secs(300));
        let mut n = 0;
        while p
            .retry(&mut req(Method::GET), &mut status(500, None))
            .is_some()
        {
            n += 1;
        }
        assert_eq!(n, SERVER_ERROR_RETRIES);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_the_retries() {
        let mut p = Transient::new(Duration::from_secs(5));
        let mut slept = Duration::ZERO;
        while let Some(s) = p.retry(&mut req(Method::GET), &mut status(503, None)) {
            let d = s.deadline() - Instant::now();
            slept += d;
            tokio::time::advance(d).await;
        }
        assert!(
            slept <= Duration::from_secs(5) && slept >= Duration::from_secs(3),
            "{slept:?}"
        );
    }
}
