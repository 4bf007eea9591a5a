//! The archive cache: `archives/sha256-HEX.tgz` by content, and `refs/HEX.json` for what a
//! reference (with its `--version`) resolved to last time; `archives/sha256-HEX.tgz.prov`, an
//! archive's provenance file, when `--verify` fetched one.

use super::{fetch_error, Pulled};
use crate::{Error, ErrorKind};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// `$BERTH_CACHE_DIR`, else `$XDG_CACHE_HOME/berth/charts`, else `~/.cache/berth/charts`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_CACHE_DIR") {
        return PathBuf::from(d).join("charts");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("berth").join("charts")
}

pub(super) struct Cache {
    dir: PathBuf,
}

/// `sha256:HEX` of `bytes`.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn io(what: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("cannot {what} {}: {e}", path.display()),
    )
    .hint("set BERTH_CACHE_DIR to a folder berth may write")
}

impl Cache {
    pub fn open(dir: Option<PathBuf>) -> Result<Cache, Error> {
        let dir = dir.unwrap_or_else(default_cache_dir);
        for sub in ["archives", "refs"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| io("create", &d, e))?;
        }
        Ok(Cache { dir })
    }

    /// Keeps `bytes` after checking them against `expected` (`sha256:HEX`, when the server
    /// said); returns the archive's path and digest.
    pub fn store(
        &self,
        bytes: &[u8],
        expected: Option<&str>,
        what: &str,
    ) -> Result<(PathBuf, String), Error> {
        let digest = digest_of(bytes);
        if let Some(expected) = expected {
            let expected = if expected.contains(':') {
                expected.to_string()
            } else {
                format!("sha256:{expected}")
            };
            if expected != digest {
                return Err(fetch_error(format!("{what}: the archive's digest is {digest}, not {expected} as the server lists it"))
                    .note("nothing was used or kept")
                    .hint("the archive changed after it was indexed, or the download was altered: re-index the repository (helm repo index) or ask its owner"));
            }
        }
        let path = self.archive(&digest);
        if !path.is_file() {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io("write", &path, e))?;
        }
        Ok((path, digest))
    }

    /// The cached archive of `digest`, if it is there and intact.
    pub fn archive_if_present(&self, digest: &str) -> Option<PathBuf> {
        let path = self.archive(digest);
        let bytes = std::fs::read(&path).ok()?;
        (digest_of(&bytes) == digest).then_some(path)
    }

    fn archive(&self, digest: &str) -> PathBuf {
        self.dir
            .join("archives")
            .join(format!("{}.tgz", digest.replace(':', "-")))
    }

    fn reference(&self, key: &str) -> PathBuf {
        let hex = digest_of(key.as_bytes());
        self.dir.join("refs").join(format!("{}.json", &hex[7..]))
    }

    /// What `key` resolved to last time, if its archive is still here.
    pub fn lookup(&self, key: &str) -> Option<Pulled> {
        let text = std::fs::read(self.reference(key)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
        let digest = v["digest"].as_str()?;
        Some(Pulled {
            path: self.archive_if_present(digest)?,
            version: v["version"].as_str()?.to_string(),
            digest: digest.to_string(),
            cached: true,
            file_name: v["file_name"].as_str()?.to_string(),
            verified: None,
        })
    }

    /// Keeps the provenance file of the archive `digest` beside it.
    pub fn store_provenance(&self, digest: &str, text: &str) -> Result<(), Error> {
        let path = self.archive(digest).with_extension("tgz.prov");
        std::fs::write(&path, text).map_err(|e| io("write", &path, e))
    }

    /// The provenance file kept for the archive `digest`.
    pub fn provenance(&self, digest: &str) -> Option<String> {
        std::fs::read_to_string(self.archive(digest).with_extension("tgz.prov")).ok()
    }

    pub fn remember(&self, key: &str, p: &Pulled) -> Result<(), Error> {
        let path = self.reference(key);
        let text = serde_json::json!({"reference": key, "version": p.version, "digest": p.digest, "file_name": p.file_name});
        std::fs::write(&path, text.to_string()).map_err(|e| io("write", &path, e))
    }
}
