//! Charts from where Helm users keep them: OCI registries (`oci://HOST/PATH/NAME`) and chart
//! repositories (`NAME --repo URL`, or `REPO/NAME` from Helm's `repositories.yaml`), pulled
//! as `helm pull` does: the version chosen by a constraint as Helm chooses it, the archive's
//! digest checked, and archives cached by digest so that a pinned version renders offline.
//!
//! [`ChartRef::parse`] tells a remote reference from a local path; [`pull`] returns the path
//! of the archive in the cache, which the rest of berth loads like any local `.tgz`.

mod cache;
pub mod dependency;
mod http;
mod oci;
mod repo;

use crate::{Error, ErrorKind};
use std::path::{Path, PathBuf};

pub use cache::default_cache_dir;
pub(crate) use cache::digest_of;

/// A chart that is not on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartRef {
    /// `oci://HOST/PATH/NAME` (a tag in the reference, `:1.2.3`, is the version).
    Oci {
        host: String,
        repository: String,
        tag: Option<String>,
    },
    /// A chart of a repository: `NAME --repo URL`, or `REPO/NAME` of `repositories.yaml`.
    Repo {
        repo: repo::RepoConfig,
        name: String,
    },
}

/// How to pull: Helm's flags of the same names.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// `--version`: a version or a constraint (`^1.2`); none means the latest stable version.
    pub version: Option<String>,
    /// `--repo URL`: the chart repository the name is in.
    pub repo: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `--plain-http`: talk to the registry without TLS.
    pub plain_http: bool,
    /// How TLS is spoken: Helm's `--insecure-skip-tls-verify`, `--ca-file`, `--cert-file`,
    /// `--key-file`.
    pub tls: Tls,
    /// Where archives are kept (default: [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// `--pass-credentials`: a repository's credentials also go to a chart archive on another
    /// host (by default only to the repository's own scheme, host and port, as Helm's).
    pub pass_credentials: bool,
    /// Read a named repository's index afresh instead of Helm's cached copy, as `helm
    /// dependency update|build` do unless `--skip-refresh` (`helm template repo/chart` reads
    /// the cached one).
    pub refresh: bool,
    /// `--verify`: check the chart against its provenance file (`.prov`, signed by a key of
    /// the keyring) before it is used.
    pub verify: bool,
    /// `--keyring`: the public keys for `--verify` (default: Helm's, `~/.gnupg/pubring.gpg`).
    pub keyring: Option<PathBuf>,
}

/// Helm's TLS flags, for registries and repositories alike.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// `--insecure-skip-tls-verify`: do not check the server's certificate.
    pub insecure_skip_tls_verify: bool,
    /// `--ca-file`: a PEM bundle that signs the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// `--cert-file` and `--key-file`: a client certificate (PEM) and its key, for servers
    /// that ask for one (mutual TLS).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl ChartRef {
    /// The remote chart `arg` names, or `None` when it is a local path (or names nothing
    /// remote). `REPO/NAME` is remote only when no such path exists and `REPO` is a repository
    /// of Helm's `repositories.yaml`.
    pub fn parse(arg: &str, opts: &PullOptions) -> Result<Option<ChartRef>, Error> {
        if let Some(rest) = arg.strip_prefix("oci://") {
            return oci::parse(rest).map(Some);
        }
        if let Some(url) = &opts.repo {
            let repo = repo::RepoConfig::from_url(url, opts);
            return Ok(Some(ChartRef::Repo {
                repo,
                name: arg.to_string(),
            }));
        }
        if Path::new(arg).exists() {
            return Ok(None);
        }
        let Some((repo_name, name)) = arg.split_once('/') else {
            return Ok(None);
        };
        if name.contains('/') || repo_name.is_empty() || name.is_empty() {
            return Ok(None);
        }
        Ok(
            repo::RepoConfig::named(repo_name, opts)?.map(|repo| ChartRef::Repo {
                repo,
                name: name.to_string(),
            }),
        )
    }
}

/// What [`pull`] found.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// The archive, in the cache.
    pub path: PathBuf,
    /// The version chosen.
    pub version: String,
    /// `sha256:...` of the archive.
    pub digest: String,
    /// Whether it came from the cache without asking the server.
    pub cached: bool,
    /// The archive's own name (`NAME-VERSION.tgz`, as its provenance file names it).
    pub file_name: String,
    /// What `--verify` checked (none without it).
    pub verified: Option<crate::provenance::Verification>,
}

/// Pulls `chart` into the cache (or finds it there) and returns where it is; with `--verify`,
/// only a chart whose provenance file verifies (fetched beside it and kept in the cache).
pub fn pull(chart: &ChartRef, opts: &PullOptions) -> Result<Pulled, Error> {
    // The keyring is read first: a missing one fails before anything is fetched.
    let keyring = opts.verify.then(|| keyring(opts)).transpose()?;
    let cache = cache::Cache::open(opts.cache_dir.clone())?;
    let mut pulled = fetch(chart, opts, &cache)?;
    if let Some(keyring) = keyring {
        pulled.verified = Some(verify_pulled(&pulled, &cache, &keyring)?);
    }
    Ok(pulled)
}

fn keyring(opts: &PullOptions) -> Result<crate::provenance::Keyring, Error> {
    let path = opts
        .keyring
        .clone()
        .unwrap_or_else(crate::provenance::default_keyring);
    crate::provenance::Keyring::load(&path)
}

