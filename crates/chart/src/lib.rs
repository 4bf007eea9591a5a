//! Helm charts: load a chart folder or archive, compute its values as Helm does, and render it
//! exactly as `helm template` would, with berth's errors.
//!
//! ```text
//! Chart::load -> deps::check_present -> user values (-f, --set-json, --set, --set-string,
//! --set-file) -> deps::process_enabled (aliases, tags, conditions) -> deps::process_imports
//! -> values::coalesce -> schema::validate -> render::render (templates) -> output::split (sort)
//! ```

mod deps;
mod gobwas;
mod gomatch;
mod load;
mod metadata;
mod objects;
mod output;
pub mod provenance;
pub mod pull;
mod render;
mod schema;
pub mod strvals;
mod values;

pub use load::{read_values, Chart, File};
pub use metadata::{Dependency, Metadata};
pub use objects::DEFAULT_KUBE_VERSION;
pub use output::{Manifest, Output};
pub use values::go_numbers;

use berth_manifest::{Error, ErrorKind};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// A chart's own flags, as `helm template` takes them beside the release, the namespace and the
/// values files (what a render request carries for a chart).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ChartOptions {
    /// `--set-string`, `--set-json`, `--set-file`, each in order (after `--set`).
    pub set_string: Vec<String>,
    pub set_json: Vec<String>,
    pub set_file: Vec<String>,
    /// `--kube-version` (default [`DEFAULT_KUBE_VERSION`]; wins over a cluster's).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the built-in set.
    pub api_versions: Vec<String>,
    pub include_crds: bool,
    /// `--skip-schema-validation`: do not check values against `values.schema.json` files.
    pub skip_schema_validation: bool,
    /// `--show-only`: template paths (`templates/x.yaml`) whose output is wanted.
    pub show_only: Vec<String>,
    /// `--version`: the chart's version or a constraint (`^1.2`) it must satisfy.
    pub version: Option<String>,
}

/// What `helm template` takes besides the chart.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub release: String,
    pub namespace: String,
    /// `-f`, in order.
    pub value_files: Vec<PathBuf>,
    /// `--set`, in order.
    pub set: Vec<String>,
    /// The chart's other flags.
    pub chart: ChartOptions,
    /// `.Release.IsUpgrade` (and not `IsInstall`); `.Release.Revision`.
    pub is_upgrade: bool,
    pub revision: i64,
    /// A cluster's API versions from discovery, as `helm install` sees them: they replace the
    /// built-in list (`api_versions` still adds to them).
    pub cluster_api_versions: Option<Vec<String>>,
    /// Where `lookup` reads live objects; none renders offline (empty maps, as `helm template`).
    pub lookup: Option<LookupSource>,
    /// Read the CRDs of `crds/` folders even when `include_crds` is off, as for a cluster,
    /// which installs them. (Otherwise they are not read: `helm template` does not print them,
    /// and a big chart's CRDs are megabytes.)
    pub install_crds: bool,
}

/// A [`berth_template::Lookup`] for [`Options`].
#[derive(Clone)]
pub struct LookupSource(pub std::sync::Arc<dyn berth_template::Lookup>);

impl std::fmt::Debug for LookupSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupSource")
    }
}

/// Whether `path` is a chart (a folder with `Chart.yaml`, or a `.tgz` archive).
pub fn is_chart(path: &Path) -> bool {
    path.join("Chart.yaml").is_file()
        || (path.is_file() && path.extension().is_some_and(|e| e == "tgz" || e == "gz"))
}

/// A chart's `Chart.yaml`, without loading the rest of a chart folder (an archive is read
/// whole).
pub fn read_metadata(path: &Path) -> Result<Metadata, Error> {
    if !path.is_dir() {
        return Ok(Chart::load(path)?.metadata);
    }
    let file = path.join("Chart.yaml");
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot read {shown}: {e}"))
            .hint("a chart folder has a Chart.yaml")
    })?;
    Metadata::parse(&text, &shown)
}

/// Refuses a chart that is not the version `--version` asks for (Helm's flag picks a version
/// from a repository; a chart at hand must be it, rather than the flag being ignored).
fn check_version(chart: &Chart, wanted: Option<&str>) -> Result<(), Error> {
    let Some(wanted) = wanted else { return Ok(()) };
    let have = &chart.metadata.version;
    let ok = wanted == have
        || berth_template::semver::compare(wanted, have).map_err(|e| {
            Error::new(
                ErrorKind::Chart,
                format!("--version {wanted:?} is not a version or constraint: {e}"),
            )
            .hint("give a version (1.2.3) or a constraint (^1.2, >=1.0 <2.0)")
        })?;
    if ok {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Chart,
        format!(
            "chart {} is version {have}, which is not --version {wanted}",
            chart.name()
        ),
    )
    .hint("give the chart of that version, or leave --version out"))
}

