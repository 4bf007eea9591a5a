//! `berth dependency list|update|build CHART`, as Helm's: the dependencies `Chart.yaml` names
//! from repositories and registries are resolved to versions, pulled into `charts/` as
//! archives, and locked in `Chart.lock` with Helm's digest of the two lists (so `helm
//! dependency build` accepts berth's lock and berth accepts Helm's).

use super::repo::RepoConfig;
use super::{fetch_error, pull, ChartRef, PullOptions};
use crate::{Dependency, Error, ErrorKind, Metadata};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One dependency as `dependency list` shows it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub name: String,
    pub version: String,
    pub repository: String,
    /// `ok`, `missing`, `wrong version`, `unpacked` (a folder in `charts/`).
    pub status: String,
}

/// The dependencies of the chart folder `dir` and whether `charts/` holds them.
pub fn list(dir: &Path) -> Result<Vec<Listed>, Error> {
    let meta = crate::read_metadata(dir)?;
    Ok(meta
        .dependencies
        .iter()
        .map(|d| Listed {
            name: d.name.clone(),
            version: d.version.clone(),
            repository: d.repository.clone(),
            status: status(dir, d),
        })
        .collect())
}

fn status(dir: &Path, d: &Dependency) -> String {
    let charts = dir.join("charts");
    if charts.join(&d.name).join("Chart.yaml").is_file() {
        return "unpacked".into();
    }
    let archives = std::fs::read_dir(&charts).into_iter().flatten().flatten();
    for entry in archives {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if !(file.starts_with(&format!("{}-", d.name)) && file.ends_with(".tgz")) {
            continue;
        }
        let Ok(meta) = crate::read_metadata(&path) else {
            continue;
        };
        if meta.name != d.name {
            continue;
        }
        let fits = meta.version == d.version
            || berth_template::semver::compare(&d.version, &meta.version).unwrap_or(false);
        return if fits { "ok" } else { "wrong version" }.into();
    }
    "missing".into()
}

/// What `update` and `build` did.
#[derive(Clone, Debug)]
pub struct Locked {
    pub dependencies: Vec<(String, String, String)>,
    pub digest: String,
    /// The archives written into `charts/`.
    pub written: Vec<PathBuf>,
}

/// Resolves every dependency anew, pulls them into `charts/` and writes `Chart.lock`.
pub fn update(dir: &Path, opts: &PullOptions) -> Result<Locked, Error> {
    let meta = crate::read_metadata(dir)?;
    let mut locked = Vec::new();
    for d in &meta.dependencies {
        locked.push((d.name.clone(), resolve(dir, d, opts)?, d.repository.clone()));
    }
    let written = fetch_all(dir, &locked, opts)?;
    let digest = hash_req(&meta.dependencies, &locked);
    write_lock(dir, &locked, &digest)?;
    Ok(Locked {
        dependencies: locked,
        digest,
        written,
    })
}

/// Pulls the versions `Chart.lock` names into `charts/` (as `update` without a lock), after
/// checking that the lock is the one of these dependencies.
pub fn build(dir: &Path, opts: &PullOptions) -> Result<Locked, Error> {
    let lock_path = dir.join("Chart.lock");
    let Ok(text) = std::fs::read_to_string(&lock_path) else {
        return update(dir, opts);
    };
    let meta = crate::read_metadata(dir)?;
    let lock: Json = serde_saphyr::from_str(&text).map_err(|e| {
        Error::new(
            ErrorKind::Chart,
            format!("{} is not valid YAML: {e}", lock_path.display()),
        )
    })?;
    let locked: Vec<(String, String, String)> =
        (lock["dependencies"].as_array().into_iter().flatten())
            .map(|d| {
                let text = |k: &str| d[k].as_str().unwrap_or("").to_string();
                (text("name"), text("version"), text("repository"))
            })
            .collect();
    let digest = hash_req(&meta.dependencies, &locked);
    if lock["digest"].as_str() != Some(digest.as_str()) {
        return Err(fetch_error(format!(
            "{} is out of sync with the dependencies of {}",
            lock_path.display(),
            dir.join("Chart.yaml").display()
        ))
        .note(format!(
            "the lock's digest is {}, the dependencies' {digest}",
            lock["digest"].as_str().unwrap_or("none")
        ))
        .hint("run `berth dependency update` (or `helm dependency update`) to resolve them anew"));
    }
    let written = fetch_all(dir, &locked, opts)?;
    Ok(Locked {
        dependencies: locked,
        digest,
        written,
    })
}

