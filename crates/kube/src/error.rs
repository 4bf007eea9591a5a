//! Errors of the Kubernetes backend: what went wrong, which object and file, and what to do.

/// An error of a cluster operation, printed like cargo's: a line of what, then where, then a hint.
pub type Error = berth_core::diagnostic::Diagnostic<ErrorKind>;

/// What went wrong, for callers and tests that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No kubeconfig, unknown context, bad credentials file.
    Config,
    /// The API server did not answer.
    Unreachable,
    /// 401 or 403.
    Forbidden,
    /// The server refused an object (validation, admission, dry-run).
    Rejected,
    /// A kind the cluster does not serve.
    UnknownKind,
    /// Server-side apply found fields owned by another manager.
    Conflict,
    /// Another apply holds the deploy set's lock.
    Locked,
    /// Workloads did not become ready in time.
    Timeout,
    /// A render with no objects would prune a non-empty set.
    EmptyRender,
    /// No such release or revision.
    NotFound,
    /// Any other API failure.
    Api,
    /// The folder or chart does not render (or cannot switch to source mode).
    Render,
    /// `berth sync` cannot move the folder's git repository.
    Git,
}

/// What a request was doing, so a failure can say it in the user's words.
#[derive(Clone, Debug)]
pub struct Action<'a> {
    /// `get`, `list`, `patch`, `delete`, ...
    pub verb: &'a str,
    /// Plural resource with group: `deployments.apps`, `secrets`.
    pub resource: String,
    pub namespace: Option<&'a str>,
    /// `Deployment/web` and its template, when one object is concerned.
    pub object: Option<String>,
    pub origin: Option<crate::manifest::Origin>,
}

/// Turns a kube-rs error into one that names the verb, resource, namespace and object.
pub fn from_kube(err: kube::Error, action: &Action<'_>) -> Error {
    let within = match action.namespace {
        Some(ns) => format!(" in namespace {ns}"),
        None => String::new(),
    };
    let what = action
        .object
        .clone()
        .unwrap_or_else(|| action.resource.clone());
    let mut e = match err {
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => Error::new(
            ErrorKind::Forbidden,
            format!(
                "the cluster refused to {} {}{within} ({} {})",
                action.verb, action.resource, status.code, status.reason
            ),
        )
        .note(format!("server: {}", status.message))
        .hint("check the context's credentials, or ask for RBAC permission for this verb and resource"),
        kube::Error::Api(status) if status.code == 409 => Error::new(
            ErrorKind::Conflict,
            format!("{what}: conflict while trying to {}{within}", action.verb),
        )
        .note(format!("server: {}", status.message)),
        kube::Error::Api(status) if status.code == 404 => Error::new(
            ErrorKind::NotFound,
            format!("{what}{within} not found while trying to {}", action.verb),
        )
        .note(format!("server: {}", status.message)),
        kube::Error::Api(status) => Error::new(
            if status.code == 422 || status.code == 400 {
                ErrorKind::Rejected
            } else {
                ErrorKind::Api
            },
            format!(
                "the server rejected {what}{within} ({} {})",
                status.code, status.reason
            ),
        )
        .note(format!("server: {}", status.message)),
        other => Error::new(
            ErrorKind::Unreachable,
            format!(
                "cannot {} {}{within}: the server did not answer",
                action.verb, action.resource
            ),
        )
        .note(format!("cause: {}", crate::retry::causes(&other)))
        .hint("check that the cluster is running; berth retried for the retry timeout (--retry-timeout)"),
    };
    if let Some(origin) = &action.origin {
        e = origin.locate(e);
    }
    e
}

/// Says which template an error's object came from (`--> web.yaml:12`).
pub(crate) trait LocatedAt {
    fn located_at(self, origin: &crate::manifest::Origin) -> Self;
}

impl LocatedAt for Error {
    fn located_at(self, origin: &crate::manifest::Origin) -> Error {
        origin.locate(self)
    }
}
