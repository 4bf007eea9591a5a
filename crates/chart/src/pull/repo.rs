//! Chart repositories: an `index.yaml` served over HTTP(S) listing every version of every
//! chart with its archive's URL and digest (what `helm repo index` writes).

use super::cache::Cache;
use super::http::{status_error, Client};
use super::{choose, fetch_error, PullOptions, Pulled, Tls};
use crate::{Error, ErrorKind};
use base64::Engine;
use serde_json::Value as Json;
use std::path::PathBuf;

/// A repository: from `--repo URL` or an entry of Helm's `repositories.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoConfig {
    /// Its name in `repositories.yaml`, if it came from there.
    pub name: Option<String>,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Tls,
    /// Send the credentials to other hosts too (`--pass-credentials`, `pass_credentials_all`).
    pub pass_credentials: bool,
}

impl RepoConfig {
    pub fn from_url(url: &str, opts: &PullOptions) -> RepoConfig {
        RepoConfig {
            name: None,
            url: url.trim_end_matches('/').to_string(),
            username: opts.username.clone(),
            password: opts.password.clone(),
            tls: opts.tls.clone(),
            pass_credentials: opts.pass_credentials,
        }
    }

    /// The repository `name` of Helm's `repositories.yaml` (`$HELM_REPOSITORY_CONFIG`, else
    /// `~/.config/helm/repositories.yaml`), if there is one of that name.
    pub fn named(name: &str, opts: &PullOptions) -> Result<Option<RepoConfig>, Error> {
        let path = helm_path(
            "HELM_REPOSITORY_CONFIG",
            "XDG_CONFIG_HOME",
            ".config",
            "helm/repositories.yaml",
        );
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let file: Json = serde_saphyr::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::Chart,
                format!("{} is not valid YAML: {e}", path.display()),
            )
        })?;
        let entry = (file["repositories"].as_array().into_iter().flatten())
            .find(|r| r["name"].as_str() == Some(name));
        Ok(entry.map(|r| {
            let text = |k: &str| r[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
            RepoConfig {
                name: Some(name.to_string()),
                url: text("url")
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string(),
                username: opts.username.clone().or_else(|| text("username")),
                password: opts.password.clone().or_else(|| text("password")),
                tls: Tls {
                    insecure_skip_tls_verify: opts.tls.insecure_skip_tls_verify
                        || r["insecure_skip_tls_verify"].as_bool() == Some(true),
                    ca_file: (opts.tls.ca_file.clone())
                        .or_else(|| text("caFile").map(PathBuf::from)),
                    cert_file: (opts.tls.cert_file.clone())
                        .or_else(|| text("certFile").map(PathBuf::from)),
                    key_file: (opts.tls.key_file.clone())
                        .or_else(|| text("keyFile").map(PathBuf::from)),
                },
                pass_credentials: opts.pass_credentials
                    || r["pass_credentials_all"].as_bool() == Some(true),
            }
        }))
    }

    fn client(&self) -> Result<Client, Error> {
        Client::new(&self.tls)
    }

    /// The credentials for `url`: only where it is the repository's own scheme, host and port
    /// (an archive listed on another host gets none), unless passing them is asked for.
    fn auth_for(&self, url: &str) -> Vec<(&'static str, String)> {
        if self.pass_credentials || origin(url) == origin(&self.url) {
            self.auth()
        } else {
            Vec::new()
        }
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        match (&self.username, &self.password) {
            (Some(u), p) => {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{u}:{}", p.as_deref().unwrap_or("")));
                vec![("Authorization", format!("Basic {token}"))]
            }
            _ => Vec::new(),
        }
    }

    fn shown(&self) -> String {
        match &self.name {
            Some(n) => format!("repository {n} ({})", self.url),
            None => format!("repository {}", self.url),
        }
    }
}

/// `$VAR`, else `$XDG/rest`, else `~/home_dir/rest` (where Helm keeps its files).
pub(super) fn helm_path(var: &str, xdg: &str, home_dir: &str, rest: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os(xdg).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(home_dir)
    });
    base.join(rest)
}

