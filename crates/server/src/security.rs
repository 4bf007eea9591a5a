//! Who may do what: loopback-only by default, a token for anything exposed, and no mutation
//! from another origin (so a web page elsewhere cannot restart your services).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

const COOKIE: &str = "berth_token";

/// The access policy of one server.
#[derive(Clone, Debug)]
pub struct Access {
    addr: SocketAddr,
    loopback: bool,
    token: Option<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

impl Access {
    /// A non-loopback address without a token would be open to the network: callers must
    /// pass one (the CLI generates it).
    pub fn new(addr: SocketAddr, token: Option<String>) -> Access {
        Access {
            addr,
            loopback: addr.ip().is_loopback(),
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// The URL to print: with `?token=` when a token is required.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", self.addr.port())
        } else {
            self.addr.to_string()
        };
        match (&self.token, self.loopback) {
            (Some(t), false) => format!("http://{host}/?token={t}"),
            _ => format!("http://{host}/"),
        }
    }

    fn token_of(req: &Request<Body>) -> Option<String> {
        let headers = req.headers();
        if let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return Some(v.to_string());
        }
        if let Some(cookies) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
            for c in cookies.split(';') {
                if let Some(v) = c.trim().strip_prefix(&format!("{COOKIE}=")) {
                    return Some(v.to_string());
                }
            }
        }
        req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
        })
    }

    fn host_allowed(&self, host: &str) -> bool {
        if !self.loopback {
            return true;
        }
        // DNS rebinding: a loopback server answers only to loopback names.
        let port = self.addr.port();
        [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
        .iter()
        .any(|h| h == host)
    }
}

/// The middleware enforcing [`Access`].
pub async fn guard(State(access): State<Access>, req: Request<Body>, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !access.host_allowed(&host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "unexpected Host header: this server answers only to 127.0.0.1, localhost and [::1]",
        );
    }
    let given = Access::token_of(&req);
    let token_ok = match (&access.token, &given) {
        (Some(t), Some(g)) => constant_time_eq(t.as_bytes(), g.as_bytes()),
        _ => false,
    };
    if !access.loopback && !token_ok {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a token is required: open the URL berth printed, or send Authorization: Bearer <token>",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site" || v == "same-site");
        let same_origin = origin.is_none_or(|o| o == format!("http://{host}"));
        if !same_origin || cross_site {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross-origin request refused: mutations are accepted only from the dashboard itself",
            );
        }
    }
    // First visit with ?token=: keep it in a strict cookie, so the page's own requests carry it.
    let set_cookie = token_ok
        && req.uri().path() == "/"
        && req.uri().query().is_some_and(|q| q.contains("token="));
    let mut resp = next.run(req).await;
    if set_cookie {
        if let Some(t) = &access.token {
            if let Ok(v) = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/").parse() {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
    }
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-content-type-options"),
        header::HeaderValue::from_static("nosniff"),
    );
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        header::HeaderValue::from_static("DENY"),
    );
    resp
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token (128 bits, hex) for a dashboard exposed beyond loopback. Fails loudly when the
/// operating system has no randomness to give: a guessable token would be worse than none.
pub fn new_token() -> Result<String, crate::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        let what = format!("cannot make a dashboard token: the OS gave no randomness ({e})");
        crate::Error::new(crate::ErrorKind::Token, what)
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token for a server on `listen`: none on loopback; `BERTH_TOKEN` when set; else a new one.
pub fn token_for(listen: &std::net::SocketAddr) -> Result<Option<String>, crate::Error> {
    if listen.ip().is_loopback() {
        return Ok(None);
    }
    match std::env::var("BERTH_TOKEN").ok().filter(|t| !t.is_empty()) {
        Some(t) => Ok(Some(t)),
        None => new_token().map(Some),
    }
}

#[cfg(test)]
mod token_tests {
    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (super::new_token().unwrap(), super::new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_ne!(a, "0".repeat(32));
        let loopback = "127.0.0.1:7700".parse().unwrap();
        assert_eq!(super::token_for(&loopback).unwrap(), None);
    }
}
