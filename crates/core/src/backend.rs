//! What a running environment offers the dashboard and the HTTP API: the trait every backend
//! (`berth-local`, `berth-kube`) implements and the server (`berth-server`) serves, knowing
//! nothing else of them.

use crate::view::{EnvironmentView, LogLine, Mode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// A boxed future, so [`Backend`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failure the API reports with an HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: what.into(),
        }
    }

    pub fn bad_request(what: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: what.into(),
        }
    }

    pub fn failed(what: impl Into<String>) -> ApiError {
        ApiError {
            status: 500,
            message: what.into(),
        }
    }
}

/// What a backend offers the dashboard: a view, logs, and the actions of the screens.
pub trait Backend: Send + Sync + 'static {
    /// The environment now.
    fn environment(&self) -> EnvironmentView;
    /// The environment as `/metrics` reports it: with what is too costly to read on every
    /// change (a local process's CPU time and memory) filled in.
    fn measured(&self) -> EnvironmentView {
        self.environment()
    }
    /// Moves whenever the environment changes.
    fn changed(&self) -> watch::Receiver<u64>;
    /// Kept lines of a service after `since`, at most `tail`.
    fn logs(
        &self,
        service: &str,
        since: Option<u64>,
        tail: Option<usize>,
    ) -> Result<Vec<LogLine>, ApiError>;
    /// New lines (of this service at least; the server filters).
    fn follow(&self, service: &str) -> Result<broadcast::Receiver<Arc<LogLine>>, ApiError>;
    /// Restarts every replica of a service in place.
    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<String, ApiError>>;
    /// Sets the replica count.
    fn scale<'a>(
        &'a self,
        service: &'a str,
        replicas: u32,
    ) -> BoxFuture<'a, Result<String, ApiError>>;
    /// Switches a container (all of the service's when `None`) to image or source mode.
    fn set_mode<'a>(
        &'a self,
        service: &'a str,
        container: Option<&'a str>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<String, ApiError>>;
    /// Re-renders the folder and applies it.
    fn redeploy(&self) -> BoxFuture<'_, Result<String, ApiError>>;
    /// What [`redeploy`](Backend::redeploy) would change now, changing nothing.
    fn preview(&self) -> BoxFuture<'_, Result<crate::view::Preview, ApiError>>;
    /// What happened, oldest first: the whole environment's, or one service's.
    fn events<'a>(
        &'a self,
        service: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<crate::timeline::Event>, ApiError>>;
    /// Pauses or resumes continuous sync.
    fn set_paused(&self, paused: bool) -> BoxFuture<'_, Result<String, ApiError>> {
        let _ = paused;
        Box::pin(async {
            Err(ApiError::not_found(
                "this environment has no continuous sync",
            ))
        })
    }
}
