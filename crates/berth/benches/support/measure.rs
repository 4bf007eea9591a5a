//! Measuring a process as a whole, shared by the benches.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs a command to its end; wall time and peak RSS in KiB (from `wait4`, which also reaps it).
#[allow(clippy::zombie_processes)]
pub fn measure(cmd: &mut Command) -> (Duration, i64) {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let t = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let mut status = 0;
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with valid pointers to locals.
    let r = unsafe { nix::libc::wait4(pid, &mut status, 0, &mut usage) };
    let d = t.elapsed();
    assert_eq!(r, pid, "wait4");
    let st = std::process::ExitStatus::from_raw(status);
    assert!(st.success(), "{cmd:?} failed");
    (d, usage.ru_maxrss)
}
