//! Reading a chart from a folder or a `.tgz` archive, as Helm's loader does: `Chart.yaml`,
//! `values.yaml`, `values.schema.json`, `templates/`, `charts/` (folders and archives), and every
//! other file for `.Files`, minus what `.helmignore` excludes.

use crate::metadata::Metadata;
use crate::values::{go_numbers, parse_yaml};
use berth_manifest::{Budget, Error, ErrorKind, ReadError};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A file of a chart, named by its path inside the chart (`templates/web.yaml`). The bytes are
/// shared: copies of a chart (an aliased subchart, `.Files`) copy no content.
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub data: std::sync::Arc<[u8]>,
}

/// A loaded chart and its subcharts.
#[derive(Clone, Debug)]
pub struct Chart {
    pub metadata: Metadata,
    /// `values.yaml`, numbers as Go's `float64`.
    pub values: Map<String, Json>,
    /// `values.schema.json`, parsed.
    pub schema: Option<Json>,
    /// Files under `templates/`.
    pub templates: Vec<File>,
    /// Every other file (`.Files`), `crds/` included.
    pub files: Vec<File>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
    /// Where it was read from, for messages (`chart/charts/common`).
    pub source: String,
}

/// The most a chart archive may hold decompressed, in all: Helm's loader's limit (100 MiB).
pub const MAX_DECOMPRESSED: u64 = berth_manifest::MAX_FOLDER_BYTES;

