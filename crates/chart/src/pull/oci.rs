//! OCI registries (the distribution API, v2), as Helm stores charts in them: a manifest whose
//! layer of type `application/vnd.cncf.helm.chart.content.v1.tar+gzip` is the archive, tagged
//! with the chart's version (`+` written `_`). Anonymous, Basic and Bearer-token access, with
//! credentials from the flags, Helm's `registry/config.json` or Docker's `config.json`.

use super::cache::Cache;
use super::http::{status_error, Answer, Client};
use super::repo::helm_path;
use super::{choose, fetch_error, ChartRef, PullOptions, Pulled};
use crate::Error;
use base64::Engine;
use serde_json::Value as Json;
use std::path::PathBuf;

const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const PROVENANCE_LAYER: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `HOST/PATH/NAME[:TAG]` (after `oci://`).
pub(super) fn parse(rest: &str) -> Result<ChartRef, Error> {
    let bad = || {
        fetch_error(format!("oci://{rest} is not a chart reference"))
            .hint("write oci://HOST/PATH/NAME (with --version), as for helm pull")
    };
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
        _ => (path, None),
    };
    if host.is_empty() || repository.is_empty() || repository.ends_with('/') {
        return Err(bad());
    }
    Ok(ChartRef::Oci {
        host: host.to_string(),
        repository: repository.to_string(),
        tag,
    })
}

/// Pulls `host/repository` at `tag` (or the version `opts` asks for).
pub(super) fn pull(
    host: &str,
    repository: &str,
    tag: Option<&str>,
    opts: &PullOptions,
    cache: &Cache,
) -> Result<Pulled, Error> {
    let mut session = Session::new(host, repository, opts)?;
    let version = match tag.or(opts.version.as_deref()) {
        Some(v) if berth_template::semver::Version::parse(v).is_some() => v.to_string(),
        wanted => session.choose_tag(wanted)?,
    };
    let manifest_url = session.url(&format!("manifests/{}", version.replace('+', "_")));
    let answer = session.get(&manifest_url, MANIFEST)?;
    let manifest: Json = serde_json::from_slice(&answer.body)
        .map_err(|e| fetch_error(format!("{manifest_url}: not an OCI manifest: {e}")))?;
    let digest = (manifest["layers"].as_array().into_iter().flatten())
        .find(|l| l["mediaType"] == CHART_LAYER)
        .and_then(|l| l["digest"].as_str())
        .ok_or_else(|| {
            fetch_error(format!(
                "oci://{host}/{repository}:{version} is not a Helm chart"
            ))
            .note(format!("its manifest has no layer of type {CHART_LAYER}"))
            .hint("push charts with `helm push`")
        })?
        .to_string();
    let what = format!("oci://{host}/{repository}:{version}");
    if opts.verify && cache.provenance(&digest).is_none() {
        let layer = (manifest["layers"].as_array().into_iter().flatten())
            .find(|l| l["mediaType"] == PROVENANCE_LAYER)
            .and_then(|l| l["digest"].as_str());
        if let Some(layer) = layer {
            let answer = session.get(&session.url(&format!("blobs/{layer}")), "*/*")?;
            let text = String::from_utf8(answer.body)
                .map_err(|_| fetch_error(format!("{what}: its provenance layer is not text")))?;
            cache.store_provenance(&digest, &text)?;
        }
    }
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let file_name = format!("{name}-{version}.tgz");
    if let Some(path) = cache.archive_if_present(&digest) {
        return Ok(Pulled {
            path,
            version,
            digest,
            cached: true,
            file_name,
            verified: None,
        });
    }
    let blob_url = session.url(&format!("blobs/{digest}"));
    let answer = session.get(&blob_url, "*/*")?;
    let (path, digest) = cache.store(&answer.body, Some(&digest), &what)?;
    Ok(Pulled {
        path,
        version,
        digest,
        cached: false,
        file_name,
        verified: None,
    })
}

/// Requests to one repository of a registry, with the access it asked for.
struct Session {
    client: Client,
    base: String,
    host: String,
    repository: String,
    credentials: Option<(String, String)>,
    authorization: Option<String>,
}