/// The version of `d` to lock: an exact version as it is; a constraint resolved against the
/// repository or registry; a local chart (`file://`) by its own version.
fn resolve(dir: &Path, d: &Dependency, opts: &PullOptions) -> Result<String, Error> {
    let exact = berth_template::semver::Version::parse(&d.version).is_some();
    if d.repository.is_empty() {
        return Ok(d.version.clone());
    }
    if let Some(path) = d.repository.strip_prefix("file://") {
        let meta: Metadata = crate::read_metadata(&dir.join(path))?;
        return Ok(meta.version);
    }
    if exact {
        return Ok(d.version.clone());
    }
    let reference = reference(d, opts)?;
    let pulled = pull(
        &reference,
        &PullOptions {
            version: Some(d.version.clone()),
            ..opts.clone()
        },
    )?;
    Ok(pulled.version)
}

/// Where `d` comes from, as a chart reference.
fn reference(d: &Dependency, opts: &PullOptions) -> Result<ChartRef, Error> {
    let repo = &d.repository;
    if repo.starts_with("oci://") {
        return super::oci::parse(&format!(
            "{}/{}",
            repo.trim_start_matches("oci://").trim_end_matches('/'),
            d.name
        ));
    }
    let named = repo
        .strip_prefix('@')
        .or_else(|| repo.strip_prefix("alias:"));
    let config = match named {
        Some(name) => RepoConfig::named(name, opts)?.ok_or_else(|| {
            fetch_error(format!("dependency {} names repository {repo}, which Helm's repositories.yaml does not list", d.name))
                .hint(format!("add it: helm repo add {} URL", name))
        })?,
        None => RepoConfig::from_url(repo, opts),
    };
    Ok(ChartRef::Repo {
        repo: config,
        name: d.name.clone(),
    })
}

/// Pulls each locked (name, version, repository) into `charts/NAME-VERSION.tgz`; removes the
/// other archives of the same charts there.
fn fetch_all(
    dir: &Path,
    locked: &[(String, String, String)],
    opts: &PullOptions,
) -> Result<Vec<PathBuf>, Error> {
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| io(&charts, e))?;
    let targets: Vec<PathBuf> = (locked.iter())
        .map(|(name, version, _)| charts.join(format!("{name}-{version}.tgz")))
        .collect();
    // Every archive is pulled (and verified, with --verify) before charts/ changes.
    let mut sources = Vec::new();
    for ((name, version, repository), target) in locked.iter().zip(&targets) {
        if repository.is_empty() || repository.starts_with("file://") {
            continue;
        }
        let d = Dependency {
            name: name.clone(),
            version: version.clone(),
            repository: repository.clone(),
            ..Default::default()
        };
        let opts = PullOptions {
            version: Some(version.clone()),
            ..opts.clone()
        };
        sources.push((target, pull(&reference(&d, &opts)?, &opts)?.path));
    }
    let mut written = Vec::new();
    for ((name, _, repository), target) in locked.iter().zip(&targets) {
        let source = match repository.strip_prefix("file://") {
            Some(path) => package_local(&dir.join(path), target)?,
            None if repository.is_empty() => continue,
            None => (sources.iter())
                .find(|(t, _)| *t == target)
                .map(|(_, s)| s.clone())
                .expect("pulled above"),
        };
        remove_other_versions(&charts, name, &targets);
        if source != *target {
            std::fs::copy(&source, target).map_err(|e| io(target, e))?;
        }
        written.push(target.clone());
    }
    Ok(written)
}