/// Pulls chart `name` of `repo`.
pub(super) fn pull(
    repo: &RepoConfig,
    name: &str,
    opts: &PullOptions,
    cache: &Cache,
) -> Result<Pulled, Error> {
    let client = repo.client()?;
    let index = index(repo, &client, opts.refresh)?;
    let versions = index["entries"][name].as_array().ok_or_else(|| {
        fetch_error(format!("chart {name:?} is not in {}", repo.shown()))
            .hint("check the name (`helm search repo` lists them), or `helm repo update` for a repository's newest index")
    })?;
    let listed = versions.iter().filter_map(|v| v["version"].as_str());
    let Some(version) = choose(listed, opts.version.as_deref()) else {
        let all: Vec<&str> = versions
            .iter()
            .filter_map(|v| v["version"].as_str())
            .take(20)
            .collect();
        return Err(fetch_error(format!(
            "{} has no version of chart {name} that matches --version {}",
            repo.shown(),
            opts.version.as_deref().unwrap_or("(latest stable)")
        ))
        .note(format!("versions: {}", all.join(", ")))
        .hint("give one of them, or a constraint (^1.2) that admits one"));
    };
    let entry = versions
        .iter()
        .find(|v| v["version"].as_str() == Some(version))
        .expect("chosen from these");
    let url = (entry["urls"].as_array().into_iter().flatten())
        .find_map(Json::as_str)
        .ok_or_else(|| {
            fetch_error(format!(
                "{} lists chart {name} {version} without a URL",
                repo.shown()
            ))
        })?;
    let url = absolute(&repo.url, url);
    let what = format!("chart {name} {version} of {}", repo.shown());
    let listed = entry["digest"].as_str().map(prefixed);
    let hit = listed.and_then(|d| Some((cache.archive_if_present(&d)?, d)));
    let cached = hit.is_some();
    let (path, digest) = match hit {
        Some(hit) => hit,
        None => {
            let answer = client.get(&url, &repo.auth_for(&url))?;
            if answer.status != 200 {
                return Err(status_error(&what, &url, &answer));
            }
            cache.store(&answer.body, entry["digest"].as_str(), &what)?
        }
    };
    if opts.verify && cache.provenance(&digest).is_none() {
        // Beside the archive, as `helm package --sign` and `helm repo index` leave it.
        let prov_url = format!("{url}.prov");
        let answer = client.get(&prov_url, &repo.auth_for(&prov_url))?;
        match answer.status {
            200 => cache.store_provenance(&digest, &String::from_utf8_lossy(&answer.body))?,
            404 => {}
            _ => {
                return Err(status_error(
                    &format!("the provenance of {what}"),
                    &prov_url,
                    &answer,
                ))
            }
        }
    }
    let file_name = url.rsplit('/').next().unwrap_or(&url).to_string();
    Ok(Pulled {
        path,
        version: version.to_string(),
        digest,
        cached,
        file_name,
        verified: None,
    })
}

/// `scheme://host[:port]` of a URL, lower-cased: where credentials may go.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(format!("{scheme}://{host}").to_lowercase())
}

fn prefixed(digest: &str) -> String {
    if digest.contains(':') {
        digest.to_string()
    } else {
        format!("sha256:{digest}")
    }
}

/// A URL of the index, relative to the repository's.
fn absolute(base: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("{base}/{}", url.trim_start_matches('/'))
    }
}

/// The repository's index: Helm's cached copy for a named repository (`helm repo update`
/// writes it) unless asked to `refresh`, else fetched.
fn index(repo: &RepoConfig, client: &Client, refresh: bool) -> Result<Json, Error> {
    let cached = repo.name.as_ref().filter(|_| !refresh).map(|n| {
        helm_path(
            "HELM_REPOSITORY_CACHE",
            "XDG_CACHE_HOME",
            ".cache",
            "helm/repository",
        )
        .join(format!("{n}-index.yaml"))
    });
    let (text, source) = match cached.filter(|p| p.is_file()) {
        Some(p) => (
            std::fs::read(&p).map_err(|e| {
                Error::new(ErrorKind::Io, format!("cannot read {}: {e}", p.display()))
            })?,
            p.display().to_string(),
        ),
        None => {
            let url = format!("{}/index.yaml", repo.url);
            let answer = client.get(&url, &repo.auth())?;
            if answer.status != 200 {
                return Err(status_error(
                    &format!("the index of {}", repo.shown()),
                    &url,
                    &answer,
                ));
            }
            (answer.body, url)
        }
    };
    let text = String::from_utf8_lossy(&text);
    serde_saphyr::from_str(&text).map_err(|e| {
        fetch_error(format!(
            "the index of {} is not valid YAML: {e}",
            repo.shown()
        ))
        .note(format!("read from {source}"))
        .hint("check that the URL is a chart repository (it serves index.yaml)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(pass: bool) -> RepoConfig {
        RepoConfig::from_url(
            "https://charts.example.com/stable/",
            &PullOptions {
                username: Some("u".into()),
                password: Some("p".into()),
                pass_credentials: pass,
                ..Default::default()
            },
        )
    }

    /// Helm's rule: a repository's credentials go to its own scheme, host and port only.
    #[test]
    fn credentials_stay_with_the_repository_unless_passed() {
        let same = "https://charts.example.com/stable/web-1.0.0.tgz";
        assert_eq!(repo(false).auth_for(same).len(), 1);
        for other in [
            "https://github.com/x/releases/web-1.0.0.tgz",
            "http://charts.example.com/stable/web-1.0.0.tgz",
            "https://charts.example.com:8443/web-1.0.0.tgz",
            "https://charts.example.com.evil.net/web-1.0.0.tgz",
        ] {
            assert!(repo(false).auth_for(other).is_empty(), "{other}");
            assert_eq!(repo(true).auth_for(other).len(), 1, "{other}");
        }
        assert_eq!(
            origin("https://User@Charts.Example.com/x"),
            origin("https://charts.example.com")
        );
    }
}
