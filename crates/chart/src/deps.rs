//! Dependencies as Helm processes them before rendering: every declared dependency must be in
//! `charts/`; aliases copy a subchart under a new name; `tags` and `condition` disable
//! subcharts; `import-values` copy a child's values into the parent's.

use crate::values::{self, Values};
use crate::Chart;
use berth_manifest::{Error, ErrorKind};
use berth_template::semver;
use serde_json::{Map, Value as Json};

/// Refuses a chart whose `Chart.yaml` names a dependency missing from `charts/`.
pub(crate) fn check_present(chart: &Chart) -> Result<(), Error> {
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|c| c.name() == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Chart,
        format!(
            "found in Chart.yaml, but missing in charts/ directory: {}",
            missing.join(", ")
        ),
    )
    .at(&format!("{}/Chart.yaml", chart.source), 0, 0)
    .hint("run `helm dependency build` to fetch the chart's dependencies into charts/"))
}

fn compatible(range: &str, version: &str) -> bool {
    if range.is_empty() {
        return true;
    }
    match (
        semver::Constraints::parse(range),
        semver::Version::parse(version),
    ) {
        (Ok(c), Some(v)) => c.check(&v),
        _ => false,
    }
}

/// Applies aliases, tags and conditions (Helm's `processDependencyEnabled`), recursively.
pub(crate) fn process_enabled(chart: &mut Chart, user: &Values, path: &str) -> Result<(), Error> {
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let mut deps: Vec<Chart> = chart
        .dependencies
        .iter()
        .filter(|existing| {
            !chart.metadata.dependencies.iter().any(|req| {
                existing.name() == req.name && compatible(&req.version, &existing.metadata.version)
            })
        })
        .cloned()
        .collect();
    for req in &mut chart.metadata.dependencies {
        let found = chart.dependencies.iter().find(|c| {
            c.name() == req.name
                && (req.version.is_empty() || compatible(&req.version, &c.metadata.version))
        });
        if let Some(c) = found {
            let mut c = c.clone();
            if !req.alias.is_empty() {
                c.metadata.name = req.alias.clone();
            }
            deps.push(c);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
        req.enabled = true;
    }
    chart.dependencies = deps;
    let mut cvals = user.clone();
    values::coalesce(chart, &mut cvals, false)?;
    apply_tags(chart, &cvals);
    apply_conditions(chart, &cvals, path);
    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|c| !disabled.contains(&c.metadata.name));
    chart
        .metadata
        .dependencies
        .retain(|d| !disabled.contains(&d.name));
    for sub in &mut chart.dependencies {
        let sub_path = format!("{path}{}.", sub.metadata.name);
        process_enabled(sub, &cvals, &sub_path)?;
    }
    Ok(())
}

fn apply_tags(chart: &mut Chart, cvals: &Values) {
    let Some(Json::Object(tags)) = cvals.get("tags") else {
        return;
    };
    for d in &mut chart.metadata.dependencies {
        let (mut has_true, mut has_false) = (false, false);
        for t in &d.tags {
            match tags.get(t) {
                Some(Json::Bool(true)) => has_true = true,
                Some(Json::Bool(false)) => has_false = true,
                _ => {}
            }
        }
        d.enabled = has_true || !has_false;
    }
}

fn apply_conditions(chart: &mut Chart, cvals: &Values, path: &str) {
    for d in &mut chart.metadata.dependencies {
        for c in d.condition.trim().split(',').filter(|c| !c.is_empty()) {
            if let Some(Json::Bool(b)) = values::path_value(cvals, &format!("{path}{c}")) {
                d.enabled = *b;
                break;
            }
        }
    }
}

/// Copies `import-values` from children into parents, children first (Helm's
/// `processDependencyImportValues` with merging).
pub(crate) fn process_imports(chart: &mut Chart) -> Result<(), Error> {
    for d in &mut chart.dependencies {
        process_imports(d)?;
    }
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let mut cvals = Map::new();
    values::coalesce(chart, &mut cvals, true)?;
    let mut imported = Map::new();
    for req in &mut chart.metadata.dependencies {
        let mut normalized = Vec::new();
        for iv in &req.import_values {
            let (child, parent) = match iv {
                Json::Object(m) => (
                    m.get("child")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    m.get("parent")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                ),
                Json::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            normalized.push(serde_json::json!({"child": child, "parent": parent}));
            let Some(table) = values::table(&cvals, &format!("{}.{child}", req.name)) else {
                continue;
            };
            let add = values::path_to_map(&parent, table.clone());
            values::merge_tables(&mut imported, add);
        }
        req.import_values = normalized;
    }
    // The parent's own values win over what it imports.
    values::merge_tables(&mut cvals, imported);
    chart.values = cvals;
    Ok(())
}
