//! Cluster access exactly as kubectl: `KUBECONFIG`, `--kubeconfig`, `--context`.

use crate::error::{Error, ErrorKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
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
}

/// A connected cluster: the client and how to name it in messages.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The context used (for messages and `kubectl --context` hints).
    pub context: String,
    pub server: String,
    /// The kubeconfig context's namespace (`default` when unset).
    pub default_namespace: String,
}

impl Cluster {
    /// Loads the kubeconfig, builds a client and checks the server answers.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, Error> {
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
        let client = kube::Client::try_from(config).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cannot build a client for `{context}`: {e}"),
            )
        })?;
        let cluster = Cluster {
            client,
            context,
            server,
            default_namespace,
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
            Ok(Err(e)) => Err(cluster.unreachable(e.to_string())),
            Err(_) => Err(cluster.unreachable(format!("no answer within {timeout:?}"))),
        }
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