/// A path inside the chart, cleaned as Go's `path.Clean`; `None` when it is absolute or leaves
/// the chart (`../x`, `a/../../x`).
fn inside_chart(rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Chart {
    /// Loads a chart folder or `.tgz` archive.
    pub fn load(path: &Path) -> Result<Chart, Error> {
        let source = path.display().to_string();
        if path.is_dir() {
            let ignore = Ignore::read(path, &source)?;
            let files = read_dir(path, &ignore).map_err(|(file, why)| {
                let hint = match why {
                    ReadError::OverBudget => "Helm refuses charts over the same limit: leave large files out of the chart (or list them in .helmignore)",
                    ReadError::Irregular => "Helm refuses such files too: remove it, or list it in .helmignore",
                    ReadError::Io(_) => "give a chart folder (with Chart.yaml) or a .tgz chart archive",
                };
                Error::new(ErrorKind::Io, format!("cannot read chart {source}: {file}: {why}"))
                    .hint(hint)
            })?;
            Chart::from_files(files, &source)
        } else {
            let bytes = Budget::default().read(path).map_err(|why| {
                Error::new(ErrorKind::Io, format!("cannot read chart {source}: {why}"))
                    .hint("give a chart folder (with Chart.yaml) or a .tgz chart archive")
            })?;
            Chart::from_archive(&bytes, &source)
        }
    }

    /// Loads a chart from a gzipped tar archive whose entries sit in one top folder; refused,
    /// as Helm refuses it, when its files add up to more than [`MAX_DECOMPRESSED`] or an entry
    /// lies outside the chart.
    pub fn from_archive(bytes: &[u8], source: &str) -> Result<Chart, Error> {
        let bad = |e: std::io::Error| {
            Error::new(
                ErrorKind::Chart,
                format!("{source} is not a readable chart archive: {e}"),
            )
            .hint("a chart archive is a .tgz made by `helm package`")
        };
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut files = Vec::new();
        let mut remaining = MAX_DECOMPRESSED;
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(bad)?
                .to_string_lossy()
                .replace('\\', "/");
            // Entries are `NAME/...`: the chart's own paths follow the first folder.
            let Some((_, rel)) = name.split_once('/') else {
                continue;
            };
            let rel = inside_chart(rel).ok_or_else(|| {
                Error::new(
                    ErrorKind::Chart,
                    format!("{source}: archive entry {name:?} lies outside the chart"),
                )
                .hint("Helm refuses such archives too: package the chart with `helm package`")
            })?;
            // Checked from the header, before anything is read: as Helm's loader.
            let size = entry.header().size().map_err(bad)?;
            if size > remaining {
                return Err(Error::new(
                    ErrorKind::Chart,
                    format!(
                        "{source}: the chart's files add up to more than {} MiB decompressed (at {name:?}, {size} bytes)",
                        MAX_DECOMPRESSED >> 20
                    ),
                )
                .hint("Helm refuses archives over the same limit: leave large files out of the chart"));
            }
            remaining -= size;
            let mut data = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(size)
                .read_to_end(&mut data)
                .map_err(bad)?;
            files.push(File {
                name: rel,
                data: data.into(),
            });
        }
        // Every file: Helm applies `.helmignore` when it packages a chart, not when it loads one.
        Chart::from_files(files, source)
    }

    /// Builds a chart from its files (paths relative to the chart), as Helm's `LoadFiles`.
    pub fn from_files(files: Vec<File>, source: &str) -> Result<Chart, Error> {
        let mut metadata = None;
        let mut values = Map::new();
        let mut schema = None;
        let mut templates = Vec::new();
        let mut other = Vec::new();
        let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
        for f in files {
            let shown = format!("{source}/{}", f.name);
            match f.name.as_str() {
                "Chart.yaml" => metadata = Some(Metadata::parse(&text(&f, &shown)?, &shown)?),
                "values.yaml" => values = read_values(&text(&f, &shown)?, &shown)?,
                "values.schema.json" => {
                    schema = Some(serde_json::from_slice(&f.data).map_err(|e| {
                        Error::new(
                            ErrorKind::Chart,
                            format!("values.schema.json is not JSON: {e}"),
                        )
                        .at(&shown, e.line(), e.column())
                    })?)
                }
                "Chart.lock" | "requirements.lock" => {}
                n if n.starts_with("templates/") => templates.push(f),
                n if n.starts_with("charts/") && !n.ends_with(".prov") => {
                    let rest = &n["charts/".len()..];
                    let (top, inner) = rest.split_once('/').unwrap_or((rest, ""));
                    subcharts.entry(top.to_string()).or_default().push(File {
                        name: inner.to_string(),
                        data: f.data.clone(),
                    });
                }
                _ => other.push(f),
            }
        }
        let Some(mut metadata) = metadata else {
            return Err(Error::new(
                ErrorKind::Chart,
                format!("{source} has no Chart.yaml, so it is not a chart"),
            )
            .hint("a chart folder holds Chart.yaml, values.yaml and templates/"));
        };
        if let Some(f) = other.iter().find(|f| f.name == "requirements.yaml") {
            if metadata.api_version == "v1" {
                let shown = format!("{source}/requirements.yaml");
                metadata.read_requirements(&text(f, &shown)?, &shown)?;
            }
        }
        let mut dependencies = Vec::new();
        for (top, files) in subcharts {
            if top.starts_with(['.', '_']) {
                continue;
            }
            let sub_source = format!("{source}/charts/{top}");
            if top.ends_with(".tgz") {
                let data = &files.iter().find(|f| f.name.is_empty()).map(|f| &f.data);
                let Some(data) = data else { continue };
                dependencies.push(Chart::from_archive(data, &sub_source)?);
            } else {
                dependencies.push(Chart::from_files(files, &sub_source)?);
            }
        }
        Ok(Chart {
            metadata,
            values,
            schema,
            templates,
            files: other,
            dependencies,
            source: source.to_string(),
        })
    }

    /// The chart's name (its alias once dependencies are processed).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether this is a library chart (named templates only, renders nothing itself).
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }
}

fn text(f: &File, shown: &str) -> Result<String, Error> {
    String::from_utf8(f.data.to_vec()).map_err(|_| {
        Error::new(ErrorKind::Chart, format!("{shown} is not UTF-8 text"))
            .hint("save the file as UTF-8")
    })
}

