//! What `berth render` writes: one YAML stream, or one file per object in a folder (with the
//! list of what it wrote, so that stale files of an earlier render are removed, and nothing
//! else is).

use berth_manifest::Rendered;
use std::path::Path;

/// The file that records which files `--output-dir` wrote, so stale ones can be removed.
pub const WRITTEN_LIST: &str = ".berth-rendered";

/// Every object as one multi-document YAML stream, each preceded by its source.
pub fn to_yaml_stream<B>(r: &Rendered<B>) -> String {
    const FRAME: usize = "---\n# Source: \n\n".len();
    let len = r
        .objects
        .iter()
        .map(|o| FRAME + o.origin.file.len() + o.text.len());
    let mut s = String::with_capacity(len.sum());
    for o in &r.objects {
        s.push_str("---\n# Source: ");
        s.push_str(&o.origin.file);
        s.push('\n');
        s.push_str(&o.text);
        s.push('\n');
    }
    s
}

fn file_name(o: &berth_manifest::Object<()>, clash: bool) -> String {
    let kind = o.oref.group_kind.kind.to_lowercase();
    match (&o.oref.namespace, clash) {
        (Some(ns), true) => format!("{kind}--{}--{ns}.yaml", o.oref.name),
        _ => format!("{kind}--{}.yaml", o.oref.name),
    }
}

/// Writes one file per object (`<kind>--<name>.yaml`) into `dir`, and removes the files an
/// earlier render wrote there that this one did not.
pub fn write_dir(dir: &Path, r: &Rendered<()>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut counts = std::collections::HashMap::new();
    for o in &r.objects {
        *counts.entry(file_name(o, false)).or_insert(0) += 1;
    }
    let mut written = Vec::new();
    for o in &r.objects {
        let name = file_name(o, counts[&file_name(o, false)] > 1);
        std::fs::write(
            dir.join(&name),
            format!("# Source: {}\n{}\n", o.origin.file, o.text),
        )?;
        written.push(name);
    }
    let list = dir.join(WRITTEN_LIST);
    if let Ok(previous) = std::fs::read_to_string(&list) {
        for old in previous.lines() {
            let stale = !written.iter().any(|w| w == old);
            let ours = old.ends_with(".yaml") && !old.contains('/') && !old.starts_with('.');
            if stale && ours {
                let _ = std::fs::remove_file(dir.join(old));
            }
        }
    }
    std::fs::write(list, written.join("\n") + "\n")
}
