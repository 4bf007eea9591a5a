//! `berth rerun`: a small supervisor for source mode inside a container (gorerun done right).
//!
//! Runs a command in its own process group and restarts it in place on SIGHUP or
//! `POST /restart` (on 127.0.0.1, when a port is given), at any moment: while it starts, while it
//! runs, or while a crashed child waits for its back-off. SIGTERM and SIGINT go to the child, and
//! rerun exits with it. It only ever signals the child's group, never itself.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// A restart waits this long for the old process to leave before killing it.
const RESTART_GRACE: Duration = Duration::from_secs(2);

fn spawn(argv: &[String]) -> std::io::Result<Child> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).process_group(0).kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}

/// SIGTERM to the child's group, SIGKILL after `grace`; returns its exit status.
async fn stop(child: &mut Child, sig: Signal, grace: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id()?;
    let pg = Pid::from_raw(pid as i32);
    let _ = killpg(pg, sig);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            let _ = killpg(pg, Signal::SIGKILL);
            child.wait().await.ok()
        }
    };
    let _ = killpg(pg, Signal::SIGKILL);
    status
}

fn exit_code(status: Option<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        None => 1,
    }
}

/// Answers `POST /restart` with 202 and asks for a restart; anything else gets 404.
async fn control(port: u16, restart: mpsc::UnboundedSender<()>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let restart = restart.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let ok = buf[..n].starts_with(b"POST /restart ");
                if ok {
                    let _ = restart.send(());
                }
                let status = if ok { "202 Accepted" } else { "404 Not Found" };
                let _ = conn
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    Ok(())
}

/// Runs `argv` under supervision until SIGTERM or SIGINT; returns the exit code to exit with.
pub async fn rerun(argv: Vec<String>, port: Option<u16>) -> Result<i32, crate::Error> {
    use crate::error::start;
    if argv.is_empty() {
        return Err(start("no command given").hint("berth rerun [--port P] -- COMMAND [ARGS...]"));
    }
    let signal = |kind| signal(kind).map_err(|e| start(format!("cannot handle signals: {e}")));
    // Signals first: once the control port answers, every way to ask for a restart works.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (restart_tx, mut restart_rx) = mpsc::unbounded_channel();
    if let Some(p) = port {
        control(p, restart_tx.clone())
            .await
            .map_err(|e| start(format!("cannot listen on 127.0.0.1:{p}: {e}")))?;
    }
    let mut backoff = BACKOFF_FIRST;
    loop {
        let started = Instant::now();
        let mut child = match spawn(&argv) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("berth rerun: cannot start {:?}: {e}", argv.join(" "));
                None
            }
        };
        // Wait for: a restart request, a stop signal, or the child ending by itself.
        let ended = async {
            match child.as_mut() {
                Some(c) => c.wait().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = hup.recv() => {}
            Some(()) = restart_rx.recv() => {}
            _ = term.recv() => return Ok(match child.as_mut() { Some(c) => exit_code(stop(c, Signal::SIGTERM, Duration::from_secs(30)).await), None => 143 }),
            _ = int.recv() => return Ok(match child.as_mut() { Some(c) => exit_code(stop(c, Signal::SIGINT, Duration::from_secs(30)).await), None => 130 }),
            status = ended => {
                if let Some(s) = status {
                    eprintln!("berth rerun: {} {s}; restarting in {backoff:?}", argv[0]);
                }
                if let Some(c) = child.as_ref().and_then(|c| c.id()) {
                    let _ = killpg(Pid::from_raw(c as i32), Signal::SIGKILL);
                }
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = BACKOFF_FIRST;
                }
                // The back-off ends early on a restart request; a stop signal ends everything.
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = hup.recv() => {}
                    Some(()) = restart_rx.recv() => {}
                    _ = term.recv() => return Ok(143),
                    _ = int.recv() => return Ok(130),
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
                continue;
            }
        }
        // A restart request: replace the process in place, now. Requests that queued up in the
        // meantime are served by this same restart, not by a series of them.
        if let Some(c) = child.as_mut() {
            stop(c, Signal::SIGTERM, RESTART_GRACE).await;
        }
        while restart_rx.try_recv().is_ok() {}
        backoff = BACKOFF_FIRST;
    }
}