/// Loads and renders a chart as `helm template` does.
pub fn template(path: &Path, opts: &Options) -> Result<Output, Error> {
    let chart = Chart::load(path)?;
    render_chart(chart, opts)
}

/// Renders a loaded chart.
pub fn render_chart(mut chart: Chart, opts: &Options) -> Result<Output, Error> {
    check_version(&chart, opts.chart.version.as_deref())?;
    deps::check_present(&chart)?;
    let user = user_values(opts)?;
    deps::process_enabled(&mut chart, &user, "")?;
    deps::process_imports(&mut chart)?;
    let kube = kube_version(opts)?;
    check_kube_version(&chart, &kube)?;
    let mut top = user;
    values::coalesce(&chart, &mut top, false)?;
    // The schema check runs beside the rendering; its verdict comes first, as in Helm. It sees
    // the values as one JSON value, which `top` becomes for the while (not a copy).
    let top = Json::Object(top);
    let files = std::thread::scope(|s| {
        let checked = (!opts.chart.skip_schema_validation)
            .then(|| s.spawn(|| schema::validate(&chart, &top)));
        let files = render::render(&chart, &top, opts, kube);
        if let Some(checked) = checked {
            checked.join().expect("schema thread")?;
        }
        files
    })?;
    let Json::Object(top) = top else {
        unreachable!("made an object above")
    };
    output::collect(&chart, files, opts, top)
}

fn kube_version(opts: &Options) -> Result<objects::KubeVersion, Error> {
    let given = opts
        .chart
        .kube_version
        .as_deref()
        .unwrap_or(DEFAULT_KUBE_VERSION);
    objects::KubeVersion::parse(given).ok_or_else(|| {
        Error::new(
            ErrorKind::SetArgument,
            format!("invalid kube version {given:?}: not a version"),
        )
        .hint("give --kube-version as MAJOR.MINOR.PATCH, for example 1.28.7")
    })
}

fn check_kube_version(chart: &Chart, kube: &objects::KubeVersion) -> Result<(), Error> {
    let want = &chart.metadata.kube_version;
    if want.is_empty() {
        return Ok(());
    }
    let ok = berth_template::semver::compare(want, &kube.version).unwrap_or(false);
    if ok {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Chart,
        format!(
            "chart requires kubeVersion: {want} which is incompatible with Kubernetes {}",
            kube.version
        ),
    )
    .at(&format!("{}/Chart.yaml", chart.source), 0, 0)
    .hint("pass the cluster's version with --kube-version, or use a chart version made for it"))
}

/// The user's values: `-f` files in order, then `--set-json`, `--set`, `--set-string` and
/// `--set-file`, as Helm merges them.
fn user_values(opts: &Options) -> Result<Map<String, Json>, Error> {
    let mut base = Map::new();
    for f in &opts.value_files {
        let shown = f.display().to_string();
        let text = std::fs::read_to_string(f).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read values file {shown}: {e}"),
            )
            .hint("check the path given with -f")
        })?;
        values::merge_maps(&mut base, read_values(&text, &shown)?);
    }
    for s in &opts.chart.set_json {
        let t = s.trim();
        if t.starts_with('{') {
            let v: Json =
                serde_json::from_str(t).map_err(|e| set_error("--set-json", s, &e.to_string()))?;
            if let Json::Object(m) = go_numbers(v) {
                values::merge_maps(&mut base, m);
            }
        } else {
            parse_set(s, &mut base, strvals::Kind::Json, "--set-json")?;
        }
    }
    for s in &opts.set {
        parse_set(s, &mut base, strvals::Kind::Typed, "--set")?;
    }
    for s in &opts.chart.set_string {
        parse_set(s, &mut base, strvals::Kind::String, "--set-string")?;
    }
    for s in &opts.chart.set_file {
        parse_set(s, &mut base, strvals::Kind::File, "--set-file")?;
    }
    Ok(base)
}

fn parse_set(
    s: &str,
    base: &mut Map<String, Json>,
    kind: strvals::Kind,
    flag: &str,
) -> Result<(), Error> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map_err(|e| berth_template::GoError(format!("cannot read {p}: {e}")))
    };
    strvals::parse_into(s, base, kind, &read).map_err(|e| set_error(flag, s, &e.0))
}

fn set_error(flag: &str, arg: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::SetArgument,
        format!("failed parsing {flag} data: {why}"),
    )
    .at(&format!("{flag} {arg}"), 0, 0)
    .hint(
        "write KEY=VALUE; nest with dots (a.b=c), index lists with a[0]=c, escape , and . with \\",
    )
}
