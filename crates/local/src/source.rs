//! Source mode's watcher: which services' sources changed, by content (not mtime), debounced,
//! honouring `.gitignore` and `.berthignore`, cheap for large trees (only watched globs hash).

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// One watched service: where its source is and which files count.
#[derive(Clone, Debug)]
pub struct Watched {
    pub workload: String,
    /// Absolute source root (the run spec's workdir).
    pub root: PathBuf,
    /// Globs relative to `root`; empty means every file.
    pub globs: Vec<String>,
}

struct Entry {
    watched: Watched,
    set: GlobSet,
    ignore: Gitignore,
}

/// A running watcher; dropping it stops watching.
pub struct SourceWatcher {
    _debouncer: Box<dyn std::any::Any + Send>,
}

fn content_hash(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

fn ignores(root: &Path) -> Gitignore {
    let mut b = GitignoreBuilder::new(root);
    for name in [".gitignore", ".berthignore"] {
        let p = root.join(name);
        if p.exists() {
            let _ = b.add(p);
        }
    }
    // Never react to what builds and editors leave behind.
    for pattern in [
        "__pycache__/",
        "*.pyc",
        ".git/",
        "*.swp",
        "*~",
        ".#*",
        "target/",
        "node_modules/",
    ] {
        let _ = b.add_line(None, pattern);
    }
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

impl Entry {
    fn matches(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.watched.root) else {
            return false;
        };
        if self
            .ignore
            .matched_path_or_any_parents(rel, path.is_dir())
            .is_ignore()
        {
            return false;
        }
        self.watched.globs.is_empty() || self.set.is_match(rel)
    }
}

/// Watches the sources of `watched`; sends a workload's name when its files' content changed.
pub fn watch(
    watched: Vec<Watched>,
    debounce: Duration,
) -> std::io::Result<(SourceWatcher, mpsc::UnboundedReceiver<BTreeSet<String>>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let entries: Arc<Vec<Entry>> = Arc::new(watched.into_iter().map(Entry::new).collect());
    let hashes = Hashes::default();
    hashes.scan_in_background(entries.clone());
    let roots: BTreeSet<PathBuf> = entries.iter().map(|e| e.watched.root.clone()).collect();
    let mut debouncer = new_debouncer(debounce, None, move |res: DebounceEventResult| {
        let Ok(events) = res else { return };
        let changed = hashes.changed_workloads(&entries, &events);
        if !changed.is_empty() {
            let _ = tx.send(changed);
        }
    })
    .map_err(std::io::Error::other)?;
    for root in roots {
        debouncer
            .watch(&root, RecursiveMode::Recursive)
            .map_err(std::io::Error::other)?;
    }
    Ok((
        SourceWatcher {
            _debouncer: Box::new(debouncer),
        },
        rx,
    ))
}

impl Entry {
    fn new(w: Watched) -> Entry {
        let mut b = GlobSetBuilder::new();
        for g in &w.globs {
            if let Ok(glob) = Glob::new(g) {
                b.add(glob);
            }
        }
        Entry {
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
            ignore: ignores(&w.root),
            watched: w,
        }
    }
}

/// The content hash of every watched file, so that an event that changes nothing (an editor
/// saving the same bytes, a touch) restarts nothing.
#[derive(Clone, Default)]
struct Hashes {
    known: Arc<Mutex<HashMap<PathBuf, u64>>>,
    /// Until the first scan is done, every event counts as a change.
    scanned: Arc<std::sync::atomic::AtomicBool>,
}

impl Hashes {
    /// Hashes the watched files once, in the background: a later event compares against it.
    fn scan_in_background(&self, entries: Arc<Vec<Entry>>) {
        let this = self.clone();
        std::thread::spawn(move || {
            for e in entries.iter() {
                let walker = ignore::WalkBuilder::new(&e.watched.root)
                    .add_custom_ignore_filename(".berthignore")
                    .build();
                for file in walker.flatten() {
                    let p = file.path();
                    if p.is_file() && e.matches(p) {
                        if let Some(h) = content_hash(p) {
                            this.known
                                .lock()
                                .unwrap()
                                .entry(p.to_path_buf())
                                .or_insert(h);
                        }
                    }
                }
            }
            this.scanned
                .store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }

    /// The workloads whose watched files `events` changed in content.
    fn changed_workloads(
        &self,
        entries: &[Entry],
        events: &[notify_debouncer_full::DebouncedEvent],
    ) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        let paths: BTreeSet<PathBuf> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                )
            })
            .flat_map(|e| e.paths.iter().cloned())
            .collect();
        for path in paths {
            let owners: Vec<&Entry> = entries.iter().filter(|e| e.matches(&path)).collect();
            if owners.is_empty() {
                continue;
            }
            let now = content_hash(&path);
            let before = {
                let mut known = self.known.lock().unwrap();
                match now {
                    Some(h) => known.insert(path.clone(), h),
                    None => known.remove(&path),
                }
            };
            let complete = self.scanned.load(std::sync::atomic::Ordering::SeqCst);
            if before != now || before.is_none() || !complete {
                changed.extend(owners.iter().map(|e| e.watched.workload.clone()));
            }
        }
        changed
    }
}
