//! Cluster access exactly as kubectl: `KUBECONFIG`, `--kubeconfig`, `--context`.

use crate::error::{Error, ErrorKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which cluster to talk to.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// `--kubeconfig`; else `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
    /// How long to wait for the server to answer at all.
    pub connect_timeout: Option<Duration>,
    /// How long one request keeps retrying transient failures (default 30 s).
    pub retry_timeout: Option<Duration>,
}

/// The default of [`ConnectOptions::retry_timeout`]: an API server restart takes about 10 s.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected cluster: the client and how to name it in messages.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The context used (for messages and `kubectl --context` hints).
    pub context: String,
    pub server: String,
    /// The kubeconfig context's namespace (`default` when unset).
    pub default_namespace: String,
    /// The last transient failure any request saw (retried or not): the cause to name when the
    /// server stays unreachable.
    pub last_failure: Arc<Mutex<Option<String>>>,
}

/// The kubeconfig as kubectl reads it, and the context to use (which must exist in it).
fn kubeconfig_and_context(opts: &ConnectOptions) -> Result<(Kubeconfig, String), Error> {
    let kubeconfig = match &opts.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cannot read kubeconfig {}: {e}", path.display()),
            )
            .hint("pass --kubeconfig with a readable kubeconfig file")
        })?,
        None => Kubeconfig::read().map_err(|e| {
            Error::new(ErrorKind::Config, format!("cannot read kubeconfig: {e}"))
                .hint("set KUBECONFIG or pass --kubeconfig (berth reads it as kubectl does)")
        })?,
    };
    let context = match &opts.context {
        Some(c) => c.clone(),
        None => kubeconfig.current_context.clone().ok_or_else(|| {
            Error::new(ErrorKind::Config, "the kubeconfig has no current context")
                .hint("pass --context NAME")
        })?,
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Error::new(
            ErrorKind::Config,
            format!("no context named `{context}` in the kubeconfig"),
        )
        .note(format!("known contexts: {}", known.join(", ")))
        .hint("pass --context with one of the known contexts"));
    }
    Ok((kubeconfig, context))
}

impl Cluster {
    /// Loads the kubeconfig, builds a client and checks the server answers.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, Error> {
        let (kubeconfig, context) = kubeconfig_and_context(opts)?;
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("cannot use context `{context}`: {e}"),
                )
                .hint("check the context's cluster and user entries in the kubeconfig")
            })?;
        let timeout = opts.connect_timeout.unwrap_or(Duration::from_secs(10));
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        // berth's own retry policy replaces kube-rs's (which waits up to 1000 s and never retries
        // a refused or reset connection).
        config.default_retry = false;
        let policy = crate::retry::Transient::new(opts.retry_timeout.unwrap_or(RETRY_TIMEOUT));
        let last_failure = policy.last_failure();
        let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cannot build a client for `{context}`: {e}"),
            )
        })?;
        let client = builder
            .with_layer(
                &tower::ServiceBuilder::new()
                    .layer(tower::retry::RetryLayer::new(policy))
                    .layer(tower::buffer::BufferLayer::new(1024)),
            )
            .build();
        let cluster = Cluster {
            client,
            context,
            server,
            default_namespace,
            last_failure,
        };
        match tokio::time::timeout(timeout, cluster.client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(cluster),
            Ok(Err(kube::Error::Api(status))) if status.code == 401 || status.code == 403 => {
                Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "the cluster at {} (context {}) refused our credentials ({} {})",
                        cluster.server, cluster.context, status.code, status.reason
                    ),
                )
                .hint("refresh the context's credentials (token, certificate or exec plugin)"))
            }
            Ok(Err(e)) => Err(cluster.unreachable(crate::retry::causes(&e))),
            Err(_) => {
                let cause = cluster.last_failure().unwrap_or_else(|| "no answer".into());
                Err(cluster.unreachable(format!("{cause} (tried for {timeout:?})")))
            }
        }
    }

    /// The last transient failure seen, if any.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().unwrap().clone()
    }

    /// Adds where the cluster is to an error of a server that stopped answering.
    pub fn locate(&self, e: Error) -> Error {
        if e.kind != ErrorKind::Unreachable {
            return e;
        }
        e.note(format!(
            "cluster: {} (context {})",
            self.server, self.context
        ))
    }

    fn unreachable(&self, cause: String) -> Error {
        Error::new(
            ErrorKind::Unreachable,
            format!(
                "cannot reach the cluster at {} (context {})",
                self.server, self.context
            ),
        )
        .note(cause)
        .hint("check that the cluster is running and the context is the one you meant (--context)")
    }
}
