//! The Ingress: one HTTP/1.1 reverse proxy routing by host and path to Services.
//!
//! Requests are forwarded as they arrive (bodies streamed by Content-Length or chunked framing),
//! responses likewise; a response without framing (SSE, `Connection: close`) streams until the
//! upstream closes. `Upgrade` (WebSocket) requests are spliced both ways after the 101.

use crate::state::Shared;
use std::sync::Arc;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

/// The largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed message head, kept as received so it can be forwarded untouched.
struct Head {
    raw: Vec<u8>,
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Reads a head; `Ok(None)` at a clean end of stream before any byte.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        let n = r.read_until(b'\n', &mut raw).await?;
        if n == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        if raw.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "head too large",
            ));
        }
        let line = &raw[before..];
        if (line == b"\r\n" || line == b"\n") && before > 0 {
            break;
        }
        if (line == b"\r\n" || line == b"\n") && before == 0 {
            raw.clear();
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        raw,
        first,
        headers,
    }))
}

/// Copies exactly `n` bytes.
async fn copy_exact<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    n: u64,
) -> std::io::Result<()> {
    let copied = tokio::io::copy(&mut r.take(n), w).await?;
    if copied < n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Copies a chunked body, framing included, through its last chunk and trailers.
async fn copy_chunked<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
) -> std::io::Result<()> {
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        w.write_all(&line).await?;
        let size_text = String::from_utf8_lossy(&line);
        let size = u64::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let mut t = Vec::new();
                if r.read_until(b'\n', &mut t).await? == 0 {
                    return Ok(());
                }
                w.write_all(&t).await?;
                if t == b"\r\n" || t == b"\n" {
                    w.flush().await?;
                    return Ok(());
                }
            }
        }
        copy_exact(r, w, size + 2).await?;
        w.flush().await?;
    }
}

fn page(status: &str, title: &str, text: &str) -> Vec<u8> {
    let body = format!(
        "<!doctype html><title>{title}</title><body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{text}</p><p><small>berth ingress</small></p>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves the ingress until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        tokio::spawn(connection(client, shared.clone()));
    }
}

/// One client connection: requests in order (HTTP/1.1 keep-alive).
async fn connection(client: TcpStream, shared: Arc<Shared>) {
    let (r, mut w) = client.into_split();
    let mut r = BufReader::new(r);
    while let Ok(Some(req)) = read_head(&mut r).await {
        let mut parts = req.first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let host = req.header("host").unwrap_or("").to_string();
        let Some(rule) = shared.ingress_route(&host, &target) else {
            let _ = w
                .write_all(&page(
                    "404 Not Found",
                    "Not found",
                    &format!("No Ingress rule matches {host}{target}."),
                ))
                .await;
            if skip_body(&mut r, &req).await.is_err() || req.has_token("connection", "close") {
                return;
            }
            continue;
        };
        let backends = shared.backends_by_port(&rule.service, &rule.port);
        let Some(port) = backends.first().copied() else {
            let text = format!(
                "Service <b>{}</b> has no ready replica right now; berth shows why in its status.",
                rule.service
            );
            let _ = w
                .write_all(&page(
                    "503 Service Unavailable",
                    "Service unavailable",
                    &text,
                ))
                .await;
            if skip_body(&mut r, &req).await.is_err() || req.has_token("connection", "close") {
                return;
            }
            continue;
        };
        let next = shared.next_backend(&rule.service, backends.len());
        let port = backends.get(next).copied().unwrap_or(port);
        let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
            let _ = w
                .write_all(&page(
                    "502 Bad Gateway",
                    "Bad gateway",
                    &format!("Service <b>{}</b> refused the connection.", rule.service),
                ))
                .await;
            return;
        };
        let _ = upstream.set_nodelay(true);
        let (ur, mut uw) = upstream.into_split();
        let mut ur = BufReader::new(ur);
        // Request: head, then body by its framing.
        if uw.write_all(&req.raw).await.is_err() {
            return;
        }
        let upgrade = req.header("upgrade").is_some();
        let sent = if req.chunked() {
            copy_chunked(&mut r, &mut uw).await
        } else if let Some(n) = req.content_length() {
            copy_exact(&mut r, &mut uw, n).await
        } else {
            Ok(())
        };
        if sent.is_err() {
            return;
        }
        // Response.
        let Ok(Some(resp)) = read_head(&mut ur).await else {
            let _ = w
                .write_all(&page(
                    "502 Bad Gateway",
                    "Bad gateway",
                    &format!("Service <b>{}</b> closed the connection.", rule.service),
                ))
                .await;
            return;
        };
        if w.write_all(&resp.raw).await.is_err() {
            return;
        }
        let status: u16 = resp
            .first
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status == 101 && upgrade {
            // WebSocket (or any upgrade): both ways until either side closes.
            let mut client = r.into_inner().reunite(w).expect("halves of one stream");
            let mut up = ur.into_inner().reunite(uw).expect("halves of one stream");
            let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            return;
        }
        let no_body =
            method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
        let done = if no_body {
            Ok(true)
        } else if resp.chunked() {
            copy_chunked(&mut ur, &mut w).await.map(|_| true)
        } else if let Some(n) = resp.content_length() {
            copy_exact(&mut ur, &mut w, n).await.map(|_| true)
        } else {
            // No framing: the body ends when the upstream closes (SSE, HTTP/1.0 style).
            stream_to_end(&mut ur, &mut w).await.map(|_| false)
        };
        let _ = w.flush().await;
        let keep = matches!(done, Ok(true))
            && !req.has_token("connection", "close")
            && !resp.has_token("connection", "close");
        if !keep {
            return;
        }
    }
}

/// Copies until EOF, flushing each piece (so server-sent events arrive as they are sent).
async fn stream_to_end<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n]).await?;
        w.flush().await?;
    }
}

/// Reads and drops a request body we answered without forwarding.
async fn skip_body<R: AsyncBufRead + Unpin>(r: &mut R, req: &Head) -> std::io::Result<()> {
    if req.chunked() {
        copy_chunked(r, &mut tokio::io::sink()).await
    } else if let Some(n) = req.content_length() {
        copy_exact(r, &mut tokio::io::sink(), n).await
    } else {
        Ok(())
    }
}