/// A local chart folder packed as `helm package` would (for `file://` dependencies).
fn package_local(src: &Path, target: &Path) -> Result<PathBuf, Error> {
    let meta = crate::read_metadata(src)?;
    let file = std::fs::File::create(target).map_err(|e| io(target, e))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(&meta.name, src)
        .map_err(|e| io(src, e))?;
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| io(target, e))?;
    Ok(target.to_path_buf())
}

/// Removes archives of chart `name` in `charts/` other than those to `keep` (Helm's "deleting
/// outdated charts").
fn remove_other_versions(charts: &Path, name: &str, keep: &[PathBuf]) {
    for entry in std::fs::read_dir(charts).into_iter().flatten().flatten() {
        let path = entry.path();
        let is_other = !keep.contains(&path)
            && path.extension().is_some_and(|e| e == "tgz")
            && crate::read_metadata(&path).is_ok_and(|m| m.name == name);
        if is_other {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("cannot write {}: {e}", path.display()),
    )
}

/// `Chart.lock` as Helm writes it (sigs.k8s.io/yaml: keys sorted).
fn write_lock(dir: &Path, locked: &[(String, String, String)], digest: &str) -> Result<(), Error> {
    let mut text = String::from("dependencies:\n");
    for (name, version, repository) in locked {
        text.push_str(&format!(
            "- name: {}\n  repository: {}\n  version: {}\n",
            yaml(name),
            yaml(repository),
            yaml(version)
        ));
    }
    let now = jiff_now();
    text.push_str(&format!("digest: {digest}\ngenerated: \"{now}\"\n"));
    let path = dir.join("Chart.lock");
    std::fs::write(&path, text).map_err(|e| io(&path, e))
}

fn yaml(s: &str) -> String {
    if s.is_empty() {
        "\"\"".into()
    } else {
        s.to_string()
    }
}

fn jiff_now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Helm's `HashReq`: sha256 of Go's JSON of `[requirements, lock]`.
fn hash_req(req: &[Dependency], locked: &[(String, String, String)]) -> String {
    let req: Vec<Json> = req.iter().map(dependency_json).collect();
    let lock: Vec<Json> = locked
        .iter()
        .map(|(name, version, repository)| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(name));
            if !version.is_empty() {
                o.insert("version".into(), json!(version));
            }
            o.insert("repository".into(), json!(repository));
            Json::Object(o)
        })
        .collect();
    let text = go_json(&json!([req, lock]));
    let hex: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A `chart.Dependency` as Go marshals it: fields in declaration order, empty ones left out.
fn dependency_json(d: &Dependency) -> Json {
    let mut o = serde_json::Map::new();
    o.insert("name".into(), json!(d.name));
    if !d.version.is_empty() {
        o.insert("version".into(), json!(d.version));
    }
    o.insert("repository".into(), json!(d.repository));
    if !d.condition.is_empty() {
        o.insert("condition".into(), json!(d.condition));
    }
    if !d.tags.is_empty() {
        o.insert("tags".into(), json!(d.tags));
    }
    if d.enabled {
        o.insert("enabled".into(), json!(true));
    }
    if !d.import_values.is_empty() {
        let values: Vec<Json> = d.import_values.iter().map(sort_keys).collect();
        o.insert("import-values".into(), Json::Array(values));
    }
    if !d.alias.is_empty() {
        o.insert("alias".into(), json!(d.alias));
    }
    Json::Object(o)
}

/// A Go map's JSON: keys sorted, all the way down.
fn sort_keys(v: &Json) -> Json {
    match v {
        Json::Array(a) => Json::Array(a.iter().map(sort_keys).collect()),
        Json::Object(o) => {
            let mut entries: Vec<(&String, &Json)> = o.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// JSON as Go's `json.Marshal` writes it (objects in the order they were built; Go maps are
/// sorted by [`sort_keys`]), with `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(v: &Json) -> String {
    let text = serde_json::to_string(v).expect("JSON values serialize");
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