/// Reads a values file: a YAML map, numbers as `float64` (Helm decodes through JSON).
pub fn read_values(text: &str, shown: &str) -> Result<Map<String, Json>, Error> {
    match parse_yaml(text, shown)? {
        Json::Null => Ok(Map::new()),
        Json::Object(m) => match go_numbers(Json::Object(m)) {
            Json::Object(m) => Ok(m),
            _ => unreachable!("go_numbers keeps an object an object"),
        },
        _ => Err(Error::new(
            ErrorKind::Variables,
            format!("{shown} must be a map of values"),
        )
        .at(shown, 1, 1)
        .hint("write values as `key: value` lines")),
    }
}

/// Every file below `dir`, relative, in lexical walk order, minus what `ignore` excludes.
/// Files are read within one [`Budget`] (Helm's 100 MiB for a chart), regular files only.
fn read_dir(dir: &Path, ignore: &Ignore) -> Result<Vec<File>, (String, ReadError)> {
    let mut out = Vec::new();
    let mut budget = Budget::default();
    walk(dir, "", ignore, &mut budget, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    ignore: &Ignore,
    budget: &mut Budget,
    out: &mut Vec<File>,
) -> Result<(), (String, ReadError)> {
    let io = |e: std::io::Error| (dir.display().to_string(), ReadError::Io(e));
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // The entry's type comes with the listing; only a symlink needs a stat (it is followed).
        let kind = e.file_type().map_err(io)?;
        let is_dir = if kind.is_symlink() {
            std::fs::metadata(e.path()).map_err(io)?.is_dir()
        } else {
            kind.is_dir()
        };
        if ignore.excludes(&path, is_dir) {
            continue;
        }
        if is_dir {
            walk(&e.path(), &path, ignore, budget, out)?;
        } else {
            let data = budget.read(&e.path()).map_err(|why| (path.clone(), why))?;
            out.push(File {
                name: path,
                data: data.into(),
            });
        }
    }
    Ok(())
}

/// `.helmignore` rules: shell globs matched against the path (when the rule has a `/`) or the
/// base name, `!` to re-include, a trailing `/` for folders only. Hidden files in `templates/`
/// are always ignored, as Helm's defaults say.
struct Ignore {
    rules: Vec<Rule>,
}

struct Rule {
    /// A pattern for Go's `filepath.Match`, as Helm reads `.helmignore`.
    glob: String,
    negate: bool,
    dir_only: bool,
    whole_path: bool,
}

impl Ignore {
    /// The rules of the chart folder `dir` (shown as `source`): Helm's defaults and its
    /// `.helmignore`, if it has one.
    fn read(dir: &Path, source: &str) -> Result<Ignore, Error> {
        let text = std::fs::read_to_string(dir.join(".helmignore")).unwrap_or_default();
        Ignore::parse(&text).map_err(|(line, what, hint)| {
            Error::new(
                ErrorKind::Chart,
                format!("invalid .helmignore rule: {what}"),
            )
            .at(&format!("{source}/.helmignore"), line, 1)
            .snippet(text.lines().nth(line - 1))
            .hint(hint)
        })
    }

    /// Parses `.helmignore` text; a rule Helm refuses is an error: its line, what is wrong and
    /// a hint.
    fn parse(text: &str) -> Result<Ignore, (usize, &'static str, &'static str)> {
        let mut rules = Vec::new();
        let lines = std::iter::once((0, "templates/.?*")).chain((1..).zip(text.lines()));
        for (n, line) in lines {
            let mut p = line.trim();
            if p.is_empty() || p.starts_with('#') || p == "!" {
                continue;
            }
            if p.contains("**") {
                let hint = "Go's filepath.Match has no `**`: write one rule per depth, such as `*/x` and `*/*/x`";
                return Err((n, "double-star (**) syntax is not supported", hint));
            }
            // As Helm: the rule as written must be a pattern Go's filepath.Match accepts.
            if crate::gomatch::matches(p, "abc").is_err() {
                let hint = "check its brackets and backslashes (Go's filepath.Match syntax)";
                return Err((n, "syntax error in pattern", hint));
            }
            let negate = p.starts_with('!');
            if negate {
                p = &p[1..];
            }
            let dir_only = p.ends_with('/') && p.len() > 1;
            let p = p.trim_end_matches('/').trim_start_matches('/');
            let whole_path = p.contains('/');
            rules.push(Rule {
                glob: p.to_string(),
                negate,
                dir_only,
                whole_path,
            });
        }
        Ok(Ignore { rules })
    }

