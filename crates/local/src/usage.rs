//! CPU time and resident memory of a local process, from `/proc/PID/stat`, in the kernel's own
//! units (clock ticks per second and page size from `sysconf`, not assumed).

use nix::unistd::{sysconf, SysconfVar};
use std::sync::OnceLock;

/// What a process has used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
}

/// Clock ticks per second and the page size, asked once.
fn units() -> (f64, u64) {
    static UNITS: OnceLock<(f64, u64)> = OnceLock::new();
    *UNITS.get_or_init(|| {
        let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
        let page = sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096);
        (ticks as f64, page as u64)
    })
}

/// The usage of process `pid`, or `None` when it is gone.
pub fn of_process(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat, units())
}

/// Fields 14 and 15 (utime, stime) and 24 (rss) of a stat line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str, (ticks, page): (f64, u64)) -> Option<Usage> {
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let cpu: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let pages: u64 = f.get(21)?.parse().ok()?;
    Some(Usage {
        cpu_seconds: cpu as f64 / ticks,
        resident_bytes: pages * page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_in_kernel_units() {
        let line = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000000 300 18446744073709551615";
        let u = parse_stat(line, (100.0, 4096)).unwrap();
        assert_eq!(
            u,
            Usage {
                cpu_seconds: 3.0,
                resident_bytes: 300 * 4096
            }
        );
        let u = parse_stat(line, (1000.0, 16384)).unwrap();
        assert_eq!(u.resident_bytes, 300 * 16384);
    }

    #[test]
    fn this_process_has_a_usage() {
        let me = of_process(std::process::id()).unwrap();
        assert!(me.resident_bytes > 0);
    }
}