/// The archive from the cache or the server (with its provenance file under `--verify`).
fn fetch(chart: &ChartRef, opts: &PullOptions, cache: &cache::Cache) -> Result<Pulled, Error> {
    let key = cache_key(chart, opts.version.as_deref());
    // A pinned version already pulled needs no server (offline use), nor does its provenance
    // once kept.
    let usable = |hit: &Pulled| !opts.verify || cache.provenance(&hit.digest).is_some();
    if is_exact(opts.version.as_deref()) {
        if let Some(hit) = cache.lookup(&key).filter(usable) {
            return Ok(hit);
        }
    }
    let fetched = match chart {
        ChartRef::Oci {
            host,
            repository,
            tag,
        } => oci::pull(host, repository, tag.as_deref(), opts, cache),
        ChartRef::Repo { repo, name } => repo::pull(repo, name, opts, cache),
    };
    match fetched {
        Ok(pulled) => {
            // Under the reference as asked and as resolved: a later pull of that exact
            // version finds it without a server.
            cache.remember(&key, &pulled)?;
            cache.remember(&cache_key(chart, Some(&pulled.version)), &pulled)?;
            Ok(pulled)
        }
        // Unreachable: what an earlier pull of the same reference chose, said so.
        Err(e) if e.kind == ErrorKind::Io => match cache.lookup(&key).filter(usable) {
            Some(hit) => Ok(hit),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Checks a pulled archive against the provenance file kept beside it.
fn verify_pulled(
    pulled: &Pulled,
    cache: &cache::Cache,
    keyring: &crate::provenance::Keyring,
) -> Result<crate::provenance::Verification, Error> {
    let shown = format!("{}.prov", pulled.file_name);
    let prov = cache.provenance(&pulled.digest).ok_or_else(|| {
        Error::new(
            ErrorKind::Provenance,
            format!("{} has no provenance file to verify", pulled.file_name),
        )
        .hint(
            "its publisher did not sign it (helm package --sign); drop --verify to use it unsigned",
        )
    })?;
    let bytes = std::fs::read(&pulled.path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {}: {e}", pulled.path.display()),
        )
    })?;
    crate::provenance::verify(&bytes, &pulled.file_name, &prov, &shown, keyring)
}

fn cache_key(chart: &ChartRef, version: Option<&str>) -> String {
    let version = version.unwrap_or("");
    match chart {
        ChartRef::Oci {
            host,
            repository,
            tag,
        } => format!(
            "oci://{host}/{repository}:{}@{version}",
            tag.as_deref().unwrap_or("")
        ),
        ChartRef::Repo { repo, name } => format!("{}#{name}@{version}", repo.url),
    }
}

/// Whether `version` names one version (not a range): only then may the cache answer alone.
fn is_exact(version: Option<&str>) -> bool {
    version.is_some_and(|v| berth_template::semver::Version::parse(v).is_some())
}

/// The highest of `versions` that `constraint` admits (none: the highest stable one, as Helm).
fn choose<'a>(
    versions: impl IntoIterator<Item = &'a str>,
    constraint: Option<&str>,
) -> Option<&'a str> {
    use berth_template::semver::{Constraints, Version};
    let wanted = Constraints::parse(constraint.unwrap_or(">0.0.0")).ok()?;
    versions
        .into_iter()
        .filter_map(|v| Some((Version::parse(v)?, v)))
        .filter(|(parsed, v)| Some(*v) == constraint || wanted.check(parsed))
        .max_by(|a, b| a.0.compare(&b.0))
        .map(|(_, v)| v)
}

/// An error of a pull: what, of which chart, and what to do.
fn fetch_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Fetch, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_from_paths() {
        let opts = PullOptions::default();
        assert_eq!(
            ChartRef::parse("oci://reg.example:5000/charts/web:1.2.3", &opts).unwrap(),
            Some(ChartRef::Oci {
                host: "reg.example:5000".into(),
                repository: "charts/web".into(),
                tag: Some("1.2.3".into())
            })
        );
        assert_eq!(ChartRef::parse("examples/guestbook", &opts).unwrap(), None);
        assert_eq!(ChartRef::parse("./nothing-here", &opts).unwrap(), None);
        let with_repo = PullOptions {
            repo: Some("https://charts.example/x".into()),
            ..Default::default()
        };
        let Some(ChartRef::Repo { repo, name }) = ChartRef::parse("web", &with_repo).unwrap()
        else {
            panic!("a repository chart");
        };
        assert_eq!(
            (repo.url.as_str(), name.as_str()),
            ("https://charts.example/x", "web")
        );
        assert!(ChartRef::parse("oci://", &opts).is_err());
    }

    #[test]
    fn versions_are_chosen_as_helm_chooses() {
        let all = ["0.1.0", "0.2.0", "1.0.0-rc.1", "0.10.1", "bad"];
        assert_eq!(choose(all, None), Some("0.10.1"), "highest stable");
        assert_eq!(choose(all, Some("^0.1")), Some("0.1.0"));
        assert_eq!(choose(all, Some("~0.2")), Some("0.2.0"));
        assert_eq!(choose(all, Some(">=1.0.0-0")), Some("1.0.0-rc.1"));
        assert_eq!(choose(all, Some("1.0.0-rc.1")), Some("1.0.0-rc.1"), "exact");
        assert_eq!(choose(all, Some(">5")), None);
    }
}