    fn excludes(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut ignored = false;
        for r in &self.rules {
            if r.dir_only && !is_dir {
                continue;
            }
            let hit = crate::gomatch::matches(&r.glob, if r.whole_path { path } else { base })
                .unwrap_or(false);
            if hit {
                ignored = !r.negate;
            }
        }
        ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_rules() {
        let i = Ignore::parse("*.md\n!KEEP.md\nci/\n# comment\nsecret/*.key\n").unwrap();
        assert!(i.excludes("README.md", false));
        assert!(!i.excludes("KEEP.md", false));
        assert!(i.excludes("ci", true));
        assert!(!i.excludes("ci", false));
        assert!(i.excludes("secret/a.key", false));
        assert!(!i.excludes("a.key", false));
        assert!(i.excludes("templates/.hidden", false));
        assert!(!i.excludes("templates/web.yaml", false));
    }

    /// A gzipped archive of (path, declared size, bytes) entries, written raw so an entry may
    /// claim more than it holds.
    fn archive(entries: &[(&str, u64, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, size, data) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(*size);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.extend_from_slice(h.as_bytes());
            tar.extend_from_slice(data);
            tar.resize(tar.len().next_multiple_of(512), 0);
        }
        tar.resize(tar.len() + 1024, 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: c\nversion: 0.1.0\n";

    #[test]
    fn archives_are_refused_as_helm_refuses_them() {
        let ok = archive(&[
            ("c/Chart.yaml", CHART.len() as u64, CHART),
            ("c/a/../x", 1, b"x"),
        ]);
        assert!(Chart::from_archive(&ok, "ok.tgz").is_ok());
        let outside = archive(&[
            ("c/Chart.yaml", CHART.len() as u64, CHART),
            ("c/../../x", 1, b"x"),
        ]);
        let e = Chart::from_archive(&outside, "evil.tgz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"c/../../x\" lies outside the chart"), "{e}");
        // A header that claims 100 MiB (with no bytes behind it): refused before any reading.
        let huge = archive(&[
            ("c/Chart.yaml", CHART.len() as u64, CHART),
            ("c/files/zeros", MAX_DECOMPRESSED, b""),
        ]);
        let e = Chart::from_archive(&huge, "big.tgz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 100 MiB decompressed"), "{e}");
    }

    /// A chart folder is capped in all (checked while reading) and holds regular files only, as
    /// Helm's loader: "chart exceeds maximum decompressed size", "cannot load irregular file".
    #[test]
    fn folders_are_refused_as_helm_refuses_them() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join("c");
        std::fs::create_dir_all(c.join("files")).unwrap();
        std::fs::write(c.join("Chart.yaml"), CHART).unwrap();
        std::os::unix::fs::symlink("/dev/zero", c.join("files/zero")).unwrap();
        let e = Chart::load(&c).unwrap_err().to_string();
        assert!(e.contains("files/zero: not a regular file"), "{e}");
        std::fs::remove_file(c.join("files/zero")).unwrap();
        for i in 0..3 {
            let f = std::fs::File::create(c.join(format!("files/big{i}"))).unwrap();
            f.set_len(40 << 20).unwrap();
        }
        let e = Chart::load(&c).unwrap_err().to_string();
        assert!(
            e.contains("files/big2: the folder's files add up to more than 100 MiB"),
            "{e}"
        );
        std::fs::remove_file(c.join("files/big2")).unwrap();
        assert!(Chart::load(&c).is_ok());
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(
            inside_chart("templates/./a.yaml").as_deref(),
            Some("templates/a.yaml")
        );
        assert_eq!(inside_chart("a/../b").as_deref(), Some("b"));
        assert_eq!(inside_chart("../b"), None);
        assert_eq!(inside_chart("/etc/passwd"), None);
        assert_eq!(inside_chart("."), None);
    }
}
