//! The dashboard and the JSON HTTP API over any [`Backend`] (the trait the model owns, which
//! `berth-local` and `berth-kube` implement); UI assets embedded, no CDN, works offline.

mod api;
pub mod client;
mod error;
pub mod history;
pub use error::{Error, ErrorKind};
pub mod metrics;
pub mod notify;
mod security;

pub use security::{new_token, token_for, Access};

pub use berth_core::backend::{ApiError, Backend, BoxFuture};
use std::net::SocketAddr;
use std::sync::Arc;

/// A running server.
pub struct Server {
    /// Where it listens (the port is real when 0 was asked for).
    pub addr: SocketAddr,
    /// The URL to open (with the token, when one is needed).
    pub url: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `listen` and serves the dashboard and API for `backend`.
///
/// A loopback address needs no token for reading; anything else requires `token` on every
/// request. Mutating requests always need POST and either the token or (on loopback) a
/// same-origin request.
pub async fn serve(
    backend: Arc<dyn Backend>,
    listen: SocketAddr,
    token: Option<String>,
) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let access = Access::new(addr, token);
    let url = access.url();
    let history = Arc::new(berth_core::history::History::new(
        history::SPAN,
        history::interval(),
    ));
    let app = api::router(backend.clone(), access, history.clone());
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = history::sample(backend, history) => {}
        }
    });
    Ok(Server { addr, url, task })
}
