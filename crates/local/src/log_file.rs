//! Per-workload log files under `.berth/logs/`, rotated by size so a chatty service cannot fill
//! the disk: `NAME.log` is written, and when it would pass the limit it becomes `NAME.log.1`
//! (the previous `.1` becomes `.2`, and so on; the oldest beyond the count is removed).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How much log a workload may keep on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// The size at which the current file is rotated.
    pub max_bytes: u64,
    /// Files kept per workload, the current one included (so at most `files x max_bytes`).
    pub files: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_bytes: 10 * 1024 * 1024,
            files: 3,
        }
    }
}

/// One workload's log file, shared by its replicas' output streams.
pub struct LogFile {
    path: PathBuf,
    limits: LogLimits,
    inner: Mutex<Inner>,
}

struct Inner {
    out: Option<BufWriter<File>>,
    size: u64,
    /// The error that stopped writing, reported once until a write succeeds again.
    failing: Option<String>,
}

/// What a write did that the supervisor should tell the user.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The first failed write after successful ones (a full disk, for example).
    StartedFailing(String),
    /// Writing works again after failures.
    Recovered,
    /// Still failing; already reported.
    StillFailing,
}

impl LogFile {
    pub fn new(path: PathBuf, limits: LogLimits) -> Arc<LogFile> {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Arc::new(LogFile {
            path,
            limits,
            inner: Mutex::new(Inner {
                out: None,
                size,
                failing: None,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (a newline is added), rotating first when it would pass the limit.
    /// The output stays in a buffer until [`LogFile::flush`].
    pub fn write_line(&self, line: &str) -> WriteOutcome {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let len = line.len() as u64 + 1;
        let result = (|| {
            if inner.size > 0 && inner.size + len > self.limits.max_bytes {
                inner.out = None;
                rotate(&self.path, self.limits.files)?;
                inner.size = 0;
            }
            if inner.out.is_none() {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                inner.size = f.metadata()?.len();
                inner.out = Some(BufWriter::with_capacity(64 * 1024, f));
            }
            let out = inner.out.as_mut().expect("opened above");
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            inner.size += len;
            Ok::<_, std::io::Error>(())
        })();
        inner.settle(result, false, &self.path)
    }

    /// Writes out what is buffered.
    pub fn flush(&self) -> WriteOutcome {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let result = match inner.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        };
        inner.settle(result, true, &self.path)
    }
}

impl Inner {
    /// `durable`: the bytes reached the file (a flush), not only the buffer.
    fn settle(&mut self, result: std::io::Result<()>, durable: bool, path: &Path) -> WriteOutcome {
        match (result, self.failing.is_some()) {
            (Ok(()), false) => WriteOutcome::Written,
            (Ok(()), true) if !durable => WriteOutcome::StillFailing,
            (Ok(()), true) => {
                self.failing = None;
                WriteOutcome::Recovered
            }
            (Err(_), true) => {
                // Drop what cannot be written, so memory stays bounded while the disk is full.
                self.out = None;
                WriteOutcome::StillFailing
            }
            (Err(e), false) => {
                self.out = None;
                let why = format!("cannot write {}: {e}", path.display());
                self.failing = Some(why.clone());
                WriteOutcome::StartedFailing(why)
            }
        }
    }
}

/// `NAME.log` -> `NAME.log.1` -> ... -> `NAME.log.{files-1}`; the oldest is replaced.
fn rotate(path: &Path, files: u32) -> std::io::Result<()> {
    if files <= 1 {
        return std::fs::remove_file(path).or_else(ignore_missing);
    }
    for n in (1..files - 1).rev() {
        std::fs::rename(numbered(path, n), numbered(path, n + 1)).or_else(ignore_missing)?;
    }
    std::fs::rename(path, numbered(path, 1)).or_else(ignore_missing)
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// A workload's log files, oldest first: the rotated ones, then the current one (those that
/// exist).
pub fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> =
        std::fs::read_dir(path.parent().unwrap_or(Path::new(".")))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let base = path.file_name()?.to_string_lossy().into_owned();
                let n = name.strip_prefix(&base)?.strip_prefix('.')?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
    rotated.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut all: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        all.push(path.to_path_buf());
    }
    all
}

/// The log file of `workload` for the deploy folder `dir`.
pub fn path_for(dir: &Path, workload: &str) -> PathBuf {
    crate::state_dir(dir)
        .join("logs")
        .join(format!("{workload}.log"))
}

/// The workloads of `dir` that have a log file, sorted.
pub fn workloads_with_logs(dir: &Path) -> Vec<String> {
    let mut known: Vec<String> = std::fs::read_dir(crate::state_dir(dir).join("logs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log").map(String::from)
        })
        .collect();
    known.sort();
    known
}

/// Copies a workload's log to `out`: the rotated files, oldest first, then the current one;
/// with `follow`, new lines as they are written (from the start again when a new `berth up`
/// truncates the file). Ends without error when `out` refuses a write (a closed pipe).
pub fn copy_logs(path: &Path, follow: bool, out: &mut dyn Write) -> std::io::Result<()> {
    use std::io::{BufRead, Seek};
    let mut file = std::fs::File::open(path)?;
    for older in files_oldest_first(path) {
        if older == path {
            continue;
        }
        if std::io::copy(&mut std::fs::File::open(&older)?, out).is_err() {
            return Ok(());
        }
    }
    let mut reader = std::io::BufReader::new(&mut file);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? > 0 {
            if out.write_all(line.as_bytes()).is_err() {
                return Ok(());
            }
            continue;
        }
        if !follow {
            return Ok(());
        }
        let _ = out.flush();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let pos = reader.stream_position().unwrap_or(0);
        if std::fs::metadata(path).is_ok_and(|m| m.len() < pos) {
            reader.seek(std::io::SeekFrom::Start(0))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log");
        let log = LogFile::new(
            path.clone(),
            LogLimits {
                max_bytes: 100,
                files: 3,
            },
        );
        for i in 0..100 {
            assert_eq!(
                log.write_line(&format!("line {i:04} ........")),
                WriteOutcome::Written
            );
        }
        log.flush();
        let files = sizes(dir.path());
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["web.log", "web.log.1", "web.log.2"]);
        assert!(files.iter().all(|(_, s)| *s <= 100), "{files:?}");
        let text: String = files_oldest_first(&path)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"line 0099 ........"));
        // Consecutive across files, oldest first.
        let first: u32 = lines[0][5..9].parse().unwrap();
        for (k, l) in lines.iter().enumerate() {
            assert_eq!(l[5..9].parse::<u32>().unwrap(), first + k as u32);
        }
    }

    #[test]
    fn a_full_disk_is_reported_once_and_writing_goes_on_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let log = LogFile::new(path.clone(), LogLimits::default());
        log.write_line("hello");
        let WriteOutcome::StartedFailing(why) = log.flush() else {
            panic!("a full disk must be reported");
        };
        assert!(why.contains("No space left on device"), "{why}");
        log.write_line("again");
        assert_eq!(log.flush(), WriteOutcome::StillFailing);
        std::fs::remove_file(&path).unwrap();
        log.write_line("back");
        assert_eq!(log.flush(), WriteOutcome::Recovered);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "back\n");
    }
}
