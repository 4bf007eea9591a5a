//! Errors of the local backend: a [`Diagnostic`](berth_core::diagnostic::Diagnostic) whose kind
//! says whether trying again can help (a replica that cannot start because of the folder waits
//! for the folder to change; one that failed for a passing reason is restarted with back-off).

/// What went wrong, for callers (the supervisor) that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The folder asks for what cannot work here (a missing workdir, an unknown volume, a
    /// hostPath not allowed): nothing helps until the folder changes.
    Folder,
    /// No container engine, or the engine refused a request.
    Engine,
    /// An image that cannot be pulled or is not present.
    Image,
    /// A process, build or container that did not start or failed.
    Start,
    /// A readiness or liveness probe failed.
    Probe,
    /// The state folder (`.berth/`) or a file of it.
    State,
}

impl ErrorKind {
    /// Whether starting again, unchanged, can succeed.
    pub fn retryable(self) -> bool {
        !matches!(self, ErrorKind::Folder)
    }
}

/// An error of the local backend.
pub type Error = berth_core::diagnostic::Diagnostic<ErrorKind>;

/// Shorthands for the common kinds.
pub(crate) fn folder(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Folder, message)
}

pub(crate) fn engine(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Engine, message)
}

pub(crate) fn start(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Start, message)
}

pub(crate) fn state(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::State, message)
}

/// A file or folder of the state folder that could not be read or written.
pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> Error {
    state(format!("{}: {e}", path.display()))
}
