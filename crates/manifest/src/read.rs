//! Reading the files of a deploy folder or a chart into memory, within a budget: what one
//! folder may hold in all is capped as Helm's loader caps a chart ([`MAX_FOLDER_BYTES`]), checked
//! while reading (a file that grows, or a symlink to `/dev/zero`, cannot get past it), and only
//! regular files are read.

use std::io::Read;
use std::path::Path;

/// The most the files of one deploy folder or chart may hold, in all: Helm's loader's limit
/// (100 MiB, for chart folders and archives alike).
pub const MAX_FOLDER_BYTES: u64 = 100 << 20;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A device, a pipe or a socket (also behind a symlink).
    Irregular,
    /// The folder's files add up to more than [`MAX_FOLDER_BYTES`] with this one.
    OverBudget,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::Irregular => {
                f.write_str("not a regular file (a device, a pipe or a socket)")
            }
            ReadError::OverBudget => write!(
                f,
                "the folder's files add up to more than {} MiB (Helm's limit for a chart)",
                MAX_FOLDER_BYTES >> 20
            ),
        }
    }
}

/// What is left of one folder's [`MAX_FOLDER_BYTES`].
#[derive(Debug, Clone, Copy)]
pub struct Budget(u64);

impl Default for Budget {
    fn default() -> Self {
        Budget(MAX_FOLDER_BYTES)
    }
}

impl Budget {
    /// Reads the regular file at `path` (symlinks followed) and takes its size off the budget.
    pub fn read(&mut self, path: &Path) -> Result<Vec<u8>, ReadError> {
        let file = std::fs::File::open(path).map_err(ReadError::Io)?;
        let meta = file.metadata().map_err(ReadError::Io)?;
        if !meta.is_file() {
            return Err(ReadError::Irregular);
        }
        if meta.len() > self.0 {
            return Err(ReadError::OverBudget);
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.take(self.0 + 1)
            .read_to_end(&mut data)
            .map_err(ReadError::Io)?;
        if data.len() as u64 > self.0 {
            return Err(ReadError::OverBudget);
        }
        self.0 -= data.len() as u64;
        Ok(data)
    }

    /// Like [`Budget::read`], as UTF-8 text.
    pub fn read_text(&mut self, path: &Path) -> Result<String, ReadError> {
        String::from_utf8(self.read(path)?).map_err(|e| {
            ReadError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.utf8_error(),
            ))
        })
    }
}