impl Session {
    fn new(host: &str, repository: &str, opts: &PullOptions) -> Result<Session, Error> {
        let scheme = if opts.plain_http { "http" } else { "https" };
        let credentials = match (&opts.username, &opts.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            _ => stored_credentials(host),
        };
        Ok(Session {
            client: Client::new(&opts.tls)?,
            base: format!("{scheme}://{host}/v2/{repository}"),
            host: host.to_string(),
            repository: repository.to_string(),
            credentials,
            authorization: None,
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.base)
    }

    /// The highest tag that is a version `wanted` admits.
    fn choose_tag(&mut self, wanted: Option<&str>) -> Result<String, Error> {
        let url = self.url("tags/list");
        let answer = self.get(&url, "application/json")?;
        let tags: Json = serde_json::from_slice(&answer.body)
            .map_err(|e| fetch_error(format!("{url}: not a tag list: {e}")))?;
        let mut versions: Vec<String> = (tags["tags"].as_array().into_iter().flatten())
            .filter_map(Json::as_str)
            .map(|t| t.replace('_', "+"))
            .collect();
        versions.sort_by_key(|v| berth_template::semver::Version::parse(v).map(SortKey));
        choose(versions.iter().map(String::as_str), wanted)
            .map(str::to_string)
            .ok_or_else(|| {
                fetch_error(format!(
                    "oci://{}/{} has no version that matches --version {}",
                    self.host,
                    self.repository,
                    wanted.unwrap_or("(latest stable)")
                ))
                .note(format!("tags: {}", versions.join(", ")))
                .hint("give one of them, or a constraint (^1.2) that admits one")
            })
    }

    /// GET with the access the registry asks for (one retry after a 401's challenge).
    fn get(&mut self, url: &str, accept: &str) -> Result<Answer, Error> {
        for attempt in 0..2 {
            let mut headers = vec![("Accept", accept.to_string())];
            if let Some(a) = &self.authorization {
                headers.push(("Authorization", a.clone()));
            }
            let answer = self.client.get(url, &headers)?;
            if answer.status == 401 && attempt == 0 {
                self.authorization = Some(self.answer_challenge(url, &answer)?);
                continue;
            }
            if !(200..300).contains(&answer.status) {
                let what = format!("oci://{}/{}", self.host, self.repository);
                return Err(status_error(&what, url, &answer));
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The Authorization header a 401's `WWW-Authenticate` asks for.
    fn answer_challenge(&self, url: &str, answer: &Answer) -> Result<String, Error> {
        let challenge = answer.www_authenticate.clone().unwrap_or_default();
        let basic = self.credentials.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return basic.ok_or_else(|| {
                status_error(
                    &format!("oci://{}/{}", self.host, self.repository),
                    url,
                    answer,
                )
            });
        };
        let param = |name: &str| {
            params.split(',').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let realm = param("realm").unwrap_or_default();
        let mut token_url = format!("{realm}?service={}", param("service").unwrap_or_default());
        let scope =
            param("scope").unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        token_url.push_str(&format!("&scope={scope}"));
        let headers: Vec<(&str, String)> =
            basic.into_iter().map(|b| ("Authorization", b)).collect();
        let answer = self.client.get(&token_url, &headers)?;
        if answer.status != 200 {
            return Err(status_error("a registry token", &token_url, &answer));
        }
        let body: Json = serde_json::from_slice(&answer.body).unwrap_or_default();
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .ok_or_else(|| fetch_error(format!("{token_url} gave no token")))?;
        Ok(format!("Bearer {token}"))
    }
}

/// Versions in ascending order (tags that are not versions first).
struct SortKey(berth_template::semver::Version);

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for SortKey {}
impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.compare(&other.0)
    }
}

/// Credentials for `host` from Helm's registry config (`helm registry login`), else Docker's.
fn stored_credentials(host: &str) -> Option<(String, String)> {
    let helm = helm_path(
        "HELM_REGISTRY_CONFIG",
        "XDG_CONFIG_HOME",
        ".config",
        "helm/registry/config.json",
    );
    let docker = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker")
        })
        .join("config.json");
    [helm, docker].iter().find_map(|path| {
        let config: Json = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let auths = config["auths"].as_object()?;
        let entry = [
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
        .iter()
        .find_map(|k| auths.get(k))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry["auth"].as_str()?)
            .ok()?;
        let (u, p) = String::from_utf8(decoded)
            .ok()?
            .split_once(':')
            .map(|(u, p)| (u.to_string(), p.to_string()))?;
        Some((u, p))
    })
}
