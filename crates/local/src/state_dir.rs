//! `.berth/` beside a deploy folder: the state file a running `berth up` writes, its API token,
//! the source modes chosen in the dashboard, and whether that `up` is still alive.

use crate::Status;
use std::path::{Path, PathBuf};

/// Where berth keeps the state of a folder's local environment.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join(".berth")
}

/// The file a running `berth up` keeps current.
pub fn state_file(dir: &Path) -> PathBuf {
    state_dir(dir).join("up.json")
}

/// Present while containers may run for the folder: the next start removes what a killed
/// berth left.
pub(crate) fn engine_marker(dir: &Path) -> PathBuf {
    state_dir(dir).join("engine")
}

fn token_file(dir: &Path) -> PathBuf {
    state_dir(dir).join("token")
}

/// Keeps the dashboard's token where the CLI finds it (readable by this user only).
pub fn save_token(dir: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(token_file(dir))?;
    f.write_all(token.as_bytes())
}

pub fn remove_token(dir: &Path) {
    let _ = std::fs::remove_file(token_file(dir));
}

fn modes_file(dir: &Path) -> PathBuf {
    state_dir(dir).join("modes.json")
}

/// The modes remembered for a folder.
pub fn load_modes(dir: &Path) -> berth_core::view::Modes {
    std::fs::read_to_string(modes_file(dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn save_modes(dir: &Path, modes: &berth_core::view::Modes) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir(dir))?;
    let text = serde_json::to_string_pretty(modes).unwrap_or_default();
    std::fs::write(modes_file(dir), text)
}

/// Where the API of the `up` running for `dir` listens (`127.0.0.1:7700`) and its token, if
/// one runs and serves a dashboard.
pub fn running_api(dir: &Path) -> Option<(String, Option<String>)> {
    running_status(dir)?;
    let status: Status =
        serde_json::from_str(&std::fs::read_to_string(state_file(dir)).ok()?).ok()?;
    let url = status.dashboard?;
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .replace("0.0.0.0", "127.0.0.1");
    Some((authority, std::fs::read_to_string(token_file(dir)).ok()))
}

/// Reads the state of a running `up`, if one runs for this folder.
/// The status the `berth up` of `dir` last wrote, whether it still runs or not.
pub fn read_status(dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(state_file(dir)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn running_status(dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(state_file(dir)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = v.get("pid")?.as_u64()? as u32;
    pid_alive(pid).then(|| Status {
        pid,
        ..Status::default()
    })
}

/// Whether a process runs: it exists and is not a zombie waiting to be reaped.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        // Signal 0 checks that the process exists without touching it.
        Err(_) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
    }
}
