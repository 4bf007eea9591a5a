//! Service listeners: one loopback port per Service port, round-robin to ready replicas.

use crate::state::Shared;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Where a Service port sends traffic: (replica id, local port) candidates are read per connection.
pub struct Route {
    pub service: String,
    pub port_index: usize,
    pub listener: TcpListener,
}

/// Accepts connections until the task is aborted.
pub async fn serve(route: Route, shared: Arc<Shared>) {
    let next = AtomicUsize::new(0);
    let route = Arc::new(route);
    loop {
        let Ok((client, _)) = route.listener.accept().await else {
            continue;
        };
        let start = next.fetch_add(1, Ordering::Relaxed);
        let (route, shared) = (route.clone(), shared.clone());
        tokio::spawn(async move {
            let mut client = client;
            if let Some(mut upstream) = connect(&route, &shared, start).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

/// A connection to a ready replica, trying each once from this connection's turn; when none
/// accepts (a process marked ready before it listens), tries again until [`WAIT_FOR_READY`].
async fn connect(route: &Route, shared: &Shared, start: usize) -> Option<TcpStream> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_READY;
    loop {
        let backends = ready_backends(route, shared, deadline).await?;
        for k in 0..backends.len() {
            let port = backends[(start + k) % backends.len()];
            if let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)).await {
                return Some(upstream);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long a connection waits for a ready replica (during a start or restart) before it is closed.
const WAIT_FOR_READY: Duration = Duration::from_secs(10);

async fn ready_backends(
    route: &Route,
    shared: &Shared,
    deadline: tokio::time::Instant,
) -> Option<Vec<u16>> {
    shared
        .wait_for_backends(deadline, |s| s.backends(&route.service, route.port_index))
        .await
}

/// Binds the Service's own port when free, else any free loopback port.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => Ok(l),
        Err(_) => TcpListener::bind(("127.0.0.1", 0)).await,
    }
}
