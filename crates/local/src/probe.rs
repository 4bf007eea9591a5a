//! Readiness and liveness probes against a local replica.

use berth_core::ProbeAction;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs one probe attempt; `Err` says why it failed.
pub async fn check(
    action: &ProbeAction,
    port: Option<u16>,
    timeout: Duration,
    workdir: &Path,
    env: &[(String, String)],
) -> Result<(), crate::Error> {
    let attempt = async {
        match action {
            ProbeAction::TcpSocket { .. } => {
                let port = port.ok_or("the probe's port is not a port of this container")?;
                TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))
            }
            ProbeAction::HttpGet { path, .. } => {
                let port = port.ok_or("the probe's port is not a port of this container")?;
                let mut s = TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
                let req = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: berth-probe\r\nConnection: close\r\n\r\n");
                s.write_all(req.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
                let head = String::from_utf8_lossy(&buf[..n]);
                let code: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .ok_or("no HTTP status line")?;
                // Read the rest (as the kubelet does, up to 10 KiB): closing with unread data
                // resets the connection, and the service would log a broken pipe per probe.
                let mut rest = [0u8; 4096];
                let mut read = n;
                while read < 10 * 1024 {
                    match s.read(&mut rest).await {
                        Ok(0) | Err(_) => break,
                        Ok(m) => read += m,
                    }
                }
                if (200..400).contains(&code) {
                    Ok(())
                } else {
                    Err(format!("GET {path} answered {code}"))
                }
            }
            ProbeAction::Exec { command } => {
                let status = tokio::process::Command::new(&command[0])
                    .args(&command[1..])
                    .current_dir(workdir)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .kill_on_drop(true)
                    .status()
                    .await
                    .map_err(|e| format!("{}: {e}", command[0]))?;
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("{} exited with {status}", command.join(" ")))
                }
            }
        }
    };
    let outcome: Result<(), String> = tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
    outcome.map_err(|why| crate::Error::new(crate::ErrorKind::Probe, why))
}
