//! Services by name from inside a container: each Service gets a loopback address of its own
//! (`127.100.x.y`, from its name), written into the container's `/etc/hosts` under its
//! cluster DNS names, and berth listens on that address and the Service's ports **inside the
//! container's network namespace** (a socket bound there stays there), forwarding to the
//! Service's ready replicas as the host listener does.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;

/// The address a Service has inside containers.
pub fn service_address(name: &str) -> Ipv4Addr {
    // FNV-1a: stable across runs and versions, unlike the standard hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [a, b, ..] = h.to_be_bytes();
    // Avoid .0 and .255 in the last byte, which some resolvers treat specially.
    Ipv4Addr::new(127, 100, a, b.clamp(1, 254))
}

/// `/etc/hosts` entries (`name:address`, as the engine takes them) for a Service in namespace
/// `ns`: `web`, `web.ns`, `web.ns.svc`, `web.ns.svc.cluster.local`.
pub fn host_entries(name: &str, ns: &str) -> Vec<String> {
    let a = service_address(name);
    [
        name.to_string(),
        format!("{name}.{ns}"),
        format!("{name}.{ns}.svc"),
        format!("{name}.{ns}.svc.cluster.local"),
    ]
    .into_iter()
    .map(|h| format!("{h}:{a}"))
    .collect()
}

/// Binds `addrs` inside the network namespace of process `pid` (a container's first
/// process). Needs the right to enter it (root, or the engine's user namespace).
pub fn bind_in(
    pid: u32,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<std::net::TcpListener>, crate::Error> {
    use crate::error::engine;
    let path = format!("/proc/{pid}/ns/net");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).map_err(|e| engine(format!("{path}: {e}")))?;
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            engine(format!(
                "cannot enter the container's network ({path}): {e}"
            ))
        })?;
        addrs
            .into_iter()
            .map(|a| {
                let l = std::net::TcpListener::bind(a).map_err(|e| engine(format!("{a}: {e}")))?;
                l.set_nonblocking(true)
                    .map_err(|e| engine(format!("{a}: {e}")))?;
                Ok(l)
            })
            .collect()
    })
    .join()
    .map_err(|_| engine("the network namespace thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_addresses_are_stable_loopback_addresses() {
        let a = service_address("web");
        assert_eq!(a, service_address("web"));
        assert_ne!(a, service_address("queue"));
        assert!(a.is_loopback());
        assert_eq!(
            host_entries("web", "shop")[3],
            format!("web.shop.svc.cluster.local:{a}")
        );
    }
}
